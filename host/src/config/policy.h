/*
 * policy.h - the runtime policy (config/quiver.yaml): how the runtime
 * schedules, when it compiles and re-plans, how it discovers resources and
 * where it logs and keeps its models. Every key is optional; a missing key
 * keeps its default, so an empty file is the default policy.
 *
 * Schema (docs/config/policy.md has every key with its default):
 *   scheduler: heft              eager | heft
 *   hot_threshold: 3             1..1000000 entries before a region compiles
 *   implicit_regions: true       the work between two qv_wait_all is a region
 *   devices: [cpu, gpu, fpga, remote]
 *   replan:    {drift: 0.25, min_interval_ms: 1000, eager_slack: 1.05,
 *               eager_retry_ms: 10000}
 *              a region re-plans when a device's measured time drifts past
 *              drift, at most once per min_interval_ms, and drops a plan
 *              slower than eager placement by eager_slack, then runs
 *              eagerly for eager_retry_ms (doubled at each loss in a row)
 *              before it is planned again (core/loop.c)
 *   discovery: {rescan_interval_ms: 5000, hwloc: true, opencl: true,
 *               xrt: true, boards: [../boards/emu/u250-emu.yaml]}
 *   log:       {level: warn, file: PATH}
 *   perfmodel: {dir: PATH, min_samples: 3, refresh_ms: 1000}
 *   trace:     {path: PATH}
 *   catalog:   ../config/kernels.yaml    the kernel catalog (FPGA kernels)
 *   max_inflight: 65536          16..16777216 tasks submitted and not done
 *                                before qv_submit blocks
 *   objective: time              time | cost | a weight from 0 to 1: what a
 *                                region's plan minimises
 *   deadline_ms: 0               0..86400000; 0 = none: a cost plan's limit
 *   remote:    {heartbeat_ms: 250, timeout_ms: 1000}   a remote board with
 *              requests outstanding is sent a heartbeat every heartbeat_ms
 *              and fails when nothing comes back for timeout_ms
 */
#ifndef QV_CONFIG_POLICY_H
#define QV_CONFIG_POLICY_H

#include <stddef.h>

#include "quiver/config.h"

typedef enum qv__sched { QV__SCHED_EAGER, QV__SCHED_HEFT } qv__sched;

typedef enum qv__loglevel {
    QV__LOG_ERROR,
    QV__LOG_WARN,
    QV__LOG_INFO,
    QV__LOG_DEBUG,
    QV__LOG_TRACE
} qv__loglevel;

typedef struct qv__policy {
    qv__sched scheduler;             /* heft: earliest finish by the models */
    unsigned hot_threshold;          /* 3: region entries before compiling */
    int implicit_regions;            /* 1: work between qv_wait_all calls */
    unsigned devices;                /* all: bit (1 << qv_class) per class */
    double replan_drift;             /* 0.25: |measured/predicted - 1| */
    unsigned replan_min_interval_ms; /* 1000: between two re-plans */
    double replan_eager_slack;       /* 1.05: a plan this much slower than
                                      * eager placement is dropped; 0 never */
    unsigned replan_eager_retry_ms;  /* 10000: eager after a dropped plan for
                                      * this long (doubled at each loss in a
                                      * row); 0 until the devices change */
    unsigned rescan_interval_ms;     /* 5000; 0 = no periodic rescan */
    int discover_hwloc;              /* 1 */
    int discover_opencl;             /* 1 */
    int discover_xrt;                /* 1 */
    char **boards;                   /* board files, resolved; owned */
    size_t nboards;
    qv__loglevel log_level;         /* warn */
    char *log_file;                 /* NULL = stderr; owned */
    char *perfmodel_dir;            /* NULL = qv_options' default; owned */
    unsigned perfmodel_min_samples; /* 3: before a model is trusted */
    unsigned perfmodel_refresh_ms;  /* 1000: a call to a model left this
                                     * long unmeasured; 0: never */
    char *trace_path;               /* NULL = no trace at exit; owned */
    char *catalog;                  /* kernel catalog file, or NULL; owned */
    unsigned max_inflight;          /* 65536: tasks in flight before
                                       qv_submit blocks (backpressure) */
    struct qv__catalog *cat;        /* that catalog, loaded; owned (the
                                       runtime takes it: set it to NULL) */
    /* What a region's plan optimises (the region compiler passes them to
     * qv_plan_opts): */
    double objective;   /* 0: time; 1: cost; between: cost_weight */
    double deadline_ms; /* ms, 0 = none: deadline_us / 1000 */
    /* Remote boards (devices/remote.c): */
    unsigned remote_heartbeat_ms; /* 250: a heartbeat while requests wait */
    unsigned remote_timeout_ms;   /* 1000: no reply for this long: failed */
} qv__policy;

/* Fills p with the defaults above; nothing to free until a load. */
void qv__policy_defaults(qv__policy *p);

/* Loads the policy at path over the defaults, and what it names as the
 * runtime uses it: every board file must load, and the catalog is loaded
 * into out->cat, so that `quiver check` and the runtime give one verdict.
 * On success *out holds the result (release it with qv__policy_fini); on
 * error *out holds the defaults, owns nothing, and diag (may be NULL) says
 * why. Relative paths in the file resolve against the file's directory. */
int qv__policy_load(const char *path, qv__policy *out, qv_diag *diag);

/* Frees what a loaded policy owns and resets it to the defaults. */
void qv__policy_fini(qv__policy *p);

/* Fills o (after qv_pool_options_init) with the policy's discovery
 * settings. o->boards points into p: keep p alive until qv_pool_create has
 * returned (the pool copies what it needs). */
void qv__policy_pool_options(const qv__policy *p, qv_pool_options *o);

/* Names for messages and `quiver check`. */
const char *qv__sched_name(qv__sched s);
const char *qv__loglevel_name(qv__loglevel l);

/* The keys a policy file may have at its top level, NULL-terminated (for
 * recognising a file's kind). */
extern const char *const qv__policy_top_keys[];

struct qv__ydoc;
int qv__policy_from_doc(const struct qv__ydoc *doc, qv__policy *out, qv_diag *diag);

#endif
