/**
 * What a director announces (src/ecmp/decide.ts), checked exhaustively against a plain statement of the
 * rule: announced iff not stopping, not drained, no director problem, the address on the VIP interface
 * and every service on the address at or above its quorum.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { announced, decide, vipPrefix, type ServiceQuorum } from '../../src/ecmp/index.js';

const bools = [false, true];

test('every combination of stop, drain, director problem, missing address and two services\' health and quorum', () => {
  let cases = 0;
  for (const stopping of bools) for (const drained of bools) for (const problem of bools) for (const missing of bools) {
    for (let up1 = 0; up1 <= 3; up1++) for (let q1 = 1; q1 <= 3; q1++) for (let up2 = 0; up2 <= 3; up2++) for (let q2 = 1; q2 <= 3; q2++) {
      const services: ServiceQuorum[] = [
        { name: 'http', address: '10.0.0.1', up: up1, quorum: q1 },
        { name: 'https', address: '10.0.0.1', up: up2, quorum: q2 },
        { name: 'other', address: '10.0.0.2', up: 1, quorum: 1 },
      ];
      const d = decide(services, { stopping, drained, problems: problem ? ['IPVS unreachable: x'] : [], missingAddresses: new Set(missing ? ['10.0.0.1'] : []) });
      const want = !stopping && !drained && !problem && !missing && up1 >= q1 && up2 >= q2;
      assert.equal(d.length, 2, 'one decision per address');
      assert.equal(d[0]!.announce, want, JSON.stringify({ stopping, drained, problem, missing, up1, q1, up2, q2 }));
      assert.equal(d[0]!.reason === '', want, 'a reason exactly when withdrawn');
      // the other address follows only the director-wide inputs
      assert.equal(d[1]!.announce, !stopping && !drained && !problem);
      // the reason names the first cause in order: stop, drain, director, address, quorum
      if (stopping) assert.equal(d[0]!.reason, 'lvsd is stopping');
      else if (drained) assert.equal(d[0]!.reason, 'director drained');
      else if (problem) assert.equal(d[0]!.reason, 'director: IPVS unreachable: x');
      else if (missing) assert.match(d[0]!.reason, /10\.0\.0\.1 is not on the VIP interface/);
      else if (!want) {
        if (up1 < q1) assert.match(d[0]!.reason, new RegExp(`http: ${up1} real servers? up, quorum ${q1}`));
        if (up2 < q2) assert.match(d[0]!.reason, new RegExp(`https: ${up2} real servers? up, quorum ${q2}`));
        if (up1 >= q1) assert.doesNotMatch(d[0]!.reason, /http:/);
      }
      cases++;
    }
  }
  assert.equal(cases, 16 * 144);
});

test('prefixes: /32 for IPv4, /128 for IPv6; announced() lists the announced ones', () => {
  assert.equal(vipPrefix('192.0.2.1'), '192.0.2.1/32');
  assert.equal(vipPrefix('2001:db8::1'), '2001:db8::1/128');
  const d = decide([
    { name: 'a', address: '192.0.2.1', up: 1, quorum: 1 },
    { name: 'b', address: '2001:db8::1', up: 0, quorum: 1 },
  ], { stopping: false, drained: false, problems: [] });
  assert.deepEqual(announced(d), ['192.0.2.1/32']);
  assert.deepEqual(decide([], { stopping: false, drained: false, problems: [] }), []);
});

test('a VIP waits for the first health verdict of every real server before it is announced (the mh tables must match)', () => {
  const svc = (unsettled?: number): ServiceQuorum[] => [
    { name: 'web', address: '10.0.0.1', up: 2, quorum: 1, ...(unsettled !== undefined && { unsettled }) },
    { name: 'tls', address: '10.0.0.1', up: 3, quorum: 1 },
  ];
  const director = { stopping: false, drained: false, problems: [] };
  assert.deepEqual(decide(svc(1), director).map((d) => [d.announce, d.reason]),
    [[false, 'web: waiting for the first health verdict of 1 real server']]);
  assert.deepEqual(decide(svc(0), director).map((d) => d.announce), [true]);
  assert.deepEqual(decide(svc(), director).map((d) => d.announce), [true]);
});
