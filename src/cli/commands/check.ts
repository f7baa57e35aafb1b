import { loadConfig } from '../../config/index.js';
import { EXIT } from '../exit.js';

/** `lvsd check`: validate, print a one-line summary; every problem is thrown as LVSD_CONFIG_INVALID. */
export async function check(opts: { config: string }): Promise<number> {
  const config = await loadConfig(opts.config, { hostChecks: true });
  const realServers = config.services.reduce((n, s) => n + s.realServers.length, 0);
  const parts = [
    `${config.services.length} service${config.services.length === 1 ? '' : 's'}`,
    `${realServers} real server${realServers === 1 ? '' : 's'}`,
    `${config.vrrp.length} VRRP instance${config.vrrp.length === 1 ? '' : 's'}`,
  ];
  process.stdout.write(`${opts.config}: valid (${parts.join(', ')})\n`);
  return EXIT.ok;
}
