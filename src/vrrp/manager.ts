/**
 * All VRRP instances of a node: creates and replaces them on reload, routes link events to them, moves
 * sync groups together. Runs inside the VRRP worker thread (worker.ts), so adverts keep time whatever
 * the main thread (health checks, a large reconcile) is doing.
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { listLinks, watchLinks, type LinkWatcher } from '../net/index.js';
import { VrrpInstance, type InstanceHooks, type InstanceSnapshot } from './instance.js';
import type { SyncCommand, VrrpStateName } from './state-machine.js';

export interface ManagerConfig {
  vrrp: VrrpInstanceConfig[];
  syncGroups: Array<{ name: string; instances: string[] }>;
}

/** What the other members of a sync group are told when one member enters `to`. */
export function groupCommand(from: VrrpStateName, to: VrrpStateName): SyncCommand | undefined {
  if (to === 'master') return 'master';
  if (to === 'backup') return from === 'fault' ? 'release' : 'backup';
  if (to === 'fault') return 'fault';
  return undefined;
}

/** The identity of an instance: a config change in any of these replaces it (new socket, new machine). */
function identity(c: VrrpInstanceConfig): string {
  return JSON.stringify(c);
}

export class VrrpManager {
  private readonly instances = new Map<string, VrrpInstance>();
  private watcher: LinkWatcher | undefined;
  private readonly linkUp = new Map<string, boolean>();
  private groups = new Map<string, string[]>();
  private readonly lastState = new Map<string, VrrpStateName>();

  constructor(private readonly log: Logger, private readonly hooks: InstanceHooks = {}) {}

  async start(config: ManagerConfig): Promise<void> {
    for (const l of await listLinks()) this.linkUp.set(l.name, l.up);
    this.watcher = watchLinks((ev) => {
      const up = ev.up && !ev.removed;
      if (this.linkUp.get(ev.name) === up) return;
      this.linkUp.set(ev.name, up);
      this.log.info({ event: 'vrrp.link', interface: ev.name, up }, `${ev.name} is ${up ? 'up' : 'down'}`);
      for (const i of this.instances.values()) i.link(ev.name, up);
    }, { onError: (e) => this.log.warn({ event: 'vrrp.link_watch_error', err: e.message }, e.message) });
    await this.update(config);
  }

  /** Applies a new config: unchanged instances keep running untouched (no VIP moves), others are replaced. */
  async update(config: ManagerConfig): Promise<void> {
    this.groups = new Map(config.syncGroups.map((g) => [g.name, g.instances]));
    const wanted = new Map(config.vrrp.map((c) => [c.name, c]));
    for (const [name, inst] of this.instances) {
      const next = wanted.get(name);
      if (!next || identity(next) !== identity(inst.config)) {
        await inst.stop();
        this.instances.delete(name);
      }
    }
    for (const cfg of config.vrrp) {
      if (this.instances.has(cfg.name)) continue;
      const inst = new VrrpInstance(cfg, this.log, this.hooks, (name, to) => this.onMemberState(name, to));
      this.instances.set(cfg.name, inst);
      const trackDown = cfg.trackInterfaces.filter((t) => this.linkUp.get(t.name) === false).map((t) => t.name);
      await inst.start({ interfaceUp: this.linkUp.get(cfg.interface) ?? true, trackDown });
    }
  }

  private onMemberState(name: string, to: VrrpStateName): void {
    const from = this.lastState.get(name) ?? 'initialize';
    this.lastState.set(name, to);
    const inst = this.instances.get(name);
    const group = inst?.config.syncGroup;
    if (!group) return;
    const command = groupCommand(from, to);
    if (!command) return;
    for (const member of this.groups.get(group) ?? []) {
      if (member === name) continue;
      this.instances.get(member)?.sync(command);
    }
  }

  snapshot(): InstanceSnapshot[] {
    return [...this.instances.values()].map((i) => i.snapshot());
  }

  /** Clean stop of every instance (priority 0, VIPs released). */
  async stop(): Promise<void> {
    this.watcher?.close();
    await Promise.all([...this.instances.values()].map((i) => i.stop()));
    this.instances.clear();
  }
}
