/**
 * reconcile's verify step re-reads only what the plan touched: a one-change apply to a big table reads one
 * service back, an empty plan reads nothing, and a change the kernel swallowed is still caught.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcile, type DesiredEntry } from '../../src/reconcile/index.js';
import type { IpvsCommand, IpvsResult, KernelEntry } from '../../src/ipvs/types.js';
import { ModelClient } from './reconcile-model.js';
import { rs, tcp } from './reconcile-fixtures.js';

/** The model kernel, recording every dump's `only` argument and honouring it as the real client does. */
class RecordingClient extends ModelClient {
  dumps: Array<string[] | 'all'> = [];
  /** When set, set-dest commands are acknowledged but change nothing (a kernel quirk to be caught). */
  swallowSetDest = false;
  override async dump(only?: ReadonlySet<string>): Promise<KernelEntry[]> {
    this.dumps.push(only ? [...only].sort() : 'all');
    const all = await super.dump();
    if (!only) return all;
    return all.filter((e) => e.service.key.kind === 'addr' && only.has(`${e.service.key.protocol}/${e.service.key.address}:${e.service.key.port}`));
  }
  override async execute(commands: readonly IpvsCommand[]): Promise<IpvsResult[]> {
    if (!this.swallowSetDest) return super.execute(commands);
    const passed = commands.filter((c) => c.cmd !== 'set-dest');
    const results = await super.execute(passed);
    let i = 0;
    return commands.map((c) => (c.cmd === 'set-dest' ? { ok: true } : results[i++]!));
  }
}

const table = (weight: (i: number) => number): DesiredEntry[] =>
  Array.from({ length: 50 }, (_, i) => ({
    service: tcp(`192.0.2.${i + 1}`, 80, { scheduler: 'wrr' }),
    dests: [rs(`10.0.${i}.1`, 8080, { weight: weight(i) }), rs(`10.0.${i}.2`, 8080)],
  }));

test('after a one-weight change, verify reads back only the changed service and converges', async () => {
  const client = new RecordingClient();
  const owned = new Set<string>();
  await reconcile(client, table(() => 1), { owned, ownWholeTable: false });
  client.dumps = [];
  const ids = new Set(table(() => 1).map((e) => `tcp/${(e.service.key as { address: string }).address}:80`));

  const r = await reconcile(client, table((i) => (i === 17 ? 9 : 1)), { owned: ids, ownWholeTable: false, verify: true });
  assert.equal(r.plan.ops.length, 1);
  assert.equal(r.converged, true);
  assert.deepEqual(client.dumps, ['all', ['tcp/192.0.2.18:80']]);
  assert.equal(client.table.find((e) => e.service.key.kind === 'addr' && e.service.key.address === '192.0.2.18')!.dests.find((d) => d.address === '10.0.17.1')!.weight, 9);
});

test('an empty plan is not read back; a change the kernel acknowledged but did not make is still caught', async () => {
  const client = new RecordingClient();
  const first = await reconcile(client, table(() => 1), { owned: new Set(), ownWholeTable: false, verify: true });
  assert.equal(first.converged, true);
  const ids = new Set(table(() => 1).map((e) => `tcp/${(e.service.key as { address: string }).address}:80`));

  client.dumps = [];
  const again = await reconcile(client, table(() => 1), { owned: ids, ownWholeTable: false, verify: true });
  assert.equal(again.converged, true);
  assert.deepEqual(client.dumps, ['all'], 'nothing sent, nothing to read back');

  client.dumps = [];
  client.swallowSetDest = true;
  const swallowed = await reconcile(client, table((i) => (i === 3 ? 5 : 1)), { owned: ids, ownWholeTable: false, verify: true });
  assert.equal(swallowed.report.ok, true);
  assert.equal(swallowed.converged, false);
  assert.deepEqual(swallowed.remaining?.ops.map((o) => `${o.command.cmd} ${o.serviceId} ${o.destId}`), ['set-dest tcp/192.0.2.4:80 10.0.3.1:8080']);
  assert.deepEqual(client.dumps, ['all', ['tcp/192.0.2.4:80']]);
});
