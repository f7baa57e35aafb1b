#ifndef LVSD_VRRP_SOCKET_H
#define LVSD_VRRP_SOCKET_H
#include <node_api.h>
napi_value lvsd_vrrp_open(napi_env env, napi_callback_info info);
napi_value lvsd_vrrp_send(napi_env env, napi_callback_info info);
napi_value lvsd_vrrp_close(napi_env env, napi_callback_info info);
napi_value lvsd_vrrp_ref(napi_env env, napi_callback_info info);
napi_value lvsd_vrrp_listen(napi_env env, napi_callback_info info);
napi_value lvsd_vrrp_drain(napi_env env, napi_callback_info info);
#endif
