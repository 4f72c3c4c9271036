/*
 * coherence.c - where the valid copies of a buffer live, and the copies
 * that make one valid where a task needs it.
 *
 * A buffer is valid on a set of locations (bit 0 the host, bit i device i).
 * A task reading it on device d needs a valid copy there: from the host, or
 * from another device through the host (devices do not talk to each other
 * directly here, as in the cost model). A task writing it leaves the only
 * valid copy where it ran. Copies are made by the thread that runs the task,
 * under the buffer's coh_mu, so two readers on two devices never race.
 * Dependencies already keep a writer apart from every other user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "devices/device.h"

struct qv_devmem *qv__coh_mem(qv_buf *b, unsigned dev)
{
    return dev && b->mem ? b->mem[dev] : NULL;
}

bool qv__coh_ready(qv_buf *b, unsigned dev, const qv_func *f)
{
    if (b->size == 0)
        return true;
    struct qv_device *d = qv__device(b->rt, dev);
    pthread_mutex_lock(&b->coh_mu);
    bool ready = b->mem && b->mem[dev] && d->ops->ready && d->ops->ready(d, f, b->mem[dev]);
    pthread_mutex_unlock(&b->coh_mu);
    return ready;
}

/* b's copy on dev, allocated if it has none; one whose allocation is still
 * unanswered (a remote board's) waited for, and a fresh one too unless
 * reserving (qv__coh_reserve: a task's allocations go out together). */
static int ensure_alloc(qv_runtime *rt, qv_buf *b, unsigned dev, bool reserving)
{
    if (!b->mem) {
        b->mem = calloc(QV__MAX_DEVICES, sizeof *b->mem);
        if (!b->mem)
            return QV_ENOMEM;
    }
    struct qv_device *d = qv__device(rt, dev);
    if (!b->mem[dev]) {
        int rc = d->ops->alloc(d, b->size, 0, &b->mem[dev]);
        if (rc || reserving)
            return rc;
    }
    if (!d->ops->settle)
        return 0;
    /* Refused (the daemon's memory full): gone, so that the acquire may
     * make room and allocate again (qv__coh_acquire). */
    int rc = d->ops->settle(d, b->mem[dev]);
    if (rc) {
        d->ops->free(d, b->mem[dev]);
        b->mem[dev] = NULL;
    }
    return rc;
}

/* Tries of a read of a device's copy: one that failed is made again
 * before the copy is given up for unreadable, with these pauses between
 * (us). A read changes nothing on the device, and a single transient
 * error (a DMA or a bus hiccup) failed the task that read the device's
 * only valid copy, though that copy was intact (adversarial testing). */
static const unsigned read_pause_us[] = {0, 200, 2000};
#define READ_TRIES (sizeof read_pause_us / sizeof read_pause_us[0])

/* Copies device `from`'s valid copy to the host. Under coh_mu. Only an
 * i/o error is tried again: a time-out waited long enough once, and the
 * others (no memory, a bad range) would fail the same way. */
static int to_host(qv_runtime *rt, qv_buf *b, unsigned from)
{
    struct qv_device *d = qv__device(rt, from);
    int rc = 0;
    unsigned i = 0;
    for (; i < READ_TRIES; i++) {
        if (read_pause_us[i])
            usleep(read_pause_us[i]);
        rc = d->ops->read(d, b->ptr, b->mem[from], 0, b->size, NULL);
        if (rc != QV_EIO)
            break;
        if (i + 1 < READ_TRIES)
            qv__log(2,
                    "%s: a read of buffer %p's copy (%zu bytes) failed (%s); tried again",
                    qv__devq_name(rt, from), b->ptr, b->size, qv_last_error());
    }
    if (rc)
        return qv__fail(rc,
                        "%s holds the only valid copy (%zu bytes), which cannot be read "
                        "(%u %s): %s",
                        qv__devq_name(rt, from), b->size, i < READ_TRIES ? i + 1 : i,
                        i ? "tries" : "try", qv_last_error());
    qv__log(3, "copy of buffer %p (%zu bytes) from device %u to the host", b->ptr, b->size,
            from);
    qv__devq_count_bytes(rt, from, 0, b->size);
    atomic_fetch_or(&b->valid, 1u);
    return 0;
}

static unsigned lowest_bit(unsigned v)
{
    return (unsigned)__builtin_ctz(v);
}

typedef struct victim {
    qv_buf  *b;
    uint64_t used_ns;
    bool awaited; /* a task waiting to run uses it: it copies it again */
} victim;

/* The copies no task awaits first, then those waiting tasks will copy
 * again; the least recently used first in each. */
static int older(const void *x, const void *y)
{
    const victim *p = x, *q = y;
    if (p->awaited != q->awaited)
        return p->awaited ? 1 : -1;
    return p->used_ns < q->used_ns ? -1 : p->used_ns > q->used_ns;
}

/* Frees device dev's copy of x, valid elsewhere now (under x->coh_mu). */
static void drop_copy(qv_runtime *rt, qv_buf *x, unsigned dev)
{
    struct qv_device *d = qv__device(rt, dev);
    atomic_fetch_and(&x->valid, ~(1u << dev));
    d->ops->free(d, x->mem[dev]);
    x->mem[dev] = NULL;
}

/* The buffers whose copies on a full device must stay: those of the
 * tasks whose runs there have begun (qv__devq_busy_bufs), all of them when
 * there are too many to list (then only copies no task uses go). */
typedef struct busy {
    const qv_buf *b[256];
    size_t n; /* SIZE_MAX: too many */
} busy;

/* Whether device dev's copy of x may go (under x->coh_mu; users: x's
 * qv__buf_users): no task whose run there began uses x. A task that only
 * waits (its dependencies, its turn in the device's queue) allocates and
 * copies again when it runs, under coh_mu. Only copies no task used at all went before: a
 * board full of the copies that queued calls would read failed those calls (a board-only
 * function, "131072 bytes do not fit": adversarial testing). */
static bool evictable(qv_buf *x, unsigned dev, size_t users, const busy *k)
{
    if (!x->mem || !x->mem[dev])
        return false;
    if (users == 0)
        return true;
    if (k->n == SIZE_MAX)
        return false;
    for (size_t i = 0; i < k->n; i++)
        if (k->b[i] == x)
            return false;
    return true;
}

/* A pin keeps x from being retired (its coh_mu destroyed) while this
 * thread moves its copies without reg_mu: a copy home may take long (a
 * big buffer, a remote board), and registrations would wait for it. */
static void pin(qv_buf *x) /* under reg_mu */
{
    x->pins++;
}

/* The first buffer from x on (x included) with a size and not being
 * retired, pinned; NULL when none. Under reg_mu. */
static qv_buf *pin_from(qv_buf *x)
{
    while (x && (x->retired || !x->size))
        x = x->next;
    if (x)
        pin(x);
    return x;
}

static void unpin_locked(qv_runtime *rt, qv_buf *x) /* under reg_mu */
{
    if (--x->pins == 0 && x->retired)
        pthread_cond_broadcast(&rt->unpinned);
}

static void unpin(qv_runtime *rt, qv_buf *x) /* takes reg_mu */
{
    pthread_mutex_lock(&rt->reg_mu);
    unpin_locked(rt, x);
    pthread_mutex_unlock(&rt->reg_mu);
}

/* Device dev is full: frees its copies of buffers no task uses, the least
 * recently used first, until `need` bytes are free or none is left (as
 * StarPU's LRU eviction). A copy that is the only valid one goes home
 * first. Called with no coh_mu held; the others' are only tried (a buffer
 * busy now is passed by). Returns the bytes freed. */
static size_t evict(qv_runtime *rt, const qv_buf *keep, unsigned dev, size_t need)
{
    victim *v = NULL;
    size_t n = 0, cap = 0, freed = 0;
    unsigned bit = 1u << dev;
    struct qv_device *d = qv__device(rt, dev);
    uint64_t mem = 0;
    if (d->ops->query && d->ops->query(d, QV_QUERY_MEMORY, &mem, sizeof mem) == 0 && mem &&
        need > mem)
        return 0; /* it never fits: nothing is freed for nothing */
    static _Thread_local busy k; /* 2 KiB: not on a driver's stack */
    k.n = qv__devq_busy_bufs(rt, dev, k.b, sizeof k.b / sizeof k.b[0]);
    pthread_mutex_lock(&rt->reg_mu); /* no buffer is retired meanwhile */
    for (qv_buf *x = rt->bufs; x; x = x->next) {
        if (x == keep || x->retired || !x->size || pthread_mutex_trylock(&x->coh_mu))
            continue;
        size_t users = qv__buf_users(x);
        bool ok = evictable(x, dev, users, &k), awaited = users > 0;
        uint64_t used = x->used_ns;
        pthread_mutex_unlock(&x->coh_mu);
        if (!ok)
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            victim *nv = realloc(v, nc * sizeof *v);
            if (!nv)
                break;
            v = nv;
            cap = nc;
        }
        pin(x);
        v[n++] = (victim){x, used, awaited};
    }
    pthread_mutex_unlock(&rt->reg_mu);
    if (n)
        qsort(v, n, sizeof *v, older);
    for (size_t i = 0; i < n; i++) {
        qv_buf *x = v[i].b;
        if (freed < need && !pthread_mutex_trylock(&x->coh_mu)) {
            if (evictable(x, dev, qv__buf_users(x), &k)) {
                unsigned valid = atomic_load(&x->valid);
                int rc = valid == bit ? to_host(rt, x, dev) : 0;
                if (rc)
                    qv__log(1, "device %u full: buffer %p's only valid copy could not be "
                            "brought home to free it (%s)", dev, x->ptr, qv_strerror(rc));
                if (rc == 0) {
                    drop_copy(rt, x, dev);
                    freed += x->size;
                    qv__log(3, "device %u full: its copy of buffer %p (%zu bytes) freed",
                            dev, x->ptr, x->size);
                }
            }
            pthread_mutex_unlock(&x->coh_mu);
        }
        unpin(rt, x);
    }
    free(v);
    return freed;
}

/* What x's last writer does to its copy on a failed device, when it writes
 * x without reading it. REPLACES: it is released (its predecessors done:
 * it runs, or is about to), so no task needs the copy an earlier writer
 * left, and copying that into the host memory the writer may be writing
 * would race with it and could undo its result (ThreadSanitizer saw a
 * failed board's copy brought home over a fused chain's re-run on the
 * CPU). WILL_REPLACE: it is one of the tasks that failed on the device
 * without having started there (failed), which run again elsewhere
 * later, or nowhere: the copy is
 * brought home where it can be, so that x keeps it should the writer run
 * nowhere (dropped unread, it was lost, and the host's data from before
 * it stood: adversarial testing), and where it cannot, the writer makes
 * x anew or says x holds nothing. Takes submit_mu. */
enum { KEEPS, REPLACES, WILL_REPLACE };

static int superseded(qv_runtime *rt, qv_buf *x, qv__task *const *failed, size_t nfailed)
{
    bool found = false, reads = false, mine = false;
    pthread_mutex_lock(&rt->submit_mu);
    qv__task *w = x->last_writer;
    for (size_t i = 0; w && i < nfailed; i++)
        mine |= failed[i] == w;
    if (w && !atomic_load(&w->done) && (mine || atomic_load(&w->pending) == 0))
        for (unsigned j = 0; j < w->nbufs; j++)
            if (w->ubuf[j] == x) {
                found = true;
                reads |= (w->modes[j] & QV_R) != 0;
            }
    pthread_mutex_unlock(&rt->submit_mu);
    return !found || reads ? KEEPS : mine ? WILL_REPLACE : REPLACES;
}

void qv__coh_drop_device(qv_runtime *rt, unsigned dev, qv__task *const *failed,
                         size_t nfailed)
{
    unsigned bit = 1u << dev;
    atomic_fetch_add(&rt->drops, ((uint64_t)1 << 32) + 1); /* before any mark: task.c */
    pthread_mutex_lock(&rt->reg_mu);
    qv_buf *x = pin_from(rt->bufs);
    pthread_mutex_unlock(&rt->reg_mu);
    while (x) {
        int sup = superseded(rt, x, failed, nfailed);
        pthread_mutex_lock(&x->coh_mu);
        if (x->mem && x->mem[dev]) {
            int rc = 0;
            if (atomic_load(&x->valid) == bit) { /* its only copy */
                if (sup != REPLACES)
                    rc = to_host(rt, x, dev);
                if (sup == REPLACES || (rc && sup == WILL_REPLACE)) {
                    rc = 0;
                    atomic_fetch_or(&x->valid, 1u); /* its writer makes it anew */
                }
            }
            if (rc) {
                /* Its only copy is lost: the host keeps its older data,
                 * the buffer's waits say so, and the tasks that read it
                 * fail until something writes it again, as after a writer
                 * that ran nowhere. Marked valid alone, the old data was
                 * read as the result: a task re-run on the CPU computed
                 * from it and returned 0 (adversarial testing). */
                char msg[300];
                snprintf(msg, sizeof msg, "buffer %p (%zu bytes): its only valid copy was "
                         "on device %u, which failed, and it could not be brought home "
                         "(%s); the host keeps older data", x->ptr, x->size, dev,
                         qv_strerror(rc));
                qv__log(0, "%s", msg);
                qv__buf_set_error(x, QV_EIO, msg);
                atomic_fetch_or(&x->valid, 1u); /* the host's older data stands */
                atomic_store_explicit(&x->stale, QV_EIO, memory_order_release);
            }
            drop_copy(rt, x, dev);
        }
        pthread_mutex_unlock(&x->coh_mu);
        /* The next one, pinned before x is let go: x, pinned, is still in
         * the list (retiring it waits, and it leaves the list after). */
        pthread_mutex_lock(&rt->reg_mu);
        qv_buf *next = pin_from(x->next);
        unpin_locked(rt, x);
        pthread_mutex_unlock(&rt->reg_mu);
        x = next;
    }
    atomic_fetch_sub(&rt->drops, 1); /* its marks before: seen by whoever sees this */
}

static int acquire_locked(qv_runtime *rt, qv_buf *b, unsigned dev, unsigned m,
                          unsigned *from);

void qv__coh_reserve(qv_runtime *rt, qv_buf *b, unsigned dev)
{
    if (b->size == 0 || dev == 0)
        return;
    pthread_mutex_lock(&b->coh_mu);
    (void)ensure_alloc(rt, b, dev, true); /* a failure is the acquire's to say */
    pthread_mutex_unlock(&b->coh_mu);
}

int qv__coh_acquire(qv_runtime *rt, qv_buf *b, unsigned dev, unsigned m, unsigned *from)
{
    unsigned none;
    if (!from)
        from = &none;
    *from = 0;
    if (b->size == 0)
        return 0;
    pthread_mutex_lock(&b->coh_mu);
    int rc = acquire_locked(rt, b, dev, m, from);
    pthread_mutex_unlock(&b->coh_mu);
    if (rc == QV_ENOMEM && dev && evict(rt, b, dev, b->size) > 0) {
        pthread_mutex_lock(&b->coh_mu);
        rc = acquire_locked(rt, b, dev, m, from);
        pthread_mutex_unlock(&b->coh_mu);
    }
    return rc;
}

/* qv__coh_acquire's work, under b->coh_mu. */
static int acquire_locked(qv_runtime *rt, qv_buf *b, unsigned dev, unsigned m,
                          unsigned *from)
{
    unsigned bit = 1u << dev;
    if (dev)
        b->used_ns = qv__now_ns();
    unsigned valid = atomic_load(&b->valid);
    int rc = 0;
    if ((m & QV_R) && !(valid & bit)) {
        if (!(valid & 1u) && (rc = to_host(rt, b, lowest_bit(valid))) != 0)
            *from = lowest_bit(valid);
        if (!rc && dev != 0) {
            rc = ensure_alloc(rt, b, dev, false);
            if (!rc) {
                struct qv_device *d = qv__device(rt, dev);
                rc = d->ops->write(d, b->mem[dev], 0, b->ptr, b->size, NULL);
                if (!rc) {
                    qv__log(3, "copy of buffer %p (%zu bytes) from the host to device %u",
                            b->ptr, b->size, dev);
                    qv__devq_count_bytes(rt, dev, b->size, 0);
                    atomic_fetch_or(&b->valid, bit);
                }
            }
        }
    } else if (dev != 0) {
        rc = ensure_alloc(rt, b, dev, false);
    }
    return rc;
}

void qv__coh_host_writes(qv_buf *b)
{
    if (b->size == 0)
        return;
    pthread_mutex_lock(&b->coh_mu);
    atomic_store(&b->valid, 1u);
    /* What it holds from now on is the writer's: a failed device's loss
     * marked meanwhile is not about it (qv__coh_drop_device). */
    atomic_store_explicit(&b->stale, 0, memory_order_relaxed);
    pthread_mutex_unlock(&b->coh_mu);
}

void qv__coh_written(qv_buf *b, unsigned dev)
{
    if (b->size == 0)
        return;
    pthread_mutex_lock(&b->coh_mu);
    atomic_store(&b->valid, 1u << dev);
    atomic_store_explicit(&b->stale, 0, memory_order_relaxed); /* as above */
    pthread_mutex_unlock(&b->coh_mu);
}

/* Whether host memory holds device dev's copy of b as it was before the
 * runs that failed there (device.h, mirrored). Under b->coh_mu. */
static bool mirrored(qv_buf *b, unsigned dev)
{
    struct qv_devmem *m = qv__coh_mem(b, dev);
    struct qv_device *d = qv__device(b->rt, dev);
    return m && d->ops->mirrored && d->ops->mirrored(d, m, b->ptr);
}

bool qv__coh_untrust(qv__task *t, unsigned dev, char *why, size_t n)
{
    unsigned bit = 1u << dev;
    bool ok = true;
    for (unsigned j = 0; j < t->nbufs; j++) {
        qv_buf *b = t->ubuf[j];
        if (!(t->modes[j] & QV_W) || b->size == 0)
            continue;
        pthread_mutex_lock(&b->coh_mu);
        unsigned valid = atomic_load(&b->valid);
        if ((valid & bit) && (valid & ~bit)) {
            atomic_store(&b->valid, valid & ~bit); /* the copy elsewhere is as before */
        } else if ((valid & bit) && !(t->modes[j] & QV_R)) {
            /* Written whole, its only copy here: the task run again
             * writes it whole; that copy is not read meanwhile, nor if the
             * task runs nowhere (an OpenCL run past its deadline may still
             * write it while copies go on beside it: review). The host's
             * older data stands, as for a copy lost with its device. */
            atomic_store(&b->valid, 1u);
        } else if ((valid & bit) && (t->modes[j] & QV_R) && mirrored(b, dev)) {
            /* Its only copy here, and host memory holds it as it was
             * before the run: the task runs again from there (a daemon
             * that died failed every in-place update in flight on its
             * board; adversarial testing). */
            atomic_store(&b->valid, 1u);
        } else if ((valid & bit) && (t->modes[j] & QV_R)) {
            /* Read and written in place, its only copy here: running the
             * task again would start from what the failed run left. That
             * copy is not read again either (it was, after the one error:
             * half-written data, copied home while a run handed over still
             * wrote it; adversarial testing): the host's older data
             * stands, as for a copy lost with its device. The memory stays
             * allocated, since that run may still write it. */
            atomic_store(&b->valid, 1u);
            if (ok)
                snprintf(why, n, "device %u failed while it ran the task, which updates "
                         "buffer %p (%zu bytes) in place and whose only copy was there: "
                         "that copy may be half-written, so the task is not run again and "
                         "the host keeps older data", dev, b->ptr, b->size);
            ok = false;
        }
        pthread_mutex_unlock(&b->coh_mu);
    }
    return ok;
}

int qv__coh_flush(qv_runtime *rt, qv_buf *b)
{
    int rc = 0;
    pthread_mutex_lock(&b->coh_mu);
    unsigned valid = atomic_load(&b->valid);
    if (b->size && !(valid & 1u))
        rc = to_host(rt, b, lowest_bit(valid));
    if (b->mem) {
        for (unsigned d = 1; d < QV__MAX_DEVICES; d++) {
            if (b->mem[d]) {
                struct qv_device *dv = qv__device(rt, d);
                dv->ops->free(dv, b->mem[d]);
            }
        }
        free(b->mem);
        b->mem = NULL;
    }
    atomic_store(&b->valid, 1u);
    pthread_mutex_unlock(&b->coh_mu);
    return rc;
}
