#ifndef LVSD_TCP_PROBE_H
#define LVSD_TCP_PROBE_H
#include <node_api.h>
napi_value lvsd_tcp_prober_open(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_probe(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_probe_cancel(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_prober_close(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_prober_ref(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_watch(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_unwatch(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_prober_limit(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_prober_close_after(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_prober_reuse(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_prober_nice(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_prober_stats(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_prober_configure(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_watch_next(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_watch_state(napi_env env, napi_callback_info info);
napi_value lvsd_tcp_watch_counts(napi_env env, napi_callback_info info);
#endif
