/**
 * The kernel `lvsd apply` meets while the code cache is trained (packaging/code-cache.ts): the cache holds
 * what V8 compiled while a command ran, and at build time there is no IPVS to apply to (nor should a build
 * touch the host's table), so `apply --dry-run` stopped at the socket and a real apply compiled its planning,
 * encoding, sending and printing from source every time (issue #11, cold apply).
 *
 * The trainer puts a TrainingKernel in a process-wide slot before it loads the bundle's apply file; apply then
 * runs its own code (training-client.ts: the bundle's GenlSocket and netlink client) against it: every change
 * is encoded and sent through a real generic netlink socket as NLMSG_NOOP, which the kernel skips and
 * acknowledges (no IPVS needed, nothing changed); the reads (the table dump, the timeouts) are answered by the
 * trainer, as the kernel would, and the sysctls are files of the trainer's. Only code already running in the
 * process can fill the slot (no variable, no flag, no file): a user's command never meets this kernel.
 */
import type { NlMsg } from '../ipvs/nlattr-read.js';

export interface TrainingKernel {
  /** The generic netlink family the changes go to: NLMSG_NOOP (1). */
  family: number;
  /** The replies to a read (a dump or a get), given the request the client built (netlink header first). */
  answer(request: Buffer, what: string): NlMsg[];
  /** Where the net.ipv4.vs sysctls are read and written instead of /proc/sys/net/ipv4/vs. */
  sysctlDir: string;
}

const SLOT = Symbol.for('lvsd.code-cache.training-kernel');

/** The training kernel, if the code cache's trainer set one in this process. */
export function trainingKernel(): TrainingKernel | undefined {
  return (globalThis as Record<symbol, TrainingKernel | undefined>)[SLOT];
}

/** Sets (or with undefined clears) the training kernel: the trainer only. */
export function setTrainingKernel(kernel: TrainingKernel | undefined): void {
  (globalThis as Record<symbol, TrainingKernel | undefined>)[SLOT] = kernel;
}
