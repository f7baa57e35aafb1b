#ifndef LVSD_ICMP_SOCKET_H
#define LVSD_ICMP_SOCKET_H
#include <node_api.h>
napi_value lvsd_icmp_open(napi_env env, napi_callback_info info);
napi_value lvsd_icmp_send(napi_env env, napi_callback_info info);
napi_value lvsd_icmp_close(napi_env env, napi_callback_info info);
napi_value lvsd_icmp_ref(napi_env env, napi_callback_info info);
#endif
