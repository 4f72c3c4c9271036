/*
 * devq.c - accelerators: one driver thread per device, as StarPU's device
 * workers. The thread takes the tasks placed on its device in order, makes
 * their buffers valid there, launches, waits and completes them. When an
 * operation fails the task is re-run on the CPU (through the CPU queue) and
 * the failure is remembered: per (function, device) for a build error, for
 * the whole device for a device fault.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/board.h"
#include "config/policy.h"
#include "core/internal.h"
#include "devices/device.h"
#include "trace/perfmodel.h"
#include "trace/recorder.h"

struct qv__devq {
    struct qv_device *dev;
    qv_runtime       *rt;
    pthread_t         thread;
    bool              started;
    pthread_mutex_t   mu;
    pthread_cond_t    cv;
    qv__task         *head, *tail;
    bool              stop;
    atomic_bool       healthy;
    _Atomic uint64_t  ready_ns;  /* predicted time its queue drains */
    unsigned char    *broken;    /* per function id: cannot run here */
    size_t            nbroken;
    pthread_mutex_t   broken_mu;
    /* Link estimate: EWMA of measured transfers. */
    _Atomic uint64_t  bw_bps;    /* bytes per second */
    atomic_bool       bw_measured;
    _Atomic uint64_t  tasks, failed, bytes_to, bytes_from;
    char              name[128];
};

struct qv_device *qv__device(qv_runtime *rt, unsigned dev)
{
    return dev == 0 ? rt->cpu : rt->accel[dev - 1]->dev;
}

qv_class qv__devq_class(qv_runtime *rt, unsigned dev)
{
    return dev == 0 ? QV_CLASS_CPU : rt->accel[dev - 1]->dev->cls;
}

void qv__devq_count_bytes(qv_runtime *rt, unsigned dev, uint64_t to, uint64_t from)
{
    qv__devq *q = rt->accel[dev - 1];
    atomic_fetch_add_explicit(&q->bytes_to, to, memory_order_relaxed);
    atomic_fetch_add_explicit(&q->bytes_from, from, memory_order_relaxed);
}

bool qv__devq_usable(qv_runtime *rt, unsigned dev, const qv_func *f)
{
    qv__devq *q = rt->accel[dev - 1];
    if (!atomic_load_explicit(&q->healthy, memory_order_relaxed) ||
        !qv__func_can(f, q->dev->cls))
        return false;
    pthread_mutex_lock(&q->broken_mu);
    bool broken = f->id < q->nbroken && q->broken[f->id];
    pthread_mutex_unlock(&q->broken_mu);
    return !broken;
}

static void mark_broken(qv__devq *q, const qv_func *f)
{
    pthread_mutex_lock(&q->broken_mu);
    if (f->id >= q->nbroken) {
        size_t n = f->id + 16;
        unsigned char *nb = realloc(q->broken, n);
        if (nb) {
            memset(nb + q->nbroken, 0, n - q->nbroken);
            q->broken = nb;
            q->nbroken = n;
        }
    }
    if (f->id < q->nbroken)
        q->broken[f->id] = 1;
    pthread_mutex_unlock(&q->broken_mu);
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

double qv__devq_transfer_us(qv_runtime *rt, unsigned dev, size_t bytes)
{
    qv__devq *q = rt->accel[dev - 1];
    double bps = (double)atomic_load_explicit(&q->bw_bps, memory_order_relaxed);
    return 10.0 + (double)bytes / bps * 1e6; /* 10 µs per transfer, then bandwidth */
}

void qv__devq_push(qv_runtime *rt, unsigned dev, qv__task *t)
{
    qv__devq *q = rt->accel[dev - 1];
    t->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* How long a run may take before the device is judged hung: far beyond
 * what the model predicts, and never under 30 s (a first run, a slow
 * card). A run past it fails with QV_ETIMEDOUT and the task runs on the
 * CPU; the device is taken out of service. */
static int64_t wait_limit_ns(const qv__task *t)
{
    double est = 0;
    for (unsigned c = 0; c < QV_CLASS_COUNT; c++) {
        double e;
        if (qv__perf_get(t->func->perf[c], t->bytes, &e, NULL, NULL) == 0 && e > est)
            est = e;
    }
    double ns = 100.0 * est * 1e3;
    return (int64_t)(ns > 30e9 ? ns : 30e9);
}

/* Runs t on q's device; 0, or the error of the operation that failed. */
static int run_here(qv__devq *q, qv__task *t, uint64_t *t0, uint64_t *t1)
{
    qv_runtime *rt = q->rt;
    unsigned id = q->dev->id;
    if (q->dev->ops->prepare) {
        int rc = q->dev->ops->prepare(q->dev, t->func);
        if (rc)
            return rc;
    }
    uint64_t c0 = qv__now_ns();
    size_t moved = 0;
    for (unsigned j = 0; j < t->nbufs; j++) {
        qv_buf *b = t->ubuf[j];
        unsigned before = atomic_load(&b->valid);
        int rc = qv__coh_acquire(rt, b, id, t->modes[j]);
        if (rc)
            return rc;
        if ((t->modes[j] & QV_R) && !(before & (1u << id)))
            moved += b->size;
    }
    uint64_t c1 = qv__now_ns();
    if (moved > 4096 && c1 > c0) {
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
    qv_launch l = { t->func, NULL, &call, mem };
    qv_event *ev = NULL;
    *t0 = qv__now_ns();
    int rc = q->dev->ops->launch(q->dev, &l, &ev);
    if (!rc && ev)
        rc = q->dev->ops->wait(q->dev, ev, wait_limit_ns(t));
    *t1 = qv__now_ns();
    if (rc)
        return rc;
    for (unsigned j = 0; j < t->nbufs; j++)
        if (t->modes[j] & QV_W)
            qv__coh_written(t->ubuf[j], id);
    return 0;
}

static qv__task *pop(qv__devq *q)
{
    pthread_mutex_lock(&q->mu);
    while (!q->head && !q->stop)
        pthread_cond_wait(&q->cv, &q->mu);
    qv__task *t = q->head;
    if (t) {
        q->head = t->next;
        if (!q->head)
            q->tail = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    return t;
}

static void *driver_main(void *arg)
{
    qv__devq *q = arg;
    qv_runtime *rt = q->rt;
    qv__task *t;
    while ((t = pop(q)) != NULL) {
        uint64_t t0 = 0, t1 = 0;
        double b0 = 0, b1 = 0;
        bool board = q->dev->ops->query(q->dev, QV_QUERY_BOARD_US, &b0, sizeof b0) == 0;
        int rc = run_here(q, t, &t0, &t1);
        if (rc == 0) {
            atomic_fetch_add(&q->tasks, 1);
            if (board && t->node &&
                q->dev->ops->query(q->dev, QV_QUERY_BOARD_US, &b1, sizeof b1) == 0)
                ((qv__node *)t->node)->board_us = (float)(b1 - b0);
            qv__task_complete(rt, t, q->dev->id, rt->nworkers + q->dev->id - 1, t0, t1,
                              NULL);
        } else {
            atomic_fetch_add(&q->failed, 1);
            free(t->why);
            t->why = strdup(qv_last_error()); /* the backends name the device */
            t->skip |= 1u << q->dev->id;
            /* Say what happens next, truthfully: without a CPU
             * implementation there may be no other device. */
            const char *then = t->func->cpu ? "runs elsewhere"
                                            : "runs elsewhere if another device can run it";
            if (rc == QV_ENOTSUP || rc == QV_EFORMAT || rc == QV_EMISMATCH) {
                mark_broken(q, t->func);
                qv__log(1, "%s cannot run '%s': %s; it %s, and never here again", q->name,
                        t->func->name, qv_last_error(), then);
            } else if (rc != QV_ENOMEM) {
                atomic_store(&q->healthy, false);
                qv__log(1, "%s failed (%s: %s); it is taken out of service and '%s' %s",
                        q->name, qv_strerror(rc), qv_last_error(), t->func->name, then);
            } else {
                qv__log(2, "%s: no memory for '%s'; it %s", q->name, t->func->name, then);
            }
            /* The buffers still hold their last valid copies: a failed
             * task marked nothing written. Placed again, away from here. */
            qv__sched_push(rt, t);
        }
        /* Idle now: the device is free from this moment on. */
        pthread_mutex_lock(&q->mu);
        if (!q->head)
            atomic_store(&q->ready_ns, qv__now_ns());
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

static int open_one(qv_runtime *rt, const struct qv_device_ops *ops, unsigned idx,
                    const void *board)
{
    if (rt->naccel + 1 >= QV__MAX_DEVICES)
        return QV_E2BIG;
    qv__devq *q = calloc(1, sizeof *q);
    struct qv_device *d = calloc(1, ops->dev_size);
    if (!q || !d) {
        free(q);
        free(d);
        return QV_ENOMEM;
    }
    d->ops = ops;
    d->rt = rt;
    d->cls = ops->cls;
    d->idx = idx;
    d->id = rt->naccel + 1;
    int rc = ops->open(d, idx, board);
    if (rc) {
        free(q);
        free(d);
        return rc;
    }
    q->dev = d;
    q->rt = rt;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    pthread_mutex_init(&q->broken_mu, NULL);
    atomic_init(&q->healthy, true);
    atomic_init(&q->bw_bps, (uint64_t)4e9); /* until measured: 4 GB/s */
    if (ops->query(d, QV_QUERY_NAME, q->name, sizeof q->name) != 0)
        snprintf(q->name, sizeof q->name, "%s %u", ops->name, idx);
    rt->accel[rt->naccel++] = q;
    rt->accel_classes |= 1u << d->cls;
    qv__log(2, "device %u: %s (%s, backend %s)", d->id, q->name, qv_class_name(d->cls),
            ops->name);
    return 0;
}

int qv__devq_open_all(qv_runtime *rt)
{
    if (rt->opts.opencl) {
        unsigned n = 0;
        if (qv__opencl_ops.probe(NULL, &n) == 0) {
            for (unsigned i = 0; i < n; i++) {
                int rc = open_one(rt, &qv__opencl_ops, i, NULL);
                if (rc)
                    qv__log(2, "OpenCL device %u not used: %s", i, qv_strerror(rc));
            }
        }
    }
    /* Emulated boards the policy lists: one device each. */
    const qv__policy *pol = rt->policy;
    for (size_t i = 0; i < rt->nboards; i++) {
        unsigned n = 0;
        if (!(pol->devices & (1u << QV_CLASS_FPGA)) ||
            qv__emu_ops.probe(rt->boards[i], &n) != 0 || n == 0)
            continue;
        int rc = open_one(rt, &qv__emu_ops, 0, rt->boards[i]);
        if (rc)
            return qv__fail(rc, "emulated board %s: %s",
                            ((const qv__board *)rt->boards[i])->name, qv_last_error());
    }
    /* Cards through XRT: the n-th real FPGA board of the policy is the n-th
     * XRT device. Without such a board nothing says which xclbin a card
     * takes, so no card is used. */
    unsigned ncards = 0;
    for (size_t i = 0; i < rt->nboards && pol->discover_xrt &&
                       (pol->devices & (1u << QV_CLASS_FPGA));
         i++) {
        const qv__board *b = rt->boards[i];
        unsigned n = 0;
        if (qv__xrt_ops.probe(b, &n) != 0 || n <= ncards)
            continue;
        int rc = open_one(rt, &qv__xrt_ops, ncards, b);
        if (rc)
            qv__log(1, "board %s: XRT device %u not used: %s", b->name, ncards,
                    qv_last_error());
        ncards++;
    }
    for (unsigned i = 0; i < rt->naccel; i++) {
        qv__devq *q = rt->accel[i];
        if (pthread_create(&q->thread, NULL, driver_main, q) != 0)
            return QV_ENOMEM;
        q->started = true;
    }
    return 0;
}

void qv__devq_stop_all(qv_runtime *rt)
{
    for (unsigned i = 0; i < rt->naccel; i++) {
        qv__devq *q = rt->accel[i];
        pthread_mutex_lock(&q->mu);
        q->stop = true;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        if (q->started)
            pthread_join(q->thread, NULL);
        q->started = false;
    }
}

void qv__devq_close_all(qv_runtime *rt)
{
    for (unsigned i = 0; i < rt->naccel; i++) {
        qv__devq *q = rt->accel[i];
        q->dev->ops->close(q->dev);
        free(q->dev);
        free(q->broken);
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->broken_mu);
        free(q);
    }
    rt->naccel = 0;
}

QV_API unsigned qv_device_count(const qv_runtime *rt)
{
    return rt ? 1 + rt->naccel : 0;
}

QV_API int qv_device_get(const qv_runtime *rt, unsigned idx, qv_device_info *out)
{
    if (!rt || !out)
        return qv__fail(QV_EINVAL, "qv_device_get: NULL argument");
    if (idx > rt->naccel)
        return qv__fail(QV_ENOENT, "no device %u (the runtime has %u)", idx, 1 + rt->naccel);
    memset(out, 0, sizeof *out);
    struct qv_device *d = idx ? rt->accel[idx - 1]->dev : rt->cpu;
    d->ops->query(d, QV_QUERY_NAME, out->name, sizeof out->name);
    out->cls = d->cls;
    snprintf(out->backend, sizeof out->backend, "%s", d->ops->name);
    if (idx == 0) {
        out->units = rt->nworkers;
        out->healthy = 1;
        for (unsigned i = 0; i < rt->nworkers; i++)
            out->tasks += atomic_load_explicit(&rt->workers[i].tasks, memory_order_relaxed);
        return 0;
    }
    qv__devq *q = rt->accel[idx - 1];
    out->units = 1;
    out->healthy = atomic_load(&q->healthy);
    out->tasks = atomic_load(&q->tasks);
    out->failed = atomic_load(&q->failed);
    out->bytes_to = atomic_load(&q->bytes_to);
    out->bytes_from = atomic_load(&q->bytes_from);
    if (d->ops->query(d, QV_QUERY_BOARD_US, &out->board_us, sizeof out->board_us) != 0)
        out->board_us = 0;
    if (atomic_load(&q->bw_measured))
        out->link_gbs = (double)atomic_load(&q->bw_bps) / 1e9;
    return 0;
}
