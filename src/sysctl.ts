/**
 * Sets sysctls under /proc/sys (or a directory standing in for it): each is read, and written only when it
 * differs. A value already in force counts as set even where /proc/sys is read-only (a container whose
 * operator set it). Never throws: every failure is an outcome with its reason. Used by ipvs/sysctl.ts (IPVS's
 * expiry switches) and ecmp/sysctl.ts (sloppy TCP, ARP).
 *
 * The reads and writes are synchronous: a /proc/sys file is answered by the kernel at once, and each
 * asynchronous call is a round trip through libuv's thread pool (a readFile is four: open, fstat, read,
 * close). A daemon's reload sets the IPVS switches every time: in the test VM that step took 11-161 ms
 * of a reload, most of a one-weight reload's switch.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SysctlOutcome {
  /** As asked: dotted (net.ipv4.vs.sloppy_tcp) or a file name under the root. */
  name: string;
  path: string;
  ok: boolean;
  /** Written because it differed (ok), with the value it had. */
  changed: boolean;
  from?: string;
  /** Why it is not in force (not ok). */
  error?: string;
  code?: string;
}

export async function setSysctls(values: ReadonlyArray<{ name: string; value: string }>, root = '/proc/sys'): Promise<SysctlOutcome[]> {
  const out: SysctlOutcome[] = [];
  for (const { name, value } of values) {
    const path = join(root, ...name.split('.'));
    let current: string | undefined;
    try {
      current = readFileSync(path, 'utf8').trim();
    } catch {
      current = undefined;
    }
    if (current === value) {
      out.push({ name, path, ok: true, changed: false });
      continue;
    }
    try {
      writeFileSync(path, `${value}\n`);
      out.push({ name, path, ok: true, changed: true, ...(current !== undefined && { from: current }) });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      out.push({
        name, path, ok: false, changed: false, ...(err.code && { code: err.code }),
        error: `cannot set ${name}=${value}: ${err.code ?? err.message}${current !== undefined ? ` (it is ${current})` : ''}`,
      });
    }
  }
  return out;
}
