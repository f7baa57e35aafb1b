/** TCP check: up when a connection is accepted within the timeout. */
import type { TcpCheck } from '../../config/types.js';
import type { ProbeResult } from '../types.js';
import { deadline, probeOverTcp } from './deadline.js';

export function probeTcp(check: Pick<TcpCheck, 'address' | 'port' | 'timeout'>, signal?: AbortSignal): Promise<ProbeResult> {
  const d = deadline(check.timeout, signal);
  return probeOverTcp(check, d, ({ sock, finish }) => {
    sock.once('connect', () => finish(d.result(true, 'connected')));
  });
}
