/*
 * region.h - what the two halves of the run-time loop share: region.c (the
 * submit side: signatures, entries, the guard of a replay) and loop.c (the
 * background side: compiling a plan, measuring replayed entries against it,
 * re-planning). Nothing here is API.
 *
 * Locking: loop->mu guards the list of regions, every region's fields and
 * the job queue. A plan (qv__rplan) is immutable once published and
 * reference counted, so a thread replaying it holds no lock; the region
 * holds one reference to its current plan.
 */
#ifndef QV_CORE_REGION_H
#define QV_CORE_REGION_H

#include "core/internal.h"
#include "trace/graph.h"

/* A compiled plan as the replay reads it: per task of the entry, in
 * submission order, the signature of the entry up to and including that
 * task (the guard), the runtime device the plan chose and the time it
 * predicted there. */
#define QV__FRESH_MAX 8 /* refreshes a plan offers (qv__rplan.fresh) */

typedef struct qv__rplan {
    atomic_uint refs;
    uint32_t n;
    uint64_t sig;       /* the entry's signature */
    uint64_t *pref;     /* [n] prefix signatures */
    uint8_t *dev;       /* [n] runtime device (0 the CPU) */
    uint16_t *worker;   /* [n] CPU worker + 1 of the tasks on the CPU; else 0 */
    float *pred_us;     /* [n] predicted run time on that device */
    double makespan;    /* µs, the planner's */
    double fuse_scale;  /* its fused kernels' time over the catalog's table */
    unsigned parts;
    unsigned ndev;      /* devices the plan uses tasks on */
    bool accel;         /* some task on an accelerator (inputs prefetched) */
    uint64_t dev_gen;   /* loop->dev_gen it was planned with */
    /* Fused chains and parts: chain[k] is 1 + the index in chains of the
     * chain task k belongs to, 0 for none (chain NULL: no chains). A chain
     * is tasks first..first+len-1 of the entry, run as one launch of
     * kernel k, or (k NULL) as one part on a remote board (part.c). */
    uint16_t *chain;
    struct qv__rchain {
        const struct qv__kernel *k;
        uint32_t first, len;
    } *chains;
    uint32_t nchains;
    /* The nodes an entry replayed whole makes, in order: the task of the
     * plan each is (a chain's fused launch is its last task's). */
    uint32_t nnodes;
    uint32_t *node_pos;
    /* The recorded entry it was compiled from, kept (the recorder's window
     * may forget it): a re-plan starts from it when replayed entries are
     * fused (their graph is not the entry's). */
    qv__frozen src;
    /* Refreshes: per function and class that the plan gives none of the
     * function's calls (outside chains) although a device of the class in
     * service runs it, its first such call k, the device dev of that
     * class, and the time the plan took for the call there (price_us, the
     * planner's cost). A replay sends call k there instead when the
     * model there is due a refresh (perfmodel.refresh_ms), so that what
     * a plan avoids is still measured; in k's order. */
    struct qv__rfresh {
        uint32_t k;
        uint8_t dev, cls;
        float price_us;
        char fn[40]; /* the function's name, for the re-plan's reason */
    } fresh[QV__FRESH_MAX];
    unsigned nfresh;
} qv__rplan;

void qv__rplan_release(qv__rplan *p);

/* Entries weighed, recorded and replayed, when a plan is held against
 * eager placement (the median of each). */
#define QV__SPANS 5
#define QV__CALS  9
/* Replayed entries waiting to be measured per region (region.c,
 * want_measure). */
#define QV__MEAS_Q 2
#define QV__CAL_FIRST 3 /* ratios of a device that start its calibration */
/* Replayed entries of a plan that are measured each; later ones at most
 * one per QV__MEASURE_GAP_NS of entry starts (region.c, want_measure). */
#define QV__MEASURE_ALL    12
#define QV__MEASURE_GAP_NS (500 * 1000)

typedef struct qv__region qv__region;
struct qv__region {
    qv__region *next;
    char name[128];
    bool implicit;
    uint64_t entries, recorded, replayed, compiles, replans, guard_misses, fused, shipped,
        refreshes;
    uint64_t signatures, sig_entries;
    uint64_t sig;         /* the last entry's */
    uint64_t tasks;       /* of the last entry */
    uint64_t nodes;       /* of the last entry: its tasks as the graph has
                           * them (a fused chain is one) */
    uint64_t lo, hi;      /* node ids of the last entry: [lo, hi) */
    uint64_t measured_lo; /* lo + 1 of the entry measured_us is of */
    double predicted_us, measured_us;
    char reason[128], error[256];
    qv__region *follow;   /* implicit: the region that came next last time */
    qv__rplan *plan;      /* the current plan, or NULL */
    /* Calibration of the current plan (loop.c): the measured span of an
     * entry over the plan's makespan, the median of the last QV__CALS
     * entries' (a preempted entry's spike moves no prediction; 0 until
     * measured; the plan's first entry not taken, the least of fewer than
     * 3), and per device the measured over the predicted task
     * time, as moving averages. */
    double cal, cal_q[QV__CALS];
    unsigned ncal;
    bool cal_first;       /* the plan's first measured entry came (loop.c) */
    double base[QV__MAX_DEVICES];
    /* Per device, its first QV__CAL_FIRST ratios: base and noise start as
     * their median and median distance (loop.c calibrate). */
    double first[QV__MAX_DEVICES][QV__CAL_FIRST];
    unsigned char nfirst[QV__MAX_DEVICES];
    /* Per device, the moving average of |ratio / base - 1| of the entries
     * that did not drift: the device's own noise. */
    double spread[QV__MAX_DEVICES];
    unsigned measured;      /* replayed entries measured since the plan */
    uint64_t judged;        /* replayed entries measured, all plans */
    unsigned drift_entries; /* replayed entries in a row past the drift,
                             * one way */
    bool drift_held;        /* a drift waits for replan.min_interval_ms */
    struct qv__drift {      /* the last of them: its furthest device, */
        unsigned dev;       /* that device's ratio to its calibration, */
        double x;           /* and the entry [lo, hi) */
        uint64_t lo, hi;
    } drift_last;
    uint64_t meas_last_ns;  /* start of the last entry queued to measure */
    uint64_t compiled_ns;   /* when the current plan was made */
    /* Whether a compile of the signature tried_sig was started. */
    bool tried;
    uint64_t tried_sig;
    /* Compiles of the current signature that failed in a row, and the
     * sig_entries before the next try: each failure doubles the wait (a
     * failure may pass, as a reset of the graph does, or not). */
    unsigned fails;
    uint64_t next_try;
    uint64_t fail_gen; /* loop->dev_gen at the last failure: a change of
                        * the devices ends the back-off */
    /* Jobs for the background thread; the region is queued once. */
    bool queued;
    bool want_compile, want_replan;
    uint64_t job_lo, job_hi;
    qv__rplan *job_from;    /* a reference, or NULL: compile from its src,
                             * not from [job_lo, job_hi) */
    uint32_t job_n;
    uint64_t job_sig;
    uint64_t *job_pref;     /* owned */
    char job_reason[128];
    /* A drift re-plan: the class of the device that drifted (-1: none)
     * and by how much, for the costs on it that the entry did not measure. */
    int job_drift_cls;
    double job_drift_x;
    /* Per class, the product of the drifts re-planned on since the plan's
     * source entry was recorded (0: none): a re-plan from that source (a
     * fused plan's) scales every cost on the class by it, those the
     * source measured there too, which predate the drifts. */
    double src_scale[QV_CLASS_COUNT], job_src_scale[QV_CLASS_COUNT];
    /* What the boards' fused kernels measured against their tables: the
     * product of the drifts of board classes so far (0: none yet), which
     * every later plan of the region times them with. */
    double fuse_scale, job_fuse_scale;
    /* The plan against eager placement (replan.eager_slack): the times of
     * the last recorded (eager) entries of signature eager_sig, measured in
     * the background (span_q: up to QV__SPANS entries waiting to be
     * measured, oldest first), and of the plan's last replayed entries,
     * each a ring of QV__SPANS; plans made without fused chains from now
     * on (a fused plan lost to eager); whether the plan lost even so and
     * the region runs eagerly (its signature stays tried) until the devices
     * change from lost_gen or lost_until_ns passes. */
    double eager_span[QV__SPANS], plan_span[QV__SPANS];
    unsigned neager, nplan;
    uint64_t eager_sig;
    struct qv__span_req {
        uint64_t lo, hi, sig, begin;
    } span_q[QV__SPANS];
    unsigned nspan_q;
    bool no_fuse, job_no_fuse;
    /* The job re-plans a plan that lost to eager placement measured again
     * while it ran: the new plan is weighed against those times, without
     * a probe of its own (publish). */
    bool job_weighed;
    bool lost;
    uint64_t lost_gen;
    uint64_t lost_until_ns; /* or until then (0: no end) */
    /* Plans of signature losses_sig dropped in a row on the devices of
     * generation losses_gen, each after replaying no longer than the eager
     * period before it: each runs the region eagerly twice as long as the
     * one before (replan.eager_retry_ms); retry: the eager period ended,
     * and the next compile is its retry. */
    unsigned losses;
    uint64_t losses_gen, losses_sig;
    uint64_t eager_ms; /* the last eager period's length */
    bool retry;
    /* Before a plan loses to eager placement, eager is measured again, now:
     * the next `probe` entries run eagerly (probed: done for this plan);
     * probe_new counts the eager times measured since, probe_plan the
     * plan's entries weighed since. */
    unsigned probe, probe_new, probe_plan;
    bool probed;
    /* Replayed entries waiting to be measured, oldest first. */
    struct qv__meas_req {
        qv__rplan *plan; /* a reference */
        uint64_t lo, hi, begin;
        bool span_only;  /* its span for the prediction only (loop.c) */
        bool fresh;      /* a call of it ran elsewhere, a refresh: its
                          * measure is the refresh's alone (loop.c) */
    } meas_q[QV__MEAS_Q];
    unsigned nmeas_q;
    /* Recorded entries' times taken out of span_q and being measured, the
     * lock let go: a first compile that waits for them keeps its job. */
    unsigned nspan_busy;
    /* Measurements wait (meas_q, span_q) without the loop's thread woken
     * for them: region.c, defer_wake. */
    bool meas_deferred;
    const void *meas_owner; /* the thread state that deferred them */
    qv__region *qnext;
};

struct qv__loop {
    uint64_t serial; /* tells this runtime from one at its address */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    qv__region *list;
    unsigned nimplicit, nexplicit;
    qv__region *qhead, *qtail;
    bool started, stop;
    /* stop, read by the planner without mu (qv_plan_opts.cancel): a
     * compile under way ends when the runtime shuts down, not after. */
    atomic_bool stopping;
    pthread_t thread;
    /* The recorder's chunks (a bit per QV__REC_* kind) asked for ahead of
     * need (qv__loop_ahead), and those the thread is making now. */
    unsigned ahead, ahead_busy;
    /* Bumped when a device appears, disappears or fails: plans made
     * before are re-made. dev_why (under mu) says what happened last. */
    _Atomic uint64_t dev_gen;
    char dev_why[160];
};

/* Sets r's compile job: nodes [lo, hi), or (from not NULL) the recorded
 * entry plan `from` was compiled from; their n prefix signatures (copied)
 * and the entry's signature; a drift re-plan names the drifted class and
 * its factor (cls -1: none). Under loop->mu. False when out of memory (the
 * job is then unchanged). */
bool qv__loop_job(qv__region *r, uint64_t lo, uint64_t hi, qv__rplan *from,
                  const uint64_t *pref, uint32_t n, uint64_t sig, bool replan, int cls,
                  double x, const char *reason);

/* What r's current plan predicts for an entry: its makespan calibrated by
 * the entries measured so far; 0 without a plan. Under loop->mu. */
static inline double qv__region_predict(const qv__region *r)
{
    return r->plan ? r->plan->makespan * (r->cal > 0 ? r->cal : 1.0) : 0;
}

/* Queues r for the background thread (starting it the first time); under
 * loop->mu. False when no thread could be started (r->error says so). */
bool qv__loop_queue(qv_runtime *rt, qv__region *r);

/* Asks the background thread for the recorder's next chunks of the kinds
 * in `kinds` (qv__rec_ahead_wanted), made ahead of need with their pages
 * touched: first-touch of fresh memory costs 0.1-4 ns a byte, and made
 * on the program's thread it held up the program. Not under loop->mu or
 * submit_mu. */
void qv__loop_ahead(qv_runtime *rt, unsigned kinds);

/* Takes r's measurements waiting, on the calling thread, as the loop's
 * thread would (their entries' tasks are done: nothing is waited for), and
 * queues r for the thread when they made a compile job. Under loop->mu. */
void qv__loop_measure(qv_runtime *rt, qv__region *r);

#endif
