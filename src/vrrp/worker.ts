/**
 * The VRRP worker thread's entry: runs the VrrpManager on its own event loop so adverts go out on time
 * while the main thread probes, reconciles or serves status. Talks to port.ts by messages only.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../log.js';
import { VrrpManager, type ManagerConfig } from './manager.js';
import { makeThreadRealtime, realtimePriorityFromEnv } from './realtime.js';
import type { WorkerRequest, WorkerEvent } from './port.js';

const port = parentPort;
if (!port) throw new Error('vrrp/worker.js must run in a worker thread');
const data = workerData as { logLevel: string };
const log = createLogger({ level: data.logLevel }).child({ component: 'vrrp' });
const post = (m: WorkerEvent) => port.postMessage(m);

// Adverts must keep time on a loaded host: this thread (only) runs SCHED_RR, see realtime.ts.
const rtPriority = realtimePriorityFromEnv();
if (rtPriority > 0) {
  const rt = makeThreadRealtime(rtPriority);
  if (rt.ok) log.info({ event: 'vrrp.realtime', tid: rt.tid, priority: rt.priority }, `VRRP thread ${rt.tid} runs SCHED_RR ${rt.priority}`);
  else log.warn({ event: 'vrrp.realtime_unavailable', reason: rt.reason }, `VRRP thread keeps ordinary scheduling: ${rt.reason}`);
}

const manager = new VrrpManager(log, {
  onTransition: (t) => {
    post({ type: 'transition', transition: t });
    post({ type: 'snapshot', instances: manager.snapshot() });
  },
  onAdvertSent: (instance) => post({ type: 'advert', kind: 'sent', instance }),
  onAdvertReceived: (instance) => post({ type: 'advert', kind: 'received', instance }),
  onInvalid: (instance, reason) => post({ type: 'advert', kind: 'invalid', instance, reason }),
  onMasterChange: () => post({ type: 'snapshot', instances: manager.snapshot() }),
});

let ticker: NodeJS.Timeout | undefined;

port.on('message', (m: WorkerRequest) => {
  void (async () => {
    try {
      switch (m.type) {
        case 'start':
          await manager.start(m.config as ManagerConfig);
          ticker = setInterval(() => post({ type: 'snapshot', instances: manager.snapshot() }), 1000);
          break;
        case 'update':
          await manager.update(m.config as ManagerConfig);
          break;
        case 'refresh':
          break; // the snapshot below is the answer
        case 'stop':
          clearInterval(ticker);
          await manager.stop();
          break;
      }
      post({ type: 'snapshot', instances: manager.snapshot() });
      post({ type: 'done', id: m.id });
      // Stopped: let the thread end on its own once its handles are closed. Being terminated from outside
      // while the netlink binding still has a callback in flight aborts the whole process (Napi::Error).
      if (m.type === 'stop') port.close();
    } catch (e) {
      post({ type: 'done', id: m.id, error: { message: (e as Error).message, code: (e as { code?: string }).code } });
    }
  })();
});
