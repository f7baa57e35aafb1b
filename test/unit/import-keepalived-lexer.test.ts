/** keepalived's grammar as its own reader has it: includes, conditionals, definitions, ~SEQ, braces, comments. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTree, lexKeepalived, memoryFiles } from '../../src/import/index.js';

const words = (files: Record<string, string>, opts = {}) =>
  lexKeepalived('/etc/keepalived/keepalived.conf', memoryFiles(files), opts);

test('comments (! and # outside quotes, escaped \\# kept), quoted strings and blank lines', () => {
  const r = words({ '/etc/keepalived/keepalived.conf': '! top\n\n  a "b c" d # e\n x "#y" \\#z ! w\n' });
  assert.deepEqual(r.lines.map((l) => [l.line, l.words]), [[3, ['a', 'b c', 'd']], [4, ['x', '#y', '#z']]]);
  assert.deepEqual(r.problems, []);
});

test('a block opens on the keyword line or the next, and closes on its own or a shared line', () => {
  const r = words({ '/etc/keepalived/keepalived.conf': 'a 1 {\n b 2 }\nc\n{\n d { e } }\n' });
  const t = buildTree(r.lines);
  assert.deepEqual(t.problems, []);
  assert.deepEqual(JSON.parse(JSON.stringify(t.statements, ['keyword', 'args', 'block', 'line'])), [
    { line: 1, keyword: 'a', args: ['1'], block: [{ line: 2, keyword: 'b', args: ['2'] }] },
    { line: 3, keyword: 'c', args: [], block: [{ line: 5, keyword: 'd', args: [], block: [{ line: 5, keyword: 'e', args: [] }] }] },
  ]);
});

test('unbalanced braces are problems with their place, not exceptions', () => {
  const t = buildTree(words({ '/etc/keepalived/keepalived.conf': 'a {\n b\n}\n}\nc {\n' }).lines);
  assert.deepEqual(t.problems.map((p) => [p.line, p.keyword]), [[4, '}'], [5, 'c']]);
});

test('include: a glob relative to the including file, in name order, nested includes relative to theirs', () => {
  const r = words({
    '/etc/keepalived/keepalived.conf': 'top\ninclude conf.d/*.conf\nend\n',
    '/etc/keepalived/conf.d/20-b.conf': 'b\n',
    '/etc/keepalived/conf.d/10-a.conf': 'a\ninclude ../more/{x,y}.inc\n',
    '/etc/keepalived/more/x.inc': 'x\n',
    '/etc/keepalived/more/y.inc': 'y\n',
    '/etc/keepalived/conf.d/skip.txt': 'no\n',
  });
  assert.deepEqual(r.lines.map((l) => l.words[0]), ['top', 'a', 'x', 'y', 'b', 'end']);
  assert.deepEqual(r.lines.map((l) => `${l.file}:${l.line}`).slice(1, 3), ['/etc/keepalived/conf.d/10-a.conf:1', '/etc/keepalived/more/x.inc:1']);
  const missing = words({ '/etc/keepalived/keepalived.conf': 'include nothing/*.conf\n' });
  assert.equal(missing.problems[0]?.severity, 'warning');
  const loop = words({ '/etc/keepalived/keepalived.conf': 'include keepalived.conf\n' });
  assert.match(loop.problems.at(-1)!.message, /levels of include/);
});

test('@ID and @^ID lines follow --config-id', () => {
  const text = '@high priority 170\n@low priority 85\n@^high other 1\nall 1\n';
  const high = words({ '/etc/keepalived/keepalived.conf': text }, { configId: 'high' });
  assert.deepEqual(high.lines.map((l) => l.words.join(' ')), ['priority 170', 'all 1']);
  const low = words({ '/etc/keepalived/keepalived.conf': text }, { configId: 'low' });
  assert.deepEqual(low.lines.map((l) => l.words.join(' ')), ['priority 85', 'other 1', 'all 1']);
});

test('$NAME definitions, ${NAME}, multi-line definitions, built-ins; undefined names stay as written', () => {
  const r = words({
    '/etc/keepalived/keepalived.conf': [
      '$IF=eth0', '$RS=real_server 10.0.0.1 80 { \\', '  weight 2 \\', '}',
      'interface $IF', 'x ${IF}x $UNDEF', '$RS', 'h ${_HASH}${_BANG} ${_INSTANCE}', 'd ${_PWD}',
    ].join('\n'),
  }, { configId: 'node1' });
  assert.deepEqual(r.lines.map((l) => l.words.join(' ')), [
    'interface eth0', 'x eth0x $UNDEF', 'real_server 10.0.0.1 80', '{', 'weight 2', '}', 'h #! node1', 'd /etc/keepalived',
  ]);
  const selfRef = words({ '/etc/keepalived/keepalived.conf': '$A=$A x\nuse $A\n' });
  assert.ok(selfRef.problems.some((p) => /without end/.test(p.message)));
});

test('~SEQ and ~SEQx repeat a line, nested, with the variable expanded each time', () => {
  const r = words({ '/etc/keepalived/keepalived.conf': '~SEQ(i, 1, 3) a $i\n~SEQx(h, 9, 2, 13) b ${h}\n~SEQ(i, 2) ~SEQ(j, 1, 2) c $i $j\n' });
  assert.deepEqual(r.lines.map((l) => l.words.join(' ')), ['a 1', 'a 2', 'a 3', 'b 9', 'b b', 'b d', 'c 1 1', 'c 1 2', 'c 2 1', 'c 2 2']);
  const bad = words({ '/etc/keepalived/keepalived.conf': '~SEQ(i, 1, -1, 5) x\n~SEQ(i) y\n' });
  assert.deepEqual(bad.problems.map((p) => [p.line, p.keyword]), [[1, '~SEQ'], [2, '~SEQ']]);
});

test('~LST repeats a line per value or value set, nested with ~SEQ', () => {
  const r = words({ '/etc/keepalived/keepalived.conf': '~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(N,1,2) 192.${N}.${IP}.${IP1}\n~LST(X, a, b) v $X\n' });
  assert.deepEqual(r.lines.map((l) => l.words.join(' ')), ['192.1.10.1', '192.2.10.1', '192.1.20.4', '192.2.20.4', 'v a', 'v b']);
  assert.deepEqual(words({ '/etc/keepalived/keepalived.conf': '~LST({A, B}, {1}) x\n' }).problems.map((p) => p.keyword), ['~LST']);
});

test('a parameter expanding to @ID is a conditional line, and definitions are expanded when used, not when defined', () => {
  const r = words({ '/etc/keepalived/keepalived.conf': '$IF_MAIN=@main\n$IF_MAIN priority 240\n$B=10.2.${S}\n$S=0\n${B}.100\n$S=10\n${B}.100\n' }, { configId: 'main' });
  assert.deepEqual(r.lines.map((l) => l.words.join(' ')), ['priority 240', '10.2.0.100', '10.2.10.100']);
});

test('an escaped comment character inside a multi-line definition survives its expansion (decommented once, as keepalived)', () => {
  const r = words({ '/etc/keepalived/keepalived.conf': '$M= \\\n  path /a\\#b \\\n  x 1\n$M\n' });
  assert.deepEqual(r.lines.map((l) => l.words.join(' ')), ['path /a#b', 'x 1']);
});
