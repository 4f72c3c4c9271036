/*
 * devq.c - accelerators: one driver thread per device, as StarPU's device
 * workers. The thread takes the tasks placed on its device in order, makes
 * their buffers valid there, launches, waits and completes them. When an
 * operation fails the task is re-run on the CPU (through the CPU queue) and
 * the failure is remembered: per (function, device) for a build error, for
 * the whole device for a device fault.
 *
 * The devices are those of the discovery pool (discovery/pool.c), in its
 * order and by its names, so that `quiver devices` and qv_device_get list
 * the same machine; devq_open.c opens them and takes the pool's rescans
 * in as events: a device that disappears takes no new task (its queued
 * ones are placed again, as after a fault). An FPGA runs a function only
 * when the catalog has a build of its kernel for the board, as the planner
 * decides; an emulated board's runs are costed by the board's model, and
 * copies by the link of the board file until copies are measured.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/catalog.h"
#include "core/devq.h"
#include "core/internal.h"
#include "core/part.h"
#include "core/thread.h"
#include "qvpart.h"
#include "trace/perfmodel.h"
#include "trace/recorder.h"

/* launch_here's code for a task whose input was lost meanwhile: not the
 * device's error, nor an API code. */
#define QV__INPUT_LOST (-1001)
/* and for one whose input's only valid copy, on another device, could not
 * be read: that device's error. */
#define QV__INPUT_UNREADABLE (-1002)

struct qv_device *qv__device(qv_runtime *rt, unsigned dev)
{
    return dev == 0 ? rt->cpu : rt->accel[dev - 1]->dev;
}

qv_class qv__devq_class(qv_runtime *rt, unsigned dev)
{
    return dev == 0 ? QV_CLASS_CPU : rt->accel[dev - 1]->dev->cls;
}

unsigned qv__devq_run_calls(qv_runtime *rt, unsigned dev)
{
    unsigned n = UINT_MAX;
    if (dev == 0 || dev > rt->naccel)
        return n;
    qv_device *d = rt->accel[dev - 1]->dev;
    if (d->ops->query(d, QV_QUERY_RUN_CALLS, &n, sizeof n) != 0)
        n = UINT_MAX;
    return n;
}

const char *qv__devq_name(qv_runtime *rt, unsigned dev)
{
    if (dev == 0)
        return rt->cpu_name[0] ? rt->cpu_name : "cpu";
    return dev <= rt->naccel ? rt->accel[dev - 1]->name : "?";
}

/* Whether q, out of service, may take a task as its probe now. */
static bool probe_due(const qv__devq *q)
{
    return !atomic_load_explicit(&q->probing, memory_order_relaxed) &&
           qv__now_ns() >= atomic_load_explicit(&q->retry_ns, memory_order_relaxed);
}

void qv__devq_tell_due(qv_runtime *rt)
{
    for (unsigned i = 0; i < rt->naccel; i++) {
        qv__devq *q = rt->accel[i];
        if (atomic_load_explicit(&q->healthy, memory_order_relaxed) ||
            atomic_load_explicit(&q->due_told, memory_order_relaxed) || !probe_due(q) ||
            atomic_exchange(&q->due_told, true))
            continue;
        char why[200];
        snprintf(why, sizeof why, "%s, out of service after a fault, may be back", q->name);
        qv__region_devices_changed(rt, why);
    }
}

bool qv__devq_plat_res(qv_runtime *rt, unsigned dev, qv_plat_res *out)
{
    qv__devq *q = rt->accel[dev - 1];
    /* A device whose probe is due is planned for: a plan that uses it
     * gives it the probe (its first task there), and is made again
     * whether or not it passes. */
    if ((!atomic_load(&q->healthy) && !probe_due(q)) || atomic_load(&q->gone))
        return false;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", q->name);
    snprintf(out->cls, sizeof out->cls, "%s", qv_class_name(q->dev->cls));
    out->units = 1; /* one driver thread runs one task at a time */
    out->speed = 1.0;
    out->cost_per_hour = q->cost_per_hour;
    double bps = (double)atomic_load_explicit(&q->bw_bps, memory_order_relaxed);
    out->bandwidth_gbs = bps > 0 ? bps / 1e9 : 4.0;
    out->latency_us = q->latency_us;
    out->shares_cpu =
        q->dev->on_host ? (int)(q->dev->host_units ? q->dev->host_units : 1) : 0;
    if (q->board) {
        /* The catalog's build rule (qv_catalog_holds) by the board. */
        snprintf(out->board_name, sizeof out->board_name, "%s", q->board->name);
        snprintf(out->board_platform, sizeof out->board_platform, "%s",
                 q->board->platform ? q->board->platform : "");
        out->board_emulation = q->board->emulation;
    }
    return true;
}

void qv__devq_count_bytes(qv_runtime *rt, unsigned dev, uint64_t to, uint64_t from)
{
    qv__devq *q = rt->accel[dev - 1];
    atomic_fetch_add_explicit(&q->bytes_to, to, memory_order_relaxed);
    atomic_fetch_add_explicit(&q->bytes_from, from, memory_order_relaxed);
}

/* Sets bits of q->fit[f->id]; under fit_mu. Dropped when out of memory
 * (then asked again). */
static void fit_set(qv__devq *q, const qv_func *f, unsigned bits)
{
    if (f->id >= q->nfit) {
        size_t n = f->id + 16;
        unsigned char *nb = realloc(q->fit, n);
        if (!nb)
            return;
        memset(nb + q->nfit, 0, n - q->nfit);
        q->fit = nb;
        q->nfit = n;
    }
    q->fit[f->id] |= (unsigned char)bits;
}

/* Whether the catalog has a build of f's kernel for q's board: the one rule
 * (qv__kernel_build) the devices load by and the planner decides with
 * (qv_catalog_holds). */
static bool has_build(const qv__devq *q, const qv_func *f)
{
    const qv__board *b = q->board;
    if (f->part) { /* a part: a build of each of its calls' kernels */
        for (unsigned j = 0; j < f->part->s.n; j++)
            if (!has_build(q, f->part->s.memb[j]))
                return false;
        return true;
    }
    const struct qv__kernel *k = f->kernel;
    return k && qv__kernel_build(k, b->name, b->platform, b->emulation);
}

/* qv__devq_usable, with f's qv_func_set_where mask (masked) or without. */
static bool usable(qv_runtime *rt, unsigned dev, const qv_func *f, bool masked)
{
    qv__devq *q = rt->accel[dev - 1];
    if ((!atomic_load_explicit(&q->healthy, memory_order_relaxed) && !probe_due(q)) ||
        atomic_load_explicit(&q->gone, memory_order_relaxed) ||
        !(masked ? qv__func_can(f, q->dev->cls) : (f->impls & (1u << q->dev->cls)) != 0))
        return false;
    pthread_mutex_lock(&q->fit_mu);
    unsigned fit = f->id < q->nfit ? q->fit[f->id] : 0;
    if (q->board && !(fit & FIT_CHECKED)) {
        fit |= FIT_CHECKED | (has_build(q, f) ? 0u : FIT_NO_BUILD);
        fit_set(q, f, fit);
        if (fit & FIT_NO_BUILD)
            qv__log(2, "%s takes no task of '%s': the catalog has no build of its "
                    "kernel for board %s", q->name, f->name, q->board->name);
    }
    pthread_mutex_unlock(&q->fit_mu);
    return !(fit & (FIT_BROKEN | FIT_NO_BUILD));
}

bool qv__devq_usable(qv_runtime *rt, unsigned dev, const qv_func *f)
{
    return usable(rt, dev, f, true);
}

bool qv__devq_usable_unmasked(qv_runtime *rt, unsigned dev, const qv_func *f)
{
    return usable(rt, dev, f, false);
}

/* f failed to build or load on q with implementation generation gen: no
 * more tries there, unless the implementation changed since (a setter
 * that cleared the mark meanwhile must not be undone: code review). True
 * when this marked it. */
static bool mark_broken(qv__devq *q, qv_func *f, unsigned gen)
{
    bool marked = false;
    pthread_mutex_lock(&q->fit_mu);
    if (atomic_load(&f->impl_gen) == gen) {
        marked = !(f->id < q->nfit && (q->fit[f->id] & FIT_BROKEN));
        fit_set(q, f, FIT_BROKEN);
    }
    pthread_mutex_unlock(&q->fit_mu);
    return marked;
}

void qv__devq_func_changed(qv_runtime *rt, const qv_func *f)
{
    for (unsigned i = 0; i < rt->naccel; i++) {
        qv__devq *q = rt->accel[i];
        pthread_mutex_lock(&q->fit_mu);
        if (f->id < q->nfit)
            q->fit[f->id] = 0; /* broken, and the catalog's builds: asked again */
        pthread_mutex_unlock(&q->fit_mu);
    }
}

uint64_t qv__devq_ready_ns(qv_runtime *rt, unsigned dev, uint64_t now)
{
    uint64_t r = atomic_load_explicit(&rt->accel[dev - 1]->ready_ns, memory_order_relaxed);
    return r > now ? r : now;
}

void qv__devq_add_backlog(qv_runtime *rt, unsigned dev, uint64_t now, uint64_t ns)
{
    qv__devq *q = rt->accel[dev - 1];
    uint64_t r = atomic_load_explicit(&q->ready_ns, memory_order_relaxed);
    uint64_t nr;
    do {
        nr = (r > now ? r : now) + ns;
    } while (!atomic_compare_exchange_weak(&q->ready_ns, &r, nr));
}

double qv__devq_launch_us(qv_runtime *rt, unsigned dev)
{
    qv__devq *q = rt->accel[dev - 1];
    return q->dev->ops->cls == QV_CLASS_REMOTE ? 2 * q->latency_us : 0;
}

double qv__devq_transfer_us(qv_runtime *rt, unsigned dev, size_t bytes)
{
    qv__devq *q = rt->accel[dev - 1];
    double bps = (double)atomic_load_explicit(&q->bw_bps, memory_order_relaxed);
    return q->latency_us + (double)bytes / bps * 1e6;
}

/* The devices whose tasks the calling thread keeps (qv__devq_hold_begin),
 * each at most once: whether its queue was run already (a task placed
 * there since wakes its driver), and the run time kept for it so far. */
#define HOLD_MAX 8
static _Thread_local struct {
    qv_runtime *rt;
    unsigned n;
    qv__devq *q[HOLD_MAX];
    bool done[HOLD_MAX];
    double us[HOLD_MAX];
    qv__devq *cur;  /* the device whose queue it runs now (help) */
    uint64_t until; /* it runs none past this time (qv__now_ns) */
} hold;

/* How long a holding thread runs tasks at most, all devices together, and
 * keeps for one device: the rest goes to the drivers. quiverd's socket
 * thread answers no heartbeat meanwhile, and a RUN may carry thousands of
 * short tasks. */
#define HOLD_BUDGET_NS 1000000u

/* A run kept for the thread that holds: at most this long, and with no
 * more buffer bytes than a driver's CPU task. Its thread answers nothing
 * else meanwhile. */
#define HOLD_MAX_US 200.0

/* t's run on q (µs) as predicted for this call, when q is an emulated
 * board that ran t's function lately: the board's model for t's own
 * arguments (a scalar may make a run of the same bytes long), times the
 * pace its runs kept (wall over model; a slowdown set on the board makes
 * it lower). -1 otherwise: the kernels of an XRT board or an OpenCL
 * device, and their waits, are not run on the holding thread. */
static double held_run_us(const qv__devq *q, const qv__task *t)
{
    const struct qv__kernel *k = t->func->kernel;
    if (q->dev->ops != &qv__emu_ops || !k || t->bytes > QV__ON_DRIVER_BYTES)
        return -1;
    double x = qv__func_emu_x(t->func, q->dev->cls, qv__now_ns());
    if (x <= 0)
        return -1;
    qv_call call = {t->ptr, t->size, t->nargs, 0};
    double us = qv__kernel_call_us(k, q->board ? q->board->clock_mhz : 0, &call) * x;
    return us <= HOLD_MAX_US ? us : -1;
}

/* Whether t, just queued on q under q->mu, stays there for the calling
 * thread to run (qv__devq_hold_end) instead of waking the driver: the
 * thread holds, the driver sleeps, q's queue was not run yet, t is short
 * and q's kept runs stay within the budget. */
static bool hold_keeps(qv__devq *q, const qv__task *t)
{
    if (hold.rt != q->rt || q->stop || !atomic_load_explicit(&q->healthy, memory_order_relaxed))
        return false;
    double us = held_run_us(q, t);
    if (us < 0)
        return false;
    if (hold.cur == q) /* a run of the queue this thread runs readied it */
        return true;
    if (!q->idle || q->helping)
        return false;
    unsigned i = 0;
    while (i < hold.n && hold.q[i] != q)
        i++;
    if (i == HOLD_MAX)
        return false;
    if (i == hold.n) {
        hold.q[hold.n] = q;
        hold.done[hold.n] = false;
        hold.us[hold.n++] = 0;
    }
    if (hold.done[i] || hold.us[i] + us > HOLD_BUDGET_NS / 1000.0)
        return false;
    hold.us[i] += us;
    return true;
}

/* The remote board whose queue holds the task the calling thread's
 * qv_submit placed there for itself to launch (qv__devq_keep_begin). */
static _Thread_local struct {
    qv_runtime *rt;
    qv__devq *q;
} kept;

void qv__devq_keep_begin(qv_runtime *rt)
{
    if (atomic_load_explicit(&rt->remote, memory_order_relaxed))
        kept.rt = rt;
}

/* Whether t, just queued on q under q->mu, stays there for the calling
 * thread to launch at keep_end: its driver sleeps with nothing else to do
 * and the board is in service. */
static bool keep_for_launch(qv__devq *q, const qv__task *t)
{
    if (kept.rt != q->rt || kept.q || q->depth < 2 || !q->idle || q->helping || q->stop ||
        q->stuck || q->head != t || q->nfly >= q->depth ||
        !atomic_load_explicit(&q->healthy, memory_order_relaxed) ||
        atomic_load_explicit(&q->probing, memory_order_relaxed) ||
        atomic_load_explicit(&q->gone, memory_order_relaxed))
        return false;
    kept.q = q;
    return true;
}

/* Wakes q's driver (under mu): it has work, or flights to land. */
static void rouse(qv__devq *q)
{
    q->idle = false;
    atomic_fetch_add_explicit(&q->pokes, 1, memory_order_release);
    pthread_cond_signal(&q->cv); /* the driver is its only waiter */
}

/* The helping thread is done with q's queue (under mu): the driver takes
 * what came meanwhile, and a reply seen meanwhile for a flight still
 * loose (no thread to land it). */
static void help_over(qv__devq *q)
{
    q->helping = false;
    bool due = q->reply_seen && atomic_load(&q->loose);
    q->reply_seen = false;
    if (q->head || q->stop || q->parked || q->pf_head || due)
        rouse(q);
}

/* t goes to another device than q's. */
static void elsewhere(qv__devq *q, qv__task *t)
{
    t->skip |= 1u << q->dev->id;
    qv__sched_push(q->rt, t);
}

void qv__devq_push(qv_runtime *rt, unsigned dev, qv__task *t)
{
    qv__devq *q = rt->accel[dev - 1];
    t->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->stuck) { /* its driver is in a hung run */
        pthread_mutex_unlock(&q->mu);
        elsewhere(q, t);
        return;
    }
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    if (hold_keeps(q, t) || keep_for_launch(q, t)) {
        pthread_mutex_unlock(&q->mu);
        return;
    }
    rouse(q);
    pthread_mutex_unlock(&q->mu);
}

/* How long a run may take before the device is judged hung: far beyond
 * what the model predicts, and never under 30 s (a first run, a slow
 * card) nor over 7 days (a model's absurd estimate, e.g. an emulated
 * board slowed 1e17 times, made a deadline past int64_t's range: an
 * undefined conversion, which gave no deadline at all; adversarial
 * testing). A run past it fails with QV_ETIMEDOUT and the task runs on
 * the CPU; the device is taken out of service. */
int64_t qv__devq_least_limit_ns = 30000000000ll;

static int64_t wait_limit_ns(const qv__task *t)
{
    double est = 0;
    for (unsigned c = 0; c < QV_CLASS_COUNT; c++) {
        double e;
        if (qv__perf_get(t->func->perf[c], t->bytes, &e, NULL, NULL) == 0 && e > est)
            est = e;
    }
    double ns = 100.0 * est * 1e3;
    const double lo = (double)qv__devq_least_limit_ns, hi = 7 * 86400e9;
    return (int64_t)(ns > hi ? hi : ns > lo ? ns : lo); /* also inf and NaN */
}

/* Makes t's copies on q's device and launches it, to end within limit
 * ns (wait_limit_ns): 0 with *ev the event to wait for (NULL: done), or
 * the error of the operation that failed. *board: whether the device has
 * a board clock, *b0 its reading after the copies, right before the
 * launch. */
static int launch_here(qv__devq *q, qv__task *t, int64_t limit, uint64_t *t0,
                       qv_event **ev, bool *board, double *b0)
{
    qv_runtime *rt = q->rt;
    unsigned id = q->dev->id;
    t->impl_gen = atomic_load(&t->func->impl_gen);
    if (q->dev->ops->prepare) {
        int rc = q->dev->ops->prepare(q->dev, t->func);
        if (rc)
            return rc;
    }
    /* A call whose buffers together never fit the device: refused before
     * any copy. Each fitting alone, the copies here, and the eviction of
     * others' to make room, were for nothing (adversarial testing). */
    if (q->mem) {
        uint64_t all = 0;
        for (unsigned j = 0; j < t->nbufs; j++)
            all += t->ubuf[j]->size;
        if (all > q->mem)
            return qv__fail(QV_E2BIG,
                            "its buffers, %llu bytes in all, never fit in the %llu "
                            "bytes of memory of %s",
                            (unsigned long long)all, (unsigned long long)q->mem, q->name);
    }
    if (q->dev->ops->settle) /* allocs answered later: in one round trip */
        for (unsigned j = 0; j < t->nbufs; j++)
            qv__coh_reserve(rt, t->ubuf[j], id);
    uint64_t c0 = qv__now_ns();
    size_t moved = 0;
    for (unsigned j = 0; j < t->nbufs; j++) {
        qv_buf *b = t->ubuf[j];
        unsigned before = atomic_load(&b->valid), from;
        int rc = qv__coh_acquire(rt, b, id, t->modes[j], &from);
        if (rc && from && from != id) {
            qv__fail(rc, "its input, buffer %p, cannot be copied to %s: %s", b->ptr,
                     q->name, qv_last_error());
            return QV__INPUT_UNREADABLE;
        }
        if (rc)
            return rc;
        if ((t->modes[j] & QV_R) && !(before & (1u << id)))
            moved += b->size;
    }
    /* A device that failed since drive's look may have lost an input's
     * only copy, leaving the host's older data valid (and copied here)
     * and the input marked: looked at again before the launch, as a CPU
     * task does (qv__task_execute). Not the device's doing. */
    unsigned lost;
    if (qv__task_stale_input(t, &lost))
        return QV__INPUT_LOST;
    uint64_t c1 = qv__now_ns();
    if (moved > 4096 && c1 > c0 && !q->emulated) {
        /* Learn the link: an exponential average of what copies achieve. */
        uint64_t bps = (uint64_t)((double)moved / ((double)(c1 - c0) / 1e9));
        uint64_t old = atomic_load(&q->bw_bps);
        atomic_store(&q->bw_bps,
                     atomic_exchange(&q->bw_measured, true) ? (old * 3 + bps) / 4 : bps);
    }
    qv_devmem *mem[QV_MAX_ARGS] = { 0 };
    for (unsigned i = 0; i < t->nargs; i++)
        if (t->func->args[i].is_buf) {
            qv_buf *b = NULL;
            for (unsigned j = 0; j < t->nbufs; j++)
                if (t->ubuf[j]->ptr == t->ptr[i] && t->ubuf[j]->size == t->size[i])
                    b = t->ubuf[j];
            mem[i] = b ? qv__coh_mem(b, id) : NULL;
        }
    qv_call call = { t->ptr, t->size, t->nargs, 0 };
    qv_launch l = { t->func, NULL, &call, mem, limit };
    *ev = NULL;
    *board = q->dev->ops->query(q->dev, QV_QUERY_BOARD_US, b0, sizeof *b0) == 0;
    *t0 = qv__now_ns();
    q->cur = t;
    q->cur_t0 = *t0;
    int rc = q->dev->ops->launch(q->dev, &l, ev);
    q->cur = NULL;
    return rc;
}

/* Appends t's buffers to out (n of max so far); false when they do not
 * fit. */
static bool add_bufs(const qv__task *t, const qv_buf **out, size_t *n, size_t max)
{
    for (unsigned j = 0; t && j < t->nbufs; j++) {
        if (*n == max)
            return false;
        out[(*n)++] = t->ubuf[j];
    }
    return true;
}

size_t qv__devq_busy_bufs(qv_runtime *rt, unsigned dev, const qv_buf **out, size_t max)
{
    qv__devq *q = rt->accel[dev - 1];
    size_t n = 0;
    pthread_mutex_lock(&q->mu);
    bool fit =
        add_bufs(atomic_load_explicit(&q->launching, memory_order_relaxed), out, &n,
                 max) &&
        add_bufs(atomic_load_explicit(&q->landing, memory_order_relaxed), out, &n, max);
    for (unsigned i = 0; fit && i < q->nfly; i++)
        fit = add_bufs(q->fly[i].t, out, &n, max);
    pthread_mutex_unlock(&q->mu);
    return fit ? n : SIZE_MAX;
}

static void written(qv__devq *q, qv__task *t)
{
    for (unsigned j = 0; j < t->nbufs; j++)
        if (t->modes[j] & QV_W)
            qv__coh_written(t->ubuf[j], q->dev->id);
}

/* Runs t on q's device; 0, or the error of the operation that failed. */
static int run_here(qv__devq *q, qv__task *t, uint64_t *t0, uint64_t *t1,
                    double *model_us, bool *started)
{
    qv_event *ev = NULL;
    /* An emulated board's clock, around the run alone (copies are costed
     * apart, as for every device). */
    double b0 = 0, b1 = 0;
    bool board = false;
    int64_t limit = wait_limit_ns(t);
    /* Its copies stay from the launch to the run's end: a full device
     * frees none of them (evict). */
    atomic_store_explicit(&q->launching, t, memory_order_relaxed);
    int rc = launch_here(q, t, limit, t0, &ev, &board, &b0);
    *started = rc == 0;
    if (!rc && ev)
        rc = q->dev->ops->wait(q->dev, ev, limit);
    *t1 = qv__now_ns();
    if (!rc && board &&
        q->dev->ops->query(q->dev, QV_QUERY_BOARD_US, &b1, sizeof b1) == 0)
        *model_us = b1 > b0 ? b1 - b0 : 0;
    if (!rc)
        written(q, t);
    atomic_store_explicit(&q->launching, NULL, memory_order_relaxed);
    return rc;
}

/* Waits for the oldest task in flight on q; 0 or the wait's error. Its
 * board time is the clock's move during this wait: a remote board's clock
 * moves when a run's reply is taken, and the driver takes them in turn. */
static int land_flight(qv__devq *q, struct flight *fp, uint64_t *t0, uint64_t *t1,
                       double *model_us);

static int land(qv__devq *q, qv__task **t, uint64_t *t0, uint64_t *t1, double *model_us)
{
    pthread_mutex_lock(&q->mu); /* a submitting thread may append (qv__devq_keep_end) */
    struct flight f = q->fly[0];
    q->nfly--;
    memmove(q->fly, q->fly + 1, q->nfly * sizeof *q->fly);
    atomic_store_explicit(&q->landing, f.t, memory_order_relaxed);
    pthread_mutex_unlock(&q->mu);
    int rc = land_flight(q, &f, t0, t1, model_us);
    atomic_store_explicit(&q->landing, NULL, memory_order_relaxed);
    *t = f.t;
    return rc;
}

/* land's wait for flight f, off q->fly already. */
static int land_flight(qv__devq *q, struct flight *fp, uint64_t *t0, uint64_t *t1,
                       double *model_us)
{
    struct flight f = *fp;
    if (f.loose) { /* its reply is this thread's to take now */
        atomic_fetch_sub(&q->loose, 1);
        atomic_fetch_sub(&q->rt->loose, 1);
    }
    *t0 = f.t0;
    double b0 = 0, b1 = 0;
    bool board = q->dev->ops->query(q->dev, QV_QUERY_BOARD_US, &b0, sizeof b0) == 0;
    int rc = f.ev ? q->dev->ops->wait(q->dev, f.ev, f.limit) : 0;
    *t1 = qv__now_ns();
    if (f.far)
        atomic_fetch_sub_explicit(&q->rt->far, 1, memory_order_relaxed);
    if (rc)
        return rc;
    q->fly_ns = q->fly_ns ? (3 * q->fly_ns + (*t1 - f.t0)) / 4 : *t1 - f.t0;
    if (board && q->dev->ops->query(q->dev, QV_QUERY_BOARD_US, &b1, sizeof b1) == 0)
        *model_us = b1 > b0 ? b1 - b0 : 0;
    written(q, f.t);
    return 0;
}

/* Drops p's references (the buffer's waiters may go on). */
static void pf_free(qv_runtime *rt, qv__pf *p)
{
    struct qv__snap *sn = p->b->snap; /* read while it is kept */
    if (qv__buf_use_done(rt, p->b))
        qv__wake_waiters(rt);
    qv__snap_idle(sn);
    qv__task_release(rt, p->t);
    free(p);
}

/* Drops the prefetches of list p. */
static void pf_free_list(qv_runtime *rt, qv__pf *p)
{
    for (qv__pf *next; p; p = next) {
        next = p->next;
        pf_free(rt, p);
    }
}

void qv__devq_prefetch(qv_runtime *rt, unsigned dev, qv__task *t, unsigned which)
{
    qv__devq *q = rt->accel[dev - 1];
    if (!atomic_load(&q->healthy) || atomic_load(&q->gone))
        return;
    for (unsigned j = 0; j < t->nbufs; j++) {
        qv_buf *b = t->ubuf[j];
        if (!(which & (1u << j)) || !b->size ||
            (atomic_load_explicit(&b->valid, memory_order_relaxed) & (1u << dev)))
            continue;
        qv__pf *p = malloc(sizeof *p);
        if (!p)
            return; /* only an optimisation: the task copies what it needs */
        p->next = NULL;
        p->t = t;
        p->b = b;
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->npf, 1, memory_order_relaxed);
        qv__snap_busy(b);
        pthread_mutex_lock(&q->mu);
        if (q->stuck) { /* no driver to make it (and it went out of service) */
            pthread_mutex_unlock(&q->mu);
            pf_free(rt, p);
            return;
        }
        if (q->pf_tail)
            q->pf_tail->next = p;
        else
            q->pf_head = p;
        q->pf_tail = p;
        atomic_fetch_add_explicit(&q->pokes, 1, memory_order_release);
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
}

/* Makes p's copy, unless its task ran already (the copy is then of no use,
 * and a later writer may be at work on the buffer). Before that, nothing
 * writes the buffer: its writers before the task were done when the task
 * was submitted (qv_submit picks those inputs), later ones wait for the
 * task, which reads it, and so does a host that acquires it to write.
 * Errors are left to the task's own copy. */
static void pf_run(qv__devq *q, qv__pf *p)
{
    if (!atomic_load(&p->t->done) && atomic_load(&q->healthy) && !atomic_load(&q->gone) &&
        qv__coh_acquire(q->rt, p->b, q->dev->id, QV_R, NULL) == 0)
        atomic_fetch_add(&q->prefetched, 1);
    pf_free(q->rt, p);
}

uint64_t qv__devq_prefetched(qv_runtime *rt, unsigned dev)
{
    return atomic_load(&rt->accel[dev - 1]->prefetched);
}

/* The next task for q's driver, or NULL when it stops (or, nowait, when
 * none is queued). Queued tasks come first; prefetches use the time the
 * driver would wait. */
static qv__task *pop(qv__devq *q, bool nowait)
{
    qv__task *t = NULL;
    bool spun = false;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->helping) { /* another thread runs the queue: one at a time */
            q->parked = true;
            pthread_cond_wait(&q->cv, &q->mu);
            q->parked = false;
            continue;
        }
        if ((t = q->head) != NULL) {
            q->head = t->next;
            if (!q->head)
                q->tail = NULL;
            break;
        }
        /* Flights a submitting thread launched while this one slept
         * (qv__devq_keep_end): landed by this thread, now that it is awake. */
        if ((nowait || q->nfly) && !q->stop)
            break;
        qv__pf *p = q->pf_head;
        if (q->stop) { /* what was not copied is dropped */
            q->pf_head = q->pf_tail = NULL;
            pthread_mutex_unlock(&q->mu);
            pf_free_list(q->rt, p);
            return NULL;
        }
        if (p) {
            if (!(q->pf_head = p->next))
                q->pf_tail = NULL;
            pthread_mutex_unlock(&q->mu);
            pf_run(q, p);
            pthread_mutex_lock(&q->mu);
            continue;
        }
        /* The program's next call may follow at once: spun for, unless
         * the program's thread launches it itself on an idle driver
         * (keep_for_launch). Awake, this thread took every next run of
         * a program that submits and waits in turn, and kept itself
         * awake: two threads to a remote board's run, and two more
         * system calls (bench_remote --rtt, in one process of four). */
        if (!spun && !q->dev->ops->ready) {
            spun = true;
            unsigned seen = atomic_load_explicit(&q->pokes, memory_order_relaxed);
            pthread_mutex_unlock(&q->mu);
            qv__spin_change(&q->pokes, seen, q->rt->opts.spin_us);
            pthread_mutex_lock(&q->mu);
            continue;
        }
        q->idle = true;
        pthread_cond_wait(&q->cv, &q->mu);
        q->idle = false;
    }
    pthread_mutex_unlock(&q->mu);
    return t;
}

/* Whether rc is the device's fault, not the task's: no memory for it, a
 * call that does not fit, a function the device cannot run. */
static bool device_fault(int rc)
{
    return rc != QV_ENOMEM && rc != QV_E2BIG && rc != QV_ENOTSUP && rc != QV_EFORMAT &&
           rc != QV_EMISMATCH && rc != QV_EBUSY && rc != QV__INPUT_LOST &&
           rc != QV__INPUT_UNREADABLE;
}

/* A run of q's outlived its deadline, and has ended since: q, out of
 * service without a probe for it, gets one now. Called by both sides
 * (the backend's thread when the run ends, the driver once q is out of
 * service), each after its own store: one of them sees the other's
 * (sequentially consistent), and the exchange lets only one act. */
void qv__devq_settle_ended(qv__devq *q)
{
    if (atomic_load(&q->healthy) || atomic_load(&q->retry_ns) != UINT64_MAX ||
        !atomic_exchange(&q->run_ended, false))
        return;
    /* The time first, then "not told", as retry_later. */
    atomic_store(&q->retry_ns, qv__now_ns());
    atomic_store(&q->due_told, false);
    qv__log(1, "%s: the run that outlived its deadline ended; the device gets a probe",
            q->name);
}

/* q failed with rc: when it gets a probe (driver thread). A run that hung
 * may still hold the device (a probe would hang as long again), and a
 * remote board's link tells when its daemon answers again. */
static void retry_later(qv__devq *q, int rc)
{
    if (rc == QV_ETIMEDOUT || q->dev->ops == &qv__remote_ops) {
        atomic_store(&q->retry_ns, UINT64_MAX);
        return;
    }
    uint64_t now = qv__now_ns();
    /* The wait starts again from 1 s only after a good while in service
     * (RETRY_MAX_MS): a device that fails every few tasks waits longer
     * each time instead of coming back every second. */
    if (!q->retry_ms || (q->back_ns && now - q->back_ns > RETRY_MAX_MS * 1000000ull))
        q->retry_ms = RETRY_MIN_MS;
    q->back_ns = 0;
    /* The time first, then "not told": qv__devq_tell_due must not see the
     * old, past time as due. */
    atomic_store(&q->retry_ns, now + (uint64_t)q->retry_ms * 1000000u);
    atomic_store(&q->due_told, false);
    q->retry_ms = q->retry_ms * 2 < RETRY_MAX_MS ? q->retry_ms * 2 : RETRY_MAX_MS;
}

/* The probe t of q, out of service, ended with rc (driver thread): q is
 * back in service when it ran t; after a fault of its own it waits again,
 * longer; after a fault of t's (no memory, a function it cannot run) the
 * next task probes. */
static void probed(qv__devq *q, qv__task *t, int rc)
{
    if (rc == 0) {
        q->back_ns = qv__now_ns();
        atomic_store(&q->run_ended, false); /* of an older run: not this one's */
        atomic_store(&q->retry_ns, UINT64_MAX); /* no probe is due while in service */
        atomic_store(&q->probing, false);
        if (!atomic_exchange(&q->healthy, true)) {
            char why[300];
            snprintf(why, sizeof why, "%s ran '%s' after its fault", q->name,
                     t->func->name);
            qv__log(1, "%s: it is back in service", why);
            qv__region_devices_changed(q->rt, why); /* plans may use it again */
        }
        return;
    }
    if (device_fault(rc)) {
        uint64_t now = qv__now_ns();
        retry_later(q, rc);
        uint64_t at = atomic_load(&q->retry_ns);
        char why[300];
        snprintf(why, sizeof why, "%s failed its probe (%s)", q->name, qv_strerror(rc));
        if (at == UINT64_MAX)
            qv__log(1, "%s; it stays out of service", why);
        else
            qv__log(2, "%s; it stays out of service, the next probe in %llu ms", why,
                    (unsigned long long)((at - now) / 1000000u));
        qv__region_devices_changed(q->rt, why); /* plans made for the probe */
        if (rc == QV_ETIMEDOUT)
            qv__devq_settle_ended(q);
    }
    atomic_store(&q->probing, false);
}

/* q's driver thread as a CPU worker (q->drv), made at its first use
 * (rt->nworkers is known by then); NULL when out of memory. Driver
 * thread. */
static qv__worker *driver_worker(qv__devq *q)
{
    qv__worker *w = atomic_load_explicit(&q->drv, memory_order_relaxed);
    if (w || !(w = aligned_alloc(_Alignof(qv__worker), sizeof *w)))
        return w;
    memset(w, 0, sizeof *w);
    w->rt = q->rt;
    w->idx = q->rt->nworkers + q->dev->id - 1; /* its track in the graph */
    w->thread = pthread_self();
    atomic_store_explicit(&q->drv, w, memory_order_release);
    return w;
}

/* next, a CPU task that a task of q's readied and that it may run
 * (qv__on_driver): run here, unless a worker started spinning meanwhile
 * (then queued for the workers). Driver thread. Before, quiverd answered
 * each run from a worker woken for it: 15-20 us a wake-up on a VM
 * (bench_remote). */
static void after_ran(qv__devq *q, qv__task *next)
{
    qv__worker *w;
    if (qv__on_driver(q->rt, next) && (w = driver_worker(q)) != NULL)
        qv__run_on_driver(q->rt, w, next);
    else
        qv__cpu_push(q->rt, next);
}

/* What follows t's run on q, rc: completed, or placed again elsewhere;
 * started: the device was running it when it failed (so the copies it
 * writes there are not to be trusted). */
static void ran(qv__devq *q, qv__task *t, int rc, uint64_t t0, uint64_t t1, double model_us,
                bool started)
{
    qv_runtime *rt = q->rt;
    if (atomic_load(&q->probing))
        probed(q, t, rc);
    if (rc == 0) {
        atomic_fetch_add(&q->tasks, 1);
        if (model_us >= 0 && t->node)
            ((qv__node *)t->node)->board_us = (float)model_us;
        t->model_us = model_us;
        qv__task *next = QV__NEXT_ON_DRIVER;
        qv__task_complete(rt, t, q->dev->id, rt->nworkers + q->dev->id - 1, t0, t1, &next);
        if (next != QV__NEXT_ON_DRIVER)
            after_ran(q, next);
    } else {
        atomic_fetch_add(&q->failed, 1);
        free(t->why);
        t->why = strdup(qv_last_error()); /* the backends name the device */
        t->skip |= 1u << q->dev->id;
        /* Say what happens next, truthfully: without a CPU
         * implementation there may be no other device. */
        const char *then = qv__func_cpu(t->func) ? "runs elsewhere"
                                        : "runs elsewhere if another device can run it";
        bool drop = false;
        /* Launched before the device's last new connection: the refusal
         * was the old daemon's, and the new one may run it. */
        bool refused = rc == QV_ENOTSUP || rc == QV_EFORMAT || rc == QV_EMISMATCH;
        if (refused && (t0 ? t0 : qv__now_ns()) < atomic_load(&q->restored_ns)) {
            qv__log(2, "%s cannot run '%s': %s (its daemon since replaced); it %s",
                    q->name, t->func->name, qv_last_error(), then);
        } else if (refused) {
            bool marked = mark_broken(q, t->func, t->impl_gen);
            /* Not "never": a new implementation (qv_func_set_fpga, ...)
             * clears the mark, and so does a remote board's new daemon. */
            qv__log(1,
                    "%s cannot run '%s': %s; it %s, and no call of it goes there again "
                    "until its implementation changes%s",
                    q->name, t->func->name, qv_last_error(), then,
                    qv__devq_class(rt, q->dev->id) == QV_CLASS_REMOTE
                        ? " or the board's daemon connects again"
                        : "");
            /* Plans that put f here are made again without it: a replayed
             * region whose plan did missed its guard at every entry after,
             * for good, and said nothing (adversarial testing). */
            if (marked) {
                char why[300];
                snprintf(why, sizeof why, "%s cannot run '%.100s'", q->name,
                         t->func->name);
                qv__region_devices_changed(rt, why);
            }
        } else if (device_fault(rc) && atomic_load(&q->healthy)) {
            /* (The other tasks in flight with it fail as well: said once.)
             * Its probe's time is set before it leaves service, so that
             * nothing takes an older time as due. */
            char why[300];
            snprintf(why, sizeof why, "%s failed (%s: %s)", q->name, qv_strerror(rc),
                     qv_last_error());
            retry_later(q, rc);
            atomic_store(&q->healthy, false);
            drop = atomic_load(&q->retry_ns) != UINT64_MAX;
            qv__log(1, "%s; it is taken out of service and '%s' %s", why, t->func->name,
                    then);
            if (rc == QV_ETIMEDOUT)
                qv__devq_settle_ended(q);        /* the run may have ended meanwhile */
            qv__region_devices_changed(rt, why); /* plans are made without it */
        } else if (rc == QV_ENOMEM) {
            qv__log(2, "%s: no memory for '%s'; it %s", q->name, t->func->name, then);
        } else if (rc == QV_EBUSY) { /* a daemon at its --max-tasks */
            qv__log(2, "%s is busy (%s); '%s' %s", q->name, qv_last_error(), t->func->name,
                    then);
        } else if (rc == QV_E2BIG) {
            qv__log(2, "%s: this call of '%s' does not fit it (%s); it %s", q->name,
                    t->func->name, qv_last_error(), then);
        }
        /* The buffers still hold their last valid copies: a failed task
         * marked nothing written; but a run that failed midway may have
         * changed the copies here that it writes in place. */
        char why[300];
        bool trusted = !started || qv__coh_untrust(t, q->dev->id, why, sizeof why);
        /* Then its copies go: a device that comes back (a board reset)
         * may have lost them, and it is probed with nothing of before. */
        if (drop) {
            /* The tasks that run again elsewhere without having started
             * here (t, when its launch failed, and those queued behind
             * it): a copy they are to replace comes home first. Not one
             * that ran: the copies it writes here may be half-written (a
             * hung emulated run may still be writing them). The queue's
             * tasks stay there meanwhile: only this thread takes them
             * (help() runs it only while the driver sleeps); a hang's
             * hand-over took them off already, and they count as before. */
            pthread_mutex_lock(&q->mu);
            size_t nq = 0;
            for (qv__task *x = q->head; x; x = x->next)
                nq++;
            qv__task **failed = malloc((nq + 1) * sizeof *failed);
            size_t nfailed = 0;
            if (failed) {
                if (!started)
                    failed[nfailed++] = t;
                for (qv__task *x = q->head; x; x = x->next)
                    failed[nfailed++] = x;
            }
            pthread_mutex_unlock(&q->mu);
            qv__coh_drop_device(rt, q->dev->id, failed, nfailed);
            free(failed);
        }
        if (!trusted) {
            free(t->why);
            t->why = strdup(why);
            qv__task_fail(rt, t, QV_EIO, rt->nworkers + q->dev->id - 1, NULL);
        } else {
            qv__sched_push(rt, t); /* placed again, away from here */
        }
    }
    /* Idle now: the device is free from this moment on. */
    pthread_mutex_lock(&q->mu);
    if (!q->head && !q->nfly)
        atomic_store(&q->ready_ns, qv__now_ns());
    pthread_mutex_unlock(&q->mu);
}

/* Takes the oldest task in flight on q off it. */
static void land_one(qv__devq *q)
{
    qv__task *t;
    uint64_t t0 = 0, t1 = 0;
    double model_us = -1;
    int rc = land(q, &t, &t0, &t1, &model_us);
    ran(q, t, rc, t0, t1, model_us, true);
}

/* t did not launch: an input's only copy was lost with a device that
 * failed since drive looked (launch_here). It fails as a task on an
 * input never written does; the device stays in service. */
static void input_lost(qv__devq *q, qv__task *t)
{
    qv_runtime *rt = q->rt;
    if (atomic_load(&q->probing)) /* not the device's: the next task probes */
        probed(q, t, QV__INPUT_LOST);
    if (!qv__task_fail_stale(rt, t, rt->nworkers + q->dev->id - 1, NULL))
        qv__sched_push(rt, t); /* written again meanwhile: placed again */
}

/* t did not launch: an input's only valid copy is on another device, and
 * reading it failed there, again and again (coherence.c, to_host). The
 * fault is that device's: q stays in service (it was taken out before,
 * and the device holding the copy left alone). t fails with the reason:
 * it would fail so on any device but that one, and the copy stays there,
 * valid, for a later reader or the program's wait to try again. */
static void input_unreadable(qv__devq *q, qv__task *t)
{
    qv_runtime *rt = q->rt;
    if (atomic_load(&q->probing)) /* not the device's: the next task probes */
        probed(q, t, QV__INPUT_UNREADABLE);
    qv__log(1, "%s: '%s' does not run: %s", q->name, t->func->name, qv_last_error());
    free(t->why);
    t->why = strdup(qv_last_error());
    qv__task_fail(rt, t, QV_EIO, rt->nworkers + q->dev->id - 1, NULL);
}

/* Runs t, taken off q's queue, on q's device (depth 1) and completes it
 * or places it again: the driver's part, on the driver or on a thread that
 * held it. QV__HANDED_OVER: back from a run that qv__devq_stuck failed
 * over (t is not ours any more), else 0. */
static int drive(qv__devq *q, qv__task *t)
{
    qv_runtime *rt = q->rt;
    /* not the device's doing: it stays in service */
    if (qv__task_fail_stale(rt, t, rt->nworkers + q->dev->id - 1, NULL))
        return 0;
    uint64_t t0 = 0, t1 = 0;
    double model_us = -1;
    bool started = false;
    int rc = run_here(q, t, &t0, &t1, &model_us, &started);
    if (rc == QV__HANDED_OVER)
        return rc;
    if (rc == QV__INPUT_LOST) {
        input_lost(q, t);
        return 0;
    }
    if (rc == QV__INPUT_UNREADABLE) {
        input_unreadable(q, t);
        return 0;
    }
    ran(q, t, rc, t0, t1, model_us, started);
    return 0;
}

/* The calling thread runs q's queue in place of its sleeping driver, while
 * the next task is short and the device in service (qv__devq_hold_end).
 * The driver, woken meanwhile, waits (pop). */
static void help(qv__devq *q)
{
    pthread_mutex_lock(&q->mu);
    if (!q->idle || q->helping || !q->head) { /* awake, it takes them */
        pthread_mutex_unlock(&q->mu);
        return;
    }
    q->helping = true;
    hold.cur = q;
    qv__task *t;
    while ((t = q->head) != NULL && !q->stop && !q->stuck && atomic_load(&q->healthy) &&
           !atomic_load(&q->gone) && held_run_us(q, t) >= 0 && qv__now_ns() < hold.until) {
        if (!(q->head = t->next))
            q->tail = NULL;
        pthread_mutex_unlock(&q->mu);
        int rc = drive(q, t);
        pthread_mutex_lock(&q->mu);
        if (rc == QV__HANDED_OVER) /* as the driver: the device is ours again */
            q->stuck = q->handed = false;
    }
    hold.cur = NULL;
    help_over(q); /* what is left, the driver's */
    pthread_mutex_unlock(&q->mu);
}

bool qv__devq_keeps(const qv_runtime *rt)
{
    return hold.rt == rt && hold.n > 0;
}

void qv__devq_hold_begin(qv_runtime *rt)
{
    hold.rt = rt;
    hold.n = 0;
}

void qv__devq_hold_end(qv_runtime *rt)
{
    /* The runs may ready short tasks of other devices, held as well. */
    hold.until = qv__now_ns() + HOLD_BUDGET_NS;
    for (unsigned i = 0; i < hold.n; i++) {
        hold.done[i] = true; /* what is placed there after its run wakes its driver */
        help(hold.q[i]);
    }
    (void)rt;
    hold.rt = NULL;
    hold.n = 0;
}

/* Launches t (taken off q's queue) on q, a remote board, and leaves it in
 * flight; loose: by a submitting thread, while the driver sleeps. Driver
 * thread, or a thread helping in its place (q->helping). */
static void launch_flight(qv__devq *q, qv__task *t, bool loose)
{
    qv_runtime *rt = q->rt;
    /* not the device's doing: it stays in service */
    if (qv__task_fail_stale(rt, t, rt->nworkers + q->dev->id - 1, NULL))
        return;
    uint64_t t0 = 0;
    /* Launched now, waited for when the board has depth of them or
     * nothing else to start. */
    qv_event *ev = NULL;
    double b0;
    bool board;
    int64_t limit = wait_limit_ns(t);
    /* Counted before the launch: the program's wait may begin while the
     * request goes out; and loose before it too, so that a reply taken
     * meanwhile finds it (qv__devq_replied). */
    bool far = q->fly_ns > (uint64_t)rt->opts.spin_us * 1000u;
    if (far)
        atomic_fetch_add_explicit(&rt->far, 1, memory_order_relaxed);
    if (loose) {
        atomic_fetch_add(&q->loose, 1);
        atomic_fetch_add(&rt->loose, 1);
    }
    atomic_store_explicit(&q->launching, t, memory_order_relaxed); /* then in fly */
    int rc = launch_here(q, t, limit, &t0, &ev, &board, &b0);
    atomic_store_explicit(&q->launching, NULL, memory_order_relaxed);
    if (rc) {
        if (far)
            atomic_fetch_sub_explicit(&rt->far, 1, memory_order_relaxed);
        if (loose) {
            atomic_fetch_sub(&q->loose, 1);
            atomic_fetch_sub(&rt->loose, 1);
        }
        if (rc == QV__INPUT_LOST)
            input_lost(q, t);
        else if (rc == QV__INPUT_UNREADABLE)
            input_unreadable(q, t);
        else
            ran(q, t, rc, t0, qv__now_ns(), -1, false);
        return;
    }
    pthread_mutex_lock(&q->mu);
    q->fly[q->nfly++] = (struct flight){t, ev, t0, limit, far, loose};
    pthread_mutex_unlock(&q->mu);
}

/* Whether t's launch on q makes no round trip before its RUN: its
 * function loaded on the daemon of now (no LOAD), every buffer of t
 * allocated there (no ALLOC: the device's `ready`), and every input valid
 * there or on the host (no copy home from another device first; a WRITE
 * from the host waits for nothing). The valid bits may change meanwhile:
 * this only decides which thread launches. The caller holds q's queue
 * (helping): the driver is parked. */
static bool launch_ready(qv__devq *q, const qv__task *t)
{
    struct qv_device *d = q->dev;
    unsigned here = 1u | 1u << d->id;
    bool ready = d->ops->ready && d->ops->ready(d, t->func, NULL);
    for (unsigned j = 0; ready && j < t->nbufs; j++)
        ready = qv__coh_ready(t->ubuf[j], d->id, t->func) &&
                (!(t->modes[j] & QV_R) || t->ubuf[j]->size == 0 ||
                 (atomic_load(&t->ubuf[j]->valid) & here));
    return ready;
}

void qv__devq_keep_end(qv_runtime *rt)
{
    qv__devq *q = kept.q;
    kept.rt = NULL;
    kept.q = NULL;
    if (!q)
        return;
    (void)rt;
    pthread_mutex_lock(&q->mu);
    qv__task *t = q->head;
    /* Woken meanwhile (another task, a stop), the driver has it; gone or
     * out of service meanwhile, the driver places it elsewhere. */
    if (!t || !q->idle || q->helping || q->stop || q->stuck || q->nfly >= q->depth ||
        !atomic_load(&q->healthy) || atomic_load(&q->probing) || atomic_load(&q->gone)) {
        if (t && q->idle && !q->helping)
            rouse(q);
        pthread_mutex_unlock(&q->mu);
        return;
    }
    q->helping = true; /* the driver, woken meanwhile, waits (pop) */
    pthread_mutex_unlock(&q->mu);
    bool ready = launch_ready(q, t);
    pthread_mutex_lock(&q->mu);
    if (ready) { /* still the head: only a helping thread takes it */
        if (!(q->head = t->next))
            q->tail = NULL;
        pthread_mutex_unlock(&q->mu);
        launch_flight(q, t, true);
        pthread_mutex_lock(&q->mu);
    } /* else still queued: help_over wakes the driver for it */
    help_over(q);
    pthread_mutex_unlock(&q->mu);
}

/* Whether every task in flight is a loose flight: then a wait can end
 * only with one of their replies, and taking them costs it nothing. With
 * other work in flight (a CPU task it may be waiting for), a reply held
 * back would hold that wait as long (review: a wait for a 5 ms CPU task
 * took a remote run's 150 ms). */
static bool only_loose(qv_runtime *rt)
{
    return qv__inflight(rt) <= atomic_load(&rt->loose);
}

void qv__devq_land(qv_runtime *rt, bool (*done)(qv_runtime *, void *), void *arg)
{
    if (qv__current_worker(rt) || qv__task_context(rt) || qv__devq_keeps(rt))
        return;
    for (unsigned i = 0; i < rt->naccel && atomic_load(&rt->loose); i++) {
        qv__devq *q = rt->accel[i];
        if (!atomic_load(&q->loose))
            continue;
        /* Tests: the task this wait is for ends here, after the wait
         * looked (test_remote, waits_do_not_land_unrelated_runs_late). */
        (void)qv__fault_hit("land", QV_FAULT_WAIT);
        pthread_mutex_lock(&q->mu);
        /* Only while its driver sleeps: awake, it lands them itself. */
        bool asleep = q->idle && !q->helping && !q->stop && q->nfly;
        if (asleep && !only_loose(rt)) {
            /* Other work in flight, which this wait may be for: the
             * driver lands them, woken now. Left asleep, it heard of their
             * replies only once the link's thread read them, a few ms
             * later, and a chain of runs stalled there at each step
             * (bench_loop --pays, eager on a remote board: 6.1 ms an entry
             * against 2.5). */
            rouse(q);
        } else if (asleep) {
            /* One at a time, while the wait is on and nothing else came:
             * a task queued meanwhile is the driver's (help_over), and
             * its launch should not wait for every flight to land. */
            q->helping = true;
            /* done looked at after only_loose: a task this wait was for
             * that ended since the wait looked is out of the count, and
             * its buffers' users went before that. Looked at first, it
             * said not done while the task ended, and the wait took a
             * reply held 150 ms (a loaded host). */
            while (q->nfly && !q->head && !q->parked && !done(rt, arg)) {
                pthread_mutex_unlock(&q->mu);
                land_one(q);
                bool more = only_loose(rt) && !done(rt, arg);
                pthread_mutex_lock(&q->mu);
                if (!more)
                    break;
            }
            help_over(q);
        }
        pthread_mutex_unlock(&q->mu);
    }
}

void qv__devq_replied(qv_runtime *rt, unsigned dev)
{
    if (dev > rt->naccel) /* its runtime takes it in (open_one_with) */
        return;
    qv__devq *q = rt->accel[dev - 1];
    if (!atomic_load(&q->loose))
        return;
    pthread_mutex_lock(&q->mu);
    if (q->helping) {
        q->reply_seen = true; /* help_over looks */
    } else if (q->idle && atomic_load(&q->loose)) {
        rouse(q);
    }
    pthread_mutex_unlock(&q->mu);
}

void *qv__devq_driver(void *arg)
{
    qv__devq *q = arg;
    qv__thread_name("dev", (int)q->dev->id);
    qv__task *t;
    for (;;) {
        if (!(t = pop(q, q->nfly > 0))) {
            if (!q->nfly)
                break;
            land_one(q); /* nothing new: the oldest in flight */
            continue;
        }
        if (atomic_load(&q->gone) ||
            (!atomic_load(&q->healthy) &&
             !(probe_due(q) && !atomic_exchange(&q->probing, true)))) {
            /* Disappeared or failed while it waited here: placed again,
             * elsewhere (a failed device's queue drains without a try
             * each, and without a warning each); but the first task after
             * the wait of a failed device is its probe. */
            elsewhere(q, t);
            continue;
        }
        if (q->depth > 1) {
            /* A submitting thread may have launched depth of them. */
            while (q->nfly >= q->depth)
                land_one(q);
            launch_flight(q, t, false);
            if (q->nfly >= q->depth)
                land_one(q);
            continue;
        }
        if (drive(q, t) == QV__HANDED_OVER) {
            /* Back from a run qv__devq_stuck failed over: t is not ours
             * any more; after a close, neither is the runtime. */
            pthread_mutex_lock(&q->mu);
            q->stuck = q->handed = false;
            bool stop = q->stop;
            if (stop) { /* left behind by the close: it may free q now */
                q->exited = true;
                pthread_cond_broadcast(&q->done_cv);
            }
            pthread_mutex_unlock(&q->mu);
            if (stop)
                return NULL;
            continue;
        }
    }
    pthread_mutex_lock(&q->mu);
    q->exited = true;
    pthread_cond_broadcast(&q->done_cv);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

void qv__devq_stuck(qv_runtime *rt, unsigned dev)
{
    qv__devq *q = rt->accel[dev - 1];
    pthread_mutex_lock(&q->mu);
    q->stuck = true;
    qv__task *t = q->cur, *queued = q->head;
    qv__pf *p = q->pf_head;
    q->head = q->tail = NULL;
    q->pf_head = q->pf_tail = NULL;
    pthread_mutex_unlock(&q->mu);
    qv__fault_hit("handover", QV_FAULT_WAIT); /* tests: a delay, the device still in service */
    /* The prefetches first: their tasks may be the last ones a shutdown
     * waits for, after which nothing of the runtime may be touched. */
    pf_free_list(rt, p);
    /* The driver's part, played here: as after a wait that timed out. */
    if (t)
        ran(q, t, QV_ETIMEDOUT, q->cur_t0, qv__now_ns(), -1, true);
    for (qv__task *next; queued; queued = next) {
        next = queued->next;
        elsewhere(q, queued);
    }
    /* Done: a close may go on (it waited, as the tasks failed over above
     * may have let a shutdown's wait end before this returned). */
    pthread_mutex_lock(&q->mu);
    q->handed = true;
    pthread_cond_broadcast(&q->done_cv);
    pthread_mutex_unlock(&q->mu);
}
