/**
 * Boot speed: under TCG, decompressing the xz bzImage costs 3-15 s before the kernel even starts. When
 * the kernel supports PVH (CONFIG_PVH=y, Debian's does), we extract its uncompressed ELF vmlinux once
 * (cached) and qemu boots that directly. Any doubt, and the bzImage is used as is.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { cacheRoot } from './initramfs.js';
import type { KernelChoice } from './modules.js';

const FORMATS: { magic: Buffer; unpack: (data: Buffer) => Buffer | undefined }[] = [
  { magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), unpack: (d) => tool('xz', ['-dc', '--single-stream'], d) },
  { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), unpack: (d) => tool('zstd', ['-dc'], d) },
  {
    magic: Buffer.from([0x1f, 0x8b, 0x08]),
    unpack: (d) => {
      try {
        return gunzipSync(d);
      } catch {
        return undefined;
      }
    },
  },
];

function tool(cmd: string, args: string[], input: Buffer): Buffer | undefined {
  const r = spawnSync(cmd, args, { input, maxBuffer: 512 * 1024 * 1024, stdio: ['pipe', 'pipe', 'ignore'] });
  // zstd and friends may complain about the bzImage's trailing bytes after a complete stream
  return r.stdout && r.stdout.length > 0 ? r.stdout : undefined;
}

function isElf(b: Buffer): boolean {
  return b.length > 1024 * 1024 && b.readUInt32BE(0) === 0x7f454c46;
}

function hasPvh(version: string): boolean {
  const config = `/boot/config-${version}`;
  return existsSync(config) && /^CONFIG_PVH=y$/m.test(readFileSync(config, 'utf8'));
}

/** The image qemu should boot: a cached uncompressed PVH vmlinux when possible, else the bzImage. */
export function bootImage(kernel: KernelChoice): string {
  if (process.env.LVSD_VM_PVH === '0' || !hasPvh(kernel.version)) return kernel.image;
  const st = statSync(kernel.image); // a rebuilt package keeps its version string: key on the file too
  const file = join(cacheRoot(), `vmlinux-${kernel.version}-${st.size}-${Math.floor(st.mtimeMs)}`);
  if (existsSync(file)) return file;
  const bz = readFileSync(kernel.image);
  for (const f of FORMATS) {
    const at = bz.indexOf(f.magic);
    if (at < 0) continue;
    const elf = f.unpack(bz.subarray(at));
    if (elf === undefined || !isElf(elf)) continue;
    mkdirSync(cacheRoot(), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, elf);
    renameSync(tmp, file);
    return file;
  }
  return kernel.image;
}
