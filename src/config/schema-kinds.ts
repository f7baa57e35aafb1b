/**
 * The value kinds the schema names with `x-kind` (a check JSON Schema cannot spell; editors ignore it,
 * lvsd enforces it). Used by the validator compiled at build time (schema-compile.ts) as `kindAccepts`.
 */
import { canonicalAddress } from '../net/address.js';
import { checkDuration } from './duration.js';

/** Whether `data` is acceptable as `kind`; a value of the wrong type is left to the schema's `type`. */
export function kindAccepts(kind: string, data: unknown): boolean {
  return kind === 'address' ? typeof data !== 'string' || canonicalAddress(data) !== undefined
    : kind === 'duration' ? checkDuration(data).ok || typeof data !== 'string'
    : true;
}
