import { DEFAULT_SOCKET } from './defaults.js';

/**
 * Which control socket a command talks to: --socket, else the config's control.socket (when the config
 * can be read), else the default.
 */
export async function resolveSocket(opts: { socket?: string | undefined; config?: string | undefined }): Promise<string> {
  if (opts.socket) return opts.socket;
  if (opts.config) {
    try {
      // imported here: status and the control commands given --socket (or nothing) never load the config module
      const { loadConfig } = await import('../config/index.js');
      return (await loadConfig(opts.config)).control.socket;
    } catch {
      // an unreadable or invalid config does not stop status from reaching the daemon at the default path
    }
  }
  return DEFAULT_SOCKET;
}
