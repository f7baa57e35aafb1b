/**
 * `lvsd run`'s signals, trapped from the moment the command starts. Node's default for SIGTERM, SIGINT
 * and SIGHUP is to end the process on the spot, so a `systemctl reload` arriving while the daemon is still
 * starting (reading a large table, starting VRRP) would kill it half set up. Until the daemon is ready
 * they are remembered and replayed then: a stop signal stops it as soon as it has started, SIGHUPs become
 * one reload.
 */
import type { Logger } from '../log.js';

export interface SignalHandlers {
  stop(signal: 'SIGTERM' | 'SIGINT'): void;
  reload(): void;
}

export interface SignalTrap {
  /** From now on signals go to `handlers`; the ones that came before are replayed. */
  attach(handlers: SignalHandlers): void;
  /** Removes the listeners (the command is ending). */
  detach(): void;
}

export function trapSignals(log: Logger, target: NodeJS.EventEmitter = process): SignalTrap {
  let handlers: SignalHandlers | undefined;
  let stopSignal: 'SIGTERM' | 'SIGINT' | undefined;
  let reloadPending = false;
  const onStop = (signal: 'SIGTERM' | 'SIGINT') => () => {
    if (handlers) return handlers.stop(signal);
    stopSignal ??= signal;
    log.info({ event: 'daemon.stopping', signal, starting: true }, `${signal} while starting: stopping once started`);
  };
  const onTerm = onStop('SIGTERM');
  const onInt = onStop('SIGINT');
  const onHup = () => {
    if (handlers) {
      log.info({ event: 'config.sighup' }, 'SIGHUP: reloading');
      return handlers.reload();
    }
    reloadPending = true;
    log.info({ event: 'config.sighup', starting: true }, 'SIGHUP while starting: reloading once started');
  };
  target.on('SIGTERM', onTerm);
  target.on('SIGINT', onInt);
  target.on('SIGHUP', onHup);
  return {
    attach(h) {
      handlers = h;
      if (stopSignal) h.stop(stopSignal);
      else if (reloadPending) h.reload();
      reloadPending = false;
    },
    detach() {
      target.off('SIGTERM', onTerm);
      target.off('SIGINT', onInt);
      target.off('SIGHUP', onHup);
    },
  };
}
