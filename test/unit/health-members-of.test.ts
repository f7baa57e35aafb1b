/**
 * A probe's result finds the members of a service it probes (members.ts membersOf): by a scan of the
 * service's list up to SCAN_MEMBERS members, by a map per service above. Both give what a filter of the
 * list gives, in the list's order, duplicates (two real servers sharing one probe) included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { membersOf, SCAN_MEMBERS } from '../../src/health/members.js';
import type { Job, ServiceEntry } from '../../src/health/job.js';

function entry(jobOf: number[], jobs: Job[]): ServiceEntry {
  return { config: { realServers: jobOf.map((_, i) => ({ index: i })) }, jobs: jobOf.map((j) => jobs[j]!), dests: undefined, desired: {} } as unknown as ServiceEntry;
}

test('membersOf: the members a filter of the list finds, in order, on both sides of SCAN_MEMBERS', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 8 }),
    fc.oneof(fc.integer({ min: 0, max: SCAN_MEMBERS }), fc.integer({ min: SCAN_MEMBERS + 1, max: 3 * SCAN_MEMBERS })),
    fc.integer(),
    (nJobs, n, seed) => {
      const jobs = Array.from({ length: nJobs + 1 }, (_, k) => ({ key: `j${k}` }) as unknown as Job);
      // jobs[nJobs] probes no member of the service
      let x = seed | 0;
      const jobOf = Array.from({ length: n }, () => ((x = (Math.imul(x, 1103515245) + 12345) | 0) >>> 8) % nJobs);
      const svc = entry(jobOf, jobs);
      for (const job of jobs) {
        // the indexes of the real servers it probes
        const want = svc.jobs.flatMap((j, i) => (j === job ? [i] : []));
        assert.deepEqual([...membersOf(svc, job)], want);
        // asked again (the map, once built, is kept): the same
        assert.deepEqual([...membersOf(svc, job)], want);
      }
      assert.equal(svc.byJob !== undefined, n > SCAN_MEMBERS, 'a map only above SCAN_MEMBERS');
    },
  ), { numRuns: 200 });
});
