/**
 * The agent's one-line reply, in the vocabulary of HAProxy's agent-check: words and percentages separated by
 * spaces, commas or tabs, e.g. `75%`, `up 50%`, `drain`, `down #disk full`. Pure.
 *
 *   N%                     weight becomes N% of the configured weight (sticky until the next N%)
 *   up, ready              up (ready also leaves drain/maint)
 *   drain                  up, weight 0
 *   down, fail, stopped    down (text after '#' is the reason)
 *   maint                  down for maintenance
 * Unknown words are ignored; a line with no word we know and no percentage counts as up.
 */
import type { ProbeResult } from '../types.js';

export type AgentVerdict = Pick<ProbeResult, 'ok' | 'reason' | 'weightPercent' | 'drain' | 'maint'>;

/** Most a percentage may say: ten times the configured weight is clearly a typo beyond that. */
export const MAX_PERCENT = 1000;

export function parseAgentReply(line: string): AgentVerdict {
  const hash = line.indexOf('#');
  const note = hash >= 0 ? line.slice(hash + 1).trim() : '';
  const words = (hash >= 0 ? line.slice(0, hash) : line).trim().toLowerCase().split(/[\s,]+/).filter((w) => w !== '');
  let down: string | undefined;
  let maint = false;
  let drain = false;
  let ready = false;
  let percent: number | undefined;
  for (const w of words) {
    const m = /^(\d+(?:\.\d+)?)%$/.exec(w);
    if (m) percent = Math.min(MAX_PERCENT, Number(m[1]));
    else if (w === 'down' || w === 'fail' || w === 'stopped') down = w;
    else if (w === 'maint') maint = true;
    else if (w === 'drain') drain = true;
    else if (w === 'ready') ready = true;
    // 'up' and unknown words change nothing beyond the default of up
  }
  if (ready) {
    maint = false;
    drain = false;
  }
  const verdict: AgentVerdict = { ok: down === undefined && !maint, reason: '' };
  if (percent !== undefined) verdict.weightPercent = percent;
  if (drain) verdict.drain = true;
  if (maint) verdict.maint = true;
  const said = words.join(' ') || 'empty';
  verdict.reason = `agent ${down ?? (maint ? 'maint' : said)}${note ? ` #${note}` : ''}`;
  return verdict;
}
