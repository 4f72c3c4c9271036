/*
 * task.c - submission, implicit dependencies and completion.
 *
 * Dependencies follow the sequential-consistency rule of StarPU's implicit
 * data dependencies: a task that reads a buffer waits for its last writer; a
 * task that writes it waits for the last writer and every reader since.
 * All of this state is touched under rt->submit_mu only; the one thing a
 * worker shares with a submitter is a predecessor's successor list, guarded
 * by the predecessor's spin lock together with its done flag.
 *
 * Tasks are reference counted (one reference for execution, one per buffer
 * state naming them) and recycled through a free list: workers push freed
 * tasks onto a lock-free stack; the submitter takes the whole stack at once,
 * which is free of the ABA problem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "devices/device.h"
#include "trace/perfmodel.h"
#include "trace/recorder.h"

/* The task the calling worker runs: its runtime and epoch + 1 (0 outside
 * tasks). A submission from it to that runtime belongs to its epoch; one
 * to another runtime is that runtime's as any thread's (it took rt1's
 * epoch into rt2, where no wait looked for it). */
static _Thread_local struct {
    const qv_runtime *rt;
    uint64_t epoch;
} tls_task;

/* The epoch + 1 of the task of rt the calling thread runs, or 0. */
static inline uint64_t parent_epoch(const qv_runtime *rt)
{
    return tls_task.rt == rt ? tls_task.epoch : 0;
}

const qv_runtime *qv__task_runtime(uint64_t *epoch)
{
    *epoch = tls_task.epoch ? tls_task.epoch - 1 : 0;
    return tls_task.rt;
}

/* About 2 MiB of tasks per chunk: one huge page (see qv__bigalloc). */
#define TASKS_PER_CHUNK ((2u << 20) / sizeof(qv__task))

/* Takes a task from the free lists, allocating a chunk when both are empty.
 * Under submit_mu. */
static qv__task *task_alloc(qv_runtime *rt)
{
    qv__task *t = rt->free_local;
    if (!t) {
        t = atomic_exchange_explicit(&rt->free_shared, NULL, memory_order_acquire);
        if (!t) {
            if (rt->nchunks == rt->chunks_cap) {
                size_t cap = rt->chunks_cap ? rt->chunks_cap * 2 : 16;
                void **nc = realloc(rt->chunks, cap * sizeof *nc);
                if (!nc)
                    return NULL;
                rt->chunks = nc;
                rt->chunks_cap = cap;
            }
            qv__task *chunk = qv__bigalloc(sizeof(qv__task) * TASKS_PER_CHUNK);
            if (!chunk)
                return NULL;
            rt->chunks[rt->nchunks++] = chunk;
            for (size_t i = 0; i < TASKS_PER_CHUNK; i++)
                chunk[i].next = i + 1 < TASKS_PER_CHUNK ? &chunk[i + 1] : NULL;
            t = chunk;
        }
    }
    rt->free_local = t->next;
    /* The next task's lines, which a worker may have written last: asked
     * for now, they come while this submission goes on. qv__task_new
     * took 7 % of a replayed Cholesky's samples, stalled on them; with
     * this, bench_loop --overhead --replayed-only, builds taking turns 8
     * times: Cholesky 0.805 us a task against 0.879 (means), the random
     * DAG 0.736 against 0.797 (bench/RESULTS.md). */
    if (t->next)
        for (size_t k = 0; k < sizeof *t; k += 64)
            __builtin_prefetch((char *)t->next + k, 1, 3);
    return t;
}

qv__task *qv__task_new(qv_runtime *rt)
{
    qv__task *t = task_alloc(rt);
    if (!t)
        return NULL;
    atomic_init(&t->refs, 1);
    atomic_init(&t->pending, QV__HOLD);
    t->npred = 0;
    atomic_flag_clear(&t->lock.f);
    atomic_init(&t->done, false);
    t->nsucc = 0;
    t->succ_cap = 4;
    t->succ = t->succ_inline;
    t->node = NULL;
    t->scalar_heap = NULL;
    t->skip = 0;
    t->why = NULL;
    t->dev = 0;
    t->model_us = -1;
    t->planned = 0;
    t->impl_gen = 0;
    t->worker = 0;
    t->refresh = false;
    return t;
}

/* A released task's func while qv__fault_pause is armed (tests): following
 * it faults, so that a read of a task after its release cannot pass. */
#define QV__TASK_FREED ((qv_func *)(uintptr_t)0x51)

/* A worker's freed tasks, given back to the pool a batch at a time (one
 * compare-and-swap a batch, on the line the submitter takes them from). */
#define FREE_BATCH 32
static _Thread_local struct free_cache {
    qv_runtime *rt; /* the runtime whose worker this thread is, or NULL */
    qv__task *head, *tail;
    unsigned n;
} tls_free;

static void push_shared(qv_runtime *rt, qv__task *head, qv__task *tail)
{
    qv__task *old = atomic_load_explicit(&rt->free_shared, memory_order_relaxed);
    do {
        tail->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&rt->free_shared, &old, head,
                                                    memory_order_release,
                                                    memory_order_relaxed));
}

void qv__task_cache_begin(qv_runtime *rt)
{
    tls_free = (struct free_cache){ rt, NULL, NULL, 0 };
}

void qv__task_cache_flush(void)
{
    struct free_cache *c = &tls_free;
    if (c->n)
        push_shared(c->rt, c->head, c->tail);
    c->head = c->tail = NULL;
    c->n = 0;
}

/* t's last reference is gone: what it owns is freed. */
static bool drop(qv__task *t)
{
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return false;
    if (qv__fault_pausing())
        t->func = QV__TASK_FREED;
    if (t->succ != t->succ_inline)
        free(t->succ);
    free(t->scalar_heap);
    free(t->why);
    return true;
}

void qv__task_release(qv_runtime *rt, qv__task *t)
{
    if (!drop(t))
        return;
    struct free_cache *c = &tls_free;
    if (c->rt != rt) {
        push_shared(rt, t, t);
        return;
    }
    t->next = c->head;
    c->head = t;
    if (!c->n++)
        c->tail = t;
    if (c->n == FREE_BATCH)
        qv__task_cache_flush();
}

void qv__task_release_locked(qv_runtime *rt, qv__task *t)
{
    if (!drop(t))
        return;
    t->next = rt->free_local;
    rt->free_local = t;
}

/* p's successor list room for k more; QV_ENOMEM when it cannot have it.
 * Under p's lock, p not done. */
static int succ_grow(qv__task *p, unsigned k)
{
    unsigned cap = p->succ_cap * 2;
    while (cap < p->nsucc + k)
        cap *= 2;
    qv__task **ns = NULL;
    if (!qv__fault_hit("task", QV_FAULT_ALLOC)) {
        if (p->succ == p->succ_inline) {
            if ((ns = malloc(cap * sizeof *ns)) != NULL)
                memcpy(ns, p->succ, p->nsucc * sizeof *ns);
        } else {
            ns = realloc(p->succ, cap * sizeof *ns);
        }
    }
    if (!ns)
        return QV_ENOMEM;
    p->succ = ns;
    p->succ_cap = cap;
    return 0;
}

/* How many times qv__task_access will add t to p's successors: once per
 * buffer of t that p last wrote (when t follows the writer) or, for a
 * buffer t writes, read since. */
static unsigned appends(const qv__task *t, const qv__task *p)
{
    unsigned k = 0;
    for (unsigned j = 0; j < t->nbufs; j++) {
        const qv_buf *b = t->ubuf[j];
        unsigned m = t->modes[j];
        k += b->last_writer == p && ((m & QV_R) || b->nreaders == 0);
        for (size_t i = 0; (m & QV_W) && i < b->nreaders; i++)
            k += b->readers[i] == p;
    }
    return k;
}

/* Room in p's successor list for t's appends, unless p is done; taken
 * before t's submission commits (qv__task_reserve). Only submitters, under
 * submit_mu, change nsucc and succ_cap, so they are read without p's lock
 * (which the list shares with the worker that finishes p), and the room
 * is still there when add_succ appends. Nothing of p is written unless it
 * grows: a store on p's line while p ran took the line from its worker
 * (a replayed Cholesky 25 % slower with a count of reservations there). */
static int succ_reserve(const qv__task *t, qv__task *p)
{
    /* The line for writing at once: add_succ locks p next, and a line
     * read first (shared) is asked for a second time to be written. */
    __builtin_prefetch(&p->lock, 1, 3);
    if (atomic_load_explicit(&p->done, memory_order_acquire))
        return 0;
    unsigned room = p->succ_cap - p->nsucc;
    unsigned k;
    if (room >= t->nbufs || room >= (k = appends(t, p)))
        return 0;
    int rc = 0;
    qv__spin_lock(&p->lock);
    if (!atomic_load_explicit(&p->done, memory_order_relaxed))
        rc = succ_grow(p, k);
    qv__spin_unlock(&p->lock);
    return rc;
}

/* Makes t wait for p unless p is already done. Cannot fail when room was
 * reserved (succ_reserve); a deferred call that found none grows the list
 * here. */
static int add_succ(qv__task *p, qv__task *t)
{
    /* Done already (its release store of done made its effects visible):
     * nothing to wait for, and its lock's line is left where it is. */
    if (atomic_load_explicit(&p->done, memory_order_acquire))
        return 0;
    int rc = 0;
    qv__spin_lock(&p->lock);
    if (!atomic_load_explicit(&p->done, memory_order_relaxed) &&
        (p->nsucc < p->succ_cap || (rc = succ_grow(p, 1)) == 0)) {
        p->succ[p->nsucc++] = t;
        t->npred++; /* t is held (QV__HOLD): p cannot start it */
    }
    qv__spin_unlock(&p->lock);
    return rc;
}

/* Drops readers that are done (the recorder keeps their ids for the graph:
 * keeping them here, unbounded, also kept their tasks in the pool until
 * the array next filled up); grows the array when that frees too little. */
static int readers_reserve(qv_runtime *rt, qv_buf *b)
{
    if (b->nreaders < b->readers_cap)
        return 0;
    size_t kept = 0;
    for (size_t i = 0; i < b->nreaders; i++) {
        qv__task *r = b->readers[i];
        if (atomic_load_explicit(&r->done, memory_order_acquire))
            qv__task_release_locked(rt, r);
        else
            b->readers[kept++] = r;
    }
    b->nreaders = kept;
    if (kept < b->readers_cap * 3 / 4)
        return 0;
    size_t cap = b->readers_cap ? b->readers_cap * 2 : 8;
    qv__task **nr = qv__fault_hit("task", QV_FAULT_ALLOC) ? NULL
                                                           : realloc(b->readers, cap * sizeof *nr);
    if (!nr)
        return QV_ENOMEM;
    b->readers = nr;
    b->readers_cap = cap;
    return 0;
}

/* The recorded graph lost what it could not store (out of memory): the
 * tasks still wait for each other, as the buffers say; said once. */
static void rec_lost(void)
{
    static atomic_bool told;
    if (!atomic_exchange(&told, true))
        qv__log(1, "out of memory while recording the execution graph: it lacks "
                   "some of the tasks' dependencies (the tasks still wait for them)");
}

/* The dependency edge pred -> t through buffer b. */
static int depend(qv_runtime *rt, qv__task *t, qv__task *pred, uint64_t pred_id,
                  size_t bytes)
{
    /* Host acquisitions order tasks but are not nodes of the graph. */
    if (rt->rec && pred_id != QV__NO_NODE && t->id != QV__NO_NODE &&
        qv__rec_edge(rt->rec, pred_id, t->id, bytes) != 0)
        rec_lost();
    return pred ? add_succ(pred, t) : 0;
}

/* One more reference to t, which its submitter holds: no other thread
 * changes its count until submit_mu is released (the buffer states that
 * drop references are under it, and t cannot run), so no locked
 * instruction. */
static inline void ref_held(qv__task *t)
{
    atomic_store_explicit(&t->refs, atomic_load_explicit(&t->refs, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

int qv__task_reserve(qv_runtime *rt, qv__task *t)
{
    int rc = 0;
    for (unsigned j = 0; !rc && j < t->nbufs; j++) {
        qv_buf *b = t->ubuf[j];
        unsigned m = t->modes[j];
        /* As qv__task_access: t follows the last writer and, writing,
         * every reader since; reading only, it joins the readers. */
        if (b->last_writer && ((m & QV_R) || b->nreaders == 0))
            rc = succ_reserve(t, b->last_writer);
        if (m & QV_W)
            for (size_t i = 0; !rc && i < b->nreaders; i++)
                rc = succ_reserve(t, b->readers[i]);
        else if (!rc)
            rc = readers_reserve(rt, b);
    }
    return rc ? QV_ENOMEM : 0;
}

/* Applies the access of t to b with mode m (the union over t's
 * arguments). It cannot fail in the room qv__task_reserve made, so that a
 * submitted task waits for every task it must (one that was refused memory
 * midway lost dependencies and ran too soon); without, QV_ENOMEM. */
int qv__task_access(qv_runtime *rt, qv__task *t, qv_buf *b, unsigned m)
{
    int rc;
    /* Read after write carries the buffer. A pure write after write only
     * orders, and when readers came in between it is implied by them. */
    if ((b->last_writer_id || b->last_writer) && ((m & QV_R) || b->nreaders == 0)) {
        rc = depend(rt, t, b->last_writer, b->last_writer_id - 1,
                    (m & QV_R) ? b->size : 0);
        if (rc)
            return rc;
    }
    if (m & QV_W) {
        /* Write after read: edges in the graph from every reader since the
         * last writer (a host acquisition ends the list without any), waits
         * on those that may still run. */
        if (rt->rec) {
            if (t->id != QV__NO_NODE && qv__rec_war(rt->rec, &b->rec_readers, t->id) != 0)
                rec_lost();
            b->rec_readers = 0;
        }
        for (size_t i = 0; i < b->nreaders; i++)
            if ((rc = add_succ(b->readers[i], t)) != 0)
                return rc;
        for (size_t i = 0; i < b->nreaders; i++)
            qv__task_release_locked(rt, b->readers[i]);
        b->nreaders = 0;
        if (b->last_writer)
            qv__task_release_locked(rt, b->last_writer);
        ref_held(t);
        b->last_writer = t;
        b->last_writer_id = t->id == QV__NO_NODE ? 0 : t->id + 1;
    } else {
        if ((rc = readers_reserve(rt, b)) != 0)
            return rc;
        ref_held(t);
        b->readers[b->nreaders++] = t;
        if (rt->rec && t->id != QV__NO_NODE &&
            qv__rec_read(rt->rec, &b->rec_readers, t->id) != 0)
            rec_lost();
    }
    return 0;
}

int qv__arg_check(qv_runtime *rt, const qv_func *f, const qv_arg *args, unsigned i)
{
    const qv_arg_desc *d = &f->args[i];
    if (d->is_buf) {
        const qv_buf *b = args[i].buf;
        /* A scalar where the signature has a buffer is a mismatch; no
         * buffer at all is most often a qv_buf_register that failed, and
         * is said so (it read "must be a buffer": a user's report). */
        if (!b && (args[i].val || args[i].size))
            return qv__fail(QV_EMISMATCH,
                            "function '%s': argument %u must be a buffer; "
                            "a scalar was given",
                            f->name, i);
        if (!b)
            return qv__fail(QV_EINVAL,
                            "function '%s': argument %u is a NULL buffer (did "
                            "its qv_buf_register fail?)",
                            f->name, i);
        if (args[i].val || args[i].size)
            return qv__fail(QV_EINVAL,
                            "function '%s': argument %u gives a buffer and a "
                            "value; QV_BUF(b) gives the buffer alone",
                            f->name, i);
        if (b->rt != rt || b->magic != QV__BUF_MAGIC)
            return qv__fail(QV_EINVAL, "function '%s': argument %u is %s", f->name, i,
                            b->magic != QV__BUF_MAGIC ? "an unregistered buffer"
                                                      : "a buffer of another runtime");
    } else if (args[i].buf || args[i].size != d->size) {
        return qv__fail(QV_EMISMATCH, "function '%s': argument %u must be a "
                        "scalar of %zu bytes", f->name, i, d->size);
    } else if (!args[i].val) { /* said as it is, not as a size (review) */
        return qv__fail(QV_EINVAL,
                        "function '%s': argument %u, a scalar of %zu bytes, has "
                        "no value (its pointer is NULL)",
                        f->name, i, d->size);
    }
    return 0;
}

/* Checks args against f's signature; on success fills the task's argument
 * arrays and distinct-buffer list. */
static int bind_args(qv_runtime *rt, qv_func *f, const qv_arg *args, size_t nargs,
                     qv__task *t)
{
    t->scalar_heap = NULL;
    if (nargs != f->nargs)
        return qv__fail(QV_EMISMATCH, "function '%s' takes %u arguments; %zu given",
                        f->name, f->nargs, nargs);
    unsigned char *sc = t->scalars;
    if (f->scalar_bytes > QV__TASK_SCALAR_INLINE) {
        sc = t->scalar_heap = aligned_alloc(16, f->scalar_bytes);
        if (!sc)
            return qv__fail(QV_ENOMEM, "qv_submit: out of memory");
    }
    t->nbufs = 0;
    t->bytes = 0;
    for (unsigned i = 0; i < f->nargs; i++) {
        const qv_arg_desc *d = &f->args[i];
        int rc = qv__arg_check(rt, f, args, i);
        if (rc)
            return rc;
        if (d->is_buf) {
            qv_buf *b = args[i].buf;
            t->ptr[i] = b->ptr;
            t->size[i] = b->size;
            unsigned j = 0;
            while (j < t->nbufs && t->ubuf[j] != b)
                j++;
            if (j == t->nbufs) {
                t->ubuf[t->nbufs++] = b;
                t->modes[j] = 0;
                t->bytes += b->size;
            }
            t->modes[j] |= d->mode;
        } else {
            memcpy(sc, args[i].val, d->size);
            t->ptr[i] = sc;
            t->size[i] = d->size;
            sc += (d->size + 15) & ~(size_t)15;
        }
    }
    t->nargs = f->nargs;
    return 0;
}

/* Keeps t off the FPGAs when the call does not fit f's kernel there.
 * QV_EMISMATCH when no other device can run it. */
static int fpga_check(qv_runtime *rt, qv_func *f, qv__task *t)
{
    char why[256];
    if (!f->kernel || !qv__func_can(f, QV_CLASS_FPGA) || qv__fpga_fits(f, t, why, sizeof why))
        return 0;
    unsigned where = f->where ? f->where : ~0u;
    unsigned others = f->impls & where & ~(1u << QV_CLASS_FPGA | 1u << QV_CLASS_REMOTE) &
                      (rt->accel_classes | (1u << QV_CLASS_CPU));
    if (!others && !qv__func_cpu(f))
        return qv__fail(QV_EMISMATCH, "'%s' cannot run on an FPGA: %s; and no other "
                        "device can run it", f->name, why);
    for (unsigned d = 1; d <= rt->naccel; d++)
        if (qv__devq_class(rt, d) == QV_CLASS_FPGA || qv__devq_class(rt, d) == QV_CLASS_REMOTE)
            t->skip |= 1u << d;
    qv__log(3, "a call of '%s' stays off the FPGAs: %s", f->name, why);
    return 0;
}

qv__task *qv__submit_locked(qv_runtime *rt, qv_func *f, const qv_arg *args, size_t nargs,
                            unsigned planned, uint16_t worker, qv__task **forced,
                            unsigned *settledp, int *rcp)
{
    qv__task *t = qv__task_new(rt);
    if (!t) {
        *rcp = qv__fail(QV_ENOMEM, "qv_submit: out of memory");
        return NULL;
    }
    int rc = bind_args(rt, f, args, nargs, t);
    if (!rc)
        rc = fpga_check(rt, f, t);
    /* Deferred calls this one conflicts with go first, in their order
     * (forced NULL: it is a deferred call itself, whose conflicts with
     * older ones were submitted before it, and newer ones come after). */
    for (unsigned j = 0; !rc && forced && j < t->nbufs; j++)
        if (qv__defer_hit(t->ubuf[j], t->modes[j])) {
            rc = qv__defer_force(rt, t->ubuf, t->modes, t->nbufs, forced);
            break;
        }
    /* The memory its dependencies take, before anything knows of t: past
     * this point the submission cannot fail. A deferred call (forced NULL)
     * was accepted already and is not dropped: it goes on, and its
     * dependencies take memory as they are made, as far as there is. */
    if (!rc && qv__task_reserve(rt, t) && forced)
        rc = qv__fail(QV_ENOMEM, "qv_submit: out of memory for the dependencies of a "
                      "call of '%s'; it was not submitted", f->name);
    if (rc) {
        free(t->scalar_heap);
        t->next = rt->free_local;
        rt->free_local = t;
        *rcp = rc;
        return NULL;
    }
    t->func = f;
    t->planned = planned;
    t->worker = worker;
    t->id = rt->next_id++;
    /* A task submitted by a task belongs to its parent's epoch: a wait for
     * the parent waits for what the parent started. */
    uint64_t pe = parent_epoch(rt);
    t->epoch = pe ? pe - 1 : atomic_load_explicit(&rt->epoch, memory_order_relaxed);
    if (rt->rec) {
        size_t rd = 0, wr = 0;
        for (unsigned j = 0; j < t->nbufs; j++) {
            if (t->modes[j] & QV_R)
                rd += t->ubuf[j]->size;
            if (t->modes[j] & QV_W)
                wr += t->ubuf[j]->size;
        }
        t->node = qv__rec_node(rt->rec, t->id, f->id, rd, wr, t->bytes);
    }
    /* Only submitters write sub, under submit_mu: no read-modify-write. */
    unsigned es = (unsigned)(t->epoch % QV__EPOCHS);
    atomic_store_explicit(&rt->sub[es],
                          atomic_load_explicit(&rt->sub[es], memory_order_relaxed) + 1,
                          memory_order_relaxed);
    rt->nsubmitted++;
    unsigned settled = 0; /* inputs no writer before t is still to write */
    for (unsigned j = 0; j < t->nbufs; j++) {
        qv_buf *b = t->ubuf[j];
        /* Only asked for when a prefetch may follow: the last writer's
         * done flag is on a line its worker last wrote. */
        if (settledp && (t->modes[j] & QV_R) && !b->host &&
            (!b->last_writer || atomic_load_explicit(&b->last_writer->done,
                                                      memory_order_acquire)))
            settled |= 1u << j;
        atomic_store_explicit(&b->nuse, atomic_load_explicit(&b->nuse, memory_order_relaxed) + 1,
                              memory_order_relaxed); /* only submitters, under submit_mu */
        qv__snap_busy(b);
        if (!rc)
            rc = qv__task_access(rt, t, t->ubuf[j], t->modes[j]);
    }
    /* A task that waits for a held buffer's release (it writes the buffer,
     * or the host holds it to write), which a submitter held back by a
     * wait with the ring full, or by backpressure, may be the one to make.
     * A read of a buffer held to read waits for nothing. */
    if (atomic_load_explicit(&rt->nheld, memory_order_relaxed)) {
        bool awaits = false;
        for (unsigned j = 0; j < t->nbufs; j++) {
            qv_buf *b = t->ubuf[j];
            if (b->host && ((t->modes[j] | b->held) & QV_W)) {
                awaits = true;
                if (!b->awaited) {
                    b->awaited = true;
                    rt->nawaited++;
                }
            }
        }
        if (awaits && (atomic_load_explicit(&rt->ring_waits, memory_order_relaxed) ||
                       atomic_load_explicit(&rt->nbp, memory_order_relaxed))) {
            atomic_fetch_add_explicit(&rt->held_used, 1, memory_order_seq_cst);
            qv__wake_waiters(rt);
        }
    }
    /* Only a deferred call can lack memory here: it still runs, in order
     * as far as memory allowed; the caller learns of the shortage. */
    *rcp = rc ? qv__fail(rc, "out of memory while tracking the dependencies of a "
                         "deferred call of '%s'", f->name) : 0;
    if (settledp)
        *settledp = settled;
    return t;
}

void qv__defer_start(qv_runtime *rt, qv__task *list)
{
    while (list) {
        qv__task *t = list;
        list = t->next;
        t->next = NULL;
        if (qv__task_unhold(t))
            qv__sched_push(rt, t);
    }
    if (atomic_load_explicit(&rt->snap_idle, memory_order_relaxed))
        qv__defer_sweep(rt, false);
}

/* Appends the names of the classes in mask to buf ("cpu, gpu"). */
static void class_list(char *buf, size_t len, unsigned mask)
{
    size_t at = 0;
    buf[0] = 0;
    for (int c = 0; c < QV_CLASS_COUNT; c++)
        if (mask & 1u << c && at < len)
            at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "",
                                   qv_class_name((qv_class)c));
}

/* qv_submit's QV_ENODEV for f. When its qv_func_set_where mask is the
 * cause, the message says so and names the classes that could run it:
 * "no device of this runtime can run 'mag'" read as if none could, PoCL
 * there to run it. have: the classes of this runtime's devices with an
 * implementation of f. */
static int no_device(const qv_func *f, unsigned have, unsigned where)
{
    if (!have)
        return qv__fail(QV_ENODEV, "no device of this runtime can run '%s'", f->name);
    char allowed[64], can[64];
    class_list(allowed, sizeof allowed, where);
    class_list(can, sizeof can, have);
    return qv__fail(
        QV_ENODEV,
        "'%s' may run only on %s (qv_func_set_where), where this runtime has "
        "no device with an implementation of it (its devices that have one: %s)",
        f->name, allowed, can);
}

QV_API int qv_submit(qv_runtime *rt, qv_func *f, const qv_arg *args, size_t nargs)
{
    if (!qv__rt_ok(rt) || !f || (nargs && !args))
        return qv__fail(QV_EINVAL, "qv_submit: %s", qv__args_why(rt));
    if (f->rt != rt)
        return qv__fail(QV_ENOENT, "qv_submit: function '%s' is not registered with "
                        "this runtime", f->name);
    /* where and impls read once each: qv_func_set_where may change them
     * meanwhile, and two reads could see two masks (a spurious
     * QV_ENODEV, though each mask left a device). */
    unsigned where = atomic_load_explicit(&f->where, memory_order_relaxed);
    unsigned allow = where ? where : ~0u;
    unsigned impls = atomic_load_explicit(&f->impls, memory_order_relaxed);
    unsigned have = impls & (rt->accel_classes | 1u << QV_CLASS_CPU);
    if (!(have & allow))
        return no_device(f, have, where);
    /* Held back while waits wait for a slot of the epoch ring (sched.c),
     * the launch a replay makes in place of held calls too; never inside a
     * task, of any runtime: held back, it would hold its worker, whose
     * later work a wait may need. */
    bool hold = atomic_load_explicit(&rt->ring_waits, memory_order_relaxed) && !tls_task.rt;
    if (hold) {
        pthread_mutex_lock(&rt->submit_mu);
        qv__ring_hold(rt);
        pthread_mutex_unlock(&rt->submit_mu);
    }
    /* A replay may hold the call back as part of a fused chain. */
    int rc;
    bool nested = parent_epoch(rt) != 0;
    if (!nested && qv__region_fuse(rt, f, args, nargs, &rc))
        return rc;
    pthread_mutex_lock(&rt->submit_mu);
    if (rt->nsubmitted - rt->fin_seen >= rt->max_inflight) /* a subtraction a call */
        qv__backpressure(rt);
    if (hold) /* again: another wait may have come meanwhile */
        qv__ring_hold(rt);
    /* A running task's submissions are part of the work the shutdown waits
     * for (its parent is in flight until they are submitted): refused, the
     * program's work was cut short and shutdown still returned 0 (a user's
     * test). */
    if (rt->shut && !nested) {
        pthread_mutex_unlock(&rt->submit_mu);
        return qv__fail(QV_ESHUTDOWN, "qv_submit after qv_runtime_shutdown");
    }
    qv__task *forced = NULL;
    unsigned settled = 0; /* inputs no writer before t is still to write */
    bool pf = !nested && qv__region_prefetches(rt);
    qv__task *t = qv__submit_locked(rt, f, args, nargs, 0, 0, &forced, pf ? &settled : NULL,
                                    &rc);
    pthread_mutex_unlock(&rt->submit_mu);
    qv__defer_start(rt, forced);
    if (!t)
        return rc;
    /* The region's signature and replay; t cannot run (nor be freed)
     * before pending drops below. */
    if (!nested)
        qv__region_note(rt, t, args);
    /* A replayed task planned on an accelerator that must wait for its
     * predecessors: its other inputs go there meanwhile. */
    if (t->planned > 1 && settled && qv__task_held_waits(t))
        qv__devq_prefetch(rt, t->planned - 1, t, settled);
    if (qv__task_unhold(t)) {
        if (!nested)
            qv__devq_keep_begin(rt);
        qv__sched_push(rt, t);
        if (!nested)
            qv__devq_keep_end(rt);
    }
    return rc;
}

/* Task t runs on the host now: the buffers it writes without reading
 * have their host copies as the only valid ones (qv__coh_host_writes). */
static void host_writes(void *arg)
{
    qv__task *t = arg;
    for (unsigned j = 0; j < t->nbufs; j++)
        if (t->modes[j] == QV_W)
            qv__coh_host_writes(t->ubuf[j]);
}

qv__task *qv__task_execute(qv_runtime *rt, qv__worker *w, qv__task *t)
{
    qv_func *f = t->func;
    bool coherent = rt->naccel > 0;
    qv_cpu_fn fn = qv__func_cpu(f);
    if (!fn) {
        /* Placed here because every device that could run it failed. */
        qv__task *next = NULL;
        qv__task_fail(rt, t, QV_ENODEV, w->idx, &next);
        return next;
    }
    if (qv__fault_pausing()) /* tests: qv_func_set_cpu before the call */
        qv__fault_pause();
    qv__task *next = NULL;
    /* Read before the look: a drop under way now, or begun later, may mark
     * an input after it (qv__coh_drop_device); one ended before has its
     * marks seen by it. */
    uint64_t drops = coherent ? atomic_load(&rt->drops) : 0;
    if (qv__task_fail_stale(rt, t, w->idx, &next))
        return next;
    if (coherent) {
        for (unsigned j = 0; j < t->nbufs; j++) {
            int rc = qv__coh_acquire(rt, t->ubuf[j], 0, t->modes[j], NULL);
            if (rc) {
                /* Running on the stale host copy would lose the device's
                 * data without a word: the task fails instead. */
                char why[300];
                snprintf(why, sizeof why,
                         "its input, buffer %p, cannot be brought home: %s",
                         t->ubuf[j]->ptr, qv_last_error());
                free(t->why);
                t->why = strdup(why);
                qv__task_fail(rt, t, rc, w->idx, &next);
                return next;
            }
        }
        /* A device that failed since the look above may have lost an
         * input's only copy, leaving the host's older data valid and the
         * input marked (qv__coh_drop_device, under the coh_mu the
         * acquires took after it): looked at again, nothing written yet,
         * when a drop began since the first look or is under way (the
         * look itself cost 0.1 us a task on bench_devices' CPU row). */
        if (((drops & 0xffffffffu) || atomic_load(&rt->drops) != drops) &&
            qv__task_fail_stale(rt, t, w->idx, &next))
            return next;
    }
    qv_call call = { t->ptr, t->size, t->nargs, w->idx };
    qv_launch l = { f, fn, &call, NULL, 0 };
    tls_task.rt = rt;
    tls_task.epoch = t->epoch + 1;
    uint64_t t0 = qv__now_ns();
    int frc = 0;
    void (*ready)(void *) = coherent ? host_writes : NULL;
    if (f->fused) { /* a fused kernel on the CPU: its chain, one after another */
        frc = qv__fuse_run_cpu(f, &call, ready, t);
    } else if (f->part) { /* a part on the CPU: its calls, one after another */
        frc = qv__part_run_cpu(f, &call, ready, t);
    } else {
        if (ready)
            ready(t);
        rt->cpu->ops->launch(rt->cpu, &l, NULL);
    }
    uint64_t t1 = qv__now_ns();
    tls_task.rt = NULL;
    tls_task.epoch = 0;
    if (frc) {
        /* This failure is the one to report, not a device's before it. */
        free(t->why);
        t->why = strdup(qv_last_error());
        qv__task_fail(rt, t, frc, w->idx, &next);
        return next;
    }
    /* Single writer: a plain load and store, no locked instruction. */
    atomic_store_explicit(&w->tasks, atomic_load_explicit(&w->tasks, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&w->busy_ns,
                          atomic_load_explicit(&w->busy_ns, memory_order_relaxed) + (t1 - t0),
                          memory_order_relaxed);
    if (coherent)
        for (unsigned j = 0; j < t->nbufs; j++)
            if (t->modes[j] & QV_W)
                qv__coh_written(t->ubuf[j], 0);
    qv__task_complete(rt, t, 0, w->idx, t0, t1, &next);
    return next;
}

void qv__func_emu_wall(qv_func *f, qv_class c, double x, uint64_t now_ns, bool refresh)
{
    /* A median too old to be used starts over: the board's runs now. (Two
     * boards of one class racing may mix a run into the other's ring: a
     * median of them either way.) A refresh (one run, once a
     * perfmodel.refresh_ms, however old the ring) starts it over only when
     * much faster than its median, as a model's window (perfmodel.c): the
     * board sped up, and is priced at its model until it has QV__EMU_MIN
     * runs again. Else it joins the ring: started over by a run as slow as
     * the ring said, the ring held fewer than QV__EMU_MIN runs, and plans
     * priced the board at its model again (qv__func_emu_pace). */
    uint64_t t = atomic_load_explicit(&f->emu_ns[c], memory_order_relaxed);
    double was = atomic_load_explicit(&f->emu_x[c], memory_order_relaxed);
    if (!t || (refresh ? x * QV__EMU_FASTER < was : now_ns - t >= QV__EMU_AGE_NS))
        atomic_store_explicit(&f->emu_n[c], 0, memory_order_relaxed);
    unsigned i = atomic_fetch_add_explicit(&f->emu_n[c], 1, memory_order_relaxed);
    atomic_store_explicit(&f->emu_r[c][i % QV__EMU_RUNS], x, memory_order_relaxed);
    unsigned n = i + 1 < QV__EMU_RUNS ? i + 1 : QV__EMU_RUNS;
    double v[QV__EMU_RUNS];
    for (unsigned k = 0; k < n; k++)
        v[k] = atomic_load_explicit(&f->emu_r[c][k], memory_order_relaxed);
    atomic_store_explicit(&f->emu_x[c], qv__median(v, n), memory_order_relaxed);
    atomic_store_explicit(&f->emu_ns[c], now_ns, memory_order_relaxed);
}

void qv__task_complete(qv_runtime *rt, qv__task *t, unsigned dev, unsigned worker,
                       uint64_t t0, uint64_t t1, qv__task **next)
{
    qv_func *f = t->func;
    qv_class cls = dev ? qv__devq_class(rt, dev) : QV_CLASS_CPU;
    if (t->node)
        qv__rec_done(t->node, t0, t1, worker, cls, 0);
    /* An emulated board: what the board took; else the wall time. */
    double us = t->model_us >= 0 ? t->model_us : t1 > t0 ? (double)(t1 - t0) / 1000.0 : -1;
    if (us >= 0)
        qv__perf_add_at(f, cls, t->bytes, us, t1, t->refresh);
    if (t->model_us > 0 && t1 > t0 && qv__device(rt, dev)->on_host)
        qv__func_emu_wall(f, cls, (double)(t1 - t0) / 1000.0 / t->model_us, t1,
                          t->refresh);
    if (f->fused && cls == QV_CLASS_FPGA)
        qv__fuse_measured(t, us);
    if (qv__log_threshold() >= 4)
        qv__log(4, "task %llu of '%s' done on device %u (%s) in %.1f us",
                (unsigned long long)t->id, f->name, dev, qv_class_name(cls),
                (double)(t1 - t0) / 1000.0);
    if (qv__task_finish(rt, t, next))
        qv__wake_waiters(rt);
}

void qv__task_fail(qv_runtime *rt, qv__task *t, int err, unsigned worker, qv__task **next)
{
    qv_func *f = t->func;
    char msg[512];
    snprintf(msg, sizeof msg, "task %llu of '%s' did not run: %s",
             (unsigned long long)t->id, f->name,
             t->why ? t->why : qv__func_cpu(f) ? qv_last_error()
                                      : "no device that can run it is left (it has no "
                                        "CPU implementation)");
    atomic_fetch_add(&rt->lost, 1);
    qv__log(0, "%s", msg);
    unsigned s = (unsigned)(t->epoch % QV__EPOCHS);
    pthread_mutex_lock(&rt->fail_mu);
    if (!rt->nfail[s]++ || t->epoch < rt->fail_epoch[s]) {
        rt->fail_epoch[s] = t->epoch;
        rt->fail_err[s] = err;
        memcpy(rt->fail_msg[s], msg, sizeof msg);
    }
    pthread_mutex_unlock(&rt->fail_mu);
    /* What it should have written keeps its old data: the waits on those
     * buffers say so. */
    for (unsigned j = 0; j < t->nbufs; j++) {
        qv_buf *b = t->ubuf[j];
        if (!(t->modes[j] & QV_W))
            continue;
        pthread_mutex_lock(&b->coh_mu);
        qv__buf_set_error(b, err, msg);
        pthread_mutex_unlock(&b->coh_mu);
        atomic_store_explicit(&b->stale, err, memory_order_release);
    }
    if (t->node)
        qv__rec_done(t->node, 0, 0, worker, QV_CLASS_CPU, err ? err : QV_EIO);
    if (qv__task_finish(rt, t, next))
        qv__wake_waiters(rt);
}

/* The code of an input of t whose last writer ran nowhere (why says
 * which), else 0; the buffers t writes count as written from now on. */
int qv__task_stale_input(const qv__task *t, unsigned *j)
{
    for (unsigned i = 0; i < t->nbufs; i++) {
        int e = (t->modes[i] & QV_R) && !t->func->takes_stale
                    ? atomic_load_explicit(&t->ubuf[i]->stale, memory_order_acquire)
                    : 0;
        if (e) {
            *j = i;
            return e;
        }
    }
    return 0;
}

static int task_stale(qv__task *t, char *why, size_t whylen)
{
    unsigned at;
    int e = qv__task_stale_input(t, &at);
    if (e) {
        snprintf(why, whylen,
                 "its input %p holds no valid data: the task that should "
                 "have written it did not run, or its result was lost with a device "
                 "that failed",
                 t->ubuf[at]->ptr);
        return e;
    }
    /* The tasks that read what t writes wait for t: no one looks at these
     * in between. */
    for (unsigned j = 0; j < t->nbufs; j++)
        if ((t->modes[j] & QV_W) &&
            atomic_load_explicit(&t->ubuf[j]->stale, memory_order_relaxed))
            atomic_store_explicit(&t->ubuf[j]->stale, 0, memory_order_relaxed);
    return 0;
}

bool qv__task_fail_stale(qv_runtime *rt, qv__task *t, unsigned worker, qv__task **next)
{
    char why[300];
    int stale = task_stale(t, why, sizeof why);
    if (!stale)
        return false;
    free(t->why);
    t->why = strdup(why);
    qv__task_fail(rt, t, stale, worker, next);
    return true;
}

bool qv__task_finish(qv_runtime *rt, qv__task *t, qv__task **next)
{
    qv__spin_lock(&t->lock);
    atomic_store_explicit(&t->done, true, memory_order_release);
    qv__spin_unlock(&t->lock);

    bool wake = false;
    /* No submitter appends to succ once done is set, so it is ours now. */
    for (unsigned i = 0; i < t->nsucc; i++) {
        qv__task *s = t->succ[i];
        /* Whether s is a host acquisition, read while our edge still holds
         * it back: once pending reaches 0 its caller (spinning in
         * qv__wait_until) may go on, release it and drop the last buffer
         * state naming it, and the pool may hand it to a new task before
         * we look again. Read after, a reused task looked like a ready
         * one: it was placed and run before its predecessors were done
         * (and again once they were), which broke the counts the waits
         * go by: qv_wait_all hung (found by adversarial testing). */
        bool host = !s->func;
        if (atomic_fetch_sub_explicit(&s->pending, 1, memory_order_acq_rel) != 1)
            continue;
        if (host) { /* its caller may go on; s is not ours to read */
            qv__fault_pause();
            wake = true;
            continue;
        }
        unsigned d = qv__place(rt, s);
        if (d)
            qv__devq_push(rt, d, s);
        else if (next && (!*next || (*next == QV__NEXT_ON_DRIVER && qv__on_driver(rt, s))))
            *next = s;
        else
            qv__cpu_push(rt, s);
    }
    if (t->func) {
        for (unsigned j = 0; j < t->nbufs; j++) {
            struct qv__snap *sn = t->ubuf[j]->snap; /* read while it is kept */
            wake |= qv__buf_use_done(rt, t->ubuf[j]);
            qv__snap_idle(sn);
        }
        /* The count, then whether anyone waits (sched.c): its epoch's
         * slot drained, or in flight down to the low water for a
         * submitter held back. */
        unsigned es = (unsigned)(t->epoch % QV__EPOCHS);
        uint64_t f = atomic_fetch_add_explicit(&rt->fin[es], 1, memory_order_seq_cst) + 1;
        if (atomic_load_explicit(&rt->nwaiters, memory_order_seq_cst) &&
            (f == atomic_load_explicit(&rt->sub[es], memory_order_seq_cst) ||
             (atomic_load_explicit(&rt->nbp, memory_order_seq_cst) &&
              qv__inflight(rt) <= rt->low_water)))
            wake = true;
    }
    qv__task_release(rt, t);
    return wake;
}
