/*
 * Locked memory for the advert clock (see mem_lock.h). A page fault takes the address space's lock for
 * reading (kernels before 6.4 for every fault; later ones when the mapping is being changed), so a thread
 * that faults waits for any thread of the process holding it for writing (V8 and malloc map, unmap and
 * protect memory all the time) and, on a loaded machine, for as long as that holder waits for a CPU. The
 * page-out (page_out.c) drops the pages of read-only file mappings, libc's among them, so a thread running
 * libc code faults again after each one. Locked pages are never dropped: mlock faults them in once, the
 * kernel neither reclaims nor swaps them, and MADV_DONTNEED refuses them (page_out.c skips them first).
 */
#include "mem_lock.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_LOCKED 16

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long locked[MAX_LOCKED][2];
static int n_locked;

int lvsd_mem_lock(const void *start, size_t len) {
  unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
  unsigned long a = (uintptr_t)start / page * page;
  unsigned long b = ((uintptr_t)start + len + page - 1) / page * page;
  if (mlock((void *)a, b - a) != 0) return errno;
  pthread_mutex_lock(&mu);
  if (n_locked < MAX_LOCKED) {
    locked[n_locked][0] = a;
    locked[n_locked][1] = b;
    n_locked++;
  }
  pthread_mutex_unlock(&mu);
  return 0;
}

/* One line of /proc/self/maps: its range, permissions and file (device, inode; 0 for none). */
typedef struct {
  unsigned long start, end, dev, inode;
  char perms[8];
} map_line;

static bool parse_line(const char *line, map_line *m) {
  unsigned long offset, major, minor;
  if (sscanf(line, "%lx-%lx %7s %lx %lx:%lx %lu", &m->start, &m->end, m->perms, &offset, &major, &minor, &m->inode) < 7) return false;
  m->dev = major << 20 | minor;
  return true;
}

int lvsd_mem_lock_file_of(const void *addr, bool exec_only, size_t *bytes) {
  *bytes = 0;
  char line[4096 + 128];
  map_line m, want = {0};
  /* first the file that holds addr, then its mappings: the whole list is read before any is locked, as
   * locking splits and merges mappings, which would change the file while it is read */
  FILE *maps = fopen("/proc/self/maps", "re");
  if (maps == NULL) return errno;
  while (want.inode == 0 && fgets(line, sizeof line, maps) != NULL)
    if (parse_line(line, &m) && m.inode != 0 && (uintptr_t)addr >= m.start && (uintptr_t)addr < m.end) want = m;
  fclose(maps);
  if (want.inode == 0) return ENOENT;
  map_line of[32];
  int n = 0;
  maps = fopen("/proc/self/maps", "re");
  if (maps == NULL) return errno;
  while (n < 32 && fgets(line, sizeof line, maps) != NULL)
    if (parse_line(line, &m) && m.dev == want.dev && m.inode == want.inode && (!exec_only || m.perms[2] == 'x')) of[n++] = m;
  fclose(maps);
  int err = 0;
  for (int i = 0; i < n; i++) {
    int e = lvsd_mem_lock((void *)of[i].start, of[i].end - of[i].start);
    if (e == 0) *bytes += of[i].end - of[i].start;
    else if (err == 0) err = e;
  }
  return err;
}

/* the mapping's length, before what the caller gets (16 bytes keep the caller's memory aligned) */
#define OWN_HEADER 16

void *lvsd_own_alloc(size_t size, bool lock) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t len = (size + OWN_HEADER + page - 1) / page * page;
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  madvise(p, len, MADV_NOHUGEPAGE);
  if (lock) mlock(p, len); /* faults it in; refused (no CAP_IPC_LOCK, RLIMIT_MEMLOCK): it stays unlocked */
  *(size_t *)p = len;
  return (char *)p + OWN_HEADER;
}

void lvsd_own_free(void *p) {
  if (p == NULL) return;
  char *base = (char *)p - OWN_HEADER;
  munmap(base, *(size_t *)base);
}

bool lvsd_mem_locked(unsigned long start, unsigned long end) {
  bool hit = false;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < n_locked && !hit; i++) hit = start < locked[i][1] && locked[i][0] < end;
  pthread_mutex_unlock(&mu);
  return hit;
}
