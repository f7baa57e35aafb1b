/*
 * pageOut(advice, callback, simulateErrno?, budgetUs?, resumeFrom?): gives the kernel back the pages of the process's read-only file
 * mappings (node's binary: its text, its read-only data with ICU's tables; the libraries; this addon) by
 * madvise(advice) over each, on libuv's thread pool; then callback([bytes advised, mappings advised,
 * mappings refused, first errno, microseconds, mappings kept for their private pages, the address to resume
 * from when the budget cut it (0: done)])
 * on the loop.
 *
 * budgetUs (0: none): past it (wall clock, from the call's start) no further step is advised, and the result
 * gives the address of the first step left; a call with resumeFrom = that address goes on from there (the
 * mappings are read again: nothing below it is advised). The caller decides when, so a slow host does not
 * page out in one long run. This addon's own file is never advised (own_path).
 *
 * MADV_DONTNEED (4, what lvsd uses) only takes the pages out of this process's page tables: they stay in the
 * page cache, so a page touched later is mapped again by a minor fault (no read; the fault maps the cached
 * neighbours within fault_around_bytes, 64 KiB, with it), and the kernel reclaims them as it always did.
 * MADV_PAGEOUT (21, Linux 5.4) reclaims them at once: a clean file page is dropped from the page cache
 * (unless another process maps it), and a later touch reads it back from the file (a major fault).
 *
 * On a private file mapping MADV_DONTNEED also drops the mapping's private (copy-on-write) pages, and the
 * next touch reads the file's contents instead: a relocated pointer (RELRO: read-only after the loader
 * wrote it), a breakpoint a debugger wrote. So with it a mapping is advised only if none of its pages is
 * private: /proc/self/pagemap read for the whole mapping, and again for each 512 KiB step right before that
 * step's madvise (a present page not of the file, or a swapped one, is private); a mapping with one is left
 * (counted in "kept"; if one appeared between the reads, from that step on). A read-only mapping gets no new private page between the read and the madvise except by
 * mprotect (which changes the mapping: the loader does it on RELRO, whose pages are then already private) or
 * a ptrace write. No pagemap to read: nothing is advised with MADV_DONTNEED (that errno reported).
 *
 * Off the loop because a page-out took 130-680 ms on a loaded host (MADV_PAGEOUT's reclaim walks each page's
 * mappings), and in 512 KiB steps: madvise holds the address space's lock for reading while it works, and a
 * thread that maps memory (V8 growing a heap) waits for it; between steps it can go.
 *
 * A mapping madvise refuses (EINVAL on a kernel without the advice) is counted and the first errno
 * reported; the rest are still tried. `simulateErrno` (tests) makes every call fail with that errno instead
 * of calling madvise. When /proc/self/maps cannot be read: nothing advised, that errno, no mapping counted.
 */
#include "page_out.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mem_lock.h"
#include "util.h"

/* 512 KiB a call: each madvise holds the address space's lock for reading, and a thread queued to map memory
 * (V8 growing a heap) makes every later fault (the probe thread's too) wait behind it; under TCG a 2 MiB step
 * took ~0.9 s */
#define STEP (512UL << 10)

typedef struct {
  napi_async_work work;
  napi_ref callback;
  int advice;
  int simulate;
  /* wall-clock budget (microseconds, 0 none): past it no further step is advised, and out[6] is the address
   * of the first step left (where the next call resumes); resume_from: below it nothing is advised */
  double budget_us;
  unsigned long resume_from;
  double out[7]; /* bytes, advised, refused, first errno, us, kept (private pages), address to resume from (0: all done) */
} page_out_job;

static double since_us(const struct timespec *a) {
  struct timespec b;
  clock_gettime(CLOCK_MONOTONIC, &b);
  return (double)(b.tv_sec - a->tv_sec) * 1e6 + (double)(b.tv_nsec - a->tv_nsec) / 1e3;
}

/* This addon's own file: the probe thread and the advert clock run its code, so it is never unmapped (a fault
 * there would wait for the address space's lock behind a page-out). Empty when unknown. */
static void own_path(char *out, size_t size) {
  Dl_info info;
  out[0] = '\0';
  if (dladdr((void *)lvsd_page_out, &info) == 0 || info.dli_fname == NULL) return;
  if (realpath(info.dli_fname, out) == NULL) snprintf(out, size, "%s", info.dli_fname);
}

/* A mapping worth advising: read-only (r-- or r-x), of a regular file by path (not [vdso], a device, a memfd). */
static int candidate(const char *perms, unsigned long inode, const char *path) {
  if (perms[0] != 'r' || perms[1] != '-' || inode == 0 || path[0] != '/') return 0;
  if (strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/memfd:", 7) == 0) return 0;
  return 1;
}

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define PAGEMAP_CHUNK 512

/* 1 when a page in [start, end) is private to this process (present and not the file's, or swapped out);
 * 0 when none is; -errno when pagemap cannot be read. */
static int has_private(int pagemap, unsigned long start, unsigned long end, unsigned long page) {
  uint64_t entries[PAGEMAP_CHUNK];
  for (unsigned long at = start; at < end;) {
    unsigned long pages = (end - at) / page;
    if (pages > PAGEMAP_CHUNK) pages = PAGEMAP_CHUNK;
    ssize_t got = pread(pagemap, entries, pages * sizeof entries[0], (off_t)(at / page * sizeof entries[0]));
    if (got < 0) return -errno;
    if (got == 0) return -EIO;
    size_t n = (size_t)got / sizeof entries[0];
    for (size_t i = 0; i < n; i++) {
      uint64_t e = entries[i];
      if ((e & PM_SWAP) != 0 || ((e & PM_PRESENT) != 0 && (e & PM_FILE) == 0)) return 1;
    }
    at += n * page;
  }
  return 0;
}

/* 0, an errno madvise gave, or -1: left alone for a private page (pagemap >= 0 only): the whole mapping
 * is checked first, and each step again right before its madvise. */
static int advise(unsigned long start, unsigned long end, int advice, int pagemap, unsigned long page, page_out_job *job,
                  const struct timespec *t0) {
  if (pagemap >= 0) {
    int p = has_private(pagemap, start, end, page);
    if (p < 0) return -p;
    if (p > 0) return -1;
  }
  for (unsigned long at = start; at < end; at += STEP) {
    if (job->budget_us > 0 && since_us(t0) > job->budget_us) {
      job->out[6] = (double)at;
      return -2;
    }
    unsigned long len = end - at < STEP ? end - at : STEP;
    if (pagemap >= 0) {
      int p = has_private(pagemap, at, at + len, page);
      if (p < 0) return -p;
      if (p > 0) return -1;
    }
    if (madvise((void *)at, len, advice) != 0) return errno;
  }
  return 0;
}

static void execute(napi_env env, void *data) {
  (void)env;
  page_out_job *job = data;
  struct timespec a;
  clock_gettime(CLOCK_MONOTONIC, &a);
  char own[PATH_MAX];
  own_path(own, sizeof own);
  FILE *maps = fopen("/proc/self/maps", "re");
  if (maps == NULL) {
    job->out[3] = errno;
    return;
  }
  /* the whole list first: advising while reading would read a list the advice may change */
  size_t n = 0, cap = 64;
  unsigned long (*ranges)[2] = malloc(cap * sizeof *ranges);
  char line[4096 + 128];
  while (ranges != NULL && fgets(line, sizeof line, maps) != NULL) {
    unsigned long start, end, offset, inode;
    char perms[8], dev[32], path[4096];
    path[0] = '\0';
    if (sscanf(line, "%lx-%lx %7s %lx %31s %lu %4095[^\n]", &start, &end, perms, &offset, dev, &inode, path) < 6) continue;
    if (!candidate(perms, inode, path) || (own[0] != '\0' && strcmp(path, own) == 0)) continue;
    /* locked for the advert clock (mem_lock.c): MADV_DONTNEED would refuse it */
    if (lvsd_mem_locked(start, end)) continue;
    if (n == cap) {
      void *more = realloc(ranges, 2 * cap * sizeof *ranges);
      if (more == NULL) break;
      ranges = more;
      cap *= 2;
    }
    ranges[n][0] = start;
    ranges[n][1] = end;
    n++;
  }
  fclose(maps);
  if (ranges == NULL) {
    job->out[3] = ENOMEM;
    return;
  }
  /* MADV_DONTNEED would drop a private page: each step's pages are checked first */
  int pagemap = -1;
  unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
  if (job->advice == MADV_DONTNEED && job->simulate == 0) {
    pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) {
      job->out[3] = errno;
      free(ranges);
      return;
    }
  }
  for (size_t i = 0; i < n && job->out[6] == 0; i++) {
    if (ranges[i][1] <= job->resume_from) continue;
    unsigned long from = ranges[i][0] < job->resume_from ? job->resume_from / page * page : ranges[i][0];
    int err = job->simulate != 0 ? job->simulate : advise(from, ranges[i][1], job->advice, pagemap, page, job, &a);
    if (err == -2) {
      /* the budget ran out inside this mapping: what was advised of it is not counted */
      break;
    }
    if (err == -1) {
      job->out[5]++;
      continue;
    }
    if (err != 0) {
      job->out[2]++;
      if (job->out[3] == 0) job->out[3] = err;
      continue;
    }
    job->out[1]++;
    job->out[0] += (double)(ranges[i][1] - from);
  }
  free(ranges);
  if (pagemap >= 0) close(pagemap);
  job->out[4] = since_us(&a);
}

static void complete(napi_env env, napi_status status, void *data) {
  page_out_job *job = data;
  if (status == napi_ok) {
    napi_value result, callback, global;
    napi_create_array_with_length(env, 7, &result);
    for (uint32_t i = 0; i < 7; i++) {
      napi_value v;
      napi_create_double(env, job->out[i], &v);
      napi_set_element(env, result, i, v);
    }
    napi_get_reference_value(env, job->callback, &callback);
    napi_get_global(env, &global);
    napi_value ret;
    /* an exception the callback throws is reported as uncaught */
    if (napi_call_function(env, global, callback, 1, &result, &ret) == napi_pending_exception) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
      napi_fatal_exception(env, e);
    }
  }
  napi_delete_reference(env, job->callback);
  napi_delete_async_work(env, job->work);
  free(job);
}

napi_value lvsd_page_out(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t advice, simulate = 0, budget_us = 0;
  if (argc < 2 || !lvsd_arg_u32(env, argv[0], &advice)) {
    if (argc < 2) lvsd_throw_type(env, "pageOut(advice, callback, simulateErrno?, budgetUs?)");
    return NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) {
    lvsd_throw_type(env, "callback must be a function");
    return NULL;
  }
  if (argc >= 3) {
    napi_typeof(env, argv[2], &t);
    if (t != napi_undefined && !lvsd_arg_u32(env, argv[2], &simulate)) return NULL;
  }
  if (argc >= 4) {
    napi_typeof(env, argv[3], &t);
    if (t != napi_undefined && !lvsd_arg_u32(env, argv[3], &budget_us)) return NULL;
  }
  double resume = 0;
  if (argc >= 5) {
    napi_typeof(env, argv[4], &t);
    if (t == napi_number) napi_get_value_double(env, argv[4], &resume);
    else if (t != napi_undefined) {
      lvsd_throw_type(env, "resumeFrom must be a number");
      return NULL;
    }
  }
  page_out_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    lvsd_throw_errno(env, "calloc", ENOMEM, "pageOut");
    return NULL;
  }
  job->advice = (int)advice;
  job->simulate = (int)simulate;
  job->budget_us = (double)budget_us;
  job->resume_from = resume > 0 ? (unsigned long)resume : 0;
  napi_value name;
  napi_create_string_utf8(env, "lvsd.pageOut", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[1], 1, &job->callback);
  if (napi_create_async_work(env, NULL, name, execute, complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_reference(env, job->callback);
    free(job);
    lvsd_throw_errno(env, "uv_queue_work", EAGAIN, "pageOut");
    return NULL;
  }
  return NULL;
}
