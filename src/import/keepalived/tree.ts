/**
 * Logical lines -> a tree of statements: a line followed by a `{` line owns the lines up to the matching
 * `}` as its block. Unbalanced braces are problems with their place, never exceptions.
 */
import type { Line } from './lexer.js';
import type { ImportProblem, Place } from './problems.js';

export interface Statement extends Place {
  keyword: string;
  args: string[];
  /** Present when the statement opened a block (possibly empty). */
  block?: Statement[];
}

export function buildTree(lines: ReadonlyArray<Line>): { statements: Statement[]; problems: ImportProblem[] } {
  const problems: ImportProblem[] = [];
  const root: Statement[] = [];
  const stack: Array<{ list: Statement[]; opener?: Statement }> = [{ list: root }];
  for (const line of lines) {
    const top = stack[stack.length - 1]!;
    const [first, ...rest] = line.words;
    if (first === '{') {
      const owner = top.list[top.list.length - 1];
      if (!owner || owner.block !== undefined) {
        problems.push({ file: line.file, line: line.line, keyword: '{', message: 'a block with no keyword before it (keepalived ignores it)', severity: 'error' });
        // keep reading inside it so its closing brace balances
        const orphan: Statement = { file: line.file, line: line.line, keyword: '{', args: [], block: [] };
        stack.push({ list: orphan.block!, opener: orphan });
        continue;
      }
      owner.block = [];
      stack.push({ list: owner.block, opener: owner });
      continue;
    }
    if (first === '}') {
      if (stack.length === 1) {
        problems.push({ file: line.file, line: line.line, keyword: '}', message: "an extra '}'", severity: 'error' });
      } else stack.pop();
      continue;
    }
    top.list.push({ file: line.file, line: line.line, keyword: first!, args: rest });
  }
  for (let i = stack.length - 1; i > 0; i--) {
    const o = stack[i]!.opener!;
    problems.push({ file: o.file, line: o.line, keyword: o.keyword, message: "its block is not closed (a '}' is missing)", severity: 'error' });
  }
  return { statements: root, problems };
}
