import type { DaemonOptions } from '../../daemon/daemon.js';
import { runDaemon } from '../../daemon/run.js';
import { EXIT } from '../exit.js';

export interface RunArgs {
  config: string;
  socket?: string | undefined;
  stateFile?: string | undefined;
  logLevel: string;
  /** Tests only: the IPVS client (an in-memory table where the kernel has no IPVS). */
  ipvs?: DaemonOptions['ipvs'];
  /** Tests only: where the ECMP sysctls go (a directory standing in for /proc/sys where IPVS is absent). */
  sysctlRoot?: string;
  /** Tests only: the config file watcher's quiet time before it reloads, ms. */
  watchQuietMs?: number;
  /** Tests only: how long a write must be still before the watcher tells of it, ms. */
  watchSettleMs?: number;
}

/**
 * `lvsd run`: the daemon, wired by src/daemon/run.ts. SIGHUP or a changed config file reloads;
 * SIGTERM/SIGINT stop cleanly (VRRP hands over, VIPs released, the IPVS table left in place so a restart
 * does not blip), and the command exits 0.
 */
export async function runCommand(args: RunArgs): Promise<number> {
  await runDaemon({
    configPath: args.config,
    socket: args.socket,
    stateFile: args.stateFile,
    logLevel: args.logLevel,
    ...(args.ipvs && { ipvs: args.ipvs }),
    ...(args.sysctlRoot !== undefined && { sysctlRoot: args.sysctlRoot }),
    ...(args.watchQuietMs !== undefined && { watchQuietMs: args.watchQuietMs }),
    ...(args.watchSettleMs !== undefined && { watchSettleMs: args.watchSettleMs }),
  });
  return EXIT.ok;
}
