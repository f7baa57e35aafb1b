/**
 * What the ECMP lab reads of the directors' config (examples/lab/ecmp/director-N/ecmp.json): each
 * director's AS (for the router's sessions), and the lvsd log events that say it announces or withdraws.
 * Also how the lab adapts a director's files: its BIRD run directory under the lab's own directory (the
 * three directors share one machine here, each would have /run/lvsd/bird to itself).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES } from './topology.js';
import type { DirectorIndex } from './ecmp-topology.js';

export const ECMP_EXAMPLES = join(EXAMPLES, 'ecmp');

interface EcmpSection {
  localAs?: number;
  daemon?: Record<string, unknown>;
}

function ecmpFile(which: DirectorIndex): string {
  return join(ECMP_EXAMPLES, `director-${which}`, 'ecmp.json');
}

/** The director's AS number, from its example file. */
export function directorAs(which: DirectorIndex): number {
  const doc = JSON.parse(readFileSync(ecmpFile(which), 'utf8')) as { ecmp?: EcmpSection };
  const as = doc.ecmp?.localAs;
  if (typeof as !== 'number') throw new Error(`${ecmpFile(which)}: no ecmp.localAs`);
  return as;
}

/** Points the `ecmp` section of a copied config file (if it has one) at the lab's BIRD run directory. */
export function setRunDir(file: string, runDir: string): void {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { ecmp?: EcmpSection };
  if (!doc.ecmp) return;
  doc.ecmp.daemon = { ...doc.ecmp.daemon, runDir };
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
}

/** lvsd's log event: the director announces the VIP (docs/ecmp.md). */
export const isAnnounce = (j: Record<string, unknown>): boolean => j.event === 'ecmp.announce';
