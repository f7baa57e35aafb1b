/**
 * The TCP check through both of its paths — the addon's prober (src/net/tcp-probe.ts, the default when
 * built) and a plain net.Socket (LVSD_TCP_PROBE=socket) — against real listeners on loopback: the same
 * verdicts and reasons from both, deadlines honoured when a server's accept queue is full and its kernel
 * drops the SYN, an abort mid-connect closing the socket, and no file descriptor left behind after
 * thousands of probes.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { TcpCheck } from '../../src/config/types.js';
import { probeTcp, setNativeTcpProbe } from '../../src/health/checkers/tcp.js';
import { closeAfterMs, nativeAvailable, probeNice, reuseSockets, sharedTcpProber, TcpProber } from '../../src/net/index.js';

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
const pick = (r: { ok: boolean; reason: string }) => [r.ok, r.reason];

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
        assert.ok(performance.now() - t0 < 4000, 'did not wait for the 5 s deadline');
        // the addon's engine closes it on its own thread when it takes the cancel: moments later, not in 5 s
        for (const end = Date.now() + 10_000; openFds() > fds && Date.now() < end;) await new Promise((res) => setTimeout(res, 10));
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
      // a timeout long enough that only a lost probe hits it: at host load 10-16 the 2 s default timed some out
      const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => probeTcp(check('127.0.0.1', i % 2 ? dead : port, 20))));
      for (let i = 0; i < results.length; i++) {
        assert.equal(results[i]!.ok, i % 2 === 0, `probe ${i}: ${results[i]!.reason}`);
      }
      // closed on the engine's thread: waited for with a deadline (a leak never gets there), not slept on
      for (const end = Date.now() + 10_000; openFds() > fds + 2 && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
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

describe('the addon\'s watches: outcomes folded in C', { skip: nativeAvailable() ? false : 'native addon not built' }, () => {
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms`);
      await sleep(10);
    }
  }

  test('a watch tells only the outcomes that can change something; every one is counted and shown', async () => {
    const prober = sharedTcpProber()!;
    prober.configure(['EMFILE'], [0.001, 0.01, 1]);
    prober.pullCounts();
    prober.takeHistogram();
    const server = net.createServer((s) => s.destroy());
    const port = await listen(server);
    const told: Array<{ errno: number; run: number }> = [];
    const id = prober.watch({ address: '127.0.0.1', port, intervalMs: 20, timeoutMs: 1000, firstInMs: 0, rise: 2, fall: 3 },
      (errno, _latency, run) => told.push({ errno, run }));
    let counted = 0;
    try {
      // healthy: the first success (the verdict is new) and the second (rise 2) are told, then nothing
      await until(() => (prober.watchState()(id)?.run ?? 0) >= 12, 10_000, '12 successes in a row');
      assert.deepEqual(told, [{ errno: 0, run: 1 }, { errno: 0, run: 2 }]);
      const seen = prober.watchState()(id)!;
      assert.equal(seen.ok, true);
      assert.ok(seen.agoMs >= 0 && seen.agoMs < 5000, `last outcome ${seen.agoMs} ms ago`);
      prober.pullCounts();
      let [ok, failed] = prober.takeCounts(id);
      assert.ok(ok >= 12 && failed === 0, `counted ${ok} connected, ${failed} failed`);
      counted += ok;
      // the server goes away: the first refusal (the verdict flipped) and the third (fall 3) are told
      await close(server);
      await until(() => (prober.watchState()(id)?.run ?? 0) >= 8 && prober.watchState()(id)?.ok === false, 10_000, '8 failures in a row');
      const refused = told.slice(2);
      assert.equal(refused.length, 2, JSON.stringify(told));
      assert.deepEqual(refused.map((t) => t.run), [1, 3]);
      assert.ok(refused.every((t) => t.errno !== 0));
      // a retry sooner (after a local failure) carries the run on
      prober.next(id, 0);
      await until(() => (prober.watchState()(id)?.run ?? 0) >= 9, 10_000, 'the run goes on');
      assert.equal(told.length, 4, 'nothing told after the retry: the run continued, no new errno');
      prober.pullCounts();
      [ok, failed] = prober.takeCounts(id);
      assert.ok(failed >= 9, `${failed} failures counted`);
      counted += ok + failed;
      const h = prober.takeHistogram();
      assert.equal(h.count, counted, 'every outcome is in the latency histogram');
      assert.equal(h.buckets.reduce((a, b) => a + b, 0), counted);
      assert.equal(h.buckets.length, 4);
    } finally {
      prober.unwatch(id);
      if (server.listening) await close(server);
    }
  });

  test('a watch made with a run already counted carries it on: the fall-th failure is told', async () => {
    const prober = sharedTcpProber()!;
    const port = await deadPort();
    const told: number[] = [];
    // two failures were counted before (say, by the previous watch of this check): the next one is the third
    const id = prober.watch({ address: '127.0.0.1', port, intervalMs: 20, timeoutMs: 1000, firstInMs: 0, rise: 1, fall: 3, run: { ok: false, n: 2 } },
      (_errno, _latency, run) => told.push(run));
    try {
      await until(() => (prober.watchState()(id)?.run ?? 0) >= 6, 10_000, 'failures');
      assert.deepEqual(told, [3], 'the first outcome is told (its errno is new) as the third in the run');
    } finally {
      prober.unwatch(id);
    }
  });

  test('hundreds of watches of different intervals, some moved or removed: each probed on its own turns, none starved, none twice', async () => {
    // the engine's turn heap: every probe moves its watch to its next turn in place (native/src/tcp_watch.c)
    const prober = sharedTcpProber()!;
    const port = await deadPort(); // refused at once on loopback: every probe is an outcome within its turn
    const intervals = [30, 50, 90, 170];
    const ids = Array.from({ length: 240 }, (_, i) => prober.watch(
      { address: '127.0.0.1', port, intervalMs: intervals[i % intervals.length]!, timeoutMs: 1000, firstInMs: i % 7, rise: 1, fall: 1 },
      () => undefined));
    const removed = new Set(ids.filter((_, i) => i % 10 === 3));
    const moved = ids.filter((_, i) => i % 10 === 5);
    try {
      prober.pullCounts();
      for (const id of ids) prober.takeCounts(id);
      await sleep(300);
      for (const id of removed) prober.unwatch(id);
      for (const id of moved) prober.next(id, 0); // a retry sooner: the next turn now, then the interval again
      await sleep(100);
      prober.pullCounts(); // what the removed ones had before they went
      for (const id of ids) prober.takeCounts(id);
      const t0 = Date.now();
      await sleep(1200);
      prober.pullCounts();
      const spanMs = Date.now() - t0;
      ids.forEach((id, i) => {
        const [ok, failed] = prober.takeCounts(id);
        const n = ok + failed;
        if (removed.has(id)) {
          assert.equal(n, 0, `watch ${i} was removed, yet probed ${n} times`);
          return;
        }
        const interval = intervals[i % intervals.length]!;
        // a turn starts up to 10 ms early (turns share a wake-up), never twice, and a late one is not made up
        const most = Math.floor((spanMs + 10) / interval) + 2;
        assert.ok(n >= 1 && n <= most, `watch ${i} (every ${interval} ms): ${n} probes in ${spanMs} ms (1..${most})`);
      });
    } finally {
      for (const id of ids) if (!removed.has(id)) prober.unwatch(id);
    }
  });
});

describe('where the addon\'s engine runs', { skip: nativeAvailable() ? false : 'native addon not built' }, () => {
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const hold = (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until) { /* the event loop held: outcomes queue up in the addon */ }
  };

  for (const engine of ['thread', 'no-thread'] as const) {
    test(`${engine === 'thread' ? 'its own thread' : 'a thread that cannot be created: the event loop instead'}: the same verdicts`, async () => {
      const prober = new TcpProber(engine);
      const server = net.createServer((s) => s.destroy());
      const port = await listen(server);
      try {
        assert.equal(prober.stats().thread, engine === 'thread');
        assert.equal((await prober.connect('127.0.0.1', port, 1000)).errno, 0);
        assert.notEqual((await prober.connect('127.0.0.1', await deadPort(), 1000)).errno, 0);
        const told: number[] = [];
        const id = prober.watch({ address: '127.0.0.1', port, intervalMs: 20, timeoutMs: 1000, firstInMs: 0, rise: 2, fall: 2 }, (errno) => told.push(errno));
        for (let i = 0; i < 300 && (prober.watchState()(id)?.run ?? 0) < 5; i++) await sleep(10);
        assert.deepEqual(told, [0, 0], 'the first success and the rise-th');
        prober.unwatch(id);
      } finally {
        prober.close();
        await close(server);
      }
    });
  }

  test('a watch id removed and made again never hears the outcomes of its earlier target, queued while the loop was held', async () => {
    const prober = new TcpProber();
    const server = net.createServer((s) => s.destroy());
    const port = await listen(server);
    const dead = await deadPort();
    const wrong: number[] = [];
    try {
      for (let round = 0; round < 30; round++) {
        // refused every 1 ms while the loop is held: outcomes wait in the addon's queue for JavaScript
        const a = prober.watch({ address: '127.0.0.1', port: dead, intervalMs: 1, timeoutMs: 1000, firstInMs: 0, rise: 1, fall: 1 }, () => undefined);
        hold(5);
        prober.unwatch(a);
        const b = prober.watch({ address: '127.0.0.1', port, intervalMs: 1000, timeoutMs: 1000, firstInMs: 0, rise: 1, fall: 1 }, (errno) => { if (errno !== 0) wrong.push(errno); });
        assert.equal(b, a, 'the id is reused (what makes the test)');
        await sleep(5);
        prober.unwatch(b);
      }
      assert.deepEqual(wrong, [], 'outcomes of the refused target told to the new watch');
    } finally {
      prober.close();
      await close(server);
    }
  });
});

describe('close: reset', () => {
  /** TIME_WAIT sockets on this host toward 127.0.0.1:port (the probing side's, which the director keeps). */
  const timeWaits = (port: number): number => {
    let n = 0;
    for (const file of ['/proc/net/tcp']) {
      for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 4) continue;
        const remotePort = parseInt(f[2]!.split(':')[1]!, 16);
        if (remotePort === port && f[3] === '06') n++; // 06: TIME_WAIT
      }
    }
    return n;
  };
  const paths = [
    { name: 'addon', native: true, skip: nativeAvailable() ? false : 'native addon not built' },
    { name: 'socket', native: false, skip: false },
  ] as const;
  test('addon: RST probes in turn to a server, a closed port and one that never answers: each verdict its own', { skip: nativeAvailable() ? false : 'native addon not built' }, async () => {
    // the addon keeps a reset probe's socket for the next one (a connect to AF_UNSPEC ends the probe): what
    // a refusal, a timeout or a connection left on it must not leak into the probe that reuses it
    setNativeTcpProbe(true);
    const server = net.createServer((s) => { s.on('error', () => undefined); s.resume(); });
    const port = await listen(server);
    const dead = await deadPort();
    const full = await fullListener();
    const reset = (p: number, timeout = 2) => probeTcp({ ...check('127.0.0.1', p, timeout), close: 'reset' });
    try {
      const fds = openFds();
      const before = timeWaits(port);
      for (let i = 0; i < 20; i++) {
        assert.deepEqual(pick(await reset(port)), [true, 'connected'], `round ${i}: the server`);
        assert.deepEqual(pick(await reset(dead)), [false, 'connect ECONNREFUSED'], `round ${i}: the closed port`);
        assert.deepEqual(pick(await reset(port)), [true, 'connected'], `round ${i}: the server after a refusal`);
        if (i % 5 === 0) assert.deepEqual(pick(await reset(full.port, 0.2)), [false, 'timeout after 200ms'], `round ${i}: no answer`);
      }
      // many at once, three times: the sockets kept are reused, never more than were under way at once
      // (the server's side of each connection is in this process too: counted once it has seen the RST)
      const many = async () => {
        for (const r of await Promise.all(Array.from({ length: 300 }, (_, i) => reset(i % 3 ? port : dead)))) assert.equal(r.ok, r.reason === 'connected');
        await new Promise((r) => setTimeout(r, 200));
      };
      for (let i = 0; i < 3; i++) {
        await many();
        assert.ok(openFds() <= fds + 300 + 2, `file descriptors: ${fds} before, ${openFds()} after (at most the 300 under way at once kept)`);
      }
      assert.ok(timeWaits(port) <= before, `no new TIME_WAIT: every connection ended with RST (${before} before, ${timeWaits(port)} after)`);
    } finally {
      full.stop();
      await close(server);
    }
  });

  for (const p of paths) {
    test(`${p.name}: a probe closed with RST leaves no TIME_WAIT; with FIN (the default) it does`, { skip: p.skip }, async () => {
      setNativeTcpProbe(p.native);
      // the server waits for the probe to close first, so the probing side is the one that would keep TIME_WAIT
      const server = net.createServer((s) => { s.on('error', () => undefined); s.on('end', () => s.end()); s.resume(); });
      const port = await listen(server);
      try {
        // the port may be one an earlier test's server had, with that test's TIME_WAITs toward it still
        // counting down (a clean-clone CI saw 30): only new ones count, and old ones only ever expire
        const before = timeWaits(port);
        for (let i = 0; i < 5; i++) assert.equal((await probeTcp({ ...check('127.0.0.1', port), close: 'reset' })).ok, true);
        await new Promise((r) => setTimeout(r, 100));
        const afterReset = timeWaits(port);
        assert.ok(afterReset <= before, `no TIME_WAIT after RST (${before} before, ${afterReset} after)`);
        for (let i = 0; i < 5; i++) assert.equal((await probeTcp(check('127.0.0.1', port))).ok, true);
        await new Promise((r) => setTimeout(r, 100));
        assert.ok(timeWaits(port) > afterReset, `FIN leaves TIME_WAIT (the measure works): ${afterReset} -> ${timeWaits(port)}`);
      } finally {
        setNativeTcpProbe(true);
        await close(server);
      }
    });
  }
});

describe('LVSD_TCP_CLOSE_AFTER_MS', () => {
  test('how long a connected probe holds its socket: 5 ms unless set to an integer 0-1000', () => {
    assert.equal(closeAfterMs({}), 5);
    assert.equal(closeAfterMs({ LVSD_TCP_CLOSE_AFTER_MS: '' }), 5);
    assert.equal(closeAfterMs({ LVSD_TCP_CLOSE_AFTER_MS: '0' }), 0);
    assert.equal(closeAfterMs({ LVSD_TCP_CLOSE_AFTER_MS: '1000' }), 1000);
    for (const bad of ['-1', '1001', '2.5', 'soon']) assert.equal(closeAfterMs({ LVSD_TCP_CLOSE_AFTER_MS: bad }), 5, bad);
  });
});

describe('LVSD_TCP_REUSE', () => {
  test('spare sockets for FIN checks: on unless set to 0', () => {
    assert.equal(reuseSockets({}), true);
    assert.equal(reuseSockets({ LVSD_TCP_REUSE: '' }), true);
    assert.equal(reuseSockets({ LVSD_TCP_REUSE: '1' }), true);
    assert.equal(reuseSockets({ LVSD_TCP_REUSE: '0' }), false);
  });
});

describe('LVSD_PROBE_NICE', () => {
  test('the probing thread\'s nice value: -5 unless set to an integer -20..19', () => {
    assert.equal(probeNice({}), -5);
    assert.equal(probeNice({ LVSD_PROBE_NICE: '' }), -5);
    assert.equal(probeNice({ LVSD_PROBE_NICE: '0' }), 0);
    assert.equal(probeNice({ LVSD_PROBE_NICE: '-20' }), -20);
    assert.equal(probeNice({ LVSD_PROBE_NICE: '19' }), 19);
    for (const bad of ['-21', '20', '2.5', 'high']) assert.equal(probeNice({ LVSD_PROBE_NICE: bad }), -5, bad);
  });

  test('set, it is the probing thread\'s own (the main thread\'s unchanged); refused, the thread stays and the prober says why', { skip: !nativeAvailable() }, async () => {
    const niceOf = (name: string): number[] => readdirSync('/proc/self/task')
      .filter((t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === name)
      .map((t) => Number(readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
    const mainBefore = niceOf('node')[0];
    const was = process.env.LVSD_PROBE_NICE;
    // 3 (a raise of the value, allowed to anyone) so the test means the same as root or not
    process.env.LVSD_PROBE_NICE = '3';
    const p = new TcpProber();
    try {
      await p.connect('127.0.0.1', await deadPort(), 500);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(p.nice, { asked: 3, errno: 0 });
      assert.ok(niceOf('lvsd-tcp-probe').includes(3), `probing threads' nice: ${niceOf('lvsd-tcp-probe').join(', ')}`);
      assert.equal(niceOf('node')[0], mainBefore, 'the main thread was reniced');
      // lowering it again (below 3) needs CAP_SYS_NICE: as nobody it is refused, the thread stays at 3
      if (process.getuid?.() === 0) {
        const out = spawnSync(process.execPath, ['--input-type=module', '-e', `
          const { TcpProber } = await import(${JSON.stringify(new URL('../../src/net/index.js', import.meta.url).href)});
          const p = new TcpProber();
          console.log(JSON.stringify(p.nice));
          p.close();
        `], { env: { ...process.env, LVSD_PROBE_NICE: '-5' }, uid: 65534, gid: 65534, encoding: 'utf8' });
        assert.deepEqual(JSON.parse(out.stdout), { asked: -5, errno: constants.errno.EACCES }, out.stderr);
      }
    } finally {
      p.close();
      if (was === undefined) delete process.env.LVSD_PROBE_NICE;
      else process.env.LVSD_PROBE_NICE = was;
    }
  });
});
