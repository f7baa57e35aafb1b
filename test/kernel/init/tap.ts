/**
 * A parser for the TAP 13 that `node --test --test-reporter=tap` writes: nested subtests indented by
 * four spaces per level, each announced by "# Subtest: name" and closed by its "ok"/"not ok" line, which
 * comes after its children, followed by an optional YAML diagnostics block.
 */

export interface TapNode {
  name: string;
  ok: boolean;
  /** SKIP / TODO directive reason ('' when the directive has none) */
  skip?: string;
  todo?: string;
  /** the YAML diagnostics block, dedented, without the --- / ... fences */
  yaml: string;
  /** "# ..." lines printed before or while this test ran (e.g. a test file's stdout) */
  comments: string[];
  children: TapNode[];
}

const TEST_LINE = /^(ok|not ok)\s+\d+(?:\s+-\s+(.*))?$/;
const SUMMARY = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms)\s+[\d.]+$/;

function unescapeName(s: string): string {
  return s.replace(/\\([#\\])/g, '$1');
}

/** Splits "name # SKIP reason" at the last unescaped " # ". */
function splitDirective(rest: string): { name: string; skip?: string; todo?: string } {
  const m = /^(.*?)(?<!\\)\s#\s(SKIP|TODO)\b\s*(.*)$/i.exec(rest);
  if (!m) return { name: unescapeName(rest.trim()) };
  const name = unescapeName(m[1]!.trim());
  return m[2]!.toUpperCase() === 'SKIP' ? { name, skip: m[3]!.trim() } : { name, todo: m[3]!.trim() };
}

export function parseTap(text: string): TapNode[] {
  const pendingNodes = new Map<number, TapNode[]>();
  const pendingComments = new Map<number, string[]>();
  const take = <T>(m: Map<number, T[]>, depth: number): T[] => {
    const v = m.get(depth) ?? [];
    m.delete(depth);
    return v;
  };
  let last: TapNode | undefined;
  let yaml: string[] | undefined;
  let yamlIndent = 0;

  for (const raw of text.replace(/\r/g, '').split('\n')) {
    if (yaml !== undefined) {
      if (raw.trim() === '...') {
        if (last) last.yaml = yaml.join('\n');
        yaml = undefined;
      } else {
        yaml.push(raw.slice(Math.min(yamlIndent, raw.length - raw.trimStart().length)));
      }
      continue;
    }
    const indent = raw.length - raw.trimStart().length;
    const line = raw.trim();
    const depth = Math.floor(indent / 4);
    if (line === '---' && last) {
      yaml = [];
      yamlIndent = indent;
      continue;
    }
    const t = TEST_LINE.exec(line);
    if (t) {
      const d = splitDirective(t[2] ?? '');
      const node: TapNode = {
        name: d.name,
        ok: t[1] === 'ok',
        yaml: '',
        comments: [...take(pendingComments, depth), ...take(pendingComments, depth + 1)],
        children: take(pendingNodes, depth + 1),
      };
      if (d.skip !== undefined) node.skip = d.skip;
      if (d.todo !== undefined) node.todo = d.todo;
      const list = pendingNodes.get(depth) ?? [];
      list.push(node);
      pendingNodes.set(depth, list);
      last = node;
      continue;
    }
    if (line.startsWith('#')) {
      const body = line.slice(1).trim();
      if (body.startsWith('Subtest:') || SUMMARY.test(body)) continue;
      const list = pendingComments.get(depth) ?? [];
      list.push(body);
      pendingComments.set(depth, list);
    }
  }
  return pendingNodes.get(0) ?? [];
}

/** A readable failure message for a failed node: its error, location and stack, or its output. */
export function describeFailure(node: TapNode): string {
  const parts = [`${node.name} failed`];
  if (node.yaml.trim()) parts.push(node.yaml.split('\n').filter((l) => !/^duration_ms:/.test(l)).join('\n'));
  if (node.comments.length) parts.push('output:\n' + node.comments.slice(-40).join('\n'));
  return parts.join('\n');
}

