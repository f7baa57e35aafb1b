/**
 * `node _canary-listen.js ADDRESS PORT`: the health bench's canary real server (bench/health.ts,
 * LVSD_BENCH_HEALTH_CANARY). Reads `on` / `off` lines on stdin: `on` listens (a probe connects: up), `off`
 * closes the listener (a probe is refused: down). Prints JSON lines: `{ event: "ready" }`, `{ event: "on" }`
 * and `{ event: "off" }` once done, and `{ event: "accept", at }` per connection (wall-clock ms), closed at once.
 */
import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';

const [address, portText] = process.argv.slice(2);
const port = Number(portText);
if (!address || !Number.isInteger(port)) {
  process.stderr.write('usage: _canary-listen ADDRESS PORT\n');
  process.exit(2);
}
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
let server: Server | undefined;

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'on' && !server) {
    const s = createServer({ noDelay: true }, (c) => {
      say({ event: 'accept', at: Date.now() });
      c.on('error', () => undefined);
      c.destroy();
    });
    server = s;
    s.listen({ host: address, port, backlog: 64 }, () => say({ event: 'on' }));
  } else if (cmd === 'off' && server) {
    const s = server;
    server = undefined;
    s.close(() => say({ event: 'off' }));
  } else {
    say({ event: cmd === 'on' || cmd === 'off' ? cmd : 'unknown' });
  }
}).on('close', () => process.exit(0));
say({ event: 'ready' });
