/**
 * The whole config: merged raw sections to the typed Config, every default filled, every semantic
 * problem collected. Pure.
 */
import { canonicalAddress, familyOf } from '../net/address.js';
import type { Config, ControlConfig, EcmpConfig, HealthGlobalConfig, IpvsConfig, MetricsConfig } from './types.js';
import { durationOr as seconds } from './duration.js';
import { MAX_IPVS_TIMEOUT_SECONDS, MAX_TIMER_SECONDS, TIMER_WHY, escapeControl, hasControl, overMax, zoneProblem } from './limits.js';
import { normaliseServices, type ServiceItems, type ServiceChecks } from './normalise-service-list.js';
import { normaliseConnectionSync, normaliseVrrp } from './normalise-vrrp.js';
import { checkEcmpServices, normaliseEcmp } from './normalise-ecmp.js';
import type { Problems } from './problems.js';
import type { Located, RawConfig, RawIpvs } from './raw.js';

export const GLOBAL_DEFAULTS = {
  driftInterval: 30,
  stateFile: '/var/lib/lvsd/state.json',
  socket: '/run/lvsd/lvsd.sock',
  execUser: 'nobody',
  maxConcurrent: 1024,
  execOutputLimit: 4096,
} as const;

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** "127.0.0.1:9650", "[::1]:9650" or "localhost:9650" to canonical text, or the reason it is not one. */
export function parseListen(text: string): string | { error: string } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) {
    return { error: text.includes(':') && !text.includes('[')
      ? `"${text}" is not host:port (put an IPv6 address in brackets: [::1]:9650)`
      : `"${text}" is not host:port (e.g. 127.0.0.1:9650)` };
  }
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return { error: `port ${m[3]} must be from 1 to 65535` };
  if (m[1] !== undefined) {
    const zone = zoneProblem(m[1]);
    if (zone !== undefined) return { error: zone };
    const a = canonicalAddress(m[1]);
    if (a === undefined || familyOf(a) !== 'ipv6') return { error: `"[${m[1]}]" is not an IPv6 address` };
    return `[${a}]:${port}`;
  }
  const host = m[2]!;
  if (host === '') return { error: `"${text}" has no host; write 0.0.0.0:${port} or [::]:${port} to listen everywhere` };
  const a = canonicalAddress(host);
  if (a !== undefined) return `${a}:${port}`;
  if (/^[\d.]+$/.test(host) || !HOSTNAME.test(host)) return { error: `"${host}" is neither an IP address nor a host name` };
  return `${host}:${port}`;
}

/** The longest Unix socket path the kernel keeps whole: sun_path is 108 bytes, one of them the closing NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Why a path lvsd writes or binds is not plain: it must be absolute and say where it goes without
 * "." or ".." steps, doubled or trailing slashes, or control characters.
 */
export function pathProblem(path: string): string | undefined {
  if (hasControl(path)) return `"${escapeControl(path)}" has a control character`;
  if (!path.startsWith('/')) return `"${path}" must be an absolute path (start with /)`;
  if (path.endsWith('/')) return `"${path}" ends with / (name a file, not a directory)`;
  if (path.includes('//')) return `"${path}" has an empty step (//)`;
  if (path.split('/').some((step) => step === '.' || step === '..')) return `"${path}" has a "." or ".." step; write the path it means`;
  return undefined;
}

/** Why a path cannot be a control socket: not plain (pathProblem), or longer than sun_path holds. */
export function socketPathProblem(path: string): string | undefined {
  const bytes = Buffer.byteLength(path);
  return pathProblem(path)
    ?? (bytes > MAX_SOCKET_PATH_BYTES
      ? `is ${bytes} bytes long; a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} (a longer one would be bound cut short)`
      : undefined);
}

function normaliseControl(raw: RawConfig['control'], problems: Problems): ControlConfig {
  const socket = raw?.value.socket ?? GLOBAL_DEFAULTS.socket;
  if (raw?.value.socket !== undefined) {
    const problem = socketPathProblem(socket);
    if (problem !== undefined) problems.add(raw.file, `${raw.pointer}/socket`, problem);
  }
  return { socket, ...(raw?.value.group !== undefined && { group: raw.value.group }) };
}

function normaliseIpvs(loc: Located<RawIpvs> | undefined, problems: Problems): IpvsConfig {
  const raw = loc?.value ?? {};
  const ipvs: IpvsConfig = {
    ownWholeTable: raw.ownWholeTable ?? false,
    driftInterval: seconds(raw.driftInterval, GLOBAL_DEFAULTS.driftInterval),
    stateFile: raw.stateFile ?? GLOBAL_DEFAULTS.stateFile,
    expireNodestConn: raw.expireNodestConn ?? true,
    expireQuiescentTemplate: raw.expireQuiescentTemplate ?? true,
  };
  if (loc && raw.driftInterval !== undefined && ipvs.driftInterval <= 0) {
    problems.add(loc.file, `${loc.pointer}/driftInterval`, 'must be longer than 0s');
  }
  const driftTooLong = overMax(ipvs.driftInterval, MAX_TIMER_SECONDS, TIMER_WHY);
  if (loc && driftTooLong !== undefined) problems.add(loc.file, `${loc.pointer}/driftInterval`, driftTooLong);
  const badPath = loc && raw.stateFile !== undefined ? pathProblem(raw.stateFile) : undefined;
  if (badPath !== undefined) problems.add(loc!.file, `${loc!.pointer}/stateFile`, badPath);
  if (raw.timeouts !== undefined) {
    const timeouts: NonNullable<IpvsConfig['timeouts']> = {};
    for (const k of ['tcp', 'tcpFin', 'udp'] as const) {
      const v = raw.timeouts[k];
      if (v === undefined) continue;
      const s = seconds(v, 0);
      if (!Number.isInteger(s) || s < 1) {
        problems.add(loc!.file, `${loc!.pointer}/timeouts/${k}`, 'must be a whole number of seconds, at least 1s (the kernel counts these in seconds)');
      } else if (s > MAX_IPVS_TIMEOUT_SECONDS) {
        problems.add(loc!.file, `${loc!.pointer}/timeouts/${k}`,
          overMax(s, MAX_IPVS_TIMEOUT_SECONDS, `${MAX_IPVS_TIMEOUT_SECONDS} s: the kernel refuses more than INT_MAX jiffies`)!);
      }
      timeouts[k] = s;
    }
    ipvs.timeouts = timeouts;
  }
  return ipvs;
}

function normaliseHealthGlobal(raw: RawConfig['health']): HealthGlobalConfig {
  return {
    execUser: raw?.value.execUser ?? GLOBAL_DEFAULTS.execUser,
    maxConcurrent: raw?.value.maxConcurrent ?? GLOBAL_DEFAULTS.maxConcurrent,
    execOutputLimit: raw?.value.execOutputLimit ?? GLOBAL_DEFAULTS.execOutputLimit,
  };
}

/** The typed config of merged, schema-valid documents; problems are collected, not thrown. `items`, `checks`: see normaliseServices. */
export function normalise(files: readonly string[], raw: RawConfig, problems: Problems, items?: ServiceItems, checks?: ServiceChecks): Config {
  const health = normaliseHealthGlobal(raw.health);
  const services = normaliseServices(raw.services, health, problems, items, checks);
  const { vrrp, syncGroups } = normaliseVrrp(raw.vrrp, raw.syncGroups, problems, raw.unusableInstanceNames, health.execUser);
  const control = normaliseControl(raw.control, problems);
  let metrics: MetricsConfig | undefined;
  if (raw.metrics) {
    const listen = parseListen(raw.metrics.value.listen);
    if (typeof listen === 'string') metrics = { listen, statusPage: raw.metrics.value.statusPage ?? false };
    else problems.add(raw.metrics.file, `${raw.metrics.pointer}/listen`, listen.error);
  }
  const connectionSync = raw.connectionSync ? normaliseConnectionSync(raw.connectionSync, vrrp, problems, raw.unusableInstanceNames) : undefined;
  let ecmp: EcmpConfig | undefined;
  if (raw.ecmp) {
    ecmp = normaliseEcmp(raw.ecmp, problems);
    checkEcmpServices(ecmp, raw.services, services, vrrp, problems);
  }
  return {
    files: [...files],
    ipvs: normaliseIpvs(raw.ipvs, problems),
    services,
    vrrp,
    syncGroups,
    control,
    ...(metrics !== undefined && { metrics }),
    ...(connectionSync !== undefined && { connectionSync }),
    ...(ecmp !== undefined && { ecmp }),
    health,
  };
}
