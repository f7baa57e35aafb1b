/**
 * The metrics endpoint's status snapshot (src/daemon/metrics-endpoint.ts): taken at scrape time, shared by
 * the scrapes of the next second, and then let go: every real server's status stayed in the heap from one
 * scrape to the next before (~4 MiB at 10,000 real servers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MetricsEndpoint } from '../../src/daemon/metrics-endpoint.js';
import type { StatusSnapshot } from '../../src/daemon/status.js';
import type { Logger } from '../../src/log.js';
import { fixtureSnapshot } from './status-fixture.js';

let listeningPort = 0;
const quiet = {
  info: (o: { event?: string; port?: number }) => { if (o.event === 'metrics.listening') listeningPort = o.port ?? 0; },
  warn: () => undefined, child: () => quiet,
} as unknown as Logger;

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('a scrape\'s status snapshot serves the scrapes of the next second and is let go after it', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let taken = 0;
  let last: WeakRef<StatusSnapshot> | undefined;
  const daemon = {
    status: async () => {
      taken++;
      const s = fixtureSnapshot();
      last = new WeakRef(s);
      return s;
    },
  };
  const endpoint = new MetricsEndpoint();
  const opened = await endpoint.open({ listen: '127.0.0.1:0', statusPage: false }, { running: () => daemon, ready: () => daemon, log: quiet });
  t.after(async () => { for (const close of opened.closers) await close(); });
  const port = listeningPort;
  assert.ok(port > 0, 'the endpoint says where it listens');
  const text = await scrape(port);
  assert.match(text, /lvsd_ipvs_service_connections_total\{service="web"\} 1234567/);
  assert.match(await scrape(port), /lvsd_ipvs_service_connections_total\{service="web"\} 1234567/);
  assert.equal(taken, 1, 'two scrapes within a second share one snapshot');
  await new Promise((r) => setTimeout(r, 1300));
  await new Promise((r) => setImmediate(r));
  gc();
  gc();
  assert.equal(last?.deref(), undefined, 'the snapshot is still held a second after the scrape');
  assert.match(await scrape(port), /lvsd_ipvs_service_connections_total\{service="web"\} 1234567/);
  assert.equal(taken, 2, 'a later scrape takes a fresh snapshot');
});
