/**
 * Who gets which reload. `lvsd reload` (the control socket), SIGHUP and the config file watcher each ask
 * for one; a reload reads the config files when it starts. The promise a request is answered with:
 *
 * - **A request is answered by a reload that started (and so read the files) after the request came.**
 *   With none running, one starts at once. With one running, it read the files before this request: the
 *   request waits for the next one, which starts as soon as the running one ends.
 * - **Requests that wait together share that next reload**: ten `lvsd reload`s during a long reload are
 *   one more reload, not ten, and each is answered with its outcome. Nothing is dropped: a request made
 *   while the next reload is waiting joins it, and that reload has not read anything yet.
 * - **A reload that starts covers every change seen before it**: `onStart` is called just before it reads
 *   the files, and the daemon drops the file watcher's pending (debounced) reload there
 *   (config-watch.ts), so an edit followed by `lvsd reload` is one reload, not two, and the explicit
 *   one does not wait for the watcher's quiet period.
 *
 * A reload counts as having read the files from the moment it starts (reading them is the first thing it
 * does): a request that comes between its start and its read waits for the next one, which costs a reload
 * more, never an answer older than the request. The reload function must never reject (Daemon.reload does
 * not). Pure of I/O; the daemon's reload and the watcher are injected.
 */

/** One start of a reload: the request that started it and those that share it (in arrival order). */
export interface ReloadStart<T> {
  trigger: T;
  /** Every request this reload answers, `trigger` first. */
  triggers: T[];
}

interface Waiting<T, R> {
  triggers: T[];
  promise: Promise<R>;
  resolve: (result: Promise<R>) => void;
}

export class ReloadQueue<T, R> {
  private running: Promise<R> | undefined;
  private waiting: Waiting<T, R> | undefined;

  constructor(
    private readonly reload: (trigger: T) => Promise<R>,
    private readonly onStart: (start: ReloadStart<T>) => void = () => undefined,
  ) {}

  /** A reload that starts after this call, or the one already waiting to start (which has read nothing yet). */
  request(trigger: T): Promise<R> {
    if (this.running === undefined) return this.start([trigger]);
    if (this.waiting === undefined) {
      let resolve!: (result: Promise<R>) => void;
      const promise = new Promise<R>((r) => (resolve = r));
      this.waiting = { triggers: [trigger], promise, resolve };
    } else {
      this.waiting.triggers.push(trigger);
    }
    return this.waiting.promise;
  }

  private start(triggers: T[]): Promise<R> {
    try {
      this.onStart({ trigger: triggers[0]!, triggers });
    } catch {
      // a hook that failed must not cost a reload: the worst it leaves is one reload more
    }
    const run = this.reload(triggers[0]!).finally(() => {
      this.running = undefined;
      const next = this.waiting;
      this.waiting = undefined;
      if (next !== undefined) next.resolve(this.start(next.triggers));
    });
    this.running = run;
    return run;
  }
}
