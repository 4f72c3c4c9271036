/*
 * placement.c - eager placement of ready tasks: each goes to the device
 * with the earliest predicted finish (when the device frees up, plus the
 * copies its inputs need there, plus the model's time), as StarPU's dmda.
 *
 * A (function, device class) pair that the models know too little about
 * (fewer samples than the policy's perfmodel.min_samples) is tried until
 * that many tries are out, so the models learn without flooding a slow
 * device. A model left unmeasured for perfmodel.refresh_ms while 16 calls
 * went elsewhere gets one of them (a refresh), so that a model a bad
 * moment inflated is not trusted for ever.
 * The policy's `eager` scheduler ignores the models and takes the
 * device that frees up first. Functions no accelerator can run take a fast
 * path that costs one test.
 */
#include <limits.h>

#include "config/policy.h"
#include "core/internal.h"
#include "devices/device.h"
#include "trace/perfmodel.h"

/* Predicted copy time (µs) of t's inputs to device dev. */
static double copies_us(qv_runtime *rt, const qv__task *t, unsigned dev)
{
    double us = 0;
    for (unsigned j = 0; j < t->nbufs; j++) {
        qv_buf *b = t->ubuf[j];
        unsigned valid = atomic_load_explicit(&b->valid, memory_order_relaxed);
        if (!(t->modes[j] & QV_R) || (valid & (1u << dev)) || !b->size)
            continue;
        if (!(valid & 1u)) /* through the host from the device holding it */
            us += qv__devq_transfer_us(rt, (unsigned)__builtin_ctz(valid), b->size);
        if (dev)
            us += qv__devq_transfer_us(rt, dev, b->size);
    }
    return us;
}

/* Why placement chose a device, for the log. */
typedef enum { ONLY_CPU, CALIBRATING, REFRESH, EARLIEST } choice;

/* Says where a task went and why: at info the first time a function goes
 * to a device, at debug every time. */
static void log_choice(qv_runtime *rt, const qv__task *t, unsigned dev, choice why,
                       double finish_us)
{
    qv_func *f = t->func;
    unsigned bit = 1u << dev;
    bool first = !(atomic_fetch_or(&f->placed, bit) & bit);
    int level = first ? 2 : 3;
    if (level > qv__log_threshold())
        return;
    char name[128] = "the CPU";
    if (dev) {
        struct qv_device *d = qv__device(rt, dev);
        d->ops->query(d, QV_QUERY_NAME, name, sizeof name);
    }
    unsigned long long id = (unsigned long long)t->id;
    if (why == ONLY_CPU)
        qv__log(level, "task %llu of '%s' -> the CPU: no other device can run it", id,
                f->name);
    else if (why == CALIBRATING)
        qv__log(level, "task %llu of '%s' -> %s: its model there has too few samples yet "
                "(calibration)", id, f->name, name);
    else if (why == REFRESH)
        qv__log(level,
                "task %llu of '%s' -> %s: its model there was not measured for "
                "perfmodel.refresh_ms (refresh; %.1f us predicted there)",
                id, f->name, name, finish_us);
    else
        qv__log(level, "task %llu of '%s' -> %s: earliest predicted finish, %.1f us from now",
                id, f->name, name, finish_us);
}

/* When a CPU worker frees up, in µs from now: the CPU's queue over its
 * workers, est µs a task. */
static double cpu_wait_us(qv_runtime *rt, double est)
{
    return (double)qv__cpu_queued(rt) / (rt->nworkers ? rt->nworkers : 1) * est;
}

/* The same for t, at the model's time of f (0 when it has none yet). */
static double cpu_ready(qv_runtime *rt, const qv_func *f, const qv__task *t)
{
    double est = 0;
    if (!qv__func_can(f, QV_CLASS_CPU) ||
        qv__perf_get(f->perf[QV_CLASS_CPU], t->bytes, &est, NULL, NULL) != 0)
        return 0;
    return cpu_wait_us(rt, est);
}

bool qv__can_run_on(qv_runtime *rt, const qv_func *f, unsigned d)
{
    /* A plan made from measured costs knows nothing of qv_func_set_where,
     * nor of a device that failed since. */
    return d == 0 ? qv__func_can(f, QV_CLASS_CPU)
                  : d <= rt->naccel && qv__func_can(f, qv__devq_class(rt, d)) &&
                        qv__devq_usable(rt, d, f);
}

/* The device a replayed plan chose for t, when it can still run t there;
 * else UINT_MAX (then t is placed as any other). */
static unsigned planned(qv_runtime *rt, qv__task *t)
{
    unsigned d = t->planned - 1;
    t->planned = 0;
    if ((d == 0 || !(t->skip & (1u << d))) && qv__can_run_on(rt, t->func, d))
        return d;
    qv__log(3, "task %llu of '%s': its planned device %u cannot run it now; placed eagerly",
            (unsigned long long)t->id, t->func->name, d);
    return UINT_MAX;
}

/* A task that no device its qv_func_set_where mask allows can take now
 * (each failed it, or is out of service), and that the CPU cannot run (no
 * CPU implementation; one that has is run there, mask or not): the first
 * other device that has one of its implementations and takes the call,
 * else 0. The mask says where to place work, not where to lose it. Said
 * once per function and device, at warning level. */
static unsigned outside_mask(qv_runtime *rt, qv__task *t)
{
    qv_func *f = t->func;
    unsigned where = f->where;
    if (!where || qv__func_cpu(f))
        return 0;
    for (unsigned d = 1; d <= rt->naccel; d++) {
        qv_class c = qv__devq_class(rt, d);
        bool board = c == QV_CLASS_FPGA || c == QV_CLASS_REMOTE;
        char why[256];
        if ((t->skip & (1u << d)) || (where & (1u << c)) ||
            !qv__devq_usable_unmasked(rt, d, f) ||
            (board && (!f->kernel || !qv__fpga_fits(f, t, why, sizeof why))))
            continue;
        if (!(atomic_fetch_or(&f->outside, 1u << d) & (1u << d)))
            qv__log(1,
                    "no device that qv_func_set_where allows '%s' on can run it now; "
                    "its calls run on %s meanwhile",
                    f->name, qv__devq_name(rt, d));
        return d;
    }
    return 0;
}

/* The index in cand (n devices weighed for t, price[i] µs each) of one
 * other than best whose model is due a refresh, counted as sent; else n.
 * Every other class's model counts a call that passed it by, and one due
 * as well stays due: counted as sent too, it waited a whole interval
 * again, and with calls sparser than the two classes' ages differ, the
 * first class took every refresh and the other's model was never measured
 * again (review; test_devices two_due_models_both_get_a_refresh). */
static unsigned refresh_due(qv_runtime *rt, qv__task *t, const unsigned *cand,
                            const double *price, unsigned n, unsigned best, uint64_t now)
{
    uint64_t gap = (uint64_t)rt->policy->perfmodel_refresh_ms * 1000000u;
    qv_class won = qv__devq_class(rt, best);
    unsigned due = n, seen = 1u << won; /* classes, each weighed once */
    for (unsigned i = 0; i < n; i++) {
        qv_class c = qv__devq_class(rt, cand[i]);
        if (seen & (1u << c))
            continue;
        seen |= 1u << c;
        bool first = due == n; /* no class before took this call's refresh */
        if (qv__perf_refresh_due(t->func->perf[c], t->bytes, now, gap, price[i], first) &&
            first)
            due = i;
    }
    return due;
}

unsigned qv__place(qv_runtime *rt, qv__task *t)
{
    qv_func *f = t->func;
    if (t->planned) {
        /* Replay: the plan decided, with the whole entry in view (and
         * t->refresh says whether the replay sent it to refresh a model
         * the plan avoids: region.c). */
        unsigned d = planned(rt, t);
        if (d != UINT_MAX)
            return d;
    }
    t->refresh = false;
    unsigned where = f->where ? f->where : ~0u;
    if (!(f->impls & where & rt->accel_classes)) {
        /* The mask leaves only the CPU, which cannot run it: a mask set
         * while the call waited (qv_submit refuses calls made after it). */
        if (!qv__func_cpu(f))
            return outside_mask(rt, t);
        if (!(atomic_load_explicit(&f->placed, memory_order_relaxed) & 1u) &&
            qv__log_threshold() >= 2)
            log_choice(rt, t, 0, ONLY_CPU, 0);
        return 0;
    }

    const qv__policy *pol = rt->policy;
    bool eager = pol->scheduler == QV__SCHED_EAGER;
    unsigned min_samples = pol->perfmodel_min_samples ? pol->perfmodel_min_samples : 1;
    uint64_t now = qv__now_ns();
    unsigned best = 0;
    double best_finish = 0, best_est = 0;
    bool have = false, calibrating = false;
    double cpu_ready_us = -1; /* when a CPU worker frees up; computed once */
    unsigned known[QV__MAX_DEVICES], nknown = 0; /* measured, for refreshes */
    double known_finish[QV__MAX_DEVICES], known_est[QV__MAX_DEVICES];
    double known_price[QV__MAX_DEVICES]; /* the run and its launch there */
    /* Accelerators first, so that their first tries come early. */
    for (unsigned i = 1; i <= rt->naccel + 1; i++) {
        unsigned d = i <= rt->naccel ? i : 0;
        qv_class c = qv__devq_class(rt, d);
        if (d ? (t->skip & (1u << d)) || !qv__devq_usable(rt, d, f)
              : !qv__func_can(f, QV_CLASS_CPU))
            continue;
        double est = 0;
        uint64_t n = 0;
        if (!eager && (qv__perf_get(f->perf[c], t->bytes, &est, NULL, &n) != 0 ||
                       n < min_samples)) {
            if (atomic_fetch_add(&f->tries[c], 1) < min_samples) {
                best = d;
                have = true;
                calibrating = true;
                break;
            }
            /* Tries are out already: use what is known, else guess it like
             * the CPU. */
            if (n == 0 && qv__perf_get(f->perf[QV_CLASS_CPU], t->bytes, &est, NULL,
                                       NULL) != 0)
                est = 0;
        }
        /* Measured at least once (a size whose bucket holds fewer than
         * min_samples once the function's tries are out, too). */
        bool calibrated = !eager && n > 0;
        /* An emulated board's model is the card's: a run there finishes
         * in its emulation's wall time (of its last runs: qv__func_emu_x),
         * which took the CPU's place. (The signal chain's eager entries,
         * its buffers left on the board by a plan, went there at fir's
         * modelled 9.7 us against the CPU's 19, and took 3-4x as long as
         * on the CPU alone for some 50 entries: bench/loop --pays.) */
        double x = d && qv__device(rt, d)->on_host ? qv__func_emu_x(f, c, now) : 0;
        if (x > 1)
            est *= x;
        double ready_us;
        if (d == 0) {
            ready_us = cpu_wait_us(rt, est);
        } else {
            ready_us = (double)(qv__devq_ready_ns(rt, d, now) - now) / 1e3;
            /* A device on the host's cores (PoCL, an emulated board) runs
             * on a core the CPU's workers would use: it starts no sooner
             * than a worker frees up, so it wins where it runs the call
             * faster, not as capacity the host does not have. */
            if (!eager && qv__device(rt, d)->on_host) {
                if (cpu_ready_us < 0)
                    cpu_ready_us = cpu_ready(rt, f, t);
                if (cpu_ready_us > ready_us)
                    ready_us = cpu_ready_us;
            }
        }
        /* A remote board's run ends for the host a round trip after its
         * request, its kernel's time aside: counted in its finish, not in
         * its backlog (the board runs others meanwhile, 8 in flight).
         * Without it every call that the board's kernel ran faster than
         * the CPU went there, however far the board (test_remote
         * far_boards_get_calls_worth_the_trip: 20 ms a call against the
         * CPU's 2). */
        double launch_us = d ? qv__devq_launch_us(rt, d) : 0;
        double finish = ready_us + copies_us(rt, t, d) + est + launch_us;
        if (calibrated) {
            known[nknown] = d;
            known_est[nknown] = est;
            known_price[nknown] = est + launch_us;
            known_finish[nknown++] = finish;
        }
        if (!have || finish < best_finish) {
            best = d;
            best_finish = finish;
            best_est = est;
            have = true;
        }
    }
    if (!have)
        return outside_mask(rt, t); /* else the CPU's: it runs it, or reports it */
    choice why = calibrating ? CALIBRATING : EARLIEST;
    if (!calibrating && nknown > 1 && pol->perfmodel_refresh_ms) {
        unsigned i = refresh_due(rt, t, known, known_price, nknown, best, now);
        if (i < nknown) {
            best = known[i];
            best_finish = known_finish[i];
            best_est = known_est[i];
            t->refresh = true;
            why = REFRESH;
        }
    }
    if (qv__log_threshold() >= 2)
        log_choice(rt, t, best, why, best_finish);
    if (best)
        qv__devq_add_backlog(rt, best, now,
                             (uint64_t)((copies_us(rt, t, best) + best_est) * 1e3));
    return best;
}
