/*
 * The control socket a config file names, for `lvsd reload` without --socket: src/config/control-socket.ts
 * controlSocketOf's answer, given only where this is sure of it. The file must be one regular file (a
 * directory is node's) that is valid JSON whole: then JSON.parse's reading is node's (its scan answers as
 * JSON.parse for any file JSON.parse accepts), and the socket is the last top-level "control"'s last
 * "socket" when that is a string starting with '/', else the default. A file that cannot be opened or
 * read, is not valid JSON (node may still find its socket before the fault), is over 64 MiB, or names a
 * socket this would not pass to connect(2) as node would (bad UTF-8, a lone surrogate, NUL, over 107
 * bytes) is left to node.
 */
#include "front.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONFIG_MAX ((size_t)64 << 20)

static const char DEFAULT_SOCKET[] = "/run/lvsd/lvsd.sock";

/* the file's bytes (malloc'd) when it is one regular file that reads whole, else NULL */
static uint8_t *read_regular(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  uint8_t *buf = NULL;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= CONFIG_MAX) {
    /* one byte more than fstat says: a short read is the end, a file still growing is node's */
    size_t cap = (size_t)st.st_size + 1, got = 0;
    buf = malloc(cap);
    while (buf && got < cap) {
      ssize_t n = read(fd, buf + got, cap - got);
      if (n == 0) break;
      if (n < 0) { free(buf); buf = NULL; break; }
      got += (size_t)n;
    }
    if (buf && got == cap) { free(buf); buf = NULL; }
    *len = got;
  }
  close(fd);
  return buf;
}

struct collect {
  char *out;
  size_t len, cap;
  int bad;
};

/* the socket's UTF-8 bytes; a code point node would not pass through unchanged marks it bad */
static void collect_cp(void *ctx, uint32_t cp) {
  struct collect *c = ctx;
  if (cp == 0 || cp == 0xfffd || c->len + 4 >= c->cap) { c->bad = 1; return; }
  if (cp < 0x80) c->out[c->len++] = (char)cp;
  else if (cp < 0x800) { c->out[c->len++] = (char)(0xc0 | (cp >> 6)); c->out[c->len++] = (char)(0x80 | (cp & 0x3f)); }
  else if (cp < 0x10000) { c->out[c->len++] = (char)(0xe0 | (cp >> 12)); c->out[c->len++] = (char)(0x80 | ((cp >> 6) & 0x3f)); c->out[c->len++] = (char)(0x80 | (cp & 0x3f)); }
  else { c->out[c->len++] = (char)(0xf0 | (cp >> 18)); c->out[c->len++] = (char)(0x80 | ((cp >> 12) & 0x3f)); c->out[c->len++] = (char)(0x80 | ((cp >> 6) & 0x3f)); c->out[c->len++] = (char)(0x80 | (cp & 0x3f)); }
}

static size_t last_member(const struct json *j, size_t obj, const char *key) {
  size_t pos = obj, k, v, found = 0;
  while (json_next_member(j, &pos, &k, &v)) if (json_string_is(j, k, key)) found = v;
  return found;
}

const char *config_socket(const char *path, char *buf, size_t size) {
  if (path[0] == '\0') return DEFAULT_SOCKET; /* an empty --config is no config (resolveSocket) */
  size_t len;
  uint8_t *bytes = read_regular(path, &len);
  if (!bytes) return NULL;
  size_t bom = len >= 3 && bytes[0] == 0xef && bytes[1] == 0xbb && bytes[2] == 0xbf ? 3 : 0;
  struct json j = {bytes + bom, len - bom, calloc((len - bom) / 8 + 1, 1)};
  const char *socket = NULL;
  enum jtype t;
  if (j.stack && json_valid(&j)) {
    size_t top = json_skip_space(&j, 0);
    json_value(&j, top, &t);
    size_t control = t == J_OBJECT ? last_member(&j, top, "control") : 0;
    size_t sock = 0;
    if (control) {
      json_value(&j, control, &t);
      if (t == J_OBJECT) sock = last_member(&j, control, "socket");
      if (sock) json_value(&j, sock, &t);
    }
    if (!sock || t != J_STRING) {
      socket = DEFAULT_SOCKET; /* no control, no socket, or not a string: the default (a non-object top level too) */
    } else {
      struct collect c = {buf, 0, size, 0};
      json_string(&j, sock, collect_cp, &c);
      if (!c.bad && c.len > 0 && c.len < sizeof(((struct sockaddr_un *)0)->sun_path)) {
        buf[c.len] = '\0';
        socket = buf[0] == '/' ? buf : DEFAULT_SOCKET;
      } else if (!c.bad && c.len == 0) {
        socket = DEFAULT_SOCKET; /* "" does not start with '/' */
      }
    }
  }
  free(j.stack);
  free(bytes);
  return socket;
}
