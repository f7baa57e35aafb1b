/**
 * virtual_server / virtual_server_group / real_server -> lvsd services. A `virtual_server group NAME` is
 * one lvsd service with `members` (the group's addresses, ranges and fwmarks), which lvsd runs as one IPVS
 * service per member sharing the real servers, their one probe each, drains and quorum.
 */
import { isIP } from 'node:net';
import type { Model } from './model.js';
import { Problems, noExtraArgs, stringArg, walk } from './rules.js';
import { serviceRules, type ServiceState } from './service-rules.js';
import type { Statement } from './tree.js';

type Obj = Record<string, unknown>;

type Key = { address: string; port: number } | { fwmark: number };

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
