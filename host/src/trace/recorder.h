/*
 * recorder.h - the measured execution graph of a runtime: one node per
 * submitted task, one edge per dependency with the bytes it carries.
 *
 * Nodes and edges are appended under rt->submit_mu into chunked arrays whose
 * chunks never move, so a worker can fill in a node's times through the
 * pointer it was given at submission without any lock. Node ids are the
 * runtime's submission order; edges arrive sorted by destination because a
 * task's edges are appended when it is submitted.
 */
#ifndef QV_TRACE_RECORDER_H
#define QV_TRACE_RECORDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct qv__recorder qv__recorder;

typedef struct qv__node {
    uint64_t start_ns, end_ns; /* monotonic; 0 until done */
    uint64_t bytes_in;         /* bytes of buffers read */
    uint64_t bytes_out;        /* bytes of buffers written */
    uint64_t memory;           /* bytes of distinct buffers touched */
    uint32_t func;             /* index in rt->funcs */
    uint16_t worker;
    uint8_t  cls;              /* qv_class it ran on */
    uint8_t  pad;
    float    board_us;         /* emulated boards: modelled time, else 0 */
} qv__node;

typedef struct qv__edge {
    uint64_t src, dst; /* node ids */
    uint64_t bytes;
} qv__edge;

/* Items per chunk: 32768 nodes or edges fill about 1.5 / 0.75 MiB, one huge
 * page each (see qv__bigalloc). */
#define QV__REC_CHUNK 32768

struct qv__recorder {
    uint64_t   base;     /* id of the first node kept */
    uint64_t   nnodes;
    void     **nchunks;  /* of QV__REC_CHUNK qv__node */
    size_t     nchunks_len, nchunks_cap;
    uint64_t   nedges;
    void     **echunks;  /* of QV__REC_CHUNK qv__edge */
    size_t     echunks_len, echunks_cap;
};

qv__recorder *qv__rec_create(void);
void          qv__rec_destroy(qv__recorder *r);
/* Forgets every node and edge; the next node gets id `base`. */
void          qv__rec_reset(qv__recorder *r, uint64_t base);
/* Appends the node for task id (== base + nnodes); NULL when out of memory. */
qv__node     *qv__rec_node(qv__recorder *r, uint64_t id, uint32_t func,
                           uint64_t bytes_in, uint64_t bytes_out, uint64_t memory);
int           qv__rec_edge(qv__recorder *r, uint64_t src, uint64_t dst, uint64_t bytes);

static inline void qv__rec_done(void *node, uint64_t t0, uint64_t t1,
                                unsigned worker, unsigned cls)
{
    qv__node *n = node;
    n->start_ns = t0;
    n->end_ns = t1;
    n->worker = (uint16_t)worker;
    n->cls = (uint8_t)cls;
}

static inline qv__node *qv__rec_node_at(const qv__recorder *r, uint64_t i)
{
    return &((qv__node *)r->nchunks[i / QV__REC_CHUNK])[i % QV__REC_CHUNK];
}

static inline qv__edge *qv__rec_edge_at(const qv__recorder *r, uint64_t i)
{
    return &((qv__edge *)r->echunks[i / QV__REC_CHUNK])[i % QV__REC_CHUNK];
}

#endif
