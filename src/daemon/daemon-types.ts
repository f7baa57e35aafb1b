/** The daemon's faces toward the parts it is given: its options, the VRRP side, the metrics it reports. Types only. */
import type { ConfigCache } from '../config/index.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Prober, ProbeHistogram, TcpWatcher } from '../health/index.js';
import type { IpvsClient } from '../ipvs/types.js';
import type { BackoffOptions, PassKind, PassResult } from '../reconcile/index.js';
import type { EcmpOptions } from '../ecmp/index.js';
import type { LoadOutcome, VrrpInstanceStatus } from './status.js';

/** What the daemon needs from the VRRP side; src/vrrp provides it (a worker thread runs the protocol). */
export interface VrrpPort {
  update(config: Config): Promise<void>;
  snapshot(): VrrpInstanceStatus[];
  /** The same, taken now (status reads this; snapshot() is as of the last transition or fresh read). */
  freshSnapshot?(): Promise<VrrpInstanceStatus[]>;
  /** Clean stop: priority 0 so the peer takes over at once, VIPs released. */
  stop(): Promise<void>;
  onTransition(listener: (instance: string, from: string, to: string) => void): void;
  /**
   * The first reconcile of the declared table finished (ok: the kernel took all of it). Until then an
   * instance started with services declared does not claim mastership (it would take VIPs it cannot
   * serve); a failed first pass releases it too, with an error logged (docs/architecture.md).
   */
  tableReady?(ok: boolean, error?: string): Promise<void>;
}

/** What the daemon reports to metrics; src/daemon/metrics.ts provides it. */
export interface DaemonMetrics {
  reconcile(durationSeconds: number, errors: number): void;
  reload(result: LoadOutcome): void;
  /** One pass over the kernel: kind (start, reload, drift, repair, adopted, health, drain) and result. */
  reconcilePass?(kind: PassKind, result: PassResult): void;
  /** Failed kernel operations by command and reason (repair.ts FailureReason). */
  ipvsOpFailed?(op: string, reason: string, count?: number): void;
  ipvsFailuresPending?(count: number): void;
  /** A real server, service or VRRP instance left the config: its series go. */
  forgetRealServer?(service: string, realServer: string): void;
  forgetInstance?(instance: string): void;
  /** Netlink replies lost on a socket ('ipvs'); the table is re-read. */
  netlinkOverrun?(socket: string, count?: number): void;
  /** One probe result for a real server of a service ('up' or 'down'). */
  healthResult?(service: string, realServer: string, result: 'up' | 'down', count?: number): void;
  healthProbeDuration?(type: string, seconds: number): void;
  /** Many durations at once (the addon's TCP checks): counts per DURATION_BUCKETS bound and one beyond. */
  healthProbeDurations?(type: string, histogram: ProbeHistogram): void;
  /** `take` hands the addon's TCP check counts over (to the two above); metrics call it at each scrape. */
  healthCountsFrom?(take: () => void): void;
  healthUp?(service: string, realServer: string, up: boolean): void;
  /** A probe that failed because of the director itself (errno name): not counted as up or down. */
  healthLocalFailure?(errno: string): void;
}

export interface DaemonOptions {
  configPath: string;
  /** The config, already loaded from configPath (`lvsd run` loads it once, to claim the socket); absent: start loads it. */
  config?: Config;
  /** What loaded `config` kept (ConfigCache): reloads reuse the files and services that did not change. Absent: a new one. */
  configCache?: ConfigCache;
  log: Logger;
  /** Overrides config.ipvs.stateFile. */
  stateFile?: string | undefined;
  /** Creates the IPVS client (tests inject). Default: the generic-netlink client. */
  ipvs?: () => Promise<IpvsClient>;
  /**
   * `lvsd run`: the control socket (and metrics endpoint) opening. The start changes nothing in the kernel
   * and starts no probe before it has; a rejection fails the start (its error first).
   */
  beforeKernel?: Promise<unknown>;
  /** Creates the VRRP side; absent = no VRRP (instances in the config are then refused). */
  vrrp?: (config: Config, log: Logger) => Promise<VrrpPort>;
  metrics?: DaemonMetrics;
  /** The health prober (tests inject). Default: the real checkers. */
  prober?: Prober;
  /** What runs the TCP checks (tests inject a fake addon). Default: the addon. */
  healthWatcher?: TcpWatcher;
  version?: string;
  /** Waits between repair attempts after a kernel operation failed. Default 1 s doubling to 30 s. */
  repairBackoff?: BackoffOptions;
  /** Where IPVS's sysctls are (tests point it at a directory). Default /proc/sys/net/ipv4/vs, skipped when `ipvs` is injected. */
  ipvsSysctlDir?: string;
  /** Tests: where the ECMP sysctls are written (default /proc/sys), and BIRD's restart backoff. */
  sysctlRoot?: string;
  bgpBackoff?: EcmpOptions['backoff'];
}

/** Where a reload came from (logged with its outcome). */
export type ReloadTrigger = 'control' | 'sighup' | 'file';
