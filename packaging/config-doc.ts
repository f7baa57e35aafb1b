/**
 * Defaults and notes for lvsd.json(5), read from the key tables of docs/config.md (`| key | type | default |
 * notes |` under a heading naming the section, as "## `vrrp[]`" or "### `realServers[]` and `sorryServer`").
 * The schema stays the source of the keys; this only adds what the docs say about each, so the page and
 * the docs cannot disagree. Pure: markdown in, lookups out.
 */

export interface KeyNote { default?: string; notes?: string }

interface Row { keys: string[]; scopes: string[]; note: KeyNote }

/** Markdown cell text to plain text: links to their words, backticks dropped. */
function text(cell: string): string {
  return cell.replace(/\[([^\]]+)\]\([^)]*\)/g, '$1').replace(/`/g, '').trim();
}

const backticked = (s: string): string[] => [...s.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
const cells = (line: string): string[] => line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());

/** The keys a row's first cell names: `timeouts.tcp`, `.tcpFin` -> timeouts.tcp, timeouts.tcpFin. */
function rowKeys(cell: string): string[] {
  const keys: string[] = [];
  for (const token of backticked(cell)) {
    if (!/^\.?[A-Za-z$][\w.$]*$/.test(token)) continue;
    if (token.startsWith('.') && keys.length > 0) {
      const first = keys[0]!;
      keys.push(first.slice(0, first.lastIndexOf('.')) + token);
    } else if (!token.startsWith('.')) keys.push(token);
  }
  return keys;
}

export function readConfigDocs(markdown: string): (path: string) => KeyNote | undefined {
  const rows: Row[] = [];
  let scopes: string[] = [];
  let columns: string[] | undefined;
  for (const line of markdown.split('\n')) {
    if (/^#{2,3} /.test(line)) {
      scopes = /^## Top level/.test(line) ? [''] : backticked(line);
      columns = undefined;
      continue;
    }
    if (!line.startsWith('|')) { columns = undefined; continue; }
    const c = cells(line);
    if (!columns) { columns = c.map((h) => h.toLowerCase()); continue; }
    if (columns[0] !== 'key' || /^-+$/.test(c[0] ?? '')) continue;
    const at = (name: string): string | undefined => {
      const i = columns!.indexOf(name);
      const v = i >= 0 ? text(c[i] ?? '') : '';
      return v === '' ? undefined : v;
    };
    const note: KeyNote = {};
    const d = at('default');
    const n = at('notes');
    if (d !== undefined) note.default = d;
    if (n !== undefined) note.notes = n;
    rows.push({ keys: rowKeys(c[0] ?? ''), scopes, note });
  }
  return (path: string) => {
    for (const row of rows) {
      for (const scope of row.scopes) {
        for (const key of row.keys) {
          const full = scope ? `${scope}.${key}` : key;
          if (path === full || path.endsWith(`.${full}`)) return row.note;
        }
      }
    }
    return undefined;
  };
}
