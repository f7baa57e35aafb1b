/**
 * The datagrams a batch goes out in (DatagramWriter): messages back to back, a datagram never past
 * MAX_DATAGRAM, a message that does not fit what is left written whole at the start of the next, and a
 * message that fails (a value that does not fit, or no room even alone) leaving nothing of it behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DatagramWriter, MAX_DATAGRAM } from '../../src/ipvs/datagram-writer.js';
import { QUIET_FLAGS, commandMessage, writeCommand } from '../../src/ipvs/messages.js';
import { isLvsdError } from '../../src/errors.js';
import type { DestSpec, IpvsCommand } from '../../src/ipvs/types.js';

const key = { kind: 'addr' as const, family: 'ipv4' as const, protocol: 'tcp' as const, address: '192.0.2.10', port: 80 };
const dest = (i: number, weight = 1): DestSpec => ({
  family: 'ipv4', address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, forwarding: 'nat', weight,
  upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
});
const newDest = (i: number, weight = 1): IpvsCommand => ({ cmd: 'new-dest', service: key, dest: dest(i, weight) });

/** Writes `commands` as a batch writes them (seq 1, 2, ...); returns the datagrams and each change's error. */
function write(commands: readonly IpvsCommand[]): { datagrams: Buffer[]; errors: Array<Error | undefined> } {
  const w = new DatagramWriter();
  const errors = commands.map((c, i) => w.change((_i, seq, aw) => writeCommand(aw, 0x1c, seq, c, QUIET_FLAGS), i, i + 1, undefined));
  return { datagrams: w.done(), errors };
}

describe('DatagramWriter', () => {
  it('splits at message boundaries, every datagram at most MAX_DATAGRAM, the bytes those of each message in order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1500 }), (n) => {
        const commands = Array.from({ length: n }, (_, i) => newDest(i));
        const { datagrams, errors } = write(commands);
        assert.ok(errors.every((e) => e === undefined));
        for (const d of datagrams) assert.ok(d.length > 0 && d.length <= MAX_DATAGRAM, `datagram of ${d.length} bytes`);
        assert.deepEqual(Buffer.concat(datagrams), Buffer.concat(commands.map((c, i) => commandMessage(0x1c, i + 1, c, QUIET_FLAGS))));
        // a datagram ends where the next message would not have fit
        const size = commandMessage(0x1c, 1, commands[0]!, QUIET_FLAGS).length;
        for (const d of datagrams.slice(0, -1)) assert.ok(d.length + size > MAX_DATAGRAM);
      }),
      { numRuns: 30 },
    );
  });

  it('a change whose value does not fit fails alone, with nothing of it in the datagram, wherever it falls', () => {
    const size = commandMessage(0x1c, 1, newDest(0), QUIET_FLAGS).length;
    const perDatagram = Math.floor(MAX_DATAGRAM / size);
    for (const bad of [0, 1, perDatagram - 1, perDatagram, perDatagram + 1]) {
      const commands = Array.from({ length: perDatagram * 2 + 3 }, (_, i) => newDest(i, i === bad ? 2 ** 31 : 1));
      const { datagrams, errors } = write(commands);
      assert.ok(isLvsdError(errors[bad], 'LVSD_IPVS_ENCODE'), `change ${bad}: ${errors[bad]}`);
      assert.match(errors[bad]!.message, /IPVS_DEST_ATTR_WEIGHT: 2147483648 does not fit/);
      assert.ok(errors.every((e, i) => i === bad || e === undefined));
      const expected = commands.flatMap((c, i) => (i === bad ? [] : [commandMessage(0x1c, i + 1, c, QUIET_FLAGS)]));
      assert.deepEqual(Buffer.concat(datagrams), Buffer.concat(expected), `bad change ${bad}`);
    }
  });

  it('a message that does not fit a datagram even alone fails as that change, the others go out', () => {
    const w = new DatagramWriter();
    assert.equal(w.add((aw) => writeCommand(aw, 0x1c, 1, newDest(1), QUIET_FLAGS)), undefined);
    const tooBig = w.add((aw) => aw.bytes(1, Buffer.alloc(MAX_DATAGRAM)));
    assert.ok(tooBig instanceof RangeError, String(tooBig));
    assert.equal(w.add((aw) => writeCommand(aw, 0x1c, 2, newDest(2), QUIET_FLAGS)), undefined);
    assert.deepEqual(Buffer.concat(w.done()), Buffer.concat([1, 2].map((i) => commandMessage(0x1c, i, newDest(i), QUIET_FLAGS))));
  });
});
