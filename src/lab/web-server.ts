/**
 * A lab real server: an HTTP server that answers every request with its own name, one line.
 * Connections are kept alive for as long as the client likes (the lab's long-lived connection).
 *
 *   node dist/src/lab/web-server.js NAME [PORT]
 */
import { createServer } from 'node:http';

const name = process.argv[2] ?? 'web';
const port = Number(process.argv[3] ?? 80);

const server = createServer((req, res) => {
  const body = `${name}\n`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-served-by': name });
  res.end(body);
  req.resume();
});
server.keepAliveTimeout = 30 * 60_000;
server.headersTimeout = 30 * 60_000 + 1000;
server.requestTimeout = 0;
server.listen(port, '0.0.0.0', () => process.stdout.write(JSON.stringify({ event: 'listening', name, port }) + '\n'));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => process.exit(0));
