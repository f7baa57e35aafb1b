/*
 * The TCP prober's deadlines: a binary min-heap of slot ids ordered by deadline, indexed by slot
 * (probe_slot.heap_pos), so completing or cancelling a probe is O(log n) and the timer is re-armed only
 * when the earliest deadline changes (tcp_probe.c). The earliest is p->heap[0].
 */
#include "tcp_probe_int.h"

static bool earlier(tcp_prober *p, uint32_t a, uint32_t b) {
  return p->slots[p->heap[a]].deadline_ns < p->slots[p->heap[b]].deadline_ns;
}

static void heap_swap(tcp_prober *p, uint32_t a, uint32_t b) {
  uint32_t t = p->heap[a];
  p->heap[a] = p->heap[b];
  p->heap[b] = t;
  p->slots[p->heap[a]].heap_pos = a;
  p->slots[p->heap[b]].heap_pos = b;
}

static void heap_up(tcp_prober *p, uint32_t i) {
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!earlier(p, i, parent)) break;
    heap_swap(p, i, parent);
    i = parent;
  }
}

static void heap_down(tcp_prober *p, uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < p->heap_n && earlier(p, l, m)) m = l;
    if (r < p->heap_n && earlier(p, r, m)) m = r;
    if (m == i) return;
    heap_swap(p, i, m);
    i = m;
  }
}

void lvsd_tcp_deadline_push(tcp_prober *p, uint32_t id) {
  uint32_t i = p->heap_n++;
  p->heap[i] = id;
  p->slots[id].heap_pos = i;
  heap_up(p, i);
}

void lvsd_tcp_deadline_remove(tcp_prober *p, uint32_t id) {
  uint32_t i = p->slots[id].heap_pos;
  if (i == NO_HEAP) return;
  p->slots[id].heap_pos = NO_HEAP;
  uint32_t last = --p->heap_n;
  if (i == last) return;
  p->heap[i] = p->heap[last];
  p->slots[p->heap[i]].heap_pos = i;
  heap_down(p, i);
  heap_up(p, i);
}
