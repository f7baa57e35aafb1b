#ifndef LVSD_LINK_SEND_H
#define LVSD_LINK_SEND_H
#include <node_api.h>
napi_value lvsd_if_index(napi_env env, napi_callback_info info);
napi_value lvsd_send_frame(napi_env env, napi_callback_info info);
napi_value lvsd_send_icmp6(napi_env env, napi_callback_info info);
#endif
