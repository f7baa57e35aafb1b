/*
 * Where a TCP probe's socket comes from and where it goes, apart from opening one: the sockets `close: reset`
 * probes keep (connected to AF_UNSPEC between probes, in the epoll set for good), the sockets of probes that
 * connected inside connect() held a few milliseconds so the server closes first, and the spare sockets a FIN
 * probe leaves when its server did close first. The engine (tcp_probe.c) calls these; they run on its
 * thread, like it, with no lock.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_probe_int.h"

/* ---- kept sockets (close: reset) ---- */

static bool fd_slot_reserve(tcp_prober *p, int fd) {
  if ((uint32_t)fd < p->fd_slot_cap) return true;
  uint32_t cap = p->fd_slot_cap ? p->fd_slot_cap : 1024;
  while (cap <= (uint32_t)fd) cap *= 2;
  uint32_t *m = realloc(p->fd_slot, sizeof *m * cap);
  if (m == NULL) return false;
  for (uint32_t i = p->fd_slot_cap; i < cap; i++) m[i] = NO_SLOT;
  p->fd_slot = m;
  p->fd_slot_cap = cap;
  return true;
}

/* A kept socket of the family, or a new one registered for good; -1 when there is none to keep (then the
   probe opens a socket of its own, closed with SO_LINGER 0 as before). */
int lvsd_tcp_kept_socket(tcp_prober *p, int family) {
  int f = family == AF_INET6;
  if (p->idle_n[f] > 0) return p->idle[f][--p->idle_n[f]];
  if (p->idle_cap[f] == 0) {
    p->idle[f] = malloc(sizeof(int) * IDLE_MAX);
    if (p->idle[f] == NULL) return -1;
    p->idle_cap[f] = IDLE_MAX;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  /* edge-triggered: an idle socket's state (unconnected) would report ready for ever when level-triggered;
     a probe's connect reports at its edge, and epoll reads the state again when it reports */
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.u32 = POOLED | (uint32_t)fd};
  if (!fd_slot_reserve(p, fd) || epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The end of a probe on a kept socket: a connect to AF_UNSPEC aborts the connection (RST when it was
   established, nothing when it was still SYN_SENT or failed) and leaves the socket unconnected for the next
   probe; its next connect clears the error this leaves. Kept when there is room, else closed. */
void lvsd_tcp_end_kept(tcp_prober *p, int fd, bool v6) {
  struct sockaddr unspec = {.sa_family = AF_UNSPEC};
  p->fd_slot[fd] = NO_SLOT;
  if (connect(fd, &unspec, sizeof unspec) < 0 || p->idle_n[v6] >= p->idle_cap[v6]) {
    close(fd);
    return;
  }
  p->idle[v6][p->idle_n[v6]++] = fd;
}

/* A probe that connected inside connect(): its socket closed a turn or so later, not now. Over a link inside
   this host the handshake ends before the server's process has even accepted; closing now sends the FIN
   first, and against a server that closes at accept the director keeps the TIME_WAIT and both ends do the
   active close's work. Held close_after_ns (5 ms by default), the server's FIN has come: this close is the
   passive one (no TIME_WAIT here), the order keepalived's checker gets by closing an epoll round later. No
   system call is added: the socket is not in the epoll set, the turn that closes it runs anyway. At most
   HELD_MAX are held, so the descriptors a hold takes stay bounded whatever the probe rate. */
void lvsd_tcp_close_connected(tcp_prober *p, int fd, bool v6, uint64_t at) {
  if (p->close_after_ns == 0 || p->held_n == HELD_MAX) {
    close(fd);
    return;
  }
  p->held_fd[p->held_n] = fd;
  p->held_v6[p->held_n] = v6;
  p->held_due[p->held_n++] = at + p->close_after_ns;
}

/* The end of a held socket whose server has closed first (CLOSE_WAIT: its FIN came; CLOSE: it is gone),
   without a close(): shutdown() sends this side's FIN, the same segment close() would send, and over the
   link inside this host the server's ACK of it has closed the connection by the time the call returns; a
   connect to AF_UNSPEC then lets go of the local port (nothing is sent from CLOSE; from LAST_ACK, an ACK still
   on its way, nothing either: that ACK then meets no socket and is answered as any stray segment) and the
   socket is spare, unconnected, for the next FIN probe of its family. false: not done (the server has not
   closed, or no room): the caller closes it, which for a connection still open is the active close. One
   getsockopt() more than a close for a server that has not closed; for one that has, getsockopt, shutdown and
   connect replace the close here and the next probe's socket(). */
static bool keep_spare(tcp_prober *p, int fd, bool v6) {
  if (p->spare_n[v6] >= SPARE_MAX) return false;
  if (p->spare[v6] == NULL && (p->spare[v6] = malloc(sizeof(int) * SPARE_MAX)) == NULL) return false;
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || len < 1) return false;
  if (ti.tcpi_state == TCP_CLOSE_WAIT) {
    if (shutdown(fd, SHUT_WR) < 0) return false;
  } else if (ti.tcpi_state != TCP_CLOSE) {
    return false;
  }
  struct sockaddr unspec = {.sa_family = AF_UNSPEC};
  if (connect(fd, &unspec, sizeof unspec) < 0) return false;
  p->spare[v6][p->spare_n[v6]++] = fd;
  return true;
}

/* The held sockets whose time has come (all of them with `all`: closed, none kept spare). */
void lvsd_tcp_close_held(tcp_prober *p, bool all) {
  uint64_t now = all ? UINT64_MAX : lvsd_tcp_now_ns();
  uint32_t k = 0;
  for (; k < p->held_n && p->held_due[k] <= now; k++) {
    if (all || !p->reuse || !keep_spare(p, p->held_fd[k], p->held_v6[k])) close(p->held_fd[k]);
  }
  if (k == 0) return;
  p->held_n -= k;
  memmove(p->held_fd, p->held_fd + k, sizeof *p->held_fd * p->held_n);
  memmove(p->held_v6, p->held_v6 + k, sizeof *p->held_v6 * p->held_n);
  memmove(p->held_due, p->held_due + k, sizeof *p->held_due * p->held_n);
}

/* A spare socket of the family (counted in `reused`), or -1 when there is none. */
int lvsd_tcp_spare_socket(tcp_prober *p, bool v6) {
  if (p->spare_n[v6] == 0) return -1;
  p->reused++;
  return p->spare[v6][--p->spare_n[v6]];
}

/* The spare sockets, closed (the prober closing, or reuse turned off). */
void lvsd_tcp_close_spare(tcp_prober *p) {
  for (int f = 0; f < 2; f++) {
    for (uint32_t i = 0; i < p->spare_n[f]; i++) close(p->spare[f][i]);
    p->spare_n[f] = 0;
  }
}

void lvsd_tcp_end_socket(tcp_prober *p, probe_slot *s) {
  if (s->pooled) lvsd_tcp_end_kept(p, s->fd, s->v6);
  else close(s->fd);
}
