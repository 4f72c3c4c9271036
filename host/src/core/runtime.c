/*
 * runtime.c - the runtime's life cycle: options, create, shutdown, destroy.
 */
#include <stdlib.h>
#include <string.h>

#include "config/board.h"
#include "config/catalog.h"
#include "config/default_path.h"
#include "config/policy.h"
#include "core/internal.h"
#include "core/fork.h"
#include "qv_text.h"
#include "devices/device.h"
#include "trace/marks.h"
#include "trace/perfmodel.h"
#include "trace/recorder.h"
#include "core/thread.h"

/* Reads the caller's options into out: the fields its size covers, the
 * defaults for the others. The first qv_options ended with `opencl`; a size
 * below that (not set up by qv_options_init) or above this library's struct
 * (a newer header) is refused. A field appended later is copied only when
 * in->size covers it: offsetof(qv_options, f) + sizeof in->f <= in->size. */
static int options_read(const qv_options *in, qv_options *out)
{
    const size_t first = offsetof(qv_options, opencl) + sizeof in->opencl;
    qv_options_init(out);
    if (!in)
        return 0;
    if (in->size < first)
        return qv__fail(QV_EINVAL, "qv_options.size is %zu; set up the options with "
                        "qv_options_init", in->size);
    if (in->size > sizeof *in)
        return qv__fail(QV_EINVAL, "qv_options.size is %zu, larger than this library's "
                        "qv_options (%zu bytes): the program was built against a "
                        "newer quiver.h than libquiver %s", in->size, sizeof *in,
                        qv_version());
    /* The sizes of the versions: the first ended at opencl (its struct's
     * size, with or without its tail padding); this one. Any other is not
     * a qv_options (adversarial finding: 45 or 50 bytes were taken). */
    const size_t align = _Alignof(qv_options), v1 = (first + align - 1) / align * align;
    if (in->size != first && in->size != v1 && in->size != sizeof *in)
        return qv__fail(QV_EINVAL, "qv_options.size is %zu, the size of no version of "
                        "qv_options (%zu or %zu bytes); set up the options with "
                        "qv_options_init", in->size, v1, sizeof *in);
    memcpy(out, in, first);
    out->size = sizeof *out;
    if (in->size >= offsetof(qv_options, record_window) + sizeof in->record_window)
        out->record_window = in->record_window;
    return 0;
}

static int runtime_init_sync(qv_runtime *rt)
{
    if (pthread_mutex_init(&rt->submit_mu, NULL) || pthread_mutex_init(&rt->q_mu, NULL) ||
        pthread_mutex_init(&rt->park_mu, NULL) || pthread_cond_init(&rt->park_cv, NULL) ||
        pthread_mutex_init(&rt->wait_mu, NULL) || pthread_cond_init(&rt->wait_cv, NULL) ||
        pthread_mutex_init(&rt->reg_mu, NULL) || pthread_cond_init(&rt->unpinned, NULL) ||
        pthread_mutex_init(&rt->fail_mu, NULL) ||
        pthread_mutex_init(&rt->ev_mu, NULL))
        return QV_ENOMEM;
    atomic_init(&rt->free_shared, NULL);
    atomic_init(&rt->qlen, 0);
    atomic_init(&rt->nparked, 0);
    atomic_init(&rt->stop, false);
    atomic_init(&rt->nwaiters, 0);
    atomic_init(&rt->far, 0);
    atomic_init(&rt->loose, 0);
    atomic_init(&rt->remote, false);
    atomic_init(&rt->nbp, 0);
    atomic_init(&rt->ring_waits, 0);
    atomic_init(&rt->held_used, 0);
    atomic_init(&rt->epoch, 0);
    for (unsigned i = 0; i < QV__EPOCHS; i++) {
        atomic_init(&rt->sub[i], 0);
        atomic_init(&rt->fin[i], 0);
    }
    atomic_init(&rt->nheld, 0);
    atomic_init(&rt->snap_idle, false);
    atomic_init(&rt->sets_capped, false);
    rt->max_size_sets = QV__MAX_SIZE_SETS;
    return 0;
}

static int open_cpu(qv_runtime *rt)
{
    const struct qv_device_ops *ops = &qv__cpu_ops;
    rt->cpu = calloc(1, ops->dev_size);
    if (!rt->cpu)
        return QV_ENOMEM;
    rt->cpu->ops = ops;
    rt->cpu->rt = rt;
    rt->cpu->cls = ops->cls;
    int rc = ops->open(rt->cpu, 0, NULL);
    if (rc) {
        free(rt->cpu);
        rt->cpu = NULL;
        return rc;
    }
    ops->query(rt->cpu, QV_QUERY_UNITS, &rt->ncores, sizeof rt->ncores);
    return 0;
}

static qv__policy *policy(qv_runtime *rt)
{
    return rt->policy;
}

static void free_policy(qv_runtime *rt)
{
    qv__catalog_free(rt->catalog);
    rt->catalog = NULL;
    for (size_t i = 0; i < rt->nboards; i++)
        qv__board_free(rt->boards[i]);
    free(rt->boards);
    rt->boards = NULL;
    rt->nboards = 0;
    if (rt->policy) {
        qv__policy_fini(rt->policy);
        free(rt->policy);
        rt->policy = NULL;
    }
}

/* Reads the runtime policy (defaults without a file) and applies what the
 * runtime uses of it now: devices, logging, model directory, trace. */
static int apply_policy(qv_runtime *rt, const char *given)
{
    qv__policy *p = calloc(1, sizeof *p);
    if (!p)
        return qv__fail(QV_ENOMEM, "qv_runtime_create: out of memory");
    qv__policy_defaults(p);
    rt->policy = p;
    const char *path = qv__config_path(given);
    if (!path) {
        /* Said, as a file read is: a program run away from its prefix
         * found no default policy and got no boards without a word. */
        const char *env = getenv("QV_CONFIG");
        qv__log(2,
                "no runtime policy file (%s): the built-in defaults, no boards and no "
                "catalog",
                given ? "qv_options.config is \"\""
                : env ? "QV_CONFIG is empty"
                      : "no installed default policy next to libquiver");
        return 0;
    }
    qv_diag d;
    int rc = qv__policy_load(path, p, &d);
    if (rc) {
        char msg[2200];
        qv_diag_format(&d, msg, sizeof msg);
        return qv__fail(rc, "%s", msg);
    }
    /* QV_LOG, when it names a level, wins over the policy; one that does
     * not is said (it was dropped without a word behind a policy). */
    const char *env = getenv("QV_LOG");
    bool by_env = qv__log_env();
    if (p->log_file) {
        if ((rc = qv__log_open(p->log_file)) != 0)
            return rc;
        rt->log_file = true;
    }
    if (!by_env) {
        /* Said even under a policy of errors only (review). */
        if (env && *env) {
            qv__log_set_level(p->log_level > QV__LOG_WARN ? (int)p->log_level
                                                          : QV__LOG_WARN);
            qv__log(1,
                    "QV_LOG=%.40s is not a level (error, warn, info, debug, trace or 0 "
                    "to 4); the policy's %s holds",
                    env, qv__loglevel_name(p->log_level));
        }
        qv__log_set_level((int)p->log_level);
    }
    qv__log(2, "runtime policy %s: scheduler %s, log level %s%s%s%s", path,
            qv__sched_name(p->scheduler),
            by_env ? qv__loglevel_name((qv__loglevel)qv__log_threshold())
                   : qv__loglevel_name(p->log_level),
            by_env ? " (QV_LOG)" : "", p->log_file ? ", log file " : "",
            p->log_file ? p->log_file : "");
    /* Nothing starts half-configured: the policy loaded its catalog (as
     * `quiver check` does, by the same code); every board loads now. */
    rt->catalog = p->cat;
    p->cat = NULL;
    if (p->nboards) {
        rt->boards = calloc(p->nboards, sizeof *rt->boards);
        if (!rt->boards)
            return qv__fail(QV_ENOMEM, "qv_runtime_create: out of memory");
        for (size_t i = 0; i < p->nboards; i++) {
            qv__board *b;
            if ((rc = qv__board_load(p->boards[i], &b, &d)) != 0) {
                char msg[2200];
                qv_diag_format(&d, msg, sizeof msg);
                return qv__fail(rc, "%s", msg);
            }
            rt->boards[rt->nboards++] = b;
        }
    }
    return 0;
}

static int runtime_create(const qv_options *opts, qv_runtime **out);

unsigned qv__fork_gen;

static void graves_fork_lock(bool lock);

/* The process-wide locks, outer ones first: a module's lock is held while
 * it logs (qv__log takes log_mu), never the other way round. */
static void fork_locks(bool lock)
{
    void (*const take[])(bool) = { qv__fuse_fork_lock, qv__part_fork_lock,
                                   qv__disc_fork_lock, qv__sigkeep_fork_lock,
                                   graves_fork_lock, qv__xrt_fork_lock,
                                   qv__log_fork_lock };
    enum { N = sizeof take / sizeof take[0] };
    for (int i = 0; i < N; i++)
        take[lock ? i : N - 1 - i](lock);
}

/* Set on the forking thread while it holds the locks (qv__forking). */
static _Thread_local bool t_forking;

static void fork_prepare(void)
{
    fork_locks(true);
    t_forking = true;
}

static void fork_parent(void)
{
    t_forking = false;
    fork_locks(false);
}

static void forked_child(void)
{
    t_forking = false;
    qv__fork_gen++;
    fork_locks(false);
}

bool qv__forking(void)
{
    return t_forking;
}

static void watch_forks(void)
{
    pthread_atfork(fork_prepare, fork_parent, forked_child);
}

void qv__fork_watch(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_forks);
}

/* The threads that libraries start for us meanwhile (PoCL's, XRT's) keep
 * the application's asynchronous signals blocked, as ours do (thread.h). */
QV_API int qv_runtime_create(const qv_options *opts, qv_runtime **out)
{
    qv__fork_watch();
    sigset_t old;
    qv__signals_block(&old);
    int rc = runtime_create(opts, out);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int runtime_create(const qv_options *opts, qv_runtime **out)
{
    if (!out)
        return qv__fail(QV_EINVAL, "qv_runtime_create: NULL output");
    *out = NULL;
    qv_options o;
    if (options_read(opts, &o))
        return QV_EINVAL;
    qv_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return qv__fail(QV_ENOMEM, "qv_runtime_create: out of memory");
    qv__clock_init();
    rt->created_ns = qv__now_ns();
    rt->opts = o;
    const char *spin = getenv("QV_SPIN_US");
    bool spin_env = false;
    if (spin && *spin) {
        /* Digits only, at most a second: "-1" wrapped to 71 minutes of
         * spinning idle workers, and junk read as 0, both silently
         * (adversarial testing). */
        unsigned long us;
        spin_env = qv__parse_dec(spin, 1000000, &us);
        if (spin_env)
            rt->opts.spin_us = (unsigned)us;
        else
            qv__log(1, "QV_SPIN_US=%s is not a number of microseconds from 0 to 1000000; "
                    "threads spin %u us", spin, rt->opts.spin_us);
    }
    /* The option as the variable, unless the variable wins: 5 s of idle
     * spinning was taken. */
    if (!spin_env && o.spin_us > 1000000) {
        free(rt);
        return qv__fail(QV_EINVAL, "qv_options.spin_us is %u; expected 0 to 1000000 (µs)",
                        o.spin_us);
    }
    if (rt->opts.ncpu < 0 || rt->opts.ncpu > 4096) {
        int ncpu = rt->opts.ncpu;
        free(rt);
        return qv__fail(QV_EINVAL, "qv_options.ncpu is %d; expected 0 (one per core) "
                        "to 4096", ncpu);
    }
    /* Strings in the options are the caller's; keep none of them. */
    rt->opts.config = NULL;
    rt->opts.perfmodel_dir = NULL;

    int rc = runtime_init_sync(rt);
    if (rc) {
        free(rt);
        return qv__fail(rc, "qv_runtime_create: cannot create locks");
    }
    if ((rc = apply_policy(rt, opts ? opts->config : NULL)) != 0)
        goto fail;
    if ((rc = qv__region_init(rt)) != 0) {
        qv__fail(rc, "qv_runtime_create: out of memory");
        goto fail;
    }
    if ((rc = open_cpu(rt)) != 0) {
        qv__fail(rc, "cannot open the CPU backend: %s", qv_strerror(rc));
        goto fail;
    }
    /* The model directory: the options, then the policy, then the default. */
    rt->opts.perfmodel_dir = opts && opts->perfmodel_dir ? opts->perfmodel_dir
                                                         : policy(rt)->perfmodel_dir;
    rc = qv__perf_open(rt);
    rt->opts.perfmodel_dir = NULL;
    if (rc) {
        qv__fail(rc, "cannot set up performance models: %s", qv_strerror(rc));
        goto fail;
    }
    if (rt->opts.record && (!(rt->rec = qv__rec_create(rt->opts.record_window)) || qv__marks_init(rt))) {
        rc = qv__fail(QV_ENOMEM, "qv_runtime_create: out of memory");
        goto fail;
    }
    if (!(policy(rt)->devices & (1u << QV_CLASS_GPU)) || !policy(rt)->discover_opencl)
        rt->opts.opencl = 0;
    if ((rc = qv__devq_open_all(rt)) != 0) {
        /* Its message names the device or the file (discovery's): kept.
         * "cannot start the device threads: already exists" named
         * nothing (adversarial testing). */
        qv__fail(rc, "cannot open the devices: %s", qv_last_error());
        goto fail;
    }
    rt->nworkers = rt->opts.ncpu ? (unsigned)rt->opts.ncpu : rt->ncores;
    if ((rc = qv__sched_start(rt)) != 0) {
        qv__fail(rc, "cannot start %u workers: %s", rt->nworkers, qv_strerror(rc));
        goto fail;
    }
    rt->max_inflight = policy(rt)->max_inflight;
    rt->low_water = rt->max_inflight / 4 * 3;
    rt->fork_gen = qv__fork_gen;
    rt->magic = QV__RT_MAGIC;
    *out = rt;
    return 0;

fail:
    if (rt->log_file)
        qv__log_close();
    qv__devq_stop_all(rt);
    qv__devq_close_all(rt);
    qv__region_free(rt);
    free_policy(rt);
    qv__perf_close(rt);
    qv__rec_destroy(rt->rec);
    qv__marks_free(rt);
    if (rt->cpu) {
        rt->cpu->ops->close(rt->cpu);
        free(rt->cpu);
    }
    free(rt->workers);
    free(rt);
    return rc;
}

QV_API int qv_runtime_shutdown(qv_runtime *rt)
{
    if (!qv__rt_ok(rt))
        return qv__fail(QV_EINVAL, "qv_runtime_shutdown: %s", qv__rt_why(rt));
    if (qv__task_context(rt))
        return qv__fail(QV_EDEADLK, "qv_runtime_shutdown called from a task");
    qv__region_flush(rt);
    /* What fused launches left to compute when read is computed now: the
     * program may read its buffers once they are unregistered. */
    qv__task *forced = NULL;
    pthread_mutex_lock(&rt->submit_mu);
    bool was = rt->shut;
    if (!was && rt->defer_head)
        qv__defer_force_seq(rt, NULL, SIZE_MAX, &forced);
    rt->shut = true;
    pthread_mutex_unlock(&rt->submit_mu);
    qv__defer_start(rt, forced);
    if (was) { /* idempotent: returns once the first call is done */
        pthread_mutex_lock(&rt->wait_mu);
        while (!rt->shut_done)
            pthread_cond_wait(&rt->wait_cv, &rt->wait_mu);
        pthread_mutex_unlock(&rt->wait_mu);
        return 0;
    }
    qv__release_all(rt); /* else the tasks waiting for them never end */
    qv__wait(rt, NULL);
    /* A compile may wait for its entry's tasks: before the workers stop. */
    qv__region_stop(rt);
    qv__sched_stop(rt);
    qv__devq_stop_all(rt);
    pthread_mutex_lock(&rt->wait_mu);
    rt->shut_done = true;
    pthread_cond_broadcast(&rt->wait_cv);
    pthread_mutex_unlock(&rt->wait_mu);
    return 0;
}

/* Destroyed runtimes keep their shell (the struct, its functions and the
 * structs of its buffers, all marked dead) for a while, so that a call on a
 * destroyed runtime or one of its handles is refused with QV_EINVAL instead
 * of reading freed memory. The oldest shells are freed past GRAVE_KEPT, and
 * the rest when the process exits. */
#define GRAVE_KEPT 16
static pthread_mutex_t grave_mu = PTHREAD_MUTEX_INITIALIZER;
static qv_runtime *grave[GRAVE_KEPT];
static unsigned grave_next;

static void graves_fork_lock(bool lock)
{
    qv__fork_hold(&grave_mu, lock);
}

static void shell_free(qv_runtime *rt)
{
    if (!rt)
        return;
    qv__funcs_destroy(rt);
    qv__bufs_free(rt);
    free(rt);
}

__attribute__((destructor)) static void grave_clear(void)
{
    pthread_mutex_lock(&grave_mu);
    for (unsigned i = 0; i < GRAVE_KEPT; i++) {
        shell_free(grave[i]);
        grave[i] = NULL;
    }
    pthread_mutex_unlock(&grave_mu);
}

QV_API void qv_runtime_destroy(qv_runtime *rt)
{
    if (!qv__rt_ok(rt))
        return;
    /* From one of its own tasks it cannot stop (the task runs on one of
     * the workers it would join): nothing is freed, and the error says
     * so (it freed the running task's memory, then hung). */
    if (qv_runtime_shutdown(rt) == QV_EDEADLK) {
        qv__fail(QV_EDEADLK, "qv_runtime_destroy called from one of the runtime's own "
                 "tasks: refused, the runtime is left as it is");
        qv__log(0, "%s", qv_last_error());
        return;
    }
    int rc = qv__perf_write(rt);
    if (rc)
        qv__log(1, "performance models not saved: %s", qv_last_error());
    const char *trace = policy(rt)->trace_path;
    if (trace && rt->rec && qv__trace_write_exit(rt, trace) != 0)
        qv__log(1, "trace not written: %s", qv_last_error());
    rt->magic = 0;
    qv__bufs_destroy(rt);
    qv__defer_sweep(rt, true);
    qv__perf_close(rt);
    qv__rec_destroy(rt->rec);
    rt->rec = NULL;
    qv__marks_free(rt);
    qv__devq_close_all(rt);
    qv__region_free(rt);
    qv__fuse_free(rt);
    qv__part_free(rt);
    qv__defer_free(rt);
    free_policy(rt);
    for (size_t i = 0; i < rt->nchunks; i++)
        free(rt->chunks[i]);
    free(rt->chunks);
    rt->chunks = NULL;
    if (rt->cpu) {
        rt->cpu->ops->close(rt->cpu);
        free(rt->cpu);
        rt->cpu = NULL;
    }
    free(rt->workers);
    rt->workers = NULL;
    pthread_mutex_destroy(&rt->submit_mu);
    pthread_mutex_destroy(&rt->q_mu);
    pthread_mutex_destroy(&rt->park_mu);
    pthread_cond_destroy(&rt->park_cv);
    pthread_mutex_destroy(&rt->wait_mu);
    pthread_cond_destroy(&rt->wait_cv);
    pthread_mutex_destroy(&rt->reg_mu);
    pthread_cond_destroy(&rt->unpinned);
    pthread_mutex_destroy(&rt->fail_mu);
    pthread_mutex_destroy(&rt->ev_mu);
    if (rt->log_file)
        qv__log_close();
    pthread_mutex_lock(&grave_mu);
    qv_runtime *old = grave[grave_next];
    grave[grave_next] = rt;
    grave_next = (grave_next + 1) % GRAVE_KEPT;
    pthread_mutex_unlock(&grave_mu);
    shell_free(old);
}

QV_API unsigned qv_runtime_ncpu(const qv_runtime *rt)
{
    return qv__rt_ok(rt) ? rt->nworkers : 0;
}
