/**
 * The keyword tables of a keepalived virtual_server and real_server block (what each keyword sets on the
 * lvsd service or real server, or why it is ignored or refused) and the state a virtual_server block fills.
 * services.ts turns that state into lvsd services.
 */
import { isIP } from 'node:net';
import { CHECKER_KEYWORDS, mapChecker, type CheckDefaults } from './checks.js';
import type { Place } from './problems.js';
import { Problems, boolArg, numberArg, oneUser, scriptArgs, stringArg, walk, type Table } from './rules.js';
import type { Statement } from './tree.js';

type Obj = Record<string, unknown>;

/** What a virtual_server block has set so far. */
export interface ServiceState {
  svc: Obj;
  defaults: CheckDefaults;
  realServers: Array<{ rs: Obj; place: Place; inhibit: boolean; alpha: boolean[] }>;
  inhibit: boolean;
  quorum?: { value: number; at: Statement };
  hysteresis?: { value: number; at: Statement };
  /** quorum_up / quorum_down commands, as keepalived splits them. */
  quorumCommands: { up?: string[]; down?: string[]; user?: string };
  persistence: Obj;
  protocolAt?: Statement;
  schedFlags: Array<{ flag: 1 | 2 | 3; at: Statement }>;
  virtualhost?: string;
  name?: { value: string | undefined; at: Statement };
}

const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];
const KINDS: Record<string, string> = { NAT: 'nat', DR: 'dr', TUN: 'tunnel' };

/** `NAT|DR|TUN [type {ipip|gue port N|gre} [nocsum|csum|remcsum]]` -> forwarding and tunnel, or undefined (reported). */
function method(s: Statement, p: Problems): { forwarding: string; tunnel?: Obj } | undefined {
  const [kindWord = '', ...rest] = s.args;
  const forwarding = KINDS[kindWord];
  if (!forwarding) {
    p.error(s, s.keyword, `"${kindWord}" is not NAT, DR or TUN`);
    return undefined;
  }
  if (rest.length === 0) return { forwarding };
  const tunnel: Obj = {};
  let i = 0;
  if (forwarding !== 'tunnel' || rest[0] !== 'type') {
    p.error(s, s.keyword, `unexpected ${rest.join(' ')}`);
    return undefined;
  }
  const type = rest[1];
  i = 2;
  if (type !== 'ipip' && type !== 'gue' && type !== 'gre') {
    p.error(s, s.keyword, `tunnel type "${type ?? ''}" is not ipip, gue or gre`);
    return undefined;
  }
  tunnel.type = type;
  if (type === 'gue') {
    const port = Number(rest[i + 1]);
    if (rest[i] !== 'port' || !Number.isInteger(port) || port < 1 || port > 65535) {
      p.error(s, s.keyword, 'a gue tunnel needs port 1-65535');
      return undefined;
    }
    tunnel.port = port;
    i += 2;
  }
  const flags: Record<string, string> = { nocsum: 'none', csum: 'csum', remcsum: 'remcsum' };
  if (rest[i] !== undefined) {
    if (!flags[rest[i]!] || rest.length > i + 1) {
      p.error(s, s.keyword, `unexpected ${rest.slice(i).join(' ')}`);
      return undefined;
    }
    tunnel.checksum = flags[rest[i]!];
  }
  return { forwarding, tunnel };
}

export function realServerRules(p: Problems): Table<{ rs: Obj; defaults: CheckDefaults; inhibit: boolean; alpha: boolean[]; checkAt?: Statement }> {
  const checker = {
    map: (s: Statement, st: { rs: Obj; defaults: CheckDefaults; alpha: boolean[]; checkAt?: Statement }) => {
      if (st.checkAt) {
        p.error(s, s.keyword, `a second check: lvsd runs one check per real server (it keeps the ${st.checkAt.keyword} of line ${st.checkAt.line})`);
        return;
      }
      const m = mapChecker(s, st.defaults, p);
      if (m) {
        st.checkAt = s;
        // a misc_path ending in the real server's address and port (as lvsd export writes it): lvsd appends them itself
        const cmd = m.check.command as string[] | undefined;
        if (cmd && m.check.shell !== true && cmd.length > 2 && cmd.at(-2) === st.rs.address && cmd.at(-1) === String(st.rs.port ?? 0)) cmd.splice(-2, 2);
        st.rs.healthCheck = m.check;
        st.alpha.push(m.alpha);
      }
    },
  };
  const realServerNotify = (s: Statement, rs: Obj, kind: 'up' | 'down'): void => {
    const r = scriptArgs(s, p);
    if (!r) return;
    const notify = (rs.notify ??= {}) as Obj;
    notify[kind] = r.argv;
    oneUser(s, p, notify, r.user, "the real server's notify commands");
  };
  return {
    ...Object.fromEntries(CHECKER_KEYWORDS.map((k) => [k, checker])),
    weight: { map: (s, st) => { const n = numberArg(s, p, 0, { min: 0, max: 65535 }); if (n !== undefined) st.rs.weight = n; } },
    inhibit_on_failure: { map: (s, st) => { st.inhibit = boolArg(s, p); } },
    uthreshold: { map: (s, st) => { const n = numberArg(s, p, 0, { min: 0 }); if (n !== undefined) st.rs.upperThreshold = n; } },
    lthreshold: { map: (s, st) => { const n = numberArg(s, p, 0, { min: 0 }); if (n !== undefined) st.rs.lowerThreshold = n; } },
    lvs_method: {
      map: (s, st) => {
        const m = method(s, p);
        if (!m) return;
        st.rs.forwarding = m.forwarding;
        if (m.tunnel) st.rs.tunnel = m.tunnel;
      },
    },
    notify_up: { map: (s, st) => realServerNotify(s, st.rs, 'up') },
    notify_down: { map: (s, st) => realServerNotify(s, st.rs, 'down') },
    smtp_alert: { ignored: 'lvsd sends no email; it logs events health.change and health.first_up (the first ups of a start, counted)' },
    snmp_name: { ignored: 'lvsd has no SNMP; it names real servers by address and port' },
    delay_loop: { map: (s, st) => { st.defaults = { ...st.defaults, delayLoop: numberArg(s, p, 0, { min: 0, fraction: true }) ?? st.defaults.delayLoop }; } },
    retry: { map: (s, st) => { st.defaults = { ...st.defaults, retry: numberArg(s, p, 0, { min: 0 }) }; } },
    delay_before_retry: { map: (s, st) => { st.defaults = { ...st.defaults, delayBeforeRetry: numberArg(s, p, 0, { min: 0, fraction: true }) }; } },
    connect_timeout: { map: (s, st) => { st.defaults = { ...st.defaults, connectTimeout: numberArg(s, p, 0, { min: 0, fraction: true }) }; } },
    alpha: { map: (s, st) => { st.defaults = { ...st.defaults, alpha: boolArg(s, p) }; } },
    warmup: { ignored: 'lvsd spreads first probes over the interval by itself' },
    virtualhost: { ignored: 'the Host header comes from the check (url virtualhost or the virtual server\'s)' },
  };
}

export function serviceRules(p: Problems, proto: { value: string }): Table<ServiceState> {
  const flag = (n: 1 | 2 | 3) => ({ map: (s: Statement, st: ServiceState) => { st.schedFlags.push({ flag: n, at: s }); } });
  const quorumCommand = (s: Statement, st: ServiceState, kind: 'up' | 'down'): void => {
    const r = scriptArgs(s, p);
    if (!r) return;
    st.quorumCommands[kind] = r.argv;
    oneUser(s, p, st.quorumCommands, r.user, 'the quorum commands');
  };
  return {
    delay_loop: { map: (s, st) => { st.defaults.delayLoop = numberArg(s, p, 0, { min: 0, fraction: true }) ?? 60; } },
    retry: { map: (s, st) => { st.defaults.retry = numberArg(s, p, 0, { min: 0 }); } },
    delay_before_retry: { map: (s, st) => { st.defaults.delayBeforeRetry = numberArg(s, p, 0, { min: 0, fraction: true }); } },
    connect_timeout: { map: (s, st) => { st.defaults.connectTimeout = numberArg(s, p, 0, { min: 0, fraction: true }); } },
    lb_algo: { map: (s, st) => scheduler(s, st, p) },
    lvs_sched: { map: (s, st) => scheduler(s, st, p) },
    lb_kind: { map: (s, st) => kind(s, st, p) },
    lvs_method: { map: (s, st) => kind(s, st, p) },
    snmp_name: { map: (s, st) => { st.name = { value: stringArg(s, p), at: s }; } },
    persistence_timeout: {
      map: (s, st) => { st.persistence.timeout = s.args.length === 0 ? 360 : numberArg(s, p, 0, { min: 1 }); },
    },
    persistence_granularity: {
      map: (s, st) => {
        const g = stringArg(s, p);
        if (g !== undefined) st.persistence.netmask = /^\d+$/.test(g) ? Number(g) : g;
      },
    },
    persistence_engine: {
      map: (s, st) => {
        if (s.args[0] === 'sip') st.persistence.engine = 'sip';
        else p.error(s, 'persistence_engine', `lvsd knows the sip engine only, not "${s.args[0] ?? ''}"`);
      },
    },
    protocol: {
      map: (s, st) => {
        const v = (s.args[0] ?? '').toLowerCase();
        st.protocolAt = s;
        if (v === 'tcp' || v === 'udp' || v === 'sctp') proto.value = v;
        else p.error(s, 'protocol', `"${s.args[0] ?? ''}" is not TCP, UDP or SCTP`);
      },
    },
    ops: { map: (_s, st) => { st.svc.onePacket = true; } },
    sorry_server: {
      map: (s, st) => {
        const a = stringArg(s, p);
        if (a === undefined) return;
        const port = s.args[1] === undefined ? undefined : numberArg(s, p, 1, { min: 0, max: 65535 });
        st.svc.sorryServer = { address: a, ...(port !== undefined ? { port } : {}) };
      },
    },
    sorry_server_inhibit: { ignored: "lvsd adds and removes the sorry server itself; inhibiting it instead makes no difference to traffic" },
    sorry_server_lvs_method: {
      map: (s, st) => {
        const m = method(s, p);
        if (!m) return;
        if (!st.svc.sorryServer) {
          p.error(s, s.keyword, 'comes before sorry_server: put it after');
          return;
        }
        Object.assign(st.svc.sorryServer as Obj, { forwarding: m.forwarding }, m.tunnel ? { tunnel: m.tunnel } : {});
      },
    },
    inhibit_on_failure: { map: (s, st) => { st.inhibit = boolArg(s, p); } },
    quorum: { map: (s, st) => { const q = numberArg(s, p, 0, { min: 1 }); if (q !== undefined) st.quorum = { value: q, at: s }; } },
    hysteresis: { map: (s, st) => { const h = numberArg(s, p, 0, { min: 0 }); if (h !== undefined) st.hysteresis = { value: h, at: s }; } },
    quorum_up: { map: (s, st) => quorumCommand(s, st, 'up') },
    quorum_down: { map: (s, st) => quorumCommand(s, st, 'down') },
    alpha: { map: (s, st) => { st.defaults.alpha = boolArg(s, p); } },
    omega: { ignored: 'lvsd runs no quorum or real-server script when it stops' },
    ha_suspend: { unsupported: 'lvsd keeps its services whatever the VRRP state (a backup director serves nothing anyway)' },
    virtualhost: { map: (s, st) => { st.virtualhost = stringArg(s, p); } },
    hashed: { ignored: 'the kernel hashes every service' },
    'flag-1': flag(1),
    'flag-2': flag(2),
    'flag-3': flag(3),
    'sh-fallback': flag(1),
    'mh-fallback': flag(1),
    'sh-port': flag(2),
    'mh-port': flag(2),
    ip_family: { ignored: 'lvsd takes the family from the addresses' },
    smtp_alert: { ignored: 'lvsd sends no email; it logs events health.change and health.first_up (the first ups of a start, counted)' },
    warmup: { ignored: 'lvsd spreads first probes over the interval by itself' },
    real_server: {
      map: (s, st) => {
        const address = stringArg(s, p);
        if (address === undefined) return;
        if (!isIP(address)) {
          p.error(s, 'real_server', `"${address}" is not an IP address`);
          return;
        }
        const rs: Obj = { address };
        if (s.args[1] !== undefined) {
          const port = numberArg(s, p, 1, { min: 0, max: 65535 });
          if (port === undefined) return;
          rs.port = port;
        }
        const rst = { rs, defaults: { ...st.defaults }, inhibit: false, alpha: [] as boolean[] };
        walk(s.block, realServerRules(p), rst, p, 'real_server');
        st.realServers.push({ rs, place: s, inhibit: rst.inhibit, alpha: rst.alpha });
      },
    },
    local_address_group: { unsupported: 'lvsd has no FULLNAT (it is not in the upstream kernel)' },
    syn_proxy: { unsupported: 'lvsd has no SYN proxy (it is not in the upstream kernel)' },
  };
}

function scheduler(s: Statement, st: ServiceState, p: Problems): void {
  const v = stringArg(s, p);
  if (v === undefined) return;
  if (SCHEDULERS.includes(v)) st.svc.scheduler = v;
  else p.error(s, s.keyword, `"${v}" is not a scheduler lvsd knows`);
}

function kind(s: Statement, st: ServiceState, p: Problems): void {
  const m = method(s, p);
  if (!m) return;
  st.svc.forwarding = m.forwarding;
  if (m.tunnel) st.svc.tunnel = m.tunnel;
}

