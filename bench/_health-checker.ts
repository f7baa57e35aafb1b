/**
 * lvsd's health checker alone, natively on a host (no IPVS, no VRRP, no keepalived): the CPU and RSS of a
 * process running one HealthScheduler with the real checkers (TCP checks as addon watches) over N distinct
 * TCP targets every INTERVAL s, to compare two builds of lvsd under the same load. Not run by run.js (its
 * name starts with _); docs/benchmarks.md has the figures it gave.
 *
 *   cc -O2 -o /tmp/sink bench/tcp-sink.c
 *   ip netns add hc && ip -n hc link set lo up
 *   ip netns exec hc sysctl -qw net.core.somaxconn=4096 net.ipv4.ip_local_port_range="1024 65000"
 *   sleep 1e6 | ip netns exec hc /tmp/sink 8000 8004 >/dev/null &
 *   ip netns exec hc node [--max-semi-space-size=1] dist/bench/_health-checker.js ROOT N INTERVAL_S WINDOW_S [reset]
 *
 * ROOT is the checkout whose dist/ is measured (an older build can be compared with this script). The
 * targets are 127.1.S.R (every 127/8 address is local) on ports 8000 + S/256, 100 per service; with
 * LVSD_HC_NET=A.B.C they are A.B.C.R on port 8000 + S instead (the health bench's sink across a veth).
 */
const [root, nArg, intervalArg, windowArg, close] = process.argv.slice(2);
if (!root || !nArg) {
  process.stderr.write('usage: _health-checker.js ROOT N INTERVAL_S WINDOW_S [reset]\n');
  process.exit(2);
}
const { HealthScheduler } = (await import(`${root}/dist/src/health/index.js`)) as typeof import('../src/health/index.js');
const N = Number(nArg), INTERVAL = Number(intervalArg ?? 1), WINDOW = Number(windowArg ?? 30);
const PER = 100;
const NET = process.env.LVSD_HC_NET;
const services = Array.from({ length: Math.ceil(N / PER) }, (_, s) => ({
  name: `s${s}`, origin: { file: 'bench', pointer: '' },
  spec: { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: `10.92.${s >> 8}.${s & 255}`, port: 80 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' },
  realServers: Array.from({ length: Math.min(PER, N - s * PER) }, (_, r) => {
    const address = NET ? `${NET}.${r + 1}` : `127.1.${s & 255}.${r + 1}`, port = NET ? 8000 + s : 8000 + (s >> 8);
    return {
      spec: { family: 'ipv4', address, port, forwarding: 'nat', weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 },
      healthCheck: { type: 'tcp', interval: INTERVAL, timeout: 1, rise: 1, fall: 2, address, port, ...(close === 'reset' ? { close: 'reset' } : {}) },
    };
  }),
  onFailure: 'inhibit', slowStart: 0, initialState: 'down',
}));
let results = 0;
const h = new HealthScheduler({ services, health: { execUser: 'nobody', maxConcurrent: 65536, execOutputLimit: 4096 } } as never, {
  onProbeResult: () => { results++; },
  onProbeCounts: (_c, _t, ok, failed) => { results += ok + failed; },
});
const take = () => (h as { takeCounts?: () => void }).takeCounts?.(); // an older build has none
h.start();
await new Promise((r) => setTimeout(r, (INTERVAL + 2) * 1000));
take();
results = 0;
const c0 = process.cpuUsage();
const t0 = Date.now();
await new Promise((r) => setTimeout(r, WINDOW * 1000));
take();
const c = process.cpuUsage(c0);
const seconds = (Date.now() - t0) / 1000;
const rss = process.memoryUsage().rss;
const up = h.snapshot().services.reduce((a, s) => a + s.up, 0);
const cpu = (c.user + c.system) / 1e6;
process.stdout.write(`${JSON.stringify({
  root, servers: N, intervalS: INTERVAL, close: close ?? 'fin', probesPerS: Math.round(results / seconds), up, cpuS: +cpu.toFixed(2),
  msPerProbe: +((cpu * 1000) / results).toFixed(4), userMsPerProbe: +(c.user / 1000 / results).toFixed(4), rssMiB: +(rss / 1048576).toFixed(1),
})}\n`);
await h.stop();
process.exit(0);
