/** The config contract: read, validate and normalise lvsd's JSON config. Other folders import only this. */
export type * from './types.js';
export { loadConfig, configFiles } from './load.js';
export { parseConfig } from './parse.js';
export { ConfigCache, type LoadPhases, type LoadStats } from './cache.js';
export { unchangedSince, type ReadRecord } from './read-stamp.js';
export type { ConfigDocument } from './documents.js';
export { formatProblems, type Problem } from './problems.js';
export { parseDuration, checkDuration, formatDuration, type DurationResult } from './duration.js';
export { schemaPath } from './schema.js';
export { renderConfig } from './render.js';
export { escapeControl, MAX_TIMER_SECONDS } from './limits.js';
export { socketPathProblem, pathProblem } from './normalise.js';
export { realServerOrigin } from './normalise-services.js';
