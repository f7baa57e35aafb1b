/**
 * Where `lvsd run` runs the VRRP protocol (LVSD_VRRP_THREAD): `worker`, a worker thread of its own (a
 * second V8 isolate, ~12 MiB, SCHED_RR: port.ts, worker.ts), or `main`, the daemon's main thread
 * (inline.ts: no second isolate; a backup reads its socket before acting on Master_Down, so a held main
 * thread never takes over from a live master). Read by the bundle's launcher (it starts the worker at
 * exec only for `worker`) and by the daemon: a pure leaf, nothing imported.
 */
export type VrrpThreadMode = 'worker' | 'main';

/** The default when LVSD_VRRP_THREAD is unset or empty. */
export const DEFAULT_VRRP_THREAD: VrrpThreadMode = 'worker';

/** LVSD_VRRP_THREAD: `worker` or `main`; anything else (unset, a typo: see vrrpThreadProblem) is the default. */
export function vrrpThreadMode(env: NodeJS.ProcessEnv = process.env): VrrpThreadMode {
  const v = env.LVSD_VRRP_THREAD;
  return v === 'worker' || v === 'main' ? v : DEFAULT_VRRP_THREAD;
}

/** What is wrong with LVSD_VRRP_THREAD (the daemon logs it and runs the default), or undefined. */
export function vrrpThreadProblem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env.LVSD_VRRP_THREAD;
  if (v === undefined || v === '' || v === 'worker' || v === 'main') return undefined;
  return `LVSD_VRRP_THREAD=${JSON.stringify(v)} is neither "worker" nor "main": VRRP runs in the ${DEFAULT_VRRP_THREAD === 'worker' ? 'worker thread' : 'main thread'} (the default)`;
}
