/**
 * The package's root directory and version, found from wherever this module was loaded: dist/src in a
 * checkout, dist/bundle in the bundled command line (packaging/bundle.ts), /usr/lib/lvsd/... in the Debian
 * package. Files shipped beside the code (package.json, the native addon) are located from here, never
 * by a fixed number of `..` from one module, which a bundle would move.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The nearest directory above this module holding package.json (this module's own directory if none). */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return (root = dir);
    if (dirname(dir) === dir) return (root = here);
  }
}

/** package.json's version ('0.0.0' when it cannot be read). */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
