#ifndef LVSD_VRRP_CLOCK_H
#define LVSD_VRRP_CLOCK_H
#include <node_api.h>

#include "util.h"

napi_value lvsd_advert_clock(napi_env env, napi_callback_info info);
napi_value lvsd_advert_schedule(napi_env env, napi_callback_info info);
napi_value lvsd_advert_stop(napi_env env, napi_callback_info info);
napi_value lvsd_advert_read(napi_env env, napi_callback_info info);
/* The socket `h` is closing: its entry (if any) is removed, and no send on its fd is under way once this returns. */
void lvsd_advert_forget(lvsd_polled *h);
#endif
