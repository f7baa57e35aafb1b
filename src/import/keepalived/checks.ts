/**
 * keepalived checkers (TCP_CHECK, HTTP_GET, SSL_GET, DNS_CHECK, MISC_CHECK, SMTP_CHECK, UDP_CHECK, PING_CHECK, ...) -> one lvsd
 * healthCheck. Timing: keepalived probes every `delay_loop` and, after a failure, retries `retry` times
 * `delay_before_retry` apart; one success brings a server back. lvsd probes every `interval` and counts
 * `fall` failures / `rise` successes in a row. So interval = delay_loop, fall = retry + 1, rise = 1,
 * timeout = connect_timeout; retries spaced differently from the interval are a warning.
 */
import { LATER, Problems, numberArg, stringArg, walk, type Table } from './rules.js';
import type { Statement } from './tree.js';

type Obj = Record<string, unknown>;

/** Timing and target defaults a checker inherits from its virtual_server / real_server. */
export interface CheckDefaults {
  delayLoop: number;
  retry?: number;
  delayBeforeRetry?: number;
  connectTimeout?: number;
  alpha: boolean;
}

interface CheckState {
  check: Obj;
  type: string;
  delayLoop?: number;
  retry?: number;
  delayBeforeRetry?: number;
  connectTimeout?: number;
  miscTimeout?: number;
  alpha?: boolean;
  urls: number;
  smtpHosts: number;
}

const set = (key: string, value: (s: Statement, st: CheckState, p: Problems) => unknown) =>
  (p: Problems) => ({ map: (s: Statement, st: CheckState) => {
    const v = value(s, st, p);
    if (v !== undefined) st.check[key] = v;
  } });

export function common(p: Problems): Table<CheckState> {
  return {
    connect_ip: set('address', (s) => stringArg(s, p))(p),
    connect_port: set('port', (s) => numberArg(s, p, 0, { min: 1, max: 65535 }))(p),
    connect_timeout: { map: (s, st) => { st.connectTimeout = numberArg(s, p, 0, { min: 0, fraction: true }); } },
    retry: { map: (s, st) => { st.retry = numberArg(s, p, 0, { min: 0, max: 999 }); } },
    nb_get_retry: { map: (s, st) => { st.retry = numberArg(s, p, 0, { min: 0, max: 999 }); } },
    delay_before_retry: { map: (s, st) => { st.delayBeforeRetry = numberArg(s, p, 0, { min: 0, fraction: true }); } },
    delay_loop: { map: (s, st) => { st.delayLoop = numberArg(s, p, 0, { min: 0, fraction: true }); } },
    alpha: { map: (s, st) => { st.alpha = s.args[0] === undefined || ['true', 'on', 'yes'].includes(s.args[0]); } },
    omega: { ignored: 'lvsd runs no script when it stops; nothing to do' },
    warmup: { ignored: "lvsd spreads first probes over the interval by itself (a fixed offset per check), not keepalived's random warmup" },
    log_all_failures: { ignored: 'lvsd logs every state change (event health.change; the first ups of a start counted in health.first_up), not every failed probe' },
    bindto: { ignored: 'lvsd probes from the address the routing table picks; a bound source address is not kept' },
    bind_port: { ignored: 'lvsd probes from an ephemeral port' },
    bind_if: { ignored: 'lvsd probes through the interface the routing table picks' },
    fwmark: { unsupported: 'lvsd does not mark probe packets' },
  };
}

export function urlTable(p: Problems): Table<CheckState & { first: boolean }> {
  return {
    path: { map: (s, st) => { const v = stringArg(s, p); if (st.first) st.check.path = v; } },
    digest: {
      map: (s) => stringArg(s, p) !== undefined && p.warn(s, 'digest', "keepalived's digest is MD5, lvsd's expectDigest is SHA-256: the import checks the status code only (run `curl -s URL | sha256sum` and set expectDigest)"),
    },
    status_code: {
      map: (s, st) => {
        if (!st.first) return void [...s.args];
        const codes: number[] = [];
        for (const a of s.args) {
          const m = /^(\d{3})(?:-(\d{3}))?$/.exec(a);
          if (!m) {
            p.error(s, 'status_code', `"${a}" is not a status code or a range like 200-299`);
            continue;
          }
          for (let c = Number(m[1]); c <= Number(m[2] ?? m[1]); c++) if (c >= 100 && c <= 599 && !codes.includes(c)) codes.push(c);
        }
        if (codes.length > 0) st.check.expectStatus = codes;
      },
    },
    virtualhost: { map: (s, st) => { const v = stringArg(s, p); if (st.first) st.check.host = v; } },
    regex: {
      map: (s, st) => {
        if (!st.first) return void stringArg(s, p);
        st.check.expectBody = stringArg(s, p);
        p.warn(s, 'regex', "matched as a JavaScript regular expression (keepalived uses PCRE2): check that it means the same");
      },
    },
    regex_no_match: { unsupported: 'lvsd can require a body to match, not to not match' },
    regex_options: { unsupported: 'lvsd takes the regular expression without options' },
    regex_stack: { ignored: 'no PCRE2 stack in lvsd' },
    regex_min_offset: { unsupported: 'lvsd matches the whole body' },
    regex_max_offset: { unsupported: 'lvsd matches the whole body' },
  };
}

function httpTable(p: Problems): Table<CheckState> {
  return {
    ...common(p),
    url: {
      map: (s, st) => {
        st.urls++;
        if (st.urls === 2) p.warn(s, 'url', 'lvsd checks one URL per real server: only the first url block is checked');
        walk(s.block, urlTable(p), Object.assign(st, { first: st.urls === 1 }), p, 'url');
      },
    },
    virtualhost: { map: (s, st) => { st.check.host = stringArg(s, p); } },
    http_protocol: { ignored: 'lvsd speaks HTTP/1.1 with a Host header' },
    enable_sni: { ignored: 'lvsd always sends SNI (serverName, default the host)' },
    tls_compliant: { ignored: 'lvsd closes TLS connections properly' },
    fast_recovery: { ignored: 'lvsd counts rise successes at the interval' },
  };
}

export const checkers: Record<string, (p: Problems) => { type: string; table: Table<CheckState> } | { unsupported: string }> = {
  TCP_CHECK: (p) => ({ type: 'tcp', table: common(p) }),
  HTTP_GET: (p) => ({ type: 'http', table: httpTable(p) }),
  SSL_GET: (p) => ({ type: 'https', table: httpTable(p) }),
  DNS_CHECK: (p) => ({
    type: 'dns',
    table: {
      ...common(p),
      type: set('queryType', (s) => {
        const t = (stringArg(s, p) ?? '').toUpperCase();
        if (['A', 'AAAA', 'NS', 'CNAME', 'SOA', 'PTR', 'MX', 'TXT', 'SRV'].includes(t)) return t;
        p.error(s, 'type', `lvsd has no ${t} queries`);
        return undefined;
      })(p),
      name: set('query', (s) => stringArg(s, p))(p),
    },
  }),
  MISC_CHECK: (p) => ({
    type: 'exec',
    table: {
      ...common(p),
      misc_path: {
        map: (s, st) => {
          const words = (stringArg(s, p) ?? '').split(/\s+/).filter(Boolean);
          if (words.length === 0) return;
          st.check.command = words;
          if (/[|&;<>()$`*?[\]'"]/.test(s.args[0]!)) {
            st.check.command = [s.args[0]!];
            st.check.shell = true;
          }
          p.warn(s, 'misc_path', "lvsd appends the real server's address and port as the last two arguments (keepalived appends nothing): make sure the script ignores them");
        },
      },
      misc_timeout: { map: (s, st) => { st.miscTimeout = numberArg(s, p, 0, { min: 1 }); } },
      misc_dynamic: { map: (_s, st) => { st.check.dynamicWeight = true; } },
      user: set('user', (s) => stringArg(s, p))(p),
    },
  }),
  SMTP_CHECK: (p) => ({
    type: 'smtp',
    table: {
      ...common(p),
      helo_name: set('heloName', (s) => {
        const v = stringArg(s, p);
        if (v === undefined || /^[\x21-\x7e]+$/.test(v)) return v;
        p.error(s, 'helo_name', `"${v}" has a space, control or non-ASCII character: lvsd sends a host name`);
        return undefined;
      })(p),
      host: {
        map: (s, st) => {
          st.smtpHosts++;
          if (st.smtpHosts > 1) {
            p.warn(s, 'host', 'lvsd checks one address per real server: this host is not checked');
            return void s.block;
          }
          walk(s.block, common(p), st, p, 'host');
        },
      },
    },
  }),
  UDP_CHECK: (p) => ({
    type: 'udp',
    table: {
      ...common(p),
      payload: set('payload', (s) => hexArg(s, p, false))(p),
      require_reply: {
        map: (s, st) => {
          st.check.requireReply = true;
          if (s.args.length > 0) st.check.expectReply = hexArg(s, p, true);
        },
      },
      min_reply_length: set('minReplyLength', (s) => numberArg(s, p, 0, { min: 0, max: 65535 }))(p),
      max_reply_length: set('maxReplyLength', (s) => numberArg(s, p, 0, { min: 0, max: 65535 }))(p),
    },
  }),
  PING_CHECK: (p) => ({ type: 'ping', table: common(p) }),
  FILE_CHECK: () => ({ unsupported: LATER('check that reads a file') }),
  BFD_CHECK: () => ({ unsupported: 'lvsd has no BFD' }),
};

/**
 * keepalived's free-form hex (`Ab12f 3 456`: pairs within each word, a lone last digit is a byte of its own:
 * AB 12 0F 03 45 06) as lvsd's hex pairs; `x` (a digit that may be anything) only in a reply pattern.
 */
export function keepalivedHex(words: readonly string[], wildcard: boolean): string | undefined {
  const digit = wildcard ? /^[0-9a-fA-FxX]+$/ : /^[0-9a-fA-F]+$/;
  let out = '';
  for (const w of words) {
    if (!digit.test(w)) return undefined;
    for (let i = 0; i < w.length; i += 2) out += i + 1 < w.length ? w.slice(i, i + 2) : `0${w[i]}`;
  }
  return out.toLowerCase();
}

function hexArg(s: Statement, p: Problems, wildcard: boolean): string | undefined {
  const hex = s.args.length > 0 ? keepalivedHex([...s.args], wildcard) : undefined;
  if (hex === undefined || hex === '') {
    p.error(s, s.keyword, s.args.length === 0 ? 'a value is missing' : `"${s.args.join(' ')}" is not a hex string`);
    return undefined;
  }
  return hex;
}

export const CHECKER_KEYWORDS = Object.keys(checkers);

/** One checker block -> an lvsd healthCheck object, or undefined (with an error) when it cannot be. */
export function mapChecker(s: Statement, defaults: CheckDefaults, p: Problems): { check: Obj; alpha: boolean } | undefined {
  const def = checkers[s.keyword]!(p);
  if ('unsupported' in def) {
    p.error(s, s.keyword, `${def.unsupported} (--partial writes the real server without this check)`);
    return undefined;
  }
  const st: CheckState = { check: { type: def.type }, type: def.type, urls: 0, smtpHosts: 0 };
  walk(s.block, def.table, st, p, s.keyword);
  const interval = st.delayLoop ?? defaults.delayLoop;
  const retry = st.retry ?? defaults.retry ?? (def.type === 'exec' ? 0 : def.type === 'dns' ? 3 : 1);
  // keepalived: DNS retries a delay_loop apart, HTTP/SSL 3 s, the others 1 s
  const dbr = st.delayBeforeRetry ?? defaults.delayBeforeRetry ?? (def.type === 'dns' ? interval : def.type === 'http' || def.type === 'https' ? 3 : 1);
  let timeout = def.type === 'exec' ? st.miscTimeout ?? interval : st.connectTimeout ?? defaults.connectTimeout ?? 5;
  if (interval <= 0) {
    p.error(s, s.keyword, 'a delay_loop of 0: lvsd needs an interval above 0');
    return undefined;
  }
  if (timeout > interval) {
    p.warn(s, s.keyword, `its timeout (${timeout}s) is longer than the interval (${interval}s): lvsd caps the timeout at the interval`);
    timeout = interval;
  }
  if (timeout <= 0) timeout = Math.min(interval, 1);
  if (retry > 0 && dbr !== interval) {
    p.warn(s, s.keyword, `lvsd retries at the check interval (${interval}s), not delay_before_retry (${dbr}s): a dead server is taken out after ${retry + 1} failures ${interval}s apart`);
  }
  if (def.type === 'exec' && st.check.command === undefined) {
    p.error(s, s.keyword, 'no misc_path: nothing to run');
    return undefined;
  }
  if (def.type === 'dns') {
    // keepalived's defaults: an SOA query for the root
    st.check.query ??= '.';
    st.check.queryType ??= 'SOA';
  }
  if ((def.type === 'http' || def.type === 'https') && st.check.expectStatus === undefined && st.urls > 0) {
    st.check.expectStatus = Array.from({ length: 100 }, (_, i) => 200 + i);
  }
  if (def.type === 'https') st.check.verify = false;
  if (def.type === 'udp') {
    // keepalived's defaults: a random payload when none is given, replies of at most 255 bytes
    if (st.check.payload === undefined) {
      p.warn(s, s.keyword, 'no payload: keepalived sends random bytes, lvsd an empty datagram (set payload if the service ignores empty ones)');
    }
    if (st.check.requireReply === true) st.check.maxReplyLength ??= 255;
  }
  if (!st.check.user && def.type === 'exec') {
    p.warn(s, s.keyword, 'runs as health.execUser (nobody unless set; keepalived: script_user or root): set user if the script needs more');
  }
  const check: Obj = { ...st.check, interval, timeout, rise: 1, fall: Math.min(retry + 1, 1000) };
  return { check, alpha: st.alpha ?? defaults.alpha };
}
