/** The lab's step runner: numbered lines, each step recorded with its time, a failure stops with the scenario's error. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stepRunner, type StepRecord } from '../../src/lab/steps.js';

test('lab steps: "[n/total] name", ok with its note, FAILED with why; the failure is the scenario\'s error and is recorded', async () => {
  const lines: string[] = [];
  const steps: StepRecord[] = [];
  const step = stepRunner((l) => lines.push(l), 3, steps, (name, error) => new Error(`scenario failed at ${name}: ${error}`));
  await step('build', async () => 'VIP 10.0.0.1');
  await step('quiet', async () => undefined);
  await assert.rejects(step('break', async () => { throw new Error('no route'); }), /scenario failed at break: no route/);
  assert.deepEqual(lines.filter((l) => l.startsWith('[')), ['[1/3] build', '[2/3] quiet', '[3/3] break']);
  assert.match(lines[1]!, /^ {6}ok: VIP 10\.0\.0\.1 \(\d+\.\d s\)$/);
  assert.match(lines[3]!, /^ {6}ok \(\d+\.\d s\)$/);
  assert.equal(lines[5], '      FAILED: no route');
  assert.deepEqual(steps.map((s) => [s.name, s.ok, s.error]), [['build', true, undefined], ['quiet', true, undefined], ['break', false, 'no route']]);
});
