import { loadConfig } from '../../config/index.js';
import { createIpvsClient } from '../../ipvs/index.js';
import { applyIpvsSysctls, ipvsSysctls } from '../../ipvs/sysctl.js';
import { lazyLogger } from '../../log.js';
import { lineLogger } from '../../log-line.js';
import {
  DEFAULT_STATE_FILE, formatApplyReport, formatPlan, loadOwned, nextOwned, reconcile, saveOwned,
} from '../../reconcile/index.js';
import { desiredTable } from '../../daemon/desired.js';
import { trainingKernel } from '../code-cache-training.js';
import { trainingClient } from '../training-client.js';
import { EXIT } from '../exit.js';
import { writeErr, writeOut } from '../out.js';

export interface ApplyArgs {
  config: string;
  dryRun: boolean;
  json: boolean;
  /** Re-read what the plan touched afterwards and report whether the kernel converged. */
  verify: boolean;
  stateFile?: string | undefined;
}

/**
 * `lvsd apply`: one reconcile of the kernel's IPVS table against the config: every real server at its
 * configured weight (health checks run only in `lvsd run`). Prints the plan, applies it, prints the report.
 */
export async function apply(args: ApplyArgs): Promise<number> {
  const config = await loadConfig(args.config);
  const stateFile = args.stateFile ?? config.ipvs.stateFile ?? DEFAULT_STATE_FILE;
  const level = process.env.LVSD_LOG_LEVEL ?? 'warn';
  // the logger is made only if something is logged at this level (at warn: a failure or a surprise, or the
  // first apply's missing state file); pino's lines without pino (log-line.ts): a require of pino reads ~30
  // files of node_modules, seconds of a cold apply in the test VM (docs/benchmarks.md)
  const log = lazyLogger(level, () => lineLogger({ level, destination: 2 }));
  // the code cache's trainer (packaging/code-cache.ts) gives its own kernel (code-cache-training.ts)
  const training = trainingKernel();
  const client = training ? trainingClient(training) : await createIpvsClient();
  try {
    if (!args.dryRun) {
      const sysctls = await applyIpvsSysctls(ipvsSysctls(config.ipvs), training?.sysctlDir);
      for (const f of sysctls.failed) {
        writeErr(`warning: cannot set net.ipv4.vs.${f.name} (${f.error}): servers at weight 0 may still get new connections from reused ports or persistence templates\n`);
      }
    }
    const owned = await loadOwned(stateFile, log);
    const desired = desiredTable(config);
    const result = await reconcile(client, desired, {
      owned,
      ownWholeTable: config.ipvs.ownWholeTable,
      ...(config.ipvs.timeouts ? { timeouts: config.ipvs.timeouts } : {}),
      dryRun: args.dryRun,
      verify: args.verify && !args.dryRun,
      log,
    });
    if (!args.dryRun) await saveOwned(stateFile, nextOwned(desired, owned, result.report));
    if (args.json) {
      writeOut(JSON.stringify({ plan: result.plan, report: result.report, converged: result.converged },
        (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
    } else {
      writeOut(formatPlan(result.plan) + '\n');
      if (!args.dryRun) writeOut(formatApplyReport(result.report) + '\n');
      if (result.converged === false) {
        const left = result.remaining?.ops.length ?? 0;
        writeOut(`warning: the kernel table still differs after applying (${left} operation${left === 1 ? '' : 's'} left)\n`);
      }
    }
    return result.report.ok ? EXIT.ok : EXIT.failed;
  } finally {
    client.close();
  }
}
