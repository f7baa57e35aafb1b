import { escapeControl, loadConfig } from '../../config/index.js';
import { EXIT } from '../exit.js';
import { writeErr, writeOut } from '../out.js';

/** `lvsd check`: validate, print a one-line summary; every problem is thrown as LVSD_CONFIG_INVALID. */
export async function check(opts: { config: string }): Promise<number> {
  const config = await loadConfig(opts.config, { hostChecks: true });
  const realServers = config.services.reduce((n, s) => n + s.realServers.length, 0);
  const parts = [
    `${config.services.length} service${config.services.length === 1 ? '' : 's'}`,
    ...groupsPart(config.services),
    `${realServers} real server${realServers === 1 ? '' : 's'}`,
    `${config.vrrp.length} VRRP instance${config.vrrp.length === 1 ? '' : 's'}`,
  ];
  if (config.ecmp) {
    const vips = new Set(config.services.flatMap((s) => (s.spec.key.kind === 'addr' ? [s.spec.key.address] : [])));
    parts.push(`ecmp: ${vips.size} address${vips.size === 1 ? '' : 'es'} announced to ${config.ecmp.peers.length} peer${config.ecmp.peers.length === 1 ? '' : 's'}`);
  }
  // warnings: the config works, but maybe not as meant; they do not change the exit status
  for (const w of config.warnings ?? []) writeErr(`${escapeControl(`warning: ${w.file}: ${w.pointer || '/'}: ${w.message}`)}\n`);
  writeOut(`${opts.config}: valid (${parts.join(', ')})\n`);
  return EXIT.ok;
}

/** "5 of them in 1 group" when some services are group members (counted as the IPVS services they are). */
function groupsPart(services: ReadonlyArray<{ group?: { name: string } }>): string[] {
  const members = services.filter((s) => s.group);
  if (members.length === 0) return [];
  const groups = new Set(members.map((s) => s.group!.name)).size;
  return [`${members.length} of them in ${groups} group${groups === 1 ? '' : 's'}`];
}
