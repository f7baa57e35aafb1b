/*
 * The health bench's real servers: listens on 0.0.0.0 ports [lo, hi), accepts every connection, notes when
 * and to which address and port it came, and closes it. C, so that thousands of probes a second cost the
 * sink as little as possible of the VM's CPU (both tools' probes hit the same sink).
 *
 *   tcp-sink LO HI      stdin: "dump PATH\n" writes the records since the last dump to PATH and resets;
 *                       stdout: {"event":"ready"} then {"event":"dumped","n":N} per dump.
 * A record is 16 bytes, little-endian: u64 microseconds (CLOCK_REALTIME), u32 address (network order),
 * u16 port, u16 zero.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct rec {
  uint64_t us;
  uint32_t addr;
  uint16_t port;
  uint16_t pad;
};

static uint64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: tcp-sink LO HI\n");
    return 2;
  }
  int lo = atoi(argv[1]), hi = atoi(argv[2]);
  size_t cap = 1u << 23, n = 0;
  struct rec *recs = malloc(cap * sizeof *recs);
  int ep = epoll_create1(0);
  if (recs == NULL || ep < 0) return 1;
  for (int p = lo; p < hi; p++) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p), .sin_addr.s_addr = INADDR_ANY};
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 4096) < 0) {
      fprintf(stderr, "port %d: %s\n", p, strerror(errno));
      return 1;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = (uint64_t)s};
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
  }
  struct epoll_event in = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  printf("{\"event\":\"ready\"}\n");
  fflush(stdout);
  struct epoll_event ev[256];
  char line[4096];
  for (;;) {
    int k = epoll_wait(ep, ev, 256, -1);
    for (int i = 0; i < k; i++) {
      if (ev[i].data.u64 == UINT64_MAX) {
        ssize_t r = read(0, line, sizeof line - 1);
        if (r <= 0) return 0;
        line[r] = 0;
        char path[4000];
        if (sscanf(line, "dump %3999s", path) == 1) {
          FILE *f = fopen(path, "w");
          if (f != NULL) {
            fwrite(recs, sizeof *recs, n, f);
            fclose(f);
          }
          printf("{\"event\":\"dumped\",\"n\":%zu}\n", n);
          fflush(stdout);
          n = 0;
        }
        continue;
      }
      int s = (int)ev[i].data.u64;
      for (;;) {
        struct sockaddr_in local;
        socklen_t len = sizeof local;
        int c = accept4(s, NULL, NULL, SOCK_NONBLOCK);
        if (c < 0) break;
        if (n < cap && getsockname(c, (struct sockaddr *)&local, &len) == 0) {
          recs[n].us = now_us();
          recs[n].addr = local.sin_addr.s_addr;
          recs[n].port = ntohs(local.sin_port);
          recs[n].pad = 0;
          n++;
        }
        close(c);
      }
    }
  }
}
