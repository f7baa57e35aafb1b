/**
 * The scheduler with the SMTP, UDP and PING checkers and real time, against real servers on loopback: an
 * SMTP server that speaks the dialogue and a UDP echo server come up after rise, a UDP port with nothing
 * listening stays down (ICMP port unreachable), 127.0.0.1 answers echo; the snapshot (what `lvsd status`
 * shows) names each check type with its last result, and every result reaches onProbeResult (the metrics).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { test } from 'node:test';
import type { HealthCheckConfig, HealthGlobalConfig, ServiceConfig } from '../../src/config/types.js';
import type { DestSpec } from '../../src/ipvs/types.js';
import { HealthScheduler, type ProbeResult } from '../../src/health/index.js';
import { nativeAvailable } from '../../src/net/index.js';

const health: HealthGlobalConfig = { execUser: 'nobody', maxConcurrent: 1024, execOutputLimit: 4096 };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const timing = { interval: 0.5, timeout: 0.4, rise: 2, fall: 2, address: '127.0.0.1' };

function service(checks: Array<{ port: number; check: HealthCheckConfig }>): ServiceConfig {
  const dest = (port: number): DestSpec => ({
    family: 'ipv4', address: '127.0.0.1', port, forwarding: 'nat', weight: 10,
    upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
  });
  return {
    name: 'mixed',
    origin: { file: 't.json', pointer: '/services/0' },
    spec: { key: { kind: 'addr', family: 'ipv4', protocol: 'udp', address: '192.0.2.10', port: 53 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' },
    realServers: checks.map(({ port, check }) => ({ spec: dest(port), healthCheck: check })),
    onFailure: 'inhibit',
    slowStart: 0,
    initialState: 'down',
  };
}

test('smtp, udp and ping checks drive weights; status shows each type and its last result', { skip: !nativeAvailable() && 'addon not built' }, async () => {
  const smtp = net.createServer((s) => {
    s.on('error', () => {});
    s.write('220 ready\r\n');
    s.on('data', (d) => { if (/^HELO /m.test(d.toString())) s.write('250 ok\r\n'); });
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
  const smtpPort = (smtp.address() as net.AddressInfo).port;
  const echo = dgram.createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  const echoPort = await new Promise<number>((r) => echo.bind(0, '127.0.0.1', () => r(echo.address().port)));
  const closed = dgram.createSocket('udp4');
  const closedPort = await new Promise<number>((r) => closed.bind(0, '127.0.0.1', () => r(closed.address().port)));
  await new Promise<void>((r) => closed.close(() => r()));
  const udp = { payload: '6c767364', requireReply: true, expectReply: '6c76', minReplyLength: 0, maxReplyLength: 65535 };

  const results: Array<{ type: string; result: ProbeResult }> = [];
  const weights = new Map<number, number>();
  const s = new HealthScheduler({
    services: [service([
      { port: smtpPort, check: { ...timing, type: 'smtp', port: smtpPort, heloName: 'lb.test' } },
      { port: echoPort, check: { ...timing, type: 'udp', port: echoPort, ...udp } },
      { port: closedPort, check: { ...timing, type: 'udp', port: closedPort, ...udp, requireReply: false, expectReply: undefined } },
      { port: 1, check: { ...timing, type: 'ping', port: 1 } },
    ])],
    health,
  }, {
    onProbeResult: (c, _t, result) => results.push({ type: c.type, result }),
    onChange: (_svc, dests) => { for (const d of dests) weights.set(d.port, d.weight); },
  });
  s.start();
  try {
    const t0 = Date.now();
    while (!(weights.get(smtpPort) === 10 && weights.get(echoPort) === 10 && weights.get(1) === 10) && Date.now() - t0 < 5000) await sleep(20);
    await sleep(1200); // the closed port gets several probes
    const rs = s.snapshot().services[0]!.realServers;
    const by = (port: number) => rs.find((r) => r.realServer.endsWith(`:${port}`))!;
    assert.equal(by(smtpPort).check, 'smtp');
    assert.equal(by(smtpPort).status, 'up', JSON.stringify(by(smtpPort)));
    assert.equal(by(smtpPort).lastResult?.reason, 'HELO 250');
    assert.equal(by(echoPort).check, 'udp');
    assert.equal(by(echoPort).status, 'up', JSON.stringify(by(echoPort)));
    assert.equal(by(echoPort).lastResult?.reason, 'reply 4 bytes');
    assert.equal(by(closedPort).status, 'down');
    assert.equal(by(closedPort).lastResult?.reason, 'udp ECONNREFUSED');
    assert.equal(weights.get(closedPort) ?? 0, 0);
    assert.equal(by(1).check, 'ping');
    assert.equal(by(1).status, 'up', JSON.stringify(by(1)));
    assert.equal(by(1).lastResult?.reason, 'echo reply');
    for (const type of ['smtp', 'udp', 'ping']) assert.ok(results.some((r) => r.type === type), `${type} results reach onProbeResult`);
  } finally {
    await s.stop();
    smtp.close();
    echo.close();
  }
});
