/*
 * Memory locked for a thread that must never wait for a page fault (the advert clock, vrrp_clock.c): its
 * ranges are mlock'ed (faulted in first) and recorded, and the page-out (page_out.c) leaves them alone.
 */
#ifndef LVSD_MEM_LOCK_H
#define LVSD_MEM_LOCK_H
#include <stdbool.h>
#include <stddef.h>

/* mlock [start, start + len) widened to whole pages, and record it: 0 or the errno. */
int lvsd_mem_lock(const void *start, size_t len);
/* Every mapping of the file that holds `addr` (by device and inode in /proc/self/maps; only the executable
 * ones when `exec_only`), locked as lvsd_mem_lock does; *bytes gets what was locked: 0 or the first errno. */
int lvsd_mem_lock_file_of(const void *addr, bool exec_only, size_t *bytes);
/* Zeroed memory of its own for what such a thread reads (the clock's entries and datagrams): whole pages
 * mapped apart from the heap, never made a huge page (khugepaged would collapse it under the reader, holding
 * the address space's lock for writing), and locked when `lock` (best effort). NULL when none can be mapped. */
void *lvsd_own_alloc(size_t size, bool lock);
void lvsd_own_free(void *p);
/* Whether [start, end) overlaps a range locked here. */
bool lvsd_mem_locked(unsigned long start, unsigned long end);
#endif
