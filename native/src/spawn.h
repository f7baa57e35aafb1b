#ifndef LVSD_SPAWN_H
#define LVSD_SPAWN_H
#include <node_api.h>
napi_value lvsd_spawn_child(napi_env env, napi_callback_info info);
napi_value lvsd_child_ref(napi_env env, napi_callback_info info);
#endif
