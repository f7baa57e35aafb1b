/*
 * Small helpers shared by the addon's C files: argument reading and errno errors.
 * Errors thrown to JavaScript are plain Error objects with `errno` (positive number) and `syscall`
 * properties; src/net/native.ts turns them into LvsdError with the errno's name.
 */
#ifndef LVSD_UTIL_H
#define LVSD_UTIL_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Throw an Error carrying errno and syscall; `what` (may be NULL) names the object, e.g. the interface. */
void lvsd_throw_errno(napi_env env, const char *syscall, int err, const char *what);
/* Build (without throwing) the same kind of Error. */
napi_value lvsd_errno_error(napi_env env, const char *syscall, int err, const char *what);
/* Throw a TypeError for a bad argument. */
void lvsd_throw_type(napi_env env, const char *message);

/* Argument readers: return false after throwing a TypeError. */
bool lvsd_arg_u32(napi_env env, napi_value v, uint32_t *out);
bool lvsd_arg_bool(napi_env env, napi_value v, bool *out);
bool lvsd_arg_ifname(napi_env env, napi_value v, char *buf, size_t size);
bool lvsd_arg_buffer(napi_env env, napi_value v, void **data, size_t *len);
/* A Buffer of exactly `len` bytes, or null/undefined (then *data = NULL). */
bool lvsd_arg_opt_address(napi_env env, napi_value v, size_t len, void **data);

/* Call a JS callback held by `ref` from a libuv callback (node::MakeCallback semantics, the global object as
   receiver); an exception it throws is reported as uncaught, as an event emitter's listener would be. */
void lvsd_call_js(napi_env env, napi_ref ref, napi_async_context context, size_t argc, napi_value *argv);
/* The JS side of a polled handle: a reference to `callback`, an async context named `name`, and the
   environment cleanup hook (so teardown waits for the uv handles to close). */
void lvsd_async_init(napi_env env, napi_value callback, const char *name, napi_ref *ref, napi_async_context *context,
                     napi_async_cleanup_hook hook, void *arg, napi_async_cleanup_hook_handle *hook_handle);

/* Set an integer socket option, throwing on failure (returns false). */
bool lvsd_setsockopt_int(napi_env env, int fd, int level, int name, int value, const char *optname);

#endif
