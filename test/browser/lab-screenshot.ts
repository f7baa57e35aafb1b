/**
 * `node dist/test/browser/lab-screenshot.js OUT_DIR`: the picture of the lab's two directors in
 * docs/status.md. Run where the lab runs (root, IPVS: inside the kernel VM,
 *   node dist/test/kernel/vm-cli.js --timeout 1500 --out /tmp/shot -- node dist/test/browser/lab-screenshot.js '$LVSD_VM_OUT'
 * ): starts `lvsd lab --keep`, waits for the scenario (failover, failback) to finish, opens both
 * directors' status pages in chromium inside the lab's client namespace, and writes d1.png, d2.png and
 * status-page.png (the two side by side).
 */
import { spawn } from 'node:child_process';

import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { statusPageUrl } from '../../src/lab/topology.js';
import { Chromium } from './chromium.js';

declare const document: any;

const out = process.argv[2] ?? '/tmp';
const LAB = fileURLToPath(new URL('../../src/lab/main.js', import.meta.url));
const say = (s: string) => process.stdout.write(`${s}\n`);

const env = { ...process.env };
delete env.LVSD_VM_OUT; // the lab waits for Ctrl-C instead of reading commands from the shared directory
const lab = spawn(process.execPath, [LAB, '--here', '--keep'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((resolve, reject) => {
  createInterface({ input: lab.stdout! }).on('line', (line) => {
    say(`lab: ${line}`);
    if (line.startsWith('the lab keeps running')) resolve();
  });
  lab.on('exit', (code) => reject(new Error(`the lab exited (${code}) before it was ready`)));
});

// requests through the VIP meanwhile, so the sparklines and rates show traffic
const load = spawn('ip', ['netns', 'exec', 'lvs-client', 'sh', '-c',
  'while :; do curl -s -o /dev/null --max-time 2 http://10.80.0.100/; sleep 0.1; done'], { stdio: 'ignore' });
const browser = await Chromium.launch({ netns: 'lvs-client', timeoutMs: 900_000 });
try {
  const shots: Buffer[] = [];
  for (const which of [1, 2] as const) {
    const url = statusPageUrl(which)!;
    const w = await browser.open(url, { width: 720, height: 900 });
    await w.page.waitForFunction(() => document.querySelectorAll('details.svc svg.spark path').length > 0, undefined, { timeout: 900_000, polling: 1000 });
    // chromium starting under the VM's emulation slows everything: health checks time out for a while
    // (1 s timeout); wait until both directors see every web server up again and the page is fresh
    await w.page.waitForFunction(() => document.querySelector('details.svc[data-service="web"] .badge')?.textContent === '3/3 serving',
      undefined, { timeout: 900_000, polling: 1000 }).catch(() => say(`d${which}: not every web server up after 15 min; taking the picture as it is`));
    await w.page.waitForTimeout(30_000);
    const shot = await w.page.screenshot({ path: join(out, `d${which}.png`) });
    shots.push(shot);
    say(`d${which}: ${url} ${w.problems.length === 0 ? 'no console error' : w.problems.join('; ')}`);
  }
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1456, height: 900 });
  await page.setContent(`<body style="margin:0;display:flex;gap:16px;background:#8c959f">${shots.map((s) => `<img src="data:image/png;base64,${s.toString('base64')}">`).join('')}</body>`);
  await page.screenshot({ path: join(out, 'status-page.png') });
  say(`wrote ${join(out, 'status-page.png')}`);
} finally {
  await browser.close();
  load.kill();
  lab.kill('SIGINT');
}
process.exit(0);
