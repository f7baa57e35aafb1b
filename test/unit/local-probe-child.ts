/**
 * `node local-probe-child.js PORT`: uses up every descriptor this process may open, then probes
 * 127.0.0.1:PORT (a listening server) with the TCP check through the addon and through a socket, the HTTP
 * check, the SMTP, UDP and PING checks and an exec check, and prints each result as one JSON line. Run under `prlimit --nofile=N` by
 * health-local-failure.test.ts.
 */
import { openSync, closeSync } from 'node:fs';
import { probe } from '../../src/health/index.js';
import { probeTcpSocket } from '../../src/health/checkers/tcp.js';
import { sharedTcpProber } from '../../src/net/index.js';

const port = Number(process.argv[2]);
const native = sharedTcpProber(); // its epoll descriptor first: a running daemon has it open already
const held: number[] = [];
for (;;) {
  try {
    held.push(openSync('/dev/null', 'r'));
  } catch {
    break; // EMFILE
  }
}
const base = { interval: 1, timeout: 1, rise: 1, fall: 1, address: '127.0.0.1', port };
const results = {
  native: native ? await probe({ ...base, type: 'tcp' }, { address: '127.0.0.1', port }) : null,
  socket: await probeTcpSocket({ address: '127.0.0.1', port, timeout: 1 }),
  http: await probe({ ...base, type: 'http', method: 'GET', path: '/', expectStatus: [200], verify: false } as never, { address: '127.0.0.1', port }),
  smtp: await probe({ ...base, type: 'smtp' }, { address: '127.0.0.1', port }),
  udp: await probe({ ...base, type: 'udp', payload: '00', requireReply: false, minReplyLength: 0, maxReplyLength: 65535 }, { address: '127.0.0.1', port }),
  ping: await probe({ ...base, type: 'ping' }, { address: '127.0.0.1', port }),
  exec: await probe({ ...base, type: 'exec', command: ['/bin/true'], shell: false, dynamicWeight: false } as never, { address: '127.0.0.1', port }),
};
for (const fd of held) closeSync(fd);
process.stdout.write(`${JSON.stringify({ held: held.length, ...results })}\n`);
process.exit(0);
