/** What the mapper builds: lvsd config parts, each with the keepalived place it came from. */
import type { Place } from './problems.js';
import type { Statement } from './tree.js';
import { emptyTracks, type TrackModel } from './track.js';

type Obj = Record<string, unknown>;

export interface Model {
  services: Array<{ value: Obj; place: Place; realServerPlaces: Place[] }>;
  vrrp: Array<{ value: Obj; place: Place }>;
  syncGroups: Array<{ value: Obj; place: Place }>;
  connectionSync?: { value: Obj; place: Place };
  ipvs?: { value: Obj; place: Place };
  health?: { value: Obj; place: Place };
  /** virtual_server_group definitions as lvsd `members` entries (ranges kept), and how many services they expand to. */
  groups: Map<string, { members: Obj[]; size: number; place: Place; used: boolean }>;
  globals: Globals;
  /** vrrp_script / track_file / vrrp_track_process definitions and the instances' references to them. */
  tracks: TrackModel;
  /** A vrrp_sync_group's notify commands (per state, argv), placed on a member instance once all are read. */
  groupNotify: Array<{ group: string; members: string[]; notify: Record<string, { argv: string[]; at: Statement }>; at: Statement }>;
}

/** global_defs values that instances and checks inherit. */
export interface Globals {
  vrrpVersion?: number;
  garpInterval?: number;
  garpRepeat?: number;
  garpRefresh?: number;
  defaultInterface?: string;
  /** `vrrp_strict`, where it was written. */
  strict?: Statement;
}

export function emptyModel(): Model {
  return { services: [], vrrp: [], syncGroups: [], groups: new Map(), globals: {}, tracks: emptyTracks(), groupNotify: [] };
}

/** The lvsd JSON document of the model's entries that are not dropped, and where each part came from. */
export function render(model: Model, dropped: ReadonlySet<string>): { doc: Obj; origins: Map<string, Place> } {
  const doc: Obj = {};
  const origins = new Map<string, Place>();
  const list = (key: 'services' | 'vrrp' | 'syncGroups'): void => {
    const items = model[key].filter((_, i) => !dropped.has(`/${key}/${i}`));
    if (items.length === 0) return;
    doc[key] = items.map((e) => e.value);
    let j = 0;
    model[key].forEach((e, i) => {
      if (dropped.has(`/${key}/${i}`)) return;
      origins.set(`/${key}/${j}`, e.place);
      origins.set(`/${key}/${j}#`, { file: String(i), line: -1 });
      const rsPlaces = (e as { realServerPlaces?: Place[] }).realServerPlaces ?? [];
      rsPlaces.forEach((pl, r) => origins.set(`/${key}/${j}/realServers/${r}`, pl));
      j++;
    });
  };
  list('services');
  list('vrrp');
  list('syncGroups');
  for (const key of ['connectionSync', 'ipvs', 'health'] as const) {
    const e = model[key];
    if (e && !dropped.has(`/${key}`)) {
      doc[key] = e.value;
      origins.set(`/${key}`, e.place);
    }
  }
  return { doc, origins };
}
