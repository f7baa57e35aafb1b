/**
 * How a TCP check ends with the default close (FIN), on the wire: the probing side sends its SYN, then its
 * FIN carrying the handshake's last ACK (the socket defers that ACK: TCP_DEFER_ACCEPT on the connecting
 * side), then the ACK of the server's FIN: three segments per probe, not four, and never a reset. The
 * server still sees a connection accepted and then closed gracefully (end of file, not ECONNRESET). The
 * probing side runs in a namespace of its own joined by a veth to the server's, so its counters
 * (/proc/net/snmp) hold its probes' segments alone.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsSkipReason } from './netns.js';

const skip = netnsSkipReason();
const PROBE = fileURLToPath(new URL('./fixtures/tcp-fin-probe.js', import.meta.url));

/** Accepts, reads each connection to its end and prints "eof" or "reset" per connection, then closes it. */
const SERVER = [
  'import selectors, socket, sys',
  'sel = selectors.DefaultSelector()',
  's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  's.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(128); s.setblocking(False); sel.register(s, selectors.EVENT_READ, None)',
  'print("ready", flush=True)',
  'while True:',
  '    for key, _ in sel.select():',
  '        if key.data is None:',
  '            c, _ = s.accept(); c.setblocking(False); sel.register(c, selectors.EVENT_READ, "c"); continue',
  '        c = key.fileobj',
  '        try:',
  '            d = c.recv(4096)',
  '            if d: continue',
  '            print("eof", flush=True)',
  '        except ConnectionResetError:',
  '            print("reset", flush=True)',
  '        sel.unregister(c); c.close()',
].join('\n');

describe('a TCP check closed with FIN', { skip }, () => {
  const lab = skip ? undefined : new NetnsLab();
  after(() => lab?.cleanup());

  test('sends three segments per probe (SYN, FIN with the last ACK, ACK) and no reset; the server reads a graceful end', async () => {
    const d = lab!.namespace('dir'), r = lab!.namespace('rs');
    lab!.veth(d, 'd0', r, 'r0');
    lab!.ip(d, 'addr add 10.77.0.2/24 dev d0');
    lab!.ip(r, 'addr add 10.77.0.1/24 dev r0');
    await lab!.waitOperUp(d, 'd0');
    await lab!.waitOperUp(r, 'r0');
    const server = lab!.spawn(r, ['python3', '-c', SERVER, '7201']);
    const lines: string[] = [];
    let buf = '';
    server.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
    });
    for (let i = 0; i < 100 && !lines.includes('ready'); i++) await new Promise((res) => setTimeout(res, 50));
    assert.ok(lines.includes('ready'), 'server started');
    const probes = 20, watches = 20;
    const out = JSON.parse(lab!.exec(d, [process.execPath, PROBE, '10.77.0.1', '7201', String(probes), String(watches)])) as
      { connected: number; watched: number; outSegs: number; outRsts: number };
    const conns = probes + watches;
    // the server's lines were written meanwhile (exec holds this loop): read them, then stop it
    for (let i = 0; i < 100 && lines.filter((l) => l !== 'ready').length < conns; i++) await new Promise((res) => setTimeout(res, 20));
    server.kill('SIGKILL');
    assert.equal(out.connected, probes, 'every one-off probe connected');
    assert.equal(out.watched, watches, 'every watch connected');
    assert.deepEqual([lines.filter((l) => l === 'eof').length, lines.filter((l) => l === 'reset').length], [conns, 0],
      'the server accepted every probe and read a graceful end of each');
    assert.equal(out.outRsts, 0, 'no reset sent');
    // 3 per probe; a retransmission on a loaded machine may add one now and then
    assert.ok(out.outSegs >= 3 * conns && out.outSegs <= 3 * conns + 4, `${out.outSegs} segments sent for ${conns} probes (3 each: SYN, FIN+ACK, ACK)`);
  });
});
