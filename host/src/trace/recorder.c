/*
 * recorder.c - appending to the execution graph (see recorder.h).
 */
#include <stdlib.h>

#include "core/internal.h"
#include "trace/recorder.h"

qv__recorder *qv__rec_create(void)
{
    return calloc(1, sizeof(qv__recorder));
}

void qv__rec_reset(qv__recorder *r, uint64_t base)
{
    for (size_t i = 0; i < r->nchunks_len; i++)
        free(r->nchunks[i]);
    for (size_t i = 0; i < r->echunks_len; i++)
        free(r->echunks[i]);
    r->nchunks_len = r->echunks_len = 0;
    r->nnodes = r->nedges = 0;
    r->base = base;
}

void qv__rec_destroy(qv__recorder *r)
{
    if (!r)
        return;
    qv__rec_reset(r, 0);
    free(r->nchunks);
    free(r->echunks);
    free(r);
}

/* Makes room for one more element in a chunked array of `size`-byte items. */
static void *chunk_slot(void ***chunks, size_t *len, size_t *cap, uint64_t count,
                        size_t size)
{
    if (count % QV__REC_CHUNK == 0) {
        if (*len == *cap) {
            size_t ncap = *cap ? *cap * 2 : 16;
            void **nc = realloc(*chunks, ncap * sizeof *nc);
            if (!nc)
                return NULL;
            *chunks = nc;
            *cap = ncap;
        }
        void *c = qv__bigalloc(size * QV__REC_CHUNK);
        if (!c)
            return NULL;
        (*chunks)[(*len)++] = c;
    }
    return (char *)(*chunks)[count / QV__REC_CHUNK] + (count % QV__REC_CHUNK) * size;
}

qv__node *qv__rec_node(qv__recorder *r, uint64_t id, uint32_t func,
                       uint64_t bytes_in, uint64_t bytes_out, uint64_t memory)
{
    if (id != r->base + r->nnodes)
        return NULL;
    qv__node *n = chunk_slot(&r->nchunks, &r->nchunks_len, &r->nchunks_cap,
                             r->nnodes, sizeof *n);
    if (!n)
        return NULL;
    *n = (qv__node){ .bytes_in = bytes_in, .bytes_out = bytes_out,
                     .memory = memory, .func = func };
    r->nnodes++;
    if (r->nnodes % QV__REC_CHUNK < QV__REC_CHUNK - 4)
        __builtin_prefetch(n + 4, 1, 0);
    return n;
}

int qv__rec_edge(qv__recorder *r, uint64_t src, uint64_t dst, uint64_t bytes)
{
    /* An edge from before the last reset has no node to leave from. */
    if (src < r->base)
        return 0;
    qv__edge *e = chunk_slot(&r->echunks, &r->echunks_len, &r->echunks_cap,
                             r->nedges, sizeof *e);
    if (!e)
        return -1;
    *e = (qv__edge){ src, dst, bytes };
    r->nedges++;
    /* The arrays grow into fresh memory: ask for the line a few entries
     * ahead now, so later submissions do not stall on it (about 10% of
     * the recorded Cholesky's cost per task in bench/overhead). */
    if (r->nedges % QV__REC_CHUNK < QV__REC_CHUNK - 8)
        __builtin_prefetch(e + 8, 1, 0);
    return 0;
}
