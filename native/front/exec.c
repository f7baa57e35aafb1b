/*
 * Running node, and saying why it could not be run as an operator's shell would: exit 127 when there is
 * no node to run (the package's bin/node absent and none on PATH), 126 when one was found but could not be
 * executed (not executable, not a program: EACCES, ENOEXEC, ...), each with one line on stderr naming the
 * path tried and the errno's words. (It was 70, "internal", which sent an operator looking for a bug.)
 *
 * PATH is searched here rather than by execvp so that the line can name the file that was found: the
 * first executable node wins, as execvp and a shell take it; a non-executable one is remembered and
 * reported only when nothing further on PATH runs (a shell's "Permission denied", 126). An empty PATH
 * element is the working directory, an unset PATH the C library's default (confstr _CS_PATH).
 */
#include "front.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the shell's statuses for a command that is missing and one that is there but cannot be executed */
#define EXIT_NOT_FOUND 127
#define EXIT_CANNOT_EXEC 126

/* errnos that mean "nothing here to run" (a shell goes on along PATH, and says 127 if nothing else runs) */
static int missing(int e) { return e == ENOENT || e == ENOTDIR || e == ELOOP || e == ENAMETOOLONG; }

static void give_up(const char *path, int e, int status) {
  fprintf(stderr, "lvsd: cannot run %s: %s\n", path, strerror(e));
  exit(status);
}

void exec_node(const char *own, char **args) {
  if (own != NULL) {
    /* the package's own runtime: what the package was built to run; no other node stands in for it */
    args[0] = (char *)own;
    execv(own, args);
    give_up(own, errno, missing(errno) ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
  }
  const char *path = getenv("PATH");
  char fallback[PATH_MAX];
  if (path == NULL) {
    size_t n = confstr(_CS_PATH, fallback, sizeof fallback);
    path = n > 0 && n <= sizeof fallback ? fallback : "/bin:/usr/bin";
  }
  char tried[PATH_MAX + 8], refused[PATH_MAX + 8] = "";
  int refused_errno = 0;
  args[0] = "node";
  for (const char *p = path;; p++) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == 0) snprintf(tried, sizeof tried, "node"); /* an empty element: the working directory */
    else if (len + 6 > sizeof tried) goto next;
    else snprintf(tried, sizeof tried, "%.*s/node", (int)len, p);
    execv(tried, args);
    if (!missing(errno) && refused_errno == 0) {
      /* there, but it would not run: remembered, and PATH searched on (a later one may run) */
      refused_errno = errno;
      snprintf(refused, sizeof refused, "%s", tried);
    }
  next:
    if (!end) break;
    p = end;
  }
  if (refused_errno != 0) give_up(refused, refused_errno, EXIT_CANNOT_EXEC);
  fprintf(stderr, "lvsd: cannot run node: none in PATH (%s): %s\n", path, strerror(ENOENT));
  exit(EXIT_NOT_FOUND);
}
