/** The log lines of tracked scripts, files and processes (`vrrp.track_change`). */
import type { Logger } from '../log.js';
import type { VrrpStateName } from './machine-types.js';
import type { TrackChange, TrackedStatus } from './trackers.js';

/** One change: at info when its effect changed, at debug otherwise. */
export function logTrackChange(log: Logger, instance: string, c: TrackChange, priority: number, state: VrrpStateName): void {
  const s = c.status;
  const effectChanged = c.before !== s.effect;
  log[effectChanged ? 'info' : 'debug']({
    event: 'vrrp.track_change', instance, kind: s.kind, name: s.name, up: s.up,
    ...(s.value !== undefined ? { value: s.value } : {}), weight: s.weight, effect: s.effect, ...(c.before !== undefined ? { before: c.before } : {}),
    ...(s.detail !== undefined ? { detail: s.detail } : {}), priority, state,
  }, `${instance}: tracked ${s.kind} ${s.name} is ${s.kind === 'file' ? `${s.value ?? (s.up ? 'not a number' : 'unreadable')}` : s.up ? 'up' : 'down'}` +
    ` (effect ${s.effect}${s.detail ? `, ${s.detail}` : ''})`);
}

/** The tracked objects as the machine starts: one line each that is not neutral. */
export function logTracksAtStart(log: Logger, instance: string, tracks: TrackedStatus[]): void {
  for (const s of tracks) {
    if (s.effect === 0 && s.up) continue;
    log.info({ event: 'vrrp.track_change', instance, kind: s.kind, name: s.name, up: s.up,
      ...(s.value !== undefined ? { value: s.value } : {}), weight: s.weight, effect: s.effect, at: 'start' },
    `${instance}: tracked ${s.kind} ${s.name} at start: effect ${s.effect}`);
  }
}
