/** vrrp_instance and vrrp_sync_group -> lvsd `vrrp[]` and `syncGroups[]`. */
import { isIP } from 'node:net';
import { emptyModel, type Globals, type Model } from './model.js';
import { mapTrackRefs } from './track.js';
import { Problems, boolArg, numberArg, oneUser, scriptArgs, stringArg, walk, type Table } from './rules.js';
import type { Statement } from './tree.js';

type Obj = Record<string, unknown>;

interface InstanceState {
  v: Obj;
  name: string;
  notify: Obj;
  generic?: { argv: string[]; at: Statement };
  unicastSource?: string;
  peers: string[];
  peersAt?: Statement;
  garp: Obj;
  version?: number;
  versionAt?: Statement;
  advertAt?: Statement;
  syncInterface?: { iface: string; at: Statement };
  /** `accept` / `no_accept` as written. */
  accept?: boolean;
  /** `strict_mode` as written (absent: the global vrrp_strict). */
  strict?: { on: boolean; at: Statement };
  devs: Array<{ addr: string; dev: string; at: Statement }>;
  /** `authentication { auth_type PASS; auth_pass ... }`: the password keepalived puts on the wire. */
  auth?: { password: string; at: Statement };
}

/** An authentication block: PASS maps (keepalived sends only the first 8 characters), AH does not. */
function mapAuthentication(s: Statement, st: InstanceState, p: Problems): void {
  let type: string | undefined;
  let pass: { value: string; at: Statement } | undefined;
  for (const line of s.block ?? []) {
    if (line.keyword === 'auth_type') type = line.args[0];
    else if (line.keyword === 'auth_pass') pass = { value: line.args[0] ?? '', at: line };
    else p.error(line, line.keyword, 'not an authentication option the importer knows');
  }
  if (type === 'AH') {
    p.error(s, 'authentication', 'lvsd has no IPsec AH authentication (RFC 2338 type 2; RFC 3768 removed it): remove authentication from the keepalived pair first (a reload on each), then import');
    return;
  }
  if (type !== 'PASS') {
    p.error(s, 'authentication', `auth_type ${type ?? '(none)'}: keepalived knows PASS and AH`);
    return;
  }
  if (!pass || pass.value === '') {
    p.error(s, 'authentication', 'auth_type PASS without auth_pass');
    return;
  }
  let password = pass.value;
  if (Buffer.byteLength(password, 'utf8') > 8) {
    password = Buffer.from(password, 'utf8').subarray(0, 8).toString('utf8').replace(/\uFFFD$/, '');
    p.warn(pass.at, 'auth_pass', `keepalived sends only the first 8 bytes: lvsd's password is "${password}"`);
  }
  st.auth = { password, at: s };
}

function addressLines(s: Statement, st: InstanceState, p: Problems, excluded: boolean): void {
  const list = (st.v.addresses as string[] | undefined) ?? [];
  for (const line of s.block ?? []) {
    const addr = line.keyword;
    const bare = addr.split('/')[0]!;
    if (!isIP(bare)) {
      p.error(line, addr, 'not an IP address');
      continue;
    }
    const words = line.args;
    let skip = false;
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      const value = words[i + 1];
      if (w === 'dev') {
        i++;
        st.devs.push({ addr, dev: value ?? '', at: line });
      } else if (w === 'label') {
        i++;
        p.warn(line, 'label', 'lvsd adds the address without a label');
      } else if (w === 'scope' || w === 'brd' || w === 'broadcast') {
        i++;
        p.warn(line, w, `lvsd adds the address with the kernel's default ${w === 'scope' ? 'scope (global)' : 'broadcast'}`);
      } else if (w === 'no_track' || w === 'home' || w === '-nodad' || w === 'nodad' || w === 'noprefixroute') {
        p.warn(line, w, 'lvsd adds the address without this option');
      } else {
        p.error(line, w, 'not an address option the importer knows');
        skip = true;
      }
    }
    if (skip) continue;
    if (list.includes(addr)) continue;
    list.push(addr);
  }
  if (excluded && (s.block ?? []).length > 0) {
    p.warn(s, s.keyword, 'lvsd lists every address in its adverts: these are advertised too (a keepalived peer logs the difference and carries on)');
  }
  st.v.addresses = list;
}

export function instanceRules(p: Problems, model: Model = emptyModel()): Table<InstanceState> {
  const notify = (kind: string) => ({
    map: (s: Statement, st: InstanceState) => {
      const r = scriptArgs(s, p);
      if (!r) return;
      st.notify[kind] = r.argv;
      oneUser(s, p, st.notify, r.user, "the instance's notify commands");
    },
  });
  const garp = (key: string, fraction: boolean) => ({
    map: (s: Statement, st: InstanceState) => { const n = numberArg(s, p, 0, { min: 0, fraction }); if (n !== undefined) st.garp[key] = n; },
  });
  return {
    state: {
      map: (s) => {
        if (s.args[0] === 'MASTER') p.warn(s, 'state', 'lvsd starts every instance as backup; it becomes master within the master-down interval if its priority is the highest');
        else if (s.args[0] !== 'BACKUP') p.error(s, 'state', `"${s.args[0] ?? ''}" is not MASTER or BACKUP`);
      },
    },
    interface: { map: (s, st) => { st.v.interface = stringArg(s, p); } },
    virtual_router_id: { map: (s, st) => { st.v.vrid = numberArg(s, p, 0, { min: 1, max: 255 }); } },
    priority: { map: (s, st) => { st.v.priority = numberArg(s, p, 0, { min: 1, max: 255 }); } },
    advert_int: { map: (s, st) => { st.v.advertInterval = numberArg(s, p, 0, { min: 0, fraction: true }); st.advertAt = s; } },
    version: {
      map: (s, st) => {
        const n = numberArg(s, p, 0, { min: 2, max: 3 });
        if (n !== undefined) { st.version = n; st.versionAt = s; }
      },
    },
    nopreempt: { map: (_s, st) => { st.v.preempt = false; } },
    preempt: { map: (_s, st) => { st.v.preempt = true; } },
    preempt_delay: { map: (s, st) => { st.v.preemptDelay = numberArg(s, p, 0, { min: 0, fraction: true }); } },
    virtual_ipaddress: { map: (s, st) => addressLines(s, st, p, false) },
    virtual_ipaddress_excluded: { map: (s, st) => addressLines(s, st, p, true) },
    unicast_src_ip: { map: (s, st) => { st.unicastSource = stringArg(s, p); } },
    unicast_peer: {
      map: (s, st) => {
        st.peersAt = s;
        for (const line of s.block ?? []) {
          if (line.args.length > 0) p.warn(line, line.args[0]!, 'lvsd sends to the peer address only (no per-peer options)');
          st.peers.push(line.keyword);
        }
      },
    },
    track_interface: {
      map: (s, st) => {
        const list: Obj[] = [];
        for (const line of s.block ?? []) {
          const t: Obj = { name: line.keyword };
          if (line.args[0] === 'weight') {
            const w = numberArg(line, p, 1, { min: -254, max: 254 });
            if (w !== undefined && w !== 0) t.weight = w;
            if (line.args[2] === 'reverse') p.error(line, 'reverse', 'lvsd has no reversed interface tracking');
          } else if (line.args.length > 0) p.error(line, line.args[0]!, 'not a track_interface option the importer knows');
          list.push(t);
        }
        st.v.trackInterfaces = list;
      },
    },
    notify_master: notify('master'),
    notify_backup: notify('backup'),
    notify_fault: notify('fault'),
    notify_stop: notify('stop'),
    notify: {
      map: (s, st) => {
        const r = scriptArgs(s, p);
        if (!r) return;
        st.generic = { argv: r.argv, at: s };
        oneUser(s, p, st.notify, r.user, "the instance's notify commands");
      },
    },
    notify_master_rx_lower_pri: { unsupported: 'lvsd runs no script when a master hears a lower priority' },
    notify_deleted: { ignored: 'lvsd runs the fault/stop scripts only' },
    smtp_alert: { ignored: 'lvsd sends no email; it logs event vrrp.transition' },
    authentication: { map: (s, st) => mapAuthentication(s, st, p) },
    garp_master_delay: { ignored: 'lvsd sends its gratuitous ARPs once on becoming master (garp.count), not a second set later' },
    garp_master_repeat: garp('count', false),
    garp_master_refresh: garp('refresh', true),
    garp_master_refresh_repeat: { ignored: 'lvsd sends one gratuitous ARP per address at each refresh' },
    garp_lower_prio_delay: { ignored: 'lvsd sends no gratuitous ARP on hearing a lower priority' },
    garp_lower_prio_repeat: { ignored: 'lvsd sends no gratuitous ARP on hearing a lower priority' },
    lower_prio_no_advert: { ignored: 'lvsd answers a lower priority with an advert, as RFC 5798 says' },
    higher_prio_send_advert: { ignored: 'lvsd follows RFC 5798 on hearing a higher priority' },
    lvs_sync_daemon_interface: { map: (s, st) => { const i = stringArg(s, p); if (i) st.syncInterface = { iface: i, at: s }; } },
    use_vmac: { unsupported: 'lvsd has no VRRP virtual MAC (macvlan) interfaces' },
    vmac_xmit_base: { unsupported: 'lvsd has no VRRP virtual MAC (macvlan) interfaces' },
    track_script: { map: (s, st) => mapTrackRefs('script', s, st.v, model, p) },
    track_file: { map: (s, st) => mapTrackRefs('file', s, st.v, model, p) },
    track_process: { map: (s, st) => mapTrackRefs('process', s, st.v, model, p) },
    track_bfd: { unsupported: 'lvsd has no BFD' },
    virtual_routes: { unsupported: 'lvsd adds no routes with the VIPs: keep the routes in the system network config (or a notify script)' },
    virtual_rules: { unsupported: 'lvsd adds no policy-routing rules with the VIPs: keep them in the system network config (or a notify script)' },
    accept: { map: (s, st) => { st.accept = true; } },
    no_accept: { map: (s, st) => { st.accept = false; } },
    strict_mode: { map: (s, st) => { st.strict = { on: boolArg(s, p), at: s }; } },
    dont_track_primary: { ignored: "lvsd goes to fault when the instance's own interface goes down" },
    mcast_src_ip: { ignored: "lvsd sends adverts from the interface's primary address" },
    native_ipv6: { ignored: 'lvsd takes the family from the addresses' },
    skip_check_adv_addr: { ignored: "lvsd does not compare the advert's addresses with its own" },
    check_unicast_src: { ignored: 'lvsd accepts unicast adverts from its configured peers' },
    unicast_ttl: { ignored: 'lvsd sends unicast adverts with TTL 255, as RFC 5798 asks' },
    unicast_fault_no_peer: { ignored: 'lvsd needs a peer for unicast anyway' },
    promote_secondaries: { ignored: 'lvsd adds and removes only its own addresses' },
    kernel_rx_buf_size: { ignored: 'lvsd sizes its socket buffer itself' },
    debug: { ignored: 'lvsd logs per instance at its log level' },
    notify_priority_changes: { unsupported: 'lvsd runs no script on priority changes' },
    linkbeat_use_polling: { ignored: 'lvsd follows links through rtnetlink' },
  };
}

export function mapInstance(s: Statement, model: Model, p: Problems): void {
  const name = stringArg(s, p);
  if (name === undefined) return;
  const st: InstanceState = { v: { name }, name, notify: {}, peers: [], garp: {}, devs: [] };
  walk(s.block, instanceRules(p, model), st, p, 'vrrp_instance');
  const g: Globals = model.globals;
  const v = st.v;
  if (v.interface === undefined && g.defaultInterface) v.interface = g.defaultInterface;
  for (const d of st.devs) {
    if (d.dev === v.interface) continue;
    p.error(d.at, 'dev', `lvsd puts an instance's addresses on its own interface (${String(v.interface)}), not on ${d.dev}: use an instance on ${d.dev}`);
    v.addresses = (v.addresses as string[]).filter((a) => a !== d.addr);
  }
  if (v.interface === undefined) p.error(s, 'vrrp_instance', 'no interface (and no default_interface in global_defs)');
  if (v.vrid === undefined) p.error(s, 'vrrp_instance', 'no virtual_router_id');
  if (!Array.isArray(v.addresses) || v.addresses.length === 0) p.error(s, 'vrrp_instance', 'no virtual_ipaddress: lvsd needs at least one address');
  const v6 = Array.isArray(v.addresses) && v.addresses.some((a) => isIP(String(a).split('/')[0]!) === 6);
  let version = st.version ?? g.vrrpVersion ?? 2;
  if (v6 && version === 2) {
    if (st.versionAt) p.warn(st.versionAt, 'version', 'VRRP version 2 has no IPv6: lvsd (and keepalived) use version 3');
    version = 3;
  }
  v.version = version;
  if (st.auth) {
    if (version === 2) v.authentication = { type: 'pass', password: st.auth.password };
    else p.warn(st.auth.at, 'authentication', 'VRRPv3 has no authentication (RFC 5798): ignored, as keepalived ignores it');
  }
  // keepalived: Accept_Mode on unless no_accept, or strict mode (the instance's, else vrrp_strict) without `accept`
  const strict = st.strict ? st.strict.on : g.strict !== undefined;
  if (st.accept === false || (st.accept === undefined && strict)) v.acceptMode = false;
  if (strict) {
    p.warn(st.strict?.at ?? g.strict!, st.strict ? 'strict_mode' : 'vrrp_strict',
      `lvsd takes ${st.accept === true ? 'nothing (accept is set)' : 'acceptMode false (no_accept)'} from strict mode; its other checks lvsd does per RFC 5798 anyway, or does not need (no authentication, no VMAC)`);
  }
  if (v.priority === undefined) v.priority = 100;
  if (v.advertInterval === undefined) v.advertInterval = 1;
  if (version === 2 && typeof v.advertInterval === 'number' && !Number.isInteger(v.advertInterval)) {
    const r = Math.max(1, Math.round(v.advertInterval));
    p.warn(st.advertAt ?? s, 'advert_int', `VRRP version 2 counts whole seconds: ${String(v.advertInterval)} becomes ${r}`);
    v.advertInterval = r;
  }
  if (st.peers.length > 0) {
    if (st.unicastSource === undefined) p.error(st.peersAt!, 'unicast_peer', "no unicast_src_ip: lvsd needs the source address (keepalived takes the interface's)");
    else v.unicast = { source: st.unicastSource, peers: st.peers };
  } else if (st.unicastSource !== undefined) p.warn(s, 'unicast_src_ip', 'no unicast_peer: adverts go multicast, from the interface address');
  const garp = { ...st.garp };
  if (garp.count === undefined && g.garpRepeat !== undefined) garp.count = g.garpRepeat;
  if (garp.refresh === undefined && g.garpRefresh !== undefined) garp.refresh = g.garpRefresh;
  if (g.garpInterval !== undefined) garp.interval = g.garpInterval;
  if (typeof garp.count === 'number' && garp.count > 100) garp.count = 100;
  if (Object.keys(garp).length > 0) v.garp = garp;
  if (st.generic) {
    if (Object.keys(st.notify).some((k) => k !== 'user')) {
      p.error(st.generic.at, 'notify', 'lvsd runs one script per state: with notify_master/backup/fault too, fold notify into them');
    } else {
      for (const [kind, word] of [['master', 'MASTER'], ['backup', 'BACKUP'], ['fault', 'FAULT'], ['stop', 'STOP']] as const) {
        st.notify[kind] = [...st.generic.argv, 'INSTANCE', name, word, String(v.priority)];
      }
      p.warn(st.generic.at, 'notify', 'lvsd runs it with the arguments keepalived appends (INSTANCE name STATE priority) fixed at import: the priority is the configured one');
    }
  }
  if (Object.keys(st.notify).length > 0) v.notify = st.notify;
  if (st.syncInterface) {
    if (model.connectionSync) p.error(st.syncInterface.at, 'lvs_sync_daemon_interface', 'a second sync daemon: lvsd runs one');
    else model.connectionSync = { value: { instance: name, interface: st.syncInterface.iface, syncId: Number(v.vrid ?? 0) }, place: st.syncInterface.at };
  }
  model.vrrp.push({ value: v, place: s });
}

export function mapSyncGroup(s: Statement, model: Model, p: Problems): void {
  const name = stringArg(s, p);
  if (name === undefined) return;
  const instances: string[] = [];
  const notify: Record<string, { argv: string[]; at: Statement }> = {};
  walk(s.block, syncGroupRules(p, instances, notify), null, p, 'vrrp_sync_group');
  if (instances.length === 0) {
    p.error(s, 'vrrp_sync_group', 'no group { ... } of instances: nothing to import');
    return;
  }
  model.syncGroups.push({ value: { name, instances }, place: s });
  if (Object.keys(notify).length > 0) model.groupNotify.push({ group: name, members: instances, notify, at: s });
}

const STATE_WORDS = [['master', 'MASTER'], ['backup', 'BACKUP'], ['fault', 'FAULT'], ['stop', 'STOP']] as const;

/**
 * A sync group's notify commands go to its first member instance: the members of a sync group change state
 * together, so the command runs once per group transition, as keepalived runs it. `notify` gets keepalived's
 * arguments (GROUP name STATE) fixed at import; lvsd appends its own (state, instance, priority) after them.
 */
export function resolveGroupNotify(model: Model, p: Problems): void {
  for (const g of model.groupNotify) {
    const target = g.members.map((m) => model.vrrp.find((v) => v.value.name === m)).find((v) => v !== undefined);
    const generic = g.notify.generic;
    const perState: Record<string, { argv: string[]; at: Statement }> = {};
    for (const [kind, word] of STATE_WORDS) {
      if (g.notify[kind]) perState[kind] = g.notify[kind]!;
    }
    if (generic) {
      if (Object.keys(perState).length > 0) {
        p.error(generic.at, 'notify', 'lvsd runs one script per state: with notify_master/backup/fault too, fold notify into them');
        continue;
      }
      for (const [kind, word] of STATE_WORDS) perState[kind] = { argv: [...generic.argv, 'GROUP', g.group, word], at: generic.at };
    }
    if (!target) {
      for (const n of new Set(Object.values(perState).map((x) => x.at))) p.error(n, n.keyword, `no member instance of sync group ${g.group} was imported to run it from`);
      continue;
    }
    const instance = String(target.value.name);
    const own = (target.value.notify ?? {}) as Record<string, string[]>;
    const warned = new Set<Statement>();
    for (const [kind, n] of Object.entries(perState)) {
      if (own[kind]) {
        p.error(n.at, n.at.keyword, `member instance ${instance} has its own ${kind} command: lvsd runs one command per state and instance`);
        continue;
      }
      own[kind] = n.argv;
      if (!warned.has(n.at)) {
        warned.add(n.at);
        p.warn(n.at, n.at.keyword, `lvsd runs it from member instance ${instance} (a sync group's instances change state together: once per group transition)${n.at.keyword === 'notify' ? ', with keepalived\'s arguments (GROUP name STATE) fixed at import' : ''}`);
      }
    }
    if (Object.keys(own).length > 0) target.value.notify = own;
  }
}

export function syncGroupRules(p: Problems, instances: string[], notify: Record<string, { argv: string[]; at: Statement }> = {}): Table<null> {
  const perState = (kind: string) => ({
    map: (s: Statement) => {
      const r = scriptArgs(s, p);
      if (!r) return;
      notify[kind] = { argv: r.argv, at: s };
      if (r.user !== undefined) p.error(s, s.keyword, `runs as ${r.user}: lvsd runs a sync group's notify commands as its first member's notify user (set notify.user there after the import)`);
    },
  });
  return {
    group: { map: (g) => { for (const l of g.block ?? []) instances.push(l.keyword, ...l.args); } },
    notify_master: perState('master'),
    notify_backup: perState('backup'),
    notify_fault: perState('fault'),
    notify_stop: perState('stop'),
    notify: perState('generic'),
    smtp_alert: { ignored: 'lvsd sends no email; it logs event vrrp.transition' },
    global_tracking: { ignored: 'lvsd tracks per instance' },
    sync_group_tracking_weight: { ignored: 'lvsd tracks per instance' },
    track_interface: { unsupported: 'lvsd tracks interfaces per instance: put it on the member instances' },
    track_script: { unsupported: 'lvsd tracks scripts per instance: put it on the member instances' },
    track_file: { unsupported: 'lvsd tracks files per instance: put it on the member instances' },
    track_process: { unsupported: 'lvsd tracks processes per instance: put it on the member instances' },
  };
}
