/**
 * The users a config names (exec checks, track scripts, notify and quorum commands, health.execUser) must exist on the
 * director that runs it: a check whose user is unknown would fail every probe and take healthy real servers
 * out, a notify command would never run. `lvsd check`, `lvsd run` and every reload look them up here and
 * refuse the config naming the file and pointer; the running config stays in force.
 */
import { userExists } from '../users.js';
import { pointerJoin, type Problem } from './problems.js';

export interface UserMention {
  user: string;
  file: string;
  pointer: string;
}

/** Where each document names a user: the `user` of a healthCheck, a notify block or a track script, and health.execUser. Pure. */
export function userMentions(documents: ReadonlyArray<{ file: string; data: unknown }>): UserMention[] {
  const out: UserMention[] = [];
  for (const doc of documents) mentionsIn(doc.data, doc.file, [], out);
  return out;
}

/**
 * The mentions in `value`, which sits at `path` (the keys from its document's root) in `file`, appended to
 * `out` in document order: what userMentions finds there.
 */
export function mentionsIn(value: unknown, file: string, path: Array<string | number>, out: UserMention[]): UserMention[] {
  // the keys from the document's root to the value being walked; a pointer is built only for a mention
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (item === null || typeof item !== 'object') continue;
        path.push(i);
        walk(item);
        path.pop();
      }
      return;
    }
    if (v === null || typeof v !== 'object') return;
    const parent = path[path.length - 1];
    const grandparent = path[path.length - 2];
    const obj = v as Record<string, unknown>;
    for (const k in obj) {
      const child = obj[k];
      const names = typeof child === 'string' && (
        (k === 'user' && (parent === 'healthCheck' || parent === 'notify' || parent === 'quorum' || grandparent === 'trackScripts')) ||
        (k === 'execUser' && parent === 'health'));
      if (names) out.push({ user: child, file, pointer: pointerJoin('', ...path, k) });
      else if (child !== null && typeof child === 'object') {
        path.push(k);
        walk(child);
        path.pop();
      }
    }
  };
  walk(value);
  return out;
}

/** One problem per mention of a user this host does not have (each name looked up once). */
export async function unknownUsers(
  mentions: readonly UserMention[],
  lookup: (user: string) => Promise<unknown> = userExists,
): Promise<Problem[]> {
  const verdicts = new Map<string, Promise<string | undefined>>();
  for (const m of mentions) {
    if (!verdicts.has(m.user)) {
      verdicts.set(m.user, lookup(m.user).then(() => undefined, (e: unknown) => {
        const err = e as NodeJS.ErrnoException;
        // `id` could not run (EMFILE ...): say that, do not blame the name
        return err.code ? err.message : `no user "${m.user}" on this host (exec checks, track scripts and notify commands run as it)`;
      }));
    }
  }
  const problems: Problem[] = [];
  for (const m of mentions) {
    const why = await verdicts.get(m.user)!;
    if (why !== undefined) problems.push({ file: m.file, pointer: m.pointer, message: why });
  }
  return problems;
}
