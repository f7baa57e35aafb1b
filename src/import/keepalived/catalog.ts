/**
 * Every keyword the importer knows, per block, and what it does with it (map / approximate / refuse): the
 * keyword tables themselves, listed (docs/migrating-from-keepalived.md is checked against this list).
 */
import { checkers, common, urlTable } from './checks.js';
import { globalRules, rootRules } from './convert.js';
import { emptyModel } from './model.js';
import { Problems, type Table } from './rules.js';
import { realServerRules, serviceRules } from './service-rules.js';
import { instanceRules, syncGroupRules } from './vrrp.js';
import { fileRules, processRules, scriptRules } from './track.js';

export type KeywordKind = 'mapped' | 'not supported' | 'ignored';

function list(table: Table<never>): Record<string, { kind: KeywordKind; why?: string }> {
  return Object.fromEntries(Object.entries(table).map(([k, rule]) => [
    k,
    'unsupported' in rule ? { kind: 'not supported' as const, why: rule.unsupported } : 'ignored' in rule ? { kind: 'ignored' as const, why: rule.ignored } : { kind: 'mapped' as const },
  ]));
}

/** block name -> keyword -> kind (and the reason for the ones not mapped). */
export function keywordCatalog(): Record<string, Record<string, { kind: KeywordKind; why?: string }>> {
  const p = new Problems();
  const model = emptyModel();
  const out: Record<string, Record<string, { kind: KeywordKind; why?: string }>> = {
    'top level': list(rootRules(model, p) as Table<never>),
    global_defs: list(globalRules(model, p) as Table<never>),
    vrrp_instance: list(instanceRules(p) as Table<never>),
    vrrp_sync_group: list(syncGroupRules(p, []) as Table<never>),
    virtual_server: list(serviceRules(p, { value: 'tcp' }) as Table<never>),
    real_server: list(realServerRules(p) as Table<never>),
    'checkers (all)': list(common(p) as Table<never>),
    url: list(urlTable(p) as Table<never>),
    vrrp_script: list(scriptRules(p) as Table<never>),
    vrrp_track_file: list(fileRules(p) as Table<never>),
    vrrp_track_process: list(processRules(p) as Table<never>),
  };
  for (const [name, make] of Object.entries(checkers)) {
    const def = make(p);
    if ('unsupported' in def) out['real_server'] = { ...out['real_server'], [name]: { kind: 'not supported', why: def.unsupported } };
    else {
      const own = Object.fromEntries(Object.entries(list(def.table as Table<never>)).filter(([k]) => !(k in common(p))));
      if (Object.keys(own).length > 0) out[name] = own;
    }
  }
  return out;
}
