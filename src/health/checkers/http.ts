/**
 * HTTP and HTTPS checks: one request on a fresh connection (no keep-alive pool, so nothing lingers), the
 * status must be one of the expected ones, the body must match a regular expression and/or have a sha256
 * digest. At most BODY_LIMIT bytes of the body are kept for the regular expression; the digest covers the
 * whole body (hashed as it streams, nothing kept) up to DIGEST_LIMIT bytes, beyond which the check fails.
 * The expression runs on lvsd's linear-time matcher (src/regex), in slices that let the event loop run,
 * and ends with the probe's deadline: whatever a backend sends, a probe costs at most its timeout.
 */
import http from 'node:http';
import type * as Https from 'node:https';
import { isIP } from 'node:net';
import { nodeCrypto } from '../../builtins.js';
import type { HttpCheck } from '../../config/types.js';
import { Matcher, compilePattern } from '../../regex/index.js';
import type { ProbeResult } from '../types.js';
import { deadline, errorReason, localExtra, settleOnce } from './deadline.js';

export const BODY_LIMIT = 64 * 1024;
export const DIGEST_LIMIT = 4 * 1024 * 1024;

export type HttpProbeOptions = Pick<
  HttpCheck,
  'type' | 'address' | 'port' | 'timeout' | 'method' | 'path' | 'host' | 'expectStatus' | 'expectBody' | 'expectDigest' | 'serverName' | 'verify'
>;

/** node:https (and TLS), imported for the first https probe: a director without one never compiles them. */
let https: typeof Https | undefined;

export function probeHttp(check: HttpProbeOptions, signal?: AbortSignal): Promise<ProbeResult> {
  if (check.type === 'https' && https === undefined) {
    return import('node:https').then((m) => {
      https ??= m.default;
      return probeHttp(check, signal);
    });
  }
  const d = deadline(check.timeout, signal);
  const needBody = check.expectBody !== undefined || check.expectDigest !== undefined;
  let bodyRe: Matcher | undefined;
  try {
    if (check.expectBody !== undefined) bodyRe = matcherFor(check.expectBody);
  } catch {
    d.done();
    return Promise.resolve(d.result(false, 'invalid body expression'));
  }
  return new Promise((resolve) => {
    // no deadline watch: the request carries the deadline's signal and fails with it
    const { finish, settled } = settleOnce(d, resolve, () => req.destroy());
    const hostHeader = check.host ?? (check.address.includes(':') ? `[${check.address}]` : check.address);
    const defaultPort = check.type === 'https' ? 443 : 80;
    const options: Https.RequestOptions = {
      host: check.address,
      port: check.port,
      method: check.method,
      path: check.path,
      agent: false,
      headers: {
        host: check.port === defaultPort ? hostHeader : `${hostHeader}:${check.port}`,
        'user-agent': 'lvsd-health',
        connection: 'close',
        accept: '*/*',
      },
      signal: d.signal,
    };
    if (check.type === 'https') {
      const name = check.serverName ?? check.host;
      if (name !== undefined && isIP(name) === 0) options.servername = name;
      options.rejectUnauthorized = check.verify;
    }
    const req = (check.type === 'https' ? https! : http).request(options, (res) => {
      const status = res.statusCode ?? 0;
      if (!check.expectStatus.includes(status)) {
        finish(d.result(false, `status ${status}`));
        return;
      }
      if (!needBody) {
        finish(d.result(true, `status ${status}`));
        return;
      }
      const hash = nodeCrypto().createHash('sha256');
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let hashed = 0;
      res.on('data', (chunk: Buffer) => {
        if (check.expectDigest !== undefined) {
          hashed += chunk.length;
          if (hashed > DIGEST_LIMIT) return finish(d.result(false, `body over ${DIGEST_LIMIT} bytes`));
          hash.update(chunk);
        }
        if (keptBytes < BODY_LIMIT) {
          const part = chunk.subarray(0, BODY_LIMIT - keptBytes);
          kept.push(part);
          keptBytes += part.length;
          if (keptBytes >= BODY_LIMIT && check.expectDigest === undefined) onBody();
        }
      });
      res.once('end', () => onBody());
      res.once('error', (err) => fail('read', err));
      res.once('aborted', () => fail('read', new Error('aborted')));
      let matching = false;
      function onBody(): void {
        if (settled() || matching) return;
        matching = true;
        res.pause();
        const body = Buffer.concat(kept).toString('utf8');
        const matched = bodyRe ? bodyRe.testAsync(body, d.signal) : Promise.resolve(true);
        matched.then((ok) => {
          if (!ok) return finish(d.result(false, 'body mismatch'));
          if (check.expectDigest !== undefined) {
            const digest = hash.digest('hex');
            if (digest !== check.expectDigest.toLowerCase()) return finish(d.result(false, `digest mismatch ${digest}`));
          }
          finish(d.result(true, `status ${status}`));
        }, () => finish(d.result(false, `body match: ${d.reason()}`)));
      }
    });
    let stage = 'connect';
    function fail(where: string, err: unknown): void {
      finish(d.signal.aborted ? d.result(false, d.reason()) : d.result(false, errorReason(where, err), localExtra(err)));
    }
    req.once('error', (err) => fail(stage, err));
    req.once('socket', (sock) => {
      sock.once('connect', () => (stage = check.type === 'https' ? 'tls' : 'request'));
      sock.once('secureConnect', () => (stage = 'request'));
    });
    req.end();
  });
}

/** Compiled body patterns, shared by every probe of every check that uses them (bounded). */
const matchers = new Map<string, Matcher>();
const MAX_MATCHERS = 256;

function matcherFor(pattern: string): Matcher {
  let m = matchers.get(pattern);
  if (m === undefined) {
    m = new Matcher(compilePattern(pattern));
    if (matchers.size >= MAX_MATCHERS) matchers.clear();
    matchers.set(pattern, m);
  }
  return m;
}
