/**
 * A Config written back as a config document with every default spelt out, so `lvsd config show` can print
 * what lvsd understood, and parseConfig(render(c)) equals c. Pure.
 */
import { SVC_F_ONEPACKET, SVC_F_PERSISTENT, schedulerFlagWords, tunnelChecksum, type DestSpec } from '../table/index.js';
import type { Config, HealthCheckConfig, RealServerConfig, ServiceConfig, VrrpInstanceConfig } from './types.js';

type Json = Record<string, unknown>;

function dotted(mask: number): string {
  return [24, 16, 8, 0].map((s) => (mask >>> s) & 255).join('.');
}

function renderDest(d: DestSpec): Json {
  const out: Json = { address: d.address, port: d.port, weight: d.weight, forwarding: d.forwarding };
  if (d.upperThreshold > 0 || d.lowerThreshold > 0) {
    out['upperThreshold'] = d.upperThreshold;
    out['lowerThreshold'] = d.lowerThreshold;
  }
  if (d.forwarding === 'tunnel') {
    out['tunnel'] = {
      type: d.tunnelType,
      ...(d.tunnelType === 'gue' && { port: d.tunnelPort }),
      checksum: tunnelChecksum(d.tunnelFlags),
    };
  }
  return out;
}

function renderCheck(c: HealthCheckConfig, rs: DestSpec): Json {
  const { address, port, ...rest } = c;
  // HttpCheck carries verify for both http and https; only https checks may write it.
  if (rest.type === 'http') delete (rest as Partial<typeof rest & { verify: boolean }>).verify;
  return {
    ...rest,
    ...(address !== rs.address && { address }),
    ...(port !== rs.port && { port }),
  };
}

function renderRealServer(r: RealServerConfig): Json {
  return { ...renderDest(r.spec), healthCheck: renderCheck(r.healthCheck, r.spec), ...(r.notify && { notify: { ...r.notify } }) };
}

function renderService(s: ServiceConfig): Json {
  const { key, scheduler, flags, timeout, netmask, pe } = s.spec;
  const out: Json = { name: s.name };
  if (key.kind === 'addr') Object.assign(out, { protocol: key.protocol, address: key.address, port: key.port });
  else Object.assign(out, { fwmark: key.fwmark, family: key.family });
  out['scheduler'] = scheduler;
  const schedulerFlags = schedulerFlagWords(flags, scheduler);
  if (schedulerFlags.length > 0) out['schedulerFlags'] = schedulerFlags;
  if (flags & SVC_F_PERSISTENT) {
    out['persistence'] = { timeout, netmask: key.family === 'ipv4' ? dotted(netmask) : netmask, ...(pe !== '' && { engine: pe }) };
  }
  out['onePacket'] = (flags & SVC_F_ONEPACKET) !== 0;
  out['realServers'] = s.realServers.map(renderRealServer);
  out['onFailure'] = s.onFailure;
  out['slowStart'] = s.slowStart;
  if (s.sorryServer) {
    const { upperThreshold: _u, lowerThreshold: _l, ...sorry } = renderDest(s.sorryServer);
    out['sorryServer'] = sorry;
  }
  if (s.quorum) out['quorum'] = { ...s.quorum };
  out['initialState'] = s.initialState;
  return out;
}

function renderInstance(v: VrrpInstanceConfig): Json {
  return {
    name: v.name,
    interface: v.interface,
    vrid: v.vrid,
    priority: v.priority,
    version: v.version,
    advertInterval: v.advertInterval,
    preempt: v.preempt,
    preemptDelay: v.preemptDelay,
    acceptMode: v.acceptMode,
    v2Compat: v.v2Compat,
    addresses: v.addresses.map((a) => `${a.address}/${a.prefixLength}`),
    ...(v.unicast && { unicast: { source: v.unicast.source, peers: [...v.unicast.peers] } }),
    trackInterfaces: v.trackInterfaces.map((t) => ({ ...t })),
    ...(v.trackScripts.length > 0 && { trackScripts: v.trackScripts.map((t) => ({ ...t, command: [...t.command] })) }),
    ...(v.trackFiles.length > 0 && { trackFiles: v.trackFiles.map((t) => ({ ...t })) }),
    ...(v.trackProcesses.length > 0 && { trackProcesses: v.trackProcesses.map((t) => ({ ...t, ...(t.args && { args: [...t.args] }) })) }),
    garp: { ...v.garp },
    notify: { ...v.notify },
  };
}

/** The config as one document, every default explicit. */
export function renderConfig(c: Config): Json {
  return {
    ipvs: { ...c.ipvs, ...(c.ipvs.timeouts && { timeouts: { ...c.ipvs.timeouts } }) },
    control: { ...c.control },
    ...(c.metrics && { metrics: { ...c.metrics } }),
    health: { ...c.health },
    ...(c.connectionSync && { connectionSync: { ...c.connectionSync } }),
    services: c.services.map(renderService),
    vrrp: c.vrrp.map(renderInstance),
    syncGroups: c.syncGroups.map((g) => ({ name: g.name, instances: [...g.instances] })),
  };
}
