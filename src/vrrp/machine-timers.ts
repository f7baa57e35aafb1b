/**
 * The state machine's timers (advert, master_down) as an instance runs them on its clock: set, cancelled
 * and fired; a master's advert timer handed to the advert clock when it takes it (advert-clock.ts), and
 * Master_Down's expiry checked against what the socket holds before it is acted on.
 */
import type { TimerName } from './state-machine.js';
import type { RunnerClock, TimerHandle } from './runner-io.js';

/** What the timers need of their instance. */
export interface TimersHost {
  readonly clock: RunnerClock;
  /** Hands a master's advert timer due `at` to the advert clock: true when it took it. */
  toClock(at: number): boolean;
  /** Takes the advert timer back from the advert clock (if it holds it). */
  disarmClock(): void;
  /** Reads what the socket holds, each advert fed to the machine at the time the kernel received it. */
  drain(): void;
  /** A timer expired (no longer set): the machine is told. */
  fire(timer: TimerName, at: number): void;
}

export class MachineTimers {
  private readonly timers = new Map<TimerName, { handle: TimerHandle; at: number }>();

  constructor(private readonly host: TimersHost) {}

  /** `clock`: a master's advert timer may be handed to the advert clock (advert-clock.ts). */
  set(timer: TimerName, at: number, clock = true): void {
    this.cancel(timer);
    if (clock && timer === 'advert' && this.host.toClock(at)) return;
    const entry = {
      at,
      handle: this.host.clock.setTimeout(() => {
        if (this.timers.get(timer) !== entry) return;
        if (timer === 'master_down' && !this.masterDownStands(entry)) return;
        this.fire(timer, at);
      }, at - this.host.clock.now()),
    };
    this.timers.set(timer, entry);
  }

  cancel(timer: TimerName): void {
    if (timer === 'advert') this.host.disarmClock();
    this.host.clock.clearTimeout(this.timers.get(timer)?.handle);
    this.timers.delete(timer);
  }

  cancelAll(): void {
    for (const t of [...this.timers.keys()]) this.cancel(t);
  }

  private fire(timer: TimerName, at: number): void {
    this.timers.delete(timer);
    this.host.fire(timer, at);
  }

  /**
   * Master_Down_Timer expired: whether it still does once the socket is read. The event loop runs expired
   * timers before it polls again, so a thread held past the deadline outside its timers (a callback that
   * ran long or was preempted, a GC pause there, SIGSTOP) would see the timer first and take over from a
   * master whose adverts sit in its socket, received in time: two masters until the next advert. So what the socket holds is
   * read first, each advert at the time the kernel received it: one from a master that keeps us backup
   * re-arms the timer from its arrival. What stands then is a deadline no advert moved, or one moved to a
   * time already past (the last advert queued came more than Master_Down_Interval ago: the master went
   * silent while we stood still), which is acted on now.
   */
  private masterDownStands(entry: { at: number }): boolean {
    this.host.drain();
    const armed = this.timers.get('master_down');
    if (armed === entry) return true;
    if (armed === undefined || armed.at > this.host.clock.now()) return false; // re-armed ahead, or cancelled
    this.host.clock.clearTimeout(armed.handle);
    this.fire('master_down', armed.at);
    return false;
  }
}
