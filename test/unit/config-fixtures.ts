/** Helpers shared by the config tests. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig, type Config, type Problem } from '../../src/config/index.js';
import { isLvsdError } from '../../src/errors.js';

/** The repository root (tests run from dist/test/unit). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function example(name: string): { file: string; text: string } {
  return { file: name, text: readFileSync(`${ROOT}examples/${name}`, 'utf8') };
}

/** Parses one in-memory document called c.json. */
export function parse(value: unknown): Config {
  return parseConfig([{ file: 'c.json', text: JSON.stringify(value) }]);
}

/** The problems parsing `value` reports (fails the test when it parses). */
export function problemsOf(value: unknown, file = 'c.json'): Problem[] {
  try {
    parseConfig([{ file, text: JSON.stringify(value) }]);
  } catch (e) {
    assert.ok(isLvsdError(e, 'LVSD_CONFIG_INVALID'), `expected LVSD_CONFIG_INVALID, got ${String(e)}`);
    return e.details as Problem[];
  }
  assert.fail('expected the config to be refused');
}

/** Asserts a problem at `pointer` whose message matches. */
export function assertProblem(problems: readonly Problem[], pointer: string, message: RegExp): void {
  const hit = problems.find((p) => p.pointer === pointer && message.test(p.message));
  assert.ok(hit, `no problem at ${pointer} matching ${message}; got:\n${problems.map((p) => `${p.pointer}: ${p.message}`).join('\n')}`);
}

/** A minimal valid service to build variations on. */
export function svc(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 's', protocol: 'tcp', address: '192.0.2.1', port: 80, realServers: [{ address: '10.0.0.1' }], ...extra };
}
