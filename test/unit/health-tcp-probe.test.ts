/**
 * The TCP check through both of its paths — the addon's prober (src/net/tcp-probe.ts, the default when
 * built) and a plain net.Socket (LVSD_TCP_PROBE=socket) — against real listeners on loopback: the same
 * verdicts and reasons from both, deadlines honoured when a server's accept queue is full and its kernel
 * drops the SYN, an abort mid-connect closing the socket, and no file descriptor left behind after
 * thousands of probes.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { TcpCheck } from '../../src/config/types.js';
import { probeTcp, setNativeTcpProbe } from '../../src/health/checkers/tcp.js';
import { nativeAvailable, sharedTcpProber } from '../../src/net/index.js';

const check = (address: string, port: number, timeout = 2): TcpCheck => ({ type: 'tcp', address, port, timeout, interval: 5, rise: 1, fall: 1 });

function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port)));
}
function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
async function deadPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await close(s);
  return port;
}
const openFds = () => readdirSync('/proc/self/fd').length;

/**
 * A listener that never accepts, with its accept queue already full (backlog 0 holds one connection,
 * made here): the kernel drops further SYNs, so a connect hangs until the prober's deadline.
 */
async function fullListener(): Promise<{ port: number; stop(): void }> {
  const py = 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)\n';
  const child: ChildProcess = spawn('python3', ['-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
    child.once('exit', (code) => reject(new Error(`python3 listener exited ${code}`)));
  });
  const fillers: net.Socket[] = [];
  // fill the queue: connections complete until it is full, then one hangs
  for (let i = 0; i < 4; i++) fillers.push(net.connect(port, '127.0.0.1').on('error', () => undefined));
  await new Promise((r) => setTimeout(r, 300));
  return { port, stop: () => { for (const f of fillers) f.destroy(); child.kill('SIGKILL'); } };
}

const paths = [
  { name: 'the addon prober', native: true, skip: nativeAvailable() ? false : 'native addon not built (npm ci)' },
  { name: 'a net.Socket', native: false, skip: false },
] as const;

for (const path of paths) {
  describe(`tcp check through ${path.name}`, { skip: path.skip }, () => {
    let server: net.Server;
    let port: number;
    let accepted = 0;
    before(async () => {
      setNativeTcpProbe(path.native);
      server = net.createServer((s) => {
        accepted++;
        s.on('error', () => undefined);
        s.end();
      });
      port = await listen(server);
    });
    after(async () => {
      setNativeTcpProbe(true);
      await close(server);
    });

    test('up when the port accepts (the server sees the connection), down with ECONNREFUSED when nothing listens', async () => {
      const before = accepted;
      const up = await probeTcp(check('127.0.0.1', port));
      assert.deepEqual([up.ok, up.reason], [true, 'connected']);
      assert.ok(up.latencyMs >= 0 && up.latencyMs < 2000, `latency ${up.latencyMs}`);
      for (let i = 0; i < 50 && accepted === before; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(accepted, before + 1, 'the listener accepted exactly one connection');
      const down = await probeTcp(check('127.0.0.1', await deadPort()));
      assert.deepEqual([down.ok, down.reason], [false, 'connect ECONNREFUSED']);
    });

    test('IPv6 loopback works the same', async (t) => {
      const s6 = net.createServer((s) => s.end());
      const p6 = await listen(s6, '::1').catch(() => undefined);
      if (p6 === undefined) return t.skip('no ::1 here');
      try {
        assert.equal((await probeTcp(check('::1', p6))).ok, true);
      } finally {
        await close(s6);
      }
    });

    test('a server whose accept queue is full (SYN dropped) fails with the timeout, on time', async () => {
      const full = await fullListener();
      try {
        const t0 = performance.now();
        const r = await probeTcp(check('127.0.0.1', full.port, 0.3));
        const took = performance.now() - t0;
        assert.deepEqual([r.ok, r.reason], [false, 'timeout after 300ms']);
        assert.ok(took >= 290 && took < 1500, `resolved after ${took.toFixed(0)} ms`);
      } finally {
        full.stop();
      }
    });

    test('an abort while connecting resolves at once as aborted and closes the socket', async () => {
      const full = await fullListener();
      try {
        const fds = openFds();
        const ctl = new AbortController();
        const pending = probeTcp(check('127.0.0.1', full.port, 5), ctl.signal);
        setTimeout(() => ctl.abort(), 100);
        const t0 = performance.now();
        const r = await pending;
        assert.deepEqual([r.ok, r.reason], [false, 'aborted']);
        assert.ok(performance.now() - t0 < 1000, 'did not wait for the 5 s deadline');
        assert.ok(openFds() <= fds, `file descriptors: ${fds} before, ${openFds()} after`);
      } finally {
        full.stop();
      }
    });

    test('a caller that has already aborted gets an immediate failure, not a connection', async () => {
      const before = accepted;
      const ctl = new AbortController();
      ctl.abort();
      const r = await probeTcp(check('127.0.0.1', port), ctl.signal);
      assert.deepEqual([r.ok, r.reason], [false, 'aborted']);
      await new Promise((res) => setTimeout(res, 100));
      assert.equal(accepted, before);
    });

    test('2,000 probes at once, half to a closed port: every verdict right, no descriptor left open', async () => {
      const dead = await deadPort();
      const fds = openFds();
      const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => probeTcp(check('127.0.0.1', i % 2 ? dead : port))));
      for (let i = 0; i < results.length; i++) {
        assert.equal(results[i]!.ok, i % 2 === 0, `probe ${i}: ${results[i]!.reason}`);
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(openFds() <= fds + 2, `file descriptors: ${fds} before, ${openFds()} after`);
    });
  });
}

describe('the addon prober itself', { skip: nativeAvailable() ? false : 'native addon not built' }, () => {
  test('keeps the event loop alive only while probes are under way', async () => {
    const prober = sharedTcpProber()!;
    const server = net.createServer((s) => s.end());
    const port = await listen(server);
    const outcome = await prober.connect('127.0.0.1', port, 1000);
    assert.equal(outcome.errno, 0);
    assert.equal(prober.underWay, 0);
    await close(server);
    // the test process exiting by itself (node:test waits for the loop) is the rest of the proof
  });
});
