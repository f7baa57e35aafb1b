/**
 * Every string on the status page that comes from the config, the kernel or the wire (node, instance,
 * service and real-server names, addresses, scheduler, interface, sync group, event subjects) is put in as
 * text, never parsed as HTML: names holding `<img src=x onerror=...>` show as those characters, no element
 * is created, nothing runs. Error messages (probe results, a refused reload's reason) are in the snapshot
 * too and must not reach the page at all (view.ts leaves them out).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { Sampler, statusPageRoutes } from '../../src/daemon/web/index.js';
import { silentLogger } from '../../src/log.js';
import type { StatusSnapshot } from '../../src/daemon/status.js';
import { bigSnapshot } from './big-snapshot.js';
import { Chromium, chromiumSkipReason } from './chromium.js';

// the functions passed to page.evaluate run in the browser
declare const document: any;
declare const window: any;

const skip = chromiumSkipReason();
const evil = (tag: string) => `<img src=x onerror="window.__pwned='${tag}'">${tag}<b>`;

function hostile(tick: number): StatusSnapshot {
  const s = bigSnapshot({ services: 3, realServers: 2, down: tick > 0 ? new Set(['0/0']) : new Set(), reloadRefused: true, vrrpState: 'backup' });
  s.node = evil('node');
  const svc = s.services[0]!;
  svc.name = evil('service');
  svc.scheduler = evil('scheduler');
  const rs = svc.realServers[0]!;
  rs.id = evil('rs');
  rs.health.lastResult = evil('probe-error');
  const v = s.vrrp[0]!;
  v.name = evil('instance');
  v.interface = evil('iface');
  v.syncGroup = evil('group');
  v.vips = [evil('vip')];
  v.master = { address: evil('master'), advertInterval: 1, priority: 200 };
  s.lastLoad!.error = evil('reload-error');
  return s;
}

describe('the status page puts config, kernel and wire strings in as text', { skip }, () => {
  let server: Server;
  let sampler: Sampler;
  let base: string;
  let browser: Chromium;
  let tick = 0;

  before(async () => {
    sampler = new Sampler({ take: async () => hostile(tick++), log: silentLogger, minPeriodMs: 300, history: { bucketMs: 1000, buckets: 90 } });
    const routes = statusPageRoutes(sampler);
    server = createServer((req, res) => { if (!routes.handle(req, res)) res.writeHead(404).end(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`;
    sampler.start();
    for (let i = 0; i < 50 && tick < 2; i++) await new Promise((r) => setTimeout(r, 100));
    browser = await Chromium.launch();
  });

  after(async () => {
    await browser?.close();
    sampler?.close();
    server?.close();
  });

  test('names with <img onerror> show as characters: no element made, no handler run, no CSP violation', async () => {
    const { page, problems } = await browser.open(base);
    // the suite's first page: in npm test it comes while the kernel-test VM boots beside it (a bound, not a check)
    await page.waitForFunction(() => document.querySelectorAll('#events li[data-kind="health"]').length > 0, undefined, { timeout: 120_000 });
    // a page of 10 services or fewer opens them all at first render: the real-server tables are there
    await page.waitForFunction(() => document.querySelectorAll('table.rs').length === 3, undefined, { timeout: 10_000 });
    const seen = await page.evaluate(() => ({
      injected: document.querySelectorAll('main img, header img, main b, header b, [onerror]').length,
      pwned: window.__pwned ?? null,
      node: document.getElementById('node').textContent,
      title: document.title,
      vrrp: document.getElementById('vrrp').textContent,
      services: document.getElementById('services').textContent,
      events: document.getElementById('events').textContent,
      body: document.body.textContent,
    }));
    assert.equal(seen.injected, 0, 'no element parsed out of a name');
    assert.equal(seen.pwned, null, 'no handler ran');
    assert.equal(seen.node, evil('node'));
    assert.ok(seen.title.startsWith(evil('node')));
    for (const tag of ['instance', 'iface', 'group', 'vip', 'master']) assert.ok(seen.vrrp.includes(evil(tag)), `VRRP card shows ${tag} as text`);
    for (const tag of ['service', 'scheduler', 'rs']) assert.ok(seen.services.includes(evil(tag)), `service list shows ${tag} as text`);
    assert.ok(seen.events.includes(`${evil('service')} ${evil('rs')}`), 'the health event names the service and real server as text');
    for (const tag of ['probe-error', 'reload-error']) assert.ok(!seen.body.includes(tag), `${tag} stays off the page`);
    assert.deepEqual(problems, []);
  });
});
