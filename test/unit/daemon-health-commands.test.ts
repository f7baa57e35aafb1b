/**
 * The commands health events run, with their documented environment and nothing of the daemon's, over the
 * in-memory IPVS model with real processes: a service's quorum commands (keepalived's quorum_up /
 * quorum_down) when it gains and loses its quorum, a real server's notify commands (notify_up / notify_down)
 * when its check takes it down and up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WEB, daemonLab, until } from './daemon-lab.js';

test('losing and regaining the quorum runs quorum.down then quorum.up, once each, with LVSD_SERVICE, LVSD_QUORUM, LVSD_UP and PATH only', async (t) => {
  const lab = daemonLab(t);
  const out = (kind: string) => join(lab.dir, `quorum-${kind}.env`);
  const cmd = (kind: string) => ['/bin/sh', '-c', `env | sort > ${out(kind)}.tmp && echo ran >> ${join(lab.dir, 'runs')} && mv ${out(kind)}.tmp ${out(kind)}`];
  lab.write({ services: [{ ...WEB, quorum: { minUp: 3, up: cmd('up'), down: cmd('down') } }] });
  process.env.LVSD_TEST_SECRET = 'must-not-leak';
  t.after(() => delete process.env.LVSD_TEST_SECRET);
  await lab.start();
  await until('the quorum is met at start', 10_000, () => existsSync(out('up')));
  rmSync(out('up'));

  lab.alive.delete('10.0.1.12:8080');
  await until('the quorum-down command ran', 10_000, () => existsSync(out('down')));
  assert.equal(readFileSync(out('down'), 'utf8').split('\n').filter((l) => l && !l.startsWith('PWD=') && !l.startsWith('SHLVL=') && !l.startsWith('_=')).join('\n'),
    ['LVSD_QUORUM=down', 'LVSD_SERVICE=web', 'LVSD_UP=2', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'].join('\n'));
  lab.alive.add('10.0.1.12:8080');
  await until('the quorum-up command ran', 10_000, () => existsSync(out('up')));
  assert.match(readFileSync(out('up'), 'utf8'), /^LVSD_QUORUM=up$/m);
  assert.match(readFileSync(out('up'), 'utf8'), /^LVSD_UP=3$/m);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(readFileSync(join(lab.dir, 'runs'), 'utf8').split('\n').filter(Boolean).length, 3, 'up at start, down, up: nothing more');
  assert.ok(lab.logs.some((l) => l.event === 'health.quorum_command' && l.quorum === 'down' && l.exitCode === 0));
});

test('a real server going down and up runs its notify.down then notify.up, with LVSD_SERVICE, LVSD_REAL_SERVER, LVSD_STATE, LVSD_REASON and PATH only; its neighbours run nothing', async (t) => {
  const lab = daemonLab(t);
  const runs = join(lab.dir, 'runs');
  const cmd = (kind: string) => ['/bin/sh', '-c', `env | sort > ${join(lab.dir, kind)}.tmp && echo ${kind} >> ${runs} && mv ${join(lab.dir, kind)}.tmp ${join(lab.dir, kind)}.env`];
  lab.write({ services: [{ ...WEB, realServers: WEB.realServers.map((r) => r.address === '10.0.1.12' ? { ...r, notify: { up: cmd('up'), down: cmd('down') } } : r) }] });
  process.env.LVSD_TEST_SECRET = 'must-not-leak';
  t.after(() => delete process.env.LVSD_TEST_SECRET);
  await lab.start();
  // it starts down (initialState) and its first probe takes it up
  await until('notify.up ran at its first success', 10_000, () => existsSync(join(lab.dir, 'up.env')));
  rmSync(join(lab.dir, 'up.env'));

  lab.alive.delete('10.0.1.12:8080');
  await until('notify.down ran', 10_000, () => existsSync(join(lab.dir, 'down.env')));
  assert.equal(readFileSync(join(lab.dir, 'down.env'), 'utf8').split('\n').filter((l) => l && !l.startsWith('PWD=') && !l.startsWith('SHLVL=') && !l.startsWith('_=')).join('\n'),
    ['LVSD_REAL_SERVER=10.0.1.12:8080', 'LVSD_REASON=connect ECONNREFUSED', 'LVSD_SERVICE=web', 'LVSD_STATE=down',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'].join('\n'));
  lab.alive.add('10.0.1.12:8080');
  await until('notify.up ran again', 10_000, () => existsSync(join(lab.dir, 'up.env')));
  assert.match(readFileSync(join(lab.dir, 'up.env'), 'utf8'), /^LVSD_STATE=up$/m);
  lab.alive.delete('10.0.1.13:8080');
  await until('10.0.1.13 is down', 10_000, () => lab.logs.some((l) => l.event === 'health.change' && l.realServer === '10.0.1.13:8080' && l.to === 'down'));
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(readFileSync(runs, 'utf8').split('\n').filter(Boolean), ['up', 'down', 'up'], 'its own transitions only, once each');
  assert.ok(lab.logs.some((l) => l.event === 'health.notify_command' && l.realServer === '10.0.1.12:8080' && l.state === 'down' && l.exitCode === 0));
});
