/*
 * lvsd's native front (native/front/README.md). `lvsd reload` is answered here, its socket from --socket or
 * the config's control.socket (config.c); every other command line, and any reload this does not take
 * whole (a config directory, or a config config.c is not sure of; an option it does not know, given
 * twice or spelt otherwise; --help), becomes node running the
 * bundle with lvsd's node flags (node-flags.h), exactly what /usr/bin/lvsd ran before (exec.c runs it,
 * or exits 127 / 126 as a shell would when there is no node or it cannot be executed). Falling
 * back is always right: only a command line src/cli/quick-argv.ts would also take is answered here.
 *
 * The package is found from this program's own path (/proc/self/exe, symlinks resolved): the first
 * directory above it holding dist/bundle/lvsd.cjs (a checkout's native/build/Release/lvsd, the Debian
 * package's /usr/lib/lvsd/native/build/Release/lvsd behind /usr/bin/lvsd). node is that directory's
 * bin/node when there is one (the package's own runtime), else the one on PATH.
 */
#include "front.h"
#include "node-flags.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* the value of option `name` at argv[*i] ("--socket V" or "--socket=V"); NULL when argv[*i] is not it.
 * *bad when it is but quick-argv would not take it (no value, or a separate one starting with '-'). */
static const char *option(char **argv, int argc, int *i, const char *name, const char *alias, int *bad) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) == 0 && a[n] == '=') return a + n + 1;
  if (strcmp(a, name) != 0 && !(alias && strcmp(a, alias) == 0)) return NULL;
  if (*i + 1 >= argc || argv[*i + 1][0] == '-') {
    *bad = 1;
    return NULL;
  }
  return argv[++*i];
}

static char socket_buf[128];

/* the socket of a reload command line this program answers whole, else NULL */
static const char *reload_socket(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "reload") != 0) return NULL;
  const char *socket = NULL, *config = NULL;
  for (int i = 2; i < argc; i++) {
    int bad = 0;
    const char *v;
    if ((v = option(argv, argc, &i, "--socket", NULL, &bad)) != NULL) {
      if (socket) return NULL;
      socket = v;
    } else if ((v = option(argv, argc, &i, "--config", "-c", &bad)) != NULL) {
      if (config) return NULL; /* read only without --socket, but given twice is yargs' to judge */
      config = v;
    } else {
      return NULL;
    }
    if (bad) return NULL;
  }
  /* no --socket (or an empty one): the config's control.socket, when config.c is sure of it */
  if (!socket || socket[0] == '\0') {
    if (!config) config = "/etc/lvsd/services.json"; /* --config's default (src/cli/defaults.ts) */
    if (!utf8_valid((const uint8_t *)config, strlen(config))) return NULL;
    return config_socket(config, socket_buf, sizeof socket_buf);
  }
  /* a path sun_path cannot hold whole, or one node would not read byte for byte from its argv (bad
   * UTF-8), is left to node, which does what it always did with them */
  if (strlen(socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return NULL;
  if (!utf8_valid((const uint8_t *)socket, strlen(socket))) return NULL;
  return socket;
}

static int is_file(const char *path) { return access(path, R_OK) == 0; }

static void fall_back(char **argv) {
  char self[PATH_MAX], root[PATH_MAX], script[PATH_MAX + 64], node[PATH_MAX + 64];
  if (!realpath("/proc/self/exe", self) && !(argv[0] && strchr(argv[0], '/') && realpath(argv[0], self))) {
    fprintf(stderr, "lvsd: cannot find this program's own path (/proc/self/exe): %s\n", strerror(errno));
    exit(70);
  }
  snprintf(root, sizeof root, "%s", self);
  for (int up = 0; up < 8; up++) {
    char *slash = strrchr(root, '/');
    if (!slash || slash == root) break;
    *slash = '\0';
    snprintf(script, sizeof script, "%s/dist/bundle/lvsd.cjs", root);
    if (!is_file(script)) {
      snprintf(script, sizeof script, "%s/dist/src/cli/main.js", root);
      if (!is_file(script)) continue;
    }
    static char *const flags[] = {LVSD_NODE_FLAGS};
    const int nflags = (int)(sizeof flags / sizeof flags[0]);
    int argc = 0;
    while (argv[argc]) argc++;
    char **args = calloc((size_t)argc + (size_t)nflags + 3, sizeof *args);
    if (!args) break;
    snprintf(node, sizeof node, "%s/bin/node", root);
    int k = 1; /* args[0]: the node that runs (exec.c) */
    for (int i = 0; i < nflags; i++) args[k++] = flags[i];
    args[k++] = script;
    for (int i = 1; i < argc; i++) args[k++] = argv[i];
    args[k] = NULL;
    /* the package's own runtime when it has one (there, executable or not: exec.c says why it cannot run) */
    exec_node(access(node, F_OK) == 0 ? node : NULL, args);
  }
  fprintf(stderr, "lvsd: cannot find dist/bundle/lvsd.cjs in a directory above %s\n", self);
  exit(70);
}

int main(int argc, char **argv) {
  const char *socket = reload_socket(argc, argv);
  if (!socket) fall_back(argv);
  return reload_command(socket);
}
