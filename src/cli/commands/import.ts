import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { formatProblem, importKeepalived, nodeFiles } from '../../import/index.js';
import { LvsdError } from '../../errors.js';
import { EXIT } from '../exit.js';

/** JSON with two-space indent, but arrays of numbers or short strings on one line. */
export function renderJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2);
  return text.replace(/\[\n(\s+(?:-?\d+|"[^"\n]{0,40}"),?\n)+\s*\]/g, (m) => `[${m.slice(1, -1).split(',\n').map((s) => s.trim()).join(', ')}]`) + '\n';
}

/**
 * `lvsd import keepalived FILE`: the lvsd config on stdout (or -o), every approximation and every place that
 * could not be imported on stderr as FILE:LINE: keyword: message. Exit 0 only when everything was imported;
 * otherwise 1, and the config is written anyway with --partial (it is valid: lvsd's validator passed it).
 */
export async function importCommand(opts: { format: string; file: string; output?: string; partial: boolean; configId?: string }): Promise<number> {
  if (opts.format !== 'keepalived') throw new LvsdError('LVSD_USAGE', `lvsd import: unknown format "${opts.format}" (known: keepalived)`);
  const configId = opts.configId ?? hostname().split('.')[0];
  const result = importKeepalived(resolve(opts.file), nodeFiles, { configId });
  const warnings = result.problems.filter((p) => p.severity === 'warning');
  const errors = result.problems.filter((p) => p.severity === 'error');
  for (const p of warnings) process.stderr.write(`warning: ${formatProblem(p)}\n`);
  for (const p of errors) process.stderr.write(`not imported: ${formatProblem(p)}\n`);
  const services = Array.isArray(result.config.services) ? result.config.services.length : 0;
  const instances = Array.isArray(result.config.vrrp) ? result.config.vrrp.length : 0;
  const write = result.complete || opts.partial;
  process.stderr.write(
    `lvsd import: ${services} service${services === 1 ? '' : 's'}, ${instances} VRRP instance${instances === 1 ? '' : 's'}; ` +
      `${warnings.length} approximation${warnings.length === 1 ? '' : 's'}, ${errors.length} not imported` +
      (result.complete ? '' : write ? ' (--partial: the rest is written)' : ' (nothing written; --partial writes the rest)') + '\n',
  );
  if (write) {
    const text = renderJson(result.config);
    if (opts.output) writeFileSync(opts.output, text);
    else process.stdout.write(text);
  }
  return result.complete ? EXIT.ok : EXIT.failed;
}
