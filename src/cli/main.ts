#!/usr/bin/env node
/**
 * The lvsd command line: a thin yargs front over the definitions in definition.ts.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { defineCli } from './definition.js';

await defineCli(yargs(hideBin(process.argv))).parseAsync();
