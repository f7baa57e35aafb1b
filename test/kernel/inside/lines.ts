/** For inside-VM tests: child processes whose stdout lines are awaited one by one, and a line-relaying client. */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A child process whose stdout lines can be awaited one by one; stderr is kept for the error message. */
export class Lines {
  private readonly queue: string[] = [];
  private waiter: ((line: string) => void) | undefined;
  readonly seen: string[] = [];
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      this.seen.push(line);
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w(line);
      else this.queue.push(line);
    });
    child.stderr.on('data', (d: Buffer) => this.seen.push(`stderr: ${d.toString()}`));
  }
  next(timeoutMs = 60_000): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no line within ${timeoutMs} ms; output so far:\n${this.seen.join('\n')}`));
      }, timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  }
}

/**
 * A client (CommonJS source, for `node FILE`) that connects to VIP:80, prints "connected <local port>", then
 * relays stdin lines out and prints each reply line as "reply <line>"; "error <code>" and "closed" as they come.
 */
export function relayClientScript(vip: string): string {
  return `
const net = require('node:net');
const readline = require('node:readline');
const s = net.connect({ host: ${JSON.stringify(vip)}, port: 80 }, () => console.log('connected ' + s.localPort));
s.setEncoding('utf8');
let buf = '';
s.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) { console.log('reply ' + buf.slice(0, i)); buf = buf.slice(i + 1); }
});
s.on('error', (e) => console.log('error ' + e.code));
s.on('close', () => { console.log('closed'); process.exit(0); });
readline.createInterface({ input: process.stdin }).on('line', (l) => s.write(l + '\\n'));
process.stdin.on('end', () => s.end());
`;
}
