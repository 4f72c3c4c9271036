/*
 * mem.c - large, long-lived allocations (task pools, the recorded graph).
 *
 * Why: on virtual machines a page fault costs microseconds, as much as
 * several whole task submissions. These arrays are filled front to back
 * once, so they are allocated in 2 MiB units and marked for transparent
 * huge pages: one fault per 2 MiB instead of one per 4 KiB. Where the
 * system gives 4 KiB pages all the same, qv__prefault maps a whole array
 * in one system call.
 */
#include <stdint.h>
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

void qv__prefault(void *p, size_t n)
{
    /* A fault per 4 KiB page costs 10-12 us on the virtual machine
     * bench/ runs on: 2.3 ms for a 768 KiB chunk of the recorder's edges,
     * against 80-270 us for MADV_POPULATE_WRITE (Linux 5.14), which maps
     * them all in one call. For the program's own thread: where it needs
     * a chunk that no thread made ahead, replayed regions ran 5-10 %
     * faster with it (bench/RESULTS.md). Where the call is missing, each
     * page is touched. */
    char *c = p;
#ifdef MADV_POPULATE_WRITE
    uintptr_t lo = ((uintptr_t)c + 4095) & ~(uintptr_t)4095;
    uintptr_t hi = ((uintptr_t)c + n) & ~(uintptr_t)4095;
    if (hi <= lo || madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) == 0)
        return;
#endif
    for (size_t i = 0; i < n; i += 4096)
        c[i] = 0;
}
