/** The HTTP listener of the metrics (and the status page's routes): GET /metrics on host:port. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { LvsdError } from '../errors.js';
import { METRICS_LIMITS, limitConnections } from './conn-limits.js';

/** "127.0.0.1:9100", "[::1]:9100", ":9100" (every address) -> host and port. */
export function parseListen(listen: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new LvsdError('LVSD_CONFIG_INVALID', `metrics listen address ${JSON.stringify(listen)} is not host:port`);
  }
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

/**
 * Serves GET /metrics from the registry, and the status page's routes when given (`routes.handle` answers
 * the paths it knows and returns false for others). Rejects with LvsdError when the address cannot be bound.
 */
export async function startMetricsServer(
  listen: string, registry: Registry, routes?: { handle(req: IncomingMessage, res: ServerResponse): boolean },
): Promise<{ close(): Promise<void>; port: number }> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://lvsd').pathname;
    if (path !== '/metrics' && routes?.handle(req, res)) return;
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('lvsd serves its metrics at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('use GET\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${(e as Error).message}\n`),
    );
  });
  limitConnections(server, METRICS_LIMITS);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new LvsdError('LVSD_CONFIG_INVALID', `cannot serve metrics on ${listen}: ${e.message}`, { cause: e })));
    server.listen({ host, port }, resolve);
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
