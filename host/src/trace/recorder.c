/*
 * recorder.c - appending to the execution graph and forgetting it (see
 * recorder.h for who may touch what, and when).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "devices/device.h"
#include "trace/recorder.h"

qv__recorder *qv__rec_create(uint64_t window)
{
    qv__recorder *r = calloc(1, sizeof(qv__recorder));
    if (!r)
        return NULL;
    if (window > UINT64_MAX / 4)
        window = 0; /* no run records that many: keep all (and no overflow) */
    r->window = (window + QV__REC_CHUNK - 1) / QV__REC_CHUNK * QV__REC_CHUNK;
    /* Readers first (glibc's default, made explicit): a task that reads the
     * graph while another thread's reader waits for that task, and a reset
     * waits for that reader, must not queue behind the reset. */
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_READER_NP);
#endif
    int rc = pthread_rwlock_init(&r->read_mu, &a);
    pthread_rwlockattr_destroy(&a);
    if (rc) {
        free(r);
        return NULL;
    }
    return r;
}

void qv__chunks_free(qv__chunks *a)
{
    for (size_t i = 0; i < a->len; i++)
        free(a->c[i]);
    free(a->c);
    *a = (qv__chunks){ 0 };
}

void **qv__chunks_snapshot(const qv__chunks *a, uint64_t n, size_t size)
{
    size_t len = (size_t)((n + QV__REC_ITEMS(size) - 1) / QV__REC_ITEMS(size));
    void **c = malloc((len ? len : 1) * sizeof *c);
    if (c && len)
        memcpy(c, a->c, len * sizeof *c);
    return c;
}

void qv__rec_destroy(qv__recorder *r)
{
    if (!r)
        return;
    qv__chunks_free(&r->nodes);
    qv__chunks_free(&r->edges);
    qv__chunks_free(&r->rlog);
    for (size_t i = 0; i < r->nretired; i++) {
        qv__chunks_free(&r->retired[i].nodes);
        qv__chunks_free(&r->retired[i].edges);
    }
    free(r->retired);
    for (size_t i = 0; i < r->nslid; i++)
        free(r->slid_c[i].c);
    free(r->slid_c);
    for (int k = 0; k < 3; k++)
        while (r->nspare[k])
            free(r->spare[k][--r->nspare[k]]);
    pthread_rwlock_destroy(&r->read_mu);
    free(r);
}

int qv__rec_forget(qv__recorder *r, uint64_t base)
{
    struct qv__rec_old *ret = realloc(r->retired, (r->nretired + 1) * sizeof *ret);
    if (!ret)
        return -1;
    r->retired = ret;
    r->retired[r->nretired++] = (struct qv__rec_old){ r->nodes, r->edges, 0 };
    r->nodes = r->edges = (qv__chunks){ 0 };
    r->base = base;
    atomic_fetch_add_explicit(&r->moves, 1, memory_order_relaxed);
    r->rlog_base += r->rlog.n;
    qv__chunks_free(&r->rlog);
    return 0;
}

/* Polls: a node is done by whichever worker ran it, which signals no one;
 * waits here are rare (graph exports and resets) and short. */
void qv__rec_wait_nodes(void *const *c, uint64_t from, uint64_t to)
{
    unsigned k = 0;
    for (uint64_t i = from; i < to;) {
        qv__node *nd = qv__chunks_at(c, i, sizeof *nd);
        if (atomic_load_explicit(&nd->done, memory_order_acquire)) {
            i++;
            k = 0;
        } else if (k++ < 200) {
            qv__cpu_relax();
        } else if (k < 400) {
            sched_yield();
        } else {
            nanosleep(&(struct timespec){ 0, k < 1000 ? 20000 : 500000 }, NULL);
        }
    }
}

static const size_t item_size[3] = { sizeof(qv__node), sizeof(qv__edge),
                                     sizeof(qv__rlink) };

unsigned qv__rec_ahead_wanted(const qv__recorder *r)
{
    const qv__chunks *a[3] = { &r->nodes, &r->edges, &r->rlog };
    unsigned want = 0;
    for (int k = 0; k < 3; k++) {
        uint64_t per = QV__REC_ITEMS(item_size[k]), used = a[k]->n % per;
        if (!r->nspare[k] && a[k]->len && (used == 0 || used >= per / 2))
            want |= 1u << k;
    }
    return want;
}

void *qv__rec_ahead_make(int kind)
{
    /* Tests: "recorder" faults delay it, or leave the chunk unmade. */
    if (qv__fault_hit("recorder", QV_FAULT_ALLOC))
        return NULL;
    size_t n = item_size[kind] * QV__REC_ITEMS(item_size[kind]);
    char *c = qv__bigalloc(n);
    /* Page by page, not qv__prefault's one call: this thread runs at a
     * low share of the CPU, and a fault at a time leaves the program's
     * threads the core between faults. Made in one call here, replayed
     * regions ran 5-20 % slower on 2 cores (bench/RESULTS.md). */
    for (size_t i = 0; c && i < n; i += 4096)
        c[i] = 0;
    return c;
}

/* A chunk no one touches any more: kept for reuse while fewer than
 * QV__REC_SPARES of its kind are, else freed. */
static void recycle(qv__recorder *r, void *c, int kind)
{
    if (r->nspare[kind] < QV__REC_SPARES)
        r->spare[kind][r->nspare[kind]++] = c;
    else
        free(c);
}

void qv__rec_ahead_take(qv__recorder *r, int kind, void *chunk)
{
    r->fresh++;
    recycle(r, chunk, kind);
}

/* Makes room for one more item of `size` bytes in a, whose chunks are of
 * `kind`; its address, or NULL. */
static void *chunk_slot(qv__recorder *r, qv__chunks *a, size_t size, int kind)
{
    uint64_t per = QV__REC_ITEMS(size);
    if (a->n % per == 0) {
        if (a->len == a->cap) {
            size_t ncap = a->cap ? a->cap * 2 : 16;
            void **nc = realloc(a->c, ncap * sizeof *nc);
            if (!nc)
                return NULL;
            a->c = nc;
            a->cap = ncap;
        }
        void *c = r->nspare[kind] ? r->spare[kind][--r->nspare[kind]] : NULL;
        if (!c) {
            if (qv__fault_hit("graph", QV_FAULT_ALLOC) || !(c = qv__bigalloc(size * per)))
                return NULL;
            r->fresh++;
            /* Wanted now, the background thread's not made in time: its
             * pages mapped at once (qv__prefault), not at a fault each
             * while the program submits; but for a graph's first chunk,
             * which a small program may never fill. */
            if (a->len)
                qv__prefault(c, size * per);
        }
        a->c[a->len++] = c;
    }
    return qv__chunks_at(a->c, a->n, size);
}

/* Takes a's first chunk (full, of per items) out of it. */
static void *drop_first(qv__chunks *a, uint64_t per)
{
    void *c = a->c[0];
    memmove(a->c, a->c + 1, (a->len - 1) * sizeof *a->c);
    a->len--;
    a->n -= per;
    return c;
}

/* Keeps chunk c of `kind` until no one can touch it; -1 when out of memory
 * (then it stays in the graph: the window grows rather than lose track). */
static int keep_slid(qv__recorder *r, void *c, int kind)
{
    if (r->nslid == r->capslid) {
        size_t ncap = r->capslid ? r->capslid * 2 : 8;
        struct qv__rec_slid *n = realloc(r->slid_c, ncap * sizeof *n);
        if (!n)
            return -1;
        r->slid_c = n;
        r->capslid = ncap;
    }
    r->slid_c[r->nslid++] = (struct qv__rec_slid){ c, 0, (uint8_t)kind };
    return 0;
}

void qv__rec_reclaim(qv__recorder *r, bool have_read_mu)
{
    if ((!r->nslid && !r->nretired) ||
        (!have_read_mu && pthread_rwlock_trywrlock(&r->read_mu)))
        return;
    /* Graphs that resets detached without waiting (from a task, or from a
     * thread holding a buffer tasks wait for), once their tasks are done:
     * else a program that resets from its tasks would grow without bound.
     * Each node is looked at until done, once. */
    size_t k = 0;
    for (size_t i = 0; i < r->nretired; i++) {
        struct qv__rec_old *o = &r->retired[i];
        o->checked = qv__rec_done_upto(o->nodes.c, o->checked, o->nodes.n);
        if (o->checked < o->nodes.n) {
            r->retired[k++] = *o;
            continue;
        }
        qv__chunks_free(&o->nodes);
        qv__chunks_free(&o->edges);
    }
    r->nretired = k;
    k = 0;
    for (size_t i = 0; i < r->nslid; i++) {
        struct qv__rec_slid s = r->slid_c[i];
        if (s.kind == QV__REC_NODES) {
            s.checked = (uint32_t)qv__rec_done_upto(&s.c, s.checked, QV__REC_CHUNK);
            if (s.checked < QV__REC_CHUNK) { /* a task still runs */
                r->slid_c[k++] = s;
                continue;
            }
        }
        recycle(r, s.c, s.kind);
    }
    r->nslid = k;
    if (!have_read_mu)
        pthread_rwlock_unlock(&r->read_mu);
}

/* The window is full: the oldest chunk of nodes slides out, the base
 * moves past it, and with it go the chunks of edges and of the reader log
 * whose last item ends before the new base (items are in submission order,
 * so they are a prefix). Readers see the new base at their next snapshot;
 * edges from before it are skipped by them and by qv__rec_edge, and reader
 * lists that reach below rlog_base end there. */
static void slide(qv__recorder *r)
{
    if (keep_slid(r, r->nodes.c[0], QV__REC_NODES))
        return;
    drop_first(&r->nodes, QV__REC_CHUNK);
    r->base += QV__REC_CHUNK;
    atomic_fetch_add_explicit(&r->moves, 1, memory_order_relaxed);
    const uint64_t per_e = QV__REC_ITEMS(sizeof(qv__edge));
    while (r->edges.len > 1 && ((const qv__edge *)r->edges.c[0])[per_e - 1].dst < r->base &&
           !keep_slid(r, r->edges.c[0], QV__REC_EDGES))
        drop_first(&r->edges, per_e);
    const uint64_t per_l = QV__REC_ITEMS(sizeof(qv__rlink));
    while (r->rlog.len > 1 && ((const qv__rlink *)r->rlog.c[0])[per_l - 1].id < r->base) {
        recycle(r, drop_first(&r->rlog, per_l), QV__REC_RLOG); /* only submitters read it */
        r->rlog_base += per_l;
    }
    qv__rec_reclaim(r, false);
}

qv__node *qv__rec_node(qv__recorder *r, uint64_t id, uint32_t func,
                       uint64_t bytes_in, uint64_t bytes_out, uint64_t memory)
{
    if (id != r->base + r->nodes.n)
        return NULL;
    if (r->window && r->nodes.n >= r->window + QV__REC_CHUNK)
        slide(r);
    qv__node *n = chunk_slot(r, &r->nodes, sizeof *n, QV__REC_NODES);
    if (!n)
        return NULL;
    *n = (qv__node){ .bytes_in = bytes_in, .bytes_out = bytes_out,
                     .memory = memory, .func = func };
    r->nodes.n++;
    if (r->nodes.n % QV__REC_CHUNK < QV__REC_CHUNK - 4)
        __builtin_prefetch(n + 4, 1, 0);
    return n;
}

int qv__rec_edge(qv__recorder *r, uint64_t src, uint64_t dst, uint64_t bytes)
{
    /* An edge from before the last reset has no node to leave from; one
     * from or to a task the graph has no node for (out of memory) has no
     * place in it. */
    uint64_t end = r->base + r->nodes.n;
    if (src < r->base || src >= end || dst >= end)
        return 0;
    qv__edge *e = chunk_slot(r, &r->edges, sizeof *e, QV__REC_EDGES);
    if (!e)
        return -1;
    *e = (qv__edge){ src, dst, bytes };
    r->edges.n++;
    /* The arrays grow into fresh memory: ask for the line a few entries
     * ahead now, so later submissions do not stall on it (about 10% of
     * the recorded Cholesky's cost per task in bench/overhead). */
    if (r->edges.n % QV__REC_ITEMS(sizeof *e) < QV__REC_ITEMS(sizeof *e) - 8)
        __builtin_prefetch(e + 8, 1, 0);
    return 0;
}

/* Why a log and not an array per buffer: the ids must be kept until the
 * buffer's next writer (each becomes a write-after-read edge), which may
 * never come; in the recorder they cost 16 bytes each in chunks that reset
 * frees at once, and a buffer keeps only the position of its newest entry,
 * which a reset makes stale (below rlog_base) without visiting buffers. */
int qv__rec_read(qv__recorder *r, uint64_t *head, uint64_t id)
{
    qv__rlink *l = chunk_slot(r, &r->rlog, sizeof *l, QV__REC_RLOG);
    if (!l)
        return -1;
    *l = (qv__rlink){ id, qv__rec_has_readers(r, *head) ? *head : 0 };
    *head = r->rlog_base + ++r->rlog.n;
    return 0;
}

int qv__rec_war(qv__recorder *r, uint64_t *head, uint64_t dst)
{
    for (uint64_t p = *head; qv__rec_has_readers(r, p);) {
        const qv__rlink *l = qv__chunks_at(r->rlog.c, p - 1 - r->rlog_base, sizeof *l);
        if (qv__rec_edge(r, l->id, dst, 0) != 0)
            return -1;
        p = l->prev;
    }
    *head = 0;
    return 0;
}
