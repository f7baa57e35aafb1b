/** The scheduler's queue of probe turns against a sorted-list model, over random operations (fast-check). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DueQueue, type DueEntry } from '../../src/health/due-queue.js';

type Op = { kind: 'set'; id: number; due: number } | { kind: 'delete'; id: number } | { kind: 'take'; t: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), id: fc.nat(30), due: fc.nat(1000) }),
  fc.record({ kind: fc.constant('delete' as const), id: fc.nat(30) }),
  fc.record({ kind: fc.constant('take' as const), t: fc.nat(1000) }),
);

test('takeDue hands back exactly the entries due by then, earliest first; set moves, delete drops', () => {
  fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
    const q = new DueQueue<DueEntry & { id: number }>();
    const entries = new Map<number, DueEntry & { id: number }>();
    const model = new Map<number, number>(); // id -> due
    for (const o of ops) {
      const e = entries.get('id' in o ? o.id : -1) ?? (('id' in o) ? { id: o.id, due: 0 } : undefined);
      if (o.kind === 'set') {
        entries.set(o.id, e!);
        q.set(e!, o.due);
        model.set(o.id, o.due);
      } else if (o.kind === 'delete') {
        if (e) q.delete(e);
        model.delete(o.id);
      } else {
        const got = q.takeDue(o.t).map((x) => x.due);
        const want = [...model.values()].filter((d) => d <= o.t).sort((a, b) => a - b);
        assert.deepEqual(got, want);
        for (const [id, d] of [...model]) if (d <= o.t) model.delete(id);
      }
      assert.equal(q.size, model.size);
      const top = q.peek();
      assert.equal(top?.due, model.size ? Math.min(...model.values()) : undefined);
    }
  }), { numRuns: 300 });
});
