/** Running commands from inside-VM tests: stdout as text, stderr kept for the error, no stdin. */
import { execFileSync } from 'node:child_process';

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** For cleanup of something that may not exist: a failure is not an error. */
export function tryRun(cmd: string, args: string[]): void {
  try {
    run(cmd, args);
  } catch {
    // nothing to clean up
  }
}
