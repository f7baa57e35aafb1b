/*
 * The TCP prober's lifetime: opening one (its epoll set, uv poll and timer, the JavaScript callback),
 * growing its slot arrays, and closing it from JavaScript, from the garbage collector (finalize) or at
 * the environment's teardown (a worker ending), whichever comes first; the memory goes once both uv
 * handles have closed and the JavaScript handle is finalized.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tcp_probe.h"
#include "tcp_probe_int.h"

static void free_prober(tcp_prober *p) {
  free(p->slots);
  free(p->free_ids);
  free(p->heap);
  free(p->out);
  free(p->done);
  free(p->watches);
  free(p->turns);
  free(p->scratch);
  free(p);
}

static void on_handle_closed(uv_handle_t *handle) {
  tcp_prober *p = handle->data;
  if (--p->handles_open > 0) return;
  if (p->cleanup_hook != NULL) napi_remove_async_cleanup_hook(p->cleanup_hook);
  p->cleanup_hook = NULL;
  if (p->finalized) free_prober(p);
}

void lvsd_tcp_begin_close(tcp_prober *p, bool from_js) {
  if (p->closing) return;
  p->closing = true;
  uv_poll_stop(&p->poll);
  uv_timer_stop(&p->timer);
  for (uint32_t i = 0; i < p->nslots; i++) {
    if (p->slots[i].fd >= 0) close(p->slots[i].fd);
    p->slots[i].fd = -1;
  }
  p->heap_n = 0;
  p->turns_n = 0;
  p->out_n = 0;
  close(p->epfd);
  p->epfd = -1;
  if (from_js) lvsd_async_release(p->env, &p->callback, &p->async_context);
  uv_close((uv_handle_t *)&p->poll, on_handle_closed);
  uv_close((uv_handle_t *)&p->timer, on_handle_closed);
}

static void env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  lvsd_tcp_begin_close(arg, false);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tcp_prober *p = data;
  p->finalized = true;
  if (!p->closing) lvsd_tcp_begin_close(p, true);
  else if (p->handles_open == 0) free_prober(p);
}

tcp_prober *lvsd_tcp_unwrap(napi_env env, napi_value v) {
  return lvsd_unwrap(env, v, "expected a TCP prober handle");
}

/* Make room for one more slot; false when out of memory. */
bool lvsd_tcp_grow(tcp_prober *p) {
  if (p->nfree > 0 || p->nslots < p->cap) return true;
  uint32_t cap = p->cap ? p->cap * 2 : 256;
  probe_slot *slots = realloc(p->slots, sizeof *slots * cap);
  if (slots == NULL) return false;
  p->slots = slots;
  uint32_t *f = realloc(p->free_ids, sizeof *f * cap), *h = NULL, *d = NULL;
  if (f != NULL) p->free_ids = f;
  if (f != NULL) h = realloc(p->heap, sizeof *h * cap);
  if (h != NULL) p->heap = h;
  if (h != NULL) d = realloc(p->done, sizeof *d * cap);
  if (d != NULL) p->done = d;
  if (d == NULL) return false;
  p->cap = cap;
  return true;
}

/* A prober delivering to `callback`; NULL after throwing. */
napi_value lvsd_tcp_open(napi_env env, napi_value callback) {
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    lvsd_throw_type(env, "no event loop");
    return NULL;
  }
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    lvsd_throw_errno(env, "epoll_create1", errno, NULL);
    return NULL;
  }
  tcp_prober *p = calloc(1, sizeof *p);
  if (p == NULL || !lvsd_tcp_grow(p)) {
    if (p != NULL) free_prober(p);
    close(epfd);
    lvsd_throw_errno(env, "calloc", ENOMEM, NULL);
    return NULL;
  }
  p->env = env;
  p->epfd = epfd;
  int rc = uv_poll_init(loop, &p->poll, epfd);
  if (rc < 0) {
    close(epfd);
    free_prober(p);
    lvsd_throw_errno(env, "uv_poll_init", -rc, NULL);
    return NULL;
  }
  p->poll.data = p;
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  p->handles_open = 2;
  lvsd_async_init(env, callback, "lvsd:TcpProber", &p->callback, &p->async_context, env_cleanup, p, &p->cleanup_hook);
  rc = uv_poll_start(&p->poll, UV_READABLE, lvsd_tcp_on_poll);
  napi_value handle;
  napi_create_external(env, p, finalize, NULL, &handle);
  if (rc < 0) {
    lvsd_tcp_begin_close(p, true);
    lvsd_throw_errno(env, "uv_poll_start", -rc, NULL);
    return NULL;
  }
  return handle;
}
