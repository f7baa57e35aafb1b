/*
 * Output: a small buffer flushed with write(2), and src/escape.ts escapeControl's escapes (C0, DEL, C1,
 * U+2028, U+2029) so nothing a daemon sends can forge a line or drive a terminal. Text is UTF-8 out, as
 * node writes its strings.
 */
#include "front.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void out_init(struct out *o, int fd) {
  o->fd = fd;
  o->used = 0;
}

void out_flush(struct out *o) {
  size_t done = 0;
  while (done < o->used) {
    ssize_t n = write(o->fd, o->buf + done, o->used - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break; /* a closed or full descriptor: what was not written is dropped, as the exit status still says */
    done += (size_t)n;
  }
  o->used = 0;
}

void out_bytes(struct out *o, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    if (o->used == sizeof o->buf) out_flush(o);
    size_t n = sizeof o->buf - o->used;
    if (n > len) n = len;
    memcpy(o->buf + o->used, p, n);
    o->used += n;
    p += n;
    len -= n;
  }
}

void out_text(struct out *o, const char *text) { out_bytes(o, text, strlen(text)); }

static void out_utf8(struct out *o, uint32_t cp) {
  char b[4];
  size_t n;
  if (cp < 0x80) { b[0] = (char)cp; n = 1; }
  else if (cp < 0x800) { b[0] = (char)(0xc0 | (cp >> 6)); b[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
  else if (cp < 0x10000) { b[0] = (char)(0xe0 | (cp >> 12)); b[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); b[2] = (char)(0x80 | (cp & 0x3f)); n = 3; }
  else { b[0] = (char)(0xf0 | (cp >> 18)); b[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); b[3] = (char)(0x80 | (cp & 0x3f)); n = 4; }
  out_bytes(o, b, n);
}

void out_escaped_cp(struct out *o, uint32_t cp) {
  char e[8];
  if (cp == '\n') out_text(o, "\\n");
  else if (cp == '\r') out_text(o, "\\r");
  else if (cp == '\t') out_text(o, "\\t");
  else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) { snprintf(e, sizeof e, "\\x%02x", (unsigned)cp); out_text(o, e); }
  else if (cp == 0x2028 || cp == 0x2029) { snprintf(e, sizeof e, "\\u%04x", (unsigned)cp); out_text(o, e); }
  else out_utf8(o, cp);
}

/* the code point at s[*i] of valid UTF-8, *i moved past it */
static uint32_t next_cp(const uint8_t *s, size_t *i) {
  uint8_t c = s[*i];
  int n = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
  uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1fu) : n == 2 ? (c & 0x0fu) : (c & 0x07u);
  for (int k = 1; k <= n; k++) cp = (cp << 6) | (s[*i + (size_t)k] & 0x3fu);
  *i += (size_t)n + 1;
  return cp;
}

void out_escaped(struct out *o, const char *text, size_t len) {
  const uint8_t *s = (const uint8_t *)text;
  for (size_t i = 0; i < len;) out_escaped_cp(o, next_cp(s, &i));
}

int utf8_valid(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    if (c < 0x80) { i++; continue; }
    int n;
    uint8_t lower = 0x80, upper = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) { n = 2; if (c == 0xe0) lower = 0xa0; if (c == 0xed) upper = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; if (c == 0xf0) lower = 0x90; if (c == 0xf4) upper = 0x8f; }
    else return 0;
    if (len - i - 1 < (size_t)n) return 0;
    if (s[i + 1] < lower || s[i + 1] > upper) return 0;
    for (int k = 2; k <= n; k++) if (s[i + (size_t)k] < 0x80 || s[i + (size_t)k] > 0xbf) return 0;
    i += (size_t)n + 1;
  }
  return 1;
}
