/**
 * The ECMP lab's network (`lvsd lab --ecmp`): a client behind a router, the router in front of three
 * directors that all serve, three web servers. Each node is a network namespace, all addresses private:
 *
 *   lve-client 10.90.1.10 ── eth0 ┐ lve-r (router: BIRD, BGP + BFD to each director,
 *                      10.90.1.1  ┘  kernel ECMP route to the VIP, L4 hash)
 *                      10.90.0.1 ── eth1 ─┐
 *   lve-d1..d3  10.90.0.2-4  ─────────────┼─ br0 (lve-sw)
 *   lve-rs1..3  10.90.0.11-13 ────────────┘
 *
 * VIP 10.90.100.100 is on no link: the router reaches it only through the /32 the directors announce over
 * BGP, one next hop per director that announces it (kernel multipath, `fib_multipath_hash_policy=1`: the
 * flow's ports are hashed too, so one client's connections spread over the directors). The directors
 * forward by DR (rewrite the MAC) to the web servers, which hold the VIP on lo (arp_ignore/arp_announce)
 * and reply through the router, never through a director.
 *
 * Names start `lve-`, so this lab and the pair lab (`lvs-`, topology.ts) can live side by side.
 */
import { spawnSync } from 'node:child_process';

export const ECMP_PREFIX = 'lve';
export const ECMP_VIP = '10.90.100.100';
export const ECMP_PORT = 80;
export const LAN = '10.90.0';
export const CLIENT_NET = '10.90.1';
export const ROUTER_LAN = `${LAN}.1`;
export const ROUTER_CLIENT_SIDE = `${CLIENT_NET}.1`;
export const ROUTER_AS = 65000;
export const SWITCH = `${ECMP_PREFIX}-sw`;
export const ROUTER = `${ECMP_PREFIX}-r`;
export const CLIENT = `${ECMP_PREFIX}-client`;

export type DirectorIndex = 1 | 2 | 3;
export const DIRECTORS: readonly DirectorIndex[] = [1, 2, 3];

export interface EcmpNode {
  name: string;
  ns: string;
  address: string;
  /** the switch port of its eth0 (directors and web servers) */
  port: string;
  index: number;
  role: 'director' | 'web';
}

/** The directors and web servers on the LAN (the router and the client are built apart). */
export function ecmpNodes(): EcmpNode[] {
  const mk = (name: string, host: number, index: number, role: EcmpNode['role']): EcmpNode =>
    ({ name, ns: `${ECMP_PREFIX}-${name}`, address: `${LAN}.${host}`, port: `p-${name}`, index, role });
  return [
    mk('d1', 2, 1, 'director'), mk('d2', 3, 2, 'director'), mk('d3', 4, 3, 'director'),
    mk('rs1', 11, 4, 'web'), mk('rs2', 12, 5, 'web'), mk('rs3', 13, 6, 'web'),
  ];
}

export function ecmpNode(name: string): EcmpNode {
  const n = ecmpNodes().find((x) => x.name === name);
  if (!n) throw new Error(`no ECMP lab node ${name}`);
  return n;
}

export function director(which: DirectorIndex): EcmpNode {
  return ecmpNode(`d${which}`);
}

export function allNamespaces(): string[] {
  return [CLIENT, ROUTER, ...ecmpNodes().map((n) => n.ns), SWITCH];
}

/** One LAN node: namespace, veth to the switch, address, default route via the router. */
export function lanNodeCommands(n: EcmpNode): string[] {
  const l = [
    `ip netns add ${n.ns}`, `ip -n ${n.ns} link set lo up`,
    // distinct indexes on the two ends (a veth whose index equals its peer's has its carrier changes batched)
    `ip -n ${n.ns} link add eth0 index ${40 + n.index} type veth peer name ${n.port} index ${140 + n.index} netns ${SWITCH}`,
    `ip -n ${SWITCH} link set ${n.port} master br0 up`,
    `ip -n ${n.ns} addr add ${n.address}/24 dev eth0`, `ip -n ${n.ns} link set eth0 up`,
    `ip -n ${n.ns} route add default via ${ROUTER_LAN}`,
  ];
  if (n.role === 'web') {
    // DR: the web server accepts packets for the VIP and answers the client straight through the router
    l.push(`ip -n ${n.ns} addr add ${ECMP_VIP}/32 dev lo`,
      `ip netns exec ${n.ns} sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 ` +
      'net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2');
  }
  return l;
}

/** The bash text that builds the whole network. */
export function ecmpBuildScript(): string {
  const l = ['set -e'];
  l.push(`ip netns add ${SWITCH}`, `ip -n ${SWITCH} link set lo up`,
    `ip -n ${SWITCH} link add br0 type bridge mcast_snooping 0`, `ip -n ${SWITCH} link set br0 up`);
  l.push(`ip netns add ${ROUTER}`, `ip -n ${ROUTER} link set lo up`, `ip netns add ${CLIENT}`, `ip -n ${CLIENT} link set lo up`);
  // the client's only link is to the router
  l.push(`ip -n ${CLIENT} link add eth0 index 31 type veth peer name eth0 index 32 netns ${ROUTER}`,
    `ip -n ${CLIENT} addr add ${CLIENT_NET}.10/24 dev eth0`, `ip -n ${CLIENT} link set eth0 up`,
    `ip -n ${CLIENT} route add default via ${ROUTER_CLIENT_SIDE}`,
    `ip -n ${ROUTER} addr add ${ROUTER_CLIENT_SIDE}/24 dev eth0`, `ip -n ${ROUTER} link set eth0 up`);
  l.push(`ip -n ${ROUTER} link add eth1 index 33 type veth peer name p-r index 133 netns ${SWITCH}`,
    `ip -n ${SWITCH} link set p-r master br0 up`,
    `ip -n ${ROUTER} addr add ${ROUTER_LAN}/24 dev eth1`, `ip -n ${ROUTER} link set eth1 up`,
    // forwarding, and ECMP that hashes the L4 ports as well as the addresses (policy 1)
    `ip netns exec ${ROUTER} sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1`);
  for (const n of ecmpNodes()) l.push(...lanNodeCommands(n));
  return l.join('\n') + '\n';
}

/**
 * A director "rebooted": its processes must be gone; its namespace is replaced by a fresh one (empty IPVS
 * table, default sysctls: no sloppy_tcp, no VIP), link up. The switch port goes first, synchronously.
 */
export function renewDirectorScript(which: DirectorIndex): string {
  const n = director(which);
  return ['set -e', `ip -n ${SWITCH} link del ${n.port}`, `ip netns del ${n.ns}`, ...lanNodeCommands(n)].join('\n') + '\n';
}

export interface RouterBird {
  /** BFD timers the router asks for (the session runs at the slower of the two ends' wishes) */
  bfdIntervalMs: number;
  bfdMultiplier: number;
  peers: Array<{ name: string; address: string; as: number }>;
  /** control socket and log file of the router's BIRD */
  logFile: string;
}

/**
 * The router's bird.conf: one eBGP session with BFD per director, everything they announce imported, and
 * the kernel protocol merging equal routes into one multipath route (`merge paths`). `error wait time 1, 5`:
 * BIRD's default (60 s to 300 s) would keep a director that comes back waiting a minute after its session
 * failed; `connect retry time 1` likewise for the first connect.
 */
export function routerBirdConf(r: RouterBird): string {
  const lines = [
    `log "${r.logFile}" all;`,
    'timeformat log "%F %T.%3f";',
    `router id ${ROUTER_LAN};`,
    'protocol device { scan time 10; }',
    'protocol kernel { ipv4 { import none; export all; }; merge paths on; }',
    `protocol bfd { interface "eth1" { min rx interval ${r.bfdIntervalMs} ms; min tx interval ${r.bfdIntervalMs} ms; ` +
      `idle tx interval 1000 ms; multiplier ${r.bfdMultiplier}; }; }`,
    'template bgp director {',
    `  local ${ROUTER_LAN} as ${ROUTER_AS};`,
    '  ipv4 { import all; export none; };',
    '  bfd on;',
    '  hold time 3; keepalive time 1;',
    '  connect retry time 1; error wait time 1, 5;',
    '}',
  ];
  for (const p of r.peers) lines.push(`protocol bgp ${p.name} from director { neighbor ${p.address} as ${p.as}; }`);
  return lines.join('\n') + '\n';
}

/** Kills every process in the lab's namespaces and deletes them. */
export function ecmpDestroy(): void {
  const all = allNamespaces();
  for (const ns of all) killAllIn(ns);
  for (const ns of all) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

/** SIGKILL to every process in one namespace (`ip netns pids`); returns how many. */
export function killAllIn(ns: string): number {
  const pids = (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return pids.length;
}

export function ecmpLabExists(): boolean {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').some((l) => l.split(' ')[0] === SWITCH);
}
