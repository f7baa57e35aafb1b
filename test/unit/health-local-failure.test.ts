/**
 * Probes that fail because of the director itself are marked as such, with real descriptor exhaustion: a
 * child process under `prlimit --nofile` uses up its descriptors and probes a healthy local server with
 * every path that opens one (the addon's TCP prober, a socket, HTTP, SMTP, UDP, the ICMP socket, an exec check). Each result says
 * `local: 'EMFILE'`, which the scheduler never counts against the real server (health-scheduler.test.ts,
 * "failures of the director itself").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./local-probe-child.js', import.meta.url));

test('out of descriptors: TCP (addon and socket), HTTP, SMTP, UDP, PING and exec probes fail as local (EMFILE), not as the server\'s fault', async (t) => {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const out = await new Promise<string>((resolve, reject) => {
    execFile('prlimit', ['--nofile=64:64', process.execPath, CHILD, String(port)], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}: ${stderr}`));
      else resolve(stdout);
    });
  });
  const r = JSON.parse(out) as Record<string, { ok: boolean; reason: string; local?: string } | null | number>;
  assert.ok((r.held as number) > 0);
  for (const name of ['native', 'socket', 'http', 'smtp', 'udp', 'ping', 'exec']) {
    const p = r[name] as { ok: boolean; reason: string; local?: string } | null;
    if (p === null) continue; // the addon is not built here
    assert.equal(p.ok, false, name);
    assert.equal(p.local, 'EMFILE', `${name}: ${p.reason}`);
  }
});
