/**
 * The reload queue (src/daemon/reload-queue.ts): every request is answered by a reload that started after
 * it came, requests that wait share one reload, none is lost, and a starting reload is announced first
 * (the daemon drops the watcher's pending reload there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReloadQueue, type ReloadStart } from '../../src/daemon/reload-queue.js';

/** A reload the test ends by hand; `at` is the clock tick it started (read the files) at. */
interface Run { trigger: string; at: number; end: () => void }

function harness() {
  let clock = 0;
  const runs: Run[] = [];
  const starts: Array<ReloadStart<string>> = [];
  const events: string[] = [];
  const queue = new ReloadQueue<string, { at: number; trigger: string }>(
    (trigger) => new Promise((resolve) => {
      const at = ++clock;
      events.push(`reload ${trigger}`);
      runs.push({ trigger, at, end: () => resolve({ at, trigger }) });
    }),
    (start) => {
      starts.push(start);
      events.push(`start ${start.triggers.join('+')}`);
    },
  );
  return { queue, runs, starts, events, tick: () => ++clock };
}

const settle = () => new Promise((r) => setImmediate(r));

test('with nothing running a request reloads at once, announced (onStart) before the reload reads anything', async () => {
  const h = harness();
  const answer = h.queue.request('control');
  assert.equal(h.runs.length, 1);
  assert.deepEqual(h.events, ['start control', 'reload control']);
  h.runs[0]!.end();
  assert.deepEqual(await answer, { at: 1, trigger: 'control' });
});

test('requests made while a reload runs wait for one more reload, shared, that starts when it ends; each gets its outcome', async () => {
  const h = harness();
  const first = h.queue.request('file');
  const a = h.queue.request('control');
  const b = h.queue.request('sighup');
  const c = h.queue.request('control');
  assert.equal(h.runs.length, 1, 'the running reload read the files before these requests: none of them is answered by it');
  h.runs[0]!.end();
  assert.deepEqual(await first, { at: 1, trigger: 'file' });
  await settle();
  assert.equal(h.runs.length, 2, 'one more reload for the three');
  assert.deepEqual(h.starts[1], { trigger: 'control', triggers: ['control', 'sighup', 'control'] });
  const d = h.queue.request('control'); // came after the second started: a third
  h.runs[1]!.end();
  for (const p of [a, b, c]) assert.deepEqual(await p, { at: 2, trigger: 'control' });
  await settle();
  assert.equal(h.runs.length, 3);
  h.runs[2]!.end();
  assert.deepEqual(await d, { at: 3, trigger: 'control' });
});

test('property: runs never overlap, each request is answered by a reload that started after it, and runs <= requests', async () => {
  await fc.assert(fc.asyncProperty(fc.array(fc.oneof(fc.constant('request'), fc.constant('end'), fc.constant('settle')), { maxLength: 60 }), async (script) => {
    const h = harness();
    const answers: Array<{ madeAt: number; answer: Promise<{ at: number }> }> = [];
    let ended = 0;
    for (const step of script) {
      if (step === 'request') {
        answers.push({ madeAt: h.tick(), answer: h.queue.request('control') });
      } else if (step === 'end') {
        if (ended < h.runs.length) h.runs[ended++]!.end();
      } else {
        await settle();
      }
      assert.ok(h.runs.length - ended <= 1, 'at most one reload runs at a time');
    }
    // end whatever runs or waits
    for (;;) {
      await settle();
      if (ended === h.runs.length) break;
      h.runs[ended++]!.end();
    }
    assert.ok(h.runs.length <= answers.length);
    for (const { madeAt, answer } of answers) {
      const { at } = await answer;
      assert.ok(at > madeAt, `a request made at ${madeAt} was answered by a reload that started at ${at}`);
    }
  }), { numRuns: 300 });
});

test('a failing onStart hook costs nothing: the reload still runs', async () => {
  const queue = new ReloadQueue<string, string>(async (t) => `done ${t}`, () => { throw new Error('boom'); });
  assert.equal(await queue.request('sighup'), 'done sighup');
});
