/**
 * The name a tracked process is known by: its name and arguments. The config refuses two with the same key;
 * VRRP's trackers, status, logs and the state machine's effects are keyed by it. A leaf both use. Pure.
 */
export function trackProcessKey(t: { name: string; args?: readonly string[] }): string {
  return t.args === undefined ? t.name : [t.name, ...t.args].join(' ');
}
