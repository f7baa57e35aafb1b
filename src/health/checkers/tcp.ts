/** TCP check: up when a connection is accepted within the timeout. */
import { createConnection } from 'node:net';
import type { TcpCheck } from '../../config/types.js';
import type { ProbeResult } from '../types.js';
import { deadline, errorReason } from './deadline.js';

export function probeTcp(check: Pick<TcpCheck, 'address' | 'port' | 'timeout'>, signal?: AbortSignal): Promise<ProbeResult> {
  const d = deadline(check.timeout, signal);
  return new Promise((resolve) => {
    const sock = createConnection({ host: check.address, port: check.port });
    let settled = false;
    const finish = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      d.done();
      d.signal.removeEventListener('abort', onAbort);
      sock.destroy();
      resolve(r);
    };
    const onAbort = () => finish(d.result(false, d.reason()));
    if (d.signal.aborted) return onAbort();
    d.signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => finish(d.result(true, 'connected')));
    sock.once('error', (err) => finish(d.result(false, errorReason('connect', err))));
  });
}
