/**
 * The delay to hand setTimeout/setInterval. Node turns a delay above 2^31-1 ms (or NaN) into 1 ms with a
 * TimeoutOverflowWarning, so an over-long interval fires a thousand times a second. The config refuses such
 * durations; this clamp is the second line, where a timer is armed, for values derived by arithmetic
 * (interval x rise, say) or a validation that was bypassed.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` clamped to [0, 2^31-1]; NaN and +Infinity become the maximum (late, never a storm). */
export function timerDelay(ms: number): number {
  if (Number.isNaN(ms) || ms > MAX_TIMER_MS) return MAX_TIMER_MS;
  return ms < 0 ? 0 : ms;
}
