/*
 * region.c - regions, the first step of the run-time loop (docs/runtime.md,
 * "Regions"): the tasks a thread submits between qv_region_begin and
 * qv_region_end, or between two of its qv_wait_all calls (implicit
 * regions), are one entry of a region. Each entry gets a signature; once a
 * region's signature has been seen hot_threshold entries in a row, one
 * background thread per runtime builds the planner's graph of that entry
 * (to_dag.c), the platform of the runtime's devices (qv_plat_from_pool)
 * and plans it with the quiver algorithm. The plan is kept for the replay
 * that comes next; nothing replays it yet.
 *
 * The signature is built on the submit path, so it is cheap: a thread-local
 * hash, a few multiplications per argument, no lock and no allocation. A
 * buffer enters it by the index of its first appearance in the entry (a
 * small thread-local table, reset per entry by a generation number), with
 * its size and the argument's access mode; a function by its registration
 * index (which fixes its scalar sizes; scalar values are left out).
 *
 * Locking: loop->mu guards the list of regions, every region's fields and
 * the compile queue; the compiler takes submit_mu, reg_mu and the
 * recorder's read_mu (through to_dag.c) without holding loop->mu.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/policy.h"
#include "core/internal.h"
#include "qvpart.h"
#include "trace/graph.h"
#include "trace/to_dag.h"

#define SIG_SLOTS    256 /* buffers told apart per entry (a power of two) */
#define SIG_PROBES   4
#define MAX_IMPLICIT 1024 /* implicit regions kept per runtime */
#define IMPLICIT     "implicit:"

typedef struct qv__region qv__region;
struct qv__region {
    qv__region *next;
    char name[128];
    bool implicit;
    uint64_t entries, recorded, compiles, signatures, sig_entries;
    uint64_t sig;         /* the last entry's */
    uint64_t tasks;       /* of the last entry */
    uint64_t lo, hi;      /* node ids of the last entry: [lo, hi) */
    uint64_t measured_lo; /* lo + 1 of the entry measured_us is of */
    double predicted_us, measured_us;
    unsigned parts;
    char reason[128], error[256];
    /* Compiling: the entry queued (under loop->mu). */
    bool queued, tried;
    uint64_t tried_sig; /* the signature a compile was started for */
    uint64_t job_lo, job_hi, job_n;
    qv__region *qnext;
    /* The current plan, for the replay to come. */
    qv_dag *dag;
    qv_plat *plat;
    qv_plan *plan;
};

struct qv__loop {
    uint64_t serial; /* tells this runtime from one at its address */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    qv__region *list;
    unsigned nimplicit;
    qv__region *qhead, *qtail;
    bool started, stop;
    pthread_t thread;
};

/* The calling thread's entry. It follows one runtime at a time: a thread
 * that turns to another runtime drops its open region and entry on the
 * first one (docs/runtime.md). */
typedef struct tls_state {
    const qv_runtime *rt;
    uint64_t serial;
    uint64_t sig, ntasks, lo, hi;
    uint32_t gen, nslots;
    qv__region *open; /* the explicit region open, or NULL */
    qv__region *last; /* the most recent region an entry ended in */
    struct sig_buf {
        const qv_buf *b;
        uint32_t gen, slot;
    } tab[SIG_SLOTS];
} tls_state;

static _Thread_local tls_state tls;
static _Atomic uint64_t serials;

static inline uint64_t mix(uint64_t h, uint64_t x)
{
    h = (h ^ x) * 0x9E3779B97F4A7C15u;
    return h ^ (h >> 29);
}

static void rebind(tls_state *s, const qv_runtime *rt)
{
    s->rt = rt;
    s->serial = rt->loop->serial;
    s->ntasks = 0;
    s->open = NULL;
    s->last = NULL;
}

/* The state of the calling thread for rt, started over when it was of
 * another runtime. */
static tls_state *tls_for(const qv_runtime *rt)
{
    tls_state *s = &tls;
    if (s->rt != rt || s->serial != rt->loop->serial)
        rebind(s, rt);
    return s;
}

/* Index of b's first appearance in the entry; UINT32_MAX past the table
 * (those buffers are told apart by size and mode only). */
static inline uint32_t buf_slot(tls_state *s, const qv_buf *b)
{
    uint32_t h = ((uint32_t)((uintptr_t)b >> 4) * 0x9E3779B1u) >> 24;
    for (unsigned k = 0; k < SIG_PROBES; k++) {
        struct sig_buf *e = &s->tab[(h + k) & (SIG_SLOTS - 1)];
        if (e->gen != s->gen) {
            e->gen = s->gen;
            e->b = b;
            return e->slot = s->nslots++;
        }
        if (e->b == b)
            return e->slot;
    }
    return UINT32_MAX;
}

void qv__region_note(qv_runtime *rt, const qv_func *f, const qv_arg *args, uint64_t id)
{
    tls_state *s = &tls;
    if (s->rt != rt)
        rebind(s, rt);
    if (!s->ntasks++) {
        s->lo = id;
        s->sig = 0x51654E7A11u;
        s->nslots = 0;
        if (!++s->gen) { /* wrapped: no stale entry may match */
            memset(s->tab, 0, sizeof s->tab);
            s->gen = 1;
        }
    }
    s->hi = id + 1;
    uint64_t h = mix(s->sig, ((uint64_t)f->id << 8) | f->nargs);
    uint64_t scalars = 0;
    for (unsigned i = 0; i < f->nargs; i++) {
        const qv_arg_desc *d = &f->args[i];
        if (d->is_buf) {
            const qv_buf *b = args[i].buf;
            h = mix(h, ((uint64_t)buf_slot(s, b) << 2) | (unsigned)d->mode);
            h = mix(h, b->size);
        } else {
            scalars = scalars * 31 + d->size;
        }
    }
    s->sig = scalars ? mix(h, scalars) : h;
}

/* ---- regions ----------------------------------------------------------- */

static qv__region *region_new(qv_runtime *rt, const char *name, bool implicit)
{
    qv__region *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->name, sizeof r->name, "%s", name);
    r->implicit = implicit;
    r->next = rt->loop->list;
    rt->loop->list = r;
    return r;
}

static qv__region *find_named(struct qv__loop *l, const char *name)
{
    for (qv__region *r = l->list; r; r = r->next)
        if (!strcmp(r->name, name))
            return r;
    return NULL;
}

static void *compiler(void *arg);

/* Queues r's last entry for the compiler when it is hot. Under loop->mu. */
static void maybe_compile(qv_runtime *rt, qv__region *r)
{
    struct qv__loop *l = rt->loop;
    if (r->sig_entries < rt->policy->hot_threshold || r->queued || l->stop ||
        (r->tried && r->tried_sig == r->sig) || !r->tasks)
        return;
    r->tried = true;
    r->tried_sig = r->sig;
    if (!rt->rec) {
        snprintf(r->error, sizeof r->error,
                 "not compiled: the runtime does not record (qv_options.record is 0)");
        return;
    }
    if (r->hi - r->lo != r->tasks) {
        /* Other threads' tasks came in between: the entry is not one range
         * of the graph. The next entry may be. */
        r->tried = false;
        qv__log(3, "region %s: entry interleaved with other threads' tasks, not compiled",
                r->name);
        return;
    }
    if (!l->started) {
        if (pthread_create(&l->thread, NULL, compiler, rt) != 0) {
            snprintf(r->error, sizeof r->error, "no thread for the compiler");
            return;
        }
        l->started = true;
    }
    r->job_lo = r->lo;
    r->job_hi = r->hi;
    r->job_n = r->tasks;
    snprintf(r->reason, sizeof r->reason, "hot: %" PRIu64 " entries with one signature",
             r->sig_entries);
    r->queued = true;
    r->qnext = NULL;
    if (l->qtail)
        l->qtail->qnext = r;
    else
        l->qhead = r;
    l->qtail = r;
    pthread_cond_signal(&l->cv);
}

/* Ends the calling thread's entry in r (explicit), or in the implicit
 * region of its signature when r is NULL. */
static void entry_end(qv_runtime *rt, tls_state *s, qv__region *r)
{
    struct qv__loop *l = rt->loop;
    uint64_t n = s->ntasks;
    uint64_t sig = n ? mix(s->sig, n) : 0;
    s->ntasks = 0;
    pthread_mutex_lock(&l->mu);
    if (!r) {
        if (s->last && s->last->implicit && s->last->sig == sig) {
            r = s->last;
        } else {
            char name[64];
            snprintf(name, sizeof name, IMPLICIT "%016" PRIx64, sig);
            for (qv__region *q = l->list; q && !r; q = q->next)
                if (q->implicit && q->sig == sig)
                    r = q;
            if (!r && l->nimplicit < MAX_IMPLICIT && (r = region_new(rt, name, true)))
                l->nimplicit++;
            if (!r) {
                pthread_mutex_unlock(&l->mu);
                return;
            }
        }
    }
    if (!r->entries++ || r->sig != sig) {
        r->sig = sig;
        r->signatures++;
        r->sig_entries = 1;
    } else {
        r->sig_entries++;
    }
    r->recorded++;
    r->tasks = n;
    r->lo = n ? s->lo : 0;
    r->hi = n ? s->hi : 0;
    s->last = r;
    maybe_compile(rt, r);
    pthread_mutex_unlock(&l->mu);
}

void qv__region_waited(qv_runtime *rt)
{
    tls_state *s = &tls;
    if (s->rt != rt || !s->ntasks)
        return;
    if (s->serial != rt->loop->serial) {
        rebind(s, rt);
        return;
    }
    if (s->open) /* an explicit region takes the work while open */
        return;
    if (!rt->policy->implicit_regions) {
        s->ntasks = 0;
        return;
    }
    entry_end(rt, s, NULL);
}

QV_API int qv_region_begin(qv_runtime *rt, const char *name)
{
    if (!qv__rt_ok(rt) || !name)
        return qv__fail(QV_EINVAL, "qv_region_begin: %s",
                        rt && !qv__rt_ok(rt) ? "the runtime was destroyed"
                                             : "NULL argument");
    size_t len = strlen(name);
    if (!len || len >= sizeof((qv__region *)0)->name ||
        !strncmp(name, IMPLICIT, sizeof IMPLICIT - 1))
        return qv__fail(QV_EINVAL,
                        "qv_region_begin: a region name has 1 to 127 bytes and "
                        "does not start with '" IMPLICIT "'");
    tls_state *s = tls_for(rt);
    if (s->open)
        return qv__fail(QV_EBUSY,
                        "qv_region_begin('%s'): region '%s' is open on this "
                        "thread; regions do not nest",
                        name, s->open->name);
    struct qv__loop *l = rt->loop;
    pthread_mutex_lock(&l->mu);
    qv__region *r = find_named(l, name);
    if (!r)
        r = region_new(rt, name, false);
    pthread_mutex_unlock(&l->mu);
    if (!r)
        return qv__fail(QV_ENOMEM, "qv_region_begin: out of memory");
    s->open = r;
    s->ntasks = 0; /* work since the last wait is no implicit entry */
    return 0;
}

QV_API int qv_region_end(qv_runtime *rt)
{
    if (!qv__rt_ok(rt))
        return qv__fail(QV_EINVAL, "qv_region_end: %s runtime",
                        rt ? "destroyed" : "NULL");
    tls_state *s = tls_for(rt);
    if (!s->open)
        return qv__fail(QV_EINVAL, "qv_region_end: no region is open on this thread "
                                   "(qv_region_begin first)");
    qv__region *r = s->open;
    s->open = NULL;
    entry_end(rt, s, r);
    return 0;
}

QV_API int qv_region_get(qv_runtime *rt, const char *name, qv_region_info *out)
{
    if (!qv__rt_ok(rt) || !out)
        return qv__fail(QV_EINVAL, "qv_region_get: %s",
                        rt && !qv__rt_ok(rt) ? "the runtime was destroyed"
                                             : "NULL argument");
    if (out->size != sizeof *out)
        return qv__fail(QV_EINVAL,
                        "qv_region_info.size is %zu; set it to "
                        "sizeof(qv_region_info) (%zu)",
                        out->size, sizeof *out);
    struct qv__loop *l = rt->loop;
    qv_region_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    pthread_mutex_lock(&l->mu);
    qv__region *r = NULL;
    if (name) {
        r = find_named(l, name);
    } else {
        tls_state *s = &tls;
        if (s->rt == rt && s->serial == l->serial)
            r = s->last;
    }
    if (!r) {
        pthread_mutex_unlock(&l->mu);
        return qv__fail(QV_ENOENT, "qv_region_get: no region %s%s%s", name ? "'" : "",
                        name ? name : "on this thread yet", name ? "'" : "");
    }
    uint64_t lo = r->lo, hi = r->hi;
    bool measure = r->tasks && r->hi - r->lo == r->tasks && r->measured_lo != lo + 1;
    pthread_mutex_unlock(&l->mu);
    /* measured_us of the last entry, once its tasks are all done. */
    uint64_t t0, t1;
    if (measure && rt->rec && qv__gview_span(rt, lo, hi, &t0, &t1) == 1) {
        pthread_mutex_lock(&l->mu);
        if (r->lo == lo && r->hi == hi) {
            r->measured_us = t1 > t0 ? (double)(t1 - t0) / 1e3 : 0;
            r->measured_lo = lo + 1;
        }
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_lock(&l->mu);
    snprintf(info.name, sizeof info.name, "%s", r->name);
    info.implicit = r->implicit;
    info.entries = r->entries;
    info.recorded = r->recorded;
    info.compiles = r->compiles;
    info.signature = r->sig;
    info.signatures = r->signatures;
    info.sig_entries = r->sig_entries;
    info.tasks = r->tasks;
    info.predicted_us = r->predicted_us;
    info.measured_us = r->measured_us;
    info.parts = r->parts;
    snprintf(info.last_replan_reason, sizeof info.last_replan_reason, "%s", r->reason);
    snprintf(info.last_error, sizeof info.last_error, "%s", r->error);
    pthread_mutex_unlock(&l->mu);
    memcpy(out, &info, sizeof info);
    return 0;
}

/* ---- the background compiler ------------------------------------------- */

/* Plans nodes [lo, hi) on the runtime's devices. 0, or an error with why. */
static int compile(qv_runtime *rt, const char *name, uint64_t lo, uint64_t hi, qv_dag **g,
                   qv_plat **p, qv_plan **pl, char *why, size_t n)
{
    int rc = qv__graph_range_to_dag(rt, name, lo, hi, g);
    if (rc) {
        snprintf(why, n, "graph: %.200s", qv_last_error());
        return rc;
    }
    if ((*g)->n != hi - lo) {
        snprintf(why, n, "the entry's graph was reset before it compiled");
        return QV_ENOENT;
    }
    if (!rt->pool) {
        snprintf(why, n, "the runtime has no device pool");
        return QV_ENODEV;
    }
    if ((rc = qv_plat_from_pool(rt->pool, "runtime", p)) != 0) {
        snprintf(why, n, "platform: %s", qv_strerror(rc));
        return rc;
    }
    qv_plan_opts o;
    qv_plan_opts_init(&o);
    o.algo = QV_ALGO_QUIVER;
    o.catalog = rt->catalog;
    qv_diag d;
    memset(&d, 0, sizeof d);
    if ((rc = qv_plan_make(*g, *p, &o, pl, &d)) != 0)
        snprintf(why, n, "plan: %.200s", d.message[0] ? d.message : qv_strerror(rc));
    return rc;
}

static void *compiler(void *arg)
{
    qv_runtime *rt = arg;
    struct qv__loop *l = rt->loop;
    /* The application never waits for the planner, and never shares a core
     * with it while it has work of its own: the compiler runs on idle CPU
     * time only (Linux SCHED_IDLE; where refused, at normal priority). On
     * 2 cores, a compile at normal priority cost bench_overhead's Cholesky
     * shape 10-35 % per task while replay does not exist to pay it back. */
    struct sched_param sp;
    memset(&sp, 0, sizeof sp);
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !l->qhead)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop)
            break;
        qv__region *r = l->qhead;
        if (!(l->qhead = r->qnext))
            l->qtail = NULL;
        char name[128], why[256] = "";
        snprintf(name, sizeof name, "%s", r->name);
        uint64_t lo = r->job_lo, hi = r->job_hi, ntasks = r->job_n;
        pthread_mutex_unlock(&l->mu);

        qv_dag *g = NULL;
        qv_plat *p = NULL;
        qv_plan *pl = NULL;
        int rc = compile(rt, name, lo, hi, &g, &p, &pl, why, sizeof why);
        if (rc) {
            qv__log(1, "region %s: not compiled: %s", name, why);
            qv_plan_destroy(pl);
            qv_plat_destroy(p);
            qv_dag_destroy(g);
            pl = NULL;
            p = NULL;
            g = NULL;
        } else {
            qv__log(2,
                    "region %s: compiled %" PRIu64
                    " tasks into %u parts, predicted %.1f us",
                    name, ntasks, pl->nparts, pl->makespan);
        }

        pthread_mutex_lock(&l->mu);
        r->queued = false;
        if (rc) {
            snprintf(r->error, sizeof r->error, "%s", why);
        } else {
            qv_plan_destroy(r->plan);
            qv_plat_destroy(r->plat);
            qv_dag_destroy(r->dag);
            r->plan = pl;
            r->plat = p;
            r->dag = g;
            r->compiles++;
            r->parts = pl->nparts;
            r->predicted_us = pl->makespan;
            r->error[0] = 0;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int qv__region_init(qv_runtime *rt)
{
    struct qv__loop *l = calloc(1, sizeof *l);
    if (!l)
        return QV_ENOMEM;
    if (pthread_mutex_init(&l->mu, NULL)) {
        free(l);
        return QV_ENOMEM;
    }
    if (pthread_cond_init(&l->cv, NULL)) {
        pthread_mutex_destroy(&l->mu);
        free(l);
        return QV_ENOMEM;
    }
    l->serial = atomic_fetch_add(&serials, 1) + 1;
    rt->loop = l;
    return 0;
}

void qv__region_stop(qv_runtime *rt)
{
    struct qv__loop *l = rt->loop;
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    for (qv__region *r = l->qhead; r; r = r->qnext)
        r->queued = false;
    l->qhead = l->qtail = NULL;
    bool join = l->started;
    l->started = false;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (join)
        pthread_join(l->thread, NULL);
}

void qv__region_free(qv_runtime *rt)
{
    struct qv__loop *l = rt->loop;
    if (!l)
        return;
    qv__region_stop(rt);
    for (qv__region *r = l->list, *next; r; r = next) {
        next = r->next;
        qv_plan_destroy(r->plan);
        qv_plat_destroy(r->plat);
        qv_dag_destroy(r->dag);
        free(r);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
    rt->loop = NULL;
}
