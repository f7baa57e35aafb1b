/**
 * One large config file edited in a few places is not parsed whole again (config/splice.ts): the services
 * items between the bytes it shares with its last version at the start and the end are parsed and
 * checked, the rest is reused. Proven here against the whole load: random documents and random edits
 * (weights, items added, removed and moved, whitespace, sections outside the list, broken JSON, bytes
 * that are not UTF-8, schema and cross-service problems), each load with the cache deep-equal to one
 * without it, problems and their order included, and the users the file names equal to a fresh walk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ConfigCache, loadConfig, type Config } from '../../src/config/index.js';
import { userMentions } from '../../src/config/host-users.js';
import { itemSpans, settled } from '../../src/config/item-spans.js';
import { isLvsdError } from '../../src/errors.js';
import { outcome } from './config-outcome.js';


/** JSON values with the characters that matter to a scanner: quotes, backslashes, brackets, non-ASCII. */
const tricky = fc.oneof(
  fc.constantFrom('a"b', 'back\\slash', '\\"', '{[', ']}', ',:', 'é', '日本', '\u{1F600}', '', '\\\\'),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' },
    tricky, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(tricky, tie('value'), { maxKeys: 3 })),
})).value;

test('the scanner finds every services item where JSON.parse reads it, whatever the layout and content', () => {
  fc.assert(fc.property(
    fc.array(jsonValue, { minLength: 1, maxLength: 6 }),
    fc.dictionary(fc.constantFrom('ipvs', 'x', 'a"q', 'vrrp'), jsonValue, { maxKeys: 3 }),
    fc.constantFrom(0, 1, 2, '\t'), fc.boolean(), fc.boolean(),
    (services, others, indent, servicesFirst, bom) => {
      const doc = servicesFirst ? { services, ...others } : { ...others, services };
      const text = (bom ? '\ufeff' : '') + JSON.stringify(doc, null, indent);
      const bytes = Buffer.from(text);
      const spans = itemSpans(bytes);
      const parsed = (JSON.parse(text.replace(/^\ufeff/, '')) as { services: unknown[] }).services;
      assert.ok(spans);
      assert.equal(spans.starts.length, parsed.length);
      spans.starts.forEach((s, i) => assert.deepEqual(JSON.parse(bytes.subarray(s, spans.ends[i]).toString()), parsed[i]));
    },
  ), { numRuns: 300 });
});

test('the scanner finds nothing when it cannot be sure which list is "services"', () => {
  for (const text of [
    '{"services":[{"a":1}],"services":[{"b":2}]}',
    '{"services":[{"a":1}],"servic\\u0065s":[{"b":2}]}',
    '{"services":{"a":1}}',
    '{"services":"x"}',
    '[{"services":[1]}]',
    '{"other":[{"services":[1]}]}',
  ]) assert.equal(itemSpans(Buffer.from(text)), undefined, text);
  assert.deepEqual(itemSpans(Buffer.from('{"services":[]}')), { starts: [], ends: [] });
  assert.deepEqual(itemSpans(Buffer.from('{"a\\"q":1,"servic\\u0065s":[{"a":1}]}')), { starts: [27], ends: [34] });
  assert.deepEqual(itemSpans(Buffer.from('{"services":[1, "a\\"]", {"b":[2]} ,true]}')), { starts: [13, 16, 24, 35], ends: [14, 22, 33, 39] });
});

/** Mostly `good`, now and then one of `bad` (a schema or semantic problem). */
const mostly = <T>(good: T[], bad: T[]) => fc.oneof({ arbitrary: fc.constantFrom(...good), weight: 12 }, { arbitrary: fc.constantFrom(...bad), weight: 1 });
const realServer = fc.record({
  address: mostly(['10.0.0.1', '10.0.0.2', '10.0.0.3', '2001:db8::1'], ['nope']),
  port: mostly([80, 8080], [70000]),
  weight: mostly([0, 1, 5, 100], [-1]),
});
const service = fc.record({
  name: fc.option(fc.constantFrom('web', 'api', 'db', 'w"eb'), { nil: undefined }),
  protocol: fc.constantFrom('tcp', 'udp'),
  address: fc.constantFrom('192.0.2.1', '192.0.2.2', '192.0.2.3', '2001:db8::10'),
  port: fc.constantFrom(80, 443, 53),
  scheduler: mostly(['wrr', 'rr'], ['bogus']),
  realServers: fc.array(realServer, { maxLength: 3 }),
  healthCheck: fc.option(fc.constantFrom(
    { type: 'tcp' },
    { type: 'exec', command: ['/bin/true'], user: 'nobody' },
    { type: 'exec', command: ['/bin/true'], user: 'daemon' },
  ), { nil: undefined }),
}).map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)));

/** An edit of the document (then written with the same indent) or of its bytes. */
type Edit =
  | { kind: 'weight'; at: number; rs: number; weight: number }
  | { kind: 'insert'; at: number; value: unknown }
  | { kind: 'remove'; at: number }
  | { kind: 'move'; from: number; to: number }
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'global'; drift: string }
  | { kind: 'indent'; indent: number }
  | { kind: 'bytes'; at: number; insert: number[] };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('weight' as const), at: fc.nat(), rs: fc.nat(), weight: fc.constantFrom(1, 7, 99, -3) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: service }),
  fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('move' as const), from: fc.nat(), to: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: fc.oneof({ arbitrary: service, weight: 4 }, { arbitrary: jsonValue, weight: 1 }) }),
  fc.record({ kind: fc.constant('global' as const), drift: fc.constantFrom('30s', '60s', 'soon') }),
  fc.record({ kind: fc.constant('indent' as const), indent: fc.constantFrom(0, 2) }),
  fc.record({ kind: fc.constant('bytes' as const), at: fc.nat(), insert: fc.constantFrom([0x7d], [0x2c], [0xff], [0x20, 0x0a], [0xc3, 0xa9], [0x22]).map((b) => [...b]) }),
);

test('a load patched from the last version is the whole load: random documents, random edits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-patch-'));
  try {
    const file = join(dir, 'lvsd.json');
    let run = 0;
    let patched = 0;
    let checkedAlone = 0;
    let byEdit = 0;
    let hinted = 0;
    await fc.assert(fc.asyncProperty(
      fc.array(service, { minLength: 1, maxLength: 6 }), fc.array(edit, { minLength: 1, maxLength: 8 }), fc.constantFrom(0, 2),
      async (services, edits, indent0) => {
        const doc: { ipvs: { driftInterval: string }; services: unknown[]; health?: unknown } = {
          ipvs: { driftInterval: '30s' }, services: structuredClone(services), health: { execUser: 'nobody' },
        };
        let indent: number = indent0;
        let bytes = Buffer.from(JSON.stringify(doc, null, indent));
        const cache = new ConfigCache();
        let before: Config | undefined;
        const step = async () => {
          writeFileSync(file, bytes);
          const cached = await outcome(loadConfig(file, { cache }));
          assert.deepEqual(cached, await outcome(loadConfig(file)));
          // where the cache says the services changed since the last config is where they did
          const now = (cached as { config?: Config }).config;
          if (before !== undefined && now !== undefined && now !== before) {
            const said = cache.servicesChanged(before, now);
            if (said !== undefined) {
              hinted++;
              assert.deepEqual(said, now.services.flatMap((svc, i) => (svc !== before!.services[i] ? [i] : [])));
              assert.equal(now.services.length, before.services.length);
            }
          }
          if (now !== undefined) before = now;
          patched += cache.stats.filesPatched;
          // the users it names, as the host checks would find them in a fresh parse
          const entry = cache.lookup(file, bytes);
          if (entry !== undefined && 'config' in (cached as object)) {
            assert.deepEqual(entry.mentions ??= userMentions([entry.doc]), userMentions([{ file, data: JSON.parse(bytes.toString()) }]));
          }
          if (run++ % 3 === 0) await cache.scanned;
        };
        await step();
        for (const e of edits) {
          const n = doc.services.length;
          switch (e.kind) {
            case 'weight': {
              const s = doc.services[e.at % n] as { realServers?: Array<{ weight: number }> };
              const rs = s?.realServers?.[e.rs % Math.max(1, s.realServers.length)];
              if (rs) rs.weight = e.weight;
              break;
            }
            case 'insert': doc.services.splice(e.at % (n + 1), 0, structuredClone(e.value)); break;
            case 'remove': doc.services.splice(e.at % n, 1); break;
            case 'move': doc.services.splice(e.to % n, 0, ...doc.services.splice(e.from % n, 1)); break;
            case 'replace': doc.services[e.at % n] = structuredClone(e.value); break;
            case 'global': doc.ipvs.driftInterval = e.drift; break;
            case 'indent': indent = e.indent; break;
            case 'bytes': break;
          }
          if (doc.services.length === 0) doc.services.push(structuredClone(services[0]));
          bytes = Buffer.from(JSON.stringify(doc, null, indent));
          if (e.kind === 'bytes') {
            const at = e.at % (bytes.length + 1);
            bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(e.insert), bytes.subarray(at)]);
          }
          await step();
        }
        checkedAlone += cache.services.checks.incremental;
        byEdit += cache.services.byEdit;
      },
    // a fixed draw: the counts below are of what it exercised, so they are the same every run (89, 164, 41,
    // 16); a fresh draw named changed services in 3 loads once (clean-clone CI, 2026-12-05)
    ), { numRuns: 150, seed: 1105 });
    assert.ok(patched > 30, `loads patched: ${patched}`);
    assert.ok(checkedAlone > 30, `builds whose duplicate checks looked at the changed items alone: ${checkedAlone}`);
    assert.ok(byEdit > 10, `builds that normalised the edited items alone: ${byEdit}`);
    assert.ok(hinted > 3, `loads whose changed services the cache named: ${hinted}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one weight edited in a large file: one item parsed and built, the rest reused; a bad edit is refused at its pointer, then a good one patches again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-patch-'));
  try {
    const file = join(dir, 'lvsd.json');
    const services = Array.from({ length: 300 }, (_, i) => ({
      protocol: 'tcp', address: `192.0.2.${i % 250}`, port: 80 + Math.floor(i / 250), scheduler: 'wrr',
      realServers: [{ address: '10.0.0.1', port: 8080, weight: 1 }, { address: '10.0.0.2', port: 8080, weight: 2 }],
    }));
    const write = () => writeFileSync(file, JSON.stringify({ ipvs: { driftInterval: '30s' }, services }, null, 2));
    write();
    const cache = new ConfigCache();
    await loadConfig(file, { cache });
    await cache.scanned;
    services[150]!.realServers[1]!.weight = 77;
    write();
    const config = await loadConfig(file, { cache });
    assert.equal(config.services[150]!.realServers[1]!.spec.weight, 77);
    assert.deepEqual(cache.stats, { filesReused: 0, filesPatched: 1, filesRead: 1, itemsReused: 299, itemsBuilt: 1 });

    services[151]!.realServers[0]!.weight = -5;
    write();
    await assert.rejects(loadConfig(file, { cache }), (e: unknown) => {
      assert.ok(isLvsdError(e, 'LVSD_CONFIG_INVALID'));
      assert.deepEqual((e.details as Array<{ file: string; pointer: string }>).map((p) => [p.file, p.pointer]), [[file, '/services/151/realServers/0/weight']]);
      return true;
    });
    assert.equal(cache.stats.filesPatched, 1, 'the bad item was found by checking it alone');

    services[151]!.realServers[0]!.weight = 5;
    write();
    const fixed = await loadConfig(file, { cache });
    assert.equal(fixed.services[151]!.realServers[0]!.spec.weight, 5);
    // the refused version had a schema problem: the fix is parsed whole, and patched from again after it
    assert.equal(cache.stats.filesPatched, 0);
    await cache.scanned;
    services[0]!.realServers[0]!.weight = 9;
    write();
    await loadConfig(file, { cache });
    assert.equal(cache.stats.filesPatched, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('many edits in a row that change items\' lengths, here and there in a large file: each load is the whole load, the items found where they are', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-patch-'));
  try {
    const file = join(dir, 'lvsd.json');
    const services = Array.from({ length: 120 }, (_, i) => ({
      name: `s${i}`, protocol: 'tcp', address: `192.0.2.${1 + (i % 250)}`, port: 1000 + i,
      realServers: [{ address: '10.0.0.1', port: 8080, weight: 1 }, { address: '10.0.0.2', port: 8080, weight: 2 }],
    }));
    const cache = new ConfigCache();
    let patched = 0;
    let named = 0;
    let last: Config | undefined;
    for (let k = 0; k < 60; k++) {
      // a weight of another number of digits each time, at the start, the end and between
      const at = [0, 119, 60, 1, 118, (k * 37) % 120][k % 6]!;
      services[at]!.realServers[k % 2]!.weight = [7, 1234, 56, 10000, 3][k % 5]!;
      if (k % 7 === 3) services[(k * 11) % 120]!.name = `renamed-${k}`;
      const bytes = Buffer.from(JSON.stringify({ ipvs: { driftInterval: '30s' }, services }, null, k === 10 ? 0 : 2));
      writeFileSync(file, bytes);
      const cached = await outcome(loadConfig(file, { cache }));
      assert.deepEqual(cached, await outcome(loadConfig(file)), `load ${k}`);
      patched += cache.stats.filesPatched;
      // where the patch says the items are is where a scan of the new bytes finds them
      const spans = cache.lookup(file, bytes)?.spans;
      if (cache.stats.filesPatched === 1) assert.deepEqual(settled(spans!), itemSpans(bytes), `spans after load ${k}`);
      // and the services that changed since the last config are named, exactly
      const now = (cached as { config: Config }).config;
      if (cache.stats.filesPatched === 1 && last !== undefined) {
        assert.deepEqual(cache.servicesChanged(last, now), now.services.flatMap((svc, i) => (svc !== last!.services[i] ? [i] : [])), `load ${k}`);
        named++;
      }
      last = now;
      if (k === 0) await cache.scanned;
    }
    assert.ok(patched > 30, `loads patched: ${patched}`);
    assert.ok(named > 30, `loads whose changed services were named: ${named}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('each kind of edit, one after another: at the start, the end, the middle, longer, across items, outside the list, bad JSON, replaced by a shorter and a longer file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-patch-'));
  try {
    const file = join(dir, 'lvsd.json');
    const svc = (i: number) => ({
      name: `s${i}`, protocol: 'tcp', address: `192.0.2.${1 + (i % 250)}`, port: 1000 + i,
      realServers: [{ address: '10.0.0.1', port: 8080, weight: 1 }, { address: '10.0.0.2', port: 8080, weight: 2 }],
    });
    let doc = { ipvs: { driftInterval: '30s' }, services: Array.from({ length: 50 }, (_, i) => svc(i)) };
    const cache = new ConfigCache();
    const step = async (what: string, text: string, patched?: 0 | 1) => {
      writeFileSync(file, text);
      const cached = await outcome(loadConfig(file, { cache }));
      assert.deepEqual(cached, await outcome(loadConfig(file)), what);
      if (patched !== undefined) assert.equal(cache.stats.filesPatched, patched, `${what}: patched`);
      return cached;
    };
    const write = (what: string, patched?: 0 | 1) => step(what, JSON.stringify(doc, null, 2), patched);
    await write('first');
    await cache.scanned;
    doc.services[0]!.realServers[0]!.weight = 5;
    await write('a weight in the first item', 1);
    doc.services[49]!.realServers[1]!.weight = 6;
    await write('a weight in the last item', 1);
    doc.services[25]!.realServers[0]!.weight = 1000;
    await write('a weight in the middle, longer', 1);
    doc.services[25]!.realServers[0]!.weight = 3;
    await write('shorter again', 1);
    [doc.services[10], doc.services[11]] = [doc.services[11]!, doc.services[10]!];
    await write('two items swapped (an edit across their boundary)', 1);
    doc.services.splice(30, 1);
    await write('an item removed', 1);
    doc.services.unshift(svc(99));
    await write('an item added at the start', 1);
    doc.ipvs.driftInterval = '60s';
    await write('outside the list', 0);
    const good = JSON.stringify(doc, null, 2);
    const bad = good.replace('"weight": 6', '"weight": 6x');
    assert.notEqual(bad, good);
    const refused = await step('bad JSON in an edited item', bad) as { code?: string; message?: string };
    assert.equal(refused.code, 'LVSD_CONFIG_UNREADABLE');
    assert.match(refused.message!, /not valid JSON/);
    await step('the version before it again: the kept bytes, untouched by the refused load', good, 0);
    assert.equal(cache.stats.filesReused, 1);
    doc.services[20]!.realServers[0]!.weight = 8;
    await write('then an edit, patched from it', 1);
    doc = { ipvs: doc.ipvs, services: doc.services.slice(0, 2) };
    await write('replaced by a shorter file');
    doc = { ipvs: doc.ipvs, services: Array.from({ length: 100 }, (_, i) => svc(i)) };
    await write('replaced by a longer file');
    await write('unchanged', 0);
    assert.equal(cache.stats.filesReused, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
