/**
 * Builds (once) the busybox initramfs for a kernel, cached under the temp dir by kernel version and a
 * hash of everything packed into it, so repeated runs and parallel test files reuse one archive.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCpio, type CpioEntry } from './cpio.js';
import { INITRAMFS_MODULES, readModule, resolveModules, type KernelChoice } from './modules.js';
import { STAGE1, STAGE2 } from './scripts.js';

export function cacheRoot(): string {
  return process.env.LVSD_VM_CACHE ?? join(tmpdir(), 'lvsd-vm-cache');
}

export function buildInitramfs(kernel: KernelChoice, busybox: string): string {
  const modules = resolveModules(kernel.modulesDir, INITRAMFS_MODULES);
  const bb = statSync(busybox);
  const image = statSync(kernel.image); // a rebuilt kernel package keeps its version string
  const key = createHash('sha256')
    .update(STAGE1)
    .update(STAGE2)
    .update(JSON.stringify(modules))
    .update(`${busybox}:${bb.size}:${bb.mtimeMs}:${image.size}:${image.mtimeMs}`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheRoot(), `${kernel.version}-${key}`);
  const file = join(dir, 'initramfs.cpio');
  if (existsSync(file)) return file;

  const entries: CpioEntry[] = [
    { kind: 'dir', path: 'bin' },
    { kind: 'dir', path: 'dev' },
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { kind: 'dir', path: 'proc' },
    { kind: 'dir', path: 'sys' },
    { kind: 'dir', path: 'lvsd' },
    { kind: 'dir', path: 'lvsd/modules' },
    { kind: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 },
    { kind: 'file', path: 'init', data: Buffer.from(STAGE1), mode: 0o755 },
    { kind: 'file', path: 'lvsd/stage2', data: Buffer.from(STAGE2), mode: 0o755 },
    { kind: 'file', path: 'lvsd/modules.list', data: Buffer.from(modules.map((m) => m.name).join('\n') + '\n') },
  ];
  for (const m of modules) {
    entries.push({ kind: 'file', path: `lvsd/modules/${m.name}.ko`, data: readModule(m.file) });
  }
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, writeCpio(entries));
  renameSync(tmp, file); // atomic: a concurrent builder either sees the whole archive or none
  return file;
}
