/**
 * Who gets which reload. `lvsd reload` (the control socket), SIGHUP and the config file watcher each ask
 * for one; a reload reads the config files when it starts. The promise a request is answered with:
 *
 * - **A request is answered by a reload whose read shows the files as they were when the request came, or
 *   later.** With none running, one starts at once. With one running, it read the files before (or while)
 *   this request came: the request waits for it to end, and then
 *   - if it succeeded and the daemon can tell that every file it read is unchanged since (`answersLater`:
 *     src/config/read-stamp.ts compares each file's status with the one it was read with), its outcome is
 *     also this request's answer: the files held what it read when the request came, and a reload of them
 *     would do nothing;
 *   - else (a file changed, or might have; the reload was refused or failed, which another attempt may
 *     not be) the request is answered by the next reload, which starts as soon as the running one ends.
 * - **Requests that wait together share that next reload**: ten `lvsd reload`s during a long reload are
 *   one more reload at most, not ten, and each is answered with its outcome. Nothing is dropped: a request
 *   made while the next reload is waiting joins it, and that reload has not read anything yet.
 * - **A reload that starts covers every change seen before it**: `onStart` is called just before it reads
 *   the files, and the daemon drops the file watcher's pending (debounced) reload there
 *   (config-watch.ts), so an edit followed by `lvsd reload` is one reload, not two, and the explicit
 *   one does not wait for the watcher's quiet period.
 * - **A change seen on disk is reloaded only if no reload has read it yet** (`changed`, the file watcher's
 *   request): the watcher tells of a write only once it has settled (~0.2 s) and quiet (0.3 s), so an
 *   edit followed at once by `lvsd reload` was read by the explicit reload before the watcher woke. When
 *   no reload runs and the last one ended with the files unchanged since it read them (`answersLater` of
 *   its outcome), that reload already answers the change: none more (`onCovered`). Otherwise it is a
 *   request like any other.
 *
 * The reload function must never reject (Daemon.reload does not). Pure of I/O; the daemon's reload, the
 * check of the files and the watcher are injected.
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

/** What the queue asks the daemon besides the reload itself (none may throw: a throw counts as "no" and is otherwise ignored). */
export interface ReloadQueueHooks<T, R> {
  /** A reload is about to start (and read the files) for these requests. */
  onStart?: (start: ReloadStart<T>) => void;
  /**
   * Called as a reload ends with `result` while requests wait: whether that result answers them too, i.e.
   * it succeeded and every file it read is unchanged since it read it.
   */
  answersLater?: (result: R) => boolean;
  /** The reload `trigger` started for answered `triggers`, which came while it ran (answersLater said so). */
  onShared?: (shared: ReloadStart<T>) => void;
  /** A change (`changed`) was answered by the last reload, `by`, which had read it: no reload started. */
  onCovered?: (covered: { trigger: T; by: T }) => void;
}

export class ReloadQueue<T, R> {
  private running: Promise<R> | undefined;
  private waiting: Waiting<T, R> | undefined;
  /** The last reload that ended (undefined: none yet, or it threw). */
  private last: { trigger: T; result: R } | undefined;
  private readonly hooks: ReloadQueueHooks<T, R>;

  constructor(private readonly reload: (trigger: T) => Promise<R>, hooks: ReloadQueueHooks<T, R> | ReloadQueueHooks<T, R>['onStart'] = {}) {
    this.hooks = typeof hooks === 'function' ? { onStart: hooks } : hooks;
  }

  /**
   * The running reload's outcome when it ends with the files unchanged since it read them (answersLater);
   * else a reload that starts after this call, or the one already waiting to start (which has read nothing yet).
   */
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

  /**
   * A change seen on disk (the file watcher): answered by the last reload when none runs and that one's
   * outcome answers later requests (it succeeded and read the files as they are now), else a request.
   */
  changed(trigger: T): Promise<R> {
    const last = this.last;
    if (this.running === undefined && last !== undefined && this.answers(last.result)) {
      try {
        this.hooks.onCovered?.({ trigger, by: last.trigger });
      } catch {
        // only a log line
      }
      return Promise.resolve(last.result);
    }
    return this.request(trigger);
  }

  private start(triggers: T[]): Promise<R> {
    const trigger = triggers[0]!;
    try {
      this.hooks.onStart?.({ trigger, triggers });
    } catch {
      // a hook that failed must not cost a reload: the worst it leaves is one reload more
    }
    const run = this.reload(trigger).then((result) => {
      this.ended(trigger, { result });
      return result;
    }, (e: unknown) => {
      this.ended(trigger, undefined);
      throw e;
    });
    this.running = run;
    return run;
  }

  /** The running reload ended (`outcome` undefined: it threw): the requests that came meanwhile are answered by it or by the next one. */
  private ended(trigger: T, outcome: { result: R } | undefined): void {
    this.running = undefined;
    this.last = outcome === undefined ? undefined : { trigger, result: outcome.result };
    const next = this.waiting;
    this.waiting = undefined;
    if (next === undefined) return;
    if (outcome !== undefined && this.answers(outcome.result)) {
      next.resolve(Promise.resolve(outcome.result));
      try {
        this.hooks.onShared?.({ trigger, triggers: next.triggers });
      } catch {
        // only a log line
      }
      return;
    }
    next.resolve(this.start(next.triggers));
  }

  private answers(result: R): boolean {
    try {
      return this.hooks.answersLater?.(result) === true;
    } catch {
      return false; // in doubt, the next reload answers
    }
  }
}
