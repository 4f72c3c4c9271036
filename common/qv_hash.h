/*
 * qv_hash.h - the hashes of the in-memory tables that the readers and
 * tools share (header-only, as qv_text.h): FNV-1a over bytes, and a
 * finalizer that spreads every input bit over the low bits a table's slot
 * is taken from (FNV's low bits depend on the input's low bits alone).
 */
#ifndef QV_COMMON_HASH_H
#define QV_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t qv__mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static inline uint64_t qv__fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

#endif
