/**
 * The text files of the Debian package (control, copyright, changelog, md5sums) and the pruning of
 * node_modules to what runs. Used by build-deb.ts.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export type Runtime = 'bundled' | 'system';

export const MAINTAINER = process.env.LVSD_PACKAGE_MAINTAINER ?? 'lvsd maintainers <lvsd@lvsd.invalid>';

export function controlFile(o: {
  version: string; arch: string; depends: string; installedSize: number; runtime: Runtime; nodeVersion: string;
}): string {
  const runtime = o.runtime === 'bundled'
    ? [` It carries its own Node.js ${o.nodeVersion} runtime (/usr/lib/lvsd/bin/node) and`, ' needs no nodejs package.']
    : [' It runs on the nodejs package (20 or later).'];
  return [
    'Package: lvsd',
    `Version: ${o.version}`,
    `Architecture: ${o.arch}`,
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${o.installedSize}`,
    `Depends: ${o.depends}`,
    'Recommends: ipvsadm, nftables',
    'Section: net',
    'Priority: optional',
    'Description: control plane for Linux Virtual Server (IPVS, VRRP, health checks)',
    " lvsd programs the kernel's IPVS table from a JSON declaration and keeps it",
    ' converged, runs VRRP between two directors so that one holds the virtual',
    ' addresses, turns health checks into real server weights, and shows it all',
    ' with lvsd status. A restart or an upgrade adopts the IPVS table without',
    ' changing it.',
    ' .',
    ' The package installs lvsd.service, enabled but started only once',
    ' /etc/lvsd/services.json exists.',
    ...runtime,
    '',
  ].join('\n');
}

export function debianChangelog(version: string, isoDate: string): string {
  const d = new Date(isoDate);
  const rfc2822 = d.toUTCString().replace(/GMT$/, '+0000').replace(/^(\w+), 0?(\d+) /, '$1, $2 ')
    .replace(/^(\w+), (\d) /, '$1, 0$2 ');
  return `lvsd (${version}) unstable; urgency=medium\n\n  * lvsd ${version}: see docs/ and the git history of the project.\n\n -- ${MAINTAINER}  ${rfc2822}\n`;
}

const MIT = `Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the
following conditions:
.
The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.
.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO
EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
USE OR OTHER DEALINGS IN THE SOFTWARE.`;

const indent = (text: string): string =>
  text.replace(/\r/g, '').trimEnd().split('\n').map((l) => (l.trim() === '' ? ' .' : ` ${l}`)).join('\n');

/**
 * debian/copyright (machine-readable format 1.0): lvsd, each bundled npm package with the license its
 * package.json names (the full text stays beside it, in its own directory), and the bundled Node.js.
 */
export function copyrightFile(moduleDirs: string[], root: string, node?: { version: string; license: string }): string {
  const out = [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: lvsd',
    '',
    'Files: *',
    'Copyright: the lvsd authors',
    'License: MIT',
    '',
  ];
  for (const dir of moduleDirs) {
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string; license?: string; author?: unknown };
    const license = meta.license ?? 'see the license file in the package directory';
    const files = readdirSync(dir).filter((f) => /^(licen[cs]e|copying|notice)/i.test(f));
    out.push(
      `Files: /${relative(root, dir)}/*`,
      `Copyright: the authors of ${meta.name} ${meta.version}`,
      `License: ${license}`,
      indent(`The full text is in /${relative(root, dir)}/${files[0] ?? 'package.json'}.`),
      '',
    );
  }
  if (node) {
    out.push('Files: /usr/lib/lvsd/bin/node', `Copyright: Node.js contributors (Node.js ${node.version})`, 'License: Node.js',
      indent(node.license), '');
  }
  out.push('License: MIT', indent(MIT), '');
  return out.join('\n');
}

/** DEBIAN/md5sums: every file outside DEBIAN, sorted. */
export function md5sums(root: string): string {
  const lines: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      const rel = relative(root, p);
      if (rel === 'DEBIAN') continue;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) lines.push(`${createHash('md5').update(readFileSync(p)).digest('hex')}  ${rel}`);
    }
  };
  walk(root);
  return lines.join('\n') + '\n';
}

/** What a module needs at run time: its code and license. Docs, types, sources maps and tests go. */
const DROP_FILE = /(\.d\.[mc]?ts|\.ts|\.map|\.md|\.markdown|\.html?|\.sh|\.tsbuildinfo|\.npmignore|\.eslintrc.*|\.editorconfig|\.gitattributes|\.travis\.yml)$/i;
const KEEP_FILE = /^(licen[cs]e|copying|notice)/i;
const DROP_DIR = new Set(['.github', '.husky', 'test', 'tests', '__tests__', 'docs', 'example', 'examples', 'benchmark', 'benchmarks', '.vscode']);

export function pruneModule(dir: string, arch: string): void {
  const prebuilds = join(dir, 'prebuilds');
  if (existsSync(prebuilds)) {
    for (const p of readdirSync(prebuilds)) if (p !== `linux-${arch}`) rmSync(join(prebuilds, p), { recursive: true, force: true });
  }
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (DROP_DIR.has(e.name)) rmSync(p, { recursive: true, force: true });
        else {
          walk(p);
          if (readdirSync(p).length === 0) rmSync(p, { recursive: true }); // only types/, say, was in it
        }
      } else if (DROP_FILE.test(e.name) && !KEEP_FILE.test(e.name)) {
        rmSync(p, { force: true });
      }
    }
  };
  walk(dir);
}

/**
 * Modes and script headers as Debian expects: directories 0755 and files 0644 (addons too: they are
 * dlopen()ed, not run), except the listed executables; a `#!` line in a JavaScript file is blanked (node
 * skips it; it would name an interpreter, node, that no dependency provides). `except` are paths in `root`.
 */
export function normaliseTree(root: string, executables: ReadonlySet<string>, keep: ReadonlySet<string>): void {
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const rel = relative(root, p);
      if (keep.has(rel)) continue;
      if (e.isDirectory()) {
        chmodSync(p, 0o755);
        walk(p);
      } else if (e.isFile()) {
        chmodSync(p, executables.has(rel) ? 0o755 : 0o644);
        if (/\.[mc]?js$/.test(e.name)) {
          const text = readFileSync(p, 'utf8');
          if (text.startsWith('#!')) writeFileSync(p, text.replace(/^#![^\n]*/, ''));
        }
      }
    }
  };
  walk(root);
}
