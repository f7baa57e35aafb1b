/**
 * The status page in a real headless chromium (Debian's, driven by playwright-core), served by the
 * page's own routes over synthetic snapshots of 1,000 services: it loads with no console error and no
 * CSP violation, what is wrong stands out (a failed and a drained real server, a backup node, a refused
 * reload), the filter and "problems only" work at 1,000 services, and at a phone's width nothing runs
 * off the side. The same page over a real `lvsd run` is test/netns/status-page.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { Sampler, statusPageRoutes } from '../../src/daemon/web/index.js';
import { silentLogger } from '../../src/log.js';
import { bigSnapshot, ecmpBlock, type BigOptions } from './big-snapshot.js';
import { Chromium, chromiumSkipReason } from './chromium.js';

// the functions passed to page.evaluate run in the browser
declare const document: any;

const skip = chromiumSkipReason();

describe('the status page in chromium at 1,000 services', { skip }, () => {
  let server: Server;
  let sampler: Sampler;
  let base: string;
  let browser: Chromium;
  let tick = 0;
  const scenario: BigOptions = {
    services: 1000, realServers: 4, down: new Set(['7/2']), drained: new Set(['12/0']), vrrpState: 'backup', reloadRefused: true,
  };

  before(async () => {
    const refusedAt = Date.now() - 5000;
    sampler = new Sampler({
      take: async () => {
        const s = bigSnapshot({ ...scenario, tick: tick++ });
        s.lastLoad!.at = new Date(refusedAt).toISOString();
        return s;
      },
      log: silentLogger, minPeriodMs: 1000, history: { bucketMs: 1000, buckets: 90 },
    });
    const routes = statusPageRoutes(sampler);
    server = createServer((req, res) => { if (!routes.handle(req, res)) res.writeHead(404).end(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`;
    sampler.start();
    for (let i = 0; i < 50 && sampler.history.lastComplete < 0; i++) await new Promise((r) => setTimeout(r, 200));
    browser = await Chromium.launch();
  });

  after(async () => {
    await browser?.close();
    sampler?.close();
    server?.close();
  });

  test('loads with no console error or CSP violation; failures, the backup role and the refused reload stand out', async () => {
    const t0 = Date.now();
    const { page, problems } = await browser.open(base);
    // a first render while the kernel-test VM runs beside (npm test) on a loaded host: a bound, not a check
    await page.waitForFunction(() => document.querySelectorAll('#services details.svc').length > 0, undefined, { timeout: 120_000 });
    console.log(`# 1,000 services: first render ${Date.now() - t0} ms after navigation`);
    assert.equal(await page.locator('#services details.svc').count(), 100, 'the first 100 services, then "show more"');
    assert.match(await page.locator('#more').innerText(), /of 900$/);
    assert.match(await page.locator('#svc-summary').innerText(), /1000, 2 with problems/);

    const role = page.locator('#role');
    assert.equal((await role.innerText()).toLowerCase(), 'backup');
    assert.match(String(await role.getAttribute('class')), /strong-warn/);
    const load = page.locator('#load');
    assert.match(await load.innerText(), /reload REFUSED/);
    assert.match(String(await load.getAttribute('class')), /strong-bad/);

    const failed = page.locator('details.svc[data-service="svc-0007"]');
    assert.match(String(await failed.getAttribute('class')), /lv-bad/);
    assert.match(await failed.locator('summary .badge').innerText(), /3\/4 serving: 1 down/);
    const drained = page.locator('details.svc[data-service="svc-0012"]');
    assert.match(String(await drained.getAttribute('class')), /lv-warn/);
    await failed.locator('summary').click();
    const row = failed.locator('tr[data-rs="10.0.7.12:8080"]');
    assert.match(String(await row.getAttribute('class')), /row-bad/);
    assert.match(await row.innerText(), /down/);
    // the sparklines are drawn
    await page.waitForFunction(() => document.querySelectorAll('details.svc svg.spark path').length >= 100, undefined, { timeout: 20_000 });
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('the filter box and "problems only" find a service among 1,000, by name or by a real server\'s address', async () => {
    const { page, problems } = await browser.open(base);
    await page.waitForSelector('#services details.svc', { timeout: 30_000 });
    const ms = await page.evaluate(() => {
      const input = document.getElementById('filter');
      const t = performance.now();
      input.value = '10.3.231.11';
      input.dispatchEvent(new Event('input'));
      return performance.now() - t;
    });
    console.log(`# filtering 1,000 services: ${ms.toFixed(1)} ms`);
    assert.deepEqual(await page.locator('#services details.svc').evaluateAll((els) => els.map((e) => (e as any).dataset.service)), ['svc-0999']);
    await page.fill('#filter', '');
    await page.check('#problems');
    assert.deepEqual(await page.locator('#services details.svc').evaluateAll((els) => els.map((e) => (e as any).dataset.service)), ['svc-0007', 'svc-0012']);
    await page.uncheck('#problems');
    await page.click('#more');
    assert.equal(await page.locator('#services details.svc').count(), 300);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('at a phone\'s width (375 px) the page does not scroll sideways; wide tables scroll inside their box', async () => {
    const { page, problems } = await browser.open(base, { width: 375, height: 800 });
    await page.waitForSelector('#services details.svc', { timeout: 30_000 });
    await page.locator('details.svc[data-service="svc-0007"] summary').click();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > 375) {
      console.log(await page.evaluate(() => [...document.querySelectorAll('body *')].filter((e: any) => e.getBoundingClientRect().right > 375 && !e.closest('table')).slice(0, 8).map((e: any) => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`).join('\n')));
    }
    assert.ok(width <= 375, `the page is ${width} px wide`);
    assert.ok(await page.locator('#role').isVisible());
    assert.deepEqual(problems, []);
    await page.close();
  });

  // last: it changes the scenario the daemon's snapshots are made from
  test('an ECMP director: its role is what it announces, a withdrawn address says why, a session down stands out; a group\'s members are found by its name', async () => {
    scenario.vrrpState = 'master';
    scenario.ecmp = ecmpBlock();
    scenario.group = { name: 'web-all', size: 3 };
    const { page, problems } = await browser.open(base);
    await page.waitForSelector('#ecmp-section:not([hidden])', { timeout: 30_000 });
    assert.equal(await page.locator('#vrrp-none').isVisible(), true, 'no VRRP instance on an ECMP director');
    const role = page.locator('#role');
    assert.equal((await role.innerText()).toLowerCase(), 'announcing 1/2');
    assert.match(String(await role.getAttribute('class')), /strong-warn/);
    assert.match(await page.locator('#ecmp-summary').innerText(), /1 of 2 announced/);
    const withdrawn = page.locator('#ecmp [data-vip="192.0.0.1/32"]');
    assert.equal(await withdrawn.locator('[data-field="announced"]').innerText(), 'withdrawn');
    assert.match(await withdrawn.innerText(), /svc-0001: 0 real servers up, quorum 1/);
    assert.equal(await page.locator('#ecmp [data-vip="192.0.0.0/32"] [data-field="announced"]').innerText(), 'announced');
    const director = page.locator('#ecmp [data-ecmp="director"]');
    assert.match(await director.innerText(), /peer 10\.9\.2\.1\s+AS 65000: BGP Active, BFD Down/);
    assert.match(String(await director.locator('dd.bad').first().innerText()), /BGP Active/);
    assert.doesNotMatch(await page.locator('body').innerText(), /SECRET-BIRD-LINE/);
    await page.fill('#filter', 'web-all');
    assert.deepEqual(await page.locator('#services details.svc').evaluateAll((els) => els.map((e) => (e as any).dataset.service)), ['svc-0000', 'svc-0001', 'svc-0002']);
    assert.match(await page.locator('details.svc[data-service="svc-0001"] summary .key').innerText(), /group web-all/);
    assert.deepEqual(problems, []);
    await page.close();
  });
});
