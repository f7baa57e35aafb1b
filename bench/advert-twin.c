/*
 * The advert clock's twin: a process of its own that keeps the same time as lvsd's advert clock thread
 * (native/src/vrrp_clock.c: SCHED_RR, an absolute CLOCK_MONOTONIC deadline every interval, fixed phase) but
 * shares nothing with lvsd: no address space, no lock, no JavaScript, and every page it uses locked in memory
 * (mlockall), so it never page-faults. It is the control of a late-advert measurement: an advert clock late
 * while its twin on the same CPU is on time was held by something inside lvsd; both late at the same moment
 * is the machine (the guest kernel, or the host not running the VM's CPU: qemu TCG).
 *
 *   cc -O2 -o /tmp/advert-twin bench/advert-twin.c
 *   advert-twin [--interval-ms 100] [--late-ms 25] [--priority 10] [--cpu N] [--seconds 600]
 *
 * Prints one line per wake later than --late-ms, and a summary line every 10 s and at the end:
 *   late <mono_ms> <real_ms> <late_ms> <cpu> <wait_ms> <oncpu_ms>
 *   sum <mono_ms> <wakes> <late> <max_late_ms>
 * mono/real: CLOCK_MONOTONIC and CLOCK_REALTIME ms of the wake; cpu: the CPU it woke on; wait_ms/oncpu_ms:
 * its schedstat deltas over the sleep that ended late (time runnable on a run queue, time on the CPU): both
 * near 0 with a late wake means the timer's wake-up itself came late.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static long long ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int schedstat(int fd, long long *cpu, long long *wait) {
  char buf[128];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *end;
  *cpu = strtoll(buf, &end, 10);
  *wait = strtoll(end, NULL, 10);
  return 0;
}

int main(int argc, char **argv) {
  long interval_ms = 100, late_ms = 25, priority = 10, cpu = -1, seconds = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    long v = strtol(argv[i + 1], NULL, 10);
    if (!strcmp(argv[i], "--interval-ms")) interval_ms = v;
    else if (!strcmp(argv[i], "--late-ms")) late_ms = v;
    else if (!strcmp(argv[i], "--priority")) priority = v;
    else if (!strcmp(argv[i], "--cpu")) cpu = v;
    else if (!strcmp(argv[i], "--seconds")) seconds = v;
    else {
      fprintf(stderr, "advert-twin: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) perror("advert-twin: sched_setaffinity");
  }
  struct sched_param p = {.sched_priority = (int)priority};
  if (priority > 0 && sched_setscheduler(0, SCHED_RR, &p) != 0) perror("advert-twin: sched_setscheduler");
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) perror("advert-twin: mlockall");
  int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  long long step = interval_ms * 1000000LL, late_ns = late_ms * 1000000LL;
  long long start = ns(CLOCK_MONOTONIC), next = start + step, last_sum = start;
  long long wakes = 0, lates = 0, max_late = 0, c0 = 0, w0 = 0, c1, w1;
  schedstat(fd, &c0, &w0);
  while (ns(CLOCK_MONOTONIC) - start < seconds * 1000000000LL) {
    struct timespec ts = {.tv_sec = next / 1000000000LL, .tv_nsec = next % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
    long long now = ns(CLOCK_MONOTONIC), late = now - next;
    wakes++;
    schedstat(fd, &c1, &w1);
    if (late > late_ns) {
      lates++;
      printf("late %.3f %.3f %.3f %d %.3f %.3f\n", now / 1e6, ns(CLOCK_REALTIME) / 1e6, late / 1e6, sched_getcpu(),
             (w1 - w0) / 1e6, (c1 - c0) / 1e6);
    }
    if (late > max_late) max_late = late;
    c0 = c1;
    w0 = w1;
    if (now - last_sum >= 10000000000LL) {
      printf("sum %.3f %lld %lld %.3f\n", now / 1e6, wakes, lates, max_late / 1e6);
      last_sum = now;
    }
    next += step;
    if (next <= now) next = now + step;
  }
  printf("sum %.3f %lld %lld %.3f\n", ns(CLOCK_MONOTONIC) / 1e6, wakes, lates, max_late / 1e6);
  return 0;
}
