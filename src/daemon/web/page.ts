/**
 * The status page's HTTP routes, mounted on the metrics listener when `metrics.statusPage` is true:
 *   GET /              the page (web/status/index.html)
 *   GET /app.js, /style.css, /favicon.svg
 *   GET /state.json[?since=N]   the PageState (view.ts) of the latest sample, with the sparkline buckets
 *                               after bucket N; ETag per sample, gzip when the browser accepts it
 * Read-only: every other method is 405. Every answer carries a strict Content-Security-Policy (scripts,
 * styles, images and fetches from this origin only; no inline script or style, no frames, no forms).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { LvsdError } from '../../errors.js';
import type { Sampler } from './sampler.js';
import { pageState } from './view.js';

export const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
  // no Cross-Origin-Opener-Policy: browsers ignore it (with a console error) on plain HTTP to an address
};

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** Bodies above this size are gzipped for browsers that accept it. */
const GZIP_MIN = 1024;

interface Body { raw: Buffer; gz: Buffer | undefined; etag: string; type: string }

/** The page's files: web/status above this module (the package root), as for schemas/. */
export function assetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'web', 'status');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    dir = dirname(dir);
  }
  throw new LvsdError('LVSD_CONFIG_UNREADABLE', `cannot find the status page's files (web/status) above ${fileURLToPath(import.meta.url)}`);
}

function body(raw: Buffer, type: string): Body {
  const etag = `"${createHash('sha256').update(raw).digest('base64url').slice(0, 16)}"`;
  return { raw, gz: raw.length >= GZIP_MIN ? gzipSync(raw, { level: 6 }) : undefined, etag, type };
}

export interface StatusPageRoutes {
  /** Answers the request if the path is one of the page's; false otherwise (the caller answers 404). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export function statusPageRoutes(sampler: Sampler, dir = assetsDir()): StatusPageRoutes {
  const assets = new Map<string, Body>();
  for (const [path, a] of Object.entries(ASSETS)) {
    let raw: Buffer;
    try {
      raw = readFileSync(join(dir, a.file));
    } catch (e) {
      throw new LvsdError('LVSD_CONFIG_UNREADABLE', `cannot read the status page's ${a.file}: ${(e as Error).message}`, { cause: e });
    }
    assets.set(path, body(raw, a.type));
  }
  // state.json bodies of the current sample, by `since`: browsers polling together share one rendering
  let cacheSeq = -1;
  const cache = new Map<number, Body>();
  const state = (since: number): Body => {
    if (cacheSeq !== sampler.seq) {
      cache.clear();
      cacheSeq = sampler.seq;
    }
    let b = cache.get(since);
    if (!b) {
      const snap = sampler.latest;
      const doc = snap
        ? pageState(snap, { events: sampler.events.list().slice(0, 20), history: sampler.history.since(since), sampleMs: sampler.periodMs })
        : { v: 1, starting: true, sampleMs: sampler.periodMs };
      b = body(Buffer.from(JSON.stringify(doc)), 'application/json');
      if (cache.size > 8) cache.clear();
      cache.set(since, b);
    }
    return b;
  };

  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://lvsd');
      const asset = assets.get(url.pathname);
      if (!asset && url.pathname !== '/state.json') return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { ...SECURITY_HEADERS, 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('the status page is read-only\n');
        return true;
      }
      const sinceText = url.searchParams.get('since');
      const since = sinceText !== null && /^\d{1,15}$/.test(sinceText) ? Number(sinceText) : 0;
      send(req, res, asset ?? state(since));
      return true;
    },
  };
}

function send(req: IncomingMessage, res: ServerResponse, b: Body): void {
  const headers: Record<string, string> = { ...SECURITY_HEADERS, 'content-type': b.type, etag: b.etag, 'cache-control': 'no-cache', vary: 'accept-encoding' };
  if (req.headers['if-none-match'] === b.etag) {
    res.writeHead(304, headers).end();
    return;
  }
  const gzip = b.gz !== undefined && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const data = gzip ? b.gz! : b.raw;
  if (gzip) headers['content-encoding'] = 'gzip';
  headers['content-length'] = String(data.length);
  res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : data);
}
