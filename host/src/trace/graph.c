/*
 * graph.c - builds the analysis view of the recorded graph: merged edges,
 * measured durations, the longest (critical) path and its bottlenecks.
 *
 * Node ids are submission order and every edge goes from an earlier to a
 * later submission, so id order is a topological order and the longest path
 * is one pass over the nodes.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trace/graph.h"
#include "trace/marks.h"

qv__node qv__gview_node(const qv__gview *g, uint64_t i)
{
    qv__node *s = qv__chunks_at(g->nodes, g->off + i, sizeof *s);
    qv__node n = { .bytes_in = s->bytes_in, .bytes_out = s->bytes_out,
                   .memory = s->memory, .func = s->func };
    if (atomic_load_explicit(&s->done, memory_order_acquire)) {
        n.start_ns = s->start_ns;
        n.end_ns = s->end_ns;
        n.worker = s->worker;
        n.cls = s->cls;
        n.board_us = s->board_us;
        n.err = s->err;
        atomic_init(&n.done, 1);
    }
    return n;
}

qv_func *qv__gview_fn(const qv__gview *g, uint64_t i)
{
    uint32_t f =
        ((const qv__node *)qv__chunks_at(g->nodes, g->off + i, sizeof(qv__node)))->func;
    return f < g->nfuncs ? g->funcs[f] : NULL;
}

const char *qv__gview_func(const qv__gview *g, uint64_t i)
{
    qv_func *f = qv__gview_fn(g, i);
    return f ? f->name : "?";
}

static int cmp_edge(const void *a, const void *b)
{
    const qv__edge *x = a, *y = b;
    if (x->dst != y->dst)
        return x->dst < y->dst ? -1 : 1;
    return x->src < y->src ? -1 : x->src > y->src;
}

void qv__gview_free(qv__gview *g)
{
    free(g->own);
    free(g->nodes);
    free(g->funcs);
    free(g->e);
    free(g->dur_us);
    free(g->dist_us);
    free(g->pred);
    free(g->on_cp);
    if (g->rec)
        pthread_rwlock_unlock(&g->rec->read_mu);
    memset(g, 0, sizeof *g);
}

static int funcs_snapshot(qv_runtime *rt, qv__gview *g);
static int analyse(qv__gview *g, int rc);

/* Chunk pointers (as the recorder's) into the one array of n nodes at
 * nodes; NULL without memory. */
static void **chunks_over(qv__node *nodes, uint64_t n)
{
    size_t nc = (size_t)((n + QV__REC_CHUNK - 1) / QV__REC_CHUNK);
    void **c = malloc((nc ? nc : 1) * sizeof *c);
    for (size_t k = 0; c && k < nc; k++)
        c[k] = nodes + k * QV__REC_CHUNK;
    return c;
}

int qv__gview_detach(qv__gview *g)
{
    if (!g->rec)
        return 0;
    qv__node *own = malloc((g->n ? g->n : 1) * sizeof *own);
    for (uint64_t i = 0; own && i < g->n; i++)
        own[i] = qv__gview_node(g, i);
    void **chunks = own ? chunks_over(own, g->n) : NULL;
    if (!chunks) {
        free(own);
        return QV_ENOMEM;
    }
    free(g->nodes);
    g->nodes = chunks;
    g->off = 0;
    g->own = own;
    pthread_rwlock_unlock(&g->rec->read_mu);
    g->rec = NULL;
    return 0;
}

/* Whether a reader or a reset may wait for the nodes recorded so far: not
 * from inside a task (its own node may be among them), nor while tasks
 * wait for a buffer the host holds (where qv_wait_all returns QV_EDEADLK:
 * the holder may be the caller; qv_last_error then says which). Tasks
 * submitted later cannot wait for an acquisition made later, so the answer
 * holds for the nodes below the snapshot. Under submit_mu. */
static bool may_wait(qv_runtime *rt)
{
    if (qv__current_worker(rt))
        return false;
    return !atomic_load(&rt->nheld) || qv__held_deadlock(rt) == 0;
}

/* Copies the counts and chunk pointers under submit_mu and the function
 * table under reg_mu: the arrays behind them may be reallocated by a
 * submission or a qv_func_create meanwhile; the chunks and the functions
 * themselves stay put. Then copies the edges into [lo, hi), which no one
 * writes again: they were appended in order of their destination (a
 * task's edges at its submission), so a binary search finds the first. */
static int snapshot(qv_runtime *rt, qv__gview *g, uint64_t lo, uint64_t hi)
{
    qv__recorder *r = g->rec;
    uint64_t ne, rn;
    void **ec;
    pthread_mutex_lock(&rt->submit_mu);
    g->base = r->base;
    rn = r->nodes.n;
    ne = r->edges.n;
    g->nodes = qv__chunks_snapshot(&r->nodes, rn, sizeof(qv__node));
    ec = qv__chunks_snapshot(&r->edges, ne, sizeof(qv__edge));
    g->wait = may_wait(rt);
    pthread_mutex_unlock(&rt->submit_mu);
    if (lo < g->base)
        lo = g->base;
    if (hi > g->base + rn)
        hi = g->base + rn;
    if (hi < lo)
        hi = lo;
    g->off = lo - g->base;
    g->base = lo;
    g->n = hi - lo;
    funcs_snapshot(rt, g);
    uint64_t e0 = 0, e1 = ne;
    if (ec) {
        while (e0 < e1) {
            uint64_t mid = e0 + (e1 - e0) / 2;
            if (((const qv__edge *)qv__chunks_at(ec, mid, sizeof(qv__edge)))->dst < lo)
                e0 = mid + 1;
            else
                e1 = mid;
        }
        e1 = e0;
        while (e1 < ne &&
               ((const qv__edge *)qv__chunks_at(ec, e1, sizeof(qv__edge)))->dst < hi)
            e1++;
    }
    g->e = malloc((e1 > e0 ? e1 - e0 : 1) * sizeof *g->e);
    if (!g->nodes || !ec || !g->funcs || !g->e) {
        free(ec);
        return QV_ENOMEM;
    }
    /* Relative ids; edges are already grouped by destination (see
     * recorder.h), so sorting is cheap, and merging duplicates sums bytes. */
    for (uint64_t i = e0; i < e1; i++) {
        qv__edge e = *(const qv__edge *)qv__chunks_at(ec, i, sizeof e);
        if (e.src < g->base || e.dst < g->base || e.src >= e.dst ||
            e.dst - g->base >= g->n)
            continue;
        e.src -= g->base;
        e.dst -= g->base;
        g->e[g->m++] = e;
    }
    free(ec);
    return 0;
}

int qv__gview_build(qv_runtime *rt, qv__gview *g)
{
    return qv__gview_build_range(rt, 0, UINT64_MAX, g);
}

int qv__gview_span(qv_runtime *rt, uint64_t lo, uint64_t hi, uint64_t *t0, uint64_t *t1)
{
    qv__recorder *r = rt->rec;
    *t0 = UINT64_MAX;
    *t1 = 0;
    if (!r)
        return QV_ENOENT;
    pthread_rwlock_rdlock(&r->read_mu);
    pthread_mutex_lock(&rt->submit_mu);
    uint64_t base = r->base, n = r->nodes.n;
    void **c = lo >= base && hi <= base + n
                   ? qv__chunks_snapshot(&r->nodes, n, sizeof(qv__node))
                   : NULL;
    bool gone = !(lo >= base && hi <= base + n);
    pthread_mutex_unlock(&rt->submit_mu);
    if (!c && hi > lo) { /* slid out of the window or reset away: never */
        pthread_rwlock_unlock(&r->read_mu);
        return gone ? QV_ENOENT : QV_ENOMEM;
    }
    int all = c != NULL && hi > lo;
    for (uint64_t i = lo; all && i < hi; i++) {
        const qv__node *s = qv__chunks_at(c, i - base, sizeof *s);
        if (!atomic_load_explicit(&s->done, memory_order_acquire)) {
            all = 0;
            break;
        }
        if (s->start_ns && s->start_ns < *t0)
            *t0 = s->start_ns;
        if (s->end_ns > *t1)
            *t1 = s->end_ns;
    }
    pthread_rwlock_unlock(&r->read_mu);
    free(c);
    return all;
}

/* Waits without holding read_mu between looks: the run-time loop's thread
 * waits here for each entry while it runs, and a reader that held read_mu
 * all that time would keep the chunks slid out of the window from ever
 * being freed (recorder.h). Nor does it take submit_mu at each look (the
 * thread runs at nice 10: preempted holding it, it held up the program's
 * submissions); it takes a new snapshot only when chunks left the graph
 * meanwhile (r->moves). It only sleeps, backing off to 100 us: a waiter
 * that spun or yielded took a fifth of the samples of a replayed chain of
 * empty tasks on 2 cores from the threads that run it, and one that slept
 * up to 500 us left most entries of the signal demo unmeasured (one
 * measurement at a time per region), so a plan losing to eager placement
 * was noticed twice as late (bench_loop --pays). */
int qv__gview_each(qv_runtime *rt, uint64_t lo, uint64_t hi,
                   void (*fn)(void *arg, uint64_t i, const qv__node *nd), void *arg)
{
    qv__recorder *r = rt->rec;
    if (!r)
        return QV_ENOENT;
    uint64_t next = lo; /* nodes below it are done */
    uint64_t base = 0, moves = 0;
    void **c = NULL;
    long sleep_ns = 20000;
    for (;;) {
        pthread_rwlock_rdlock(&r->read_mu);
        if (!c || atomic_load_explicit(&r->moves, memory_order_relaxed) != moves) {
            free(c);
            pthread_mutex_lock(&rt->submit_mu);
            moves = atomic_load_explicit(&r->moves, memory_order_relaxed);
            base = r->base;
            uint64_t n = r->nodes.n;
            c = lo >= base && hi <= base + n && hi > lo
                    ? qv__chunks_snapshot(&r->nodes, n, sizeof(qv__node))
                    : NULL;
            pthread_mutex_unlock(&rt->submit_mu);
            if (!c) {
                pthread_rwlock_unlock(&r->read_mu);
                return 0;
            }
        }
        next = base + qv__rec_done_upto(c, next - base, hi - base);
        if (next == hi) {
            for (uint64_t i = lo; i < hi; i++) {
                const qv__node *s = qv__chunks_at(c, i - base, sizeof *s);
                qv__node nd = { .start_ns = s->start_ns, .end_ns = s->end_ns,
                                .bytes_in = s->bytes_in, .bytes_out = s->bytes_out,
                                .memory = s->memory, .func = s->func, .worker = s->worker,
                                .cls = s->cls, .board_us = s->board_us };
                fn(arg, i - lo, &nd);
            }
        }
        pthread_rwlock_unlock(&r->read_mu);
        if (next == hi) {
            free(c);
            return 1;
        }
        nanosleep(&(struct timespec){ 0, sleep_ns }, NULL);
        sleep_ns = sleep_ns * 2 > 100000 ? 100000 : sleep_ns * 2;
    }
}

int qv__gview_build_range(qv_runtime *rt, uint64_t lo, uint64_t hi, qv__gview *g)
{
    memset(g, 0, sizeof *g);
    if (!rt->rec)
        return qv__fail(QV_ENOENT, "this runtime does not record its graph "
                        "(qv_options.record is 0)");
    g->rt = rt;
    g->rec = rt->rec;
    pthread_rwlock_rdlock(&g->rec->read_mu);
    int rc = snapshot(rt, g, lo, hi);
    /* The tasks recorded so far, not those submitted while we wait. */
    if (!rc && g->wait)
        qv__rec_wait_nodes(g->nodes, g->off, g->off + g->n);
    return analyse(g, rc);
}

/* Copies the function table (rt->funcs may be reallocated meanwhile). */
static int funcs_snapshot(qv_runtime *rt, qv__gview *g)
{
    pthread_mutex_lock(&rt->reg_mu);
    g->nfuncs = rt->nfuncs;
    g->funcs = malloc((g->nfuncs ? g->nfuncs : 1) * sizeof *g->funcs);
    if (g->funcs && g->nfuncs)
        memcpy(g->funcs, rt->funcs, g->nfuncs * sizeof *g->funcs);
    pthread_mutex_unlock(&rt->reg_mu);
    return g->funcs ? 0 : QV_ENOMEM;
}

int qv__gview_build_frozen(qv_runtime *rt, const qv__frozen *f, qv__gview *g)
{
    memset(g, 0, sizeof *g);
    g->rt = rt;
    g->n = f->n;
    g->m = f->m;
    g->nodes = chunks_over(f->nodes, f->n);
    g->e = malloc((f->m ? f->m : 1) * sizeof *g->e);
    int rc = g->nodes && g->e ? funcs_snapshot(rt, g) : QV_ENOMEM;
    if (!rc)
        memcpy(g->e, f->e, f->m * sizeof *g->e);
    return analyse(g, rc);
}

/* Room for n nodes and m edges in f; 0 or QV_ENOMEM (f empty then). */
static int frozen_alloc(qv__frozen *f, uint64_t n, uint64_t m)
{
    memset(f, 0, sizeof *f);
    f->nodes = malloc((n ? n : 1) * sizeof *f->nodes);
    f->e = malloc((m ? m : 1) * sizeof *f->e);
    if (!f->nodes || !f->e) {
        qv__frozen_free(f);
        return QV_ENOMEM;
    }
    f->n = n;
    f->m = m;
    return 0;
}

int qv__gview_freeze(const qv__gview *g, qv__frozen *f)
{
    if (frozen_alloc(f, g->n, g->m))
        return QV_ENOMEM;
    for (uint64_t i = 0; i < g->n; i++)
        f->nodes[i] = qv__gview_node(g, i);
    memcpy(f->e, g->e, g->m * sizeof *f->e);
    return 0;
}

int qv__frozen_dup(const qv__frozen *from, qv__frozen *to)
{
    if (frozen_alloc(to, from->n, from->m))
        return QV_ENOMEM;
    memcpy(to->nodes, from->nodes, from->n * sizeof *to->nodes);
    memcpy(to->e, from->e, from->m * sizeof *to->e);
    return 0;
}

void qv__frozen_free(qv__frozen *f)
{
    free(f->nodes);
    free(f->e);
    memset(f, 0, sizeof *f);
}

/* The analysis of a view whose nodes and edges are in place (rc: how
 * getting them went): durations, merged edges, the critical path. */
static int analyse(qv__gview *g, int rc)
{
    uint64_t n = g->n;
    if (!rc) {
        g->dur_us = calloc(n ? n : 1, sizeof *g->dur_us);
        g->dist_us = calloc(n ? n : 1, sizeof *g->dist_us);
        g->pred = malloc((n ? n : 1) * sizeof *g->pred);
        g->on_cp = calloc(n ? n : 1, 1);
    }
    if (rc || !g->dur_us || !g->dist_us || !g->pred || !g->on_cp) {
        qv__gview_free(g);
        return qv__fail(QV_ENOMEM, "out of memory analysing the graph");
    }

    qsort(g->e, g->m, sizeof *g->e, cmp_edge);
    uint64_t m = 0;
    for (uint64_t i = 0; i < g->m; i++) {
        if (m && g->e[m - 1].src == g->e[i].src && g->e[m - 1].dst == g->e[i].dst)
            g->e[m - 1].bytes += g->e[i].bytes;
        else
            g->e[m++] = g->e[i];
    }
    g->m = m;

    g->t0_ns = UINT64_MAX;
    for (uint64_t i = 0; i < n; i++) {
        qv__node nd = qv__gview_node(g, i);
        g->dur_us[i] = nd.end_ns > nd.start_ns ? (nd.end_ns - nd.start_ns) / 1e3 : 0;
        if (nd.start_ns && nd.start_ns < g->t0_ns)
            g->t0_ns = nd.start_ns;
        if (nd.end_ns > g->t1_ns)
            g->t1_ns = nd.end_ns;
        g->pred[i] = -1;
    }
    if (g->t0_ns == UINT64_MAX)
        g->t0_ns = g->t1_ns;

    uint64_t k = 0, best = 0;
    for (uint64_t i = 0; i < n; i++) {
        double in = 0;
        for (; k < g->m && g->e[k].dst == i; k++) {
            uint64_t s = g->e[k].src;
            if (g->pred[i] < 0 || g->dist_us[s] > in) {
                in = g->dist_us[s];
                g->pred[i] = (int64_t)s;
            }
        }
        g->dist_us[i] = in + g->dur_us[i];
        if (g->dist_us[i] > g->dist_us[best])
            best = i;
    }
    if (n) {
        g->cp_us = g->dist_us[best];
        for (int64_t v = (int64_t)best; v >= 0; v = g->pred[v]) {
            g->on_cp[v] = 1;
            g->cp_len++;
        }
    }
    return 0;
}

QV_API int qv_graph_info_get(qv_runtime *rt, qv_graph_info *info)
{
    if (!qv__rt_ok(rt) || !info)
        return qv__fail(QV_EINVAL, "qv_graph_info_get: %s", qv__args_why(rt));
    memset(info, 0, sizeof *info);
    qv__gview g;
    int rc = qv__gview_build(rt, &g);
    if (rc)
        return rc;
    info->nodes = g.n;
    info->edges = g.m;
    for (uint64_t i = 0; i < g.n; i++)
        info->total_us += g.dur_us[i];
    info->span_us = g.n ? (g.t1_ns - g.t0_ns) / 1e3 : 0;
    info->critical_path_us = g.cp_us;
    info->critical_path_len = g.cp_len;
    /* Bottlenecks: the longest tasks on the critical path that each take at
     * least a tenth of it; a path of many equal small tasks has none. */
    for (unsigned b = 0; b < 4; b++) {
        int64_t best = -1;
        for (uint64_t i = 0; i < g.n; i++) {
            if (!g.on_cp[i] || g.dur_us[i] <= 0 || g.dur_us[i] < 0.1 * g.cp_us)
                continue;
            bool taken = false;
            for (unsigned j = 0; j < b; j++)
                taken |= info->bottleneck[j] == g.base + i;
            if (!taken && (best < 0 || g.dur_us[i] > g.dur_us[best]))
                best = (int64_t)i;
        }
        if (best < 0)
            break;
        info->bottleneck[info->nbottlenecks++] = g.base + (uint64_t)best;
    }
    qv__gview_free(&g);
    return 0;
}

/* Node id, once its task is done, and its function's name; QV_ENOENT
 * when it is not recorded (any more). */
static int node_of(qv_runtime *rt, uint64_t id, qv__node *out, const char **function)
{
    if (!rt->rec)
        return qv__fail(QV_ENOENT, "this runtime does not record its graph");
    /* The view of one node: its chunk, found under submit_mu, stays put
     * while read_mu holds resets off. */
    qv__recorder *r = rt->rec;
    qv__gview g = { .rt = rt };
    pthread_rwlock_rdlock(&r->read_mu);
    pthread_mutex_lock(&rt->submit_mu);
    bool have = id >= r->base && id - r->base < r->nodes.n;
    void *chunk = have ? r->nodes.c[(id - r->base) / QV__REC_CHUNK] : NULL;
    uint64_t i = have ? (id - r->base) % QV__REC_CHUNK : 0;
    bool wait = have && may_wait(rt);
    pthread_mutex_unlock(&rt->submit_mu);
    if (!have) {
        pthread_rwlock_unlock(&r->read_mu);
        return qv__fail(QV_ENOENT, "no node %llu in the recorded graph",
                        (unsigned long long)id);
    }
    g.nodes = &chunk;
    if (wait)
        qv__rec_wait_nodes(g.nodes, i, i + 1);
    pthread_mutex_lock(&rt->reg_mu);
    g.funcs = rt->funcs;
    g.nfuncs = rt->nfuncs;
    *out = qv__gview_node(&g, i);
    *function = qv__gview_func(&g, i);
    pthread_mutex_unlock(&rt->reg_mu);
    pthread_rwlock_unlock(&r->read_mu);
    return 0;
}

/* out from node n (done). */
static void node_info(const qv_runtime *rt, const qv__node *n, qv_node_info *out)
{
    uint64_t t0 = rt->created_ns;
    out->cls = (qv_class)n->cls;
    out->worker = n->worker;
    out->start_us = n->start_ns > t0 ? (n->start_ns - t0) / 1e3 : 0;
    out->end_us = n->end_ns > t0 ? (n->end_ns - t0) / 1e3 : 0;
    out->bytes_in = n->bytes_in;
    out->bytes_out = n->bytes_out;
}

QV_API int qv_graph_node(qv_runtime *rt, uint64_t id, qv_node_info *out)
{
    if (!qv__rt_ok(rt) || !out)
        return qv__fail(QV_EINVAL, "qv_graph_node: %s", qv__args_why(rt));
    qv__node n;
    int rc = node_of(rt, id, &n, &out->function);
    if (!rc)
        node_info(rt, &n, out);
    return rc;
}

int qv__graph_node_err(qv_runtime *rt, uint64_t id, qv_node_info *out, int *err)
{
    qv__node n;
    int rc = node_of(rt, id, &n, &out->function);
    if (rc)
        return rc;
    if (!atomic_load_explicit(&n.done, memory_order_relaxed))
        return QV_EBUSY;
    node_info(rt, &n, out);
    *err = n.err;
    return 0;
}

/* read_mu exclusive for a reset, unless the calling thread holds a buffer
 * that tasks wait for (may_wait): a reader may be waiting, read_mu held,
 * for one of those tasks (the run-time loop's compile waits for an
 * entry's nodes), and the lock would never come. Tried rather than waited
 * for, as the thread's hold may come to block a task meanwhile. */
static bool reset_lock(qv_runtime *rt, qv__recorder *r)
{
    for (unsigned us = 20;; us = us < 1000 ? us * 2 : us) {
        if (pthread_rwlock_trywrlock(&r->read_mu) == 0)
            return true;
        pthread_mutex_lock(&rt->submit_mu);
        bool ok = may_wait(rt);
        pthread_mutex_unlock(&rt->submit_mu);
        if (!ok)
            return false;
        struct timespec ts = {0, (long)us * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The recorded nodes' memory is written by the workers that complete them
 * and read by readers (recorder.h). A reset detaches it; a reset that may
 * wait (see may_wait) then takes every detached array while no reader
 * holds one (read_mu exclusive, briefly) and frees each once its nodes are
 * done, waiting for the tasks submitted before it, not for those submitted
 * since, and holding no lock meanwhile. Otherwise (from a task, or from a
 * thread holding a buffer that tasks wait for) it only detaches: a later
 * reset or qv_runtime_destroy frees. */
QV_API int qv_graph_reset(qv_runtime *rt)
{
    if (!qv__rt_ok(rt))
        return qv__fail(QV_EINVAL, "qv_graph_reset: %s", qv__rt_why(rt));
    qv__marks_clear(rt);
    qv__recorder *r = rt->rec;
    if (!r)
        return 0;
    /* Not from a task: a reader may be waiting for this very task. */
    bool locked = !qv__current_worker(rt) && reset_lock(rt, r);
    pthread_mutex_lock(&rt->submit_mu);
    int rc = qv__rec_forget(r, rt->next_id);
    qv__rec_reclaim(r, locked); /* else tried: never waited for */
    bool wait = locked && may_wait(rt);
    struct qv__rec_old *old = NULL;
    size_t nold = 0;
    if (wait) {
        old = r->retired;
        nold = r->nretired;
        r->retired = NULL;
        r->nretired = 0;
    }
    pthread_mutex_unlock(&rt->submit_mu);
    if (locked)
        pthread_rwlock_unlock(&r->read_mu);
    for (size_t i = 0; i < nold; i++) {
        qv__rec_wait_nodes(old[i].nodes.c, 0, old[i].nodes.n);
        qv__chunks_free(&old[i].nodes);
        qv__chunks_free(&old[i].edges);
    }
    free(old);
    return rc ? qv__fail(QV_ENOMEM, "qv_graph_reset: out of memory") : 0;
}

