/*
 * `lvsd reload`: POST /v1/reload over the control socket, as src/cli/control-client.ts
 * requestDaemon sends it, and the answer read and printed as src/cli/commands/control.ts reload and
 * src/cli/exit.ts describeError do (same sentences, same escapes, same exit statuses).
 *
 * Bounded: the whole exchange within 120 s (the node client's limit, said in its words); an answer over
 * 64 MiB is refused (node would read any size; a daemon's refusal of a 110,000-object config with every
 * object wrong is ~20 MB); nesting costs a bit per level of the answer's own size.
 */
#include "front.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef LVSD_FRONT_TIMEOUT_MS
#define LVSD_FRONT_TIMEOUT_MS 120000 /* the node client's limit for a reload (control.ts) */
#endif
#define ANSWER_MAX ((size_t)64 << 20)

static const char REQUEST[] =
  "POST /v1/reload HTTP/1.1\r\nhost: lvsd\r\naccept: application/json\r\nconnection: close\r\n"
  "content-type: application/json\r\ncontent-length: 2\r\n\r\n{}";

/* src/cli/exit.ts: the exit status of each error code */
static const struct { const char *code; int status; } CODES[] = {
  {"LVSD_CONFIG_INVALID", 1}, {"LVSD_CONFIG_UNREADABLE", 1}, {"LVSD_IPVS_UNAVAILABLE", 3}, {"LVSD_IPVS_KERNEL", 1},
  {"LVSD_IPVS_PROTOCOL", 70}, {"LVSD_IPVS_ENCODE", 1}, {"LVSD_NETLINK_OVERRUN", 1}, {"LVSD_NATIVE_UNAVAILABLE", 3},
  {"LVSD_CONTROL", 4}, {"LVSD_STATE", 1}, {"LVSD_BGP", 1}, {"LVSD_ALREADY_RUNNING", 4}, {"LVSD_FIREWALL", 1},
  {"LVSD_USAGE", 2}, {"LVSD_INTERNAL", 70},
};
#define EXIT_DAEMON 4

static struct out err;
static const char *sock;

/* "lvsd: " and the pieces (NULL-ended), escaped, on stderr; returns LVSD_CONTROL's status */
static int say(const char *first, ...) {
  va_list ap;
  va_start(ap, first);
  out_text(&err, "lvsd: ");
  for (const char *p = first; p; p = va_arg(ap, const char *)) out_escaped(&err, p, strlen(p));
  va_end(ap);
  out_text(&err, "\n");
  out_flush(&err);
  return EXIT_DAEMON;
}

/* control-client.ts connectError: `syscall` failed with `e` (node's message: "connect ENOENT /path", "read ECONNRESET") */
static int io_error(const char *syscall, int e) {
  if (e == ENOENT || e == ECONNREFUSED) return say("lvsd is not running (no daemon listening on ", sock, ")", NULL);
  if (e == EACCES || e == EPERM) return say("permission denied on ", sock, ": run as root or as a member of the control socket's group", NULL);
  char name[64];
  const char *n = strerrorname_np(e);
  if (n) snprintf(name, sizeof name, "%s", n);
  else snprintf(name, sizeof name, "Unknown system error %d", -e);
  int connect = strcmp(syscall, "connect") == 0;
  return say("cannot talk to lvsd on ", sock, ": ", syscall, " ", name, connect ? " " : "", connect ? sock : "", NULL);
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* waits for `events` until the deadline: 1 ready, 0 timed out */
static int wait_for(int fd, short events, long long deadline) {
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return 1; /* let the next call say what is wrong */
  }
}

/* `${timeoutMs / 1000}s`, as node words it */
static int timed_out(void) {
  char s[32];
  snprintf(s, sizeof s, " within %gs", LVSD_FRONT_TIMEOUT_MS / 1000.0);
  return say("lvsd did not answer POST /v1/reload on ", sock, s, NULL);
}

/* the exchange: the answer's bytes in *raw (malloc'd), or the exit status of a failure already printed */
static int exchange(uint8_t **raw, size_t *len) {
  long long deadline = now_ms() + LVSD_FRONT_TIMEOUT_MS;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return io_error("socket", errno);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, sock, strlen(sock)); /* main.c took only paths sun_path holds whole */
  int r;
  do r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  while (r < 0 && errno == EINTR);
  if (r < 0 && errno == EINPROGRESS) {
    if (!wait_for(fd, POLLOUT, deadline)) return timed_out();
    socklen_t sl = sizeof r;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &r, &sl) < 0) r = errno;
    if (r != 0) return io_error("connect", r);
  } else if (r < 0) {
    return io_error("connect", errno);
  }
  size_t sent = 0;
  while (sent < sizeof REQUEST - 1) {
    ssize_t n = send(fd, REQUEST + sent, sizeof REQUEST - 1 - sent, MSG_NOSIGNAL);
    if (n >= 0) { sent += (size_t)n; continue; }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return io_error("write", errno);
    if (!wait_for(fd, POLLOUT, deadline)) return timed_out();
  }
  size_t cap = 65536, used = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) return say("out of memory reading lvsd's answer on ", sock, NULL);
  for (;;) {
    if (used == cap && cap < ANSWER_MAX) {
      uint8_t *more = realloc(buf, cap * 2);
      if (!more) { free(buf); return say("out of memory reading lvsd's answer on ", sock, NULL); }
      buf = more;
      cap *= 2;
    }
    /* a full buffer of 64 MiB: one byte more is looked for, so an answer of exactly 64 MiB is read whole */
    uint8_t beyond;
    ssize_t n = used < cap ? read(fd, buf + used, cap - used) : read(fd, &beyond, 1);
    if (n > 0 && used == cap) {
      free(buf);
      return say("lvsd's answer to POST /v1/reload on ", sock, " cannot be read: it is over 64 MiB", NULL);
    }
    if (n > 0) { used += (size_t)n; continue; }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) { free(buf); return io_error("read", errno); }
    if (!wait_for(fd, POLLIN, deadline)) { free(buf); return timed_out(); }
  }
  close(fd);
  /* the answer's own size: no slack after it (a sanitizer build sees any read past the answer) */
  uint8_t *fit = realloc(buf, used > 0 ? used : 1);
  *raw = fit ? fit : buf;
  *len = used;
  return -1;
}

/* ---- the answer ---- */

/* the last member `key` of the object at `obj`, or 0 */
static size_t member(const struct json *j, size_t obj, const char *key) {
  size_t pos = obj, k, v, found = 0;
  while (json_next_member(j, &pos, &k, &v)) if (json_string_is(j, k, key)) found = v;
  return found;
}

static enum jtype type_at(const struct json *j, size_t pos) {
  enum jtype t;
  json_value(j, pos, &t);
  return t;
}

/* an optional member: absent (0), or of `type` (its offset); -1 when present with another type */
static long optional(const struct json *j, size_t obj, const char *key, int type) {
  size_t v = member(j, obj, key);
  if (!v) return 0;
  enum jtype t = type_at(j, v);
  if (type == J_TRUE ? (t != J_TRUE && t != J_FALSE) : (int)t != type) return -1;
  return (long)v;
}

static void escaped_sink(void *ctx, uint32_t cp) { out_escaped_cp(ctx, cp); }

/* the headline's cut: escaped code points up to the first line break (message.split('\n')[0]) */
struct first_line { struct out *o; int done; };
static void first_line_sink(void *ctx, uint32_t cp) {
  struct first_line *f = ctx;
  if (cp == '\n') f->done = 1;
  if (!f->done) out_escaped_cp(f->o, cp);
}

/* control.ts reloadAnswer: a JSON object with a boolean ok, optional boolean applied, optional strings
 * code and error, optional problems each with string file, pointer and message */
static int is_reload_result(const struct json *j) {
  enum jtype t;
  if (type_at(j, 0) != J_OBJECT) return 0;
  size_t top = json_skip_space(j, 0);
  size_t ok = member(j, top, "ok");
  if (!ok || ((t = type_at(j, ok)) != J_TRUE && t != J_FALSE)) return 0;
  if (optional(j, top, "applied", J_TRUE) < 0 || optional(j, top, "code", J_STRING) < 0 || optional(j, top, "error", J_STRING) < 0) return 0;
  long problems = optional(j, top, "problems", J_ARRAY);
  if (problems < 0) return 0;
  if (problems > 0) {
    size_t pos = (size_t)problems, p;
    while (json_next_element(j, &pos, &p)) {
      if (type_at(j, p) != J_OBJECT) return 0;
      if (optional(j, p, "file", J_STRING) <= 0 || optional(j, p, "pointer", J_STRING) <= 0 || optional(j, p, "message", J_STRING) <= 0) return 0;
    }
  }
  return 1;
}

static int exit_status_of(const struct json *j, size_t top) {
  size_t code = member(j, top, "code");
  if (!code) return 1; /* an older daemon sends none: its refusals were config problems */
  for (size_t i = 0; i < sizeof CODES / sizeof CODES[0]; i++) if (json_string_is(j, code, CODES[i].code)) return CODES[i].status;
  return 70;
}

static int render(const struct json *j) {
  size_t top = json_skip_space(j, 0);
  if (type_at(j, member(j, top, "ok")) == J_TRUE) {
    struct out o;
    out_init(&o, 1);
    out_text(&o, "reloaded\n");
    out_flush(&o);
    return 0;
  }
  int status = exit_status_of(j, top);
  size_t applied = member(j, top, "applied"), error = member(j, top, "error"), problems = member(j, top, "problems");
  size_t pos = problems, p;
  int listed = problems && json_next_element(j, &pos, &p);
  out_text(&err, "lvsd: ");
  if (applied && type_at(j, applied) == J_TRUE) {
    out_text(&err, "reload incomplete: ");
    if (error) json_string(j, error, escaped_sink, &err);
    else out_text(&err, "unknown reason");
    out_text(&err, " (lvsd status shows what is outstanding)\n");
    out_flush(&err);
    return status;
  }
  out_text(&err, "reload refused, the running config stays: ");
  struct first_line f = {&err, 0};
  if (error) json_string(j, error, listed ? first_line_sink : escaped_sink, listed ? (void *)&f : (void *)&err);
  else out_text(&err, "unknown reason");
  out_text(&err, "\n");
  for (pos = problems; problems && json_next_element(j, &pos, &p);) {
    out_text(&err, "  ");
    json_string(j, member(j, p, "file"), escaped_sink, &err);
    out_text(&err, ": ");
    json_string(j, member(j, p, "pointer"), escaped_sink, &err);
    out_text(&err, ": ");
    json_string(j, member(j, p, "message"), escaped_sink, &err);
    out_text(&err, "\n");
  }
  out_flush(&err);
  return status;
}

/* fds 0, 1 and 2 open, on /dev/null where closed, as node makes them at its start: else the control socket
 * would take the lowest closed one, and what is said on a closed stderr would go to the daemon */
static void standard_fds(void) {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int null = open("/dev/null", O_RDWR); /* the lowest free descriptor: this one */
    if (null >= 0 && null != fd) close(null);
  }
}

int reload_command(const char *socket_path) {
  standard_fds();
  signal(SIGPIPE, SIG_IGN); /* as node: a closed stdout or socket is an error to handle, not the end */
  sock = socket_path;
  out_init(&err, 2);
  uint8_t *raw = NULL;
  size_t len = 0;
  int failed = exchange(&raw, &len);
  if (failed >= 0) return failed;
  return reload_answer(socket_path, raw, len);
}

int reload_answer(const char *socket_path, uint8_t *raw, size_t len) {
  sock = socket_path;
  out_init(&err, 2);
  int status;
  uint8_t *body;
  size_t body_len;
  const char *why = http_answer(raw, len, &status, &body, &body_len);
  if (why) {
    free(raw);
    return say("lvsd's answer to POST /v1/reload on ", sock, " cannot be read: ", why, NULL);
  }
  char http[16];
  snprintf(http, sizeof http, "%d", status);
  struct json j = {body, body_len, calloc(body_len / 8 + 1, 1)};
  if (!j.stack) { free(raw); return say("out of memory reading lvsd's answer on ", sock, NULL); }
  int code;
  if (body_len > 0 && !json_valid(&j)) {
    code = say("lvsd answered POST /v1/reload with something that is not JSON (HTTP ", http, ")", NULL);
  } else if (status < 200 || status > 299) {
    /* {error: {code, message}}: the daemon's sentence, else the status */
    size_t e = body_len > 0 && type_at(&j, 0) == J_OBJECT ? member(&j, json_skip_space(&j, 0), "error") : 0;
    size_t m = e && type_at(&j, e) == J_OBJECT ? member(&j, e, "message") : 0;
    if (m && type_at(&j, m) == J_STRING) {
      out_text(&err, "lvsd: ");
      json_string(&j, m, escaped_sink, &err);
      out_text(&err, "\n");
      out_flush(&err);
      code = EXIT_DAEMON;
    } else {
      code = say("lvsd refused POST /v1/reload (HTTP ", http, ")", NULL);
    }
  } else if (body_len == 0 || !is_reload_result(&j)) {
    code = say("lvsd's answer to POST /v1/reload on ", sock, " cannot be read: it is not a reload result", NULL);
  } else {
    code = render(&j);
  }
  free(j.stack);
  free(raw);
  return code;
}
