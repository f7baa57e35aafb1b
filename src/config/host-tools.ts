/**
 * Programs a config needs on the director that runs it: an instance with `acceptMode: false` (not the
 * address owner) needs `nft` (src/net/accept-filter.ts). `lvsd check`, `lvsd run` and every reload refuse
 * the config at that instance's pointer when it is missing, rather than failing when the VRRP side starts.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from './problems.js';
import type { Config } from './types.js';

/** Whether `program` is an executable in one of the PATH's directories. */
export function onPath(program: string, path = process.env['PATH'] ?? ''): boolean {
  return path.split(':').filter(Boolean).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** One problem per instance whose Accept_Mode filter needs nft when this host has none. */
export function missingTools(config: Pick<Config, 'vrrp'>, has: (program: string) => boolean = onPath): Problem[] {
  const needing = config.vrrp.filter((v) => !v.acceptMode && v.priority !== 255);
  if (needing.length === 0 || has('nft')) return [];
  return needing.map((v) => ({
    file: v.origin.file, pointer: `${v.origin.pointer}/acceptMode`,
    message: 'false needs nft (nftables) to drop packets to the VIPs, and this host has none on its PATH (Debian: apt install nftables)',
  }));
}
