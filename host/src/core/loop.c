/*
 * loop.c - the background side of the run-time loop (docs/runtime.md,
 * "Regions"): one thread per runtime compiles hot regions into plans,
 * measures each replayed entry against its plan, and re-plans when what it
 * measures drifts from what was predicted or when a device appears,
 * disappears or fails.
 *
 * Compiling: the planner's graph of one entry (to_dag.c: the measured
 * costs of the class each task ran on, the models' for the others, the
 * emulated boards' modelled times, the bytes of each edge), the platform
 * of the devices the runtime has in service now with their measured links,
 * and the quiver algorithm (METIS candidates and list scheduling, the
 * catalog's kernels). The plan becomes a qv__rplan: per task a device.
 *
 * Measuring: per device, the measured time of the entry's tasks against
 * the plan's prediction, as a ratio calibrated on the first entries of the
 * region's first plan (a plan predicts from one recorded entry, and devices
 * have steady offsets that are no news), kept across re-plans. When a
 * device's ratio moves past policy replan.drift from its calibration, and
 * past 3 times that device's own noise (the average deviation of its
 * earlier entries: a loaded machine's CPU moves by 30 % from one entry to
 * the next), for DRIFT_ENTRIES entries in a row, the region is re-planned
 * from the last entry, whose measured times carry the change; no more
 * often than replan.min_interval_ms. The entries' span over the plan's
 * makespan (the median of the last QV__CALS) calibrates the prediction
 * that qv_region_info reports. The thread that ran an entry takes its
 * measure once the entry's tasks are done (take_measures,
 * through qv__loop_measure); this thread only when they still ran then
 * (region.c, defer_wake).
 *
 * Against eager placement: the recorded entries' times (from an entry's
 * first call to its last task's end: what the program waits, submission
 * included, which a replay saves) are measured too, and a plan whose
 * replayed entries are slower than them by more than replan.eager_slack
 * (medians) loses, once eager placement was measured again (a probe of 5
 * eager entries, which every plan gets once): a fused plan is re-planned
 * without fused kernels, an unfused one is dropped and the region runs
 * eagerly for replan.eager_retry_ms, twice as long at each loss in a row,
 * or until the devices change, then is planned again (loses()).
 *
 * The thread runs at nice 10: the application never waits for it, and it
 * takes a small share of a core from busy workers, never a whole one.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config/catalog.h"
#include "config/policy.h"
#include "core/part.h"
#include "core/region.h"
#include "devices/device.h"
#include "qvpart.h"
#include "trace/graph.h"
#include "trace/marks.h"
#include "trace/perfmodel.h"
#include "trace/to_dag.h"
#include "core/thread.h"

#define DRIFT_ENTRIES 2     /* entries in a row past the drift */
#define MIN_DEVICE_US 20.0  /* a device's predicted time in an entry below
                             * which its ratio is noise */
#define CAL_WEIGHT    0.25  /* weight of a new entry in the calibration */
#define NOISE_TIMES   3.0   /* a drift stands out of a device's noise by */
#define CAL_ENTRIES   3     /* entries that only calibrate, after a plan */
#define CAL_SHIFT     3     /* ratios in a row past CAL_SHIFT_X of the */
#define CAL_SHIFT_X   1.25  /* prediction's median restart its window */
#define CALIB_WAIT    32    /* entries of a signature that its first compile
                             * waits for the scheduler's calibration, at most */
#define MIN_EAGER     3     /* recorded entries measured before a plan
                             * is held against eager placement */
#define FUSE_OFF      0.5   /* fused kernels measured this far from what
                             * a plan assumed of them re-plan it */
#define FAR_SLOWER    2.0   /* a plan whose entries all take this times */
#define FAR_ENTRIES   3     /* eager's loses after this many, not QV__SPANS */
#define FRESH_FASTER  1.5   /* a refresh this much faster re-plans */
#define CLEAR_SLOWER  1.2   /* a plan whose entries are all slower than all */
                            /* of eager's, by this much in medians, loses */
                            /* after FAR_ENTRIES too */
/* The eager period after a dropped plan grows to 2^this times
 * replan.eager_retry_ms. */
#define RETRY_DOUBLINGS 6

void qv__rplan_release(qv__rplan *p)
{
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(p->pref);
    free(p->dev);
    free(p->worker);
    free(p->pred_us);
    free(p->chain);
    free(p->chains);
    free(p->node_pos);
    qv__frozen_free(&p->src);
    free(p);
}

static void *loop_main(void *arg);

bool qv__loop_job(qv__region *r, uint64_t lo, uint64_t hi, qv__rplan *from,
                  const uint64_t *pref, uint32_t n, uint64_t sig, bool replan, int cls,
                  double x, const char *reason)
{
    uint64_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy)
        return false;
    memcpy(copy, pref, n * sizeof *copy);
    free(r->job_pref);
    r->job_pref = copy;
    r->job_lo = lo;
    r->job_hi = hi;
    if (from)
        atomic_fetch_add_explicit(&from->refs, 1, memory_order_relaxed);
    qv__rplan_release(r->job_from);
    r->job_from = from;
    r->job_n = n;
    r->job_sig = sig;
    r->want_replan = replan;
    r->job_no_fuse = r->no_fuse;
    r->job_weighed = false; /* set by the caller where it is so */
    r->job_drift_cls = cls;
    r->job_drift_x = x;
    /* r->src_scale takes it when the plan is made (publish): a compile
     * that fails leaves the drift to be measured again, not counted twice */
    memcpy(r->job_src_scale, r->src_scale, sizeof r->src_scale);
    if (from && cls >= 0 && cls < QV_CLASS_COUNT && x > 0 && isfinite(x))
        r->job_src_scale[cls] = (r->src_scale[cls] > 0 ? r->src_scale[cls] : 1) * x;
    if ((cls == QV_CLASS_FPGA || cls == QV_CLASS_REMOTE) && x > 0 && isfinite(x))
        r->fuse_scale = (r->fuse_scale > 0 ? r->fuse_scale : 1) * x;
    r->job_fuse_scale = r->fuse_scale;
    snprintf(r->job_reason, sizeof r->job_reason, "%.127s", reason);
    r->want_compile = true;
    return true;
}

/* Starts the background thread the first time; under loop->mu. After
 * qv__region_stop there is none, and none is started. */
static bool start(qv_runtime *rt, struct qv__loop *l)
{
    if (!l->started && !l->stop) {
        if (qv__thread_start(&l->thread, NULL, loop_main, rt) != 0)
            return false;
        l->started = true;
    }
    return true;
}

bool qv__loop_queue(qv_runtime *rt, qv__region *r)
{
    struct qv__loop *l = rt->loop;
    if (r->queued)
        return true;
    if (!start(rt, l)) {
        snprintf(r->error, sizeof r->error, "no thread for the compiler");
        return false;
    }
    r->queued = true;
    r->qnext = NULL;
    if (l->qtail)
        l->qtail->qnext = r;
    else
        l->qhead = r;
    l->qtail = r;
    pthread_cond_signal(&l->cv);
    return true;
}

void qv__loop_ahead(qv_runtime *rt, unsigned kinds)
{
    struct qv__loop *l = rt->loop;
    pthread_mutex_lock(&l->mu);
    kinds &= ~(l->ahead | l->ahead_busy); /* asked for already */
    if (kinds && !l->stop && start(rt, l)) {
        l->ahead |= kinds;
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

/* Makes the chunks asked for; under loop->mu, let go meanwhile. */
static void make_ahead(qv_runtime *rt, struct qv__loop *l)
{
    unsigned kinds = l->ahead;
    l->ahead = 0;
    l->ahead_busy = kinds;
    pthread_mutex_unlock(&l->mu);
    for (int k = 0; k < 3; k++) {
        void *c = kinds & (1u << k) ? qv__rec_ahead_make(k) : NULL;
        if (!c)
            continue;
        pthread_mutex_lock(&rt->submit_mu);
        qv__rec_ahead_take(rt->rec, k, c);
        pthread_mutex_unlock(&rt->submit_mu);
    }
    pthread_mutex_lock(&l->mu);
    l->ahead_busy = 0;
}

/* ---- compiling --------------------------------------------------------- */

/* The platform of the devices in service now; dev_of[resource] is the
 * runtime's device. */
static int live_plat(qv_runtime *rt, qv_plat **out, unsigned *dev_of)
{
    qv_plat_res res[QV__MAX_DEVICES];
    memset(res, 0, sizeof res);
    uint32_t n = 0;
    qv_plat_res *cpu = &res[n];
    snprintf(cpu->name, sizeof cpu->name, "%s", rt->cpu_name[0] ? rt->cpu_name : "cpu");
    snprintf(cpu->cls, sizeof cpu->cls, "%s", qv_class_name(QV_CLASS_CPU));
    cpu->units = rt->nworkers ? rt->nworkers : 1;
    cpu->speed = 1.0;
    cpu->host_memory = 1;
    dev_of[n++] = 0;
    for (unsigned d = 1; d <= rt->naccel; d++)
        if (qv__devq_plat_res(rt, d, &res[n]))
            dev_of[n++] = d;
    return qv_plat_create("runtime", res, n, out);
}

/* A device of class cls runs x times as long as its calibration said: the
 * nodes that ran elsewhere in the entry have their cost there from the
 * models, which have not learnt that yet, so they are scaled by x too (the
 * nodes that ran there carry it in their measured time). */
/* g's index of runtime class cls; -1 when g has none. */
static int dag_class(const qv_dag *g, int cls)
{
    for (uint32_t c = 0; cls >= 0 && c < g->nclass; c++)
        if (!strcmp(g->class_name[c], qv_class_name((qv_class)cls)))
            return (int)c;
    return -1;
}

static void scale_class(qv_dag *g, int cls, double x)
{
    int k = dag_class(g, cls);
    if (k < 0 || !g->run || x <= 0 || !isfinite(x))
        return;
    for (uint32_t i = 0; i < g->n; i++)
        if (g->run[i].device != k)
            g->cost[(size_t)i * g->nclass + (uint32_t)k] *= x;
}

/* Every cost on class cls times x: a re-plan from a plan's source entry
 * prices the class as the source saw it, times the drifts since. (Scaling
 * only the source's measured costs, and the models' by the last drift
 * alone, as the models may have learnt the earlier ones, made the board
 * of bench/loop --adapt swing between 0.25x and 4x its calibration, and
 * the region re-plan on each swing.) */
static void scale_all(qv_dag *g, int cls, double x)
{
    int k = dag_class(g, cls);
    for (uint32_t i = 0; k >= 0 && i < g->n; i++)
        g->cost[(size_t)i * g->nclass + (uint32_t)k] *= x;
}

/* Whether class c's devices in service (p, dev_of) are all on the host's
 * cores (emulated boards; PoCL, whose runs keep no model to pace). */
static bool emulated(qv_runtime *rt, const qv_plat *p, const unsigned *dev_of, int c)
{
    bool host = false, card = false;
    for (uint32_t r = 0; r < p->nres; r++) {
        unsigned d = dev_of[r];
        if (d && (int)qv__devq_class(rt, d) == c)
            *(qv__device(rt, d)->on_host ? &host : &card) = true;
    }
    return host && !card;
}

/* Costs of g (node i a call of fns[i]) on a class whose devices in service
 * are all emulated boards on the host's cores, times the pace of their runs
 * (qv__func_emu_pace; kept in paced[i * QV_CLASS_COUNT + class]) where
 * that is over 1: a run there ends after its
 * emulation's wall time, not the card's model, as eager placement weighs
 * it (placement.c). Planned at the model alone, the 4 x 4096 signal chain
 * of bench/loop --pays put fir on the board (36 us modelled, 60-100 us of
 * wall time, against the CPU's 70), predicted 355 us an entry and took
 * 700, where eager placement took 640. A pace under 1 (an emulation
 * faster than the card) is left to the model: that is the card's time. */
static void emu_pace(qv_runtime *rt, qv_dag *g, const qv_plat *p, const unsigned *dev_of,
                     qv_func *const *fns, float *paced)
{
    for (int c = QV_CLASS_CPU + 1; c < QV_CLASS_COUNT; c++) {
        int k = dag_class(g, c);
        if (k < 0 || !emulated(rt, p, dev_of, c))
            continue;
        for (uint32_t i = 0; i < g->n; i++) {
            double x = fns[i] ? qv__func_emu_pace(fns[i], (qv_class)c) : 0;
            if (x > 1 && isfinite(x)) {
                g->cost[(size_t)i * g->nclass + (uint32_t)k] *= x;
                paced[(size_t)i * QV_CLASS_COUNT + (size_t)c] = (float)x;
            }
        }
    }
}

/* The largest pace on the board (qv__func_emu_pace) of the functions of
 * g (node i a call of fns[i]) that kernels ks[0..nk-1] fuse; 0 when none
 * has one. */
static double member_pace(const qv_dag *g, qv_func *const *fns,
                          const struct qv__kernel *const *ks, unsigned nk)
{
    /* Per function of g, whether a kernel fuses it: asked once each, not
     * at each of its nodes. */
    bool *member = calloc(g->nfunc ? g->nfunc : 1, sizeof *member);
    if (!member)
        return 0;
    for (uint32_t fi = 0; fi < g->nfunc; fi++)
        for (unsigned k = 0; k < nk && !member[fi]; k++)
            for (size_t j = 0; j < ks[k]->nfuncs && !member[fi]; j++)
                member[fi] = !strcmp(ks[k]->funcs[j], g->func_name[fi]);
    double most = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        double x =
            member[g->func[i]] && fns[i] ? qv__func_emu_pace(fns[i], QV_CLASS_FPGA) : 0;
        if (x > most && isfinite(x))
            most = x;
    }
    free(member);
    return most;
}

/* Whether a device in service (p, dev_of) of class c runs f: the CPU
 * what it can, an accelerator what it builds (qv__devq_usable) within
 * f's qv_func_set_where. */
static bool runs_on_class(qv_runtime *rt, const qv_func *f, int c, const qv_plat *p,
                          const unsigned *dev_of)
{
    if (!qv__func_can(f, (qv_class)c))
        return false;
    if (c == QV_CLASS_CPU)
        return true;
    for (uint32_t r = 0; r < p->nres; r++) {
        unsigned d = dev_of[r];
        if (d && (int)qv__devq_class(rt, d) == c && qv__devq_usable(rt, d, f))
            return true;
    }
    return false;
}

/* Costs of g (node i a call of fns[i]) on the classes whose devices in
 * service (p, dev_of) all refuse a node's function (qv__devq_usable: its
 * code does not build there), or that its qv_func_set_where leaves out,
 * made INFINITY, as for a class it has no implementation for: the node
 * kept the cost of the class it ran on in its source entry, and a re-plan
 * after the device refused the function put it there again, a guard miss
 * at every entry after (ThreadSanitizer's slow CPU); so did one on the CPU
 * where a call ran because the devices its mask allows refused it (4929
 * guard misses in 60 s: the replay's guard holds the mask). By the node's
 * function: g names a function bound to a one-function catalog kernel by
 * the kernel's (to_dag.c), which qv_func_find does not find under another
 * name, and such a function's costs were left as they were. */
static void drop_unusable(qv_runtime *rt, qv_dag *g, const qv_plat *p,
                          const unsigned *dev_of, qv_func *const *fns)
{
    /* Per function (by id) and class: 0 not asked yet, 1 runs, 2 not;
     * without memory for it, asked at each node. */
    size_t nid = 0;
    for (uint32_t i = 0; i < g->n; i++)
        if (fns[i] && fns[i]->id >= nid)
            nid = (size_t)fns[i]->id + 1;
    unsigned char *memo = calloc(nid ? nid : 1, QV_CLASS_COUNT);
    for (int c = QV_CLASS_CPU; c < QV_CLASS_COUNT; c++) {
        int k = dag_class(g, c);
        if (k < 0)
            continue; /* no cost there to drop */
        for (uint32_t i = 0; i < g->n; i++) {
            const qv_func *f = fns[i];
            if (!f || f->fused)
                continue; /* a fused kernel's launch */
            size_t at = (size_t)f->id * QV_CLASS_COUNT + (size_t)c;
            unsigned char m = memo ? memo[at] : 0;
            if (!m) {
                m = runs_on_class(rt, f, c, p, dev_of) ? 1 : 2;
                if (memo)
                    memo[at] = m;
            }
            if (m == 2)
                g->cost[(size_t)i * g->nclass + (uint32_t)k] = INFINITY;
        }
    }
    free(memo);
}

/* The name of a function of g that no device in service may run (no
 * finite cost on a class of live, the classes of those devices: the
 * devices its qv_func_set_where allows are out of service or refuse it,
 * and no other has a model of it), or NULL. */
static const char *runs_nowhere(const qv_dag *g, unsigned live)
{
    int col[QV_CLASS_COUNT];
    for (int c = 0; c < QV_CLASS_COUNT; c++)
        col[c] = live & 1u << c ? dag_class(g, c) : -1;
    for (uint32_t i = 0; i < g->n; i++) {
        bool any = false;
        for (int c = 0; c < QV_CLASS_COUNT && !any; c++)
            any = col[c] >= 0 &&
                  isfinite(g->cost[(size_t)i * g->nclass + (uint32_t)col[c]]);
        if (!any)
            return g->func_name[g->func[i]];
    }
    return NULL;
}

/* Whether every chain plan pl fuses is tasks i..i+len-1 of the entry, in
 * the order of the kernel's `implements`, of a kernel whose arguments the
 * catalog maps (`of`), short enough to hold back (fuse.c), and on a
 * device that runs it (a remote board's daemon may serve fewer kernels
 * than the catalog has for its board) and whose class each of its
 * functions may run on (qv_func_set_where: a stage the program keeps to
 * the host is not fused onto a board), each tied to the catalog
 * (qv__fuse_kept_off) and none stranded on the board with it
 * (qv__fuse_strands). */
static bool chains_ok(qv_runtime *rt, const qv_dag *g, const qv_plan *pl, uint32_t n,
                      const qv_plat *p, const unsigned *dev_of, qv_func *const *fns)
{
    const qv__catalog *cat = rt->catalog;
    for (uint32_t i = 0; i < n;) {
        uint32_t k = pl->fused[i];
        if (k == UINT32_MAX) {
            i++;
            continue;
        }
        const qv__kernel *kn = &cat->kernels[k];
        if (!kn->mapped || kn->nfuncs > 8 || i + kn->nfuncs > n)
            return false;
        for (uint32_t j = 0; j < kn->nfuncs; j++)
            if (pl->fused[i + j] != k || strcmp(g->func_name[g->func[i + j]], kn->funcs[j]))
                return false;
        unsigned dev = dev_of[p->unit_res[pl->unit[i]]];
        if (dev && !qv__devq_serves(rt, dev, kn->name))
            return false; /* a daemon that does not serve it */
        unsigned bit = 1u << qv__devq_class(rt, dev);
        for (uint32_t j = 0; j < kn->nfuncs; j++) {
            const qv_func *f = fns[i + j]; /* g names it by its kernel's function */
            if (!f || (f->where && !(f->where & bit)) || qv__fuse_kept_off(f))
                return false;
        }
        if (qv__fuse_strands(rt, fns + i, (unsigned)kn->nfuncs, kn, NULL))
            return false;
        i += (uint32_t)kn->nfuncs;
    }
    return true;
}

/* The length of the part that starts at task i of rp: the tasks in a row
 * from i that the plan puts on one remote board, outside fused chains,
 * shipped whole (part.c), as many as its daemon takes in one run; 0 when
 * fewer than 2. (A part past the daemon's --max-tasks was refused there
 * at every entry, and ran on the host: adversarial testing.) */
static uint32_t part_len(qv_runtime *rt, const qv_plan *pl, const qv__rplan *rp, uint32_t i)
{
    unsigned d = rp->dev[i];
    if (!d || qv__devq_class(rt, d) != QV_CLASS_REMOTE)
        return 0;
    unsigned most = qv__devq_run_calls(rt, d);
    if (most > QV__PART_MAX)
        most = QV__PART_MAX;
    uint32_t len = 0;
    while (i + len < rp->n && len < most && rp->dev[i + len] == d &&
           !(pl->fused && pl->fused[i + len] != UINT32_MAX))
        len++;
    return len >= 2 ? len : 0;
}

/* Copies pl's fused chains (checked by chains_ok) and its parts on remote
 * boards into rp, with the nodes a replayed entry makes. */
static int take_chains(qv_runtime *rt, const qv_plan *pl, qv__rplan *rp)
{
    uint32_t n = rp->n;
    if (!(rp->node_pos = malloc((n ? n : 1) * sizeof *rp->node_pos)))
        return QV_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        if ((pl->fused && pl->fused[i] != UINT32_MAX) || part_len(rt, pl, rp, i)) {
            rp->chain = calloc(n, sizeof *rp->chain);
            rp->chains = calloc(n, sizeof *rp->chains);
            if (!rp->chain || !rp->chains)
                return QV_ENOMEM;
            break;
        }
    for (uint32_t i = 0; i < n;) {
        uint32_t k = rp->chain && pl->fused ? pl->fused[i] : UINT32_MAX;
        uint32_t plen = rp->chain && k == UINT32_MAX ? part_len(rt, pl, rp, i) : 0;
        if (plen && rp->nchains < UINT16_MAX) {
            /* A part: one task, predicted at its calls' sum. */
            rp->chains[rp->nchains] = (struct qv__rchain){NULL, i, plen};
            rp->nchains++;
            for (uint32_t j = 0; j < plen; j++) {
                rp->chain[i + j] = (uint16_t)rp->nchains;
                if (j + 1 < plen) {
                    rp->pred_us[i + plen - 1] += rp->pred_us[i + j];
                    rp->pred_us[i + j] = 0;
                }
            }
            rp->node_pos[rp->nnodes++] = i + plen - 1;
            i += plen;
            continue;
        }
        if (k == UINT32_MAX || rp->nchains >= UINT16_MAX) {
            rp->node_pos[rp->nnodes++] = i++;
            continue;
        }
        const qv__kernel *kn = &rt->catalog->kernels[k];
        uint32_t len = (uint32_t)kn->nfuncs;
        rp->chains[rp->nchains] = (struct qv__rchain){kn, i, len};
        rp->nchains++;
        for (uint32_t j = 0; j < len; j++)
            rp->chain[i + j] = (uint16_t)rp->nchains;
        rp->node_pos[rp->nnodes++] = i + len - 1; /* the launch */
        i += len;
    }
    return 0;
}

/* The refreshes plan rp offers (qv__rplan.fresh): per function of the
 * entry (node i a call of fns[i]) and class of a device in service (p,
 * dev_of) that runs it, where the plan puts none of its calls outside
 * chains, its first such call, at the planner's cost of it there. Eager
 * placement sends a call to a model left unmeasured for
 * perfmodel.refresh_ms (placement.c); a replayed plan sent none to what it
 * avoided, and a board that a slow spell priced out of a plan was never
 * measured again, however fast it ran after (review). Not on a device that
 * costs money when the objective weighs money (a plan that leaves it out
 * to save that would spend it), nor where the cost is infinite (the call
 * does not fit there). */
static void pick_refreshes(qv_runtime *rt, const qv_dag *g, const qv_plat *p,
                           const unsigned *dev_of, qv_func *const *fns, qv__rplan *rp)
{
    const qv__policy *pol = rt->policy;
    if (!pol->perfmodel_refresh_ms || pol->scheduler == QV__SCHED_EAGER)
        return;
    size_t nid = 0;
    for (uint32_t i = 0; i < rp->n; i++)
        if (fns[i] && fns[i]->id >= nid)
            nid = (size_t)fns[i]->id + 1;
    /* Per function: the classes its calls are planned on, and its first
     * call outside chains. */
    unsigned *used = calloc(nid ? nid : 1, sizeof *used);
    uint32_t *first = malloc((nid ? nid : 1) * sizeof *first);
    for (size_t f = 0; first && f < nid; f++)
        first[f] = UINT32_MAX;
    for (uint32_t i = 0; used && first && i < rp->n; i++) {
        const qv_func *f = fns[i];
        if (!f || f->fused || (rp->chain && rp->chain[i]))
            continue;
        used[f->id] |= 1u << qv__devq_class(rt, rp->dev[i]);
        if (first[f->id] == UINT32_MAX)
            first[f->id] = i;
    }
    for (uint32_t i = 0; used && first && i < rp->n && rp->nfresh < QV__FRESH_MAX; i++) {
        qv_func *f = fns[i];
        if (!f || f->fused || first[f->id] != i)
            continue;
        for (int c = 0; c < QV_CLASS_COUNT && rp->nfresh < QV__FRESH_MAX; c++) {
            int gc = dag_class(g, c);
            double cost = gc >= 0 ? g->cost[(size_t)i * g->nclass + (uint32_t)gc] : 0;
            if ((used[f->id] & 1u << c) || !(cost > 0) || !isfinite(cost))
                continue;
            for (uint32_t r = 0; r < p->nres; r++) {
                unsigned d = dev_of[r];
                if ((int)qv__devq_class(rt, d) != c ||
                    (pol->objective > 0 && p->res[r].cost_per_hour > 0) ||
                    !qv__can_run_on(rt, f, d))
                    continue;
                struct qv__rfresh *x = &rp->fresh[rp->nfresh++];
                *x = (struct qv__rfresh){i, (uint8_t)d, (uint8_t)c, (float)cost, ""};
                snprintf(x->fn, sizeof x->fn, "%s", f->name);
                break;
            }
        }
    }
    free(used);
    free(first);
}

/* Whether the scheduler is still measuring a function of view v's nodes
 * on a device that could run it (placement.c: fewer than min_samples runs
 * at that size, and tries left): a plan made now would know only the
 * devices measured so far, and its replays would never measure the others
 * (the offload demo's wrapped calls were all planned onto the PoCL device
 * their first runs calibrated, 100x slower than the CPU). why names one.
 * Functions that only one class can run are not asked about. */
static bool calibrating(qv_runtime *rt, const qv__gview *v, char *why, size_t wn)
{
    const qv__policy *pol = rt->policy;
    if (pol->scheduler == QV__SCHED_EAGER)
        return false; /* it measures nothing on purpose */
    unsigned min = pol->perfmodel_min_samples ? pol->perfmodel_min_samples : 1;
    bool busy = false;
    for (uint64_t i = 0; i < v->n && !busy; i++) {
        qv_func *f = qv__gview_fn(v, i);
        if (!f || !(f->impls & rt->accel_classes))
            continue;
        qv__node nd = qv__gview_node(v, i);
        for (unsigned d = 0; d <= rt->naccel && !busy; d++) {
            qv_class c = qv__devq_class(rt, d);
            if (d ? !qv__devq_usable(rt, d, f) : !qv__func_can(f, QV_CLASS_CPU))
                continue;
            double est;
            uint64_t runs = 0;
            if ((qv__perf_get(f->perf[c], nd.memory, &est, NULL, &runs) != 0 || runs < min) &&
                atomic_load(&f->tries[c]) < min) {
                snprintf(why, wn, "'%s' is still being measured on the %s class", f->name,
                         qv_class_name(c));
                busy = true;
            }
        }
    }
    return busy;
}

/* qv_plan_opts.cancel: whether the runtime shuts down. (Tests: a
 * "planner" delay at each check makes a compile long enough to stop.) */
static int stopping(void *arg)
{
    (void)qv__fault_hit("planner", QV_FAULT_WAIT);
    return atomic_load_explicit(&((struct qv__loop *)arg)->stopping,
                                memory_order_relaxed);
}

/* Plans nodes [lo, hi) (n tasks), or the source entry from, on the devices
 * in service into *out: the costs on class drift_cls that the entry did
 * not measure scaled by drift_x (scale_class; -1: none), or all of from's
 * costs by src_scale (per class, 0: none). 0, or an error with why. */
static int compile(qv_runtime *rt, const char *name, uint64_t lo, uint64_t hi,
                   const qv__frozen *from, bool first, uint32_t n, int drift_cls,
                   double drift_x, const double *src_scale, bool no_fuse,
                   double fuse_scale, qv__rplan **out, char *why, size_t wn)
{
    qv_dag *g = NULL;
    qv_plat *p = NULL;
    qv_plan *pl = NULL;
    qv__rplan *rp = NULL;
    qv__frozen src = {0};
    qv_func **fns = NULL;
    float *paced = NULL; /* emu_pace's factors, per node and class */
    unsigned dev_of[QV__MAX_DEVICES];
    uint64_t gen = atomic_load(&rt->loop->dev_gen);
    qv__gview v;
    int rc = from ? qv__gview_build_frozen(rt, from, &v) : qv__gview_build_range(rt, lo, hi, &v);
    if (rc) {
        snprintf(why, wn, "graph: %.200s", qv_last_error());
        return rc;
    }
    if (!from && first && calibrating(rt, &v, why, wn)) {
        qv__gview_free(&v);
        return QV_EBUSY; /* asked again by a later entry */
    }
    if ((rc = live_plat(rt, &p, dev_of)) != 0) {
        qv__gview_free(&v);
        snprintf(why, wn, "platform: %s", qv_strerror(rc));
        goto out;
    }
    unsigned live = 0; /* the classes of the devices in service */
    for (uint32_t k = 0; k < p->nres; k++)
        live |= 1u << qv__devq_class(rt, dev_of[k]);
    /* Each node's function, which the dag names by its kernel. */
    if (!(fns = malloc((v.n ? v.n : 1) * sizeof *fns)) ||
        !(paced = calloc((v.n ? v.n : 1) * QV_CLASS_COUNT, sizeof *paced))) {
        qv__gview_free(&v);
        snprintf(why, wn, "out of memory");
        rc = QV_ENOMEM;
        goto out;
    }
    for (uint64_t i = 0; i < v.n; i++)
        fns[i] = qv__gview_fn(&v, i);
    /* The plan keeps its source: this range, or the copy it came from. */
    rc = qv__gview_plan_dag(&v, name, live, from ? NULL : &src, &g);
    if (!rc && from && (rc = qv__frozen_dup(from, &src)) != 0)
        qv__fail(rc, "out of memory");
    if (rc) {
        snprintf(why, wn, "graph: %.200s", qv_last_error());
        goto out;
    }
    if (g->n != n) {
        snprintf(why, wn, "the entry's graph was reset, or left the recorded window "
                          "(qv_options.record_window), before it compiled");
        rc = QV_ENOENT;
        goto out;
    }
    if (from) {
        for (int c = 0; c < QV_CLASS_COUNT; c++)
            if (src_scale[c] > 0 && isfinite(src_scale[c]))
                scale_all(g, c, src_scale[c]);
    } else {
        scale_class(g, drift_cls, drift_x);
    }
    emu_pace(rt, g, p, dev_of, fns, paced);
    drop_unusable(rt, g, p, dev_of, fns);
    /* Said as it is, not as the planner's "a cost for no device class":
     * a state that passes (a board back in service re-plans at once),
     * meanwhile the region runs eagerly, which puts such calls on
     * another device as qv_func_set_where says. */
    const char *nowhere = runs_nowhere(g, live);
    if (nowhere) {
        snprintf(why, wn,
                 "no device in service may run '%.64s' now (those with its "
                 "implementations, within its qv_func_set_where, are out of service "
                 "or refuse it); the region runs eagerly meanwhile",
                 nowhere);
        rc = QV_ENODEV;
        goto out;
    }
    qv_plan_opts o;
    qv_plan_opts_init(&o);
    o.algo = QV_ALGO_QUIVER;
    o.catalog = rt->catalog;
    o.cost_weight = rt->policy->objective; /* the policy's `objective` */
    o.deadline_us = rt->policy->deadline_ms * 1e3;
    o.no_fuse = no_fuse; /* a fused plan of this region lost to eager */
    /* Shutdown waits for this thread: a region of 100 000 calls took
     * seconds to plan at this thread's share of the CPU, all of them
     * added to qv_runtime_destroy's (adversarial testing). */
    o.cancel = stopping;
    o.cancel_arg = rt->loop;
    /* Fused kernels as the boards ran them: the launches of those that
     * could fuse this entry (their functions all in it) measured against
     * the catalog's table, else the drifts of the boards seen by this
     * region, else the table. */
    const struct qv__kernel *ks[16];
    unsigned nk = 0;
    for (size_t k = 0; rt->catalog && !no_fuse && k < rt->catalog->nkernels && nk < 16; k++) {
        const struct qv__kernel *kn = &rt->catalog->kernels[k];
        bool all = kn->nfuncs >= 2;
        for (size_t j = 0; all && j < kn->nfuncs; j++) {
            bool in = false;
            for (uint32_t fi = 0; fi < g->nfunc && !in; fi++)
                in = !strcmp(g->func_name[fi], kn->funcs[j]);
            all = in;
        }
        if (all)
            ks[nk++] = kn;
    }
    double measured = nk ? qv__fuse_scale(rt, ks, nk) : 0;
    double fs = measured > 0 ? measured : fuse_scale;
    o.fused_scale = fs;
    /* Their launches on an emulated board, at its pace too (emu_pace):
     * the 4 x 4096 signal chain's plan put three frames' fused launches
     * on the board at 118 us each, which took twice that. The plan keeps
     * the board's own scale (fs), which fused_off weighs. Not with a
     * remote board in service: the scale is every board's. */
    bool paced_board =
        nk && !(live & 1u << QV_CLASS_REMOTE) && emulated(rt, p, dev_of, QV_CLASS_FPGA);
    double pace = paced_board ? qv__fuse_pace(rt, ks, nk) : 0;
    /* No fused launch measured yet: its members' pace alone on the board
     * (the emulation runs their C code in one launch), the slowest. A
     * region's first plan took the catalog's table for them, and fused
     * every frame onto a board whose members' runs had measured it 127x
     * slower than its model (test_fuse first_fused_plan_at_its_members_
     * pace); bench/loop --pays's 8 x 1024 frames, fused at 27.9 us a
     * launch, took twice what their plan predicted. */
    if (paced_board && !(pace > 0))
        pace = member_pace(g, fns, ks, nk);
    double fused_pace = pace > 1 && isfinite(pace) ? pace : 1;
    if (fused_pace > 1)
        o.fused_scale = (fs > 0 ? fs : 1) * fused_pace;
    qv_diag d;
    memset(&d, 0, sizeof d);
    if ((rc = qv_plan_make(g, p, &o, &pl, &d)) != 0) {
        snprintf(why, wn, "plan: %.200s", d.message[0] ? d.message : qv_strerror(rc));
        goto out;
    }
    /* A fused chain the runtime cannot launch (its kernel's arguments
     * unmapped, its tasks not one after another in the entry) would be
     * predicted but not run: plan again without fusing. */
    if (pl->fused && !chains_ok(rt, g, pl, n, p, dev_of, fns)) {
        qv_plan_destroy(pl);
        pl = NULL;
        o.no_fuse = 1;
        if ((rc = qv_plan_make(g, p, &o, &pl, &d)) != 0) {
            snprintf(why, wn, "plan: %.200s", d.message[0] ? d.message : qv_strerror(rc));
            goto out;
        }
    }
    rp = calloc(1, sizeof *rp);
    if (!rp || !(rp->dev = malloc(n)) || !(rp->pred_us = malloc(n * sizeof *rp->pred_us)) ||
        !(rp->worker = malloc(n * sizeof *rp->worker))) {
        snprintf(why, wn, "out of memory");
        rc = QV_ENOMEM;
        goto out;
    }
    atomic_init(&rp->refs, 1);
    rp->n = n;
    rp->makespan = pl->makespan;
    rp->fuse_scale = fs > 0 ? fs : 1; /* the planner's default */
    rp->parts = pl->nparts;
    rp->dev_gen = gen;
    unsigned used = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t unit = pl->unit[i], res = p->unit_res[unit];
        unsigned dev = dev_of[res];
        rp->dev[i] = (uint8_t)dev;
        /* The CPU has a unit per worker: the plan's worker, a hint to the
         * scheduler's queues (sched.c). */
        uint32_t w = unit - p->res[res].first_unit;
        rp->worker[i] = (uint16_t)(!dev && w < rt->nworkers && w < UINT16_MAX ? w + 1 : 0);
        rp->pred_us[i] = (float)(pl->end[i] - pl->start[i]);
        /* In the board's model time, as measure_node reads its runs: the
         * pace in it read as a drift of 1/pace once a re-plan made from a
         * replayed entry took the board's calibration as its base, and
         * the region re-planned every 2 entries for good (review). */
        qv_class cls = qv__devq_class(rt, dev);
        double x = !dev ? 1
                   : pl->fused && pl->fused[i] != UINT32_MAX
                       ? (cls == QV_CLASS_FPGA ? fused_pace : 1)
                       : paced[(size_t)i * QV_CLASS_COUNT + (size_t)cls];
        if (x > 1)
            rp->pred_us[i] = (float)(rp->pred_us[i] / x);
        used |= 1u << dev;
    }
    rp->ndev = (unsigned)__builtin_popcount(used);
    rp->accel = (used & ~1u) != 0;
    rp->src = src;
    memset(&src, 0, sizeof src);
    if ((rc = take_chains(rt, pl, rp)) != 0) {
        snprintf(why, wn, "out of memory");
        goto out;
    }
    if (!rp->nchains) /* its replayed entries are its source's shape */
        qv__frozen_free(&rp->src);
    pick_refreshes(rt, g, p, dev_of, fns, rp);
    if (qv__log_threshold() >= 4)
        for (uint32_t i = 0; i < n; i++) {
            char costs[256] = "";
            size_t len = 0;
            for (uint32_t c = 0; c < g->nclass && len < sizeof costs - 40; c++)
                len += (size_t)snprintf(costs + len, sizeof costs - len, " %s %.1f",
                                        g->class_name[c], g->cost[(size_t)i * g->nclass + c]);
            qv__log(4, "region %s: task %u -> %s (%.1f us; costs:%s)", name, i,
                    qv__devq_name(rt, rp->dev[i]), (double)rp->pred_us[i], costs);
        }
out:
    if (rc && rp) {
        qv__rplan_release(rp);
        rp = NULL;
    }
    *out = rp;
    qv__frozen_free(&src);
    qv_plan_destroy(pl);
    qv_plat_destroy(p);
    qv_dag_destroy(g);
    free(fns);
    free(paced);
    return rc;
}

/* ---- measuring --------------------------------------------------------- */

typedef struct measure {
    double span_us; /* first task's start to last task's end */
    double wall_us; /* the entry's first call to its last task's end */
    double pred[QV__MAX_DEVICES], meas[QV__MAX_DEVICES];
    /* The refreshes (qv__rplan.fresh) that ran, a bit each, and their
     * times as the plan priced them: an entry may send several, each of
     * another function, and their models come due together again. */
    unsigned fresh;
    double fresh_us[QV__FRESH_MAX];
} measure;

typedef struct measuring {
    qv_runtime *rt;
    const qv__rplan *p;
    measure *m;
    uint64_t t0, t1;
} measuring;

static void measure_node(void *arg, uint64_t i, const qv__node *nd)
{
    measuring *x = arg;
    qv_runtime *rt = x->rt;
    if (nd->start_ns && nd->start_ns < x->t0)
        x->t0 = nd->start_ns;
    if (nd->end_ns > x->t1)
        x->t1 = nd->end_ns;
    /* A device's track, but for the short CPU tasks its driver runs
     * (qv__run_on_driver): those ran on the CPU. */
    unsigned dev = nd->worker < rt->nworkers || nd->cls == QV_CLASS_CPU
                       ? 0
                       : nd->worker - rt->nworkers + 1;
    if (i >= x->p->nnodes)
        return;
    uint32_t k = x->p->node_pos[i];
    if (dev != x->p->dev[k]) { /* moved by a fault, or a refresh */
        for (unsigned j = 0; j < x->p->nfresh; j++) {
            const struct qv__rfresh *c = &x->p->fresh[j];
            if (c->k != k || c->dev != dev || nd->end_ns <= nd->start_ns)
                continue;
            /* An emulated board's model is the card's, priced at the
             * emulation's pace where that is slower (emu_pace). */
            double wall = (double)(nd->end_ns - nd->start_ns) / 1e3;
            x->m->fresh |= 1u << j;
            x->m->fresh_us[j] =
                nd->board_us > 0 ? fmax((double)nd->board_us, wall) : wall;
        }
        return; /* no reading of the plan */
    }
    x->m->pred[dev] += x->p->pred_us[k];
    x->m->meas[dev] += nd->board_us > 0 ? (double)nd->board_us
                                        : nd->end_ns > nd->start_ns
                                              ? (double)(nd->end_ns - nd->start_ns) / 1e3
                                              : 0;
}

/* Measures the replayed entry [lo, hi) of plan p, once its tasks are done
 * (node times only: cheap beside the entry). False when it cannot be told
 * (not all of it recorded, a reset). */
static bool measure_entry(qv_runtime *rt, const qv__rplan *p, uint64_t lo, uint64_t hi,
                          uint64_t begin_ns, measure *m)
{
    memset(m, 0, sizeof *m);
    measuring x = {rt, p, m, UINT64_MAX, 0};
    if (hi - lo != p->nnodes || qv__gview_each(rt, lo, hi, measure_node, &x) != 1)
        return false;
    m->span_us = x.t1 > x.t0 ? (double)(x.t1 - x.t0) / 1e3 : 0;
    m->wall_us = x.t1 > begin_ns ? (double)(x.t1 - begin_ns) / 1e3 : 0;
    return true;
}

/* Device d's measured over predicted time in m, or 0 when m says too
 * little of d to judge it. */
static double ratio_of(const measure *m, unsigned d)
{
    return m->pred[d] >= MIN_DEVICE_US && m->meas[d] > 0 ? m->meas[d] / m->pred[d] : 0;
}

/* The median of n values, n at most QV__SPANS and QV__CALS; v keeps its
 * order (a ring's). */
static double median_of(const double *v, unsigned n)
{
    double s[QV__SPANS > QV__CALS ? QV__SPANS : QV__CALS];
    memcpy(s, v, n * sizeof *s);
    return qv__median(s, n);
}

/* Folds m into r's calibration of each device it measured. A device's
 * first QV__CAL_FIRST ratios set its base (their median) and its noise
 * (their median distance from it), so one spike among them (the entry
 * that loaded the kernels, a worker preempted on a busy machine) sets
 * neither; later ratios move both as moving averages. (The first ratio
 * as the base, moved by a quarter of each next one, kept 42 % of a spike
 * after three entries: a CPU calibrated above its true ratio under a
 * sanitizer's load let a 1.5x step pass as calm, a CI run.) */
static void calibrate(qv__region *r, const measure *m)
{
    for (unsigned d = 0; d < QV__MAX_DEVICES; d++) {
        double ratio = ratio_of(m, d);
        if (ratio <= 0)
            continue;
        unsigned n = r->nfirst[d];
        if (n < QV__CAL_FIRST) {
            r->first[d][n++] = ratio;
            r->nfirst[d] = (unsigned char)n;
            r->base[d] = median_of(r->first[d], n);
            double dev[QV__CAL_FIRST];
            for (unsigned i = 0; i < n; i++)
                dev[i] = fabs(r->first[d][i] / r->base[d] - 1);
            r->spread[d] = median_of(dev, n);
            continue;
        }
        r->spread[d] = (1 - CAL_WEIGHT) * r->spread[d] +
                       CAL_WEIGHT * fabs(ratio / r->base[d] - 1);
        r->base[d] = (1 - CAL_WEIGHT) * r->base[d] + CAL_WEIGHT * ratio;
    }
}

/* Whether plan p's fused chains were priced far from what their launches
 * measure (qv__fuse_scale): a board slower than its catalog table from
 * the start is a steady offset the drifts never see, and the plan kept
 * fused chains on it that the CPU would run faster (bench/loop --adapt's
 * static run). Once per such change: the new plan takes the measure. */
static bool fused_off(qv_runtime *rt, qv__region *r, const qv__rplan *p, char *why,
                      size_t wn, int *cls, double *x)
{
    const struct qv__kernel *ks[16];
    unsigned nk = 0;
    for (uint32_t c = 0; c < p->nchains && nk < 16; c++) {
        const struct qv__kernel *k = p->chains[c].k;
        unsigned j = 0;
        while (j < nk && ks[j] != k)
            j++;
        if (k && j == nk)
            ks[nk++] = k;
    }
    double s = nk ? qv__fuse_scale(rt, ks, nk) : 0;
    /* Either way alike: 1.5x slower or faster than the plan took. */
    if (!(s > 0) || !(p->fuse_scale > 0) || fabs(log(s / p->fuse_scale)) <= log(1 + FUSE_OFF))
        return false;
    uint64_t now = qv__now_ns();
    if (now - r->compiled_ns < (uint64_t)rt->policy->replan_min_interval_ms * 1000000u)
        return false;
    *cls = -1;
    *x = 1;
    snprintf(why, wn, "fused kernels ran at %.2fx their catalog time (the plan took %.2fx)",
             s, p->fuse_scale);
    return true;
}

/* Whether a refresh that ran in r's replayed entry m of plan p ran the
 * call so much faster than the plan priced it there (FRESH_FASTER, as
 * much as restarts a model's window: perfmodel.c) that the plan is to be
 * made again (why names the first such): only faster, as the plan leaves
 * that class out already; after replan.min_interval_ms (else the next
 * refresh, perfmodel.refresh_ms later, asks again). Every refresh of the
 * entry is weighed: with the last alone, a function whose refresh came
 * earlier in an entry that sent two was never weighed, as both came due
 * together each time (review). Under loop->mu. */
static bool refreshed_faster(qv_runtime *rt, qv__region *r, const qv__rplan *p,
                             const measure *m, char *why, size_t wn)
{
    if (r->plan != p || !m->fresh)
        return false;
    uint64_t now = qv__now_ns();
    if (now - r->compiled_ns < (uint64_t)rt->policy->replan_min_interval_ms * 1000000u)
        return false;
    for (unsigned j = 0; j < p->nfresh; j++) {
        const struct qv__rfresh *c = &p->fresh[j];
        if (!(m->fresh & 1u << j) || !(m->fresh_us[j] * FRESH_FASTER < c->price_us))
            continue;
        snprintf(why, wn,
                 "refresh: '%.32s' ran on the %s class in %.1f us, the plan took %.1f",
                 c->fn, qv_class_name((qv_class)c->cls), m->fresh_us[j],
                 (double)c->price_us);
        return true;
    }
    return false;
}

/* The prediction's calibration follows a level shift at once: when the
 * last CAL_SHIFT ratios all lie on one side of the window's median, each
 * by more than CAL_SHIFT_X, the window restarts from them. The median of
 * QV__CALS rides out one entry that a busy machine stretched, but it took
 * 5 entries to forget a plan's first ones (kernels loading, 3-5x slower)
 * or a machine that changed pace, and those entries were 6 % of the mean
 * prediction error over 200 (bench_loop --predict, a traced run). Under
 * loop->mu. */
static void shift_cal(qv__region *r)
{
    unsigned n = r->ncal < QV__CALS ? r->ncal : QV__CALS;
    if (n <= CAL_SHIFT || !(r->cal > 0))
        return;
    double last[CAL_SHIFT];
    int side = 0;
    for (unsigned k = 0; k < CAL_SHIFT; k++) {
        last[k] = r->cal_q[(r->ncal - CAL_SHIFT + k) % QV__CALS];
        int s = last[k] > r->cal * CAL_SHIFT_X ? 1 : last[k] < r->cal / CAL_SHIFT_X ? -1 : 0;
        if (!s || (k && s != side))
            return;
        side = s;
    }
    memcpy(r->cal_q, last, sizeof last);
    r->ncal = CAL_SHIFT;
    r->cal = median_of(r->cal_q, CAL_SHIFT);
}

/* Takes an entry of plan p that spanned span_us into the prediction's
 * calibration (judge's, and the entries measured by their span alone).
 * Under loop->mu. */
static void cal_take(qv__region *r, const qv__rplan *p, double span_us)
{
    if (r->plan != p)
        return; /* re-planned meanwhile */
    bool first = !r->cal_first;
    r->cal_first = true;
    if (!first && p->makespan > 0 && span_us > 0) {
        r->cal_q[r->ncal++ % QV__CALS] = span_us / p->makespan;
        unsigned n = r->ncal < QV__CALS ? r->ncal : QV__CALS;
        r->cal = n >= 3 ? median_of(r->cal_q, n) : fmin(r->cal_q[0], r->cal_q[n - 1]);
        shift_cal(r);
    }
}

/* Takes measure m of r's plan p (entry [*lo, *hi)) into its calibration;
 * true (with why) when the region is to be re-planned, from the entry
 * [*lo, *hi) then names. Under loop->mu. */
static bool judge(qv_runtime *rt, qv__region *r, const qv__rplan *p, const measure *m,
                  uint64_t *lo, uint64_t *hi, char *why, size_t wn, int *cls, double *x)
{
    if (r->plan != p)
        return false; /* re-planned meanwhile */
    r->judged++;
    /* Not the plan's first entry: it pays what later ones do not (its
     * kernels' first loads, the first copies to its devices), 2-3x a
     * replayed frame of quiver-signal. And of fewer than 3 ratios, the
     * least, not their median: a busy machine only ever stretches an
     * entry, and the median of one or two is the stretched one. Both
     * made the predictions of a plan's next entries: off by 100-210 % in
     * the first timed entries of bench/loop --predict, about 2 points of
     * the frame's mean error over 200. */
    cal_take(r, p, m->span_us);
    if (++r->measured <= CAL_ENTRIES) { /* calibrating: base and noise */
        calibrate(r, m);
        return false;
    }
    /* The device furthest from its calibration, beyond its own noise. */
    unsigned worst = QV__MAX_DEVICES;
    double worst_off = 0;
    for (unsigned d = 0; d < QV__MAX_DEVICES; d++) {
        double ratio = ratio_of(m, d);
        if (ratio <= 0 || r->nfirst[d] < QV__CAL_FIRST)
            continue; /* a device new to this plan's entries: calibrated below */
        double off = fabs(ratio / r->base[d] - 1);
        if (off > NOISE_TIMES * r->spread[d] && off > worst_off) {
            worst_off = off;
            worst = d;
        }
    }
    /* Calm entries teach the base and the noise; drifting ones neither,
     * so that a lasting step stays measured against the noise from
     * before it. (Teaching the noise from drifting entries too, so that
     * a swinging device would re-plan less, made the re-plan after
     * bench/loop --adapt's 4x slowdown come 6 to 12 entries late in 4
     * runs of 10 instead of 1: not kept.) */
    r->drift_held = false;
    if (worst_off <= rt->policy->replan_drift) {
        r->drift_entries = 0;
        calibrate(r, m);
        return fused_off(rt, r, p, why, wn, cls, x);
    }
    /* A drift is entries in a row past it, the same way (slower, or
     * faster); the re-plan is made from the milder of the last two: a
     * device swinging on a busy machine (the CPU at 4.6x in one entry,
     * 1.4x in the next) is not planned at its spike, after which every
     * calm entry read as a drift back (a region re-planned 7 times in 30
     * entries under a sanitizer's load). A lasting step measures the same
     * in both. The last two only: an older entry may have left the
     * recorded graph (its window, a reset) while the streak waited for
     * replan.min_interval_ms. */
    struct qv__drift cur = {worst, ratio_of(m, worst) / r->base[worst], *lo, *hi};
    if (r->drift_entries && (cur.x > 1) != (r->drift_last.x > 1))
        r->drift_entries = 0; /* the other way: a new streak */
    struct qv__drift use = cur;
    if (r->drift_entries && fabs(log(r->drift_last.x)) < fabs(log(cur.x)))
        use = r->drift_last;
    r->drift_last = cur;
    if (++r->drift_entries < DRIFT_ENTRIES)
        return false;
    uint64_t now = qv__now_ns();
    if (now - r->compiled_ns < (uint64_t)rt->policy->replan_min_interval_ms * 1000000u) {
        r->drift_held = true; /* loses() weighs these entries meanwhile */
        return false;         /* asked again by the next entry that drifts */
    }
    *cls = (int)qv__devq_class(rt, use.dev);
    *x = use.x;
    *lo = use.lo;
    *hi = use.hi;
    snprintf(why, wn, "drift: %s ran at %.2fx its calibrated time for %u entries",
             qv__devq_name(rt, use.dev), *x, r->drift_entries);
    return true;
}

/* ---- against eager placement ------------------------------------------ */

static void span_node(void *arg, uint64_t i, const qv__node *nd)
{
    uint64_t *t = arg;
    (void)i;
    if (nd->start_ns && nd->start_ns < t[0])
        t[0] = nd->start_ns;
    if (nd->end_ns > t[1])
        t[1] = nd->end_ns;
}

/* The time of the recorded entry [lo, hi) in µs, from its first call
 * (begin_ns) to its last task's end, once its tasks are done; 0 when it
 * cannot be told. */
static double entry_wall(qv_runtime *rt, uint64_t lo, uint64_t hi, uint64_t begin_ns)
{
    uint64_t t[2] = {UINT64_MAX, 0};
    if (qv__gview_each(rt, lo, hi, span_node, t) != 1 || t[1] <= begin_ns)
        return 0;
    return (double)(t[1] - begin_ns) / 1e3;
}

/* Eager placement measured again for plan p: the next QV__SPANS entries
 * run eagerly (entry_start), their times join eager's (the older ones
 * stay, in case none of them can be measured). The plan's own times stay
 * too: taken a few entries before, on the machine as it is, a plan far
 * slower than eager's new times loses to them as soon as those come back
 * (started over, a losing plan replayed QV__SPANS more entries after the
 * probe before it lost: 16 to 22 entries a plan in bench/loop --pays).
 * Under loop->mu. */
static void probe_eager(qv__region *r, const qv__rplan *p)
{
    r->probed = true;
    r->probe = QV__SPANS;
    r->probe_new = 0;
    r->probe_plan = 0;
    r->nspan_q = 0; /* entries from before the probe: not what it measures */
    if (r->eager_sig != p->sig) {
        r->eager_sig = p->sig;
        r->neager = 0;
    }
}

/* Whether plan p, measured m, loses to eager placement: the median of its
 * last QV__SPANS entries (from its second: the first loads its kernels)
 * slower than the median of the last
 * recorded ones by more than replan.eager_slack, and none of them faster
 * than that (why says by how much).
 * Only entries that run as the plan predicts count: one that drifts is
 * judge's, and a re-plan on the updated models comes first, unless
 * replan.min_interval_ms holds it (drift_held): then they are what the plan
 * costs now. Skipped, a plan whose device slowed soon after its compile
 * was not weighed until the interval passed: with min_interval_ms at 10
 * minutes, test_replay's CPU made 1000x slower replayed its plan for 60 s,
 * 12 ms an entry against eager placement's 0.1 ms. Medians, because
 * one entry of a loaded machine can be off by any amount. Under
 * loop->mu, after judge. */
static bool loses(qv_runtime *rt, qv__region *r, const qv__rplan *p, const measure *m,
                  char *why, size_t wn)
{
    double slack = rt->policy->replan_eager_slack;
    if (slack <= 0 || r->plan != p || r->measured < 2 ||
        (r->drift_entries && !r->drift_held) || m->wall_us <= 0)
        return false;
    r->plan_span[r->nplan++ % QV__SPANS] = m->wall_us;
    r->probe_plan++;
    unsigned np = r->nplan < QV__SPANS ? r->nplan : QV__SPANS;
    if (r->eager_sig != p->sig || r->neager < MIN_EAGER) {
        /* No eager times of this signature to weigh the plan against (a
         * drift re-plan or changed devices forgot them; the recorded
         * entries were never measured): measured now, and again while
         * none come back. Before, such a plan was never weighed again. */
        if (np >= QV__SPANS && (!r->probed || r->probe_plan >= 4 * QV__SPANS))
            probe_eager(r, p);
        return false;
    }
    /* After a probe, its eager times first (up to 2 * QV__SPANS entries). */
    if (r->probed && r->probe_new < MIN_EAGER && r->probe_plan < 2 * QV__SPANS)
        return false;
    if (np < FAR_ENTRIES)
        return false;
    /* Eager's times come from the recorded entries, a runtime's first
     * (kernels built and loaded, models calibrating on every device),
     * slower than eager placement runs later: a plan 2x slower than eager
     * placement looked faster than them and replayed for good (bench/loop
     * --pays). So each plan is weighed once against eager placement
     * measured while it runs, whatever the first comparison says. */
    if (!r->probed && np >= QV__SPANS) {
        probe_eager(r, p);
        qv__log(3, "region %s: eager placement measured again, to weigh the plan",
                r->name);
        return false;
    }
    unsigned ne = r->neager < QV__SPANS ? r->neager : QV__SPANS;
    double eager = median_of(r->eager_span, ne), planned = median_of(r->plan_span, np);
    double fastest = r->plan_span[0], slowest_eager = r->eager_span[0];
    for (unsigned i = 1; i < np; i++)
        fastest = fmin(fastest, r->plan_span[i]);
    for (unsigned i = 1; i < ne; i++)
        slowest_eager = fmax(slowest_eager, r->eager_span[i]);
    /* Every one of them slower than eager's median, too: a plan as fast
     * as eager placement, on a machine that adds noise, loses by the
     * median alone one time in a few but by all of them 1 in 2^QV__SPANS.
     * A plan whose every entry takes FAR_SLOWER times that loses after
     * FAR_ENTRIES of them: entries are measured one at a time in the
     * background, and a fused plan 4x slower than eager replayed 70 entries
     * before it lost, and then its unfused one as many (bench/loop --pays).
     * So does one whose every entry is slower than every one of eager's,
     * CLEAR_SLOWER in medians: a plan as fast as eager placement has all of
     * its FAR_ENTRIES slower than all of eager's MIN_EAGER to QV__SPANS one
     * time in 20 to 56, and not by that much; a fused plan 1.4x slower
     * than eager took 16 entries to lose, with its unfused one, and cost
     * bench/loop --pays's 4 x 4096 signal chain 6 %. */
    bool far = fastest > FAR_SLOWER * eager;
    bool clear = fastest > slowest_eager && planned > CLEAR_SLOWER * eager;
    if ((np < QV__SPANS && !far && !clear) || planned <= slack * eager ||
        fastest <= eager)
        return false;
    /* The plan's times from before the probe decide alone only when they
     * are far slower: they are its first entries (buffers moving to its
     * devices, a remote board's first runs), and a plan 1.2x faster than
     * eager on a remote board lost to them in one run of five (bench/loop
     * --pays). Nearer, its entries since the probe decide, as eager's:
     * FAR_ENTRIES of them when all are clearly slower. */
    if (r->probed && !far && r->probe_plan < (clear ? FAR_ENTRIES : QV__SPANS))
        return false;
    /* Eager's times were taken before the plan, maybe on a quieter
     * machine: measure them again, now, before the plan loses for good
     * (a remote board's daemon that slowed for a while after 70 entries
     * made bench/loop --pays's remote chain, 1.2-1.3x faster planned, run
     * eagerly for good). */
    if (!r->probed) {
        probe_eager(r, p);
        qv__log(3, "region %s: %.0f us an entry against eager's %.0f us: eager measured "
                "again", r->name, planned, eager);
        return false;
    }
    r->nplan = 0;
    /* Tenths under 100 us: "6 us against 6 us" read as no loss at all. */
    int dp = planned < 100 ? 1 : 0;
    snprintf(why, wn,
             "slower than eager: %.*f us an entry against %.*f us (medians, %.2fx)", dp,
             planned, dp, eager, planned / eager);
    return true;
}

/* Whether a compile of r for signature sig is its first plan that still
 * waits for MIN_EAGER measured recorded entries, when plans are weighed
 * against eager placement (replan.eager_slack): they are measured one at
 * a time in the background, so a plan made at the hot_threshold-th entry
 * often had fewer, was never weighed, and a plan 6x slower than eager
 * replayed for good (bench/loop --pays). As the first plan's wait for the
 * devices' calibration, it ends after CALIB_WAIT entries. Under
 * loop->mu. */
static bool waits_for_eager(const qv_runtime *rt, const qv__region *r, uint64_t sig)
{
    return rt->policy->replan_eager_slack > 0 && !(r->plan && r->plan->sig == sig) &&
           r->sig_entries < CALIB_WAIT && !(r->eager_sig == sig && r->neager >= MIN_EAGER);
}

/* ---- the thread -------------------------------------------------------- */

/* Makes p r's plan. weighed: p follows a plan that lost to eager
 * placement measured again while it ran (a fused plan, re-planned without
 * its fused kernels): those eager times are today's, and p is weighed
 * against them from its first entries, without a probe of its own
 * (which cost the unfused plan of bench/loop --pays's 4 x 4096 signal
 * chain 5 to 10 more slow entries before it lost too). */
static void publish(qv_runtime *rt, qv__region *r, qv__rplan *p, bool replan,
                    bool measured, bool weighed, const char *reason)
{
    if (r->plan)
        qv__rplan_release(r->plan);
    r->plan = p;
    r->compiles++;
    if (replan)
        r->replans++;
    r->compiled_ns = qv__now_ns();
    r->fails = 0;
    r->next_try = 0;
    r->nplan = 0;
    r->probe = 0;
    r->probe_plan = 0;
    /* (weighed: the old plan's probe brought MIN_EAGER times or more) */
    r->probed = weighed && r->eager_sig == p->sig;
    if (!r->probed)
        r->probe_new = 0;
    r->cal = 0;
    r->ncal = 0;
    r->cal_first = false;
    r->drift_entries = 0;
    r->drift_held = false;
    /* A device's calibration (its measured over predicted time, and its
     * noise) outlives a re-plan: the new plan predicts from measured times
     * as the old one did. Starting it over made the entries after a
     * re-plan on noise calibrate a board that slowed just then as normal,
     * and its slowdown went unseen (bench/loop --adapt). Devices the old
     * plan left idle calibrate on the new plan's first entries. */
    if (!replan || measured) /* a new source: its times are today's */
        memset(r->src_scale, 0, sizeof r->src_scale);
    if (!replan) {
        memset(r->base, 0, sizeof r->base);
        memset(r->spread, 0, sizeof r->spread);
        memset(r->nfirst, 0, sizeof r->nfirst);
        r->measured = 0;
    } else {
        r->measured = CAL_ENTRIES;
        /* Made from a replayed entry's measured times, the new plan
         * predicts each device as that entry found it: an offset the base
         * held (the old plan's tasks slower than the recorded entry's, on
         * cores that the old placement shared) is in the prediction now.
         * Kept, it read as a drift of the inverse size at every entry,
         * and the region re-planned each replan.min_interval_ms for good. */
        if (measured)
            for (unsigned d = 0; d < QV__MAX_DEVICES; d++) {
                if (r->nfirst[d] < QV__CAL_FIRST) { /* its few ratios were the old plan's */
                    r->nfirst[d] = 0;
                    r->base[d] = 0;
                } else {
                    r->base[d] = 1;
                }
            }
    }
    r->error[0] = 0;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    (void)rt;
}

/* Until when a region whose plan p lost to eager placement runs eagerly
 * (0: until the devices change), and its text for the reason (for_).
 * Under loop->mu. */
static uint64_t eager_until(qv_runtime *rt, qv__region *r, const qv__rplan *p, char *for_,
                            size_t fn)
{
    uint64_t ms = rt->policy->replan_eager_retry_ms;
    for_[0] = 0;
    if (r->drift_held) {
        /* Lost while a drift waited for its re-plan: a device that slowed
         * for a while, which the re-plan due at the end of
         * replan.min_interval_ms takes in; eager placement until then, not
         * for good (review). */
        snprintf(for_, fn, " until its drift's re-plan");
        return r->compiled_ns + (uint64_t)rt->policy->replan_min_interval_ms * 1000000u;
    }
    if (!ms)
        return 0;
    /* For a while, then planned again: what made the plan lose (another
     * program's load, a device slow for a time) may pass, and the models
     * have learned since. Eager for good, a program whose plan lost to a
     * passing load was never planned again (review). Doubled at each loss
     * in a row, so that a plan that keeps losing costs a few entries a
     * period, fewer and fewer. A first loss again: on new devices, of
     * another signature, or of a plan that replayed longer than the eager
     * period before it (it held a while; one entry that did not lose said
     * nothing, and reset the count at every try: review). */
    uint64_t gen = atomic_load(&rt->loop->dev_gen), now = qv__now_ns();
    if (r->losses_gen != gen || r->losses_sig != p->sig ||
        now - r->compiled_ns > r->eager_ms * 1000000u) {
        r->losses = 0;
        r->losses_gen = gen;
        r->losses_sig = p->sig;
    }
    ms <<= r->losses < RETRY_DOUBLINGS ? r->losses : RETRY_DOUBLINGS;
    r->losses++;
    r->eager_ms = ms;
    snprintf(for_, fn, " for %" PRIu64 " ms", ms);
    return now + ms * 1000000u;
}

/* Drops r's plan: the region runs eagerly until the devices change from
 * generation gen, or until until_ns (0: no end); its reason is why, then
 * "; runs eagerly" and for how long (for_: its text). Under loop->mu. */
static void run_eagerly(qv__region *r, const char *why, const char *for_, uint64_t gen,
                        uint64_t until_ns)
{
    snprintf(r->reason, sizeof r->reason, "%.86s; runs eagerly%s", why, for_);
    r->lost = true;
    r->lost_gen = gen;
    r->lost_until_ns = until_ns;
    qv__rplan_release(r->plan);
    r->plan = NULL;
}

/* Takes r's measurements waiting (its recorded entries' times, then its
 * replayed entry's), and judges the plan by them: a re-plan or a plan
 * that lost becomes r's job. Under l->mu, let go while nodes are read
 * (a node not done yet is waited for). */
static void take_measures(qv_runtime *rt, qv__region *r)
{
    struct qv__loop *l = rt->loop;
    char name[128];
    snprintf(name, sizeof name, "%s", r->name);
    /* Recorded entries: eager placement's time. Those queued now only:
     * the ones queued meanwhile wait for the region's next turn, so
     * that other regions' jobs are not held up. */
    for (unsigned left = r->nspan_q; left && r->nspan_q && !l->stop; left--) {
        struct qv__span_req q = r->span_q[0];
        memmove(r->span_q, r->span_q + 1, --r->nspan_q * sizeof *r->span_q);
        r->nspan_busy++;
        pthread_mutex_unlock(&l->mu);
        if (qv__fault_pausing() && !pthread_equal(pthread_self(), l->thread))
            qv__fault_pause(); /* tests: the program's thread held measuring */
        double us = entry_wall(rt, q.lo, q.hi, q.begin);
        pthread_mutex_lock(&l->mu);
        r->nspan_busy--;
        if (r->eager_sig != q.sig) {
            /* Another signature's entry (a guard miss, a signature
             * seen once) does not take the place of the plan's. */
            if (r->plan && r->plan->sig == r->eager_sig && q.sig != r->sig)
                continue;
            r->eager_sig = q.sig;
            r->neager = 0;
        }
        if (us > 0) {
            r->eager_span[r->neager++ % QV__SPANS] = us;
            r->probe_new++;
        }
    }
    for (unsigned left = r->nmeas_q; left && r->nmeas_q; left--) {
        struct qv__meas_req q = r->meas_q[0];
        memmove(r->meas_q, r->meas_q + 1, --r->nmeas_q * sizeof *r->meas_q);
        qv__rplan *p = q.plan;
        uint64_t lo = q.lo, hi = q.hi, begin = q.begin;
        if (q.span_only) {
            uint64_t t0, t1;
            pthread_mutex_unlock(&l->mu);
            bool ok = qv__gview_span(rt, lo, hi, &t0, &t1) == 1 && t1 > t0;
            pthread_mutex_lock(&l->mu);
            if (ok && !l->stop)
                cal_take(r, p, (double)(t1 - t0) / 1e3);
            qv__rplan_release(p);
            continue;
        }
        pthread_mutex_unlock(&l->mu);
        measure m;
        bool ok = measure_entry(rt, p, lo, hi, begin, &m);
        pthread_mutex_lock(&l->mu);
        char why[128];
        int cls = -1;
        double x = 1;
        /* Re-planned from this entry's graph, or, when its chains ran
         * fused, from the recorded entry the plan came from. An entry
         * with a refresh is not the plan's (one call ran elsewhere, and
         * its span waited for it): the refresh alone is weighed, and
         * nothing else (cls, x stay -1, 1). */
        bool weigh = ok && !r->want_compile && !l->stop;
        if (weigh &&
            (q.fresh ? refreshed_faster(rt, r, p, &m, why, sizeof why)
                     : judge(rt, r, p, &m, &lo, &hi, why, sizeof why, &cls, &x))) {
            r->neager = 0; /* eager entries ran on the machine and models as they were */
            qv__loop_job(r, lo, hi, p->nchains ? p : NULL, p->pref, p->n, p->sig, true,
                         cls, x, why);
        } else if (weigh && !q.fresh && loses(rt, r, p, &m, why, sizeof why)) {
            if (p->nchains && !r->no_fuse) { /* the fused chains first */
                r->no_fuse = true;
                strncat(why, "; planned without fused kernels",
                        sizeof why - strlen(why) - 1);
                if (qv__loop_job(r, lo, hi, p, p->pref, p->n, p->sig, true, -1, 1,
                                 why))
                    r->job_weighed = r->probed && r->probe_new >= MIN_EAGER;
            } else { /* eager placement wins: the region runs eagerly */
                char for_[64];
                uint64_t until = eager_until(rt, r, p, for_, sizeof for_);
                qv__log(2, "region %s: %s; it runs eagerly%s", name, why, for_);
                run_eagerly(r, why, for_, atomic_load(&l->dev_gen), until);
                pthread_mutex_unlock(&l->mu);
                char detail[384];
                snprintf(detail, sizeof detail, "region %s: %s; runs eagerly%s", name,
                         why, for_);
                qv__trace_mark(rt, "eager", detail);
                pthread_mutex_lock(&l->mu);
            }
        }
        qv__rplan_release(p);
    }
}

void qv__loop_measure(qv_runtime *rt, qv__region *r)
{
    take_measures(rt, r);
    if (r->want_compile && !rt->loop->stop)
        qv__loop_queue(rt, r); /* the compile is the thread's */
}

static void *loop_main(void *arg)
{
    qv_runtime *rt = arg;
    qv__thread_name("loop", -1);
    struct qv__loop *l = rt->loop;
    /* A low share of the CPU, not none: at normal priority a compile cost
     * bench_overhead's Cholesky shape 10-35 % per task on 2 cores, and on
     * idle time only (SCHED_IDLE) a program that keeps every core busy
     * starved the loop for hundreds of entries, so a board that slowed
     * was noticed late. At nice 10 it gets about a tenth of a core against
     * busy threads. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !l->qhead && !l->ahead)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop)
            break;
        if (l->ahead) { /* before a compile, which can take milliseconds */
            make_ahead(rt, l);
            continue;
        }
        qv__region *r = l->qhead;
        if (!(l->qhead = r->qnext))
            l->qtail = NULL;
        r->queued = false;
        char name[128];
        snprintf(name, sizeof name, "%s", r->name);

        take_measures(rt, r);
        if (!r->want_compile || l->stop)
            continue;
        /* A first plan that waits for its recorded entries' times while
         * some are still queued: they are measured at the region's next
         * turn, and the job is kept for it (taken as waiting, it needed
         * one more entry to ask again: a program that does not come back
         * had none, and bench/loop stalled 60 s a run). */
        if ((r->nspan_q || r->nspan_busy) && waits_for_eager(rt, r, r->job_sig)) {
            /* Those another thread measures now: it queues the region
             * when done, the job still wanted (qv__loop_measure). Without,
             * the job was dropped here, and the program's next entry, the
             * one that would have asked again, never came
             * (test_region hot_implicit_region_compiles under
             * ThreadSanitizer). */
            if (r->nspan_q)
                qv__loop_queue(rt, r);
            continue;
        }
        /* Still waiting with none queued: a later entry asks again. Decided
         * here, under the lock: decided with it let go, an entry that ended
         * meanwhile found the compile on its way and did not ask, and was
         * then told to wait for the next one (a program that stopped there
         * never got its plan: test_region under a loaded sanitizer build). */
        if (waits_for_eager(rt, r, r->job_sig)) {
            qv__log(3, "region %s: not compiled yet: its recorded entries' times are "
                       "measured first (the plan is weighed against them)", name);
            /* Said in last_error too: a hot region that waits said
             * nothing there (adversarial testing). */
            snprintf(r->error, sizeof r->error,
                     "not compiled yet: its recorded entries' times are measured first");
            r->want_compile = false;
            if (r->tried && r->tried_sig == r->job_sig) {
                r->tried = false;
                r->next_try = r->sig_entries + 1;
            }
            continue;
        }
        uint64_t lo = r->job_lo, hi = r->job_hi, sig = r->job_sig;
        qv__rplan *from = r->job_from;
        bool from_src = from != NULL; /* from a recorded entry, not this one */
        r->job_from = NULL;
        /* A signature's first plan (not a re-plan of the one it has),
         * while it may still wait for the devices' calibration: past
         * CALIB_WAIT entries in a row it is made with what is known (a
         * call that never fits a board's kernel never calibrates it). */
        bool first = !(r->plan && r->plan->sig == sig) && r->sig_entries < CALIB_WAIT;
        uint32_t n = r->job_n;
        uint64_t *pref = r->job_pref;
        bool replan = r->want_replan;
        int drift_cls = r->job_drift_cls;
        double drift_x = r->job_drift_x;
        double src_scale[QV_CLASS_COUNT];
        memcpy(src_scale, r->job_src_scale, sizeof src_scale);
        char reason[128];
        snprintf(reason, sizeof reason, "%s", r->job_reason);
        r->job_pref = NULL;

        char why[256] = "";
        qv__rplan *p = NULL;
        bool no_fuse = r->job_no_fuse, weighed = r->job_weighed;
        double fuse_scale = r->job_fuse_scale;
        /* A region's first compile may take a while (10 000 tasks, some
         * 10 ms of CPU at nice 10, 0.2 s on 2 cores kept busy): said
         * meanwhile, where it said nothing and looked stuck (a user's
         * report). Every outcome below says what came of it. */
        if (!r->plan)
            snprintf(r->error, sizeof r->error,
                     "not compiled yet: compiling %" PRIu32 " tasks in the background",
                     n);
        pthread_mutex_unlock(&l->mu);
        int rc = compile(rt, name, lo, hi, from ? &from->src : NULL, first, n, drift_cls,
                         drift_x, src_scale, no_fuse, fuse_scale, &p, why, sizeof why);
        qv__rplan_release(from);
        if (rc == QV_EBUSY) { /* calibrating: a later entry asks again */
            qv__log(3, "region %s: not compiled yet: %s", name, why);
            free(pref);
        } else if (rc == QV_ECANCELED) { /* the runtime shuts down */
            qv__log(3, "region %s: not compiled: the runtime shuts down", name);
            free(pref);
        } else if (rc) {
            /* An entry reset away (qv_graph_reset) is asked for again by
             * the next: information, not a warning at every compile (300
             * lines in a 25 s run that reset often: adversarial testing). */
            qv__log(rc == QV_ENOENT || rc == QV_ENODEV ? 2 : 1, "region %s: not %s: %s",
                    name, replan ? "re-planned" : "compiled", why);
            free(pref);
        } else {
            p->pref = pref;
            p->sig = sig;
            qv__log(2, "region %s: %s %u tasks onto %u device%s (%u parts), predicted "
                    "%.1f us: %s", name, replan ? "re-planned" : "compiled", n, p->ndev,
                    p->ndev == 1 ? "" : "s", p->parts, p->makespan, reason);
        }
        if (!rc && replan) { /* each re-plan on the trace's time line */
            char detail[300];
            snprintf(detail, sizeof detail, "region %s: %s", name, reason);
            qv__trace_mark(rt, "re-plan", detail);
        }
        pthread_mutex_lock(&l->mu);
        r->want_compile = false;
        if (rc == QV_EBUSY) {
            snprintf(r->error, sizeof r->error, "not compiled yet: %.200s", why);
            if (r->tried && r->tried_sig == sig) {
                r->tried = false;
                r->next_try = r->sig_entries + 1;
            }
        } else if (rc) {
            snprintf(r->error, sizeof r->error, "%s", why);
            uint64_t gen = atomic_load(&l->dev_gen);
            /* The first compile of the region's current signature: tried
             * again later (re-plans of a plan are not: a drift asks again
             * by itself, changed devices make the region eager below). */
            if (r->tried && r->tried_sig == sig && r->sig == sig &&
                !(r->plan && r->plan->sig == sig)) {
                r->tried = false;
                unsigned k = r->fails < 10 ? r->fails : 10;
                r->fails++;
                r->fail_gen = gen;
                r->next_try = r->sig_entries + ((uint64_t)rt->policy->hot_threshold << k);
            }
            if (replan && r->plan && r->plan->dev_gen != gen) {
                /* A plan for devices that changed, not re-made: every
                 * entry would ask again (and fail again, and say so).
                 * The region runs eagerly instead, which places its tasks
                 * on the devices there are, until the devices change. */
                qv__log(2, "region %s: runs eagerly until the devices change", name);
                run_eagerly(r, reason, " until the devices change", gen, 0);
            }
        } else {
            publish(rt, r, p, replan, !from_src, weighed, reason);
            if (from_src) /* the drifts this plan's costs carry */
                memcpy(r->src_scale, src_scale, sizeof src_scale);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

void qv__region_stop(qv_runtime *rt)
{
    struct qv__loop *l = rt->loop;
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    atomic_store(&l->stopping, true);
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
