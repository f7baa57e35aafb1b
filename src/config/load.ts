/** loadConfig: read a config file, or every *.json file of a directory (by name), then parseConfig. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LvsdError } from '../errors.js';
import type { Config } from './types.js';
import type { ConfigDocument } from './documents.js';
import { parseConfig } from './parse.js';

function unreadable(path: string, e: unknown): LvsdError {
  const err = e as NodeJS.ErrnoException;
  return new LvsdError('LVSD_CONFIG_UNREADABLE', `${path}: cannot read: ${err.code ?? err.message}`, {
    details: { file: path, errno: err.code },
    cause: e,
  });
}

/** The files a path names: itself, or a directory's *.json files sorted by name (code-point order). */
export async function configFiles(path: string): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw unreadable(path, e);
  }
  if (!info.isDirectory()) return [path];
  let names: string[];
  try {
    names = await readdir(path);
  } catch (e) {
    throw unreadable(path, e);
  }
  const files: string[] = [];
  for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()) {
    const file = join(path, name);
    if ((await stat(file).catch(() => undefined))?.isFile()) files.push(file);
  }
  if (files.length === 0) {
    throw new LvsdError('LVSD_CONFIG_UNREADABLE', `${path}: the config directory has no *.json files`, { details: { file: path } });
  }
  return files;
}

/** Reads and parses the config at `path` (a file or a directory). */
export async function loadConfig(path: string): Promise<Config> {
  const files = await configFiles(path);
  const documents: ConfigDocument[] = [];
  for (const file of files) {
    try {
      documents.push({ file, text: await readFile(file, 'utf8') });
    } catch (e) {
      throw unreadable(file, e);
    }
  }
  return parseConfig(documents);
}
