/** The name a tracked process is known by (status, logs, the machine's key): its name and arguments. Pure. */
export function trackProcessKey(t: { name: string; args?: readonly string[] }): string {
  return t.args === undefined ? t.name : [t.name, ...t.args].join(' ');
}
