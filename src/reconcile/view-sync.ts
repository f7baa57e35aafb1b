/**
 * The kept view (view.ts) in step with the kernel: the whole table read into it, each service as it is
 * read where the client can; and made to follow what a send did: what the kernel accepted applied, a
 * service whose operation's outcome is unknown (a lost reply, a failed socket) marked stale, to be read
 * again before it is planned.
 */
import type { IpvsClient } from '../ipvs/types.js';
import type { Timeouts } from '../table/index.js';
import type { TurnBudget } from '../turn-budget.js';
import type { ApplyReport } from './apply.js';
import type { PlannedOp } from './plan.js';
import { KNOWN_OUTCOME } from './reconciler-types.js';
import type { AsideRead, AsideReadStep, KeptView } from './view.js';

/** The view keeps no counters: its reads leave the statistics undecoded. */
export const NO_STATS = { stats: false } as const;

/** The kernel's whole table read into the view (the timeouts too when `wantTimeouts`). Throws when it cannot. */
export async function readWholeTable(client: IpvsClient, view: KeptView, wantTimeouts: boolean, budget: TurnBudget): Promise<void> {
  const timeouts = wantTimeouts ? client.getTimeouts() : Promise.resolve(undefined);
  timeouts.catch(() => undefined); // awaited below, after the read (which may fail first)
  if (client.dumpEach) {
    // each service into the new view as it is read, and what was read garbage at once (types.ts)
    const into = view.replacer();
    await client.dumpEach((e) => into.add(e), NO_STATS);
    const t = await timeouts;
    into.commit();
    view.timeouts = t;
  } else {
    const kernel = await client.dump(undefined, NO_STATS);
    const t = await timeouts;
    await view.replaceAllSliced(kernel, budget);
    view.timeouts = t;
  }
}

/**
 * The kernel's whole table read into a read made aside (KeptView.readAside: the drift pass's, outside the
 * reconciler's queue), and the timeouts when `wantTimeouts`; the caller commits it. Throws when it cannot.
 */
export async function readWholeAside(client: IpvsClient, into: AsideRead, wantTimeouts: boolean, budget: TurnBudget): Promise<Timeouts | undefined> {
  const timeouts = wantTimeouts ? client.getTimeouts() : Promise.resolve(undefined);
  timeouts.catch(() => undefined); // awaited below, after the read (which may fail first)
  await readInto(client, into, undefined, budget);
  return timeouts;
}

/** One read (the whole table, or `only`) handed to `into` a service at a time, each service's mark taken where the client can. */
async function readInto(client: IpvsClient, into: AsideReadStep, only: ReadonlySet<string> | undefined, budget: TurnBudget): Promise<void> {
  const opts = { ...NO_STATS, began: (id: string) => into.began(id) };
  if (client.dumpEach) {
    await client.dumpEach((e) => into.add(e), opts, only);
  } else {
    for (const e of await client.dump(only, opts)) {
      into.add(e);
      if (budget.spent) await budget.yield();
    }
  }
}

/**
 * After a whole read made aside: the services other passes changed while it read are read again, still
 * outside the queue, in rounds (each round reads those changed since their last read) until none is left,
 * `maxRounds` were made, or `stop` says so. What is left is read again in the queue before the plan
 * (Reconciler.fullPass), which every health change waits for: at 100,000 real servers in a start's ramp,
 * every service was left, and that read held the queue 151 s in the VM. A service counts as read when
 * nothing changed it after its own real servers' dump was asked for (the client's `began` mark), not
 * after the round began, so a service a health pass edits every few seconds is still read cleanly. Returns how many services were read again and in how many rounds. Throws when a read fails.
 */
export async function readAgainAside(
  client: IpvsClient, into: AsideRead, budget: TurnBudget, maxRounds: number, stop: () => boolean,
): Promise<{ services: number; rounds: number }> {
  let services = 0;
  let rounds = 0;
  while (rounds < maxRounds && !stop()) {
    const round = into.again();
    if (!round) break;
    rounds++;
    services += round.ids.size;
    await readInto(client, round, round.ids, budget);
    round.end();
  }
  return { services, rounds };
}

/** A send of `ops` that threw: nobody knows what landed, so every service of them goes stale (and the timeouts). */
export function sendLost(view: KeptView, ops: readonly PlannedOp[]): void {
  for (const op of ops) {
    if (op.serviceId !== undefined) view.markStale(op.serviceId);
    if (op.target === 'timeouts') view.timeouts = undefined;
  }
}

/**
 * A send of `ops` answered by `report`: what the kernel accepted is applied to the view. A refusal leaves
 * the kernel as it was; an operation that failed otherwise (a lost reply) may have landed: its service goes stale.
 */
export function followSend(view: KeptView, ops: readonly PlannedOp[], report: Pick<ApplyReport, 'failed' | 'skipped'>): void {
  const bad = new Set([...report.failed, ...report.skipped].map((f) => f.op));
  for (const op of ops) if (!bad.has(op)) view.applied(op.command);
  for (const f of report.failed) {
    if (KNOWN_OUTCOME.has(f.code ?? '')) continue;
    if (f.op.serviceId !== undefined) view.markStale(f.op.serviceId);
    if (f.op.target === 'timeouts') view.timeouts = undefined;
  }
}
