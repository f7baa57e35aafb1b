import { DEFAULT_SOCKET } from './defaults.js';

/**
 * Which control socket a command talks to: --socket, else the config's control.socket (when its files can
 * be read as JSON; the config is not validated here), else the default. native/front/config.c reads the
 * same for `lvsd reload` where it is sure to (test/unit/cli-front.test.ts compares).
 */
export async function resolveSocket(opts: { socket?: string | undefined; config?: string | undefined }): Promise<string> {
  if (opts.socket) return opts.socket;
  if (opts.config) {
    try {
      // only the socket is read, the config is not validated here (the daemon does that on a reload); a
      // leaf module, so the control commands load neither the validator nor the normaliser
      const { controlSocketOf } = await import('../config/control-socket.js');
      const socket = await controlSocketOf(opts.config);
      if (socket !== undefined) return socket;
    } catch {
      // an unreadable or invalid config does not stop status from reaching the daemon at the default path
    }
  }
  return DEFAULT_SOCKET;
}
