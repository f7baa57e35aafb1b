/**
 * A burst of link notifications while lvsd is not reading overflows its netlink socket (ENOBUFS). lvsd must
 * live through it, keep its VIP, say so (log + metric), re-read the links (a change lost in the overflow is
 * still seen), and keep watching afterwards.
 *
 * The burst: the daemon is SIGSTOPped, 500 veth pairs are created in its namespace (about 1,000 RTM_NEWLINK,
 * 1.5 MB, against the kernel's default 208 KiB receive buffer), then a tracked interface goes down (that
 * notification is dropped: the buffer is full), then SIGCONT. Before the fix the `netlink` package's binding
 * threw from its uv_poll callback here: exit 134, "terminate called after throwing an instance of
 * 'Napi::Error'", and the VIP stayed on the interface.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { sleep, VrrpLab, START_MS } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason();
const VIP = '10.63.0.100';

/** GET /metrics inside the namespace; the value of one series, or undefined. */
function metric(vlab: VrrpLab, ns: string, series: string): number | undefined {
  const script = `require('http').get('http://127.0.0.1:9650/metrics', (r) => { let b=''; r.on('data', (c) => b += c); r.on('end', () => process.stdout.write(b)); }).on('error', () => process.exit(1))`;
  const r = vlab.lab.execResult(ns, [process.execPath, '-e', script]);
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('netlink overrun on the link notification socket', { skip }, () => {
  test('a VRRP master survives 500 new veth pairs while stopped: keeps its VIP, logs, counts, re-reads the links, still sees link-down', async (t) => {
    const vlab = new VrrpLab('10.63.0');
    try {
      const d1 = vlab.node('d1');
      vlab.localLink(d1, 't0');
      const l1 = vlab.lvsd(d1, {
        vrrp: [{
          name: 'VI_1', interface: 'eth0', vrid: 63, priority: 150, version: 3, advertInterval: '100ms',
          addresses: [`${VIP}/24`], garp: { count: 1, interval: '50ms', refresh: '0s' },
          trackInterfaces: [{ name: 't0', weight: -10 }],
        }],
        metrics: { listen: '127.0.0.1:9650' },
      }, 'd1');
      await l1.transition('VI_1', 'master', START_MS);
      assert.ok(vlab.holds(d1, VIP));
      assert.deepEqual(l1.vrrp('VI_1').trackInterfaces, [{ name: 't0', up: true, weight: -10 }]);

      l1.signal('SIGSTOP');
      const burst = Array.from({ length: 500 }, (_, i) => `link add v${i} type veth peer name w${i}`).join('\n');
      const r = vlab.lab.execResult(d1.ns, ['ip', '-batch', '-'], `${burst}\nlink set t0 down\n`);
      assert.equal(r.status, 0, r.stderr);
      const t0 = Date.now();
      l1.signal('SIGCONT');

      const overrun = await l1.waitFor((m) => m.event === 'net.netlink_overrun', 10_000, 0, 'net.netlink_overrun');
      assert.equal(overrun.socket, 'links');
      const resync = await l1.waitFor((m) => m.event === 'net.netlink_resync', 10_000, 0, 'net.netlink_resync');
      assert.ok((resync.links as number) >= 1003, `the re-read saw ${String(resync.links)} links`);
      t.diagnostic(`re-read of ${String(resync.links)} links: ${String(resync.ms)} ms, ${String(resync.changed)} changed; overrun seen ${overrun.at - t0} ms after SIGCONT`);
      // t0 going down was lost in the overflow: only the re-read can have told lvsd
      await l1.waitFor((m) => m.event === 'vrrp.link' && m.interface === 't0' && m.up === false, 10_000, t0, 't0 down');
      assert.deepEqual(l1.vrrp('VI_1').trackInterfaces, [{ name: 't0', up: false, weight: -10 }]);

      assert.equal(l1.exitCode, undefined, `lvsd exited (${String(l1.exitCode)}): ${l1.stderr}`);
      assert.doesNotMatch(l1.stderr, /terminate called|Napi::Error/);
      const s = l1.vrrp('VI_1');
      assert.equal(s.state, 'master');
      assert.equal(s.priority.effective, 140);
      assert.ok(vlab.holds(d1, VIP), 'the VIP is still on eth0');

      // the worker sends its counts about once a second
      let overruns: number | undefined;
      for (let i = 0; i < 50 && !(overruns && overruns >= 1); i++) {
        overruns = metric(vlab, d1.ns, 'lvsd_netlink_overruns_total{socket="links"}');
        if (!(overruns && overruns >= 1)) await sleep(100);
      }
      assert.ok(overruns !== undefined && overruns >= 1, `lvsd_netlink_overruns_total{socket="links"} = ${String(overruns)}`);

      // and the socket still reads: a later link-down of its own interface is seen at once
      const before = Date.now();
      vlab.ip(d1, 'link set eth0 down');
      await l1.transition('VI_1', 'fault', 5000, before);
      await vlab.until(() => !vlab.holds(d1, VIP), 'the VIP left eth0');
      assert.ok(!vlab.holds(d1, VIP), 'the VIP left eth0 with the fault');
      assert.equal(await l1.stop(5000), 0, l1.stderr);
    } finally {
      vlab.cleanup();
    }
  });
});
