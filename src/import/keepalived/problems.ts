/** What the importer says about a place in the keepalived config: `FILE:LINE: keyword: message`. */
export interface Place {
  file: string;
  line: number;
}

export interface ImportProblem extends Place {
  keyword: string;
  message: string;
  /** error: not mapped (the import exits non-zero); warning: mapped approximately, or ignored and why. */
  severity: 'error' | 'warning';
}

export function formatProblem(p: ImportProblem): string {
  return `${p.file}:${p.line}: ${p.keyword}: ${p.message}`;
}
