/*
 * Scheduling policy of the calling thread: the VRRP thread's SCHED_RR (vrrpRealtime), and the main thread's
 * brief raise around a spawn (threadForkPriority, src/fork-priority.ts).
 */
#include "thread_sched.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/*
 * vrrpRealtime(priority: 1..99) -> tid
 * Puts the calling thread (only: Linux applies a policy per thread) in SCHED_RR at `priority`, with
 * SCHED_RESET_ON_FORK so what it spawns runs ordinary scheduling. One system call: no process is started
 * (util-linux chrt was: a fork of the whole process from this thread, which blocked the thread until the
 * child exec'd and held every thread's page faults while the page tables were copied). Throws the errno
 * (EPERM without CAP_SYS_NICE).
 */
napi_value lvsd_vrrp_realtime(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t priority;
  if (argc < 1 || !lvsd_arg_u32(env, argv[0], &priority)) return NULL;
  if (priority < 1 || priority > 99) {
    lvsd_throw_type(env, "priority must be 1..99");
    return NULL;
  }
  struct sched_param param = {.sched_priority = (int)priority};
  if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &param) != 0) {
    lvsd_throw_errno(env, "sched_setscheduler", errno, "SCHED_RR");
    return NULL;
  }
  napi_value result;
  napi_create_int64(env, (int64_t)syscall(SYS_gettid), &result);
  return result;
}

/*
 * threadForkPriority(raise: boolean) -> boolean
 * Raises the calling thread to SCHED_RR 1 (reset on fork) or puts it back to SCHED_OTHER. The main thread
 * raises itself around a spawn (src/fork-priority.ts): the fork copies the page tables holding the address
 * space's lock, and an ordinary thread preempted meanwhile stalled the VRRP thread's page faults for as long
 * as it waited for a CPU. false when the policy could not be set (no CAP_SYS_NICE) or the thread does not
 * run SCHED_OTHER (it is left alone then): never throws.
 */
napi_value lvsd_thread_fork_priority(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool raise = false;
  if (argc >= 1) napi_get_value_bool(env, argv[0], &raise);
  struct sched_param param = {.sched_priority = raise ? 1 : 0};
  /* a thread the operator runs otherwise (chrt, systemd CPUSchedulingPolicy=) is left as it is */
  int rc = raise && sched_getscheduler(0) != SCHED_OTHER
    ? -1
    : sched_setscheduler(0, raise ? (SCHED_RR | SCHED_RESET_ON_FORK) : SCHED_OTHER, &param);
  napi_value result;
  napi_get_boolean(env, rc == 0, &result);
  return result;
}
