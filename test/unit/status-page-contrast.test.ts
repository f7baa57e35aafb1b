/**
 * The status page's palette passes WCAG 2.x AA: every text colour against each background it is drawn
 * on at least 4.5:1 (normal-size text), borders, sparklines and focus rings at least 3:1 against the page
 * (non-text contrast, 1.4.11). The colours are read from web/status/style.css itself, and every colour
 * defined there must appear in a pair below, so a new colour cannot slip in unchecked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assetsDir } from '../../src/daemon/web/index.js';

const css = readFileSync(join(assetsDir(), 'style.css'), 'utf8');
const palette = new Map([...css.matchAll(/--([a-z-]+):\s*(#[0-9a-f]{6})\s*;/gi)].map((m) => [m[1]!, m[2]!.toLowerCase()]));

/** WCAG relative luminance of #rrggbb. */
export function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

export function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x! + 0.05) / (y! + 0.05);
}

const TEXT = 4.5;
const NON_TEXT = 3;
/** [foreground, background, minimum]: how the stylesheet uses them. */
const PAIRS: Array<[string, string, number]> = [
  ['fg', 'bg', TEXT], ['fg', 'panel', TEXT], ['muted', 'bg', TEXT], ['muted', 'panel', TEXT],
  ['ok-fg', 'ok-bg', TEXT], ['warn-fg', 'warn-bg', TEXT], ['bad-fg', 'bad-bg', TEXT], ['info-fg', 'info-bg', TEXT],
  ['ok-fg', 'bg', TEXT], ['bad-fg', 'bg', TEXT], ['warn-fg', 'bg', TEXT], ['info-fg', 'bg', TEXT],
  ['on-strong', 'strong-bad-bg', TEXT], ['on-strong', 'strong-ok-bg', TEXT], ['on-strong-warn', 'strong-warn-bg', TEXT],
  // borders and marks
  ['line', 'bg', NON_TEXT], ['spark-cps', 'bg', NON_TEXT], ['spark-bps', 'bg', NON_TEXT],
  ['ok-fg', 'bg', NON_TEXT], ['bad-fg', 'bg', NON_TEXT], ['warn-fg', 'bg', NON_TEXT], ['info-fg', 'panel', NON_TEXT],
];

test('the contrast formula gives the known ratios (black/white 21, #777 on white 4.48)', () => {
  assert.equal(contrast('#000000', '#ffffff').toFixed(2), '21.00');
  assert.equal(contrast('#777777', '#ffffff').toFixed(2), '4.48');
  assert.equal(contrast('#ffffff', '#777777'), contrast('#777777', '#ffffff'));
});

test('every colour pair of the status page passes WCAG AA', () => {
  assert.ok(palette.size >= 15, `found ${palette.size} colours in style.css`);
  const lines: string[] = [];
  for (const [fg, bg, min] of PAIRS) {
    const a = palette.get(fg);
    const b = palette.get(bg);
    assert.ok(a && b, `--${fg} and --${bg} are defined`);
    const ratio = contrast(a!, b!);
    lines.push(`${fg} on ${bg}: ${ratio.toFixed(2)}`);
    assert.ok(ratio >= min, `--${fg} (${a}) on --${bg} (${b}): ${ratio.toFixed(2)} < ${min}`);
  }
  console.log(`# ${lines.join(', ')}`);
  const used = new Set(PAIRS.flatMap(([f, b]) => [f, b]));
  for (const name of palette.keys()) assert.ok(used.has(name), `--${name} is checked by a pair`);
  assert.doesNotMatch(css.replace(/--[a-z-]+:\s*#[0-9a-f]{6}\s*;/gi, '').replace(/\/\*[\s\S]*?\*\//g, ''), /#[0-9a-f]{3,8}\b|rgb\(|hsl\(/i,
    'colours are used only through the checked variables');
});
