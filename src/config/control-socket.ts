/**
 * The control socket a config names, read without validating the config: `lvsd reload`, `status`, `drain`
 * and `undrain` need only this to reach the daemon, which validates (and refuses, naming every problem) on
 * its side. Validating 22,000 objects in the CLI first cost as much as the daemon's whole reload.
 */
import { configFiles, readRegular } from './files.js';

/**
 * `control.socket` of the config at `path` (a file or a directory: the one file that sets `control`), or
 * undefined when no file sets it or it is not an absolute path. Throws when a file before it cannot be read
 * or is not JSON.
 */
export async function controlSocketOf(path: string): Promise<string | undefined> {
  for (const file of await configFiles(path)) {
    const text = (await readRegular(file)).toString('utf8');
    const data = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as { control?: { socket?: unknown } } | null;
    if (data === null || typeof data !== 'object' || data.control === undefined) continue;
    const socket = data.control?.socket;
    return typeof socket === 'string' && socket.startsWith('/') ? socket : undefined;
  }
  return undefined;
}
