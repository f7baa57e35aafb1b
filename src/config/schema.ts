/**
 * The JSON Schema (schemas/lvsd.schema.json) as a validator, and ajv's errors turned into plain
 * problems: `unknown key "scheduller" (did you mean "scheduler"?)`, `must be an integer from 0 to 65535`.
 * The validator was compiled at build time (schema-compile.ts writes schema-validator.cjs next to this
 * module), so validating a config loads ajv's small runtime helpers only, never its compiler.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { LvsdError } from '../errors.js';
import { checkDuration } from './duration.js';
import { pointerJoin, type Problem } from './problems.js';
import { kindAccepts } from './schema-kinds.js';
import { closest } from './suggest.js';

const SCHEMA_RELATIVE = join('schemas', 'lvsd.schema.json');
/** Written by `npm run build` (packaging/validator.js); the name is schema-compile.ts's VALIDATOR_MODULE. */
const VALIDATOR_MODULE = './schema-validator.cjs';

/** The schema file's path: the nearest schemas/lvsd.schema.json above this module (the package root). */
export function schemaPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, SCHEMA_RELATIVE);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new LvsdError('LVSD_CONFIG_UNREADABLE', `cannot find ${SCHEMA_RELATIVE} above ${fileURLToPath(import.meta.url)}`);
}

let validator: ValidateFunction | undefined;

function compiled(): ValidateFunction {
  if (validator) return validator;
  let factory: (accepts: typeof kindAccepts) => ValidateFunction;
  try {
    factory = createRequire(import.meta.url)(VALIDATOR_MODULE) as typeof factory;
  } catch (e) {
    throw new LvsdError('LVSD_CONFIG_UNREADABLE',
      `cannot load the config validator ${VALIDATOR_MODULE} (written by npm run build): ${(e as Error).message}`, { cause: e });
  }
  validator = factory(kindAccepts);
  return validator;
}

/** Validates one parsed document against the schema; returns its problems (empty when it conforms). */
export function validateDocument(file: string, data: unknown): Problem[] {
  const validate = compiled();
  if (validate(data)) return [];
  const problems: Problem[] = [];
  // A value that failed several keywords of one schema (type and minimum, say) is one problem.
  const seen = new Set<string>();
  for (const err of validate.errors ?? []) {
    const p = translate(file, err);
    const key = `${p.pointer}\0${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(p);
  }
  return problems;
}

type SchemaObject = Record<string, unknown>;

function quoteList(values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

function translate(file: string, err: ErrorObject): Problem {
  const pointer = err.instancePath;
  const schema = (err.parentSchema ?? {}) as SchemaObject;
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      const known = Object.keys((schema['properties'] as SchemaObject | undefined) ?? {});
      const near = closest(key, known);
      const hint = near !== undefined ? ` (did you mean "${near}"?)` : known.length > 0 ? ` (known keys: ${known.join(', ')})` : '';
      return { file, pointer: pointerJoin(pointer, key), message: `unknown key "${key}"${hint}` };
    }
    case 'required':
      return { file, pointer, message: `missing required key "${String(params['missingProperty'])}"` };
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[] | undefined) ?? [];
      const near = typeof err.data === 'string' ? closest(err.data, allowed.filter((v): v is string => typeof v === 'string')) : undefined;
      const got = JSON.stringify(err.data) ?? String(err.data);
      const hint = near !== undefined ? ` (did you mean "${near}"?)` : '';
      return { file, pointer, message: `${got.length > 40 ? 'value' : got} is not allowed: must be one of ${quoteList(allowed)}${hint}` };
    }
    case 'minItems':
      return { file, pointer, message: params['limit'] === 1 ? 'must not be empty' : `must have at least ${String(params['limit'])} items` };
    case 'uniqueItems':
      return { file, pointer, message: `lists the same value twice (items ${String(params['j'])} and ${String(params['i'])})` };
    case 'minLength':
      return { file, pointer, message: 'must not be empty' };
    default:
      return { file, pointer, message: describeExpected(schema, err) };
  }
}

/** What a value of this schema must be, in one plain sentence. */
function describeExpected(schema: SchemaObject, err: ErrorObject): string {
  if (schema['x-kind'] === 'duration') {
    const r = checkDuration(err.data);
    return r.ok ? 'must be a duration' : `bad duration: ${r.reason}`;
  }
  if (schema['x-kind'] === 'address' && typeof err.data === 'string') return `"${err.data}" is not an IP address`;
  if (err.keyword === 'pattern' && typeof schema['x-hint'] === 'string') return schema['x-hint'];
  if (err.keyword === 'pattern') return `must match ${String(schema['pattern'])}`;
  const types = Array.isArray(schema['type']) ? (schema['type'] as string[]) : typeof schema['type'] === 'string' ? [schema['type']] : [];
  const min = schema['minimum'] as number | undefined;
  const max = schema['maximum'] as number | undefined;
  const numeric = types.length === 1 && (types[0] === 'integer' || types[0] === 'number');
  if (numeric) {
    const noun = types[0] === 'integer' ? 'an integer' : 'a number';
    if (min !== undefined && max !== undefined) return `must be ${noun} from ${min} to ${max}`;
    if (min !== undefined) return `must be ${noun} >= ${min}`;
    if (max !== undefined) return `must be ${noun} <= ${max}`;
    return `must be ${noun}`;
  }
  if (types.length > 0) return `must be ${types.map(typeNoun).join(' or ')}`;
  return err.message ?? 'is not valid';
}

function typeNoun(t: string): string {
  switch (t) {
    case 'object': return 'an object';
    case 'array': return 'a list';
    case 'string': return 'a string';
    case 'integer': return 'an integer';
    case 'number': return 'a number';
    case 'boolean': return 'true or false';
    case 'null': return 'null';
    default: return t;
  }
}
