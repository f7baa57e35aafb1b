#ifndef LVSD_NETLINK_SOCKET_H
#define LVSD_NETLINK_SOCKET_H
#include <node_api.h>
napi_value lvsd_nl_open(napi_env env, napi_callback_info info);
napi_value lvsd_nl_send(napi_env env, napi_callback_info info);
napi_value lvsd_nl_close(napi_env env, napi_callback_info info);
napi_value lvsd_nl_ref(napi_env env, napi_callback_info info);
napi_value lvsd_nl_info(napi_env env, napi_callback_info info);
#endif
