#ifndef LVSD_UDP_PROBE_H
#define LVSD_UDP_PROBE_H
#include <node_api.h>
napi_value lvsd_udp_probe_open(napi_env env, napi_callback_info info);
napi_value lvsd_udp_probe_close(napi_env env, napi_callback_info info);
#endif
