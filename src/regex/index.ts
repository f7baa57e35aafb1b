/** Linear-time regular expressions for health-check body patterns (a subset of JavaScript's syntax). */
export { compilePattern, PatternError, MAX_PROGRAM, MAX_REPEAT, MAX_PATTERN_LENGTH, type Program } from './compile.js';
export { Matcher, MAX_STATES } from './match.js';
