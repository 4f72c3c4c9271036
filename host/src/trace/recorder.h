/*
 * recorder.h - the measured execution graph of a runtime: one node per
 * submitted task, one edge per dependency with the bytes it carries.
 *
 * Who touches what:
 *  - Submitters append nodes, edges and reader ids under rt->submit_mu, into
 *    chunked arrays whose chunks never move. A node's static fields are
 *    written then; nothing else writes them again.
 *  - The worker that completes a task fills in its node's times through the
 *    pointer it was given at submission, without any lock, and sets the
 *    node's done flag last (release).
 *  - Readers (graph.c) hold r->read_mu shared for their whole run. They take
 *    submit_mu only to copy the counts and the chunk pointers (the arrays of
 *    chunk pointers move when they grow), then read chunks that no submitter
 *    writes again, and a node's times only after its done flag (acquire).
 *  - qv_graph_reset detaches the node and edge chunks under submit_mu (new
 *    tasks get new chunks) and frees them once no reader holds read_mu and
 *    every detached node is done, so neither a reader nor a worker ever
 *    touches freed memory. It waits for those nodes holding no lock. A
 *    reader or reset never waits for nodes from inside a task (its own may
 *    be among them) nor while tasks wait for a buffer the host holds; such
 *    a reset leaves the detached chunks on r->retired for a later reset or
 *    qv__rec_destroy.
 * The submit path is unchanged by all this: it never takes read_mu.
 *
 * A window (qv_options.record_window) bounds the graph of a long run: when
 * it is full, the oldest chunk of nodes slides out (the base moves past
 * it), with the edges and reader-log entries that end before the new base.
 * Submitters do that under submit_mu; the chunks slid out are freed (or
 * kept as the next chunk) once no reader holds read_mu (a try-lock: a
 * submitter never waits for a reader) and every node in them is done.
 *
 * Node ids are the runtime's submission order; edges arrive grouped by
 * destination because a task's edges are appended when it is submitted.
 *
 * Memory per task is a node (56 bytes), its edges (24 bytes each) and, for
 * each buffer it only reads, one reader-log entry (16 bytes) kept for the
 * write-after-read edges of the buffer's next writer; reset frees all three.
 */
#ifndef QV_TRACE_RECORDER_H
#define QV_TRACE_RECORDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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
    atomic_uchar done;         /* set last by the completing worker */
    float    board_us;         /* emulated boards: modelled time, else 0 */
    int32_t  err;              /* a task that ran nowhere: its error; else 0 */
} qv__node;

typedef struct qv__edge {
    uint64_t src, dst; /* node ids */
    uint64_t bytes;
} qv__edge;

/* One read of a buffer since its last writer: a list per buffer through
 * the reader log, newest first. */
typedef struct qv__rlink {
    uint64_t id;   /* the reader's node id */
    uint64_t prev; /* log position + 1 of the buffer's previous reader; 0 none */
} qv__rlink;

/* Items per chunk, by the item's size: a power of two of them filling
 * most of one huge page (2 MiB, see qv__bigalloc): 32768 nodes (1.75
 * MiB), 65536 edges (1.5 MiB), 131072 reader-log entries (2 MiB). With
 * 32768 of each, a chunk of edges or of the log (0.75, 0.5 MiB) was under
 * qv__bigalloc's threshold and faulted in 4 KiB at a time, 10-12 us a
 * page on the VM bench/ runs on: `bench_loop --overhead --shape random
 * --replayed-only --runs 3` took 7000-7700 page faults and 525-595 ms of
 * CPU, against 2650 and 465-510 ms with these (bench/RESULTS.md). */
#define QV__REC_ITEMS(size) ((size) > 32 ? 32768 : (size) > 16 ? 65536 : 131072)
/* Nodes per chunk: the unit of the window. */
#define QV__REC_CHUNK QV__REC_ITEMS(sizeof(qv__node))
_Static_assert(sizeof(qv__node) > 32 && sizeof(qv__node) * 32768 <= (2u << 20),
               "a chunk of nodes fits a huge page");
_Static_assert(sizeof(qv__edge) > 16 && sizeof(qv__edge) <= 32 &&
               sizeof(qv__edge) * 65536 <= (2u << 20), "a chunk of edges fits a huge page");
_Static_assert(sizeof(qv__rlink) <= 16, "a chunk of reader-log entries fits a huge page");

/* A chunked array: chunks of QV__REC_ITEMS(item size) items that never
 * move. */
typedef struct qv__chunks {
    void   **c;
    size_t   len, cap;  /* chunks */
    uint64_t n;         /* items */
} qv__chunks;

struct qv__recorder {
    pthread_rwlock_t read_mu; /* readers shared, reset's detach exclusive */
    uint64_t   base;     /* id of the first node kept; under submit_mu */
    qv__chunks nodes;    /* qv__node; appended under submit_mu */
    qv__chunks edges;    /* qv__edge; appended under submit_mu */
    qv__chunks rlog;     /* qv__rlink; under submit_mu only */
    uint64_t   rlog_base; /* log position of rlog's first entry */
    /* Forgotten graphs a reset could not free yet (readers may hold them,
     * their tasks may still run); under submit_mu. */
    struct qv__rec_old {
        qv__chunks nodes, edges;
        uint64_t checked; /* nodes known to be done (qv__rec_reclaim) */
    } *retired;
    size_t nretired;
    /* Nodes kept at least (a multiple of QV__REC_CHUNK); 0 keeps all. */
    uint64_t window;
    /* Bumped (under submit_mu) whenever chunks leave the graph, by a slide
     * or a reset: a reader that let go of read_mu between two looks at its
     * snapshot of chunk pointers takes a new one when this moved, without
     * taking submit_mu at every look. */
    _Atomic uint64_t moves;
    /* Chunks slid out and not freed yet (readers may hold them, nodes may
     * be running), and spare chunks of each kind (nodes, edges, reader log)
     * kept for reuse: a long run then recycles its memory instead of
     * asking the kernel for zeroed pages. Under submit_mu. */
    struct qv__rec_slid {
        void    *c;
        uint32_t checked; /* nodes: how many are known to be done */
        uint8_t  kind;    /* QV__REC_NODES or QV__REC_EDGES */
    } *slid_c;
    size_t nslid, capslid;
    /* Spare chunks of each kind: two, because the chunk made ahead for
     * the next one is ready before the window's oldest slides out; with
     * one kept, the slid one was freed and every chunk past the window
     * was fresh memory (a 2 MiB page zeroed per 32768 tasks). */
#define QV__REC_SPARES 2
    void    *spare[3][QV__REC_SPARES];
    unsigned nspare[3];
    uint64_t fresh; /* chunks taken from the allocator; under submit_mu */
};

enum { QV__REC_NODES, QV__REC_EDGES, QV__REC_RLOG };

/* window: the nodes kept at least, rounded up to whole chunks; 0 all. */
qv__recorder *qv__rec_create(uint64_t window);
/* Frees everything; every task must be done (the runtime is stopped). */
void          qv__rec_destroy(qv__recorder *r);
/* Appends the node for task id (== base + nodes.n); NULL when out of
 * memory. Under submit_mu. */
qv__node     *qv__rec_node(qv__recorder *r, uint64_t id, uint32_t func,
                           uint64_t bytes_in, uint64_t bytes_out, uint64_t memory);
/* Appends the edge src -> dst unless src was forgotten by a reset. Under
 * submit_mu; 0 or -1 when out of memory. */
int           qv__rec_edge(qv__recorder *r, uint64_t src, uint64_t dst, uint64_t bytes);

/* Forgets the graph: the next node gets id `base`. The reader log is freed
 * at once (only submitters use it); the nodes and edges go to r->retired,
 * to be freed once no reader holds them and the nodes are done. Under
 * submit_mu. 0 or -1 when out of memory (nothing is forgotten then). */
int  qv__rec_forget(qv__recorder *r, uint64_t base);
/* Frees the chunks slid out of the window that no one can touch any more:
 * those of done nodes, when no reader holds read_mu. have_read_mu: the
 * caller holds it exclusively; else it is tried, never waited for. Under
 * submit_mu. */
void qv__rec_reclaim(qv__recorder *r, bool have_read_mu);
/* The next chunks ahead of need, made by the run-time loop's background
 * thread when a qv_wait_all finds them wanted (qv__loop_ahead): fresh
 * memory's pages are zeroed by the kernel at their first touch, a huge
 * page at a time. Made by the submission that opened a chunk, that cost
 * 12-25 % of a replayed region's time in its first million tasks; made by
 * the wait, it held up the program's next entry. A thread busy compiling
 * makes them after the compile; a chunk needed before then is made by the
 * submission, as without. _wanted: the kinds (bit per QV__REC_*) in use
 * whose chunk is half full or more and have no spare; under submit_mu. _make:
 * a chunk of that kind with its pages touched; no lock. _take: keeps it as
 * a spare (or frees it, when enough came meanwhile); under submit_mu. */
unsigned qv__rec_ahead_wanted(const qv__recorder *r);
void    *qv__rec_ahead_make(int kind);
void     qv__rec_ahead_take(qv__recorder *r, int kind, void *chunk);
/* Waits until nodes [from, to) of chunk array c are done. Never from a
 * thread that runs tasks: the node of its own task may be among them. */
void qv__rec_wait_nodes(void *const *c, uint64_t from, uint64_t to);
/* Frees a chunk array and its chunks. */
void qv__chunks_free(qv__chunks *a);
/* Copies the first n items' chunk pointers of a (so that a reader need not
 * hold submit_mu while a submitter grows a's pointer array); NULL when out
 * of memory. Under submit_mu. */
void **qv__chunks_snapshot(const qv__chunks *a, uint64_t n, size_t size);

/* The readers of one buffer since its last writer. *head is the buffer's
 * list (0 when empty; a list from before a reset reads as empty). Under
 * submit_mu. */
int  qv__rec_read(qv__recorder *r, uint64_t *head, uint64_t id);
static inline int qv__rec_has_readers(const qv__recorder *r, uint64_t head)
{
    return head > r->rlog_base;
}
/* Appends the write-after-read edges from every reader on the list to dst
 * and empties it. 0 or -1 when out of memory. */
int  qv__rec_war(qv__recorder *r, uint64_t *head, uint64_t dst);

static inline void qv__rec_done(void *node, uint64_t t0, uint64_t t1,
                                unsigned worker, unsigned cls, int err)
{
    qv__node *n = node;
    n->start_ns = t0;
    n->end_ns = t1;
    n->worker = (uint16_t)worker;
    n->cls = (uint8_t)cls;
    n->err = err;
    atomic_store_explicit(&n->done, 1, memory_order_release);
}

static inline void *qv__chunks_at(void *const *c, uint64_t i, size_t size)
{
    return (char *)c[i / QV__REC_ITEMS(size)] + (i % QV__REC_ITEMS(size)) * size;
}

/* The first of nodes [from, to) of chunk array c that is not done yet (to
 * when all are): a cursor that looks at each node until it is done, once. */
static inline uint64_t qv__rec_done_upto(void *const *c, uint64_t from, uint64_t to)
{
    while (from < to &&
           atomic_load_explicit(&((qv__node *)qv__chunks_at(c, from, sizeof(qv__node)))->done,
                                memory_order_acquire))
        from++;
    return from;
}

#endif
