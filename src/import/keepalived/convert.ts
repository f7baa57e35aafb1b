/**
 * keepalived.conf -> lvsd config: read (lexer), structure (tree), translate (keyword tables), then run the
 * result through lvsd's own validator. What lvsd refuses is reported at the keepalived place it came from
 * and left out, so the rest is still a valid config (`--partial`).
 */
import { isLvsdError } from '../../errors.js';
import { parseConfig } from '../../config/index.js';
import type { ConfigFiles } from './files.js';
import { lexKeepalived } from './lexer.js';
import { emptyModel, render, type Model } from './model.js';
import type { ImportProblem, Place } from './problems.js';
import { Problems, numberArg, stringArg, walk, type Table } from './rules.js';
import { mapVirtualServer, mapVirtualServerGroup } from './services.js';
import { buildTree } from './tree.js';
import { mapInstance, mapSyncGroup, resolveGroupNotify } from './vrrp.js';
import { mapTrackDef, resolveTracks } from './track.js';

export interface ImportResult {
  /** The lvsd config (valid: lvsd's validator accepted it), without what could not be mapped. */
  config: Record<string, unknown>;
  problems: ImportProblem[];
  /** True when nothing was left out: every error-free import exits 0. */
  complete: boolean;
  files: string[];
}

const IGNORED_GLOBALS: Record<string, string> = Object.fromEntries(
  [
    ['router_id', 'lvsd names itself by host name in logs'],
    ['notification_email', 'lvsd sends no email: alert on its logs or metrics'],
    ['notification_email_from', 'lvsd sends no email'],
    ['smtp_server', 'lvsd sends no email'],
    ['smtp_connect_timeout', 'lvsd sends no email'],
    ['smtp_helo_name', 'lvsd sends no email'],
    ['email_faults', 'lvsd sends no email'],
    ['no_email_faults', 'lvsd sends no email'],
    ['enable_script_security', 'lvsd runs exec checks as an unprivileged user (health.execUser) always'],
    ['vrrp_skip_check_adv_addr', "lvsd does not compare the advert's addresses with its own"],
    ['vrrp_check_unicast_src', 'lvsd accepts unicast adverts from its configured peers'],
    ['vrrp_iptables', 'lvsd adds no iptables rules: acceptMode false is its own nftables table (inet lvsd_vrrp)'],
    ['vrrp_ipsets', 'lvsd adds no ipsets'],
    ['vrrp_priority', 'lvsd runs VRRP in its own thread (SCHED_RR when it may)'],
    ['checker_priority', 'lvsd runs checks in its main thread'],
    ['vrrp_rt_priority', 'lvsd runs VRRP in its own thread (SCHED_RR when it may)'],
    ['checker_rt_priority', 'lvsd runs checks in its main thread'],
    ['vrrp_rlimit_rttime', 'lvsd sets no RLIMIT_RTTIME'],
    ['checker_rlimit_rttime', 'lvsd sets no RLIMIT_RTTIME'],
    ['vrrp_no_swap', 'lvsd does not lock its memory'],
    ['checker_no_swap', 'lvsd does not lock its memory'],
    ['process_names', 'lvsd is one process'],
    ['max_auto_priority', 'lvsd runs VRRP in its own thread'],
    ['dynamic_interfaces', 'lvsd follows interfaces appearing and going through rtnetlink'],
    ['vrrp_garp_master_delay', 'lvsd sends its gratuitous ARPs once on becoming master (garp.count)'],
    ['vrrp_garp_master_refresh_repeat', 'lvsd sends one gratuitous ARP per address at each refresh'],
    ['vrrp_garp_lower_prio_delay', 'lvsd sends no gratuitous ARP on hearing a lower priority'],
    ['vrrp_garp_lower_prio_repeat', 'lvsd sends no gratuitous ARP on hearing a lower priority'],
    ['vrrp_lower_prio_no_advert', 'lvsd answers a lower priority with an advert, as RFC 5798 says'],
    ['vrrp_higher_prio_send_advert', 'lvsd follows RFC 5798 on hearing a higher priority'],
    ['vrrp_startup_delay', 'lvsd starts every instance as backup and waits the master-down interval'],
    ['linkbeat_use_polling', 'lvsd follows links through rtnetlink'],
    ['lvs_flush', 'lvsd never flushes the table: it changes only what differs (ipvs.ownWholeTable removes services it did not declare)'],
    ['lvs_flush_onstop', 'lvsd leaves the table as it is when it stops, so the peer or a restart finds it right'],
    ['enable_snmp_vrrp', 'lvsd has no SNMP: use its metrics'],
    ['enable_snmp_checker', 'lvsd has no SNMP: use its metrics'],
    ['enable_snmp_rfc', 'lvsd has no SNMP: use its metrics'],
    ['enable_snmp_rfcv2', 'lvsd has no SNMP: use its metrics'],
    ['enable_snmp_rfcv3', 'lvsd has no SNMP: use its metrics'],
    ['enable_traps', 'lvsd has no SNMP: use its metrics'],
    ['snmp_socket', 'lvsd has no SNMP: use its metrics'],
    ['enable_dbus', 'lvsd has no D-Bus interface: use its control socket'],
    ['vrrp_netlink_cmd_rcv_bufs', 'lvsd sizes its netlink buffers itself'],
    ['vrrp_netlink_monitor_rcv_bufs', 'lvsd sizes its netlink buffers itself'],
    ['lvs_netlink_cmd_rcv_bufs', 'lvsd sizes its netlink buffers itself'],
    ['lvs_netlink_monitor_rcv_bufs', 'lvsd sizes its netlink buffers itself'],
    ['instance', 'the importer reads --config-id instead'],
  ],
);

export function globalRules(model: Model, p: Problems): Table<null> {
  const g = model.globals;
  const table: Record<string, Table<null>[string]> = Object.fromEntries(Object.entries(IGNORED_GLOBALS).map(([k, why]) => [k, { ignored: why }]));
  return {
    ...table,
    vrrp_version: { map: (s) => { g.vrrpVersion = numberArg(s, p, 0, { min: 2, max: 3 }); } },
    vrrp_strict: { map: (s) => { g.strict = s; } },
    vrrp_garp_interval: { map: (s) => { g.garpInterval = numberArg(s, p, 0, { min: 0, fraction: true }); } },
    vrrp_gna_interval: { map: (s) => { g.garpInterval ??= numberArg(s, p, 0, { min: 0, fraction: true }); } },
    vrrp_garp_master_repeat: { map: (s) => { g.garpRepeat = numberArg(s, p, 0, { min: 0 }); } },
    vrrp_garp_master_refresh: { map: (s) => { g.garpRefresh = numberArg(s, p, 0, { min: 0, fraction: true }); } },
    default_interface: { map: (s) => { g.defaultInterface = stringArg(s, p); } },
    vrrp_mcast_group4: {
      map: (s) => { if (s.args[0] !== '224.0.0.18') p.error(s, s.keyword, 'lvsd sends VRRP to 224.0.0.18 only (RFC 5798)'); },
    },
    vrrp_mcast_group6: {
      map: (s) => { if ((s.args[0] ?? '').toLowerCase() !== 'ff02::12') p.error(s, s.keyword, 'lvsd sends VRRP to ff02::12 only (RFC 5798)'); },
    },
    script_user: {
      map: (s) => {
        const u = stringArg(s, p);
        if (u === undefined) return;
        model.health = { value: { execUser: u }, place: s };
        if (s.args[1] !== undefined) p.warn(s, 'script_user', `lvsd runs exec checks with the user's own group, not ${s.args[1]}`);
        p.warn(s, 'script_user', 'lvsd uses it for exec checks (health.execUser); notify scripts run as the user lvsd runs as');
      },
    },
    lvs_timeouts: {
      map: (s) => {
        const t: Record<string, number> = {};
        const names: Record<string, string> = { tcp: 'tcp', tcpfin: 'tcpFin', udp: 'udp' };
        for (let i = 0; i < s.args.length; i += 2) {
          const key = names[s.args[i]!];
          if (!key) {
            p.error(s, 'lvs_timeouts', `"${s.args[i]!}" is not tcp, tcpfin or udp`);
            continue;
          }
          const n = numberArg(s, p, i + 1, { min: 1 });
          if (n !== undefined) t[key] = n;
        }
        if (Object.keys(t).length > 0) model.ipvs = { value: { timeouts: t }, place: s };
      },
    },
    lvs_sync_daemon: {
      map: (s) => {
        const keys: Record<string, string> = { id: 'syncId', maxlen: 'maxLength', port: 'port', ttl: 'ttl', group: 'group' };
        const [iface, ...rest] = s.args;
        if (rest[0] === 'inst') rest.shift();
        const instance = rest[0] !== undefined && !(rest[0] in keys) ? rest.shift() : undefined;
        if (!iface || !instance) {
          p.error(s, 'lvs_sync_daemon', 'without a VRRP instance keepalived runs both sync daemons all the time; lvsd runs the one its instance state calls for: name the instance');
          return;
        }
        const cs: Record<string, unknown> = { instance, interface: iface };
        const offset = s.args.length - rest.length;
        for (let i = 0; i < rest.length; i += 2) {
          const key = keys[rest[i]!];
          if (!key) {
            p.error(s, 'lvs_sync_daemon', `"${rest[i]!}" is not id, maxlen, port, ttl or group`);
            continue;
          }
          if (key === 'group') cs.group = rest[i + 1];
          else {
            const n = numberArg(s, p, offset + i + 1, { min: 0, max: 65535 });
            if (n !== undefined) cs[key] = n;
          }
        }
        model.connectionSync = { value: cs, place: s };
      },
    },
    notify_fifo: { unsupported: 'lvsd writes no notify FIFO: follow its log events (vrrp.transition, health.change, health.first_up) instead' },
    notify_fifo_script: { unsupported: 'lvsd writes no notify FIFO' },
    vrrp_notify_fifo: { unsupported: 'lvsd writes no notify FIFO' },
    vrrp_notify_fifo_script: { unsupported: 'lvsd writes no notify FIFO' },
    lvs_notify_fifo: { unsupported: 'lvsd writes no notify FIFO' },
    lvs_notify_fifo_script: { unsupported: 'lvsd writes no notify FIFO' },
    startup_script: { unsupported: 'lvsd runs no script at start' },
    shutdown_script: { unsupported: 'lvsd runs no script at stop' },
    net_namespace: { unsupported: 'run lvsd itself in the namespace (ip netns exec NAME lvsd run)' },
  };
}

export function rootRules(model: Model, p: Problems): Table<null> {
  return {
    global_defs: { map: (s) => walk(s.block, globalRules(model, p), null, p, 'global_defs') },
    vrrp_instance: { map: (s) => mapInstance(s, model, p) },
    vrrp_sync_group: { map: (s) => mapSyncGroup(s, model, p) },
    virtual_server_group: { map: (s) => mapVirtualServerGroup(s, model, p) },
    virtual_server: { map: (s) => mapVirtualServer(s, model, p) },
    vrrp_script: { map: (s) => mapTrackDef('script', s, model, p) },
    vrrp_track_file: { map: (s) => mapTrackDef('file', s, model, p) },
    track_file: { map: (s) => mapTrackDef('file', s, model, p) },
    vrrp_track_process: { map: (s) => mapTrackDef('process', s, model, p) },
    static_ipaddress: { unsupported: 'lvsd adds only VRRP addresses: keep static addresses in the system network config' },
    static_routes: { unsupported: 'lvsd adds no routes: keep them in the system network config' },
    static_rules: { unsupported: 'lvsd adds no policy-routing rules: keep them in the system network config' },
    net_namespace: { unsupported: 'run lvsd itself in the namespace (ip netns exec NAME lvsd run)' },
    bfd_instance: { unsupported: 'lvsd has no BFD' },
    garp_group: { unsupported: 'lvsd sets gratuitous ARP timing per instance (garp)' },
    linkbeat_interfaces: { ignored: 'lvsd follows links through rtnetlink' },
    ...(Object.fromEntries(['use_polling', 'linkbeat_use_polling'].map((k) => [k, { ignored: 'lvsd follows links through rtnetlink' }])) as Table<null>),
  };
}

/** The pointer's top-level item: /services/3/realServers/0/port -> /services/3. */
function topOf(pointer: string): string {
  const parts = pointer.split('/');
  return /^\d+$/.test(parts[2] ?? '') ? `/${parts[1]}/${parts[2]}` : `/${parts[1] ?? ''}`;
}

/** The place a pointer came from: the longest recorded prefix. */
function placeOf(pointer: string, origins: Map<string, Place>): Place | undefined {
  let best: string | undefined;
  for (const key of origins.keys()) {
    if (key.endsWith('#')) continue;
    if ((pointer === key || pointer.startsWith(key + '/')) && (!best || key.length > best.length)) best = key;
  }
  return best === undefined ? undefined : origins.get(best);
}

const VALIDATION_FILE = 'keepalived-import.json';

export function importKeepalived(path: string, files: ConfigFiles, opts: { configId?: string } = {}): ImportResult {
  const lexed = lexKeepalived(path, files, opts);
  const tree = buildTree(lexed.lines);
  const p = new Problems();
  const model = emptyModel();
  walk(tree.statements, rootRules(model, p), null, p, 'the top level');
  resolveTracks(model, p);
  resolveGroupNotify(model, p);
  // the sync daemon's id defaults to its instance's virtual_router_id, as in keepalived
  const cs = model.connectionSync?.value;
  if (cs && cs.syncId === undefined) cs.syncId = Number(model.vrrp.find((v) => v.value.name === cs.instance)?.value.vrid ?? 0);
  for (const [name, g] of model.groups) {
    if (!g.used) p.warn(g.place, 'virtual_server_group', `${name} is used by no virtual_server: nothing to import`);
  }
  const problems: ImportProblem[] = [...lexed.problems, ...tree.problems, ...p.list];
  const dropped = new Set<string>();
  let doc: Record<string, unknown> = {};
  for (let round = 0; round < 50; round++) {
    const r = render(model, dropped);
    doc = r.doc;
    try {
      parseConfig([{ file: VALIDATION_FILE, text: JSON.stringify(doc) }]);
      break;
    } catch (e) {
      if (!isLvsdError(e) || !Array.isArray(e.details)) throw e;
      const before = dropped.size;
      for (const d of e.details as Array<{ pointer: string; message: string }>) {
        const top = topOf(d.pointer);
        const at = placeOf(d.pointer, r.origins) ?? { file: path, line: 0 };
        const keyword = d.pointer.split('/').filter((x) => x !== '' && !/^\d+$/.test(x)).slice(-1)[0] ?? 'config';
        problems.push({ ...at, keyword, message: `lvsd refuses the result (${d.pointer}: ${d.message}); this part is left out`, severity: 'error' });
        const modelIndex = r.origins.get(top + '#');
        dropped.add(modelIndex ? `/${top.split('/')[1]}/${modelIndex.file}` : top);
      }
      if (dropped.size === before) {
        doc = {};
        break;
      }
    }
  }
  return { config: doc, problems, complete: !problems.some((x) => x.severity === 'error'), files: lexed.files };
}
