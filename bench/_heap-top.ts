/**
 * Summarises a V8 heap snapshot (node --heapsnapshot-signal, v8.writeHeapSnapshot, bench/_memory.js
 * `snapshot`): the self size and count of its objects by kind and constructor (or string / array / code),
 * biggest first. Not a dominator tree: it says what the heap is made of, not who keeps it.
 *
 *   node dist/bench/_heap-top.js FILE [TOP]
 *   RETAINERS=N [HOPS=N]: who holds the biggest kinds; OWNERS=Reconciler,Daemon.config+ConfigCache: what
 *   each holder (a constructor's name, or Name.edge; A+B together) retains.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: _heap-top.js FILE [TOP]\n');
  process.exit(2);
}
const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = s.snapshot.meta.node_fields;
const types = s.snapshot.meta.node_types[0];
const F = fields.length;
const iType = fields.indexOf('type'), iName = fields.indexOf('name'), iSize = fields.indexOf('self_size');
const by = new Map<string, { size: number; count: number }>();
let total = 0;
for (let i = 0; i < s.nodes.length; i += F) {
  const type = types[s.nodes[i + iType]!]!;
  const size = s.nodes[i + iSize]!;
  total += size;
  const name = process.env.ALL_NAMES || type === 'object' || type === 'closure' || type === 'native' ? s.strings[s.nodes[i + iName]!]! : '';
  const key = `${type}${name ? ` ${name.slice(0, 60)}` : ''}`;
  const e = by.get(key);
  if (e) {
    e.size += size;
    e.count++;
  } else by.set(key, { size, count: 1 });
}
const top = [...by].sort((a, b) => b[1].size - a[1].size).slice(0, Number(topArg ?? 40));
process.stdout.write(`total ${(total / 1048576).toFixed(1)} MiB\n`);
for (const [k, v] of top) process.stdout.write(`${(v.size / 1048576).toFixed(2).padStart(8)} MiB ${String(v.count).padStart(9)}  ${k}\n`);

// Objects by their properties (the first 8 names, sorted), so one kind of record is one line: count, self
// size, and how many distinct hidden classes (maps) and property arrays they use.
interface Edges { snapshot: { meta: { edge_fields: string[]; edge_types: [string[], ...unknown[]] } }; edges: number[] }
const e = s as unknown as Snapshot & Edges;
const EF = e.snapshot.meta.edge_fields.length;
const edgeTypes = e.snapshot.meta.edge_types[0];
const iEdgeCount = fields.indexOf('edge_count');
const eType = e.snapshot.meta.edge_fields.indexOf('type'), eName = e.snapshot.meta.edge_fields.indexOf('name_or_index'), eTo = e.snapshot.meta.edge_fields.indexOf('to_node');
const kinds = new Map<string, { count: number; size: number; maps: Set<number>; props: number; propSize: number; mapSize: number }>();
let edge = 0;
for (let i = 0; i < s.nodes.length; i += F) {
  const n = s.nodes[i + iEdgeCount]!;
  const type = types[s.nodes[i + iType]!]!;
  if (type === 'object') {
    const names: string[] = [];
    let map = -1, props = -1;
    for (let k = 0; k < n; k++) {
      const at = (edge + k) * EF;
      const et = edgeTypes[e.edges[at + eType]!]!;
      const name = et === 'element' || et === 'hidden' ? String(e.edges[at + eName]) : s.strings[e.edges[at + eName]!]!;
      if (et === 'property') names.push(name);
      if (et === 'internal' && name === 'map') map = e.edges[at + eTo]!;
      if (et === 'internal' && name === 'properties') props = e.edges[at + eTo]!;
    }
    const key = `${s.strings[s.nodes[i + iName]!]} {${names.sort().slice(0, 8).join(',')}${names.length > 8 ? ',…' : ''}}`;
    let k = kinds.get(key);
    if (!k) kinds.set(key, (k = { count: 0, size: 0, maps: new Set(), props: 0, propSize: 0, mapSize: 0 }));
    k.count++;
    k.size += s.nodes[i + iSize]!;
    if (map >= 0 && !k.maps.has(map)) {
      k.maps.add(map);
      k.mapSize += s.nodes[map + iSize]!;
    }
    if (props >= 0) {
      k.props++;
      k.propSize += s.nodes[props + iSize]!;
    }
  }
  edge += n;
}
process.stdout.write('\nobjects by properties: MiB self, count, maps (MiB), property arrays (MiB)\n');
for (const [k, v] of [...kinds].sort((a, b) => b[1].size + b[1].propSize - a[1].size - a[1].propSize).slice(0, Number(topArg ?? 40))) {
  process.stdout.write(`${(v.size / 1048576).toFixed(2).padStart(7)} ${String(v.count).padStart(8)} ${String(v.maps.size).padStart(6)} (${(v.mapSize / 1048576).toFixed(2)}) ${String(v.props).padStart(6)} (${(v.propSize / 1048576).toFixed(2)})  ${k.slice(0, 150)}\n`);
}

// Contexts (a closure's captured variables) by the names they hold, so a closure kept per record shows.
const ctx = new Map<string, { count: number; size: number }>();
edge = 0;
for (let i = 0; i < s.nodes.length; i += F) {
  const n = s.nodes[i + iEdgeCount]!;
  if (s.strings[s.nodes[i + iName]!] === 'system / Context') {
    const names: string[] = [];
    for (let k = 0; k < n; k++) {
      const at = (edge + k) * EF;
      if (edgeTypes[e.edges[at + eType]!] === 'context') names.push(s.strings[e.edges[at + eName]!]!);
    }
    const key = names.sort().slice(0, 10).join(',');
    const c = ctx.get(key) ?? { count: 0, size: 0 };
    c.count++;
    c.size += s.nodes[i + iSize]!;
    ctx.set(key, c);
  }
  edge += n;
}
process.stdout.write('\ncontexts by the variables they hold: MiB, count\n');
for (const [k, v] of [...ctx].sort((a, b) => b[1].size - a[1].size).slice(0, 8)) process.stdout.write(`${(v.size / 1048576).toFixed(2).padStart(7)} ${String(v.count).padStart(8)}  ${k.slice(0, 150)}\n`);

// RETAINERS=1: for the biggest kinds (object shapes as above, and strings, arrays, numbers), who points to
// them: the referrer's kind and the edge's name, by count (weak edges left out). What holds a kind of record.
if (process.env.RETAINERS) {
  const kindOf = new Int32Array(s.nodes.length / F).fill(-1);
  const names: string[] = [];
  const index = new Map<string, number>();
  const sizeOf = new Float64Array(s.nodes.length / F);
  const idOf = (k: string): number => {
    let i = index.get(k);
    if (i === undefined) index.set(k, (i = names.push(k) - 1));
    return i;
  };
  edge = 0;
  for (let i = 0, n = 0; i < s.nodes.length; i += F, n++) {
    const count = s.nodes[i + iEdgeCount]!;
    const type = types[s.nodes[i + iType]!]!;
    sizeOf[n] = s.nodes[i + iSize]!;
    if (type === 'object') {
      const props: string[] = [];
      for (let k = 0; k < count; k++) {
        const at = (edge + k) * EF;
        if (edgeTypes[e.edges[at + eType]!] === 'property') props.push(s.strings[e.edges[at + eName]!]!);
      }
      kindOf[n] = idOf(`${s.strings[s.nodes[i + iName]!]} {${props.sort().slice(0, 8).join(',')}}`);
    } else kindOf[n] = idOf(type === 'hidden' || type === 'code' || type === 'closure' || type === 'native' ? `${type} ${s.strings[s.nodes[i + iName]!]!.slice(0, 40)}` : type);
    edge += count;
  }
  const total = new Float64Array(names.length);
  for (let n = 0; n < kindOf.length; n++) total[kindOf[n]!] += sizeOf[n]!;
  /** Every strong edge (no weak or shortcut ones): from node n to node `to`, with its name ('[]' for elements). */
  const eachEdge = (visit: (n: number, to: number, name: string) => void): void => {
    let at = 0;
    for (let i = 0, n = 0; i < s.nodes.length; i += F, n++) {
      const count = s.nodes[i + iEdgeCount]!;
      for (let k = 0; k < count; k++, at += EF) {
        const et = edgeTypes[e.edges[at + eType]!]!;
        if (et === 'weak' || et === 'shortcut') continue;
        const name = et === 'element' || et === 'hidden' ? '[]' : s.strings[e.edges[at + eName]!]!;
        if (name === 'map' || name === '__proto__') continue;
        visit(n, e.edges[at + eTo]! / F, name);
      }
    }
  };
  const held = new Map<number, Map<string, { count: number; size: number }>>();
  eachEdge((n, to, name) => {
    const by = held.get(kindOf[to]!) ?? new Map();
    held.set(kindOf[to]!, by);
    const key = `${names[kindOf[n]!]!.slice(0, 70)} .${name}`;
    const c = by.get(key) ?? { count: 0, size: 0 };
    c.count++;
    c.size += sizeOf[to]!;
    by.set(key, c);
  });
  // the first referrer of each node (and the edge's name), to print paths of a few hops
  const firstRef = new Int32Array(kindOf.length).fill(-1);
  const firstName: string[] = new Array(kindOf.length);
  eachEdge((n, to, name) => {
    if (firstRef[to] !== -1) return;
    firstRef[to] = n;
    firstName[to] = name;
  });
  const paths = new Map<number, Map<string, number>>();
  for (let n = 0; n < kindOf.length; n++) {
    const parts: string[] = [];
    for (let at = n, hop = 0; hop < Number(process.env.HOPS ?? 4) && firstRef[at]! >= 0; hop++) {
      parts.push(`.${/^\d+$/.test(firstName[at]!) ? '[]' : firstName[at]}`);
      at = firstRef[at]!;
      parts.push(names[kindOf[at]!]!.replace(/^Object /, '').slice(0, 50));
    }
    const by = paths.get(kindOf[n]!) ?? new Map<string, number>();
    paths.set(kindOf[n]!, by);
    const p = parts.reverse().join(' ');
    by.set(p, (by.get(p) ?? 0) + sizeOf[n]!);
  }
  process.stdout.write('\nwho holds the biggest kinds (kind: MiB; referrer .edge: count, MiB pointed to)\n');
  const order = [...total.keys()].sort((a, b) => total[b]! - total[a]!).slice(0, Number(process.env.RETAINERS) || 15);
  for (const k of order) {
    process.stdout.write(`${names[k]!.slice(0, 110)}: ${(total[k]! / 1048576).toFixed(2)} MiB\n`);
    for (const [r, c] of [...(held.get(k) ?? [])].sort((a, b) => b[1].size - a[1].size).slice(0, 6)) {
      process.stdout.write(`    ${String(c.count).padStart(8)} ${(c.size / 1048576).toFixed(2).padStart(6)}  ${r}\n`);
    }
    for (const [p, size] of [...(paths.get(k) ?? [])].sort((a, b) => b[1] - a[1]).slice(0, 4)) {
      process.stdout.write(`      path ${(size / 1048576).toFixed(2).padStart(6)}  ${p.slice(0, 260)}\n`);
    }
  }
}

// OWNERS=Reconciler,KeptView,Daemon.config,...: what each holder retains, as V8's "retained size" means it:
// the bytes that become unreachable from the roots when every node the spec names is taken away (a spec
// is a constructor's name, or `Name.edge`: the nodes that edge of a Name points to). Weak edges ignored.
if (process.env.OWNERS) {
  const N = s.nodes.length / F;
  const iEdges = fields.indexOf('edge_count');
  const firstEdge = new Int32Array(N + 1);
  for (let n = 0, at = 0; n < N; n++) {
    firstEdge[n] = at;
    at += s.nodes[n * F + iEdges]! * EF;
    firstEdge[n + 1] = at;
  }
  const strong = (at: number): boolean => {
    const et = edgeTypes[e.edges[at + eType]!]!;
    return et !== 'weak' && et !== 'shortcut';
  };
  const nameOfNode = (n: number): string => s.strings[s.nodes[n * F + iName]!]!;
  const reach = (removed: Uint8Array): Float64Array => {
    const seen = new Uint8Array(N);
    const stack = [0];
    seen[0] = 1;
    let bytes = 0;
    while (stack.length > 0) {
      const n = stack.pop()!;
      bytes += s.nodes[n * F + iSize]!;
      for (let at = firstEdge[n]!; at < firstEdge[n + 1]!; at += EF) {
        if (!strong(at)) continue;
        const to = e.edges[at + eTo]! / F;
        if (seen[to] || removed[to]) continue;
        seen[to] = 1;
        stack.push(to);
      }
    }
    return new Float64Array([bytes]);
  };
  const all = reach(new Uint8Array(N))[0]!;
  process.stdout.write(`\nretained by holder (reachable ${(all / 1048576).toFixed(1)} MiB)\n`);
  for (const spec of process.env.OWNERS.split(',')) {
    const removed = new Uint8Array(N);
    let count = 0;
    // `A+B`: both at once (what they hold between them, shared or not)
    for (const one of spec.split('+')) {
    const [cls, edgeName] = one.split('.');
    for (let n = 0; n < N; n++) {
      if (nameOfNode(n) !== cls || types[s.nodes[n * F + iType]!] !== 'object') continue;
      if (edgeName === undefined) {
        removed[n] = 1;
        count++;
        continue;
      }
      for (let at = firstEdge[n]!; at < firstEdge[n + 1]!; at += EF) {
        const et = edgeTypes[e.edges[at + eType]!]!;
        if ((et === 'property' || et === 'internal') && s.strings[e.edges[at + eName]!] === edgeName) {
          removed[e.edges[at + eTo]! / F] = 1;
          count++;
        }
      }
    }
    }
    const left = reach(removed)[0]!;
    process.stdout.write(`${((all - left) / 1048576).toFixed(2).padStart(8)} MiB  ${spec} (${count} nodes)\n`);
  }
}
