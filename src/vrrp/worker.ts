/**
 * The VRRP worker thread's entry: runs the VrrpManager on its own event loop so adverts go out on time
 * while the main thread probes, reconciles or serves status. Talks to port.ts by messages only.
 */
import { constants as osConstants } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { errorParts } from '../errors.js';
import { loadNative, type NativeBinding } from '../net/native.js';
import { lineLogger } from '../log-line.js';
import { VrrpManager, type ManagerConfig } from './manager.js';
import { makeThreadRealtime, realtimePriorityFromEnv } from './realtime.js';
import type { WorkerEvent, WorkerInbound } from './port.js';
import { sinceOn } from './early-listen.js';
import { systemClock } from './runner-io.js';
import { SpawnRelay, useSpawnRelay } from './spawn-relay.js';

const port = parentPort;
if (!port) throw new Error('vrrp/worker.js must run in a worker thread');
const data = workerData as { logLevel: string };
// pino's lines without pino (log-line.ts): this thread's isolate is ~5 MiB smaller
const log = lineLogger({ level: data.logLevel }).child({ component: 'vrrp' });
const post = (m: WorkerEvent) => port.postMessage(m);
// track scripts and notify commands are started by the main thread: a spawn here blocks this thread until the child exec'd
const relay = new SpawnRelay(post);
useSpawnRelay(relay);

const manager = new VrrpManager(log, {
  onTransition: (t) => {
    post({ type: 'transition', transition: t });
    postSnapshot();
  },
  onAdvertSent: (instance, count) => countAdvert('sent', instance, undefined, count),
  onAdvertReceived: (instance) => countAdvert('received', instance),
  onInvalid: (instance, reason) => countAdvert('invalid', instance, reason),
  onMasterChange: () => postSnapshot(),
  onNetlinkOverrun: (socket) => netlinkOverruns.set(socket, (netlinkOverruns.get(socket) ?? 0) + 1),
}, (vips) => relay.acceptFilter(vips)); // nft is started by the main thread too

/**
 * Adverts must keep time on a loaded host: this thread (only) runs SCHED_RR, see realtime.ts. Set when the
 * instances start (a worker booted early and discarded does nothing), with or without a table to program
 * first: it is one system call of this thread. (Set by a chrt process, it waited for the table: the fork
 * of a process this size blocked this thread and held the main thread's start, 0.3-1 s under the test VM's
 * emulation.)
 */
function realtime(): void {
  const rtPriority = realtimePriorityFromEnv();
  if (rtPriority <= 0) return;
  const rt = makeThreadRealtime(rtPriority);
  if (rt.ok) log.info({ event: 'vrrp.realtime', tid: rt.tid, priority: rt.priority }, `VRRP thread ${rt.tid} runs SCHED_RR ${rt.priority}`);
  else log.warn({ event: 'vrrp.realtime_unavailable', reason: rt.reason }, `VRRP thread keeps ordinary scheduling: ${rt.reason}`);
}

/**
 * Advert counts go to the main thread with every snapshot, not one message per advert (at 100 ms adverts
 * that was 10 wake-ups a second of the main thread for a counter). Snapshots go on a transition, a change
 * of master, and when the main thread asks (`refresh`: every status read and metrics scrape does), never on
 * a timer: an idle thread wakes for its protocol only (docs/benchmarks.md, "the daemon's fixed cost").
 */
const advertCounts = new Map<string, { kind: 'sent' | 'received' | 'invalid'; instance: string; reason?: string; count: number }>();

function countAdvert(kind: 'sent' | 'received' | 'invalid', instance: string, reason?: string, count = 1): void {
  const key = `${kind}\0${instance}\0${reason ?? ''}`;
  const c = advertCounts.get(key);
  if (c) c.count += count;
  else advertCounts.set(key, { kind, instance, ...(reason !== undefined ? { reason } : {}), count });
}

/** Netlink overruns by socket, sent with the advert counts. */
const netlinkOverruns = new Map<string, number>();

function flushAdverts(): void {
  for (const c of advertCounts.values()) post({ type: 'advert', ...c });
  advertCounts.clear();
  for (const [socket, count] of netlinkOverruns) post({ type: 'netlink-overrun', socket, count });
  netlinkOverruns.clear();
}

function postSnapshot(): void {
  const instances = manager.snapshot(); // first: it reads what the advert clock sent into the counts
  flushAdverts();
  post({ type: 'snapshot', instances });
}

/**
 * SIGTERM and SIGINT heard by this thread itself (the addon's signalWatch). Either stops lvsd (the main
 * thread's trapSignals), so the instances stop at once: a master sends priority 0 and releases its VIPs
 * before anything else of the daemon's stop, without waiting for the main thread to get to its stop request
 * (a main thread held by a reconcile or a burst of health results, or scheduled late on a loaded host, held
 * the handover up to ~160 ms: docs/benchmarks.md, "SIGTERM to VIP release"). The main thread's `stop`
 * then waits for this same stop; an `update` arriving after it changes nothing.
 */
let stopping: Promise<void> | undefined;
const stopInstances = (): Promise<void> => (stopping ??= manager.stop());

function watchStopSignals(): void {
  let native: NativeBinding;
  try {
    native = loadNative();
  } catch {
    return; // no addon, no VRRP sockets either
  }
  if (typeof native.signalWatch !== 'function') return;
  for (const [name, signum] of [['SIGTERM', osConstants.signals.SIGTERM], ['SIGINT', osConstants.signals.SIGINT]] as const) {
    native.signalWatch(signum, () => {
      if (stopping) return;
      // the stop first (priority 0 goes out in this call, the VIPs' delete is queued), the log line after it
      const stopped = stopInstances();
      log.info({ event: 'vrrp.stop_on_signal', signal: name }, `${name}: the VRRP instances hand over now, before the rest of the daemon stops`);
      void stopped.then(postSnapshot, (e: Error) => log.error({ event: 'vrrp.stop_failed', err: e.message }, `VRRP stop failed: ${e.message}`));
    });
  }
}

port.on('message', (m: WorkerInbound) => {
  if (relay.receive(m)) return;
  if (!('id' in m)) return;
  void (async () => {
    try {
      switch (m.type) {
        case 'start': {
          // the sockets opened at exec: since when they listen, on the runners' clock, read at once
          const early = (m.early ?? []).map((l) => ({ ...l, since: sinceOn(systemClock.now(), l.since) }));
          await manager.start(m.config as ManagerConfig, { waitForTable: m.waitForTable ?? false, early });
          break;
        }
        case 'update':
          if (!stopping) await manager.update(m.config as ManagerConfig); // stopping on a signal: nothing to update
          break;
        case 'table-ready':
          manager.tableReady(m.ok, m.error);
          break;
        case 'refresh':
          break; // the snapshot below is the answer
        case 'stop':
          await stopInstances();
          break;
      }
      postSnapshot();
      post({ type: 'done', id: m.id });
      // Stopped: let the thread end on its own once its handles are closed (the addon's sockets close with
      // the thread's environment too, so a terminate() is safe, but it is the last resort: see port.ts).
      if (m.type === 'stop') port.close();
      if (m.type === 'start') {
        realtime();
        watchStopSignals();
      }
    } catch (e) {
      post({ type: 'done', id: m.id, error: errorParts(e) });
    }
  })();
});
