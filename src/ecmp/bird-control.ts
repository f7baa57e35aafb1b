/**
 * BIRD's control socket (the protocol birdc speaks): one connection per command. BIRD greets with
 * "0001 BIRD x.y ready.", then answers a command with lines "NNNN-text" or " text" (more to come) and
 * ends with "NNNN text"; codes 8000 and above are errors. The parsers of the replies lvsd reads are pure.
 */
import { connect } from 'node:net';
import { LvsdError } from '../errors.js';

export interface BirdReply {
  /** The code of the last line (0 = OK, 3 = Reconfigured, >= 8000 an error). */
  code: number;
  /** Every line's text without its code, in order. */
  lines: string[];
}

const MAX_REPLY_BYTES = 1 << 20;

/** Sends one command and reads its reply; rejects with LVSD_BGP on a socket error, a timeout or a BIRD error code. */
export function birdCommand(socketPath: string, command: string, timeoutMs = 2000): Promise<BirdReply> {
  return new Promise<BirdReply>((resolve, reject) => {
    const sock = connect(socketPath);
    let buf = '';
    let greeted = false;
    const lines: string[] = [];
    const fail = (message: string, cause?: unknown) => {
      clearTimeout(timer);
      sock.destroy();
      reject(new LvsdError('LVSD_BGP', `BIRD control socket ${socketPath}: ${message}`, cause !== undefined ? { cause } : undefined));
    };
    const timer = setTimeout(() => fail(`no answer to "${command}" within ${timeoutMs} ms`), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message, e));
    sock.on('close', () => fail('closed before the reply ended'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REPLY_BYTES) return fail('reply too long');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^(\d{4})([ -])(.*)$/.exec(line);
        if (!greeted) {
          if (!m || m[1] !== '0001') return fail(`unexpected greeting ${JSON.stringify(line.slice(0, 80))}`);
          greeted = true;
          sock.write(`${command}\n`);
          continue;
        }
        if (!m) {
          lines.push(line.startsWith(' ') ? line.slice(1) : line);
          continue;
        }
        lines.push(m[3]!);
        if (m[2] === ' ') {
          const code = Number(m[1]);
          clearTimeout(timer);
          sock.removeAllListeners('close');
          sock.destroy();
          if (code >= 8000) {
            reject(new LvsdError('LVSD_BGP', `BIRD refused "${command}": ${lines.filter((l) => l.trim() !== '').join(' / ')}`, { details: { code } }));
          } else {
            resolve({ code, lines });
          }
          return;
        }
      }
    });
  });
}

export type BgpState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established' | 'Down' | 'unknown';

export interface ProtocolRow {
  name: string;
  proto: string;
  /** BIRD's protocol state: up, down, start, stop. */
  state: string;
  /** When BIRD's protocol state last changed, as BIRD prints it (lvsd's config sets the format: birdTime()). */
  since: string;
  /** For BGP: the session state, then any last error ("Active  Socket: Connection refused"). */
  info: string;
}

/** The rows of `show protocols` (header line skipped). */
export function parseProtocols(reply: BirdReply): ProtocolRow[] {
  const out: ProtocolRow[] = [];
  for (const line of reply.lines) {
    const m = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*?)\s*$/.exec(line);
    if (!m || (m[1] === 'Name' && m[2] === 'Proto')) continue;
    out.push({ name: m[1]!, proto: m[2]!, state: m[4]!, since: m[5]!, info: m[6]! });
  }
  return out;
}

/**
 * A `since` of `show protocols` as an ISO time when BIRD printed it in the format lvsd's config sets
 * (`timeformat protocol "%s.%6f"`: seconds since the epoch, microseconds), else undefined.
 */
export function birdTime(since: string): string | undefined {
  if (!/^\d+\.\d{6}$/.test(since)) return undefined;
  return new Date(Math.floor(Number(since) * 1000)).toISOString();
}

const BGP_STATES = new Set(['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established']);

/** A BGP row's session state and its last error, if BIRD gives one. */
export function bgpSession(row: ProtocolRow): { state: BgpState; detail: string } {
  const [first = '', ...rest] = row.info.split(/\s+/);
  const state: BgpState = BGP_STATES.has(first) ? (first as BgpState) : row.state === 'down' ? 'Down' : 'unknown';
  return { state, detail: BGP_STATES.has(first) ? rest.join(' ') : row.info };
}

/** `show bfd sessions`: the state of each session by neighbour address (Up, Down, Init, AdminDown). */
export function parseBfdSessions(reply: BirdReply): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of reply.lines) {
    const m = /^\s*([0-9a-fA-F:.]+)\s+(\S+)\s+(Up|Down|Init|AdminDown)\b/.exec(line);
    if (m && (m[1]!.includes('.') || m[1]!.includes(':'))) out.set(m[1]!, m[3]!);
  }
  return out;
}
