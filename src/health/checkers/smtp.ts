/**
 * SMTP check (keepalived's SMTP_CHECK): connect, read the 220 greeting, send `HELO <heloName>`, expect 250,
 * send QUIT. Up when the HELO is accepted; a refusal (554 greeting, 5xx to HELO), a close or the timeout is
 * down. Replies may span lines (`250-...` continued, `250 ...` last); the reply reader is pure.
 */
import { hostname } from 'node:os';
import type { SmtpCheck } from '../../config/types.js';
import type { ProbeResult } from '../types.js';
import { deadline, probeOverTcp } from './deadline.js';

/** A reply longer than this (all its lines) fails the probe: a greeting is a line or a few. */
export const REPLY_LIMIT = 4096;

export interface SmtpReply {
  code: number;
  /** The text of the reply's last line (after the code). */
  text: string;
}

/**
 * Reads the complete replies at the start of `buf`: each is lines `ddd-text` ended by a line `ddd text` (or
 * just `ddd`), CRLF or LF. Returns the replies and what is left; `bad` when a line is not a reply line.
 */
export function readReplies(buf: string): { replies: SmtpReply[]; rest: string; bad?: string } {
  const replies: SmtpReply[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf('\n', start);
    if (nl < 0) return { replies, rest: buf.slice(start) };
    const line = buf.slice(start, nl).replace(/\r$/, '');
    const m = /^(\d{3})([ -]|$)(.*)$/.exec(line);
    if (!m) return { replies, rest: buf.slice(start), bad: line };
    start = nl + 1;
    if (m[2] !== '-') replies.push({ code: Number(m[1]), text: m[3]! }); // a multi-line reply counts once, at its last line
  }
}

/** The HELO argument: the configured name, else this host's name (a host name is what RFC 5321 asks for). */
export function heloArgument(check: Pick<SmtpCheck, 'heloName'>): string {
  const name = check.heloName ?? hostname();
  return /^[\x21-\x7e]+$/.test(name) ? name : 'localhost';
}

export function probeSmtp(check: Pick<SmtpCheck, 'address' | 'port' | 'timeout' | 'heloName'>, signal?: AbortSignal): Promise<ProbeResult> {
  const d = deadline(check.timeout, signal);
  return probeOverTcp(check, d, ({ sock, finish }) => {
    let stage: 'greeting' | 'helo' | 'done' = 'greeting';
    let text = '';
    const fail = (reason: string, output?: string) =>
      finish(d.result(false, reason, output !== undefined ? { output: output.slice(0, 200) } : undefined));
    sock.setEncoding('latin1');
    sock.on('data', (chunk: string) => {
      if (stage === 'done') return;
      text += chunk;
      if (text.length > REPLY_LIMIT) return fail(`${stage} reply over ${REPLY_LIMIT} bytes`);
      const { replies, rest, bad } = readReplies(text);
      text = rest;
      for (const r of replies) {
        if (stage === 'greeting') {
          if (r.code !== 220) return fail(`greeting ${r.code}`, r.text);
          stage = 'helo';
          sock.write(`HELO ${heloArgument(check)}\r\n`);
        } else if (stage === 'helo') {
          if (r.code !== 250) return fail(`HELO ${r.code}`, r.text);
          stage = 'done';
          // QUIT ends the session politely (the write reaches the kernel before the close); the verdict does
          // not wait for its 221, and a server that drops the connection after the 250 is still up
          sock.write('QUIT\r\n');
          return finish(d.result(true, 'HELO 250'));
        }
      }
      if (bad !== undefined) fail(`not an SMTP reply`, bad);
    });
    sock.once('end', () => {
      if (stage !== 'done') fail(stage === 'greeting' ? 'closed before the greeting' : 'closed before the HELO reply');
    });
  });
}
