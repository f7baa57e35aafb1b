/**
 * parseConfig: JSON texts in, a validated and normalised Config out, or one LvsdError listing every
 * problem. No I/O beyond reading the bundled schema once.
 */
import type { Config } from './types.js';
import { mergeDocuments, parseJson, unusablePart, type ConfigDocument, type ListEdit, type LocatedCache, type ParsedDocument } from './documents.js';
import { normalise } from './normalise.js';
import { Problems, type Problem } from './problems.js';
import { validateDocument } from './schema.js';
import type { ServiceMemo } from './service-memo.js';

/** A parsed document with what the schema found wrong in it (empty: it conforms). Depends on the document alone. */
export interface CheckedDocument extends ParsedDocument {
  schemaProblems: readonly Problem[];
  /** How its services list differs from `edit.before`, when it was made from it (cache.ts patch): see ListEdit. */
  edit?: ListEdit;
}

export function checkDocument(doc: ParsedDocument): CheckedDocument {
  return { ...doc, schemaProblems: validateDocument(doc.file, doc.data) };
}

/**
 * The schema problems of services items `items` standing at index `first` of `file`'s services list on: the
 * problems a check of the whole document finds at them, in its order (the schema checks each item alone,
 * and nothing about the list but that it is one).
 */
export function checkItems(file: string, items: readonly unknown[], first: number): Problem[] {
  const problems = validateDocument(file, { services: items });
  if (first === 0) return problems;
  return problems.map((p) => {
    const m = /^\/services\/(\d+)(.*)$/s.exec(p.pointer);
    return m ? { ...p, pointer: `/services/${Number(m[1]) + first}${m[2]}` } : p;
  });
}

/**
 * Validates (schema, then semantic rules) and normalises config documents, merged in the order given.
 * Throws LvsdError('LVSD_CONFIG_INVALID') with `details: Problem[]`. A list item or section that breaks
 * the schema is left out of the semantic checks (they would misread it); everything else is still checked,
 * so one round shows all. `memo` reuses the services that did not change since its last build, `located`
 * the list items' Located records.
 */
export function buildConfig(docs: ReadonlyArray<CheckedDocument>, memo?: ServiceMemo, located?: LocatedCache): Config {
  const problems = new Problems();
  const unusable = new Set<string>();
  for (const doc of docs) {
    for (const p of doc.schemaProblems) {
      problems.add(p.file, p.pointer, p.message);
      const part = unusablePart(p.pointer);
      if (part !== undefined) unusable.add(`${doc.file}\0${part}`);
    }
  }
  const raw = mergeDocuments(docs, problems, unusable.size > 0 ? (file, pointer) => unusable.has(`${file}\0${pointer}`) : undefined, located);
  memo?.begin();
  const config = normalise(docs.map((d) => d.file), raw, problems, memo?.items, memo?.checks);
  problems.throwIfAny();
  if (problems.warnings.length > 0) config.warnings = [...problems.warnings];
  return config;
}

/**
 * Parses, validates and normalises config documents (see buildConfig). Throws
 * LvsdError('LVSD_CONFIG_UNREADABLE') on bad JSON, LvsdError('LVSD_CONFIG_INVALID') otherwise.
 */
export function parseConfig(documents: ReadonlyArray<ConfigDocument>): Config {
  return buildConfig(documents.map(parseJson).map(checkDocument));
}
