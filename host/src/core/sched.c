/*
 * sched.c - the CPU worker pool: ready queues, workers that spin briefly
 * when work is likely and then park, and the waits of qv_wait_all and
 * qv_buf_wait.
 *
 * Why spin then park: on the machines we target a blocking wake-up costs
 * about 30 µs while a spinning hand-off costs well under 1 µs, but workers
 * that spin forever burn a core each (StarPU's do). A worker spins for
 * opts.spin_us after its last task, yielding now and then so an
 * oversubscribed submitter still runs, then sleeps on a condition variable.
 *
 * Two kinds of ready queue. Eager tasks go to one shared FIFO under q_mu.
 * A replayed plan names the worker of each CPU task (t->worker): those go
 * to that worker's own queue, a bounded lock-free ring (Vyukov's MPMC
 * queue: one CAS per push or pop), so that the submitter and each worker
 * meet on that worker's ring only instead of all three on one mutex. The
 * plan's worker is a hint, and no task waits behind a busy worker while
 * another is idle: when the plan's worker is not spinning (it runs a
 * task) the task goes to a nearby worker that spins, if any (a chain the
 * plan keeps on one worker thus overlaps one task's completion with the
 * next one's run, as the shared queue did); a worker takes from its own
 * ring, then the shared queue (first, one time in 32, so a stream of
 * replayed tasks cannot hold eager ones back), then steals from the other
 * rings. A full ring sends the task to the shared queue.
 *
 * No lost wake-ups: a parking worker increments nparked and then checks
 * every queue under park_mu; a pusher increments qlen (shared queue) or
 * moves the ring's tail, both sequentially consistent read-modify-writes,
 * and then reads nparked, signalling under park_mu. Both sides are
 * sequentially consistent, so at least one of them sees the other. A ring
 * counts as non-empty from its tail's move on, before the cell is filled:
 * the parking worker then spins instead of sleeping. A pusher to a ring
 * whose owner spins (w->spinning, read after the push) wakes no one: the
 * owner clears the flag before it parks (and then sees the push) or before
 * it runs a task it took, and then wakes a parked worker itself when its
 * ring still holds tasks. Waiters in qv__wait follow the same pattern
 * with nwaiters against the counts of finished tasks (epochs, buffers).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/region.h"
#include "trace/recorder.h"
#include "devices/device.h"
#include "core/thread.h"

static _Thread_local qv__worker *tls_worker;

qv__worker *qv__current_worker(const qv_runtime *rt)
{
    qv__worker *w = tls_worker;
    return w && w->rt == rt ? w : NULL;
}

bool qv__in_task(void)
{
    return tls_worker != NULL;
}

/* The program's code that a device thread calls for a task (an OpenCL
 * range function): a wait there waits on that task, as inside one. */
static _Thread_local const qv_runtime *tls_callback;

void qv__callback_begin(const qv_runtime *rt)
{
    tls_callback = rt;
}

void qv__callback_end(void)
{
    tls_callback = NULL;
}

bool qv__task_context(const qv_runtime *rt)
{
    return qv__current_worker(rt) || (rt && tls_callback == rt);
}

bool qv__on_driver(const qv_runtime *rt, const qv__task *t)
{
    if (!t->func->on_driver || t->bytes > QV__ON_DRIVER_BYTES)
        return false;
    /* A spinning worker takes it without a wake-up. */
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (atomic_load_explicit(&rt->workers[i].spinning, memory_order_relaxed))
            return false;
    return true;
}

void qv__run_on_driver(qv_runtime *rt, qv__worker *w, qv__task *t)
{
    /* In a task, as on a worker: what the function calls (the graph's
     * readers, waits) must not wait for the task itself. */
    qv__worker *was = tls_worker;
    tls_worker = w;
    qv__task *next = qv__task_execute(rt, w, t);
    tls_worker = was;
    if (next)
        qv__cpu_push(rt, next);
}

void qv__sched_push(qv_runtime *rt, qv__task *t)
{
    unsigned d = qv__place(rt, t);
    if (d)
        qv__devq_push(rt, d, t);
    else
        qv__cpu_push(rt, t);
}

/* ---- each worker's ring ------------------------------------------------ */

/* Cells per worker: a replayed entry's CPU tasks per worker that fit
 * before the submitter falls back to the shared queue. A power of two. */
#define QV__RQ_CAP 4096u

/* A cell holds a task when seq == its position + 1, and is free for the
 * push at position p when seq == p. */
struct qv__rcell {
    atomic_size_t seq;
    qv__task     *t;
};

/* Pushes t on w's ring; false when the ring is full. Any thread. */
static bool ring_push(qv__worker *w, qv__task *t)
{
    size_t pos = atomic_load_explicit(&w->rq_tail, memory_order_relaxed);
    for (;;) {
        struct qv__rcell *c = &w->rq[pos & (QV__RQ_CAP - 1)];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)(seq - pos);
        if (dif == 0) {
            /* seq_cst: the parking protocol (see the top of the file). */
            if (atomic_compare_exchange_weak_explicit(&w->rq_tail, &pos, pos + 1,
                                                      memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                c->t = t;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return true;
            }
        } else if (dif < 0) {
            return false;
        } else {
            pos = atomic_load_explicit(&w->rq_tail, memory_order_relaxed);
        }
    }
}

/* Takes the oldest task of w's ring, or NULL when it is empty (or its
 * oldest cell is still being filled). Any thread. */
static qv__task *ring_pop(qv__worker *w)
{
    size_t pos = atomic_load_explicit(&w->rq_head, memory_order_relaxed);
    for (;;) {
        struct qv__rcell *c = &w->rq[pos & (QV__RQ_CAP - 1)];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)(seq - (pos + 1));
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&w->rq_head, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                qv__task *t = c->t;
                atomic_store_explicit(&c->seq, pos + QV__RQ_CAP, memory_order_release);
                return t;
            }
        } else if (dif < 0) {
            return NULL;
        } else {
            pos = atomic_load_explicit(&w->rq_head, memory_order_relaxed);
        }
    }
}

/* Tasks on w's ring, counting those whose cells are still being filled.
 * The head is read after the tail: when it passed the tail read, the
 * tasks pushed up to then are all taken and the ring counts as empty. */
static size_t ring_len(qv__worker *w)
{
    size_t tail = atomic_load_explicit(&w->rq_tail, memory_order_seq_cst);
    size_t head = atomic_load_explicit(&w->rq_head, memory_order_seq_cst);
    return tail - head <= QV__RQ_CAP ? tail - head : 0;
}

/* ---- the queues together ----------------------------------------------- */

static void wake_one(qv_runtime *rt)
{
    if (atomic_load_explicit(&rt->nparked, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&rt->park_mu);
        pthread_cond_signal(&rt->park_cv);
        pthread_mutex_unlock(&rt->park_mu);
    }
}

void qv__cpu_push(qv_runtime *rt, qv__task *t)
{
    unsigned w = t->worker;
    if (w) {
        t->worker = 0;
        qv__worker *o = w <= rt->nworkers ? &rt->workers[w - 1] : NULL;
        if (o && !atomic_load_explicit(&o->spinning, memory_order_relaxed)) {
            /* The plan's worker is busy: a nearby one that spins starts
             * the task now (a chain the plan keeps on one worker then
             * overlaps one task's completion with the next one's run). */
            unsigned n = rt->nworkers < 4 ? rt->nworkers : 4;
            for (unsigned i = 1; i < n; i++) {
                qv__worker *v = &rt->workers[(w - 1 + i) % rt->nworkers];
                if (atomic_load_explicit(&v->spinning, memory_order_relaxed)) {
                    o = v;
                    break;
                }
            }
        }
        if (o && ring_push(o, t)) {
            /* A spinning owner takes it without a wake-up, or passes the
             * wake-up on when it takes another task first (unspin). */
            if (!atomic_load_explicit(&o->spinning, memory_order_seq_cst))
                wake_one(rt);
            return;
        }
    }
    t->next = NULL;
    pthread_mutex_lock(&rt->q_mu);
    if (rt->q_tail)
        rt->q_tail->next = t;
    else
        rt->q_head = t;
    rt->q_tail = t;
    atomic_fetch_add_explicit(&rt->qlen, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&rt->q_mu);
    wake_one(rt);
}

size_t qv__cpu_queued(qv_runtime *rt)
{
    size_t n = atomic_load_explicit(&rt->qlen, memory_order_relaxed);
    for (unsigned i = 0; i < rt->nworkers; i++)
        n += ring_len(&rt->workers[i]);
    return n;
}

/* Whether every queue is empty; under park_mu, after nparked grew. */
static bool all_empty(qv_runtime *rt)
{
    if (atomic_load_explicit(&rt->qlen, memory_order_seq_cst))
        return false;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (ring_len(&rt->workers[i]))
            return false;
    return true;
}

static qv__task *pop_shared(qv_runtime *rt)
{
    if (atomic_load_explicit(&rt->qlen, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&rt->q_mu);
    qv__task *t = rt->q_head;
    if (t) {
        rt->q_head = t->next;
        if (!rt->q_head)
            rt->q_tail = NULL;
        atomic_fetch_sub_explicit(&rt->qlen, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&rt->q_mu);
    return t;
}

/* A task for worker w: its own ring's, the shared queue's, or one stolen
 * from another worker's ring; NULL when all are empty. */
static qv__task *pop(qv_runtime *rt, qv__worker *w)
{
    qv__task *t;
    if (++w->npop % 32 == 0 && (t = pop_shared(rt)) != NULL)
        return t;
    if ((t = ring_pop(w)) != NULL || (t = pop_shared(rt)) != NULL)
        return t;
    for (unsigned i = 1; i < rt->nworkers; i++) {
        unsigned v = w->idx + i < rt->nworkers ? w->idx + i : w->idx + i - rt->nworkers;
        if ((t = ring_pop(&rt->workers[v])) != NULL)
            return t;
    }
    w->npop--; /* nothing taken */
    return NULL;
}

/* w stops spinning. A pusher that saw it spinning did not wake anyone:
 * when w's ring still holds tasks, a parked worker is woken for them, so
 * that none waits behind the task w runs now. */
static void unspin(qv_runtime *rt, qv__worker *w)
{
    atomic_store_explicit(&w->spinning, false, memory_order_seq_cst);
    if (ring_len(w) && atomic_load_explicit(&rt->nparked, memory_order_seq_cst) > 0)
        wake_one(rt);
}

/* Spins for spin_us, then parks; returns a task, or NULL when stopping. */
static qv__task *idle(qv_runtime *rt, qv__worker *w)
{
    qv__task_cache_flush(); /* the submitters may want them now */
    uint64_t deadline = qv__now_ns() + (uint64_t)rt->opts.spin_us * 1000u;
    atomic_store_explicit(&w->spinning, true, memory_order_seq_cst);
    for (unsigned i = 1;; i++) {
        qv__task *t = pop(rt, w);
        if (t) {
            unspin(rt, w);
            return t;
        }
        if (atomic_load_explicit(&rt->stop, memory_order_acquire)) {
            atomic_store_explicit(&w->spinning, false, memory_order_relaxed);
            return NULL;
        }
        if (!rt->opts.spin_us) /* no spin: one look, then park */
            break;
        /* The core given up every 32 turns of the loop, not 256:
         * on 2 cores two spinning workers left the submitter a third of
         * its core: a replayed entry of 2000 independent tasks took
         * 0.37-0.41 us a task with 256 turns, 0.20-0.26 with 32
         * (bench_loop --overhead, builds taking turns; the signal chain's
         * replayed entries 0.30 ms, 0.22). A yield costs a spinner that
         * has a core of its own one system call. */
        if (i % 32 == 0) {
            if (qv__now_ns() >= deadline)
                break;
            sched_yield();
        } else {
            qv__cpu_relax();
        }
    }
    atomic_store_explicit(&w->spinning, false, memory_order_seq_cst);
    atomic_fetch_add_explicit(&rt->nparked, 1, memory_order_seq_cst);
    pthread_mutex_lock(&rt->park_mu);
    while (all_empty(rt) && !atomic_load_explicit(&rt->stop, memory_order_acquire))
        pthread_cond_wait(&rt->park_cv, &rt->park_mu);
    pthread_mutex_unlock(&rt->park_mu);
    atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_relaxed);
    return pop(rt, w);
}

static void *worker_main(void *arg)
{
    qv__worker *w = arg;
    qv_runtime *rt = w->rt;
    tls_worker = w;
    qv__thread_name("cpu", (int)w->idx);
    qv__task_cache_begin(rt);
    if (rt->opts.pin)
        w->pinned = qv__cpu_bind_self(rt->cpu, w->idx);
    qv__task *t = NULL;
    for (;;) {
        if (!t)
            t = pop(rt, w);
        if (!t)
            t = idle(rt, w);
        if (!t) {
            if (atomic_load_explicit(&rt->stop, memory_order_acquire))
                break;
            continue;
        }
        t = qv__task_execute(rt, w, t);
    }
    qv__task_cache_flush();
    return NULL;
}

int qv__sched_start(qv_runtime *rt)
{
    /* Aligned: each worker's counters sit on a cache line of their own.
     * The rings follow the workers in the same allocation, which the
     * runtime frees. */
    size_t wbytes = rt->nworkers * sizeof *rt->workers;
    size_t rbytes = (size_t)rt->nworkers * QV__RQ_CAP * sizeof(struct qv__rcell);
    rt->workers = aligned_alloc(64, wbytes + rbytes);
    if (!rt->workers)
        return QV_ENOMEM;
    memset(rt->workers, 0, wbytes);
    struct qv__rcell *cells = (struct qv__rcell *)((char *)rt->workers + wbytes);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        qv__worker *w = &rt->workers[i];
        w->rt = rt;
        w->idx = i;
        w->rq = cells + (size_t)i * QV__RQ_CAP;
        for (size_t k = 0; k < QV__RQ_CAP; k++) {
            atomic_init(&w->rq[k].seq, k);
            w->rq[k].t = NULL;
        }
        atomic_init(&w->rq_tail, 0);
        atomic_init(&w->spinning, false);
        atomic_init(&w->rq_head, 0);
    }
    for (unsigned i = 0; i < rt->nworkers; i++) {
        qv__worker *w = &rt->workers[i];
        int e = qv__thread_start(&w->thread, NULL, worker_main, w);
        if (e) {
            rt->nworkers = i; /* stop what started */
            qv__sched_stop(rt);
            return -e;
        }
    }
    return 0;
}

void qv__sched_stop(qv_runtime *rt)
{
    atomic_store_explicit(&rt->stop, true, memory_order_release);
    pthread_mutex_lock(&rt->park_mu);
    pthread_cond_broadcast(&rt->park_cv);
    pthread_mutex_unlock(&rt->park_mu);
    for (unsigned i = 0; i < rt->nworkers; i++)
        pthread_join(rt->workers[i].thread, NULL);
}

void qv__wake_waiters(qv_runtime *rt)
{
    if (atomic_load_explicit(&rt->nwaiters, memory_order_seq_cst) == 0)
        return;
    pthread_mutex_lock(&rt->wait_mu);
    pthread_cond_broadcast(&rt->wait_cv);
    pthread_mutex_unlock(&rt->wait_mu);
}

/* Whether a spin may see the wait end: not when every task in flight is
 * on a board whose runs outlast a spin (a remote board's round trip).
 * Spinning there only took a core from ZeroMQ's threads, and on loopback
 * from the daemon's. */
static bool spin_pays(qv_runtime *rt)
{
    unsigned far = atomic_load_explicit(&rt->far, memory_order_relaxed);
    return !far || qv__inflight(rt) > far;
}

/* A waiting thread spins spin_us however long its last waits took (but
 * not where spin_pays says no spin can see the wait end). One
 * that slept at once after two waits longer than two spins took 1.5x as
 * long an entry of bench/loop --pays's signal chain, eager and planned
 * alike, on this project's 2-core VM: a sleeping core wakes slowly, and
 * the whole chain's wake-ups waited for it. It gained 30 us of a remote
 * board's 220 us round trip. */
void qv__wait_until(qv_runtime *rt, bool (*done)(qv_runtime *, void *), void *arg)
{
    /* Remote runs the submitting threads launched: this thread takes
     * their replies and completes them, rather than sleep until a driver
     * woken for them does and wakes it. */
    if (atomic_load_explicit(&rt->loose, memory_order_relaxed) && !done(rt, arg))
        qv__devq_land(rt, done, arg);
    uint64_t deadline = qv__now_ns() + (uint64_t)rt->opts.spin_us * 1000u;
    bool spin = rt->opts.spin_us && spin_pays(rt);
    for (unsigned i = 1; spin && !done(rt, arg); i++) {
        /* Looked at again, and often (its first load is all it costs
         * while no board is far): the driver may launch the task just
         * submitted while this wait begins. */
        if (i % 32 == 0 && !spin_pays(rt))
            break;
        if (i % 256 == 0) {
            if (qv__now_ns() >= deadline)
                break;
            sched_yield();
        } else {
            qv__cpu_relax();
        }
    }
    if (done(rt, arg))
        return;
    atomic_fetch_add_explicit(&rt->nwaiters, 1, memory_order_seq_cst);
    pthread_mutex_lock(&rt->wait_mu);
    while (!done(rt, arg))
        pthread_cond_wait(&rt->wait_cv, &rt->wait_mu);
    pthread_mutex_unlock(&rt->wait_mu);
    atomic_fetch_sub_explicit(&rt->nwaiters, 1, memory_order_relaxed);
}

size_t qv__inflight(qv_runtime *rt)
{
    size_t n = 0;
    for (unsigned s = 0; s < QV__EPOCHS; s++)
        n += (size_t)qv__live(rt, s);
    return n;
}

static bool users_done(qv_runtime *rt, void *arg)
{
    qv_buf *buf = arg;
    return buf ? qv__buf_users(buf) == 0 && atomic_load(&buf->hosts) == 0
               : qv__inflight(rt) == 0;
}

int qv__wait(qv_runtime *rt, qv_buf *buf)
{
    qv__wait_until(rt, users_done, buf);
    return 0;
}

/* Whether the tasks in flight came down to the low water mark, or a
 * submission named a held buffer since *(unsigned *)arg was read (a task
 * that waits for a release: the wait must end, qv__backpressure). */
static bool below_low_water(qv_runtime *rt, void *arg)
{
    return qv__inflight(rt) <= rt->low_water ||
           atomic_load_explicit(&rt->held_used, memory_order_seq_cst) != *(unsigned *)arg;
}

/* Tasks finished, all epochs. */
static uint64_t fin_sum(qv_runtime *rt)
{
    uint64_t n = 0;
    for (unsigned s = 0; s < QV__EPOCHS; s++)
        n += atomic_load_explicit(&rt->fin[s], memory_order_seq_cst);
    return n;
}

/* p waits with submit_mu let go, from now on: the handles the caller was
 * given stay allocated until it checks them (buf.c). Under submit_mu. */
static void park_begin(qv_runtime *rt, struct qv__park *p)
{
    p->seq = rt->nunlinked;
    p->prev = NULL;
    p->next = rt->parks;
    if (rt->parks)
        rt->parks->prev = p;
    rt->parks = p;
}

static void park_end(qv_runtime *rt, struct qv__park *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        rt->parks = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

void qv__backpressure(qv_runtime *rt)
{
    /* A task that submits must never wait for the tasks it holds back, nor
     * any thread while a task in flight waits for the release of a buffer
     * the host holds: that release may be what this thread was to do
     * next, and a wait that began before such a task came ends when it
     * does (task.c bumps held_used). A buffer held with no task waiting
     * for it holds nothing back: the tasks in flight drain without its
     * release (it once turned backpressure off for every thread, and a
     * thread polling with acquire and release let others queue 1.3 GB of
     * tasks in 30 s: adversarial testing). Nor a thread that keeps tasks
     * to run itself (qv__devq_hold_begin): they run only after. The
     * estimate costs a subtraction; the completions are summed only when
     * it reaches the limit, and decided on under submit_mu, each
     * submission in turn, so that many threads cannot all pass at once. */
    while (rt->nsubmitted - rt->fin_seen >= rt->max_inflight && !rt->shut) {
        rt->fin_seen = fin_sum(rt);
        if (rt->nsubmitted - rt->fin_seen < rt->max_inflight || qv__current_worker(rt) ||
            qv__held_awaited(rt) || qv__devq_keeps(rt))
            return;
        /* Counted before the wait registers (qv__task_finish looks at nbp
         * once it sees a waiter), and before submit_mu is let go: a
         * submission on a held buffer made after it sees nbp and bumps
         * held_used. */
        unsigned seen = atomic_load_explicit(&rt->held_used, memory_order_relaxed);
        atomic_fetch_add_explicit(&rt->nbp, 1, memory_order_seq_cst);
        struct qv__park p;
        park_begin(rt, &p);
        pthread_mutex_unlock(&rt->submit_mu);
        qv__wait_until(rt, below_low_water, &seen);
        atomic_fetch_sub_explicit(&rt->nbp, 1, memory_order_relaxed);
        pthread_mutex_lock(&rt->submit_mu);
        park_end(rt, &p);
    }
}

/* Whether no wait waits for a slot to close its epoch, or a submission
 * named a held buffer since *(unsigned *)arg was read. */
static bool hold_over(qv_runtime *rt, void *arg)
{
    return !atomic_load_explicit(&rt->ring_waits, memory_order_seq_cst) ||
           atomic_load_explicit(&rt->held_used, memory_order_seq_cst) != *(unsigned *)arg;
}

void qv__ring_hold(qv_runtime *rt)
{
    /* Until every such wait has closed its epoch: one closing lets the
     * epoch move on while another, which began before this submission,
     * has yet to close the next. Not on a thread that keeps tasks to run
     * itself (qv__devq_hold_begin): a wait may wait for them. Not while a
     * task waits for a buffer's release: a task of an epoch the waits
     * wait for may be that one, and a buffer may be released by another
     * thread than the one that acquired it (adversarial testing: held
     * back, that thread hung).
     * A task that starts waiting for a release meanwhile (a nested
     * submission) ends the wait too (review: it hung). */
    while (atomic_load_explicit(&rt->ring_waits, memory_order_relaxed) && !rt->shut &&
           !qv__current_worker(rt) && !qv__held_awaited(rt) && !qv__devq_keeps(rt)) {
        unsigned seen = atomic_load_explicit(&rt->held_used, memory_order_relaxed);
        struct qv__park p;
        park_begin(rt, &p);
        pthread_mutex_unlock(&rt->submit_mu);
        qv__wait_until(rt, hold_over, &seen);
        pthread_mutex_lock(&rt->submit_mu);
        park_end(rt, &p);
    }
}

/* For a wait with the epoch ring full: the epoch it found open, and the
 * slot the next epoch would take. */
struct ring_wait {
    uint64_t upto;
    unsigned next;
};

/* Whether that slot has no task in flight, or another wait closed the
 * epoch meanwhile (the slot may then be the open epoch's: code review). */
static bool slot_free(qv_runtime *rt, void *arg)
{
    const struct ring_wait *w = arg;
    return !qv__live(rt, w->next) ||
           atomic_load_explicit(&rt->epoch, memory_order_seq_cst) != w->upto;
}

/* Whether every task of the epochs up to *(uint64_t *)arg is done. Epochs
 * only advance onto an empty slot, so the live ones always lie in the last
 * QV__EPOCHS and each slot counts one of them. */
static bool epochs_done(qv_runtime *rt, void *arg)
{
    uint64_t upto = *(const uint64_t *)arg;
    uint64_t cur = atomic_load_explicit(&rt->epoch, memory_order_seq_cst);
    uint64_t lo = cur >= QV__EPOCHS ? cur - QV__EPOCHS + 1 : 0;
    for (uint64_t e = lo; e <= upto; e++)
        if (qv__live(rt, (unsigned)(e % QV__EPOCHS)))
            return false;
    return true;
}

/* The first failure among the epochs up to `upto`, forgotten once told. */
static int take_failures(qv_runtime *rt, uint64_t upto)
{
    int err = 0;
    unsigned n = 0;
    uint64_t first = UINT64_MAX;
    char msg[512] = "";
    pthread_mutex_lock(&rt->fail_mu);
    for (unsigned s = 0; s < QV__EPOCHS; s++) {
        if (!rt->nfail[s] || rt->fail_epoch[s] > upto)
            continue;
        n += rt->nfail[s];
        if (rt->fail_epoch[s] < first) {
            first = rt->fail_epoch[s];
            err = rt->fail_err[s];
            memcpy(msg, rt->fail_msg[s], sizeof msg);
        }
        rt->nfail[s] = 0;
    }
    pthread_mutex_unlock(&rt->fail_mu);
    if (!n)
        return 0;
    if (n == 1)
        return qv__fail(err, "%s", msg);
    return qv__fail(err, "%u tasks did not run; the first: %s", n, msg);
}

QV_API int qv_wait_all(qv_runtime *rt)
{
    if (!qv__rt_ok(rt))
        return qv__fail(QV_EINVAL, "qv_wait_all: %s", qv__rt_why(rt));
    if (qv__task_context(rt) && qv__inflight(rt) > 0)
        return qv__fail(QV_EDEADLK, "qv_wait_all called from a task: it would wait on itself");
    qv__region_flush(rt); /* this thread's held chain is submitted work */
    /* Close the current epoch, so that what others submit from now on is
     * not waited for; an empty one too (left open, it took in other
     * threads' later tasks: the wait grew with them, and hung when one of
     * them waited for a buffer the caller holds). When the ring is full
     * (QV__EPOCHS waits, each with tasks still running), first wait for
     * the oldest epoch, which this wait covers anyway, to free its slot,
     * and hold back other threads' submissions meanwhile (qv__ring_hold):
     * left open, the epoch took in later tasks, and 63 threads in
     * qv_wait_all made the 64th wait for a task that waited for it
     * (adversarial testing). */
    uint64_t upto;
    unsigned ahead;
    bool holding = false; /* counted in ring_waits */
    for (;;) {
        pthread_mutex_lock(&rt->submit_mu);
        upto = atomic_load_explicit(&rt->epoch, memory_order_relaxed);
        unsigned next = (unsigned)((upto + 1) % QV__EPOCHS);
        bool closed = !qv__live(rt, next);
        if (closed)
            atomic_store(&rt->epoch, upto + 1);
        int rc = atomic_load(&rt->nheld) ? qv__held_deadlock(rt) : 0;
        ahead = rt->rec ? qv__rec_ahead_wanted(rt->rec) : 0;
        bool was_holding = holding;
        holding = !closed && !rc;
        if (holding != was_holding)
            atomic_fetch_add_explicit(&rt->ring_waits, holding ? 1u : (unsigned)-1,
                                      memory_order_seq_cst);
        pthread_mutex_unlock(&rt->submit_mu);
        if (was_holding && !holding)
            qv__wake_waiters(rt); /* the submissions held back */
        if (rc)
            return rc;
        if (closed)
            break;
        struct ring_wait w = {upto, next};
        qv__wait_until(rt, slot_free, &w);
    }
    /* The recorder's next chunks, made by the background thread rather
     * than by the submission that opens them (12-25 % of a replayed
     * region's time in its first million tasks), nor here: made while the
     * caller waited, a 2 MiB chunk of fresh memory (0.2-5 ms on a VM)
     * held up the program's next entry. */
    if (ahead)
        qv__loop_ahead(rt, ahead);
    /* From a task of another runtime: not a wait that never ends. */
    int slot, rc = qv__xwait_enter(rt, upto, &slot);
    if (rc)
        return rc;
    qv__wait_until(rt, epochs_done, &upto);
    qv__xwait_leave(slot);
    qv__region_waited(rt);
    return take_failures(rt, upto);
}
