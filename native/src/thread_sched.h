#ifndef LVSD_THREAD_SCHED_H
#define LVSD_THREAD_SCHED_H
#include <node_api.h>
napi_value lvsd_vrrp_realtime(napi_env env, napi_callback_info info);
napi_value lvsd_thread_fork_priority(napi_env env, napi_callback_info info);
#endif
