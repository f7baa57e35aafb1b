/**
 * virtual_server / virtual_server_group / real_server -> lvsd services. A `virtual_server group NAME` is
 * one lvsd service with `members` (the group's addresses, ranges and fwmarks), which lvsd runs as one IPVS
 * service per member sharing the real servers, their one probe each, drains and quorum.
 */
import { isIP } from 'node:net';
import { CHECKER_KEYWORDS, mapChecker, type CheckDefaults } from './checks.js';
import type { Model } from './model.js';
import type { Place } from './problems.js';
import { Problems, boolArg, noExtraArgs, numberArg, oneUser, scriptArgs, stringArg, walk, type Table } from './rules.js';
import type { Statement } from './tree.js';

type Obj = Record<string, unknown>;

type Key = { address: string; port: number } | { fwmark: number };

/** A script keyword's command as keepalived reads it: one quoted string split on blanks, or the words as given. */

interface ServiceState {
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
    smtp_alert: { ignored: 'lvsd sends no email; it logs event health.change' },
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

/** "ADDR PORT" / "fwmark N" / "ADDR-END PORT" of a virtual_server or a group line -> keys. */
function keysOf(s: Statement, words: string[], p: Problems): Key[] {
  if (words[0] === 'fwmark') {
    const n = Number(words[1]);
    if (!/^\d+$/.test(words[1] ?? '') || n < 1 || n > 4294967295) {
      p.error(s, s.keyword, `"${words[1] ?? ''}" is not a firewall mark from 1 to 4294967295`);
      return [];
    }
    return [{ fwmark: n }];
  }
  const [addr = '', portText] = words;
  const port = Number(portText ?? '0');
  if (portText !== undefined && (!/^\d+$/.test(portText) || port > 65535)) {
    p.error(s, s.keyword, `"${portText}" is not a port`);
    return [];
  }
  const range = /^(.*?)-([0-9a-fA-F]+)$/.exec(addr);
  if (range && isIP(range[1]!)) {
    const base = range[1]!;
    const v6 = isIP(base) === 6;
    const parts = v6 ? base.split(':') : base.split('.');
    const first = Number.parseInt(parts[parts.length - 1] || '0', v6 ? 16 : 10);
    const last = Number.parseInt(range[2]!, v6 ? 16 : 10);
    if (!(last >= first) || last > (v6 ? 0xffff : 255)) {
      p.error(s, s.keyword, `the range ${addr} does not count up within the last ${v6 ? 'group' : 'octet'}`);
      return [];
    }
    const out: Key[] = [];
    for (let v = first; v <= last; v++) {
      parts[parts.length - 1] = v6 ? v.toString(16) : String(v);
      out.push({ address: parts.join(v6 ? ':' : '.'), port });
    }
    return out;
  }
  if (!isIP(addr)) {
    p.error(s, s.keyword, `"${addr}" is not an IP address`);
    return [];
  }
  return [{ address: addr, port }];
}

/** One virtual_server_group line as an lvsd member (a range stays a range), or undefined (reported). */
function memberOf(s: Statement, words: string[], p: Problems): { member: Obj; size: number } | undefined {
  if (words[0] === 'fwmark') {
    const family = words[2];
    if (words.length > 3 || (family !== undefined && family !== 'inet' && family !== 'inet6')) {
      p.error(s, s.keyword, `unexpected ${words.slice(2).join(' ')} (a fwmark line takes a mark and inet or inet6)`);
      return undefined;
    }
    const keys = keysOf(s, words.slice(0, 2), p);
    if (keys.length === 0) return undefined;
    const fwmark = (keys[0] as { fwmark: number }).fwmark;
    return { member: { fwmark, ...(family !== undefined && { family: family === 'inet6' ? 'ipv6' : 'ipv4' }) }, size: 1 };
  }
  if (words.length > 2) {
    p.error(s, s.keyword, `unexpected ${words.slice(2).join(' ')}`);
    return undefined;
  }
  const keys = keysOf(s, words, p) as Array<{ address: string; port: number }>;
  if (keys.length === 0) return undefined;
  const first = keys[0]!;
  const last = keys[keys.length - 1]!;
  return {
    member: { address: first.address, ...(keys.length > 1 && { lastAddress: last.address }), port: first.port },
    size: keys.length,
  };
}

export function mapVirtualServerGroup(s: Statement, model: Model, p: Problems): void {
  const name = stringArg(s, p);
  if (name === undefined) return;
  const members: Obj[] = [];
  let size = 0;
  for (const line of s.block ?? []) {
    const m = memberOf(line, [line.keyword, ...line.args], p);
    if (m) {
      members.push(m.member);
      size += m.size;
    }
  }
  if (members.length === 0) p.error(s, 'virtual_server_group', `${name} has no usable entries (keepalived removes it too)`);
  model.groups.set(name, { members, size, place: s, used: false });
}

export function mapVirtualServer(s: Statement, model: Model, p: Problems): void {
  let keys: Key[];
  let group: { name: string; members: Obj[] } | undefined;
  if (s.args[0] === 'group') {
    const g = model.groups.get(s.args[1] ?? '');
    if (!g) {
      p.error(s, 'virtual_server', `group ${s.args[1] ?? ''} is not defined before it (keepalived needs it defined first)`);
      return;
    }
    noExtraArgs(s, p, 2);
    g.used = true;
    if (g.members.length === 0) return;
    group = { name: s.args[1]!, members: g.members };
    keys = [];
  } else {
    noExtraArgs(s, p, 2);
    keys = keysOf(s, s.args, p);
    if (keys.length === 0) return;
  }
  const st: ServiceState = {
    svc: { scheduler: 'wlc', forwarding: 'nat' },
    defaults: { delayLoop: 60, alpha: false },
    realServers: [],
    inhibit: false,
    persistence: {},
    schedFlags: [],
    quorumCommands: {},
  };
  const proto = { value: 'tcp' };
  walk(s.block, serviceRules(p, proto), st, p, 'virtual_server');
  if (group) {
    mapGroupService(s, group, proto.value, st, model, p);
    return;
  }
  for (const key of keys) {
    const svc: Obj = 'fwmark' in key ? { fwmark: key.fwmark } : { protocol: proto.value, address: key.address, port: key.port };
    if ('fwmark' in key && st.protocolAt && s.args[0] === 'fwmark') {
      p.warn(st.protocolAt, 'protocol', 'a fwmark service has no protocol (keepalived ignores it too)');
    }
    if ('fwmark' in key) {
      const v6 = st.realServers.length > 0 && st.realServers.every((r) => isIP(String(r.rs.address)) === 6);
      if (v6) svc.family = 'ipv6';
    }
    if (st.name?.value !== undefined) {
      if (keys.length === 1) svc.name = st.name.value;
      else if (key === keys[0]) p.warn(st.name.at, 'snmp_name', `not used as the name of the ${keys.length} services of the group (each is named by its address)`);
    }
    Object.assign(svc, st.svc);
    finishService(s, svc, st, p);
    model.services.push({ value: svc, place: s, realServerPlaces: st.realServers.map((r) => r.place) });
  }
}

/** `virtual_server group NAME`: one lvsd service with members (a second one over the same group is named NAME-protocol). */
function mapGroupService(s: Statement, group: { name: string; members: Obj[] }, protocol: string, st: ServiceState, model: Model, p: Problems): void {
  const taken = new Set(model.services.map((e) => e.value.name));
  let name = st.name?.value ?? group.name;
  if (taken.has(name)) name = `${name}-${protocol}`;
  const members = group.members.map((m) => ({ ...m }));
  const hasAddress = members.some((m) => m.address !== undefined);
  const svc: Obj = { name, members, ...(hasAddress ? { protocol } : {}) };
  if (!hasAddress && st.protocolAt) p.warn(st.protocolAt, 'protocol', 'the group has fwmarks only, which have no protocol (keepalived ignores it too)');
  Object.assign(svc, st.svc);
  finishService(s, svc, st, p);
  // DR and tunnel cannot remap ports: a real server port that some address member does not listen on
  // becomes the check's port (the destination takes each member's port, as keepalived's does in effect)
  const ports = new Set(members.map((m) => (m.fwmark !== undefined ? undefined : m.port ?? 0)).filter((x) => x !== undefined));
  for (const rs of svc.realServers as Obj[]) {
    const fw = rs.forwarding ?? svc.forwarding;
    if (fw === 'nat' || rs.port === undefined) continue;
    if ([...ports].every((port) => port === rs.port)) continue;
    const check = rs.healthCheck as Obj | undefined;
    if (check && check.port === undefined && check.type !== 'exec' && check.type !== 'none') check.port = rs.port;
    delete rs.port;
  }
  model.services.push({ value: svc, place: s, realServerPlaces: st.realServers.map((r) => r.place) });
}

function finishService(s: Statement, svc: Obj, st: ServiceState, p: Problems): void {
  if (Object.keys(st.persistence).length > 0) {
    if (st.persistence.timeout === undefined && st.persistence.netmask !== undefined) st.persistence.timeout = 360;
    svc.persistence = { ...st.persistence };
  }
  const flags = st.schedFlags.map(({ flag, at }) => {
    const sched = String(svc.scheduler);
    if ((sched === 'sh' || sched === 'mh') && flag !== 3) return `${sched}-${flag === 1 ? 'fallback' : 'port'}`;
    p.error(at, at.keyword, `lvsd knows this flag only for the sh and mh schedulers (${sched} here)`);
    return undefined;
  }).filter((f): f is string => f !== undefined);
  if (flags.length > 0) svc.schedulerFlags = [...new Set(flags)];
  const inhibits = new Set(st.realServers.map((r) => r.inhibit || st.inhibit));
  svc.onFailure = inhibits.has(true) ? 'inhibit' : 'remove';
  if (inhibits.size > 1) p.warn(s, 'inhibit_on_failure', 'set on some real servers only: lvsd sets it per service, so every real server of this one is inhibited (weight 0) instead of removed');
  const alphas = new Set(st.realServers.flatMap((r) => (r.alpha.length > 0 ? r.alpha : [st.defaults.alpha])));
  svc.initialState = alphas.has(true) ? 'down' : 'up';
  if (alphas.size > 1) p.warn(s, 'alpha', 'set on some checks only: lvsd starts every real server of a service the same way (down here)');
  if (st.quorum) {
    const weights = st.realServers.map((r) => (typeof r.rs.weight === 'number' ? r.rs.weight : 1));
    const q = st.quorum.value;
    const same = weights.every((w) => w === weights[0]);
    const w = weights.length > 0 ? weights.reduce((a, b) => a + b, 0) / weights.length : 1;
    const minUp = Math.max(1, Math.ceil(q / Math.max(w, 1)));
    if (!same) p.warn(st.quorum.at, 'quorum', `keepalived counts the weights of live servers, lvsd counts servers: with unequal weights the import asks for ${minUp} servers up`);
    if (minUp > weights.length) p.error(st.quorum.at, 'quorum', `${q} is more than the real servers can ever reach; keepalived would never serve`);
    else if (q > 1 || st.hysteresis) svc.quorum = { minUp };
    if (st.hysteresis && st.hysteresis.value > 0) {
      p.warn(st.hysteresis.at, 'hysteresis', `lvsd has no hysteresis: the quorum is lost below ${minUp} servers up and regained at ${minUp}`);
    }
  }
  if (st.quorumCommands.up || st.quorumCommands.down) {
    // keepalived's quorum defaults to 1: the commands run on the first server up and the last one down
    const q = (svc.quorum as Obj | undefined) ?? { minUp: 1 };
    if (st.quorumCommands.up) q.up = st.quorumCommands.up;
    if (st.quorumCommands.down) q.down = st.quorumCommands.down;
    if (st.quorumCommands.user) q.user = st.quorumCommands.user;
    svc.quorum = q;
  }
  svc.realServers = st.realServers.map((r) => structuredClone(r.rs));
  for (const rs of svc.realServers as Obj[]) {
    const check = rs.healthCheck as Obj | undefined;
    if (st.virtualhost !== undefined && check && (check.type === 'http' || check.type === 'https') && check.host === undefined) check.host = st.virtualhost;
  }
  // DR and tunnel real servers cannot remap the port: keep the check on the port keepalived checked
  const port = svc.port;
  for (const rs of svc.realServers as Obj[]) {
    const fw = rs.forwarding ?? svc.forwarding;
    if (fw !== 'nat' && port !== undefined && rs.port !== undefined && rs.port !== port) {
      const check = rs.healthCheck as Obj | undefined;
      if (check && check.port === undefined && check.type !== 'exec' && check.type !== 'none') check.port = rs.port;
      delete rs.port;
    }
  }
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
    smtp_alert: { ignored: 'lvsd sends no email; it logs event health.change' },
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

