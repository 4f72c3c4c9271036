/*
 * devq_open.c - the runtime's accelerators from the discovery pool: each
 * pool entry opened with its backend (remote boards beside the others, so
 * that silent daemons do not add up), its driver thread started (devq.c),
 * the pool's rescans and events taken in (a device that appears, leaves
 * or comes back), and the devices stopped and closed at shutdown;
 * qv_device_count and qv_device_get.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/policy.h"
#include "core/devq.h"
#include "core/internal.h"
#include "core/thread.h"
#include "discovery/discovery.h"

static const qv__board *board_of(qv_runtime *rt, const qv__found *f);

/* A remote board opened ahead, beside the others (pre_open_remotes). */
typedef struct pre_open {
    qv_runtime *rt;
    unsigned res;           /* its pool entry's resource id */
    size_t index;           /* the backend's number of it */
    const qv__board *board; /* its board file */
    struct qv_device *d;    /* opened, or NULL */
    int rc;
    char why[400];
} pre_open;

/* A device of backend ops for pool entry index, opened (or NULL, *rc and
 * qv_last_error say why). Its id is set when the runtime takes it in. */
static struct qv_device *dev_open(qv_runtime *rt, const struct qv_device_ops *ops,
                                  size_t index, const void *arg, int *rc)
{
    struct qv_device *d = calloc(1, ops->dev_size);
    if (!d) {
        *rc = QV_ENOMEM;
        return NULL;
    }
    d->ops = ops;
    d->rt = rt;
    d->cls = ops->cls;
    d->idx = index;
    if ((*rc = ops->open(d, index, arg)) != 0) {
        free(d);
        return NULL;
    }
    return d;
}

static void *pre_open_main(void *arg)
{
    pre_open *p = arg;
    p->d = dev_open(p->rt, &qv__remote_ops, p->index, p->board, &p->rc);
    if (!p->d)
        snprintf(p->why, sizeof p->why, "%s", qv_last_error());
    return NULL;
}

/* The remote boards of the pool, each opened on a thread of its own: a
 * daemon that does not answer costs its hello's timeout, and twelve of
 * them took twelve timeouts one after another (adversarial testing).
 * NULL when fewer than two (nothing to overlap). */
static pre_open *pre_open_remotes(qv_runtime *rt, size_t *n)
{
    qv__found f;
    size_t count = 0;
    *n = 0;
    for (size_t i = 0; qv__pool_entry(rt->pool, i, &f) == 0; i++)
        count += !strcmp(f.r.backend, "remote");
    if (count < 2 || !(rt->policy->devices & (1u << QV_CLASS_REMOTE)))
        return NULL;
    pre_open *p = calloc(count, sizeof *p);
    if (!p)
        return NULL; /* opened one by one, then */
    for (size_t i = 0; qv__pool_entry(rt->pool, i, &f) == 0; i++) {
        if (strcmp(f.r.backend, "remote"))
            continue;
        const qv__board *b = board_of(rt, &f);
        if (!b)
            continue;
        p[(*n)++] = (pre_open){.rt = rt, .res = f.r.id, .index = f.index, .board = b};
    }
    qv__thread_each(p, *n, sizeof *p, pre_open_main);
    return p;
}

/* Opens the device of pool entry f with backend ops; board is its board
 * file (FPGA boards) and arg what ops->open takes; pre: the device opened
 * ahead (pre_open_remotes), or NULL. */
static int open_one_with(qv_runtime *rt, const struct qv_device_ops *ops,
                         const qv__found *f, const qv__board *board, const void *arg,
                         pre_open *pre)
{
    if (rt->naccel + 1 >= QV__MAX_DEVICES)
        return qv__fail(QV_E2BIG, "more than %d devices", QV__MAX_DEVICES);
    int rc = 0;
    struct qv_device *d;
    if (pre) { /* opened ahead: its result, as if here */
        d = pre->d;
        pre->d = NULL;
        if (!d)
            return qv__fail(pre->rc, "%s", pre->why);
    } else if (!(d = dev_open(rt, ops, f->index, arg, &rc))) {
        return rc;
    }
    qv__devq *q = calloc(1, sizeof *q);
    if (!q) {
        ops->close(d);
        free(d);
        return QV_ENOMEM;
    }
    __atomic_store_n(&d->id, rt->naccel + 1, __ATOMIC_RELEASE);
    q->dev = d;
    q->rt = rt;
    q->board = board;
    /* A remote board's copies are queued, not timed (they overlap its
     * runs): its board file's link, the network, stays the estimate. */
    q->emulated = f->r.emulated || ops == &qv__remote_ops;
    q->depth = ops == &qv__remote_ops ? QV__DEVQ_DEPTH : 1;
    if (!ops->query || ops->query(d, QV_QUERY_MEMORY, &q->mem, sizeof q->mem) != 0)
        q->mem = 0;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    pthread_cond_init(&q->done_cv, NULL);
    pthread_mutex_init(&q->fit_mu, NULL);
    atomic_init(&q->healthy, true);
    atomic_init(&q->retry_ns, UINT64_MAX);
    atomic_init(&q->probing, false);
    atomic_init(&q->due_told, false);
    atomic_init(&q->run_ended, false);
    atomic_init(&q->gone, false);
    atomic_init(&q->pokes, 0);
    atomic_init(&q->res_id, f->r.id);
    /* Until measured: the link the board file (or discovery) gives. */
    double gbs = f->r.link_bandwidth_gbs > 0 ? f->r.link_bandwidth_gbs : 4.0;
    atomic_init(&q->bw_bps, (uint64_t)(gbs * 1e9));
    q->latency_us = f->r.link_latency_us > 0 ? f->r.link_latency_us : 10.0;
    snprintf(q->name, sizeof q->name, "%s", f->r.name);
    snprintf(q->backend, sizeof q->backend, "%s", f->r.backend);
    q->cost_per_hour = f->r.cost_per_hour;
    atomic_init(&q->loose, 0);
    rt->accel[rt->naccel++] = q;
    rt->accel_classes |= 1u << d->cls;
    if (q->depth > 1)
        atomic_store_explicit(&rt->remote, true, memory_order_relaxed);
    char detail[128] = "";
    ops->query(d, QV_QUERY_NAME, detail, sizeof detail);
    qv__log(2, "device %u: %s (%s, backend %s: %s)", d->id, q->name,
            qv_class_name(d->cls), ops->name, detail);
    return 0;
}

static int open_one(qv_runtime *rt, const struct qv_device_ops *ops, const qv__found *f,
                    const qv__board *board, const void *arg)
{
    return open_one_with(rt, ops, f, board, arg, NULL);
}

/* The policy's board file that pool entry f (backend "emu") comes from. */
static const qv__board *board_of(qv_runtime *rt, const qv__found *f)
{
    const char *path = f->key + strlen("board:");
    for (size_t i = 0; i < rt->nboards && i < rt->policy->nboards; i++)
        if (!strcmp(rt->policy->boards[i], path))
            return rt->boards[i];
    return NULL;
}

/* The board file of XRT card n: the n-th real FPGA board the policy lists
 * (it says which builds of the catalog the card takes); NULL if none. */
static const qv__board *card_board(qv_runtime *rt, unsigned n)
{
    for (size_t i = 0; i < rt->nboards; i++) {
        const qv__board *b = rt->boards[i];
        if (b->kind == QV_CLASS_FPGA && !b->emulation && n-- == 0)
            return b;
    }
    return NULL;
}

/* Opens the device of pool entry f if the runtime can use it. */
static int open_found(qv_runtime *rt, const qv__found *f, pre_open *pre, size_t npre)
{
    const qv__policy *pol = rt->policy;
    const qv_resource *r = &f->r;
    if (!(pol->devices & (1u << r->type))) {
        qv__log(2, "%s (%s) not used: the policy's devices leave out %s", r->name,
                r->backend, qv_class_name(r->type));
        return 0;
    }
    int rc = 0;
    if (!strcmp(r->backend, "hwloc")) {
        /* The CPU device is all of the machine's cores: its name lists
         * the resources discovery reports for them. */
        size_t len = strlen(rt->cpu_name);
        snprintf(rt->cpu_name + len, sizeof rt->cpu_name - len, "%s%s", len ? "+" : "",
                 r->name);
        return 0;
    } else if (!strcmp(r->backend, "opencl")) {
        if (r->type != QV_CLASS_GPU || !rt->opts.opencl) {
            qv__log(2, "%s (opencl) not used: an FPGA behind OpenCL is XRT's", r->name);
            return 0;
        }
        rc = open_one(rt, &qv__opencl_ops, f, NULL, f);
    } else if (!strcmp(r->backend, "emu")) {
        const qv__board *b = board_of(rt, f);
        if (!b)
            return 0; /* a board file that appeared after the policy loaded */
        if ((rc = open_one(rt, &qv__emu_ops, f, b, b)) != 0)
            return qv__fail(rc, "emulated board %s: %s", r->name, qv_last_error());
    } else if (!strcmp(r->backend, "remote")) {
        /* The served board says which builds of the catalog it takes. */
        const qv__board *b = board_of(rt, f);
        if (!b)
            return 0;
        /* By resource: every board file's index is 0, and the boards
         * after the first took its result (test_remote two_remote_boards). */
        pre_open *ahead = NULL;
        for (size_t i = 0; i < npre && !ahead; i++)
            if (pre[i].res == f->r.id)
                ahead = &pre[i];
        if ((rc = open_one_with(rt, &qv__remote_ops, f, b->served, b, ahead)) != 0)
            qv__log(1, "remote board %s (%s) not used: %s", r->name, r->detail,
                    qv_last_error());
        return 0;
    } else if (!strcmp(r->backend, "xrt")) {
        const qv__board *b = card_board(rt, f->index);
        if (!b) {
            qv__log(2,
                    "%s (%s) not used: no board file of the policy describes it, so "
                    "nothing says which builds of the catalog it takes",
                    r->name, r->detail);
            return 0;
        }
        rc = open_one(rt, &qv__xrt_ops, f, b, b);
    } else {
        qv__log(2, "%s (%s) not used: the runtime has no %s backend", r->name, r->backend,
                r->backend);
        return 0;
    }
    if (rc)
        qv__log(1, "%s (%s) not used: %s", r->name, r->backend, qv_last_error());
    return 0;
}

/* Events of the pool's rescans: counted, kept for the run-time loop, and
 * acted on: a device that disappears takes no new task; one that comes
 * back (an emulated board's file restored) takes tasks again. Runs on the
 * pool's rescan thread (or in qv__devq_rescan), with no pool lock held. */
static void pool_event(void *arg, qv_pool_event ev, const qv_resource *r)
{
    qv_runtime *rt = arg;
    bool up = ev == QV_POOL_APPEARED;
    unsigned dev = 0;
    for (unsigned i = 0; i < rt->naccel && !dev; i++) {
        qv__devq *q = rt->accel[i];
        if (up ? atomic_load(&q->gone) && !strcmp(q->name, r->name) &&
                     !strcmp(q->backend, r->backend)
               : atomic_load(&q->res_id) == r->id) {
            dev = i + 1;
            atomic_store(&q->res_id, r->id);
            atomic_store(&q->gone, !up);
        }
    }
    pthread_mutex_lock(&rt->ev_mu);
    if (up)
        rt->appeared++;
    else
        rt->disappeared++;
    if (rt->nevents == QV__DEV_EVENTS) { /* the oldest goes */
        memmove(rt->events, rt->events + 1, sizeof rt->events - sizeof rt->events[0]);
        rt->nevents--;
    }
    qv__dev_event *e = &rt->events[rt->nevents++];
    e->appeared = up;
    e->dev = dev;
    snprintf(e->name, sizeof e->name, "%s", r->name);
    pthread_mutex_unlock(&rt->ev_mu);
    if (up)
        qv__log(2, "device %s (%s, %s) appeared%s", r->name, qv_class_name(r->type),
                r->backend,
                dev ? ": it takes tasks again" : "; this runtime does not use it");
    else
        qv__log(2, "device %s (%s, %s) disappeared%s", r->name, qv_class_name(r->type),
                r->backend,
                dev ? ": it takes no new task, and those queued there are placed again"
                    : "");
    if (dev) {
        char why[200];
        snprintf(why, sizeof why, "%s %s", r->name, up ? "appeared" : "disappeared");
        qv__region_devices_changed(rt, why);
    }
    if (dev && !up) {
        /* Wake its driver so that its queue drains elsewhere now. */
        qv__devq *q = rt->accel[dev - 1];
        pthread_mutex_lock(&q->mu);
        atomic_fetch_add_explicit(&q->pokes, 1, memory_order_release);
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
}

bool qv__devq_serves(qv_runtime *rt, unsigned dev, const char *kernel)
{
    qv__devq *q = rt->accel[dev - 1];
    return q->dev->ops != &qv__remote_ops || qv__remote_serves(q->dev, kernel);
}

void qv__devq_run_ended(qv_runtime *rt, unsigned dev)
{
    qv__devq *q = rt->accel[dev - 1];
    atomic_store(&q->run_ended, true);
    qv__devq_settle_ended(q);
}

void qv__devq_restored(qv_runtime *rt, unsigned dev, bool fresh)
{
    qv__devq *q = rt->accel[dev - 1];
    /* What it could not run is asked again: a daemon started again may
     * serve other kernels. Also when the device never left service (a
     * daemon replaced while idle: review finding). Once a connection: the
     * repeats cleared the marks of the new daemon's own refusals, and a
     * function it did not serve went there again, failed and warned
     * "never here again" some 8 times in 2 s (adversarial testing). */
    if (fresh) {
        pthread_mutex_lock(&q->fit_mu);
        for (size_t i = 0; i < q->nfit; i++)
            q->fit[i] &= (unsigned char)~FIT_BROKEN;
        atomic_store(&q->restored_ns, qv__now_ns());
        pthread_mutex_unlock(&q->fit_mu);
    }
    if (atomic_exchange(&q->healthy, true))
        return;
    char why[200];
    snprintf(why, sizeof why, "%s is back in service", q->name);
    qv__log(2, "%s: it takes tasks again", why);
    qv__region_devices_changed(rt, why);
}

int qv__devq_rescan(qv_runtime *rt)
{
    return rt->pool ? qv_pool_rescan(rt->pool) : QV_ENODEV;
}

size_t qv__devq_events(qv_runtime *rt, qv__dev_event *out, size_t max, uint64_t *appeared,
                       uint64_t *disappeared)
{
    pthread_mutex_lock(&rt->ev_mu);
    size_t n = rt->nevents < max ? rt->nevents : max;
    memcpy(out, rt->events, n * sizeof *out);
    memmove(rt->events, rt->events + n, (rt->nevents - n) * sizeof *out);
    rt->nevents -= (unsigned)n;
    if (appeared)
        *appeared = rt->appeared;
    if (disappeared)
        *disappeared = rt->disappeared;
    pthread_mutex_unlock(&rt->ev_mu);
    return n;
}

int qv__devq_open_all(qv_runtime *rt)
{
    /* One scan of the machine: the devices opened below are its entries,
     * in its order, and its rescans (started once the callback is set)
     * report what appears and disappears. */
    qv_pool_options o;
    qv__policy_pool_options(rt->policy, &o);
    o.opencl = o.opencl && rt->opts.opencl;
    o.xrt = o.xrt && (rt->policy->devices & (1u << QV_CLASS_FPGA));
    o.rescan_ms = 0;
    qv_diag d;
    memset(&d, 0, sizeof d);
    int rc = qv_pool_create(&o, &rt->pool, &d);
    if (rc) {
        char msg[2200];
        if (d.file[0] || d.message[0])
            qv_diag_format(&d, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "%s", qv_strerror(rc));
        return qv__fail(rc, "discovery: %s", msg);
    }
    size_t npre;
    pre_open *pre = pre_open_remotes(rt, &npre);
    qv__found f;
    for (size_t i = 0; qv__pool_entry(rt->pool, i, &f) == 0 && !rc; i++)
        rc = open_found(rt, &f, pre, npre);
    for (size_t i = 0; i < npre; i++) /* not taken in (the open failed) */
        if (pre[i].d) {
            pre[i].d->ops->close(pre[i].d);
            free(pre[i].d);
        }
    free(pre);
    if (rc)
        return rc;
    for (unsigned i = 0; i < rt->naccel; i++) {
        qv__devq *q = rt->accel[i];
        if (qv__thread_start(&q->thread, NULL, qv__devq_driver, q) != 0)
            return qv__fail(QV_ENOMEM, "cannot start the thread of %s", q->name);
        q->started = true;
    }
    qv_pool_set_callback(rt->pool, pool_event, rt);
    if (rt->policy->rescan_interval_ms &&
        (rc = qv__pool_set_rescan(rt->pool, rt->policy->rescan_interval_ms)) != 0)
        return qv__fail(rc, "cannot start the rescan of the devices");
    return 0;
}

void qv__devq_stop_all(qv_runtime *rt)
{
    /* No rescan, and so no event, from here on. */
    qv_pool_destroy(rt->pool);
    rt->pool = NULL;
    for (unsigned i = 0; i < rt->naccel; i++) {
        qv__devq *q = rt->accel[i];
        pthread_mutex_lock(&q->mu);
        q->stop = true;
        atomic_fetch_add_explicit(&q->pokes, 1, memory_order_release);
        pthread_cond_broadcast(&q->cv);
        while (q->started && !q->exited && !q->handed)
            pthread_cond_wait(&q->done_cv, &q->mu);
        bool stuck = q->started && !q->exited;
        pthread_mutex_unlock(&q->mu);
        if (stuck) {
            /* In a run that never ended: the thread, q and its device
             * stay (it may come back and look at them), as a thread
             * cannot be stopped safely. */
            qv__log(1, "%s: its driver thread is left in a run that never ended",
                    q->name);
            pthread_detach(q->thread);
            q->leak = true;
        } else if (q->started) {
            pthread_join(q->thread, NULL);
        }
        q->started = false;
    }
}

void qv__devq_close_all(qv_runtime *rt)
{
    for (unsigned i = 0; i < rt->naccel; i++) {
        qv__devq *q = rt->accel[i];
        q->dev->ops->close(q->dev);
        if (q->leak) { /* unless its run ended since, and the thread with it */
            pthread_mutex_lock(&q->mu);
            bool back = q->exited;
            pthread_mutex_unlock(&q->mu);
            if (!back)
                continue;
        }
        if (!q->dev->leak)
            free(q->dev);
        free(q->fit);
        free(atomic_load(&q->drv));
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        pthread_cond_destroy(&q->done_cv);
        pthread_mutex_destroy(&q->fit_mu);
        free(q);
    }
    rt->naccel = 0;
}

QV_API unsigned qv_device_count(const qv_runtime *rt)
{
    return qv__rt_ok(rt) ? 1 + rt->naccel : 0;
}

QV_API int qv_device_get(const qv_runtime *rt, unsigned idx, qv_device_info *out)
{
    if (!rt || !out)
        return qv__fail(QV_EINVAL, "qv_device_get: NULL argument");
    if (!qv__rt_ok(rt)) /* its devices are closed (adversarial finding: a crash) */
        return qv__fail(QV_EINVAL, "qv_device_get: %s", qv__rt_why(rt));
    if (idx > rt->naccel)
        return qv__fail(QV_ENOENT, "no device %u (the runtime has %u)", idx,
                        1 + rt->naccel);
    memset(out, 0, sizeof *out);
    struct qv_device *d = idx ? rt->accel[idx - 1]->dev : rt->cpu;
    /* Discovery's names, as `quiver devices` prints them. */
    if (idx)
        snprintf(out->name, sizeof out->name, "%s", rt->accel[idx - 1]->name);
    else if (rt->cpu_name[0])
        snprintf(out->name, sizeof out->name, "%s", rt->cpu_name);
    else
        snprintf(out->name, sizeof out->name, "cpu");
    out->cls = d->cls;
    snprintf(out->backend, sizeof out->backend, "%s", d->ops->name);
    if (idx == 0) {
        out->units = rt->nworkers;
        out->healthy = 1;
        for (unsigned i = 0; i < rt->nworkers; i++)
            out->tasks +=
                atomic_load_explicit(&rt->workers[i].tasks, memory_order_relaxed);
        for (unsigned i = 0; i < rt->naccel; i++) { /* CPU tasks run by drivers */
            qv__worker *w =
                atomic_load_explicit(&rt->accel[i]->drv, memory_order_acquire);
            if (w)
                out->tasks += atomic_load_explicit(&w->tasks, memory_order_relaxed);
        }
        return 0;
    }
    qv__devq *q = rt->accel[idx - 1];
    out->units = 1;
    out->healthy = atomic_load(&q->healthy) && !atomic_load(&q->gone);
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
