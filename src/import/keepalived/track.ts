/**
 * vrrp_script, vrrp_track_file / track_file and vrrp_track_process definitions, and the track_script /
 * track_file / track_process references of a vrrp_instance -> lvsd's per-instance trackScripts,
 * trackFiles and trackProcesses. keepalived defines each object once at the top level and lets instances
 * name it (with an optional weight of their own); lvsd writes the definition into every instance that
 * names it, with the weight written out (lvsd's defaults differ from keepalived's for processes).
 */
import type { Model } from './model.js';
import { Problems, numberArg, stringArg, walk, type Table } from './rules.js';
import type { Statement } from './tree.js';

type Obj = Record<string, unknown>;
export type TrackKind = 'script' | 'file' | 'process';

interface Def { value: Obj; place: Statement }

/** Definitions by kind and name, and the references instances made, resolved after the whole file was read. */
export interface TrackModel {
  defs: Record<TrackKind, Map<string, Def>>;
  refs: Array<{ kind: TrackKind; name: string; weight?: number; reverse?: boolean; instance: Obj; at: Statement }>;
  /** Definitions refused (their error is reported): references to them are not reported again. */
  broken: Set<string>;
}

export function emptyTracks(): TrackModel {
  return { defs: { script: new Map(), file: new Map(), process: new Map() }, refs: [], broken: new Set() };
}

const KEEPALIVED_DEFAULT_WEIGHT: Record<TrackKind, number> = { script: 0, file: 1, process: 1 };
const WEIGHT_RANGE: Record<TrackKind, number> = { script: 253, file: 254, process: 254 };
const LIST_KEY: Record<TrackKind, string> = { script: 'trackScripts', file: 'trackFiles', process: 'trackProcesses' };
const DEF_KEYWORD: Record<TrackKind, string> = { script: 'vrrp_script', file: 'track_file', process: 'vrrp_track_process' };

/** `weight N [reverse]` from argument `i`; reverse also as `no_reverse`/`noreverse` (false). */
function weightArgs(s: Statement, p: Problems, i: number, kind: TrackKind, out: { weight?: number; reverse?: boolean }): void {
  const range = WEIGHT_RANGE[kind];
  const w = numberArg(s, p, i, { min: -range, max: range });
  if (w !== undefined) out.weight = w;
  const flag = s.args[i + 1];
  if (flag === 'reverse') out.reverse = true;
  else if (flag === 'no_reverse' || flag === 'noreverse') out.reverse = false;
  else if (flag !== undefined) p.error(s, flag, 'not reverse or no_reverse');
}

/** A command as keepalived reads it: one quoted string split on blanks, or the words as given. */
function argv(s: Statement): string[] {
  return s.args.length === 1 ? s.args[0]!.split(/\s+/).filter(Boolean) : [...s.args];
}

export function scriptRules(p: Problems): Table<Obj> {
  return {
    script: { map: (s, d) => { const a = argv(s); if (a.length > 0) d.command = a; else p.error(s, 'script', 'a value is missing'); } },
    interval: { map: (s, d) => { d.interval = numberArg(s, p, 0, { min: 0, fraction: true }); } },
    timeout: { map: (s, d) => { d.timeout = numberArg(s, p, 0, { min: 0, fraction: true }); } },
    weight: { map: (s, d) => weightArgs(s, p, 0, 'script', d as { weight?: number }) },
    rise: { map: (s, d) => { d.rise = numberArg(s, p, 0, { min: 1, max: 1000 }); } },
    fall: { map: (s, d) => { d.fall = numberArg(s, p, 0, { min: 1, max: 1000 }); } },
    user: {
      map: (s, d) => {
        d.user = stringArg(s, p);
        if (s.args[1] !== undefined) p.warn(s, 'user', `lvsd runs the script with the user's own group, not ${s.args[1]}`);
      },
    },
    init_fail: { map: (_s, d) => { d.initFail = true; } },
  };
}

export function fileRules(p: Problems): Table<Obj> {
  return {
    file: { map: (s, d) => { d.path = stringArg(s, p); } },
    weight: { map: (s, d) => weightArgs(s, p, 0, 'file', d as { weight?: number }) },
    init_file: {
      map: (s) => {
        const value = s.args[0] !== undefined && s.args[0] !== 'overwrite' ? numberArg(s, p, 0) : 0;
        const overwrite = s.args.includes('overwrite');
        if (s.args.length > (s.args[0] === 'overwrite' ? 1 : overwrite ? 2 : s.args[0] !== undefined ? 1 : 0)) p.error(s, 'init_file', 'not VALUE [overwrite]');
        if (value === undefined) return;
        if (value !== 0 || overwrite) p.error(s, 'init_file', 'lvsd writes nothing to the file: create it with its value before lvsd starts');
        else p.warn(s, 'init_file', 'lvsd does not create the file; a missing file reads as 0, as this would have written');
      },
    },
  };
}

export function processRules(p: Problems): Table<Obj & { forkDelay?: number; terminateDelay?: number }> {
  const delay = (key: 'forkDelay' | 'terminateDelay' | 'both') => ({
    map: (s: Statement, d: Obj) => {
      const n = numberArg(s, p, 0, { min: 0, fraction: true });
      if (n === undefined) return;
      if (key === 'both') d.forkDelay = d.terminateDelay = n;
      else d[key] = n;
    },
  });
  return {
    process: {
      map: (s, d) => {
        const [name, ...args] = s.args;
        if (name === undefined) return void p.error(s, 'process', 'a value is missing');
        d.name = name;
        if (args.length > 0) d.args = args;
      },
    },
    param_match: { unsupported: 'lvsd matches the arguments exactly (no initial or partial match)' },
    full_command: { ignored: 'lvsd matches the process name against comm, argv[0] and its base name, and given arguments exactly' },
    weight: { map: (s, d) => weightArgs(s, p, 0, 'process', d as { weight?: number }) },
    quorum: { map: (s, d) => { d.quorum = numberArg(s, p, 0, { min: 0, max: 65535 }); } },
    quorum_max: { map: (s, d) => { d.quorumMax = numberArg(s, p, 0, { min: 0, max: 65535 }); } },
    delay: delay('both'),
    fork_delay: delay('forkDelay'),
    terminate_delay: delay('terminateDelay'),
  };
}

/** A top-level definition: vrrp_script NAME { ... } and the like. */
export function mapTrackDef(kind: TrackKind, s: Statement, model: Model, p: Problems): void {
  const name = stringArg(s, p);
  if (name === undefined) return;
  const d: Obj & { forkDelay?: number; terminateDelay?: number } = {};
  const table = kind === 'script' ? scriptRules(p) : kind === 'file' ? fileRules(p) : processRules(p);
  walk(s.block, table as Table<Obj>, d, p, s.keyword);
  if (kind === 'process' && (d.forkDelay !== undefined || d.terminateDelay !== undefined)) {
    const f = d.forkDelay ?? 0;
    const t = d.terminateDelay ?? 0;
    if (f !== t) p.warn(s, 'delay', `lvsd has one delay for both directions: ${Math.max(f, t)} s`);
    d.delay = Math.max(f, t);
    delete d.forkDelay;
    delete d.terminateDelay;
  }
  const required = kind === 'script' ? 'command' : kind === 'file' ? 'path' : 'name';
  if (d[required] === undefined) {
    p.error(s, s.keyword, `no ${kind === 'script' ? 'script' : kind === 'file' ? 'file' : 'process'}: nothing to track`);
    model.tracks.broken.add(`${kind}\0${name}`);
    return;
  }
  const defs = model.tracks.defs[kind];
  if (defs.has(name)) p.error(s, s.keyword, `a second ${s.keyword} named ${name} (keepalived takes one)`);
  else defs.set(name, { value: d, place: s });
}

/** An instance's track_script / track_file / track_process block: each line names a definition. */
export function mapTrackRefs(kind: TrackKind, s: Statement, instance: Obj, model: Model, p: Problems): void {
  for (const line of s.block ?? []) {
    const ref: TrackModel['refs'][number] = { kind, name: line.keyword, instance, at: line };
    if (line.args[0] === 'weight') {
      weightArgs(line, p, 1, kind, ref);
      if (line.args.length > 3) p.error(line, line.args[3]!, 'unexpected (nothing was imported from this line)');
    }
    else if (line.args.length > 0) p.error(line, line.args[0]!, `not a ${s.keyword} option the importer knows (weight N [reverse])`);
    model.tracks.refs.push(ref);
  }
}

/** After the whole file: each reference becomes its instance's entry, with the definition's settings. */
export function resolveTracks(model: Model, p: Problems): void {
  for (const ref of model.tracks.refs) {
    const def = model.tracks.defs[ref.kind].get(ref.name);
    if (!def) {
      if (!model.tracks.broken.has(`${ref.kind}\0${ref.name}`)) p.error(ref.at, ref.name, `no ${DEF_KEYWORD[ref.kind]} named ${ref.name}`);
      continue;
    }
    const entry: Obj = { ...def.value };
    if (ref.kind === 'script') entry.name = ref.name;
    entry.weight = ref.weight ?? (def.value.weight as number | undefined) ?? KEEPALIVED_DEFAULT_WEIGHT[ref.kind];
    const reverse = ref.reverse ?? (def.value.reverse as boolean | undefined);
    if (reverse) entry.reverse = true;
    else delete entry.reverse;
    const key = LIST_KEY[ref.kind];
    const list = (ref.instance[key] as Obj[] | undefined) ?? [];
    list.push(entry);
    ref.instance[key] = list;
  }
}
