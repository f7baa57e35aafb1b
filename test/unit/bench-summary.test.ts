/**
 * `npm run bench`'s summary (bench/_summary.ts): every row of issue #11's table from one run's result
 * files, the ratio and whether the goal is met; a row whose bench did not finish says so.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSummary, summaryRows } from '../../bench/_summary.js';

const ipvs = [
  { services: 2000, realServers: 20_000, ipvsadmRestoreMs: 7300, lvsdColdMs: 5000, daemons: [{ layout: 'file', reloadCliMs: 1460, drift: { ms: 9000, readMs: 8000, loopDelayMaxMs: 40, loopDelayP99Ms: 20 } }] },
];
const startup = {
  cli: [
    { name: 'node -e 0', cpuMs: 300, wallMs: 400, cpuRatio: 1, wallRatio: 1, exit: 0 },
    { name: 'lvsd --version', cpuMs: 500, wallMs: 800, cpuRatio: 1.67, wallRatio: 2, exit: 0 },
    { name: 'lvsd --version (dist/src, unbundled)', cpuMs: 900, wallMs: 1200, cpuRatio: 3, wallRatio: 3, exit: 0 },
    { name: 'lvsd check, one service', cpuMs: 900, wallMs: 1200, cpuRatio: 3, wallRatio: 3, exit: 0 },
    { name: 'lvsd apply, one service', cpuMs: 900, wallMs: 1000, cpuRatio: 3, wallRatio: 2.5, exit: 0 },
    { name: 'lvsd status, daemon with one service', cpuMs: 600, wallMs: 700, cpuRatio: 2, wallRatio: 1.75, exit: 0 },
  ],
  master: { withTable: true, lvsdMs: 5000, keepalivedMs: 4500, ratio: 5000 / 4500 },
};
const health = { servers: 10_000, windowS: 30, probesPerS: 1000, lvsd: { cpuS: 13, rssMiB: 70 }, keepalived: { cpuS: 12, rssMiB: 15 } };

test('the summary has every row of the issue\'s table, with ratio and goal met or not', () => {
  const rows = summaryRows({ ipvs, startup, health });
  const by = (what: string) => rows.find((r) => r.what.startsWith(what))!;
  assert.deepEqual([by('cold apply, 2,000').ratio, by('cold apply, 2,000').met], ['0.68', 'yes']);
  assert.match(by('cold apply, 2,000').what, /22,000 objects/);
  assert.equal(by('cold apply, 10,000').met, '-', 'the 110k row is there, not measured');
  assert.match(by('cold apply, 10,000').what, /110,000 objects/);
  assert.deepEqual([by('one weight edited').ratio, by('one weight edited').met], ['20.0 %', 'no']);
  assert.deepEqual([by('`lvsd --version`').ratio, by('`lvsd --version`').met], ['2.00', 'yes']);
  assert.deepEqual([by('`lvsd check`').ratio, by('`lvsd check`').met], ['3.00', 'no']);
  assert.equal(by('`lvsd apply`').met, 'yes', '2.5 is within <= 2.5');
  assert.deepEqual([by('`lvsd run`').ratio, by('`lvsd run`').met], ['1.11', 'yes']);
  assert.deepEqual([by('1,000 distinct TCP checks').ratio, by('1,000 distinct TCP checks').met], ['1.08', 'no']);
  assert.deepEqual([by('same: RSS').lvsd, by('same: RSS').met], ['70 MiB', 'no']);
  assert.equal(rows.length, 11);
  const text = formatSummary({ ipvs, startup, health });
  assert.match(text, /drift pass .* at 22,000 objects: 9\.00 s \(read 8\.00 s\), event loop worst 40 ms, p99 20 ms/);
  assert.match(text, /5 of 9 measured rows meet their goal; 2 not measured/);
});

test('the CPU row of alternated rounds is the median of the rounds\' per-probe ratios, with their range', () => {
  const rounds = { ...health, ratio: { median: 0.97, min: 0.91, max: 1.12, rounds: 3 } };
  const row = summaryRows({ health: rounds }).find((r) => r.what.startsWith('1,000 distinct TCP checks'))!;
  assert.equal(row.ratio, '0.97 (0.91-1.12, per probe, median of 3 alternated rounds)');
  assert.equal(row.met, 'yes', 'the median decides, not the CPU seconds\' ratio (1.08)');
});

test('the RSS row compares VmRSS with the goal and shows each tool\'s PSS beside it when the bench read it', () => {
  const withPss = { ...health, lvsd: { cpuS: 13, rssMiB: 70, pssMiB: 66 }, keepalived: { cpuS: 12, rssMiB: 24, pssMiB: 14 } };
  const row = summaryRows({ health: withPss }).find((r) => r.what === 'same: RSS')!;
  assert.deepEqual([row.lvsd, row.reference, row.ratio, row.met], ['70 MiB (PSS 66)', 'keepalived 24 MiB (PSS 14)', '2.9', 'no']);
});

test('a run that measured nothing still prints every row, each "not measured"', () => {
  const rows = summaryRows({});
  assert.equal(rows.length, 11);
  assert.ok(rows.every((r) => r.met === '-' && /not measured/.test(r.lvsd)));
});

test('the health bench\'s start until every real server is weighted is printed below the table with its ratio, not counted as a row', () => {
  const text = formatSummary({ health: { ...health, readyS: { lvsd: 84.1, keepalived: 30 } } });
  assert.match(text, /start until every one of 10,000 real servers .* is weighted in the kernel: lvsd 84\.1 s, keepalived 30\.0 s, ratio 2\.80/);
  assert.equal(summaryRows({ health: { ...health, readyS: { lvsd: 84.1, keepalived: 30 } } }).length, 11);
  assert.doesNotMatch(formatSummary({ health }), /is weighted in the kernel/, 'a bench before the figure: no line');
});
