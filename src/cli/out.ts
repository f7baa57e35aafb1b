/**
 * The command line's output without node's streams. The first touch of process.stdout or process.stderr
 * builds a stream: for a file or /dev/null node's streams (~20 internal modules), for a terminal tty and
 * net too, which under the test VM's emulation is a good part of a short command's start (issue #11, fast
 * start). A command's few lines are written with write(2) instead. Whatever write(2) will not take (a
 * descriptor that would block because someone set O_NONBLOCK on it, a closed pipe) goes to the stream
 * after what was written, which then does what it always did.
 */
import { writeSync } from 'node:fs';

type Write = (fd: number, data: Uint8Array, offset: number, length: number) => number;

/** Writes all of `text` to `fd` (1 or 2). `write` and `stream` are for tests. */
export function writeFd(fd: 1 | 2, text: string, write: Write = writeSync, stream: (rest: Uint8Array) => void = (rest) => {
  (fd === 1 ? process.stdout : process.stderr).write(rest);
}): void {
  const data = Buffer.from(text);
  let done = 0;
  while (done < data.length) {
    try {
      done += write(fd, data, done, data.length - done);
    } catch {
      stream(data.subarray(done));
      return;
    }
  }
}

export const writeOut = (text: string): void => writeFd(1, text);
export const writeErr = (text: string): void => writeFd(2, text);
