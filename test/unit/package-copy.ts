/**
 * A copy of the lvsd package as an install holds it (package.json, schemas, the addon, node_modules linked,
 * dist/bundle), made at ROOT: the code-cache tests change its caches without touching the checkout's.
 */
import { cpSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Copies `repo`'s package into `root` with the bundle at `bundleDir`; returns the copy's dist/bundle. */
export function copyPackage(repo: string, bundleDir: string, root: string): string {
  cpSync(join(repo, 'package.json'), join(root, 'package.json'));
  cpSync(join(repo, 'schemas'), join(root, 'schemas'), { recursive: true });
  cpSync(join(repo, 'native', 'build', 'Release'), join(root, 'native', 'build', 'Release'), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  cpSync(bundleDir, join(root, 'dist', 'bundle'), { recursive: true });
  return join(root, 'dist', 'bundle');
}
