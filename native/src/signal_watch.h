#ifndef LVSD_SIGNAL_WATCH_H
#define LVSD_SIGNAL_WATCH_H
#include <node_api.h>
napi_value lvsd_signal_watch(napi_env env, napi_callback_info info);
napi_value lvsd_signal_watch_close(napi_env env, napi_callback_info info);
#endif
