/**
 * The addon's TCP engine on its own thread (native/src/tcp_runner.c): probes keep their interval while
 * the JavaScript event loop is held (a drift read, a reload's parse, a status build, GC), as seen by a
 * separate listener process that stamps each connection's arrival; and a prober closed (or collected)
 * with probes under way neither crashes nor leaves a descriptor or a thread behind.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsSkipReason } from './netns.js';

const skip = netnsSkipReason();
const HOLD = fileURLToPath(new URL('./fixtures/tcp-hold-probe.js', import.meta.url));
const CLOSE = fileURLToPath(new URL('./fixtures/tcp-close-probe.js', import.meta.url));

/** Accepts on each port and prints "monotonic-seconds port" per connection (a process of its own). */
const LISTENER = [
  'import selectors, socket, sys, time',
  'sel = selectors.DefaultSelector()',
  'for p in sys.argv[1].split(","):',
  '    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  '    s.bind(("127.0.0.1", int(p))); s.listen(128); sel.register(s, selectors.EVENT_READ, int(p))',
  'print("ready", flush=True)',
  'while True:',
  '    for key, _ in sel.select():',
  '        c, _ = key.fileobj.accept(); t = time.monotonic(); c.close()',
  '        print(f"{t:.6f} {key.data}", flush=True)',
].join('\n');

describe('the TCP engine on its own thread', { skip }, () => {
  const lab = skip ? undefined : new NetnsLab();
  after(() => lab?.cleanup());

  /** Per port, the largest gap between arrivals that overlaps the hold [start, end]. */
  async function run(engine: 'thread' | 'loop', label: string): Promise<{ gaps: number[]; thread: boolean; arrivals: number }> {
    const ns = lab!.namespace(label);
    const ports = [7101, 7102, 7103, 7104];
    const listener = lab!.spawn(ns, ['python3', '-c', LISTENER, ports.join(',')]);
    const lines: string[] = [];
    let buf = '';
    listener.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
    });
    for (let i = 0; i < 100 && !lines.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(lines.includes('ready'), 'listener started');
    const out = JSON.parse(lab!.exec(ns, [process.execPath, HOLD, engine, ports.join(','), '200', '2000'])) as { holdStart: number; holdEnd: number; thread: boolean };
    await new Promise((r) => setTimeout(r, 100));
    listener.kill('SIGKILL');
    const byPort = new Map<number, number[]>();
    for (const l of lines) {
      const [t, p] = l.split(' ');
      if (p === undefined) continue;
      byPort.set(Number(p), [...(byPort.get(Number(p)) ?? []), Number(t)]);
    }
    const gaps = ports.map((p) => {
      const ts = byPort.get(p) ?? [];
      let worst = 0;
      for (let i = 1; i < ts.length; i++) {
        if (ts[i]! > out.holdStart && ts[i - 1]! < out.holdEnd) worst = Math.max(worst, ts[i]! - ts[i - 1]!);
      }
      return Math.round(worst * 1000);
    });
    return { gaps, thread: out.thread, arrivals: [...byPort.values()].reduce((a, v) => a + v.length, 0) };
  }

  test('probes every 200 ms keep their interval while the event loop is held 2 s (a separate listener stamps them)', async (ctx) => {
    const t = await run('thread', 'hold');
    ctx.diagnostic(`own thread: largest gap per port across the hold ${t.gaps.join(', ')} ms, ${t.arrivals} arrivals`);
    assert.equal(t.thread, true, 'the engine ran on its own thread');
    // 4 watches x (0.6 s before + 2 s held + 0.6 s after) / 0.2 s: ~60 arrivals
    assert.ok(t.arrivals >= 40, `${t.arrivals} arrivals`);
    for (const gap of t.gaps) assert.ok(gap > 0 && gap < 600, `largest gap across the hold per port (ms): ${t.gaps.join(', ')}`);
    // the measure works: the engine on the event loop (the fallback) stops for the whole hold
    const l = await run('loop', 'hold-loop');
    ctx.diagnostic(`event loop: largest gap per port across the hold ${l.gaps.join(', ')} ms`);
    assert.equal(l.thread, false);
    assert.ok(Math.min(...l.gaps) >= 1500, `on the event loop the gaps span the hold (ms): ${l.gaps.join(', ')}`);
  });

  test('a prober closed or collected with 250 probes under way: no crash, no descriptor or thread left', () => {
    const ns = lab!.namespace('close');
    // SYNs to port 7200 vanish: every probe stays under way until it is closed
    lab!.exec(ns, ['nft', 'add table inet drop7200']);
    lab!.exec(ns, ['nft', 'add chain inet drop7200 out { type filter hook output priority 0 ; }']);
    lab!.exec(ns, ['nft', 'add rule inet drop7200 out tcp dport 7200 drop']);
    const out = JSON.parse(lab!.exec(ns, [process.execPath, '--expose-gc', CLOSE, '7200', '10'])) as {
      before: { fds: number; threads: number }; after: { fds: number; threads: number }; aborted: number; other: number; underWayAtClose: number;
    };
    assert.ok(out.underWayAtClose >= 10 * 200, `probes under way when closed: ${out.underWayAtClose}`);
    assert.equal(out.aborted, 5 * 200, `every one-off of a closed prober resolves as aborted (${out.other} otherwise)`);
    assert.ok(out.after.fds <= out.before.fds, `descriptors: ${out.before.fds} before, ${out.after.fds} after`);
    assert.ok(out.after.threads <= out.before.threads, `threads: ${out.before.threads} before, ${out.after.threads} after`);
  });
});
