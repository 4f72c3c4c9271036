/*
 * mem.c - large, long-lived allocations (task pools, the recorded graph).
 *
 * Why: on virtual machines a page fault costs microseconds, as much as
 * several whole task submissions. These arrays are filled front to back
 * once, so they are allocated in 2 MiB units and marked for transparent
 * huge pages: one fault per 2 MiB instead of one per 4 KiB.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "core/internal.h"

void *qv__bigalloc(size_t n)
{
    size_t huge = (size_t)2 << 20;
    if (n < huge / 2)
        return malloc(n);
    n = (n + huge - 1) & ~(huge - 1);
    void *p = aligned_alloc(huge, n);
#ifdef MADV_HUGEPAGE
    if (p)
        madvise(p, n, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
    return p;
}
