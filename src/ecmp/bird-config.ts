/**
 * The BIRD 2 configuration lvsd writes for its own BIRD (docs/ecmp.md): a static protocol per family
 * holding the addresses announced now, one BGP session per router, BFD on the sessions that ask for it.
 * BIRD exports nothing to the director's kernel (no kernel protocol): it only announces. Pure.
 */
import type { EcmpConfig, EcmpPeerConfig } from '../config/types.js';

/** BIRD's protocol name for a peer: stable for an address whatever the order of the peers in the config. */
export function peerProtocol(address: string): string {
  return `peer_${address.replace(/[^0-9a-fA-F]/g, '_')}`;
}

const STATIC = { ipv4: 'lvsd_vips4', ipv6: 'lvsd_vips6' } as const;

function ms(seconds: number): number {
  return Math.max(1, Math.round(seconds * 1000));
}

function bgpBlock(ecmp: EcmpConfig, p: EcmpPeerConfig): string {
  const lines = [
    `protocol bgp ${peerProtocol(p.address)} {`,
    `  local ${p.source ?? ''}${p.source ? ' ' : ''}as ${ecmp.localAs};`,
    `  neighbor ${p.address} as ${p.as};`,
    `  hold time ${p.holdTime};`,
    `  keepalive time ${Math.max(1, Math.floor(p.holdTime / 3))};`,
    // BIRD waits 5 s before connecting and 60-300 s after an error by default: a director that comes
    // back would be re-added only minutes later
    '  connect delay time 1;',
    '  error wait time 1, 10;',
    `  bfd ${p.bfd ? 'on' : 'off'};`,
    `  ${p.family} { import none; export where proto = "${STATIC[p.family]}"; next hop self; };`,
    '}',
  ];
  return lines.join('\n');
}

/** The whole bird.conf for `announced` prefixes ("10.0.0.1/32", "2001:db8::1/128"). */
export function birdConfig(ecmp: EcmpConfig, announced: readonly string[]): string {
  const v4 = announced.filter((p) => !p.includes(':'));
  const v6 = announced.filter((p) => p.includes(':'));
  const out = [
    '# Written by lvsd (docs/ecmp.md); lvsd rewrites it on every change: do not edit.',
    `router id ${ecmp.routerId};`,
    'log stderr all;',
    // show protocols prints when each protocol last changed state: one token, the same format however
    // long ago (BIRD's default turns a time of day into a date after 20 hours), so that lvsd can tell a
    // session that went down and came back between two of its reads (manager.ts)
    'timeformat protocol "%s.%6f";',
    'protocol device { scan time 10; }',
  ];
  if (ecmp.peers.some((p) => p.bfd)) {
    const i = ms(ecmp.bfd.interval);
    out.push(`protocol bfd lvsd_bfd { interface "*" { min rx interval ${i} ms; min tx interval ${i} ms; idle tx interval 1000 ms; multiplier ${ecmp.bfd.multiplier}; }; }`);
  }
  out.push(`protocol static ${STATIC.ipv4} { ipv4;${v4.map((p) => ` route ${p} blackhole;`).join('')} }`);
  out.push(`protocol static ${STATIC.ipv6} { ipv6;${v6.map((p) => ` route ${p} blackhole;`).join('')} }`);
  for (const p of ecmp.peers) out.push(bgpBlock(ecmp, p));
  return `${out.join('\n')}\n`;
}
