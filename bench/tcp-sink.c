/*
 * The health bench's real servers: listens on 0.0.0.0 ports [lo, hi), accepts every connection, notes when
 * and to which address and port it came, and then, by its mode:
 *  - close: closes it at once (the server closes first whenever it accepts before the prober's close);
 *  - wait:  keeps it until the client closes (EOF), sends something or resets it, or WAIT_S seconds pass,
 *           and closes it then: a real server waiting for a request (HTTP, most), so the prober closes first
 *           whatever its timing, and the TIME_WAIT is the prober's.
 * C, so that thousands of probes a second cost the sink as little as possible of the VM's CPU (both tools'
 * probes hit the same sink).
 *
 *   tcp-sink LO HI [close|wait]   stdin: "dump PATH\n" writes the records since the last dump to PATH and resets;
 *                                 "mode close|wait\n" switches the mode for the connections accepted from then on;
 *                                 stdout: {"event":"ready"} then {"event":"dumped","n":N,"timeouts":T} per dump,
 *                                 {"event":"mode","mode":M} per switch (T: connections a wait closed at WAIT_S).
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAIT_S 5
#define LISTEN_TAG (1ull << 62)

struct rec {
  uint64_t us;
  uint32_t addr;
  uint16_t port;
  uint16_t pad;
};

/* a waiting connection, in accept order (all wait the same WAIT_S: the oldest is always the first due) */
struct held {
  uint64_t until_ms;
  int fd;
  uint32_t gen;
};

static uint64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000;
}

static uint64_t mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: tcp-sink LO HI [close|wait]\n");
    return 2;
  }
  int lo = atoi(argv[1]), hi = atoi(argv[2]);
  int wait = argc > 3 && strcmp(argv[3], "wait") == 0;
  size_t cap = 1u << 23, n = 0;
  struct rec *recs = malloc(cap * sizeof *recs);
  /* every fd a wait holds (at 1,000 probes/s and a prober that never closes: WAIT_S * 1,000 of them) */
  struct rlimit rl = {.rlim_cur = 1 << 20, .rlim_max = 1 << 20};
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  size_t nfd = rl.rlim_cur < (1u << 20) ? rl.rlim_cur : (1u << 20);
  uint32_t *gen = calloc(nfd, sizeof *gen); /* bumped at each close: a ring entry names one connection */
  size_t ring_cap = 1u << 20, head = 0, tail = 0;
  struct held *ring = malloc(ring_cap * sizeof *ring);
  uint64_t timeouts = 0;
  int ep = epoll_create1(0);
  if (recs == NULL || gen == NULL || ring == NULL || ep < 0) return 1;
  for (int p = lo; p < hi; p++) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p), .sin_addr.s_addr = INADDR_ANY};
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 4096) < 0) {
      fprintf(stderr, "port %d: %s\n", p, strerror(errno));
      return 1;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = LISTEN_TAG | (uint64_t)s};
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
  }
  struct epoll_event in = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  printf("{\"event\":\"ready\"}\n");
  fflush(stdout);
  struct epoll_event ev[256];
  char line[4096], junk[512];
  for (;;) {
    int k = epoll_wait(ep, ev, 256, head != tail ? 100 : -1);
    for (int i = 0; i < k; i++) {
      uint64_t d = ev[i].data.u64;
      if (d == UINT64_MAX) {
        ssize_t r = read(0, line, sizeof line - 1);
        if (r <= 0) return 0;
        line[r] = 0;
        char path[4000], mode[16];
        if (sscanf(line, "dump %3999s", path) == 1) {
          FILE *f = fopen(path, "w");
          if (f != NULL) {
            fwrite(recs, sizeof *recs, n, f);
            fclose(f);
          }
          printf("{\"event\":\"dumped\",\"n\":%zu,\"timeouts\":%llu}\n", n, (unsigned long long)timeouts);
          fflush(stdout);
          n = 0;
          timeouts = 0;
        } else if (sscanf(line, "mode %15s", mode) == 1) {
          wait = strcmp(mode, "wait") == 0;
          printf("{\"event\":\"mode\",\"mode\":\"%s\"}\n", wait ? "wait" : "close");
          fflush(stdout);
        }
        continue;
      }
      if (!(d & LISTEN_TAG)) { /* a waiting connection: EOF, data or an error: read it and close */
        int c = (int)d;
        ssize_t r = read(c, junk, sizeof junk);
        if (r > 0 || (r < 0 && errno == EAGAIN)) continue; /* data: the request; wait for the client's close */
        if ((size_t)c < nfd) gen[c]++;
        close(c);
        continue;
      }
      int s = (int)(d & ~LISTEN_TAG);
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
        /* waiting: the client's FIN may be in already (it closed before this accept): then close now */
        ssize_t r = wait ? read(c, junk, sizeof junk) : 0;
        struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)c};
        int hold = wait && (r > 0 || (r < 0 && errno == EAGAIN)); /* r 0: EOF; < 0 otherwise: reset */
        if (!hold || (size_t)c >= nfd || (tail + 1) % ring_cap == head || epoll_ctl(ep, EPOLL_CTL_ADD, c, &e) < 0) {
          if ((size_t)c < nfd) gen[c]++;
          close(c);
          continue;
        }
        ring[tail] = (struct held){.until_ms = mono_ms() + WAIT_S * 1000u, .fd = c, .gen = gen[c]};
        tail = (tail + 1) % ring_cap;
      }
    }
    /* the waits that ran out: closed (their fd, if not closed and reused since: gen) */
    uint64_t now = mono_ms();
    while (head != tail && ring[head].until_ms <= now) {
      struct held *h = &ring[head];
      if (gen[h->fd] == h->gen) {
        gen[h->fd]++;
        close(h->fd);
        timeouts++;
      }
      head = (head + 1) % ring_cap;
    }
  }
}
