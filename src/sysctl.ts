/**
 * Sets sysctls under /proc/sys (or a directory standing in for it): each is read, and written only when it
 * differs. A value already in force counts as set even where /proc/sys is read-only (a container whose
 * operator set it). Never throws: every failure is an outcome with its reason. Used by ipvs/sysctl.ts (IPVS's
 * expiry switches) and ecmp/sysctl.ts (sloppy TCP, ARP).
 */
import { readFile, writeFile } from 'node:fs/promises';
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
    const current = await readFile(path, 'utf8').then((t) => t.trim(), () => undefined);
    if (current === value) {
      out.push({ name, path, ok: true, changed: false });
      continue;
    }
    try {
      await writeFile(path, `${value}\n`);
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
