/*
 * recorder.c - appending to the execution graph and forgetting it (see
 * recorder.h for who may touch what, and when).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "trace/recorder.h"

qv__recorder *qv__rec_create(void)
{
    qv__recorder *r = calloc(1, sizeof(qv__recorder));
    if (!r)
        return NULL;
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

void **qv__chunks_snapshot(const qv__chunks *a, uint64_t n)
{
    size_t len = (size_t)((n + QV__REC_CHUNK - 1) / QV__REC_CHUNK);
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
    pthread_rwlock_destroy(&r->read_mu);
    free(r);
}

int qv__rec_forget(qv__recorder *r, uint64_t base)
{
    struct qv__rec_old *ret = realloc(r->retired, (r->nretired + 1) * sizeof *ret);
    if (!ret)
        return -1;
    r->retired = ret;
    r->retired[r->nretired++] = (struct qv__rec_old){ r->nodes, r->edges };
    r->nodes = r->edges = (qv__chunks){ 0 };
    r->base = base;
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

/* Makes room for one more item of `size` bytes; its address, or NULL. */
static void *chunk_slot(qv__chunks *a, size_t size)
{
    if (a->n % QV__REC_CHUNK == 0) {
        if (a->len == a->cap) {
            size_t ncap = a->cap ? a->cap * 2 : 16;
            void **nc = realloc(a->c, ncap * sizeof *nc);
            if (!nc)
                return NULL;
            a->c = nc;
            a->cap = ncap;
        }
        void *c = qv__bigalloc(size * QV__REC_CHUNK);
        if (!c)
            return NULL;
        a->c[a->len++] = c;
    }
    return qv__chunks_at(a->c, a->n, size);
}

qv__node *qv__rec_node(qv__recorder *r, uint64_t id, uint32_t func,
                       uint64_t bytes_in, uint64_t bytes_out, uint64_t memory)
{
    if (id != r->base + r->nodes.n)
        return NULL;
    qv__node *n = chunk_slot(&r->nodes, sizeof *n);
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
    /* An edge from before the last reset has no node to leave from. */
    if (src < r->base)
        return 0;
    qv__edge *e = chunk_slot(&r->edges, sizeof *e);
    if (!e)
        return -1;
    *e = (qv__edge){ src, dst, bytes };
    r->edges.n++;
    /* The arrays grow into fresh memory: ask for the line a few entries
     * ahead now, so later submissions do not stall on it (about 10% of
     * the recorded Cholesky's cost per task in bench/overhead). */
    if (r->edges.n % QV__REC_CHUNK < QV__REC_CHUNK - 8)
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
    qv__rlink *l = chunk_slot(&r->rlog, sizeof *l);
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
