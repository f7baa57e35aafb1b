/**
 * The command line writes its lines with write(2), not through node's stdout stream (src/cli/out.ts: the
 * stream costs ~20 of node's internal modules at every start, issue #11): every byte arrives in order, what
 * write(2) will not take goes through the stream after what was written, and `lvsd check`/`apply` build no
 * stdout stream and load none of node's stream, net, tty and crypto modules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFd } from '../../src/cli/out.js';

test('partial writes continue where they stopped, multi-byte characters whole', () => {
  const text = 'réal server ✓ '.repeat(50);
  const got: Buffer[] = [];
  writeFd(1, text, (_fd, data, offset, length) => {
    const n = Math.min(7, length); // a descriptor that takes 7 bytes at a time, cutting characters
    got.push(Buffer.from(data.subarray(offset, offset + n)));
    return n;
  }, () => assert.fail('nothing for the stream'));
  assert.equal(Buffer.concat(got).toString(), text);
});

test('what write(2) refuses (EAGAIN, EPIPE) goes to the stream, after what was written', () => {
  for (const code of ['EAGAIN', 'EPIPE']) {
    const text = 'first line\nsecond line\n';
    const written: Buffer[] = [];
    const streamed: Buffer[] = [];
    let calls = 0;
    writeFd(2, text, (_fd, data, offset) => {
      if (calls++ > 0) throw Object.assign(new Error(code), { code });
      written.push(Buffer.from(data.subarray(offset, offset + 11)));
      return 11;
    }, (rest) => streamed.push(Buffer.from(rest)));
    assert.equal(Buffer.concat(written).toString(), 'first line\n');
    assert.equal(Buffer.concat(streamed).toString(), 'second line\n', code);
  }
});

const bundled = fileURLToPath(new URL('../../bundle/lvsd.cjs', import.meta.url));
test('lvsd check and apply build no stdout stream and load none of stream, net, tty, crypto, perf_hooks', { skip: !existsSync(bundled) && 'no dist/bundle: run npm run build' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-out-'));
  try {
    const config = join(dir, 'services.json');
    writeFileSync(config, JSON.stringify({ services: [{ name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, realServers: [{ address: '10.0.1.11' }] }] }));
    const report = join(dir, 'report.cjs');
    writeFileSync(report, "process.on('exit', () => require('node:fs').writeFileSync(process.env.LVSD_MODULES_OUT, process.moduleLoadList.join('\\n')));");
    for (const args of [['check', '-c', config], ['apply', '-c', config, '--dry-run', '--state-file', join(dir, 'state.json')]]) {
      const out = join(dir, `${args[0]}.modules`);
      const r = spawnSync(process.execPath, ['--require', report, bundled, ...args], { encoding: 'utf8', env: { ...process.env, LVSD_MODULES_OUT: out } });
      if (args[0] === 'check') assert.equal(r.stdout, `${config}: valid (1 service, 1 real server, 0 VRRP instances)\n`);
      const modules = spawnSync('cat', [out], { encoding: 'utf8' }).stdout.split('\n');
      assert.deepEqual(modules.filter((m) => /^NativeModule (internal\/fs\/sync_write_stream|stream|net|tty|crypto|perf_hooks)$/.test(m)), [], `${args[0]}: ${r.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
