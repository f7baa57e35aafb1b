/*
 * The source address and interface of one outgoing datagram, as a control message: IP_PKTINFO for
 * AF_INET, IPV6_PKTINFO for AF_INET6. Shared by the VRRP sender (vrrp_send.c) and the unsolicited
 * neighbour advertisement (link_send.c). Include after <netinet/in.h> and <sys/socket.h>.
 */
#ifndef LVSD_PKTINFO_H
#define LVSD_PKTINFO_H

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* Room for either family's control message. */
typedef union {
  struct cmsghdr align;
  uint8_t bytes[CMSG_SPACE(sizeof(struct in6_pktinfo))];
} lvsd_pktinfo_control;

/*
 * Points msg's control buffer at `control` and fills it with `source` (4 or 16 bytes by `family`) and
 * `ifindex`. msg_iov and msg_name are the caller's.
 */
static inline void lvsd_set_pktinfo(struct msghdr *msg, lvsd_pktinfo_control *control, int family, unsigned ifindex,
                                    const void *source) {
  memset(control, 0, sizeof *control);
  msg->msg_control = control->bytes;
  struct cmsghdr *c;
  if (family == AF_INET) {
    msg->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
    c = CMSG_FIRSTHDR(msg);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    pi.ipi_ifindex = (int)ifindex;
    memcpy(&pi.ipi_spec_dst, source, 4);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
  } else {
    msg->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
    c = CMSG_FIRSTHDR(msg);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
    struct in6_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    pi.ipi6_ifindex = ifindex;
    memcpy(&pi.ipi6_addr, source, 16);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
  }
}

#endif
