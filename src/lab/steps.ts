/**
 * The lab's numbered steps: each prints "[n/total] name", then "ok: note (1.2 s)" or "FAILED: why", and is
 * recorded in the report; a failed step throws the scenario's own error (which carries the report).
 */
export interface StepRecord { name: string; ok: boolean; ms: number; error?: string }

export type Step = (name: string, fn: () => Promise<string | void>) => Promise<void>;

export function stepRunner(say: (line: string) => void, total: number, steps: StepRecord[], failure: (step: string, error: string) => Error): Step {
  let n = 0;
  return async (name, fn) => {
    n++;
    const t = Date.now();
    say(`[${n}/${total}] ${name}`);
    try {
      const note = await fn();
      const ms = Date.now() - t;
      steps.push({ name, ok: true, ms });
      say(`      ok${note ? `: ${note}` : ''} (${(ms / 1000).toFixed(1)} s)`);
    } catch (e) {
      const ms = Date.now() - t;
      const error = (e as Error).message;
      steps.push({ name, ok: false, ms, error });
      say(`      FAILED: ${error}`);
      throw failure(name, error);
    }
  };
}
