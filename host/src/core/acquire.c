/*
 * acquire.c - the host's access to registered memory: qv_buf_acquire and
 * qv_buf_release (StarPU's starpu_data_acquire / _release), and qv_buf_wait,
 * a read-only acquire that is released at once.
 *
 * An acquisition is a task of the host: it enters the buffer's dependency
 * state like a submitted task with the same mode, so it waits for exactly
 * the tasks it conflicts with (a read for the last writer, a write for the
 * readers since as well), and the tasks submitted while the host holds the
 * buffer wait for it in turn, until qv_buf_release completes it. It is never
 * queued on a device and never recorded in the graph.
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/thread.h"

static bool host_ready(qv_runtime *rt, void *arg)
{
    (void)rt;
    const qv__task *t = arg;
    return atomic_load_explicit(&t->pending, memory_order_seq_cst) == 0;
}

/* Whether another thread's qv_buf_acquire of buf returned. */
static bool acquired(qv_runtime *rt, void *arg)
{
    (void)rt;
    const qv_buf *buf = arg;
    return !atomic_load_explicit(&buf->acquiring, memory_order_seq_cst);
}

static bool hosts_done(qv_buf *buf);

/* Enters a host task for buf with mode m and waits until its conflicts are
 * done. *out is the task, which the caller completes with qv__task_finish.
 * try: QV_EBUSY instead of waiting, when a task still uses buf or a call
 * owed to it is deferred (those calls are submitted then, without a wait,
 * so that a later try finds them done: a poller was refused for good). */
static int host_enter(qv_runtime *rt, qv_buf *buf, unsigned m, bool hold, bool try,
                      qv__task **out)
{
    /* Calls held back or deferred that the access conflicts with go in
     * first: this thread's chain, then what the buffer's readers and
     * writers are owed (defer.c). */
    bool counted = false; /* a wait's host access, kept across its retry */
    const char *fn = try ? "qv_buf_try_acquire" : hold ? "qv_buf_acquire" : "qv_buf_wait";
again:
    qv__region_flush(rt);
    /* Again while another thread's flush made a recipe on buf between the
     * forcing and submit_mu taken here: the host task must follow every
     * call made before it, recipes included, under one hold of the lock. */
    for (;;) {
        if (!try)
            qv__defer_host(rt, buf, m);
        pthread_mutex_lock(&rt->submit_mu);
        if (!qv__defer_hit(buf, m))
            break;
        pthread_mutex_unlock(&rt->submit_mu);
        if (try) {
            qv__defer_host_try(rt, buf, m);
            return qv__fail(QV_EBUSY, "qv_buf_try_acquire: calls owed to buffer %p were "
                            "deferred; they run now", buf->ptr);
        }
    }
    /* An unregister that claimed buf meanwhile (another thread's) owns it. */
    if (atomic_load(&buf->magic) != QV__BUF_MAGIC) {
        pthread_mutex_unlock(&rt->submit_mu);
        if (counted && hosts_done(buf))
            qv__wake_waiters(rt); /* that unregister waits for it */
        return qv__buf_bad(buf, fn);
    }
    /* Registered still, under the lock an unregister claims it with: no
     * unregister waits for the retry's count, which goes now. */
    if (counted)
        atomic_fetch_sub(&buf->hosts, 1);
    counted = false;
    /* A wait of a buffer the host holds: the host's copy is the current
     * one, nothing to wait for (*out NULL). Decided under the lock: an
     * acquire made between qv_buf_wait's look and here put the wait
     * behind the hold, and tasks behind the wait then waited for the
     * release unseen by qv__held_awaited (review finding). Not before
     * the acquire returns: until then the host copy is not current (the
     * wait returned while the last writer still ran, and the caller read
     * the old bytes: adversarial testing). Counted as a host access
     * meanwhile, so that an unregister after the release waits for it. */
    if (!hold && buf->held) {
        bool under_way = atomic_load(&buf->acquiring);
        bool blocks = under_way && qv__held_blocks(rt, buf, m);
        if (under_way && !blocks)
            atomic_fetch_add(&buf->hosts, 1);
        pthread_mutex_unlock(&rt->submit_mu);
        if (blocks)
            return qv__fail(QV_EDEADLK,
                            "qv_buf_wait: the wait would never end: buffer "
                            "%p is being acquired, and that waits for a task that waits "
                            "for a buffer this thread holds (qv_buf_release it first)",
                            buf->ptr);
        if (!under_way) {
            *out = NULL;
            return 0;
        }
        qv__wait_until(rt, acquired, buf);
        /* Held now, released, or acquired again: once more, the access
         * still counted until the lock is had again (an unregister after
         * the release claimed and retired buf while the retry's flush
         * used it: review). */
        counted = true;
        goto again;
    }
    if (try && qv__buf_users(buf) > 0) {
        pthread_mutex_unlock(&rt->submit_mu);
        return qv__fail(QV_EBUSY, "qv_buf_try_acquire: tasks still use buffer %p",
                        buf->ptr);
    }
    /* Nor for a device: bringing the host copy home may queue behind the
     * device's runs (a daemon's socket thread would stop answering). */
    if (try && (m & QV_R) && rt->naccel && buf->size && !(atomic_load(&buf->valid) & 1u)) {
        pthread_mutex_unlock(&rt->submit_mu);
        return qv__fail(QV_EBUSY, "qv_buf_try_acquire: buffer %p is current on a device "
                        "only", buf->ptr);
    }
    if (hold && buf->held) {
        bool mine = buf->holder == qv__thread_serial();
        pthread_mutex_unlock(&rt->submit_mu);
        return qv__fail(QV_EBUSY, "%s: buffer %p is held already, %s", fn, buf->ptr,
                        mine ? "by this thread (qv_buf_release it first)"
                             : "by another thread (one holder at a time: it must "
                               "qv_buf_release it first)");
    }
    /* As qv_wait_all: a wait for tasks that wait for this thread's own
     * qv_buf_release would never end (it hung: adversarial testing). */
    if (!try && qv__held_blocks(rt, buf, m)) {
        pthread_mutex_unlock(&rt->submit_mu);
        return qv__fail(QV_EDEADLK,
                        "%s: the wait would never end: buffer %p is written "
                        "by a task that waits for a buffer this thread holds "
                        "(qv_buf_release it first)",
                        fn, buf->ptr);
    }
    qv__task *t = qv__task_new(rt);
    if (!t) {
        pthread_mutex_unlock(&rt->submit_mu);
        return qv__fail(QV_ENOMEM, "%s: out of memory", fn);
    }
    t->func = NULL;
    t->id = QV__NO_NODE;
    t->epoch = 0;
    t->nargs = 0;
    t->nbufs = 1;
    t->ubuf[0] = buf;
    t->modes[0] = m;
    t->bytes = 0;
    if (qv__task_reserve(rt, t)) {
        qv__task_release_locked(rt, t);
        pthread_mutex_unlock(&rt->submit_mu);
        return qv__fail(QV_ENOMEM, "%s: out of memory for its dependencies", fn);
    }
    (void)qv__task_access(rt, t, buf, m); /* in the room reserved: cannot fail */
    atomic_fetch_add(&buf->hosts, 1);
    if (hold) {
        buf->held = m;
        atomic_store(&buf->acquiring, true);
        buf->holder = qv__thread_serial();
        buf->host = t;
        buf->held_prev = NULL;
        buf->held_next = rt->held_list;
        if (rt->held_list)
            rt->held_list->held_prev = buf;
        rt->held_list = buf;
        atomic_fetch_add(&rt->nheld, 1);
    }
    pthread_mutex_unlock(&rt->submit_mu);
    if (!qv__task_unhold(t))
        qv__wait_until(rt, host_ready, t);
    *out = t;
    return 0;
}

/* One host access to buf is over; whether it was the last (an unregister
 * may wait for that). */
static bool hosts_done(qv_buf *buf)
{
    return atomic_fetch_sub(&buf->hosts, 1) == 1;
}

static void host_leave(qv_runtime *rt, qv__task *t)
{
    qv_buf *buf = t->ubuf[0];
    bool wake = qv__task_finish(rt, t, NULL);
    /* After the task: an unregister waiting for the host's accesses to
     * end finds the buffer's dependencies done. */
    if (hosts_done(buf) || wake)
        qv__wake_waiters(rt);
}

/* Makes the host copy current for m: fetched when m reads, and the only
 * valid one when m writes (device copies are stale from now on). */
static int host_coherent(qv_runtime *rt, qv_buf *buf, unsigned m)
{
    if (!rt->naccel || !buf->size)
        return 0;
    if (m & QV_R) {
        int rc = qv__coh_acquire(rt, buf, 0, QV_R, NULL);
        if (rc)
            return qv__fail(rc, "buffer %p: the host copy cannot be brought up to date: %s",
                            buf->ptr, qv_last_error());
    }
    if (m & QV_W)
        qv__coh_written(buf, 0);
    return 0;
}

void qv__buf_set_error(qv_buf *b, int err, const char *msg)
{
    if (atomic_load(&b->err))
        return; /* the first cause stands */
    free(b->err_msg);
    b->err_msg = strdup(msg);
    atomic_store(&b->err, err);
}

int qv__buf_take_error(qv_buf *b)
{
    if (!atomic_load(&b->err))
        return 0;
    pthread_mutex_lock(&b->coh_mu);
    int err = atomic_exchange(&b->err, 0);
    char *msg = b->err_msg;
    b->err_msg = NULL;
    pthread_mutex_unlock(&b->coh_mu);
    if (err)
        qv__fail(err, "buffer %p holds stale data: %s", b->ptr, msg ? msg : "a task failed");
    free(msg);
    return err;
}

/* Ends the host's hold on buf; wrote: it held buf for writing, and what
 * the host wrote is the only valid copy (a device copy made while it held
 * the buffer, a replay's prefetch, may hold its writes half). QV_EINVAL
 * when buf is not held, or (unless own: the failed acquisition's own
 * undoing) while its acquisition is under way: ending it then finished
 * the host's task before the tasks it waits for, so the tasks after it
 * ran with them, and the acquire returned 0 holding nothing (a lost
 * update: adversarial testing). */
static int release(qv_buf *buf, bool wrote, bool own)
{
    qv_runtime *rt = buf->rt;
    pthread_mutex_lock(&rt->submit_mu);
    qv__task *t = buf->host;
    unsigned held = buf->held;
    if (t && !own && atomic_load(&buf->acquiring)) {
        pthread_mutex_unlock(&rt->submit_mu);
        return qv__fail(QV_EINVAL,
                        "qv_buf_release: buffer %p is not acquired yet: "
                        "another thread's qv_buf_acquire of it is under way",
                        buf->ptr);
    }
    if (t) {
        atomic_store(&buf->acquiring, false);
        buf->host = NULL;
        buf->held = 0;
        if (buf->held_prev)
            buf->held_prev->held_next = buf->held_next;
        else
            rt->held_list = buf->held_next;
        if (buf->held_next)
            buf->held_next->held_prev = buf->held_prev;
        buf->held_prev = buf->held_next = NULL;
        if (buf->awaited) {
            buf->awaited = false;
            rt->nawaited--;
        }
        atomic_fetch_sub(&rt->nheld, 1);
    }
    pthread_mutex_unlock(&rt->submit_mu);
    if (!t)
        return qv__fail(QV_EINVAL, "qv_buf_release: buffer %p is not acquired", buf->ptr);
    if (wrote && (held & QV_W) && rt->naccel && buf->size)
        qv__coh_written(buf, 0);
    if (wrote && (held & QV_W)) /* what it holds now is the host's */
        atomic_store(&buf->stale, 0);
    host_leave(rt, t);
    return 0;
}

/* A read of buf while it holds no valid data (its stale mark: the task
 * that should have written it ran nowhere, or its only copy was lost with
 * a failed device): refused every time, as the tasks that read it are,
 * until a task or the host writes it. The first wait or acquire gets the
 * cause (qv__buf_take_error), the later reads this: once the cause was
 * taken, by another thread too, a wait returned 0 and the program read
 * the older data as the result (adversarial testing). */
static int stale_read(const qv_buf *buf)
{
    int err = atomic_load_explicit(&buf->stale, memory_order_acquire);
    if (!err)
        return 0;
    return qv__fail(err,
                    "buffer %p holds no valid data: the task that should have written "
                    "it did not run, or its only copy was lost with a device that failed "
                    "(said at its first wait); to go on from what it holds, acquire it "
                    "with QV_RW (or write it whole: QV_W)",
                    buf->ptr);
}

static int acquire(qv_buf *buf, qv_mode mode, bool try, const char *what)
{
    if (!qv__buf_ok(buf))
        return qv__buf_bad(buf, what);
    if (mode < QV_R || mode > QV_RW)
        return qv__fail(QV_EINVAL, "%s: mode %d; expected QV_R, QV_W or QV_RW", what,
                        (int)mode);
    if (qv__task_context(buf->rt))
        return qv__fail(QV_EDEADLK, "%s called from a task: it could wait on itself "
                        "(tasks receive their buffers as arguments)", what);
    qv_runtime *rt = buf->rt;
    qv__task *t;
    int rc = host_enter(rt, buf, mode, true, try, &t);
    if (rc)
        return rc;
    rc = qv__buf_take_error(buf);
    if (!rc && mode == QV_R) /* QV_RW takes what it holds as the buffer's */
        rc = stale_read(buf);
    if (!rc)
        rc = host_coherent(rt, buf, mode);
    /* A failed acquire holds nothing: no release for the caller. Not as a
     * write: that would declare the host copy, never brought up to date,
     * the only valid one (review finding). */
    if (rc)
        release(buf, false, true);
    else
        atomic_store(&buf->acquiring, false); /* held: only its release ends it */
    qv__wake_waiters(rt); /* a qv_buf_wait or a shutdown waiting for that */
    return rc;
}

QV_API int qv_buf_acquire(qv_buf *buf, qv_mode mode)
{
    return acquire(buf, mode, false, "qv_buf_acquire");
}

QV_API int qv_buf_try_acquire(qv_buf *buf, qv_mode mode)
{
    return acquire(buf, mode, true, "qv_buf_try_acquire");
}

QV_API int qv_buf_release(qv_buf *buf)
{
    if (!qv__buf_ok(buf))
        return qv__buf_bad(buf, "qv_buf_release");
    return release(buf, true, false);
}

QV_API int qv_buf_wait(qv_buf *buf)
{
    if (!qv__buf_ok(buf))
        return qv__buf_bad(buf, "qv_buf_wait");
    qv_runtime *rt = buf->rt;
    if (qv__task_context(rt)) {
        qv__defer_host(rt, buf, QV_R); /* what buf is owed runs first */
        /* A task must not block its worker on the graph: it may only look
         * at a buffer nothing uses any more. Counted as a host access, so
         * that another thread's unregister waits for it (it retired the
         * buffer under this copy home: code review). */
        pthread_mutex_lock(&rt->submit_mu);
        bool gone = atomic_load(&buf->magic) != QV__BUF_MAGIC;
        bool busy = !gone && qv__buf_users(buf) > 0;
        if (!gone && !busy)
            atomic_fetch_add(&buf->hosts, 1);
        pthread_mutex_unlock(&rt->submit_mu);
        if (gone)
            return qv__buf_bad(buf, "qv_buf_wait");
        if (busy)
            return qv__fail(QV_EDEADLK, "qv_buf_wait called from a task: it would wait "
                            "on itself");
        int rc = host_coherent(rt, buf, QV_R);
        if (hosts_done(buf))
            qv__wake_waiters(rt);
        return rc;
    }
    pthread_mutex_lock(&rt->submit_mu);
    bool held = buf->held && !atomic_load(&buf->acquiring);
    pthread_mutex_unlock(&rt->submit_mu);
    if (held) /* the host holds it: its copy is the current one */
        return 0;
    qv__task *t;
    int rc = host_enter(rt, buf, QV_R, false, false, &t);
    if (rc || !t) /* !t: held meanwhile */
        return rc;
    rc = qv__buf_take_error(buf);
    if (!rc)
        rc = stale_read(buf);
    int crc = host_coherent(rt, buf, QV_R);
    host_leave(rt, t);
    return rc ? rc : crc;
}

/* A set of tasks, open addressing; for the walk of qv__held_blocks. */
typedef struct tset {
    qv__task **slot;
    size_t cap, n;
} tset;

static size_t tset_at(const tset *s, const qv__task *t)
{
    size_t h = ((uintptr_t)t >> 4) * 0x9E3779B97F4A7C15u;
    size_t i = h & (s->cap - 1);
    while (s->slot[i] && s->slot[i] != t)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static bool tset_has(const tset *s, const qv__task *t)
{
    return s->cap && s->slot[tset_at(s, t)] == t;
}

/* Adds t: 1 when new, 0 when there already, -1 out of memory. */
static int tset_add(tset *s, qv__task *t)
{
    if (2 * (s->n + 1) > s->cap) {
        tset old = *s;
        s->cap = old.cap ? 2 * old.cap : 64;
        s->slot = calloc(s->cap, sizeof *s->slot);
        if (!s->slot) {
            *s = old;
            return -1;
        }
        s->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.slot[i])
                s->slot[tset_at(s, old.slot[i])] = old.slot[i], s->n++;
        free(old.slot);
    }
    size_t i = tset_at(s, t);
    if (s->slot[i])
        return 0;
    s->slot[i] = t;
    s->n++;
    return 1;
}

/* A stack of tasks to visit, for the walk of qv__held_blocks. */
typedef struct tstack {
    qv__task **v;
    size_t n, cap;
} tstack;

static bool tstack_push(tstack *s, qv__task *t)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        qv__task **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = t;
    return true;
}

/* Tasks that wait for the release of held buffer b. Another thread's
 * qv_buf_wait or acquire of b is a host successor too, and not counted:
 * its own release ends it. */
static unsigned awaiting_tasks(qv_buf *b)
{
    unsigned n = 0;
    qv__spin_lock(&b->host->lock);
    for (unsigned i = 0; i < b->host->nsucc; i++)
        n += b->host->succ[i]->func != NULL;
    qv__spin_unlock(&b->host->lock);
    return n;
}

bool qv__held_awaited(qv_runtime *rt)
{
    /* Counted as tasks are submitted (task.c), not walked: a task that
     * waits for a held buffer stays until the release, which uncounts it. */
    return rt->nawaited > 0;
}

bool qv__holds_any(qv_runtime *rt)
{
    if (!atomic_load(&rt->nheld))
        return false;
    uint64_t self = qv__thread_serial();
    for (qv_buf *b = rt->held_list; b; b = b->held_next)
        if (b->holder == self)
            return true;
    return false;
}

bool qv__held_blocks(qv_runtime *rt, qv_buf *buf, unsigned m)
{
    /* Most waits: the caller holds nothing. What the wait waits for:
     * buf's last writer, and for a write its readers since; older users
     * come before them. */
    if (!qv__holds_any(rt))
        return false;
    tset want = {0}, seen = {0};
    bool found = false, oom = false;
    if (buf->last_writer && !atomic_load(&buf->last_writer->done))
        oom |= tset_add(&want, buf->last_writer) < 0;
    for (size_t i = 0; (m & QV_W) && i < buf->nreaders; i++)
        if (!atomic_load(&buf->readers[i]->done))
            oom |= tset_add(&want, buf->readers[i]) < 0;
    /* From the holds of the calling thread, forward through the tasks
     * that wait for them. Under submit_mu no edge is added, and every
     * task reached waits for a hold, so none is done or freed meanwhile. */
    tstack next = {0}; /* reached, successors not yet visited */
    uint64_t self = qv__thread_serial();
    for (qv_buf *b = rt->held_list; b && want.n && !oom && !found; b = b->held_next) {
        if (b->holder != self)
            continue;
        int a = tset_add(&seen, b->host);
        found = tset_has(&want, b->host);
        oom = a < 0 || (a == 1 && !tstack_push(&next, b->host));
    }
    while (next.n && !found && !oom) {
        qv__task *p = next.v[--next.n];
        qv__spin_lock(&p->lock);
        for (unsigned i = 0; i < p->nsucc && !found && !oom; i++) {
            qv__task *s = p->succ[i];
            int a = tset_add(&seen, s);
            found = tset_has(&want, s);
            oom = a < 0 || (a == 1 && !tstack_push(&next, s));
        }
        qv__spin_unlock(&p->lock);
    }
    free(next.v);
    free(want.slot);
    free(seen.slot);
    return found; /* out of memory: not known, the wait goes on as before */
}

int qv__held_deadlock(qv_runtime *rt)
{
    int rc = 0;
    /* Only the caller's own holds: another thread's release ends the
     * wait (as another thread's mutex unlock would). A thread that
     * started after the holder ended holds nothing, though it may have
     * the holder's pthread_t (adversarial testing): serials. */
    uint64_t self = qv__thread_serial();
    for (qv_buf *b = rt->held_list; b && !rc; b = b->held_next) {
        if (b->holder != self)
            continue;
        unsigned n = awaiting_tasks(b);
        if (n)
            rc = qv__fail(QV_EDEADLK, "the wait would never end: buffer %p is acquired by "
                          "this thread and %u submitted task%s wait%s for its qv_buf_release",
                          b->ptr, n, n == 1 ? "" : "s", n == 1 ? "s" : "");
    }
    return rc;
}

/* Releases what the host still holds (shutdown: nothing else would). An
 * acquisition under way in another thread is waited for, then released:
 * the tasks it waits for end, unless they wait for another hold, which is
 * released first. */
void qv__release_all(qv_runtime *rt)
{
    for (;;) {
        qv_buf *held = NULL, *pending = NULL;
        pthread_mutex_lock(&rt->submit_mu);
        pthread_mutex_lock(&rt->reg_mu);
        for (qv_buf *b = rt->bufs; b && !held; b = b->next) {
            if (b->host && !atomic_load(&b->acquiring))
                held = b;
            else if (b->host && !pending)
                pending = b;
        }
        /* Counted as a host access: it may be released and unregistered
         * by its thread meanwhile (an unregister then waits for us). */
        if (!held && pending)
            atomic_fetch_add(&pending->hosts, 1);
        pthread_mutex_unlock(&rt->reg_mu);
        pthread_mutex_unlock(&rt->submit_mu);
        if (pending && !held) {
            qv__wait_until(rt, acquired, pending);
            if (hosts_done(pending))
                qv__wake_waiters(rt);
            continue;
        }
        if (!held)
            return;
        qv__log(1, "buffer %p was still acquired at shutdown; it is released", held->ptr);
        release(held, true, false);
    }
}
