/**
 * `lvsd run` opens its VRRP sockets at exec (src/vrrp/early-listen.ts) and its VRRP thread adopts them: the
 * Master_Down timer runs from exec, and whatever a peer said before the thread took the socket is heard.
 * Real `lvsd run` (the bundle, or a fixture whose thread takes the sockets late) against keepalived in real
 * namespaces. The runner's side on a virtual clock: test/unit/vrrp-early-socket.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keepalivedSkipReason, Lvsd, sleep, VrrpLab } from './fixtures/vrrp-lab.js';
import { netnsSkipReason } from './netns.js';

const skip = netnsSkipReason();
const VIP = '10.61.0.100';
const BUNDLE = fileURLToPath(new URL('../../bundle/lvsd.cjs', import.meta.url));
const LATE_THREAD = fileURLToPath(new URL('./fixtures/vrrp-late-thread.js', import.meta.url));
const noBundle = !existsSync(BUNDLE) && 'no dist/bundle: run npm run build';

for (const [family, vip] of [['IPv4', VIP], ['IPv6', '2001:db8:61::100']] as const) {
test(`alone on its link, the bundled lvsd run becomes master no earlier than Master_Down_Interval after exec, counted from its socket opened at exec (${family})`, { skip: skip || noBundle }, async () => {
  const vlab = new VrrpLab();
  try {
    const d1 = vlab.node('d1');
    const addrs = vlab.watchAddresses(d1);
    await addrs.ready();
    const t0 = Date.now();
    const lvsd = vlab.lvsd(d1, {
      vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: 51, priority: 100, version: 3, advertInterval: '1s', addresses: [`${vip}/${family === 'IPv4' ? 24 : 64}`] }],
    }, 'd1', { main: BUNDLE });
    const added = await addrs.waitFor((e) => e.added && e.address === vip, 60_000, t0, 'the VIP');
    // Master_Down_Interval at priority 100, 1 s adverts: 3 s + 156/256 s
    assert.ok(added.at - t0 >= 3609, `master ${added.at - t0} ms after exec: earlier than Master_Down_Interval`);
    const early = lvsd.events('vrrp.early_socket');
    assert.deepEqual(early.map((e) => [e.instance, e.complete]), [['VI_1', true]], 'the instance adopted the socket opened at exec');
    assert.ok((early[0]!.listenedMs as number) > 0);
    await lvsd.stop();
  } finally {
    vlab.cleanup();
  }
});
}

test('a master\'s adverts heard before the VRRP thread takes the socket keep lvsd backup, though Master_Down_Interval passed meanwhile', { skip: skip || keepalivedSkipReason() }, async () => {
  const vlab = new VrrpLab();
  try {
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    const k2 = vlab.keepalived(d2, [
      'global_defs {', '  router_id d2', '  vrrp_rt_priority 10', '  vrrp_rlimit_rttime 1000000', '}',
      'vrrp_instance VI_1 {', '  state BACKUP', '  interface eth0', '  virtual_router_id 51', '  priority 200', '  advert_int 0.1', '  version 3',
      '  garp_master_delay 0', '  virtual_ipaddress {', `    ${VIP}/24`, '  }', '}', '',
    ].join('\n'), 'd2');
    await k2.entering('VI_1', 'MASTER', 20_000);
    const addrs = vlab.watchAddresses(d1);
    await addrs.ready();
    const t0 = Date.now();
    // 100 ms adverts: Master_Down_Interval 0.36 s; the thread takes the socket 2 s after it opened
    const socket = join(vlab.dir, 'd1.sock');
    const config = vlab.file('d1.json', JSON.stringify({
      control: { socket },
      vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: 51, priority: 100, version: 3, advertInterval: '100ms', addresses: [`${VIP}/24`] }],
    }));
    const child = vlab.spawn(d1, [process.execPath, LATE_THREAD, config, socket, join(vlab.dir, 'd1.state'), '2000']);
    const lvsd = new Lvsd(vlab, d1, child, socket, 'd1');
    await lvsd.transition('VI_1', 'backup', 30_000);
    const early = lvsd.events('vrrp.early_socket')[0];
    assert.ok(early, `no vrrp.early_socket line:\n${lvsd.raw.slice(-3000)}`);
    assert.equal(early.complete, true);
    assert.ok((early.listenedMs as number) >= 2000, `listened ${String(early.listenedMs)} ms before the thread took it`);
    assert.ok((early.heard as number) > 0, 'the master\'s adverts were queued meanwhile');
    await sleep(2000);
    assert.deepEqual(addrs.items.filter((e) => e.address === VIP && e.added && e.at >= t0), [], 'lvsd never took the VIP from the master it heard');
    assert.deepEqual(lvsd.events('vrrp.transition').map((e) => e.to), ['backup']);
    assert.equal(lvsd.vrrp('VI_1').master?.address, d2.ipv4);
    // and it is no deaf backup: the master leaves, lvsd takes over
    const since = Date.now();
    await k2.stop();
    await lvsd.transition('VI_1', 'master', 15_000, since);
    await lvsd.stop();
  } finally {
    vlab.cleanup();
  }
});
