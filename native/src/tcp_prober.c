/*
 * The TCP prober's lifetime: opening one (its epoll set and eventfd, the engine started on its thread or
 * the loop by tcp_runner.c, the JavaScript callback), and closing it from JavaScript, from the garbage
 * collector (finalize) or at the environment's teardown (a worker ending), whichever comes first. Closing
 * stops the engine first (the thread joined), so every socket is closed by the thread that closes the
 * prober and nothing runs after; the memory goes once every uv handle has closed and the JavaScript
 * handle is finalized.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tcp_probe.h"
#include "tcp_probe_int.h"

static void free_prober(tcp_prober *p) {
  free(p->slots);
  free(p->free_ids);
  free(p->heap);
  free(p->turns);
  free(p->turn_due);
  free(p->scratch);
  free(p->oneoff_slot);
  free(p->folds);
  free(p->work);
  free(p->cmds);
  free(p->out);
  free(p->watches);
  free(p->taken);
  free(p->deliver_buf);
  free(p->js_epoch);
  free(p->js_used);
  free(p->oneoff_epoch);
  free(p->oneoff_pending);
  free(p->oneoff_free);
  free(p->done);
  free(p->idle[0]);
  free(p->idle[1]);
  free(p->spare[0]);
  free(p->spare[1]);
  free(p->fd_slot);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

void lvsd_tcp_handle_closed(uv_handle_t *handle) {
  tcp_prober *p = handle->data;
  if (--p->handles_open > 0) return;
  if (p->cleanup_hook != NULL) napi_remove_async_cleanup_hook(p->cleanup_hook);
  p->cleanup_hook = NULL;
  if (p->finalized) free_prober(p);
}

void lvsd_tcp_begin_close(tcp_prober *p, bool from_js) {
  if (p->closing) return;
  p->closing = true;
  bool loop_handles = p->handles_open > 1;
  lvsd_tcp_stop(p); /* from here on nothing else touches the engine's state */
  for (uint32_t i = 0; i < p->nslots; i++) {
    if (p->slots[i].fd >= 0) close(p->slots[i].fd);
    p->slots[i].fd = -1;
  }
  lvsd_tcp_close_held(p, true);
  lvsd_tcp_close_spare(p);
  for (int f = 0; f < 2; f++) {
    for (uint32_t i = 0; i < p->idle_n[f]; i++) close(p->idle[f][i]);
    p->idle_n[f] = 0;
  }
  p->heap_n = 0;
  p->turns_n = 0;
  p->out_n = 0;
  close(p->epfd);
  p->epfd = -1;
  close(p->wakefd);
  p->wakefd = -1;
  if (from_js) lvsd_async_release(p->env, &p->callback, &p->async_context);
  uv_close((uv_handle_t *)&p->async, lvsd_tcp_handle_closed);
  if (loop_handles) {
    uv_close((uv_handle_t *)&p->poll, lvsd_tcp_handle_closed);
    uv_close((uv_handle_t *)&p->timer, lvsd_tcp_handle_closed);
  }
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

/* A prober delivering to `callback`, its engine on a thread (mode 0), the loop (1), or a thread that
   cannot be created (2: the fallback, for tests); NULL after throwing. */
napi_value lvsd_tcp_open(napi_env env, napi_value callback, int mode) {
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
  int wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WAKE_ID};
  if (wakefd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) < 0) {
    int err = errno;
    if (wakefd >= 0) close(wakefd);
    close(epfd);
    lvsd_throw_errno(env, wakefd < 0 ? "eventfd" : "epoll_ctl", err, NULL);
    return NULL;
  }
  tcp_prober *p = calloc(1, sizeof *p);
  if (p == NULL || pthread_mutex_init(&p->mu, NULL) != 0) {
    free(p);
    close(wakefd);
    close(epfd);
    lvsd_throw_errno(env, "calloc", ENOMEM, NULL);
    return NULL;
  }
  p->env = env;
  p->epfd = epfd;
  p->wakefd = wakefd;
  if (!lvsd_tcp_grow(p)) {
    close(wakefd);
    close(epfd);
    free_prober(p);
    lvsd_throw_errno(env, "calloc", ENOMEM, NULL);
    return NULL;
  }
  int rc = lvsd_tcp_run(p, loop, mode);
  if (rc < 0 && p->handles_open == 0) { /* the async handle itself failed */
    close(wakefd);
    close(epfd);
    free_prober(p);
    lvsd_throw_errno(env, "uv_async_init", -rc, NULL);
    return NULL;
  }
  lvsd_async_init(env, callback, "lvsd:TcpProber", &p->callback, &p->async_context, env_cleanup, p, &p->cleanup_hook);
  napi_value handle;
  napi_create_external(env, p, finalize, NULL, &handle);
  if (rc < 0) { /* neither a thread nor the loop's poll: no engine at all */
    lvsd_tcp_begin_close(p, true);
    lvsd_throw_errno(env, "uv_poll_start", -rc, NULL);
    return NULL;
  }
  return handle;
}
