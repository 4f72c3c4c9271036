/*
 * defer.c - calls submitted but not entered into the dependency state yet.
 *
 * A replay that runs a chain of calls as one fused kernel (fuse.c) learns
 * that the chain is whole only at its last call, so it holds the earlier
 * ones back; once the fused kernel is launched, the calls that computed
 * only intermediate buffers stay held as recipes: the fused kernel does
 * not write those buffers, and they are computed when something reads
 * them. Either way the program's order must hold as if each call had been
 * submitted when it was made. So a deferred call marks its buffers (lazy,
 * lazy_w), and any access to a marked buffer (a task's submission, the
 * host's acquire, wait or unregister, the shutdown) first submits the
 * deferred calls it conflicts with: those that write a buffer it uses, or
 * read a buffer it writes, and, in turn, the earlier deferred calls those
 * conflict with, oldest first. Calls that conflict with nothing stay
 * deferred; moving them after the access changes nothing any call can see.
 *
 * A recipe that only reads a buffer need not run when the buffer is about
 * to be written (the host writing the next frame's input): it is given a
 * snapshot of the buffer as it is, which it reads instead, whenever it
 * runs. A snapshot is a buffer of the runtime's own; it goes once no
 * recipe holds it and no task uses it (qv__defer_sweep).
 *
 * Everything here is under submit_mu. The list is short in a program that
 * reuses its buffers (a newer recipe overwriting the same outputs prunes
 * the older one); a program with fresh buffers per entry keeps one or two
 * recipes per entry until it reads their buffers, unregisters them or
 * shuts down.
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

/* Buffers up to SNAP_MAX are snapshotted for the recipes that read them,
 * while the runtime's snapshots hold at most SNAP_BUDGET bytes in all; past
 * either, the recipes run first, as for any conflict. (A program that
 * keeps fresh intermediates per frame and never reads them would
 * otherwise pin a copy of each frame's input.) */
#define SNAP_MAX    ((size_t)64 << 20)
#define SNAP_BUDGET ((size_t)256 << 20)

struct qv__snap {
    struct qv__snap *next; /* rt->snaps */
    unsigned refs;         /* deferred calls that read it */
    atomic_uint busy;      /* tasks and prefetches on it (qv__snap_busy) */
    qv_buf b;              /* the buffer the calls name */
};

void qv__snap_hold(struct qv__snap *s, int by)
{
    atomic_fetch_add_explicit(&s->busy, (unsigned)by, memory_order_acq_rel);
}

struct qv__defer {
    qv__defer *prev, *next; /* rt->defer_head..tail, oldest first */
    uint64_t seq;
    qv_func *f;
    unsigned nargs, nbufs;
    unsigned planned;
    uint16_t worker;
    bool stash; /* a held chain's, not a recipe */
    bool need;  /* scratch of force() */
    qv_arg args[QV_MAX_ARGS];
    qv_buf *ubuf[QV_MAX_ARGS];
    unsigned modes[QV_MAX_ARGS];
    _Alignas(16) unsigned char scalars[]; /* f->scalar_bytes */
};

static void mark(qv__defer *d, int by)
{
    for (unsigned j = 0; j < d->nbufs; j++) {
        d->ubuf[j]->lazy += (unsigned)by;
        if (d->modes[j] & QV_W)
            d->ubuf[j]->lazy_w += (unsigned)by;
    }
}

static void unlink_defer(qv_runtime *rt, qv__defer *d)
{
    for (unsigned j = 0; j < d->nbufs; j++) {
        struct qv__snap *s = d->ubuf[j]->snap;
        if (s && !--s->refs)
            atomic_store_explicit(&rt->snap_idle, true, memory_order_relaxed);
    }
    if (d->prev)
        d->prev->next = d->next;
    else
        rt->defer_head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        rt->defer_tail = d->prev;
    rt->ndefer--;
    mark(d, -1);
}

uint64_t qv__defer_call(qv_runtime *rt, qv_func *f, const qv_arg *args, size_t nargs,
                        unsigned planned, uint16_t worker, bool stash, int *rc)
{
    *rc = 0;
    if (nargs != f->nargs) {
        *rc = qv__fail(QV_EMISMATCH, "function '%s' takes %u arguments; %zu given",
                       f->name, f->nargs, nargs);
        return 0;
    }
    for (unsigned i = 0; i < f->nargs; i++)
        if ((*rc = qv__arg_check(rt, f, args, i)) != 0)
            return 0;
    qv__defer *d = aligned_alloc(16, (sizeof *d + f->scalar_bytes + 15) & ~(size_t)15);
    if (!d) {
        *rc = qv__fail(QV_ENOMEM, "qv_submit: out of memory");
        return 0;
    }
    memset(d, 0, sizeof *d);
    d->seq = ++rt->defer_seq;
    d->f = f;
    d->nargs = f->nargs;
    d->planned = planned;
    d->worker = worker;
    d->stash = stash;
    unsigned char *sc = d->scalars;
    for (unsigned i = 0; i < f->nargs; i++) {
        const qv_arg_desc *a = &f->args[i];
        d->args[i] = args[i];
        if (!a->is_buf) { /* the caller's value may change once we return */
            memcpy(sc, args[i].val, a->size);
            d->args[i].val = sc;
            sc += (a->size + 15) & ~(size_t)15;
            continue;
        }
        unsigned j = 0;
        while (j < d->nbufs && d->ubuf[j] != args[i].buf)
            j++;
        if (j == d->nbufs)
            d->ubuf[d->nbufs++] = args[i].buf;
        d->modes[j] |= a->mode;
    }
    d->prev = rt->defer_tail;
    if (rt->defer_tail)
        rt->defer_tail->next = d;
    else
        rt->defer_head = d;
    rt->defer_tail = d;
    rt->ndefer++;
    mark(d, 1);
    return d->seq;
}

qv__defer *qv__defer_find(qv_runtime *rt, uint64_t seq)
{
    /* The held chain is at the end, but for the recipes no access forced. */
    for (qv__defer *d = rt->defer_tail; d && d->seq >= seq; d = d->prev)
        if (d->seq == seq)
            return d;
    return NULL;
}

void qv__defer_keep(qv_runtime *rt, qv__defer *d)
{
    (void)rt;
    d->stash = false;
    d->planned = 0; /* when read, wherever it runs best then */
    d->worker = 0;
}

void qv__defer_drop(qv_runtime *rt, qv__defer *d)
{
    unlink_defer(rt, d);
    free(d);
}

const qv_arg *qv__defer_args(const qv__defer *d, qv_func **f)
{
    *f = d->f;
    return d->args;
}

unsigned char *qv__defer_copy(qv_runtime *rt, const uint64_t *seq, unsigned n, qv__defer **d,
                              qv_func **f, const qv_arg **args, qv_arg (*copy)[QV_MAX_ARGS])
{
    pthread_mutex_lock(&rt->submit_mu);
    size_t need = 1;
    for (unsigned j = 0; j < n; j++) {
        if (!(d[j] = qv__defer_find(rt, seq[j]))) {
            pthread_mutex_unlock(&rt->submit_mu);
            return NULL;
        }
        need += d[j]->f->scalar_bytes;
    }
    unsigned char *sc = malloc(need), *p = sc;
    for (unsigned j = 0; sc && j < n; j++) {
        f[j] = d[j]->f;
        for (unsigned i = 0; i < f[j]->nargs; i++) {
            copy[j][i] = d[j]->args[i];
            if (f[j]->args[i].is_buf)
                continue;
            memcpy(p, d[j]->args[i].val, d[j]->args[i].size);
            copy[j][i].val = p;
            p += (d[j]->args[i].size + 15) & ~(size_t)15;
        }
        args[j] = copy[j];
    }
    pthread_mutex_unlock(&rt->submit_mu);
    return sc;
}

bool qv__defer_host_current(const qv_buf *b)
{
    /* Not a buffer whose writer ran nowhere (stale): its host bytes are
     * older ones. A snapshot of them read as valid, and the recipe that
     * read it hid the error a sequential run reports (review). */
    return !b->lazy_w && !b->host && (atomic_load(&b->valid) & 1u) &&
           !atomic_load(&b->stale) &&
           (!b->last_writer ||
            atomic_load_explicit(&b->last_writer->done, memory_order_acquire));
}

bool qv__defer_newer_conflict(const qv_runtime *rt, uint64_t after, const qv_func *f,
                              const qv_arg *args)
{
    for (const qv__defer *d = rt->defer_tail; d && d->seq > after; d = d->prev)
        for (unsigned i = 0; i < f->nargs; i++) {
            if (!f->args[i].is_buf)
                continue;
            for (unsigned j = 0; j < d->nbufs; j++)
                if (d->ubuf[j] == args[i].buf && ((d->modes[j] | f->args[i].mode) & QV_W))
                    return true;
        }
    return false;
}

/* A set of buffers with the access the needed calls make to them. */
typedef struct access_set {
    qv_buf **b;
    unsigned *m;
    size_t n, cap;
} access_set;

static int set_add(access_set *s, qv_buf *b, unsigned m)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->b[i] == b) {
            s->m[i] |= m;
            return 0;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        qv_buf **nb = realloc(s->b, cap * sizeof *nb);
        if (nb)
            s->b = nb;
        unsigned *nm = nb ? realloc(s->m, cap * sizeof *nm) : NULL;
        if (!nm)
            return QV_ENOMEM;
        s->m = nm;
        s->cap = cap;
    }
    s->b[s->n] = b;
    s->m[s->n++] = m;
    return 0;
}

/* Whether d conflicts with the accesses in s: one of the two writes a
 * buffer both use. */
static bool conflicts(const qv__defer *d, const access_set *s)
{
    for (unsigned j = 0; j < d->nbufs; j++)
        for (size_t i = 0; i < s->n; i++)
            if (s->b[i] == d->ubuf[j] && ((s->m[i] | d->modes[j]) & QV_W))
                return true;
    return false;
}

/* Submits the deferred calls marked need, oldest first. */
static int submit_needed(qv_runtime *rt, qv__task **forced)
{
    qv__task **tail = forced;
    while (*tail)
        tail = &(*tail)->next;
    int rc = 0;
    for (;;) {
        /* Oldest first. The closure holds every older call one conflicts
         * with, so none is forced from inside this loop. */
        qv__defer *d = rt->defer_head;
        while (d && !d->need)
            d = d->next;
        if (!d)
            break;
        unlink_defer(rt, d);
        int err;
        qv__task *t = qv__submit_locked(rt, d->f, d->args, d->nargs, d->planned,
                                        d->worker, NULL, NULL, &err);
        if (t) {
            t->next = NULL; /* it held the free list's link */
            *tail = t;
            tail = &t->next;
        }
        /* A call that cannot be submitted any more (its buffer was
         * unregistered behind the runtime's back) would have failed when
         * made; an out-of-memory task still runs, in order. */
        if (err && !rc)
            rc = err;
        free(d);
    }
    return rc;
}

/* Marks what must be submitted before accesses s (and s grows by what they
 * use), walking from the newest deferred call to the oldest; seeds: calls
 * already marked need. */
static int close_needs(qv_runtime *rt, access_set *s)
{
    for (qv__defer *d = rt->defer_tail; d; d = d->prev) {
        if (!d->need && !conflicts(d, s))
            continue;
        d->need = true;
        for (unsigned j = 0; j < d->nbufs; j++)
            if (set_add(s, d->ubuf[j], d->modes[j]))
                return QV_ENOMEM;
    }
    return 0;
}

/* A snapshot of b's bytes as they are now, or NULL (no memory). */
static struct qv__snap *snap_new(qv_runtime *rt, const qv_buf *b)
{
    struct qv__snap *s = calloc(1, sizeof *s);
    void *data = s ? malloc(b->size) : NULL;
    if (!data) {
        free(s);
        return NULL;
    }
    memcpy(data, b->ptr, b->size);
    s->b.magic = QV__BUF_MAGIC;
    s->b.rt = rt;
    s->b.ptr = data;
    s->b.size = b->size;
    s->b.range.lo = (uintptr_t)data;
    s->b.range.hi = (uintptr_t)data + b->size;
    atomic_init(&s->b.nuse, 0);
    atomic_init(&s->b.npf, 0);
    atomic_init(&s->b.ndone, 0);
    atomic_init(&s->busy, 0);
    atomic_init(&s->b.valid, 1u);
    atomic_init(&s->b.err, 0);
    pthread_mutex_init(&s->b.coh_mu, NULL);
    s->b.snap = s;
    s->next = rt->snaps;
    rt->snaps = s;
    rt->snap_bytes += b->size;
    return s;
}

/* Gives the recipes that only read b, which an access is about to write, a
 * snapshot of b to read instead, so that they need not run first. Only
 * when the host memory of b holds its bytes now: no deferred call writes
 * it, no task is writing it, the host does not hold it. */
static void snap_readers(qv_runtime *rt, qv_buf *b)
{
    if (!b->lazy || b->snap || !b->size || b->size > SNAP_MAX ||
        rt->snap_bytes + b->size > SNAP_BUDGET || !qv__defer_host_current(b))
        return;
    struct qv__snap *s = NULL;
    for (qv__defer *d = rt->defer_head; d; d = d->next) {
        unsigned j = 0;
        while (j < d->nbufs && d->ubuf[j] != b)
            j++;
        if (d->stash || j == d->nbufs || d->modes[j] != QV_R)
            continue;
        if (!s && !(s = snap_new(rt, b)))
            return; /* then they run first, as ever */
        for (unsigned i = 0; i < d->nargs; i++)
            if (d->f->args[i].is_buf && d->args[i].buf == b)
                d->args[i].buf = &s->b;
        d->ubuf[j] = &s->b;
        b->lazy--;
        s->b.lazy++;
        s->refs++;
    }
}

void qv__defer_sweep(qv_runtime *rt, bool all)
{
    struct qv__snap *gone = NULL;
    pthread_mutex_lock(&rt->submit_mu);
    atomic_store_explicit(&rt->snap_idle, false, memory_order_relaxed);
    for (struct qv__snap **p = &rt->snaps; *p;) {
        struct qv__snap *s = *p;
        if (!all && (s->refs || qv__buf_users(&s->b) ||
                     atomic_load_explicit(&s->busy, memory_order_acquire))) {
            if (!s->refs) /* a task still reads it: later */
                atomic_store_explicit(&rt->snap_idle, true, memory_order_relaxed);
            p = &s->next;
            continue;
        }
        *p = s->next;
        rt->snap_bytes -= s->b.size;
        if (s->b.last_writer)
            qv__task_release_locked(rt, s->b.last_writer);
        for (size_t i = 0; i < s->b.nreaders; i++)
            qv__task_release_locked(rt, s->b.readers[i]);
        s->b.magic = 0;
        s->next = gone;
        gone = s;
    }
    pthread_mutex_unlock(&rt->submit_mu);
    while (gone) { /* its device copies go as an unregistered buffer's */
        struct qv__snap *s = gone;
        gone = s->next;
        qv__coh_flush(rt, &s->b);
        pthread_mutex_destroy(&s->b.coh_mu);
        free(s->b.readers);
        free(s->b.err_msg);
        free(s->b.ptr);
        free(s);
    }
}

int qv__defer_force(qv_runtime *rt, qv_buf *const *bufs, const unsigned *modes,
                    unsigned n, qv__task **forced)
{
    for (unsigned j = 0; j < n; j++)
        if (modes[j] & QV_W)
            snap_readers(rt, bufs[j]);
    access_set s = {0};
    int rc = 0;
    for (unsigned j = 0; j < n && !rc; j++)
        rc = set_add(&s, bufs[j], modes[j]);
    if (!rc)
        rc = close_needs(rt, &s);
    if (rc) /* out of memory for the sets: all of them, which is never wrong */
        for (qv__defer *d = rt->defer_head; d; d = d->next)
            d->need = true;
    free(s.b);
    free(s.m);
    int src = submit_needed(rt, forced);
    return rc ? 0 : src; /* the fallback itself succeeded */
}

int qv__defer_force_seq(qv_runtime *rt, const uint64_t *seq, size_t n, qv__task **forced)
{
    for (qv__defer *d = rt->defer_head; d; d = d->next)
        if (n == SIZE_MAX)
            d->need = true;
        else
            for (size_t i = 0; i < n && !d->need; i++)
                d->need = d->seq == seq[i];
    access_set s = {0};
    if (n != SIZE_MAX && close_needs(rt, &s))
        for (qv__defer *d = rt->defer_head; d; d = d->next)
            d->need = true;
    free(s.b);
    free(s.m);
    return submit_needed(rt, forced);
}

void qv__defer_func(qv_runtime *rt, const qv_func *f)
{
    qv__task *forced = NULL;
    qv_buf *out[64];
    size_t nout = 0;
    bool all = false; /* more outputs than out holds: wait for everything */
    pthread_mutex_lock(&rt->submit_mu);
    /* Held back first, as any submission (it lets the lock go), then
     * marked. */
    if (rt->ndefer && atomic_load_explicit(&rt->ring_waits, memory_order_relaxed) &&
        !qv__in_task())
        qv__ring_hold(rt);
    /* A held chain's calls of f too: made before the change, they run
     * what f ran then, as a recipe does. Their holder fuses what is left
     * of its chain or submits it as it is, as when an access forced them;
     * a holder that is gone (its thread ended, or its state was taken for
     * a ninth runtime) no longer submits them at its waits, so a change
     * of f must not find them after it (adversarial testing: a held fir
     * ran the function set after the call was made). */
    bool any = false;
    for (qv__defer *d = rt->defer_head; d; d = d->next)
        if (d->f == f)
            any = d->need = true;
    if (any) {
        access_set s = {0};
        if (close_needs(rt, &s)) /* out of memory: all of them */
            for (qv__defer *d = rt->defer_head; d; d = d->next)
                d->need = true;
        free(s.b);
        free(s.m);
        submit_needed(rt, &forced);
        /* What they write, named now: once started, a task may be done
         * and gone. The program's buffers, never a snapshot. */
        for (qv__task *t = forced; t; t = t->next)
            for (unsigned j = 0; j < t->nbufs; j++)
                if ((t->modes[j] & QV_W) && !all) {
                    size_t k = 0;
                    while (k < nout && out[k] != t->ubuf[j])
                        k++;
                    if (k == nout && nout < sizeof out / sizeof *out)
                        out[nout++] = t->ubuf[j];
                    else if (k == nout)
                        all = true;
                }
    }
    /* Not inside a task, nor holding a buffer: a forced call may wait for
     * its release. */
    bool wait = any && !qv__current_worker(rt) && !qv__holds_any(rt);
    pthread_mutex_unlock(&rt->submit_mu);
    qv__defer_start(rt, forced);
    if (!wait)
        return;
    if (all)
        qv__wait(rt, NULL);
    for (size_t k = 0; !all && k < nout; k++)
        qv__wait(rt, out[k]);
}

void qv__defer_host(qv_runtime *rt, qv_buf *buf, unsigned m)
{
    qv__task *forced = NULL;
    pthread_mutex_lock(&rt->submit_mu);
    /* The recipes it forces stay out of waits that wait for a slot of the
     * epoch ring, as any submission (qv__ring_hold). */
    if (qv__defer_hit(buf, m) && atomic_load_explicit(&rt->ring_waits, memory_order_relaxed) &&
        !qv__in_task())
        qv__ring_hold(rt);
    if (qv__defer_hit(buf, m))
        qv__defer_force(rt, &buf, &m, 1, &forced); /* or snapshots it */
    pthread_mutex_unlock(&rt->submit_mu);
    qv__defer_start(rt, forced);
}

void qv__defer_host_try(qv_runtime *rt, qv_buf *buf, unsigned m)
{
    qv__task *forced = NULL;
    pthread_mutex_lock(&rt->submit_mu);
    if (qv__defer_hit(buf, m) &&
        (!atomic_load_explicit(&rt->ring_waits, memory_order_relaxed) || qv__in_task()))
        qv__defer_force(rt, &buf, &m, 1, &forced);
    pthread_mutex_unlock(&rt->submit_mu);
    qv__defer_start(rt, forced);
}

static bool set_has(const access_set *s, const qv_buf *b)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->b[i] == b && s->m[i])
            return true;
    return false;
}

void qv__defer_prune(qv_runtime *rt)
{
    /* Backwards from the newest call: `dead` holds the buffers a newer
     * call overwrites (QV_W only) before anything reads them. A recipe
     * whose every output is such a buffer computes what nobody can see. */
    access_set dead = {0};
    for (qv__defer *d = rt->defer_tail, *prev; d; d = prev) {
        prev = d->prev;
        bool live = d->stash;
        for (unsigned j = 0; j < d->nbufs && !live; j++)
            live = (d->modes[j] & QV_W) &&
                   ((d->modes[j] & QV_R) || !set_has(&dead, d->ubuf[j]));
        if (!live) {
            qv__defer_drop(rt, d);
            continue;
        }
        for (unsigned j = 0; j < d->nbufs; j++) {
            unsigned m = d->modes[j] == QV_W ? 1u : 0u; /* 1: dead before d */
            if (set_add(&dead, d->ubuf[j], 0)) {
                free(dead.b);
                free(dead.m);
                return; /* out of memory: prune nothing more, never wrong */
            }
            for (size_t i = 0; i < dead.n; i++)
                if (dead.b[i] == d->ubuf[j])
                    dead.m[i] = m;
        }
    }
    free(dead.b);
    free(dead.m);
}

void qv__defer_free(qv_runtime *rt)
{
    while (rt->defer_head) {
        qv__defer *d = rt->defer_head;
        rt->defer_head = d->next;
        free(d);
    }
    rt->defer_tail = NULL;
    rt->ndefer = 0;
}
