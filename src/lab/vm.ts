/**
 * The lab's way to a kernel with IPVS when this one has none: the VM runner (a throwaway qemu VM on the
 * host's kernel, the host's disk read-only under a RAM overlay).
 */
export { runInVm, runDirect, vmSupport, hostHasIpvs, type RunOptions, type RunResult } from '../vm/runner.js';
