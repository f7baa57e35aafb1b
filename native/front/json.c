/*
 * JSON as node reads a daemon's answer: `buffer.toString('utf8')` (bad UTF-8 becomes U+FFFD, one per
 * maximal bad subpart as the WHATWG decoder does) then JSON.parse (RFC 8259: no comments, no trailing
 * commas, no BOM, control characters escaped in strings). Nothing is built: a value is walked, its end
 * returned, and strings are decoded into a sink. Nesting is kept in a bit stack the caller sizes to the
 * buffer (one bit per level), so depth is bounded by the answer and nothing recurses.
 */
#include "front.h"

#include <string.h>

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

size_t json_skip_space(const struct json *j, size_t pos) {
  while (pos < j->len && is_space(j->b[pos])) pos++;
  return pos;
}

static int hex4(const uint8_t *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    uint8_t c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

static void emit(json_sink sink, void *ctx, uint32_t cp) {
  if (sink) sink(ctx, cp);
}

long json_string(const struct json *j, size_t pos, json_sink sink, void *ctx) {
  const uint8_t *b = j->b;
  size_t len = j->len;
  if (pos >= len || b[pos] != '"') return -1;
  pos++;
  /* the UTF-8 decoder's state (WHATWG Encoding, "UTF-8 decoder") */
  uint32_t cp = 0;
  int needed = 0, seen = 0;
  uint8_t lower = 0x80, upper = 0xbf;
  while (pos < len) {
    uint8_t c = b[pos];
    if (needed > 0) {
      if (c < lower || c > upper) {
        /* a bad continuation: one U+FFFD for what came before, then this byte is read afresh */
        needed = seen = 0;
        cp = 0;
        lower = 0x80;
        upper = 0xbf;
        emit(sink, ctx, 0xfffd);
        continue;
      }
      lower = 0x80;
      upper = 0xbf;
      cp = (cp << 6) | (c & 0x3f);
      pos++;
      if (++seen == needed) {
        emit(sink, ctx, cp);
        needed = seen = 0;
        cp = 0;
      }
      continue;
    }
    if (c >= 0x80) {
      pos++;
      if (c >= 0xc2 && c <= 0xdf) { needed = 1; cp = c & 0x1f; }
      else if (c >= 0xe0 && c <= 0xef) { needed = 2; cp = c & 0x0f; if (c == 0xe0) lower = 0xa0; if (c == 0xed) upper = 0x9f; }
      else if (c >= 0xf0 && c <= 0xf4) { needed = 3; cp = c & 0x07; if (c == 0xf0) lower = 0x90; if (c == 0xf4) upper = 0x8f; }
      else emit(sink, ctx, 0xfffd);
      continue;
    }
    if (c == '"') return (long)(pos + 1);
    if (c < 0x20) return -1;
    if (c != '\\') {
      emit(sink, ctx, c);
      pos++;
      continue;
    }
    if (pos + 1 >= len) return -1;
    uint8_t e = b[pos + 1];
    pos += 2;
    switch (e) {
      case '"': emit(sink, ctx, '"'); break;
      case '\\': emit(sink, ctx, '\\'); break;
      case '/': emit(sink, ctx, '/'); break;
      case 'b': emit(sink, ctx, '\b'); break;
      case 'f': emit(sink, ctx, '\f'); break;
      case 'n': emit(sink, ctx, '\n'); break;
      case 'r': emit(sink, ctx, '\r'); break;
      case 't': emit(sink, ctx, '\t'); break;
      case 'u': {
        uint32_t u;
        if (pos + 4 > len || !hex4(b + pos, &u)) return -1;
        pos += 4;
        if (u >= 0xd800 && u <= 0xdbff) {
          /* a high surrogate pairs only with a \u low surrogate right after it; alone, it is written as U+FFFD */
          uint32_t lo;
          if (pos + 6 <= len && b[pos] == '\\' && b[pos + 1] == 'u' && hex4(b + pos + 2, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
            pos += 6;
            emit(sink, ctx, 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00));
          } else {
            emit(sink, ctx, 0xfffd);
          }
        } else if (u >= 0xdc00 && u <= 0xdfff) {
          emit(sink, ctx, 0xfffd);
        } else {
          emit(sink, ctx, u);
        }
        break;
      }
      default:
        return -1;
    }
  }
  return -1;
}

static long number_end(const struct json *j, size_t pos) {
  const uint8_t *b = j->b;
  size_t len = j->len;
  if (pos < len && b[pos] == '-') pos++;
  if (pos >= len || !is_digit(b[pos])) return -1;
  if (b[pos] == '0') pos++;
  else while (pos < len && is_digit(b[pos])) pos++;
  if (pos < len && b[pos] == '.') {
    pos++;
    if (pos >= len || !is_digit(b[pos])) return -1;
    while (pos < len && is_digit(b[pos])) pos++;
  }
  if (pos < len && (b[pos] == 'e' || b[pos] == 'E')) {
    pos++;
    if (pos < len && (b[pos] == '+' || b[pos] == '-')) pos++;
    if (pos >= len || !is_digit(b[pos])) return -1;
    while (pos < len && is_digit(b[pos])) pos++;
  }
  return (long)pos;
}

static long literal_end(const struct json *j, size_t pos, const char *word) {
  size_t n = strlen(word);
  if (pos + n > j->len || memcmp(j->b + pos, word, n) != 0) return -1;
  return (long)(pos + n);
}

/* bit stack: 1 for an object, 0 for an array */
static void push(const struct json *j, size_t depth, int object) {
  if (object) j->stack[depth >> 3] |= (uint8_t)(1u << (depth & 7));
  else j->stack[depth >> 3] &= (uint8_t)~(1u << (depth & 7));
}
static int top_is_object(const struct json *j, size_t depth) { return (j->stack[(depth - 1) >> 3] >> ((depth - 1) & 7)) & 1; }

long json_value(const struct json *j, size_t pos, enum jtype *type) {
  const uint8_t *b = j->b;
  size_t len = j->len;
  size_t depth = 0;
  long end;
  pos = json_skip_space(j, pos);
  if (pos < len) {
    switch (b[pos]) {
      case '{': *type = J_OBJECT; break;
      case '[': *type = J_ARRAY; break;
      case '"': *type = J_STRING; break;
      case 't': *type = J_TRUE; break;
      case 'f': *type = J_FALSE; break;
      case 'n': *type = J_NULL; break;
      default: *type = J_NUMBER; break;
    }
  }
  for (;;) {
    /* a value starts at pos */
    pos = json_skip_space(j, pos);
    if (pos >= len) return -1;
    uint8_t c = b[pos];
    if (c == '{' || c == '[') {
      /* depth never exceeds the bytes walked, so the caller's len/8 + 1 bytes hold it */
      push(j, depth++, c == '{');
      pos = json_skip_space(j, pos + 1);
      if (pos < len && b[pos] == (c == '{' ? '}' : ']')) {
        depth--;
        pos++;
        goto after_value;
      }
      if (c == '{') goto key;
      continue;
    }
    if (c == '"') end = json_string(j, pos, NULL, NULL);
    else if (c == 't') end = literal_end(j, pos, "true");
    else if (c == 'f') end = literal_end(j, pos, "false");
    else if (c == 'n') end = literal_end(j, pos, "null");
    else end = number_end(j, pos);
    if (end < 0) return -1;
    pos = (size_t)end;
  after_value:
    for (;;) {
      if (depth == 0) return (long)pos;
      pos = json_skip_space(j, pos);
      if (pos >= len) return -1;
      int object = top_is_object(j, depth);
      if (b[pos] == (object ? '}' : ']')) {
        depth--;
        pos++;
        continue;
      }
      if (b[pos] != ',') return -1;
      pos++;
      if (!object) break;
      goto key;
    }
    continue;
  key:
    pos = json_skip_space(j, pos);
    end = json_string(j, pos, NULL, NULL);
    if (end < 0) return -1;
    pos = json_skip_space(j, (size_t)end);
    if (pos >= len || b[pos] != ':') return -1;
    pos++;
  }
}

int json_valid(const struct json *j) {
  enum jtype t;
  long end = json_value(j, 0, &t);
  return end >= 0 && json_skip_space(j, (size_t)end) == j->len;
}

int json_next_member(const struct json *j, size_t *pos, size_t *key, size_t *value) {
  enum jtype t;
  size_t p = json_skip_space(j, *pos);
  if (p >= j->len || j->b[p] == '}') return 0;
  p = json_skip_space(j, p + 1); /* past '{' or ',' */
  if (p >= j->len || j->b[p] != '"') return 0; /* the empty object */
  *key = p;
  p = json_skip_space(j, (size_t)json_string(j, p, NULL, NULL));
  *value = json_skip_space(j, p + 1); /* past ':' */
  *pos = (size_t)json_value(j, *value, &t);
  return 1;
}

int json_next_element(const struct json *j, size_t *pos, size_t *value) {
  enum jtype t;
  size_t p = json_skip_space(j, *pos);
  if (p >= j->len || j->b[p] == ']') return 0;
  p = json_skip_space(j, p + 1); /* past '[' or ',' */
  if (p >= j->len || j->b[p] == ']') return 0; /* the empty array */
  *value = p;
  *pos = (size_t)json_value(j, p, &t);
  return 1;
}

struct compare {
  const char *text;
  size_t at;
  int same;
};

static void compare_cp(void *ctx, uint32_t cp) {
  struct compare *c = ctx;
  if (c->same && c->text[c->at] != '\0' && (uint8_t)c->text[c->at] == cp) c->at++;
  else c->same = 0;
}

int json_string_is(const struct json *j, size_t pos, const char *text) {
  struct compare c = {text, 0, 1};
  if (json_string(j, pos, compare_cp, &c) < 0) return 0;
  return c.same && text[c.at] == '\0';
}
