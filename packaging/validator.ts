/**
 * Writes the config validator (src/config/schema-compile.ts) to dist/src/config/schema-validator.cjs from
 * schemas/lvsd.schema.json. `npm run build` runs it after tsc: `node dist/packaging/validator.js`.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VALIDATOR_MODULE, validatorModuleSource } from '../src/config/schema-compile.js';

const schemaFile = fileURLToPath(new URL('../../schemas/lvsd.schema.json', import.meta.url));
const out = fileURLToPath(new URL(`../src/config/${VALIDATOR_MODULE}`, import.meta.url));
const source = validatorModuleSource(JSON.parse(readFileSync(schemaFile, 'utf8')) as object);
writeFileSync(out + '.tmp', source);
renameSync(out + '.tmp', out);
