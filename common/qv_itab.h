/*
 * qv_itab.h - an open-addressing table of indexes into the caller's array
 * (a slot holds index + 1, 0 is empty), whose keys the caller hashes and
 * compares; kept at most half full (header-only, as qv_hash.h). The
 * registry of functions by name, the raw profile's modules by id and
 * `quiver profile`'s merge tables share it.
 *
 * A seed taken when the table first grows (this process's addresses and
 * time) is mixed into every hash: keys chosen by whoever wrote a file
 * (module ids, addresses, names) so as to fall in one run of slots made
 * every lookup a walk of it (review: 130 000 module ids in 30 s against
 * 0.14).
 */
#ifndef QV_COMMON_ITAB_H
#define QV_COMMON_ITAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "qv_hash.h"

typedef struct qv__itab {
    uint32_t *slot;
    size_t cap; /* a power of two, or 0 */
    size_t n;   /* slots in use: the caller counts its insertions */
    uint64_t seed;
} qv__itab;

/* The slot where the probe for hash h ends: at the index for which
 * same(ctx, index) holds, or at a free slot (0) where it would go. */
static inline size_t qv__itab_find(const qv__itab *t, uint64_t h,
                                   bool (*same)(const void *ctx, size_t index),
                                   const void *ctx)
{
    size_t s = (size_t)qv__mix64(h ^ t->seed) & (t->cap - 1);
    while (t->slot[s] && !same(ctx, t->slot[s] - 1u))
        s = (s + 1) & (t->cap - 1);
    return s;
}

/* Room for one more index: past half full, the slots doubled (from 64)
 * and every index placed again, key(ctx, index) its hash. 0, or -1
 * without memory (t unchanged). */
static inline int qv__itab_room(qv__itab *t,
                                uint64_t (*key)(const void *ctx, size_t index),
                                const void *ctx)
{
    if (2 * (t->n + 1) <= t->cap)
        return 0;
    size_t cap = t->cap ? 2 * t->cap : 64;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot)
        return -1;
    if (!t->cap) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t->seed = qv__mix64((uint64_t)(uintptr_t)slot ^ (uint64_t)ts.tv_nsec ^
                            ((uint64_t)ts.tv_sec << 32));
    }
    for (size_t s = 0; s < t->cap; s++) {
        uint32_t v = t->slot[s];
        if (!v)
            continue;
        size_t h = (size_t)qv__mix64(key(ctx, v - 1u) ^ t->seed) & (cap - 1);
        while (slot[h])
            h = (h + 1) & (cap - 1);
        slot[h] = v;
    }
    free(t->slot);
    t->slot = slot;
    t->cap = cap;
    return 0;
}

#endif
