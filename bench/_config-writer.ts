/**
 * The benches' config file of N services x 10 real servers, edited one weight at a time without making
 * garbage of the file's size per edit (the text is kept in one of two buffers and the edited copy built in
 * the other): a daemon under test reads a file another process wrote, so the writer's own collections
 * must not land in what the bench times.
 */
import { writeFileSync } from 'node:fs';

export const DESTS = 10;

export interface ConfigWriterOptions {
  /** Every real server has a TCP check (interval 60 s, initially up). */
  checks?: boolean;
  /** Extra top-level sections written before "services". */
  head?: Record<string, unknown>;
}

export class ConfigWriter {
  private cur: Buffer;
  private next: Buffer;
  private length: number;
  /** Where each service item's text starts; item i ends where item i+1 starts less one (the comma). */
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  readonly weights: number[][];

  constructor(readonly file: string, readonly services: number, private readonly opts: ConfigWriterOptions = {}) {
    this.weights = Array.from({ length: services }, (_, i) => Array.from({ length: DESTS }, (_, j) => 1 + ((i + j) % 100)));
    const head = `{${Object.entries({ ipvs: { driftInterval: '3600s' }, ...opts.head }).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)},`).join('')}"services":[`;
    const parts: string[] = [head];
    let at = Buffer.byteLength(head);
    for (let i = 0; i < services; i++) {
      const t = this.itemText(i);
      if (i > 0) { parts.push(','); at++; }
      this.starts.push(at);
      at += Buffer.byteLength(t);
      this.ends.push(at);
      parts.push(t);
    }
    parts.push(']}');
    const text = Buffer.from(parts.join(''));
    this.length = text.length;
    this.cur = Buffer.alloc(text.length * 2);
    this.next = Buffer.alloc(text.length * 2);
    text.copy(this.cur);
    writeFileSync(file, this.cur.subarray(0, this.length));
  }

  private itemText(i: number): string {
    return JSON.stringify({
      protocol: 'tcp', address: `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 80, scheduler: 'wrr', forwarding: 'nat',
      ...(this.opts.checks ? { initialState: 'up', healthCheck: { type: 'tcp', interval: '60s', timeout: '1s', rise: 1, fall: 1 } } : {}),
      realServers: this.weights[i]!.map((weight, j) => ({ address: `10.${1 + j}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight })),
    });
  }

  /** Sets service i's j-th real server's weight and writes the file. */
  setWeight(i: number, j: number, weight: number): void {
    this.weights[i]![j] = weight;
    const t = Buffer.from(this.itemText(i));
    const s = this.starts[i]!;
    const e = this.ends[i]!;
    const delta = t.length - (e - s);
    this.cur.copy(this.next, 0, 0, s);
    t.copy(this.next, s);
    this.cur.copy(this.next, s + t.length, e, this.length);
    this.length += delta;
    this.ends[i] = e + delta;
    for (let k = i + 1; k < this.services; k++) {
      this.starts[k]! += delta;
      this.ends[k]! += delta;
    }
    [this.cur, this.next] = [this.next, this.cur];
    writeFileSync(this.file, this.cur.subarray(0, this.length));
  }
}
