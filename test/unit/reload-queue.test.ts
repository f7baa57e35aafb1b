/**
 * The reload queue (src/daemon/reload-queue.ts): every request is answered by a reload that read the files
 * as they were when it came or later (one that started after it, or the one running when it came if its
 * files are unchanged since it read them and it succeeded), requests that wait share one reload, none is
 * lost, and a starting reload is announced first (the daemon drops the watcher's pending reload there).
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

/** Ends whatever runs or waits, from the `ended`-th run on, until no reload is left. */
async function endAll(runs: Array<{ end(): void }>, ended: number): Promise<void> {
  for (;;) {
    await settle();
    if (ended === runs.length) return;
    runs[ended++]!.end();
  }
}

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
    await endAll(h.runs, ended);
    assert.ok(h.runs.length <= answers.length);
    for (const { madeAt, answer } of answers) {
      const { at } = await answer;
      assert.ok(at > madeAt, `a request made at ${madeAt} was answered by a reload that started at ${at}`);
    }
  }), { numRuns: 300 });
});

/**
 * A queue over a file whose version the test moves (`edit`): each reload reads the version when it starts,
 * and answersLater says yes when the reload succeeded and the version is still the one it read.
 */
function versioned() {
  let version = 0;
  const runs: Array<{ read: number; ok: boolean; end: (ok?: boolean) => void }> = [];
  const shared: Array<ReloadStart<string>> = [];
  const covered: Array<{ trigger: string; by: string }> = [];
  const queue = new ReloadQueue<string, { read: number; ok: boolean }>(
    () => new Promise((resolve) => {
      const run = { read: version, ok: true, end: (ok = true) => {
        run.ok = ok;
        resolve({ read: run.read, ok });
      } };
      runs.push(run);
    }),
    {
      answersLater: (result) => result.ok && result.read === version,
      onShared: (s) => shared.push(s),
      onCovered: (c) => covered.push(c),
    },
  );
  return { queue, runs, shared, covered, edit: () => ++version, version: () => version };
}

test('requests made while a reload runs are answered by it when the files are unchanged since it read them: no reload more', async () => {
  const h = versioned();
  const first = h.queue.request('file');
  const a = h.queue.request('control');
  const b = h.queue.request('sighup');
  h.runs[0]!.end();
  assert.deepEqual(await first, { read: 0, ok: true });
  assert.deepEqual(await a, { read: 0, ok: true });
  assert.deepEqual(await b, { read: 0, ok: true });
  await settle();
  assert.equal(h.runs.length, 1, 'one reload for all three');
  assert.deepEqual(h.shared, [{ trigger: 'file', triggers: ['control', 'sighup'] }]);
});

test('a file edited while a reload runs: the requests made meanwhile get a reload of their own, which reads the edit', async () => {
  const h = versioned();
  const first = h.queue.request('file');
  h.edit(); // after the running reload read the files
  const a = h.queue.request('control');
  h.runs[0]!.end();
  assert.deepEqual(await first, { read: 0, ok: true });
  await settle();
  assert.equal(h.runs.length, 2);
  h.runs[1]!.end();
  assert.deepEqual(await a, { read: 1, ok: true });
  assert.deepEqual(h.shared, []);
});

test('a running reload that fails answers only its own requests: those made meanwhile try again', async () => {
  const h = versioned();
  const first = h.queue.request('file');
  const a = h.queue.request('control');
  h.runs[0]!.end(false);
  assert.deepEqual(await first, { read: 0, ok: false });
  await settle();
  assert.equal(h.runs.length, 2, 'files unchanged, but the outcome was a failure: a reload more');
  h.runs[1]!.end();
  assert.deepEqual(await a, { read: 0, ok: true });
});

test('a change the last reload already read (the watcher waking after `lvsd reload` took the edit) is not reloaded again', async () => {
  const h = versioned();
  h.edit();
  const explicit = h.queue.request('control'); // right after the edit: it reads it
  h.runs[0]!.end();
  assert.deepEqual(await explicit, { read: 1, ok: true });
  // the watcher tells of the same edit once it settled and went quiet
  assert.deepEqual(await h.queue.changed('file'), { read: 1, ok: true });
  assert.equal(h.runs.length, 1, 'no second reload of the same edit');
  assert.deepEqual(h.covered, [{ trigger: 'file', by: 'control' }]);
});

test('a change the last reload did not read (edited since), or after a failed reload, or with none yet: reloaded', async () => {
  const h = versioned();
  const first = h.queue.changed('file'); // no reload yet: this one reloads
  assert.equal(h.runs.length, 1);
  h.runs[0]!.end();
  await first;
  h.edit();
  const second = h.queue.changed('file');
  assert.equal(h.runs.length, 2, 'edited since the last read');
  h.runs[1]!.end(false);
  assert.deepEqual(await second, { read: 1, ok: false });
  const third = h.queue.changed('file');
  assert.equal(h.runs.length, 3, 'the last reload failed: the change is tried again');
  h.runs[2]!.end();
  assert.deepEqual(await third, { read: 1, ok: true });
  assert.deepEqual(h.covered, []);
});

test('a change seen while a reload runs is a request like any other: answered by the running one only if the files are unchanged since it read them', async () => {
  const h = versioned();
  const running = h.queue.request('control');
  h.edit();
  const change = h.queue.changed('file');
  h.runs[0]!.end();
  assert.deepEqual(await running, { read: 0, ok: true });
  await settle();
  assert.equal(h.runs.length, 2);
  h.runs[1]!.end();
  assert.deepEqual(await change, { read: 1, ok: true });
  assert.deepEqual(h.covered, []);
});

test('a check that throws counts as a change: the next reload answers', async () => {
  const runs: Array<() => void> = [];
  const queue = new ReloadQueue<string, string>((t) => new Promise((r) => runs.push(() => r(t))), {
    answersLater: () => { throw new Error('EIO'); },
    onShared: () => assert.fail('not shared'),
  });
  const first = queue.request('file');
  const a = queue.request('control');
  runs[0]!();
  assert.equal(await first, 'file');
  await settle();
  assert.equal(runs.length, 2);
  runs[1]!();
  assert.equal(await a, 'control');
});

test('property: runs never overlap, each answer (a request or a change seen) read the files as they were at its request or later, and runs <= requests', async () => {
  type Step = 'request' | 'change' | 'end' | 'fail' | 'edit' | 'settle';
  const steps = fc.constantFrom<Step>('request', 'change', 'end', 'fail', 'edit', 'settle');
  await fc.assert(fc.asyncProperty(fc.array(steps, { maxLength: 60 }), async (script) => {
    const h = versioned();
    const answers: Array<{ version: number; answer: Promise<{ read: number }> }> = [];
    let ended = 0;
    for (const step of script) {
      if (step === 'request') answers.push({ version: h.version(), answer: h.queue.request('control') });
      else if (step === 'change') answers.push({ version: h.version(), answer: h.queue.changed('file') });
      else if (step === 'edit') h.edit();
      else if (step === 'end' || step === 'fail') {
        if (ended < h.runs.length) h.runs[ended++]!.end(step === 'end');
      } else await settle();
      assert.ok(h.runs.length - ended <= 1, 'at most one reload runs at a time');
    }
    await endAll(h.runs, ended);
    assert.ok(h.runs.length <= answers.length);
    for (const { version, answer } of answers) {
      const { read } = await answer;
      assert.ok(read >= version, `a request made at version ${version} was answered by a reload that read version ${read}`);
    }
  }), { numRuns: 500 });
});

test('a failing onStart hook costs nothing: the reload still runs', async () => {
  const queue = new ReloadQueue<string, string>(async (t) => `done ${t}`, () => { throw new Error('boom'); });
  assert.equal(await queue.request('sighup'), 'done sighup');
});
