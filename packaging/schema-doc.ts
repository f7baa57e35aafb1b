/**
 * Reads the config's JSON Schema (schemas/lvsd.schema.json) into a flat list of keys with dotted paths
 * (`services[].realServers[].weight`), their types, limits and descriptions: what lvsd.json(5) lists.
 * A schema keyword that could hide keys from this walk (oneOf, patternProperties, ...) stops the build
 * with its name rather than leaving keys out of the page.
 */

type Schema = Record<string, unknown>;

export interface KeyDoc {
  path: string;
  /** the top-level section the key belongs to (`services`, `vrrp`, ...) */
  section: string;
  type: string;
  required: boolean;
  notes: string[];
  description?: string;
}

/** Keywords that only constrain a value; they never hold keys of their own. */
const VALUE_KEYWORDS = new Set([
  'type', 'description', 'title', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength',
  'maxLength', 'pattern', 'enum', 'const', 'minItems', 'maxItems', 'uniqueItems', 'required', 'default', 'format',
  'additionalProperties', 'properties', 'items', '$ref', 'x-kind', 'x-hint', '$comment', 'examples',
  '$schema', '$id', '$defs', // the root's own
]);

function resolve(root: Schema, node: Schema, seen: string[]): Schema {
  const ref = node.$ref;
  if (typeof ref !== 'string') return node;
  const m = /^#\/\$defs\/([^/]+)$/.exec(ref);
  if (!m) throw new Error(`schema-doc: unsupported $ref ${ref}`);
  if (seen.includes(ref)) throw new Error(`schema-doc: recursive $ref ${ref}`);
  const target = (root.$defs as Record<string, Schema> | undefined)?.[m[1]!];
  if (!target) throw new Error(`schema-doc: $ref ${ref} points nowhere`);
  seen.push(ref);
  return { ...resolve(root, target, seen), ...Object.fromEntries(Object.entries(node).filter(([k]) => k !== '$ref')) };
}

function checkKeywords(node: Schema, path: string): void {
  for (const k of Object.keys(node)) {
    if (!VALUE_KEYWORDS.has(k)) throw new Error(`schema-doc: the keyword "${k}" at ${path || '/'} is not understood: teach packaging/schema-doc.ts`);
  }
}

function range(node: Schema): string | undefined {
  const min = node.minimum as number | undefined;
  const max = node.maximum as number | undefined;
  if (min !== undefined && max !== undefined) return `${min}-${max}`;
  if (min !== undefined) return `>= ${min}`;
  if (max !== undefined) return `<= ${max}`;
  return undefined;
}

function typeOf(root: Schema, raw: Schema): string {
  const node = resolve(root, raw, []);
  if (node['x-kind'] === 'duration') return 'duration';
  if (node['x-kind'] === 'address') return 'address';
  if (Array.isArray(node.enum)) return `one of ${node.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  const t = Array.isArray(node.type) ? node.type.join(' or ') : String(node.type ?? 'any');
  if (t === 'array') {
    const items = node.items as Schema | undefined;
    const inner = items ? typeOf(root, items) : 'any';
    return inner === 'object' ? 'list of objects' : `list of ${inner}`;
  }
  const r = range(node);
  return r ? `${t} ${r}` : t;
}

function notesOf(node: Schema): string[] {
  const notes: string[] = [];
  if (typeof node.minLength === 'number' && node.minLength > 0) notes.push('not empty');
  if (typeof node.minItems === 'number' && node.minItems > 0) notes.push(`at least ${node.minItems} item${node.minItems === 1 ? '' : 's'}`);
  if (node.uniqueItems === true) notes.push('no duplicates');
  if (typeof node['x-hint'] === 'string') notes.push(node['x-hint']);
  return notes;
}

/** Every key the schema allows, depth first in the schema's own order. */
export function readSchema(root: Schema): { title: string; description: string; keys: KeyDoc[] } {
  const keys: KeyDoc[] = [];
  const walk = (raw: Schema, path: string, section: string): void => {
    const node = resolve(root, raw, []);
    checkKeywords(node, path);
    if (node.items) walk(node.items as Schema, `${path}[]`, section);
    const props = node.properties as Record<string, Schema> | undefined;
    if (!props) return;
    const required = new Set((node.required as string[] | undefined) ?? []);
    for (const [key, childRaw] of Object.entries(props)) {
      const child = resolve(root, childRaw, []);
      checkKeywords(child, `${path}.${key}`);
      const keyPath = path ? `${path}.${key}` : key;
      const items = child.items ? resolve(root, child.items as Schema, []) : undefined;
      const compound = child.properties !== undefined || child.items !== undefined;
      keys.push({
        path: keyPath,
        section: section || (compound ? key : 'top level'),
        type: typeOf(root, childRaw),
        required: required.has(key),
        notes: [...notesOf(child), ...(items ? notesOf(items) : [])],
        // the key's own description: a shared definition's (duration, address) is said once on the page
        ...(typeof childRaw.description === 'string' ? { description: childRaw.description } : {}),
      });
      walk(childRaw, keyPath, section || (compound ? key : 'top level'));
    }
  };
  walk(root, '', '');
  return { title: String(root.title ?? ''), description: String(root.description ?? ''), keys };
}
