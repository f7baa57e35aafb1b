/**
 * loadConfig: read a config file, or every *.json file of a directory (by name), then parseConfig. Any file
 * that cannot be read as a regular UTF-8 file (a dangling or looping link, no permission, a directory or a
 * FIFO under a *.json name, bytes that are not UTF-8) fails the whole load naming that file: leaving it out
 * would silently drop what it declares.
 */
import { constants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LvsdError } from '../errors.js';
import type { Config } from './types.js';
import { decodeUtf8, type ConfigDocument } from './documents.js';
import { parseConfig } from './parse.js';
import { unknownUsers, userMentions } from './host-users.js';
import { missingTools } from './host-tools.js';
import { Problems } from './problems.js';

function unreadable(path: string, e: unknown): LvsdError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ELOOP' ? 'ELOOP (a symbolic link loop)'
    : err.code === 'ENOENT' ? 'ENOENT (missing, or a symbolic link to nothing)'
    : err.code ?? err.message;
  return new LvsdError('LVSD_CONFIG_UNREADABLE', `${path}: cannot read: ${why}`, {
    details: { file: path, errno: err.code },
    cause: e,
  });
}

function notRegular(path: string): LvsdError {
  return new LvsdError('LVSD_CONFIG_UNREADABLE', `${path}: cannot read: not a regular file`, { details: { file: path, errno: 'ENOTREG' } });
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
  const files = names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort().map((n) => join(path, n));
  if (files.length === 0) {
    throw new LvsdError('LVSD_CONFIG_UNREADABLE', `${path}: the config directory has no *.json files`, { details: { file: path } });
  }
  return files;
}

/**
 * The bytes of one config file. Opened without blocking (a FIFO would otherwise hang the load) and checked
 * to be a regular file on the open descriptor, so a file swapped between a check and the read is caught too.
 */
async function readRegular(file: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw unreadable(file, e);
  }
  try {
    if (!(await fh.stat()).isFile()) throw notRegular(file);
    return await fh.readFile();
  } catch (e) {
    throw e instanceof LvsdError ? e : unreadable(file, e);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * Reads and parses the config at `path` (a file or a directory). `hostChecks`: also what depends on this host
 * (the users it names exist, the programs it needs: host-tools.ts), for `check`, `run` and reloads; commands that
 * only need the socket path skip it.
 */
export async function loadConfig(path: string, opts: { hostChecks?: boolean } = {}): Promise<Config> {
  const files = await configFiles(path);
  const documents: ConfigDocument[] = [];
  for (const file of files) documents.push({ file, text: decodeUtf8(file, await readRegular(file)) });
  const config = parseConfig(documents);
  if (opts.hostChecks) {
    const problems = [
      ...await unknownUsers(userMentions(documents.map((d) => ({ file: d.file, data: JSON.parse(d.text) as unknown })))),
      ...missingTools(config),
    ];
    if (problems.length > 0) {
      const all = new Problems();
      for (const p of problems) all.add(p.file, p.pointer, p.message);
      all.throwIfAny();
    }
  }
  return config;
}
