/**
 * The lab's way to a kernel with IPVS when this one has none: the kernel-test VM harness (a throwaway
 * qemu VM on the host's kernel, the host's disk read-only under a RAM overlay). It lives in
 * test/kernel/vm.ts today; this module is the lab's one door to it, so moving the runner under src/
 * later changes only this file.
 */
export { runInVm, runDirect, vmSupport, hostHasIpvs, type RunOptions, type RunResult } from '../../test/kernel/vm.js';
