/*
 * pageOut(advice, callback, simulateErrno?): gives the kernel back the pages of the process's read-only file
 * mappings (node's binary: its text, its read-only data with ICU's tables; the libraries; this addon) by
 * madvise(advice) over each, on libuv's thread pool; then callback([bytes advised, mappings advised,
 * mappings refused, first errno, microseconds]) on the loop.
 *
 * MADV_PAGEOUT (21, Linux 5.4) reclaims a mapping's pages at once: a clean file page is dropped, and a later
 * touch reads it back from the file. MADV_COLD (20) only moves them to the inactive list. Most of node's
 * mapped pages are touched only while the process starts (the start-up snapshot, ICU, the module loader)
 * and then sit in the RSS until memory is short. The kernel itself leaves alone a page another process
 * maps too (a second node) and a locked mapping; writable and anonymous mappings are never passed (their
 * pages would need swap).
 *
 * Off the loop because a page-out took 130-680 ms on a loaded host (the reclaim walks each page's mappings),
 * and in 2 MiB steps: madvise holds the address space's lock for reading while it works, and a thread that
 * maps memory (V8 growing a heap) waits for it; between steps it can go.
 *
 * A mapping madvise refuses (EINVAL on a kernel without the advice) is counted and the first errno
 * reported; the rest are still tried. `simulateErrno` (tests) makes every call fail with that errno instead
 * of calling madvise. When /proc/self/maps cannot be read: nothing advised, that errno, no mapping counted.
 */
#include "page_out.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "util.h"

#define STEP (2UL << 20)

typedef struct {
  napi_async_work work;
  napi_ref callback;
  int advice;
  int simulate;
  double out[5]; /* bytes, advised, refused, first errno, us */
} page_out_job;

/* A mapping worth advising: read-only (r-- or r-x), of a regular file by path (not [vdso], a device, a memfd). */
static int candidate(const char *perms, unsigned long inode, const char *path) {
  if (perms[0] != 'r' || perms[1] != '-' || inode == 0 || path[0] != '/') return 0;
  if (strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/memfd:", 7) == 0) return 0;
  return 1;
}

static int advise(unsigned long start, unsigned long end, int advice) {
  for (unsigned long at = start; at < end; at += STEP) {
    unsigned long len = end - at < STEP ? end - at : STEP;
    if (madvise((void *)at, len, advice) != 0) return errno;
  }
  return 0;
}

static void execute(napi_env env, void *data) {
  (void)env;
  page_out_job *job = data;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
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
    if (!candidate(perms, inode, path)) continue;
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
  for (size_t i = 0; i < n; i++) {
    int err = job->simulate != 0 ? job->simulate : advise(ranges[i][0], ranges[i][1], job->advice);
    if (err != 0) {
      job->out[2]++;
      if (job->out[3] == 0) job->out[3] = err;
      continue;
    }
    job->out[1]++;
    job->out[0] += (double)(ranges[i][1] - ranges[i][0]);
  }
  free(ranges);
  clock_gettime(CLOCK_MONOTONIC, &b);
  job->out[4] = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
}

static void complete(napi_env env, napi_status status, void *data) {
  page_out_job *job = data;
  if (status == napi_ok) {
    napi_value result, callback, global;
    napi_create_array_with_length(env, 5, &result);
    for (uint32_t i = 0; i < 5; i++) {
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
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t advice, simulate = 0;
  if (argc < 2 || !lvsd_arg_u32(env, argv[0], &advice)) {
    if (argc < 2) lvsd_throw_type(env, "pageOut(advice, callback, simulateErrno?)");
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
  page_out_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    lvsd_throw_errno(env, "calloc", ENOMEM, "pageOut");
    return NULL;
  }
  job->advice = (int)advice;
  job->simulate = (int)simulate;
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
