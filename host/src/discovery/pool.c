/*
 * pool.c - the resource pool: what discovery found, kept current by a
 * periodic rescan, and handed out one resource at a time.
 *
 * Locking: `mu` guards the resource table, the reports and the callback and
 * is never held while a backend scans or a callback runs; `scan_mu`
 * serialises scans, so a resource keeps its id from one scan to the next
 * (matched by the backend's stable key) and events come out in order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/board.h"
#include "config/yaml_doc.h"
#include "discovery/discovery.h"
#include "core/thread.h"

#define NBACKENDS 4

struct qv_pool {
    pthread_mutex_t mu;
    pthread_mutex_t scan_mu;
    pthread_cond_t cv;
    pthread_t thread;
    int has_thread;
    int stop;
    qv_pool_options opts;
    char **boards; /* board file paths, owned */
    size_t nboards;
    qv__found *res; /* present resources, discovery order */
    size_t nres;
    unsigned *allocated; /* parallel to res */
    unsigned next_id;
    qv_backend_report rep[NBACKENDS];
    size_t nrep;
    qv_pool_callback cb;
    void *cb_arg;
};

QV_API void qv_pool_options_init(qv_pool_options *o)
{
    memset(o, 0, sizeof *o);
    o->hwloc = 1;
    o->opencl = 1;
    o->xrt = 1;
}

typedef struct event {
    qv_pool_event ev;
    qv_resource r;
} event;

/* Runs the backends, then merges the result into the table. The events to
 * report are returned in *evs (malloc'ed). */
static int scan(qv_pool *p, event **evs, size_t *nevs)
{
    qv__scan s;
    memset(&s, 0, sizeof s);
    qv_backend_report rep[NBACKENDS];
    size_t nrep = 0;
    int rc = 0;
    *evs = NULL;
    *nevs = 0;
    memset(rep, 0, sizeof rep);
    /* hwloc first: the others use its PCI counts to explain an absence. */
    if (p->opts.hwloc)
        rc = qv__disc_hwloc(&s, &rep[nrep++]);
    if (!rc && p->opts.opencl)
        rc = qv__disc_opencl(&s, &rep[nrep++]);
    if (!rc && p->opts.xrt)
        rc = qv__disc_xrt(&s, &rep[nrep++]);
    if (!rc)
        rc = qv__disc_boards(&s, p->boards, p->nboards, &rep[nrep++]);
    if (rc) {
        qv__scan_fini(&s);
        return rc;
    }
    unsigned *alloc = calloc(s.n ? s.n : 1, sizeof *alloc);
    event *ev = calloc(s.n + p->nres + 1, sizeof *ev);
    if (!alloc || !ev) {
        free(alloc);
        free(ev);
        qv__scan_fini(&s);
        return QV_ENOMEM;
    }
    size_t nev = 0;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < s.n; i++) {
        size_t j = 0;
        while (j < p->nres && strcmp(p->res[j].key, s.v[i].key))
            j++;
        if (j < p->nres) {
            s.v[i].r.id = p->res[j].r.id;
            alloc[i] = p->allocated[j];
        } else {
            s.v[i].r.id = p->next_id++;
            ev[nev].ev = QV_POOL_APPEARED;
            ev[nev++].r = s.v[i].r;
        }
        s.v[i].r.allocated = (int)alloc[i];
    }
    for (size_t j = 0; j < p->nres; j++) {
        size_t i = 0;
        while (i < s.n && strcmp(p->res[j].key, s.v[i].key))
            i++;
        if (i == s.n) {
            ev[nev].ev = QV_POOL_DISAPPEARED;
            ev[nev].r = p->res[j].r;
            ev[nev++].r.allocated = 0;
        }
    }
    free(p->res);
    free(p->allocated);
    p->res = s.v;
    p->nres = s.n;
    p->allocated = alloc;
    memcpy(p->rep, rep, sizeof rep);
    p->nrep = nrep;
    pthread_mutex_unlock(&p->mu);
    *evs = ev;
    *nevs = nev;
    return 0;
}

static int rescan_and_report(qv_pool *p)
{
    event *ev;
    size_t nev;
    pthread_mutex_lock(&p->scan_mu);
    int rc = scan(p, &ev, &nev);
    if (!rc) {
        pthread_mutex_lock(&p->mu);
        qv_pool_callback cb = p->cb;
        void *arg = p->cb_arg;
        pthread_mutex_unlock(&p->mu);
        for (size_t i = 0; cb && i < nev; i++)
            cb(arg, ev[i].ev, &ev[i].r);
        free(ev);
    }
    pthread_mutex_unlock(&p->scan_mu);
    return rc;
}

static void *rescan_main(void *arg)
{
    qv_pool *p = arg;
    qv__thread_name("pool", -1);
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec t = qv__deadline_in((int64_t)p->opts.rescan_ms * 1000000);
        int w = 0;
        while (!p->stop && w != ETIMEDOUT)
            w = pthread_cond_timedwait(&p->cv, &p->mu, &t);
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->mu);
        /* A failed rescan (out of memory) keeps the last table. */
        (void)rescan_and_report(p);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

QV_API void qv_pool_destroy(qv_pool *p)
{
    if (!p)
        return;
    if (p->has_thread) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    for (size_t i = 0; i < p->nboards; i++)
        free(p->boards[i]);
    free(p->boards);
    free(p->res);
    free(p->allocated);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->scan_mu);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

QV_API int qv_pool_create(const qv_pool_options *opts, qv_pool **out, qv_diag *diag)
{
    if (!out)
        return QV_EINVAL;
    *out = NULL;
    qv_pool *p = calloc(1, sizeof *p);
    if (!p)
        return QV_ENOMEM;
    if (opts)
        p->opts = *opts;
    else
        qv_pool_options_init(&p->opts);
    p->opts.boards = NULL; /* not kept: the caller's memory */
    qv__cond_init_monotonic(&p->cv);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->scan_mu, NULL);
    int rc = 0;
    size_t nb = opts ? opts->nboards : 0;
    if (nb && !opts->boards)
        rc = QV_EINVAL;
    if (!rc && nb && !(p->boards = calloc(nb, sizeof *p->boards)))
        rc = QV_ENOMEM;
    /* The boards' names: two files of one name made two devices that
     * nothing could tell apart (adversarial testing). */
    char **names = nb ? calloc(nb, sizeof *names) : NULL;
    if (!rc && nb && !names)
        rc = QV_ENOMEM;
    /* Nothing starts half-configured: every listed board must load. */
    for (size_t i = 0; !rc && i < nb; i++) {
        qv__board *b = NULL;
        rc = opts->boards[i] ? qv__board_load(opts->boards[i], &b, diag) : QV_EINVAL;
        if (!rc && !(names[i] = strdup(b->name)))
            rc = QV_ENOMEM;
        qv__board_free(b);
        for (size_t j = 0; !rc && j < i; j++)
            if (!strcmp(names[j], names[i]) &&
                !qv__same_file(p->boards[j], opts->boards[i]))
                rc = qv__diag_set(diag, opts->boards[i], 0, 0, QV_EEXIST,
                                  "board '%s' is described by '%s' too: a board's name is "
                                  "what tells its devices apart",
                                  names[i], p->boards[j]);
        /* By identity: "x", "./x" and a link to x are one board. */
        for (size_t j = 0; !rc && j < p->nboards; j++)
            if (qv__same_file(p->boards[j], opts->boards[i]))
                rc = !strcmp(p->boards[j], opts->boards[i])
                         ? qv__diag_set(diag, opts->boards[i], 0, 0, QV_EEXIST,
                                        "board file listed twice")
                         : qv__diag_set(diag, opts->boards[i], 0, 0, QV_EEXIST,
                                        "board file listed twice (as '%s' too)",
                                        p->boards[j]);
        if (!rc && !(p->boards[i] = strdup(opts->boards[i])))
            rc = QV_ENOMEM;
        if (!rc)
            p->nboards++;
    }
    for (size_t i = 0; i < nb && names; i++)
        free(names[i]);
    free(names);
    event *ev = NULL;
    size_t nev;
    if (!rc)
        rc = scan(p, &ev, &nev);
    free(ev); /* no callback can be set yet */
    if (!rc && p->opts.rescan_ms) {
        if (qv__thread_start(&p->thread, NULL, rescan_main, p))
            rc = QV_ENOMEM;
        else
            p->has_thread = 1;
    }
    if (rc) {
        qv_pool_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

QV_API size_t qv_pool_count(qv_pool *p)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    size_t n = p->nres;
    pthread_mutex_unlock(&p->mu);
    return n;
}

QV_API int qv_pool_get(qv_pool *p, size_t index, qv_resource *out)
{
    if (!p || !out)
        return QV_EINVAL;
    int rc = QV_ENOENT;
    pthread_mutex_lock(&p->mu);
    if (index < p->nres) {
        *out = p->res[index].r;
        out->allocated = (int)p->allocated[index];
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

QV_API int qv_pool_find(qv_pool *p, unsigned id, qv_resource *out)
{
    if (!p || !out)
        return QV_EINVAL;
    int rc = QV_ENOENT;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nres; i++)
        if (p->res[i].r.id == id) {
            *out = p->res[i].r;
            out->allocated = (int)p->allocated[i];
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int qv__pool_entry(qv_pool *p, size_t index, qv__found *out)
{
    if (!p || !out)
        return QV_EINVAL;
    int rc = QV_ENOENT;
    pthread_mutex_lock(&p->mu);
    if (index < p->nres) {
        *out = p->res[index];
        out->r.allocated = (int)p->allocated[index];
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int qv__pool_set_rescan(qv_pool *p, unsigned ms)
{
    if (!p || !ms)
        return QV_EINVAL;
    pthread_mutex_lock(&p->mu);
    p->opts.rescan_ms = ms;
    int started = p->has_thread;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (started)
        return 0;
    if (qv__thread_start(&p->thread, NULL, rescan_main, p))
        return QV_ENOMEM;
    p->has_thread = 1;
    return 0;
}

QV_API int qv_pool_backend(qv_pool *p, size_t index, qv_backend_report *out)
{
    if (!p || !out)
        return QV_EINVAL;
    int rc = QV_ENOENT;
    pthread_mutex_lock(&p->mu);
    if (index < p->nrep) {
        *out = p->rep[index];
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

QV_API int qv_pool_rescan(qv_pool *p)
{
    return p ? rescan_and_report(p) : QV_EINVAL;
}

QV_API int qv_pool_set_callback(qv_pool *p, qv_pool_callback fn, void *arg)
{
    if (!p)
        return QV_EINVAL;
    pthread_mutex_lock(&p->mu);
    p->cb = fn;
    p->cb_arg = fn ? arg : NULL;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int better(const qv_resource *a, const qv_resource *b)
{
    if (a->cost_per_hour != b->cost_per_hour)
        return a->cost_per_hour < b->cost_per_hour;
    if (a->free_memory != b->free_memory)
        return a->free_memory > b->free_memory;
    return a->id < b->id;
}

QV_API int qv_pool_request(qv_pool *p, const qv_resource_request *req, unsigned *id)
{
    if (!p || !req || !id || (unsigned)req->type >= QV_CLASS_COUNT ||
        req->max_cost_per_hour < 0)
        return QV_EINVAL;
    int any = 0;
    size_t best = SIZE_MAX;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nres; i++) {
        const qv_resource *r = &p->res[i].r;
        if (r->type != req->type || (r->emulated && !req->allow_emulated) ||
            r->free_memory < req->min_memory ||
            (req->max_cost_per_hour > 0 && r->cost_per_hour > req->max_cost_per_hour))
            continue;
        any = 1;
        if (p->allocated[i])
            continue;
        if (best == SIZE_MAX || better(r, &p->res[best].r))
            best = i;
    }
    int rc = best != SIZE_MAX ? 0 : any ? QV_EBUSY : QV_ENODEV;
    if (!rc) {
        p->allocated[best] = 1;
        *id = p->res[best].r.id;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

QV_API int qv_pool_release(qv_pool *p, unsigned id)
{
    if (!p)
        return QV_EINVAL;
    int rc = QV_ENOENT;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nres; i++)
        if (p->res[i].r.id == id && p->allocated[i]) {
            p->allocated[i] = 0;
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&p->mu);
    return rc;
}
