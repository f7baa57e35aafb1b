#ifndef LVSD_PAGE_OUT_H
#define LVSD_PAGE_OUT_H
#include <node_api.h>
napi_value lvsd_page_out(napi_env env, napi_callback_info info);
#endif
