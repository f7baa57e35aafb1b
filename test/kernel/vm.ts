/**
 * The kernel-test harness. The VM runner itself is product code (the lab boots it too): src/vm/runner.ts.
 */
import { existsSync } from 'node:fs';

export * from '../../src/vm/runner.js';

/**
 * For test/kernel/inside/*.test.ts: why this file must not run here, or undefined when it may. Inside
 * tests run only under the harness (VM, or direct on a host with IPVS), never straight from the host's
 * `node --test dist/test/`, which globs them too.
 */
export function insideSkipReason(): string | undefined {
  if (!process.env.LVSD_IN_VM && !process.env.LVSD_KERNEL_DIRECT) {
    return 'kernel test: runs inside the VM via dist/test/kernel/kernel.test.js';
  }
  if (process.getuid?.() !== 0) return 'kernel test: needs root';
  if (!existsSync('/proc/net/ip_vs')) return 'kernel test: IPVS is not loaded';
  return undefined;
}

