/** Which real servers of a service a probe's result is for (usually one; more when two share the probe). Pure. */
import type { Job, ServiceEntry } from './job.js';

/**
 * Up to this many members, a result finds its members by a scan of the service's list (a result that changes
 * nothing stops before: the scan runs per transition); a larger service keeps a map by job. The map was
 * ~35 bytes per real server (0.35 MiB at 10,000 in services of 100).
 */
export const SCAN_MEMBERS = 256;

/**
 * The indexes of the real servers of `svc` that `job` probes (usually one; more when two of its real servers
 * share the probe), in the list's order.
 */
export function membersOf(svc: ServiceEntry, job: Job): readonly number[] {
  const jobs = svc.jobs;
  if (jobs.length <= SCAN_MEMBERS) {
    let one: number | undefined;
    let more: number[] | undefined;
    for (let i = 0; i < jobs.length; i++) {
      if (jobs[i] !== job) continue;
      if (one === undefined) one = i;
      else (more ??= [one]).push(i);
    }
    return more ?? (one === undefined ? [] : [one]);
  }
  if (!svc.byJob) {
    const byJob = new Map<Job, number | number[]>();
    for (let i = 0; i < jobs.length; i++) {
      const had = byJob.get(jobs[i]!);
      if (had === undefined) byJob.set(jobs[i]!, i);
      else if (Array.isArray(had)) had.push(i);
      else byJob.set(jobs[i]!, [had, i]);
    }
    svc.byJob = byJob;
  }
  const found = svc.byJob.get(job);
  return found === undefined ? [] : Array.isArray(found) ? found : [found];
}
