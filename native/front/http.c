/*
 * The daemon's HTTP/1.1 answer, read as src/cli/control-client.ts parseAnswer reads it, to the same verdict
 * for any bytes (the head up to the first blank line, the status line's pattern, the last of a header
 * given twice, a chunked body joined, a content-length cut). The numbers in the head are read as
 * JavaScript reads them there: a chunk size by parseInt(text, 16), a content-length by Number(text).
 */
#include "front.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char CUT_SHORT[] = "the answer was cut short";
static const char NOT_HTTP[] = "the answer is not HTTP";

/* JavaScript's white space and line terminators among the bytes of a latin1 string (trim, parseInt, Number) */
static int js_space(uint8_t c) { return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0xa0; }

static int hex_digit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* the value of hex digits s[0..n) (no prefix), correctly rounded as V8's parseInt rounds; HUGE_VAL past 2^1024 */
static double hex_value(const uint8_t *s, size_t n) {
  while (n > 0 && *s == '0') { s++; n--; }
  if (n == 0) return 0;
  if (n > 256) return HUGE_VAL; /* at least 16^256 = 2^1024 */
  char text[2 + 256 + 1] = "0x";
  memcpy(text + 2, s, n);
  text[2 + n] = '\0';
  return strtod(text, NULL);
}

/* parseInt(text, 16) of s[0..n): NaN when no digit leads */
static double parse_int16(const uint8_t *s, size_t n) {
  size_t i = 0;
  double sign = 1;
  while (i < n && js_space(s[i])) i++;
  if (i < n && (s[i] == '+' || s[i] == '-')) sign = s[i++] == '-' ? -1 : 1;
  if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) i += 2;
  size_t start = i;
  while (i < n && hex_digit(s[i]) >= 0) i++;
  if (i == start) return NAN;
  return sign * hex_value(s + start, i - start);
}

/* Number(text) of s[0..n) (StringToNumber): NaN when it is not a numeric literal */
static double to_number(const uint8_t *s, size_t n) {
  while (n > 0 && js_space(s[0])) { s++; n--; }
  while (n > 0 && js_space(s[n - 1])) n--;
  if (n == 0) return 0;
  /* memchr, not strchr: strchr finds the terminator, so a NUL after the 0 ("0\0" "1") read as binary */
  if (n > 2 && s[0] == '0' && memchr("xXoObB", s[1], 6) != NULL) {
    int radix = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
    for (size_t i = 2; i < n; i++) {
      int d = hex_digit(s[i]);
      if (d < 0 || d >= radix) return NAN;
    }
    if (radix == 16) return hex_value(s + 2, n - 2);
    double v = 0; /* octal and binary: only whether it is a non-negative integer (it is) and its size matter */
    for (size_t i = 2; i < n; i++) v = v * radix + (s[i] - '0');
    return v;
  }
  size_t i = 0;
  if (s[i] == '+' || s[i] == '-') i++;
  if (n - i == 8 && memcmp(s + i, "Infinity", 8) == 0) return s[0] == '-' ? -INFINITY : INFINITY;
  size_t digits = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9') { i++; digits++; }
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') { i++; digits++; }
  }
  if (digits == 0) return NAN;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t exp = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') { i++; exp++; }
    if (exp == 0) return NAN;
  }
  if (i != n) return NAN;
  /* a decimal literal strtod reads as JavaScript does (the C locale's '.'); the copy is as long as the literal */
  char *copy = malloc(n + 1);
  if (!copy) return NAN;
  memcpy(copy, s, n);
  copy[n] = '\0';
  double v = strtod(copy, NULL);
  free(copy);
  return v;
}

/* Number.isInteger (without libm: a double of 2^53 or more is an integer) */
static int is_integer(double v) {
  if (v != v || v == HUGE_VAL || v == -HUGE_VAL) return 0;
  if (v >= 9007199254740992.0 || v <= -9007199254740992.0) return 1;
  return v == (double)(long long)v;
}

static const uint8_t *find(const uint8_t *from, const uint8_t *end, const char *needle) {
  size_t n = strlen(needle);
  if ((size_t)(end - from) < n) return NULL;
  return memmem(from, (size_t)(end - from), needle, n);
}

static int word_char(uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

/* /\bchunked\b/i */
static int says_chunked(const uint8_t *v, size_t n) {
  for (size_t i = 0; i + 7 <= n; i++) {
    if (strncasecmp((const char *)v + i, "chunked", 7) != 0) continue;
    if ((i == 0 || !word_char(v[i - 1])) && (i + 7 == n || !word_char(v[i + 7]))) return 1;
  }
  return 0;
}

struct header { const uint8_t *value; size_t len; int present; };

/* the status line: /^HTTP\/1\.[01] (\d{3})(?: |$)/ */
static int status_of(const uint8_t *line, size_t n) {
  if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') || line[8] != ' ') return -1;
  for (int i = 9; i < 12; i++) if (line[i] < '0' || line[i] > '9') return -1;
  if (n > 12 && line[12] != ' ') return -1;
  return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

const char *http_answer(uint8_t *raw, size_t len, int *status, uint8_t **body, size_t *body_len) {
  const uint8_t *end = raw + len;
  const uint8_t *head_end = find(raw, end, "\r\n\r\n");
  if (!head_end) return len == 0 ? "the connection closed without an answer" : CUT_SHORT;
  struct header te = {0}, cl = {0};
  int first = 1;
  for (const uint8_t *line = raw; line <= head_end;) {
    const uint8_t *stop = find(line, head_end, "\r\n");
    if (!stop) stop = head_end;
    size_t n = (size_t)(stop - line);
    if (first) {
      *status = status_of(line, n);
      if (*status < 0) return NOT_HTTP;
      first = 0;
    } else {
      const uint8_t *colon = memchr(line, ':', n);
      if (colon && colon > line) {
        const uint8_t *k = line, *ke = colon, *v = colon + 1, *ve = stop;
        while (k < ke && js_space(*k)) k++;
        while (ke > k && js_space(ke[-1])) ke--;
        while (v < ve && js_space(*v)) v++;
        while (ve > v && js_space(ve[-1])) ve--;
        size_t kn = (size_t)(ke - k);
        struct header *h = kn == 17 && strncasecmp((const char *)k, "transfer-encoding", 17) == 0 ? &te
          : kn == 14 && strncasecmp((const char *)k, "content-length", 14) == 0 ? &cl : NULL;
        if (h) *h = (struct header){v, (size_t)(ve - v), 1};
      }
    }
    line = stop + 2;
  }
  uint8_t *b = (uint8_t *)head_end + 4;
  size_t blen = (size_t)(end - b);
  if (te.present && says_chunked(te.value, te.len)) {
    /* chunks joined in place: what is written never passes what is read */
    size_t pos = 0, out = 0;
    for (;;) {
      const uint8_t *line_end = find(b + pos, b + blen, "\r\n");
      if (!line_end) return CUT_SHORT;
      size_t le = (size_t)(line_end - b);
      double size = parse_int16(b + pos, le - pos);
      if (!is_integer(size) || size < 0) return NOT_HTTP;
      if (size == 0) break;
      if ((double)le + 2 + size + 2 > (double)blen) return CUT_SHORT;
      memmove(b + out, b + le + 2, (size_t)size);
      out += (size_t)size;
      pos = le + 2 + (size_t)size + 2;
    }
    blen = out;
  } else if (cl.present) {
    double length = to_number(cl.value, cl.len);
    if (!is_integer(length) || length < 0) return NOT_HTTP;
    if ((double)blen < length) return CUT_SHORT;
    blen = (size_t)length;
  }
  *body = b;
  *body_len = blen;
  return NULL;
}
