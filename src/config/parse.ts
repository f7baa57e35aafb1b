/**
 * parseConfig: JSON texts in, a validated and normalised Config out, or one LvsdError listing every
 * problem. No I/O beyond reading the bundled schema once.
 */
import type { Config } from './types.js';
import { mergeDocuments, parseJson, unusablePart, type ConfigDocument } from './documents.js';
import { normalise } from './normalise.js';
import { Problems } from './problems.js';
import { validateDocument } from './schema.js';

/**
 * Parses, validates (schema, then semantic rules) and normalises config documents, merged in the order
 * given. Throws LvsdError('LVSD_CONFIG_UNREADABLE') on bad JSON, LvsdError('LVSD_CONFIG_INVALID') with
 * `details: Problem[]` otherwise. A list item or section that breaks the schema is left out of the
 * semantic checks (they would misread it); everything else is still checked, so one round shows all.
 */
export function parseConfig(documents: ReadonlyArray<ConfigDocument>): Config {
  const parsed = documents.map(parseJson);
  const problems = new Problems();
  const unusable = new Set<string>();
  for (const doc of parsed) {
    for (const p of validateDocument(doc.file, doc.data)) {
      problems.add(p.file, p.pointer, p.message);
      const part = unusablePart(p.pointer);
      if (part !== undefined) unusable.add(`${doc.file}\0${part}`);
    }
  }
  const raw = mergeDocuments(parsed, problems, (file, pointer) => unusable.has(`${file}\0${pointer}`));
  const config = normalise(parsed.map((d) => d.file), raw, problems);
  problems.throwIfAny();
  if (problems.warnings.length > 0) config.warnings = [...problems.warnings];
  return config;
}
