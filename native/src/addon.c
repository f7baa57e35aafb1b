/*
 * lvsd_native: packet I/O Node lacks, kept small and dumb. Raw VRRP sockets polled on the event loop,
 * and one-shot sends of Ethernet frames (gratuitous ARP) and ICMPv6 messages (neighbour advertisements).
 * TCP connect probes for the health checker, many at once on one epoll set (tcp_probe.c).
 * UDP probes with every ICMP error reported (udp_probe.c) and ICMP/ICMPv6 echo sockets for PING checks, errors delivered as values (icmp_socket.c).
 * Netlink sockets of any protocol (rtnetlink, generic netlink), errors delivered as values (netlink_socket.c).
 * Every decision (what to send, when, what a packet means) is made in TypeScript: see src/net/native.ts.
 */
#include <malloc.h>
#include <node_api.h>
#include <time.h>

#include "icmp_socket.h"
#include "link_send.h"
#include "netlink_socket.h"
#include "page_out.h"
#include "signal_watch.h"
#include "spawn.h"
#include "tcp_probe.h"
#include "thread_sched.h"
#include "udp_probe.h"
#include "vrrp_clock.h"
#include "vrrp_socket.h"

/*
 * mallocTrim(): glibc's malloc_trim(0), which hands the free pages inside the heap back to the kernel, not
 * only its top (free() does that alone). Returns the microseconds it took. lvsd calls it once a start or a
 * reload is done: their parse and compile leave megabytes of free chunks between live ones (docs/benchmarks.md,
 * "RSS at 10,000 checks").
 */
static napi_value lvsd_malloc_trim(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  malloc_trim(0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  napi_value out;
  napi_create_double(env, (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"vrrpOpen", NULL, lvsd_vrrp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"signalWatch", NULL, lvsd_signal_watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"signalWatchClose", NULL, lvsd_signal_watch_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vrrpSend", NULL, lvsd_vrrp_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vrrpClose", NULL, lvsd_vrrp_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vrrpRef", NULL, lvsd_vrrp_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vrrpListen", NULL, lvsd_vrrp_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vrrpDrain", NULL, lvsd_vrrp_drain, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vrrpAdvertClock", NULL, lvsd_advert_clock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vrrpAdvertSchedule", NULL, lvsd_advert_schedule, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vrrpAdvertStop", NULL, lvsd_advert_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vrrpAdvertRead", NULL, lvsd_advert_read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vrrpRealtime", NULL, lvsd_vrrp_realtime, NULL, NULL, NULL, napi_enumerable, NULL},
      {"threadForkPriority", NULL, lvsd_thread_fork_priority, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ifIndex", NULL, lvsd_if_index, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendFrame", NULL, lvsd_send_frame, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendIcmp6", NULL, lvsd_send_icmp6, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProberOpen", NULL, lvsd_tcp_prober_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProbe", NULL, lvsd_tcp_probe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProbeCancel", NULL, lvsd_tcp_probe_cancel, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProberClose", NULL, lvsd_tcp_prober_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProberRef", NULL, lvsd_tcp_prober_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpWatch", NULL, lvsd_tcp_watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpUnwatch", NULL, lvsd_tcp_unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProberLimit", NULL, lvsd_tcp_prober_limit, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProberCloseAfter", NULL, lvsd_tcp_prober_close_after, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProberReuse", NULL, lvsd_tcp_prober_reuse, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProberNice", NULL, lvsd_tcp_prober_nice, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProberStats", NULL, lvsd_tcp_prober_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpProberConfigure", NULL, lvsd_tcp_prober_configure, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpWatchNext", NULL, lvsd_tcp_watch_next, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpWatchState", NULL, lvsd_tcp_watch_state, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpWatchCounts", NULL, lvsd_tcp_watch_counts, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpProbeOpen", NULL, lvsd_udp_probe_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpProbeClose", NULL, lvsd_udp_probe_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmpOpen", NULL, lvsd_icmp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmpSend", NULL, lvsd_icmp_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmpClose", NULL, lvsd_icmp_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmpRef", NULL, lvsd_icmp_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlOpen", NULL, lvsd_nl_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlSend", NULL, lvsd_nl_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlClose", NULL, lvsd_nl_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlRef", NULL, lvsd_nl_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlInfo", NULL, lvsd_nl_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"spawnChild", NULL, lvsd_spawn_child, NULL, NULL, NULL, napi_enumerable, NULL},
      {"childRef", NULL, lvsd_child_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mallocTrim", NULL, lvsd_malloc_trim, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pageOut", NULL, lvsd_page_out, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
