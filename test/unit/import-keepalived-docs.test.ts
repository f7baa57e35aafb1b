/** docs/migrating-from-keepalived.md lists every keyword of the importer's tables, in its block, as the tables say. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { keywordCatalog } from '../../src/import/index.js';
import { ROOT } from './config-fixtures.js';

test('the keyword table of the migration guide matches the importer, block by block', () => {
  const doc = readFileSync(`${ROOT}docs/migrating-from-keepalived.md`, 'utf8');
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of doc.slice(doc.indexOf('## Every keyword')).split('\n')) {
    const h = /^### (?:`([^`]+)`|The top level|Every checker)/.exec(line);
    if (h) sections.set(h[1] ?? (line.includes('top level') ? 'top level' : 'checkers (all)'), (current = new Map()));
    const row = /^\| `([^`]+)` \| .* \| (mapped|approximated|approximated \(warning\)|not supported \(error\)) \|$/.exec(line);
    if (row && current) current.set(row[1]!, row[2]!);
  }
  for (const [block, keywords] of Object.entries(keywordCatalog())) {
    const rows = sections.get(block);
    assert.ok(rows, `a section for ${block}`);
    for (const [keyword, { kind }] of Object.entries(keywords)) {
      const documented = rows.get(keyword);
      assert.ok(documented, `${block}: ${keyword} is documented`);
      if (kind === 'not supported') assert.match(documented, /not supported/, `${block}: ${keyword}`);
      if (kind === 'ignored') assert.match(documented, /approximated/, `${block}: ${keyword}`);
    }
    assert.equal(rows.size, Object.keys(keywords).length, `${block}: no row for a keyword the importer does not have`);
  }
});
