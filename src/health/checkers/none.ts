/** The `none` check: always up, no I/O. */
import type { ProbeResult } from '../types.js';

export function probeNone(): Promise<ProbeResult> {
  return Promise.resolve({ ok: true, latencyMs: 0, reason: 'no check' });
}
