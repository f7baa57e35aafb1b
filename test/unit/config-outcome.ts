/** Shared by the config cache tests: a load's outcome as a comparable value. */
import type { Config } from '../../src/config/index.js';
import { isLvsdError } from '../../src/errors.js';

/** The config, or the error's code, message and details (problems included); other errors are thrown. */
export async function outcome(load: Promise<Config>): Promise<unknown> {
  try {
    return { config: await load };
  } catch (e) {
    if (!isLvsdError(e)) throw e;
    return { code: e.code, message: e.message, details: e.details };
  }
}
