/*
 * The native front of the lvsd command (native/front/README.md): `lvsd reload` answered here,
 * without starting node; every other command line is node's (main.c execs it with the bundle).
 *
 * What it prints and its exit statuses are those of src/cli/commands/control.ts `reload` and
 * src/cli/control-client.ts requestDaemon, sentence for sentence: test/unit/cli-front.test.ts runs both
 * against the same daemons (real, refusing, hanging, answering garbage) and compares.
 */
#ifndef LVSD_FRONT_H
#define LVSD_FRONT_H

#include <stddef.h>
#include <stdint.h>

/* ---- json.c: a validating JSON scanner over a byte buffer, no tree built (JSON.parse's grammar) ---- */

enum jtype { J_OBJECT, J_ARRAY, J_STRING, J_NUMBER, J_TRUE, J_FALSE, J_NULL };

struct json {
  const uint8_t *b;
  size_t len;
  /* one bit per level of nesting (object or array), sized by the caller to len/8 + 1 bytes */
  uint8_t *stack;
};

/* Receives each code point of a decoded string (lone surrogates and bad UTF-8 arrive as U+FFFD). */
typedef void (*json_sink)(void *ctx, uint32_t cp);

/* The offset just past the value at `pos` (leading whitespace skipped, its type in *type), or -1 when the
 * bytes from `pos` do not hold one JSON value. */
long json_value(const struct json *j, size_t pos, enum jtype *type);
/* The offset just past the string whose opening quote is at `pos`, or -1; each code point to `sink` (may be NULL). */
long json_string(const struct json *j, size_t pos, json_sink sink, void *ctx);
/* The first offset at or after `pos` that is not JSON whitespace. */
size_t json_skip_space(const struct json *j, size_t pos);
/* Whether the whole buffer is one JSON value (surrounding whitespace allowed), as JSON.parse accepts it. */
int json_valid(const struct json *j);
/* Members of an object known to be valid: `*pos` starts at its '{'; each call gives the next member's key
 * and value offsets; 0 when there are no more. */
int json_next_member(const struct json *j, size_t *pos, size_t *key, size_t *value);
/* Elements of an array known to be valid, likewise from its '['. */
int json_next_element(const struct json *j, size_t *pos, size_t *value);
/* Whether the string at `pos` decodes to exactly `text` (ASCII). */
int json_string_is(const struct json *j, size_t pos, const char *text);

/* ---- http.c: an HTTP/1.1 answer, read as control-client.ts parseAnswer reads it ---- */

/* Parses raw[0..len) in place: NULL and the status and body (chunks joined, inside raw), or the reason it
 * cannot be read (parseAnswer's sentences). */
const char *http_answer(uint8_t *raw, size_t len, int *status, uint8_t **body, size_t *body_len);

/* ---- out.c: what lvsd prints, escaped as src/escape.ts escapeControl does ---- */

struct out {
  int fd;
  size_t used;
  char buf[8192];
};

void out_init(struct out *o, int fd);
void out_bytes(struct out *o, const void *data, size_t len);
void out_text(struct out *o, const char *text);
/* One code point, escaped when it could break a line or drive a terminal (escapeControl). */
void out_escaped_cp(struct out *o, uint32_t cp);
/* UTF-8 text known to be valid, escaped. */
void out_escaped(struct out *o, const char *text, size_t len);
void out_flush(struct out *o);
/* Whether `len` bytes are valid UTF-8 (what node's argv decoding leaves unchanged). */
int utf8_valid(const uint8_t *s, size_t len);

/* ---- config.c ---- */

/* control.socket of the config file at `path` as node's resolveSocket gives it (the default when the file
 * names none), in `buf` or static; NULL when node should decide (a directory, unreadable, not valid JSON). */
const char *config_socket(const char *path, char *buf, size_t size);

/* ---- exec.c ---- */

/* execs node with args[1..] (args[0] is set here): `own` (the package's bin/node) when not NULL, else the
 * first node on PATH that runs. Never returns: when none runs, one line on stderr naming the path tried
 * and the errno, and exit 127 (none there) or 126 (found, but it cannot be executed), as a shell does. */
void exec_node(const char *own, char **args) __attribute__((noreturn));

/* ---- reload.c ---- */

/* `lvsd reload` to `socket_path`: the request, the answer, what it prints; returns the exit status. */
int reload_command(const char *socket_path);
/* The answer's bytes `raw` (malloc'd: freed here) read and printed as reload_command does; its exit status
 * (test/unit/cli-front-fuzz.test.ts runs it on every cut of many answers in one process). */
int reload_answer(const char *socket_path, uint8_t *raw, size_t len);

#endif
