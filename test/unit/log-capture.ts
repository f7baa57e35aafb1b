/** A pino logger whose JSON lines the test reads back as objects (`lines`), in order. */
import { Writable } from 'node:stream';
import { pino } from 'pino';

export function captureLog(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino(stream), lines };
}
