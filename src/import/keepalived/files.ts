/**
 * The only I/O the keepalived reader needs, behind a tiny interface so the parser is tested with in-memory
 * files: read a file, list a directory. `nodeFiles` is the real one; `memoryFiles` the one tests use.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { posix } from 'node:path';

export interface ConfigFiles {
  /** The text of a regular file, or undefined if it is missing, a directory or unreadable. */
  read(path: string): string | undefined;
  /** The entry names of a directory, or undefined if it is not one. */
  list(dir: string): string[] | undefined;
}

export const nodeFiles: ConfigFiles = {
  read(path) {
    try {
      if (!statSync(path).isFile()) return undefined;
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  list(dir) {
    try {
      return readdirSync(dir);
    } catch {
      return undefined;
    }
  },
};

/** Files held in a map from absolute path to text; directories are implied by the paths. */
export function memoryFiles(files: Record<string, string>): ConfigFiles {
  const norm = new Map(Object.entries(files).map(([p, t]) => [posix.normalize(p), t]));
  return {
    read: (path) => norm.get(posix.normalize(path)),
    list(dir) {
      const d = posix.normalize(dir).replace(/\/$/, '') + '/';
      const names = new Set<string>();
      for (const p of norm.keys()) if (p.startsWith(d)) names.add(p.slice(d.length).split('/')[0]!);
      return names.size > 0 ? [...names] : undefined;
    },
  };
}

/** Expands `{a,b}` alternatives (GLOB_BRACE), outermost first. */
function braces(pattern: string): string[] {
  const open = pattern.indexOf('{');
  if (open < 0) return [pattern];
  let depth = 0;
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      const inner = pattern.slice(open + 1, i);
      const parts: string[] = [];
      let d = 0;
      let start = 0;
      for (let j = 0; j < inner.length; j++) {
        if (inner[j] === '{') d++;
        else if (inner[j] === '}') d--;
        else if (inner[j] === ',' && d === 0) {
          parts.push(inner.slice(start, j));
          start = j + 1;
        }
      }
      parts.push(inner.slice(start));
      if (parts.length < 2) return [pattern];
      return parts.flatMap((p) => braces(pattern.slice(0, open) + p + pattern.slice(i + 1)));
    }
  }
  return [pattern];
}

function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        let set = segment.slice(i + 1, close);
        if (set.startsWith('!')) set = '^' + set.slice(1);
        re += '[' + set.replace(/\\/g, '\\\\') + ']';
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp('^' + re + '$');
}

const hasMagic = (s: string): boolean => /[*?[]/.test(s);

/** glob(3) over ConfigFiles: `*`, `?`, `[...]`, `{a,b}`; results sorted per pattern, files only. */
export function globFiles(files: ConfigFiles, pattern: string): string[] {
  const out: string[] = [];
  for (const alt of braces(pattern)) {
    const absolute = alt.startsWith('/');
    const segments = alt.split('/').filter((s) => s !== '');
    let paths = [absolute ? '/' : ''];
    for (const seg of segments) {
      const next: string[] = [];
      for (const base of paths) {
        if (!hasMagic(seg)) {
          next.push(base === '' ? seg : posix.join(base, seg));
          continue;
        }
        const names = files.list(base === '' ? '.' : base) ?? [];
        const re = segmentRegExp(seg);
        for (const n of names.sort()) {
          if (n.startsWith('.') && !seg.startsWith('.')) continue;
          if (re.test(n)) next.push(base === '' ? n : posix.join(base, n));
        }
      }
      paths = next;
    }
    out.push(...paths.filter((p) => p !== '' && files.read(p) !== undefined));
  }
  return out;
}
