/**
 * Finding what the VM needs on the host: a kernel image with IPVS modules, a static busybox, qemu,
 * and the .ko files (decompressed) that let the initramfs mount the host root over 9p.
 */
import { accessSync, constants, existsSync, readFileSync, readdirSync, openSync, readSync, closeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { delimiter, join } from 'node:path';

/** Modules the initramfs loads, in this order (dependencies are resolved from modules.dep too). */
export const INITRAMFS_MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_legacy_dev',
  'virtio_pci_modern_dev',
  'virtio_pci',
  'netfs',
  'fscache',
  '9pnet',
  '9pnet_virtio',
  '9p',
  'overlay',
] as const;

export interface KernelChoice {
  version: string;
  image: string;
  modulesDir: string;
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Picks the newest /boot/vmlinuz-* whose /lib/modules/<version> carries ip_vs (or LVSD_VM_KERNEL=<path>). */
export function findKernel(): KernelChoice | { error: string } {
  const forced = process.env.LVSD_VM_KERNEL;
  if (forced) {
    const version = forced.replace(/^.*vmlinuz-/, '');
    const modulesDir = `/lib/modules/${version}`;
    if (!readable(forced)) return { error: `LVSD_VM_KERNEL=${forced} is not readable` };
    if (!existsSync(join(modulesDir, 'modules.dep'))) return { error: `no ${modulesDir}/modules.dep for ${forced}` };
    return { version, image: forced, modulesDir };
  }
  let names: string[];
  try {
    names = readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-'));
  } catch {
    return { error: 'no /boot directory (install linux-image-amd64)' };
  }
  const versions = names
    .map((n) => n.slice('vmlinuz-'.length))
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  const problems: string[] = [];
  for (const version of versions) {
    const image = `/boot/vmlinuz-${version}`;
    const modulesDir = `/lib/modules/${version}`;
    const dep = join(modulesDir, 'modules.dep');
    if (!existsSync(dep)) {
      problems.push(`${version}: no modules.dep`);
      continue;
    }
    if (!/\/ip_vs\.ko/.test(readFileSync(dep, 'utf8'))) {
      problems.push(`${version}: no ip_vs module`);
      continue;
    }
    if (!readable(image)) {
      problems.push(`${image} not readable (run as root)`);
      continue;
    }
    return { version, image, modulesDir };
  }
  return {
    error:
      names.length === 0
        ? 'no /boot/vmlinuz-* kernel image (install linux-image-amd64)'
        : `no usable kernel: ${problems.join('; ')}`,
  };
}

/** True when the ELF file has no PT_INTERP program header, i.e. is statically linked. */
function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4096);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return false;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    for (let i = 0; i < phnum; i++) {
      const off = phoff + i * phentsize;
      if (off + 4 > n) return false;
      if (head.readUInt32LE(off) === 3) return false; // PT_INTERP
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

export function findBusybox(): string | { error: string } {
  const candidates = [process.env.LVSD_VM_BUSYBOX, '/bin/busybox', '/usr/bin/busybox', '/usr/lib/busybox/busybox-static'];
  for (const c of candidates) {
    if (c && existsSync(c) && isStaticElf(c)) return c;
  }
  return { error: 'no statically linked busybox (install busybox-static)' };
}

export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

interface ModuleIndex {
  /** module name (underscores) -> path relative to the modules dir */
  path: Map<string, string>;
  deps: Map<string, string[]>;
  builtin: Set<string>;
}

function modName(relPath: string): string {
  const base = relPath.slice(relPath.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

function readIndex(modulesDir: string): ModuleIndex {
  const path = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const file = line.slice(0, colon).trim();
    const name = modName(file);
    path.set(name, file);
    deps.set(name, line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(modName));
  }
  const builtin = new Set<string>();
  const builtinFile = join(modulesDir, 'modules.builtin');
  if (existsSync(builtinFile)) {
    for (const line of readFileSync(builtinFile, 'utf8').split('\n')) if (line.trim()) builtin.add(modName(line.trim()));
  }
  return { path, deps, builtin };
}

/** The modules to insmod, dependencies first, builtins left out. Throws on a module the kernel lacks. */
export function resolveModules(modulesDir: string, wanted: readonly string[]): { name: string; file: string }[] {
  const idx = readIndex(modulesDir);
  const out: { name: string; file: string }[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    if (idx.builtin.has(name)) return;
    const file = idx.path.get(name);
    if (file === undefined) throw new Error(`kernel module ${name} not found in ${modulesDir}`);
    for (const d of [...(idx.deps.get(name) ?? [])].reverse()) visit(d);
    out.push({ name, file: join(modulesDir, file) });
  };
  for (const w of wanted) visit(w.replace(/-/g, '_'));
  return out;
}

/** The module's bytes, decompressed on the host: busybox insmod cannot read .ko.xz / .ko.zst. */
export function readModule(file: string): Buffer {
  if (file.endsWith('.gz')) return gunzipSync(readFileSync(file));
  const tool = file.endsWith('.xz') ? ['xz', '-dc'] : file.endsWith('.zst') ? ['zstd', '-dc'] : undefined;
  if (tool === undefined) return readFileSync(file);
  const r = spawnSync(tool[0]!, [...tool.slice(1), file], { maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0 || r.error) {
    throw new Error(`cannot decompress ${file} with ${tool[0]} (install xz-utils / zstd): ${r.error?.message ?? r.stderr.toString()}`);
  }
  return r.stdout;
}
