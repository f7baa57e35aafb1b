/** The keepalived importer's public face. */
export { importKeepalived, type ImportResult } from './convert.js';
export { lexKeepalived, type Line, type LexOptions } from './lexer.js';
export { buildTree, type Statement } from './tree.js';
export { nodeFiles, memoryFiles, globFiles, type ConfigFiles } from './files.js';
export { keywordCatalog, type KeywordKind } from './catalog.js';
export { formatProblem, type ImportProblem, type Place } from './problems.js';
