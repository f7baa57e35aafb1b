/**
 * From the health of a service's real servers, the destinations the kernel should have for it. Pure.
 *
 * - A real server that is up (and the quorum holds) is in with its effective weight.
 * - One that is down is kept with weight 0 (onFailure 'inhibit': existing connections drain, none new) or left
 *   out (onFailure 'remove').
 * - Quorum: with fewer than quorum.minUp real servers up, every real server is withdrawn the same way.
 * - Sorry server: present exactly when no real server is serving (none up, or quorum lost).
 */
import type { ServiceConfig } from '../config/types.js';
import { destId, destSpec, type DestSpec } from '../table/index.js';

export interface RealServerView {
  /** The configured destination (configured weight). */
  spec: DestSpec;
  up: boolean;
  /** The weight it should have while up (agent share, slow start applied). */
  weight: number;
}

export type ServicePolicy = Pick<ServiceConfig, 'onFailure' | 'sorryServer' | 'quorum'>;

export interface ServiceDesired {
  dests: DestSpec[];
  /** Real servers up. */
  up: number;
  quorumMet: boolean;
  sorryActive: boolean;
}

export function desiredDests(policy: ServicePolicy, servers: readonly RealServerView[]): ServiceDesired {
  const up = servers.filter((s) => s.up).length;
  const quorumMet = policy.quorum === undefined || up >= policy.quorum.minUp;
  const serving = quorumMet ? up : 0;
  const sorryActive = serving === 0 && policy.sorryServer !== undefined;
  const sorryId = policy.sorryServer ? destId(policy.sorryServer) : undefined;
  const dests: DestSpec[] = [];
  const seen = new Set<string>();
  for (const s of servers) {
    const id = destId(s.spec);
    if (seen.has(id) || (sorryActive && id === sorryId)) continue;
    seen.add(id);
    if (s.up && quorumMet) dests.push(destSpec(s.spec, s.weight));
    else if (policy.onFailure === 'inhibit') dests.push(destSpec(s.spec, 0));
  }
  if (sorryActive) dests.push(destSpec(policy.sorryServer!));
  return { dests, up, quorumMet, sorryActive };
}

export type DestChange =
  | { kind: 'add'; dest: DestSpec }
  | { kind: 'remove'; dest: DestSpec }
  | { kind: 'update'; dest: DestSpec; before: DestSpec };

function sameDest(a: DestSpec, b: DestSpec): boolean {
  return (
    a.family === b.family && a.address === b.address && a.port === b.port && a.forwarding === b.forwarding &&
    a.weight === b.weight && a.upperThreshold === b.upperThreshold && a.lowerThreshold === b.lowerThreshold &&
    a.tunnelType === b.tunnelType && a.tunnelPort === b.tunnelPort && a.tunnelFlags === b.tunnelFlags
  );
}

/** The destinations that differ between two desired lists, by address:port; empty when they are the same. */
export function diffDests(before: readonly DestSpec[], after: readonly DestSpec[]): DestChange[] {
  // A list recomputed after a batch of outcomes is the previous one with some weights changed, the same
  // destinations in the same order, most of them the very same objects (build.ts): compared in place,
  // without a map of id strings per call (most of what a health change allocated at 100,000 real servers).
  if (before.length === after.length) {
    const changes: DestChange[] = [];
    let i = 0;
    for (; i < after.length; i++) {
      const a = after[i]!, b = before[i]!;
      if (a === b) continue;
      if (a.address !== b.address || a.port !== b.port) break;
      if (!sameDest(b, a)) changes.push({ kind: 'update', dest: a, before: b });
    }
    if (i === after.length) return changes;
  }
  const old = new Map(before.map((d) => [destId(d), d]));
  const changes: DestChange[] = [];
  for (const d of after) {
    const id = destId(d);
    const prev = old.get(id);
    if (!prev) changes.push({ kind: 'add', dest: d });
    else if (!sameDest(prev, d)) changes.push({ kind: 'update', dest: d, before: prev });
    old.delete(id);
  }
  for (const d of old.values()) changes.push({ kind: 'remove', dest: d });
  return changes;
}
