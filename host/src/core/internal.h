/*
 * internal.h - the runtime's internal types, shared by the files of
 * host/src/core, host/src/trace and host/src/devices. Nothing here is API.
 *
 * Locking, in one place:
 *  - rt->submit_mu serialises submissions: buffer dependency state, task
 *    ids, the recorder's append side and the task free list are only touched
 *    under it.
 *  - task->lock guards task->done and task->succ, the only task state that a
 *    worker and a submitter both write.
 *  - rt->q_mu guards the shared ready queue (each worker's own queue is
 *    lock-free, sched.c); rt->park_mu with park_cv parks idle workers;
 *    rt->wait_mu with wait_cv parks threads in qv_wait_all and
 *    qv_buf_wait.
 *  - rt->reg_mu guards the lists of functions and buffers, the tree of
 *    registered ranges and the list of unregistered handles. Order:
 *    submit_mu before reg_mu.
 *  - buf->coh_mu guards where the buffer's valid copies are, its device
 *    memory and its failure detail (err_msg).
 *  - rt->fail_mu guards the tasks that ran nowhere, until a wait reports
 *    them.
 *  - rt->ev_mu guards the device events of the pool's rescans.
 *  - The host's holds (buf->host, buf->held) are under submit_mu, like the
 *    rest of the dependency state.
 */
#ifndef QV_CORE_INTERNAL_H
#define QV_CORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/clock.h"
#include "quiver.h"
#include "qv_itab.h"

typedef struct qv__task qv__task;
typedef struct qv__devq qv__devq;

/* Devices: index 0 is the host CPU, then accelerators. */
#define QV__MAX_DEVICES 16

/* An emulated board's wall time over its modelled time, per function and
 * class (qv_func.emu_x): the median of its last runs, which eager
 * placement uses while the last is younger than this. */
#define QV__EMU_RUNS   5
#define QV__EMU_MIN    3 /* runs since the ring started before it is used */
#define QV__EMU_AGE_NS 1000000000u /* 1 s */
#define QV__EMU_FASTER 1.5         /* a refresh this much faster starts the ring over */

/* A device that appeared or disappeared at a rescan of the pool. */
#define QV__DEV_EVENTS 32
typedef struct qv__dev_event {
    bool     appeared; /* else disappeared */
    unsigned dev;      /* the runtime's device, or 0 when it opened none */
    char     name[128]; /* as discovery (and qv_device_get) names it */
} qv__dev_event;
typedef struct qv__perf qv__perf;
typedef struct qv__recorder qv__recorder;
typedef struct qv__worker qv__worker;
struct qv__catalog;
struct qv__kernel;
struct qv__policy;
struct qv__board;
struct qv__perf_file;
struct qv_pool;

/* ---- small helpers ----------------------------------------------------- */

static inline void qv__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A lock held for a few instructions; yields when the holder was preempted,
 * which happens when workers outnumber cores. */
typedef struct qv__spin {
    atomic_flag f;
} qv__spin;
#define QV__SPIN_INIT { ATOMIC_FLAG_INIT }
void qv__spin_lock_slow(qv__spin *s);
/* Spins up to spin_us while *v is old, yielding now and then, as an idle
 * worker does before it parks: a thread woken through the kernel costs
 * tens of microseconds on a loaded machine, one that spins well under
 * one. Whether *v changed. */
bool qv__spin_change(const atomic_uint *v, unsigned old, unsigned spin_us);
static inline void qv__spin_lock(qv__spin *s)
{
    if (atomic_flag_test_and_set_explicit(&s->f, memory_order_acquire))
        qv__spin_lock_slow(s);
}
static inline void qv__spin_unlock(qv__spin *s)
{
    atomic_flag_clear_explicit(&s->f, memory_order_release);
}

/* Allocates n bytes for a large array filled front to back, in huge pages
 * where the system offers them (mem.c). Free with free(). */
void *qv__bigalloc(size_t n);

/* Maps the pages of [p, p + n), fresh memory whose contents do not matter
 * yet, in one system call where the kernel can (mem.c says why). */
void qv__prefault(void *p, size_t n);

/* Records err with a printf-style detail for qv_last_error; returns err. */
int qv__fail(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Logging: level 0 error, 1 warning, 2 info, 3 debug, 4 trace. QV_LOG in
 * the environment sets the threshold (a name as in the policy's log.level,
 * or 0 to 4; default warn) and wins over the policy. */
void qv__log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void qv__log_set_level(int level);
int  qv__log_threshold(void);
/* A level's name ("error", "warn" or "warning", "info", "debug", "trace")
 * or number, as a level; -1 when s is neither. */
int  qv__log_level_parse(const char *s);
/* Whether QV_LOG sets the level (then the policy's log.level does not). */
bool qv__log_env(void);
/* Sends the log to the file at path (appending) until qv__log_close. */
int  qv__log_open(const char *path);
void qv__log_close(void);

/* ---- functions and buffers --------------------------------------------- */

/* One OpenCL implementation of a function, as set: its strings owned; gen
 * counts the function's implementations from 1, so that a device can
 * tell that the one it built is not the current one any more. */
typedef struct qv__ocl {
    qv_opencl_impl impl;
    unsigned gen;
    struct qv__ocl *older;
} qv__ocl;

struct qv_func {
    qv_runtime *rt;
    char       *name;
    unsigned    id;           /* index in rt->funcs */
    unsigned    nargs;
    qv_arg_desc args[QV_MAX_ARGS]; /* names point into argnames */
    char       *argnames[QV_MAX_ARGS];
    size_t      scalar_bytes; /* sum of scalar sizes, each 16-aligned */
    /* Replaced by qv_func_set_cpu while calls of it run: read once per
     * call (qv__func_cpu), never twice (a NULL set between a check and the
     * call was called). */
    qv_cpu_fn   cpu;
    /* The OpenCL implementation qv_func_set_opencl last set (NULL: none);
     * the devices read it while it may be replaced: each one set stays,
     * unchanged, on ocl_all (under rt->reg_mu) until f is freed. */
    struct qv__ocl *_Atomic ocl;
    struct qv__ocl *ocl_all;
    /* Counts qv_func_set_opencl and qv_func_set_fpga calls: a device
     * marks f broken only if the implementation it failed with is still
     * the current one (devq.c). */
    atomic_uint impl_gen;
    /* qv_func_set_fpga and qv_func_set_where may change the next five
     * while the loop's thread plans with f, workers place its calls and
     * device threads launch them: atomic, each read once where it is
     * followed, and the names are the catalog's (never freed before the
     * runtime). */
    const char *_Atomic fpga_kernel; /* catalog kernel name, or NULL */
    const struct qv__kernel *_Atomic kernel; /* its catalog entry (bind.c) */
    _Atomic unsigned where;   /* class mask; 0 = anywhere it can run */
    _Atomic unsigned impls;   /* classes with an implementation (mask) */
    atomic_uint tries[QV_CLASS_COUNT]; /* calibration tries sent out */
    atomic_uint placed;       /* devices it went to (bit i: device i), for
                               * the log's first-time messages */
    atomic_uint outside;      /* those it went to outside its mask, for
                               * the log's warning (placement.c) */
    /* The program tied f to the catalog's function of its name: bound to
     * a kernel of its own, or to a fused kernel that implements it among
     * others (qv_func_set_fpga). Only then may a fused kernel take over
     * its calls: a name alone may be a different function. */
    _Atomic bool catalog_bound;
    _Atomic unsigned sig_scalars; /* scalar arguments (bit i: argument i) whose
                               * values enter a region's signature: those
                               * its catalog kernel's sizes name (bind.c) */
    /* The runtime's own function for a fused catalog kernel launched in
     * place of a chain (fuse.c); NULL for the application's. On the CPU
     * it runs the chain's functions in turn. */
    const struct qv__fused *fused;
    /* The runtime's own function for a part shipped whole to a remote
     * board (part.c); NULL for the application's. On the CPU it runs the
     * part's calls in turn. */
    const struct qv__part *part;
    /* Runs on inputs whose last writer ran nowhere (qv__task_fail_stale lets
     * it): code that reports such failures itself, as quiverd's answer to
     * a run (set by qv__func_takes_stale). */
    bool takes_stale;
    /* A short CPU function (a copy and a reply, quiverd's) that the
     * driver thread of the device whose task readies a call may run
     * itself, when the call's buffers are small and no CPU worker spins:
     * a worker woken for it costs more than it (set by
     * qv__func_on_driver). */
    bool on_driver;
    qv__perf   *perf[QV_CLASS_COUNT];
    /* Per class, the wall time of its runs on a device of the host's
     * cores that keeps a modelled clock (an emulated board) over their
     * modelled time: the last QV__EMU_RUNS (emu_r, a ring of emu_n), their
     * median (emu_x) and when the last came (emu_ns). The model is the
     * card's; eager placement prices a run there at its wall time, what
     * finishing there takes in this process (placement.c), while the
     * median is younger than QV__EMU_AGE_NS. Older, the board is priced
     * at its model again and its next run starts the ring over: a board
     * that one preempted run priced out of eager placement was never sent
     * another, and so never measured again (a review). */
    _Atomic double emu_r[QV_CLASS_COUNT][QV__EMU_RUNS];
    atomic_uint emu_n[QV_CLASS_COUNT];
    _Atomic double emu_x[QV_CLASS_COUNT];
    _Atomic uint64_t emu_ns[QV_CLASS_COUNT];
};

/* The median of v[0..n) (0 when n is 0); sorts v (median.c). */
double qv__median(double *v, unsigned n);

/* Takes x, a run's wall time over its modelled time on a device of the
 * host's cores, into f's emu_x of class c, at now_ns (task.c); refresh:
 * the run was sent to refresh the model (placement.c, region.c). */
void qv__func_emu_wall(qv_func *f, qv_class c, double x, uint64_t now_ns, bool refresh);

/* f's last emu_x of class c however old (0: never QV__EMU_MIN runs in a
 * row): what a plan prices, which sends every call of an entry one way
 * for many entries, where placement weighs one call now. Not of fewer
 * runs: a board's first run in a process took 2-6x its later ones
 * (bench/loop --pays: fir 57 us, then 23 and 23). */
static inline double qv__func_emu_pace(qv_func *f, qv_class c)
{
    return atomic_load_explicit(&f->emu_ns[c], memory_order_relaxed) &&
                   atomic_load_explicit(&f->emu_n[c], memory_order_relaxed) >= QV__EMU_MIN
               ? atomic_load_explicit(&f->emu_x[c], memory_order_relaxed)
               : 0;
}

/* f's emu_x of class c at now_ns: 0 when none is young enough, or it
 * has fewer than QV__EMU_MIN runs (the first run after a pause wakes a
 * sleeping emulator thread: alone it priced a board out again, under
 * ThreadSanitizer). */
static inline double qv__func_emu_x(qv_func *f, qv_class c, uint64_t now_ns)
{
    uint64_t t = atomic_load_explicit(&f->emu_ns[c], memory_order_relaxed);
    return t && now_ns - t < QV__EMU_AGE_NS ? qv__func_emu_pace(f, c) : 0;
}

/* f's CPU implementation now (NULL: none). */
static inline qv_cpu_fn qv__func_cpu(const qv_func *f)
{
    return __atomic_load_n(&f->cpu, __ATOMIC_ACQUIRE);
}

/* Whether f may run on class c. */
static inline bool qv__func_can(const qv_func *f, qv_class c)
{
    unsigned bit = 1u << c;
    unsigned where = f->where;
    return (f->impls & bit) && (!where || (where & bit));
}

#define QV__BUF_MAGIC 0x71766266u /* "qvbf" while registered */

/* A submitter waiting with submit_mu let go (sched.c), on its stack. */
struct qv__park {
    uint64_t seq; /* rt->nunlinked when it began to wait */
    struct qv__park *prev, *next;
};

struct qv_buf {
    uint64_t dead_seq; /* unregistered: rt->nunlinked then (buf.c) */
    /* QV__BUF_MAGIC while registered; 0 from the moment an unregister
     * claims it (under submit_mu: no submission or host access takes it
     * after that), read by any thread. */
    _Atomic uint32_t magic;
    qv_runtime *rt;
    void       *ptr;
    size_t      size;
    /* Dependency state, under rt->submit_mu. */
    qv__task   *last_writer; /* holds a reference; NULL if none live */
    uint64_t    last_writer_id; /* node id + 1; 0 = never written */
    qv__task  **readers;     /* readers since the last writer that may
                              * not be done yet, each holding a reference
                              * (the graph keeps all in rec_readers) */
    size_t      nreaders, readers_cap;
    /* The recorded graph's readers since the last writer, for its
     * write-after-read edges: a list in the recorder's reader log
     * (qv__rec_read in trace/recorder.h), so that reset frees it; 0 when
     * empty. Under rt->submit_mu. */
    uint64_t    rec_readers;
    /* Submitted tasks (and prefetches) using this buffer that are not
     * done yet are nuse + npf - ndone (qv__buf_users): submitters count
     * nuse under submit_mu, prefetches npf, the threads that finish tasks
     * count ndone, on a cache line apart. One counter written from both sides cost a
     * replayed chain's submitter and worker a cache-line transfer each per
     * task. */
    atomic_size_t nuse;      /* submitters, under submit_mu: no RMW */
    atomic_size_t npf;       /* prefetches (devq.c), any thread */
    char          pad_use_[64];
    atomic_size_t ndone;
    char          pad_done_[64];
    qv_buf *prev, *next;     /* rt->bufs (or the dead list), under reg_mu */
    struct { uintptr_t lo, hi; } range; /* [ptr, ptr + size): rt->buf_tree */
    /* Where valid copies live: bit 0 the host, bit i device i. Written
     * under coh_mu; read without it only for placement estimates. */
    pthread_mutex_t     coh_mu;
    atomic_uint         valid;
    struct qv_devmem  **mem; /* [QV__MAX_DEVICES]; NULL until a device copy */
    uint64_t            used_ns; /* a device's last use of it, under coh_mu:
                                  * a full device frees the oldest first */
    bool                retired; /* under rt->reg_mu: being unregistered
                                  * (coh_mu is going) */
    unsigned            pins;    /* under rt->reg_mu: threads that move its
                                  * copies without reg_mu (a full or failed
                                  * device); retiring waits for none */
    /* Host access (acquire.c), under rt->submit_mu: the host task standing
     * for the caller's qv_buf_acquire, and its mode; 0 when not held. */
    qv__task   *host;
    unsigned    held;
    uint64_t holder;                   /* the thread that acquired it (while held):
                                        * its qv__thread_serial */
    qv_buf     *held_prev, *held_next; /* rt->held_list while held */
    bool        awaited; /* while held: a task submitted waits for the
                          * release (counted in rt->nawaited) */
    /* While held: its qv_buf_acquire has not returned yet (it waits for
     * tasks or brings the copy home). Set under submit_mu with held,
     * cleared by the acquisition alone; read by any thread. Until then
     * no other thread may end the hold, and a qv_buf_wait waits for it. */
    atomic_bool acquiring;
    /* Host accesses begun and not ended (acquisitions held, waits in
     * progress): counted under submit_mu, read by an unregister that
     * waits for them to end. */
    atomic_uint hosts;
    /* A task that should have written this buffer ran nowhere: the error
     * and its detail, reported once by the next wait (under coh_mu). */
    atomic_int  err;
    char       *err_msg;
    /* The task that last wrote it ran nowhere, or its only copy was lost
     * with a failed device (its code; 0: written): set by qv__task_fail
     * and qv__coh_drop_device, cleared when a task starts that writes it
     * or the host releases it written. A task that reads it fails too
     * (qv__task_fail_stale): its result would come from data never written. */
    atomic_int  stale;
    /* Deferred calls (defer.c) that use this buffer, and those of them
     * that write it; under submit_mu. Any access to the buffer submits
     * the ones it conflicts with first. */
    unsigned    lazy, lazy_w;
    /* A snapshot the runtime took of another buffer for deferred calls
     * that read it (defer.c); NULL for the application's buffers. */
    struct qv__snap *snap;
};

/* ---- tasks ------------------------------------------------------------- */

#define QV__TASK_SCALAR_INLINE 128

/* Node id of tasks that are not in the recorded graph (host acquisitions). */
#define QV__NO_NODE UINT64_MAX

/* Ring of submission epochs, for qv_wait_all (sched.c). */
#define QV__EPOCHS 64

/* Aligned to a cache line, 768 bytes: at 752 neighbours in the pool
 * shared a line, one's head with the other's tail, so a worker finishing
 * one task took the line from the submitter filling the next.
 * `bench_loop --overhead --shape random --replayed-only --runs 3`, 8 runs
 * alternating with the unaligned build: 0.760 us a task against 0.856
 * (means; bench/RESULTS.md). */
struct qv__task {
    _Alignas(64) qv__task *next; /* ready queue or free list */
    atomic_int  refs;     /* execution + buffer states holding it */
    /* QV__HOLD less the predecessors done while its submitter holds it;
     * then (qv__task_unhold) the predecessors not done yet. */
    atomic_int  pending;
    unsigned    npred;    /* predecessors it waits for, counted by its
                           * submitter alone while it holds the task */
    qv__spin    lock;     /* guards done and succ */
    atomic_bool done;
    unsigned    nsucc, succ_cap;
    qv__task  **succ;
    qv__task   *succ_inline[4];
    qv_func    *func;     /* NULL: the host's qv_buf_acquire (acquire.c) */
    unsigned    dev;      /* device chosen by placement */
    unsigned    skip;     /* devices (bit i: device i) that must not run it:
                           * they failed it, or it does not fit their kernel */
    uint64_t    epoch;    /* submission epoch (qv_wait_all) */
    char       *why;      /* the last device's failure, owned; or NULL */
    double      model_us; /* an emulated board's modelled run time (µs),
                           * which the models learn instead of the host's
                           * wall time; < 0 for other devices */
    unsigned    planned;  /* device + 1 a replayed plan chose; 0: none */
    unsigned    impl_gen; /* func->impl_gen when a device launched it */
    uint16_t    worker;   /* CPU worker + 1 it chose (sched.c); 0: none */
    bool refresh;         /* sent to refresh its model there (placement.c) */
    unsigned    modes[QV_MAX_ARGS]; /* access mode of each ubuf */
    uint64_t    id;       /* node id, runtime-wide submission order */
    void       *node;     /* recorder slot, or NULL when not recording */
    unsigned    nargs;
    unsigned    nbufs;    /* distinct buffers, first in ubuf */
    qv_buf     *ubuf[QV_MAX_ARGS];
    size_t      bytes;    /* bytes of distinct buffers, for the models */
    void       *ptr[QV_MAX_ARGS];
    size_t      size[QV_MAX_ARGS];
    void       *scalar_heap;
    _Alignas(16) unsigned char scalars[QV__TASK_SCALAR_INLINE];
};

/* Drops a reference to t; the last one gives it back to the pool (a
 * worker's thread keeps a batch first). _locked: the caller holds
 * submit_mu, and t goes to the submitters' own list. */
void qv__task_release(qv_runtime *rt, qv__task *t);
void qv__task_release_locked(qv_runtime *rt, qv__task *t);
/* The calling thread is a worker of rt: it batches the tasks it frees,
 * until qv__task_cache_flush, which it calls before it idles or exits. */
void qv__task_cache_begin(qv_runtime *rt);
void qv__task_cache_flush(void);

/* A task being submitted is held: its pending starts at QV__HOLD, more
 * than it can have predecessors, so that predecessors finishing meanwhile
 * cannot start it, and its submitter counts the predecessors in npred
 * without a locked instruction per edge. */
#define QV__HOLD (1 << 30)

/* The submitter lets t go; true when no predecessor holds it back, and
 * the caller then starts it. */
static inline bool qv__task_unhold(qv__task *t)
{
    int d = QV__HOLD - (int)t->npred;
    return atomic_fetch_sub_explicit(&t->pending, d, memory_order_acq_rel) == d;
}

/* Whether held t still waits for a predecessor. */
static inline bool qv__task_held_waits(qv__task *t)
{
    return atomic_load_explicit(&t->pending, memory_order_acquire) > QV__HOLD - (int)t->npred;
}

/* A task from the pool with its successor list, references and flags set
 * up for submission (refs 1, held). Under submit_mu. */
qv__task *qv__task_new(qv_runtime *rt);
/* Makes the room that t's accesses to its buffers (ubuf, modes) will take
 * in the dependency state: 0, or QV_ENOMEM with nothing of t recorded.
 * Under submit_mu, before anything knows of t. */
int qv__task_reserve(qv_runtime *rt, qv__task *t);
/* Adds t's access to b with mode m to b's dependency state: 0, or
 * QV_ENOMEM, never in the room qv__task_reserve made. Under submit_mu. */
int qv__task_access(qv_runtime *rt, qv__task *t, qv_buf *b, unsigned m);
/* Marks t done and makes its successors ready (placing them); returns
 * whether waiters must be woken. Host tasks (func NULL) are done this way
 * by qv_buf_release. */
bool qv__task_finish(qv_runtime *rt, qv__task *t, qv__task **next);
/* Right before t runs anywhere: when an input's last writer ran nowhere,
 * fails t too (qv__task_fail, as worker) and returns true; else the
 * buffers t writes count as written from now on. */
bool qv__task_fail_stale(qv_runtime *rt, qv__task *t, unsigned worker, qv__task **next);
/* The code of an input of t that holds no valid data (its last writer ran
 * nowhere, or its only copy was lost with a failed device), its index in
 * *j; else 0. What qv__task_fail_stale looks at, for the devices' look
 * again after their copies (launch_here). */
int qv__task_stale_input(const qv__task *t, unsigned *j);
/* f's calls run on inputs never written (see takes_stale). */
void qv__func_takes_stale(qv_func *f);
/* The function of rt named name, or NULL; under reg_mu (func.c's index). */
qv_func *qv__func_named(const qv_runtime *rt, const char *name);
/* f's calls may run on the driver thread that readies them (see on_driver). */
void qv__func_on_driver(qv_func *f);
/* *next's value, passed to qv__task_finish by a device's driver: only a
 * CPU task it may run itself (qv__on_driver) comes back; the others are
 * queued for the workers at once, as before its completion's waits are
 * woken. */
#define QV__NEXT_ON_DRIVER ((qv__task *)1)
/* Buffer bytes up to which a call of an on_driver function runs there. */
#define QV__ON_DRIVER_BYTES ((size_t)256 << 10)
/* Whether a device's driver thread runs t, a CPU task its task readied,
 * itself (qv__run_on_driver) rather than queue it for the workers. */
bool qv__on_driver(const qv_runtime *rt, const qv__task *t);
/* Runs CPU task t on the calling driver thread as worker w (its own, not
 * one of rt's workers), as a worker would; queues the CPU task it readies
 * first for the workers. */
void qv__run_on_driver(qv_runtime *rt, qv__worker *w, qv__task *t);
/* t ran nowhere: records err (the cause is t->why or qv_last_error's detail
 * when why is NULL) for the waits that must report it, and completes t. */
void qv__task_fail(qv_runtime *rt, qv__task *t, int err, unsigned worker,
                   qv__task **next);

/* Runs t on CPU worker w and completes it; returns one successor made
 * ready by it that belongs on the CPU, for w to run next, or NULL. */
qv__task *qv__task_execute(qv_runtime *rt, qv__worker *w, qv__task *t);

/* Completes t, which ran on device dev (worker index `worker`) from t0 to
 * t1 (ns). Releases its successors; when next is not NULL, one that belongs
 * on the CPU is returned there instead of queued. */
void qv__task_complete(qv_runtime *rt, qv__task *t, unsigned dev, unsigned worker,
                       uint64_t t0, uint64_t t1, qv__task **next);

/* ---- scheduler --------------------------------------------------------- */

struct qv__worker {
    _Alignas(64) qv_runtime *rt; /* a cache line each: no false sharing */
    unsigned    idx;
    pthread_t   thread;
    bool        pinned;
    /* The worker's own ready queue (sched.c): the CPU tasks a replayed
     * plan gave it, pushed by any thread, popped by the worker first and
     * stolen by idle ones. A bounded ring of QV__RQ_CAP cells, in the
     * workers' allocation; the positions on lines of their own. */
    struct qv__rcell *rq;
    unsigned    npop;         /* tasks taken, for the shared queue's turn */
    _Alignas(64) atomic_size_t rq_tail; /* next push */
    atomic_bool spinning;     /* idle and not parked: it sees its ring
                               * without a wake-up (on the pushers' line) */
    _Alignas(64) atomic_size_t rq_head; /* next pop */
    /* Written by the worker only, on each task: not on the line the
     * pushers read rq from. */
    _Atomic uint64_t tasks;   /* executed */
    _Atomic uint64_t busy_ns;
};

/* Places a ready task (placement.c) and queues it on its device. */
void qv__sched_push(qv_runtime *rt, qv__task *t);
/* Queues t on the CPU workers: on the own queue of the worker a replayed
 * plan chose (t->worker), else on the shared one. */
void qv__cpu_push(qv_runtime *rt, qv__task *t);
/* Tasks queued on the CPU workers now (a snapshot, for placement). */
size_t qv__cpu_queued(qv_runtime *rt);
/* Picks the device for a ready task: earliest predicted finish. */
unsigned qv__place(qv_runtime *rt, qv__task *t);
/* Whether device d (0: the CPU) may run calls of f now: f's places
 * (qv_func_set_where), its implementations, the device in service. */
bool qv__can_run_on(qv_runtime *rt, const qv_func *f, unsigned d);
int  qv__sched_start(qv_runtime *rt);
void qv__sched_stop(qv_runtime *rt);

/* The worker of rt the calling thread is, or NULL outside rt's workers (a
 * task of one runtime may use another one as any thread may). */
qv__worker *qv__current_worker(const qv_runtime *rt);
/* Whether the calling thread is a worker of any runtime. */
bool qv__in_task(void);
/* Around the program's code a device thread calls for a task (an OpenCL
 * range function); qv__task_context: inside a task of rt, or such code,
 * where the host's waits would wait on themselves (QV_EDEADLK). */
void qv__callback_begin(const qv_runtime *rt);
void qv__callback_end(void);
bool qv__task_context(const qv_runtime *rt);
/* The runtime whose task the calling thread runs (NULL: none), and that
 * task's epoch in *epoch. */
const qv_runtime *qv__task_runtime(uint64_t *epoch);
/* A wait of the calling thread for rt's work up to epoch upto (xwait.c):
 * QV_EDEADLK when the thread runs a task of another runtime and the wait
 * would close a cycle of such waits; else 0, the wait noted in *slot
 * until qv__xwait_leave. */
int qv__xwait_enter(const qv_runtime *rt, uint64_t upto, int *slot);
void qv__xwait_leave(int slot);

/* Wakes threads blocked in qv_wait_all / qv_buf_wait if there are any. */
void qv__wake_waiters(qv_runtime *rt);

/* ---- the runtime ------------------------------------------------------- */

struct qv_runtime {
    qv_options opts;
    uint64_t   created_ns;
    struct qv__policy  *policy;  /* from opts.config or the defaults */
    struct qv__catalog *catalog; /* from the policy, or NULL */
    struct qv__board  **boards;  /* the policy's board files, loaded */
    size_t     nboards;
    char      *perfmodel_dir;
    char      *perfmodel_path;

    pthread_mutex_t submit_mu;
    uint64_t        next_id;
    qv__task       *free_local;  /* under submit_mu */
    void          **chunks;      /* task allocations, freed at destroy */
    size_t          nchunks, chunks_cap;
    bool            shut;        /* under submit_mu */
    bool            shut_done;   /* shutdown over; under wait_mu */
    /* Released tasks, pushed by the threads that finish them: on a cache
     * line of its own, away from the submitter's (each push had the next
     * submission miss on submit_mu and next_id). */
    char            pad_free_[64];
    _Atomic(qv__task *) free_shared;
    char            pad_freed_[64];

    /* Ready queue. */
    pthread_mutex_t q_mu;
    qv__task       *q_head, *q_tail;
    atomic_size_t   qlen;

    /* Parking of idle workers. */
    pthread_mutex_t park_mu;
    pthread_cond_t  park_cv;
    atomic_uint     nparked;
    atomic_bool     stop;

    /* Waiting for completion. */
    pthread_mutex_t wait_mu;
    pthread_cond_t  wait_cv;
    atomic_uint     nwaiters;
    atomic_uint     nbp;         /* of them, submitters held back */
    atomic_uint     far;         /* tasks in flight on a board whose runs
                                  * take longer than a spin (devq.c): a
                                  * waiter whose work is all there sleeps
                                  * at once (qv__wait_until) */
    atomic_uint     loose;       /* of them, launched by the thread that
                                  * submitted them while the board's driver
                                  * slept, and left for a wait to land
                                  * (qv__devq_keep_end, qv__devq_land) */
    atomic_bool     remote;      /* a remote board is among the devices */
    atomic_uint     ring_waits;  /* qv_wait_all calls waiting for a slot of
                                  * the epoch ring to close their epoch
                                  * (changed under submit_mu) */
    atomic_uint     held_used;   /* submissions of a task that waits for a
                                  * held buffer while ring_waits or nbp
                                  * (under submit_mu): the submitters
                                  * held back look again */
    /* qv_wait_all waits for the tasks submitted before it (sched.c):
     * submissions carry the current epoch, and a wait starts a new one.
     * Slot e % QV__EPOCHS counts epoch e's tasks: sub those submitted
     * (written under submit_mu only), fin those finished; qv__live() is
     * the difference, qv__inflight() its sum over the slots. Apart, so
     * that a submission and a completion never write the same cache line
     * (the two counters both sides wrote cost a replayed chain ~10 % of
     * its time in cache-line transfers). */
    _Atomic uint64_t epoch;      /* advanced under submit_mu */
    char            pad_sub_[64];
    _Atomic uint64_t sub[QV__EPOCHS];
    char            pad_fin_[64];
    _Atomic uint64_t fin[QV__EPOCHS];
    char            pad_end_[64];
    /* Backpressure: past max_inflight tasks in flight, qv_submit outside
     * the workers blocks until they drop to three quarters of it. Decided
     * under submit_mu, with the tasks submitted (nsubmitted) less the
     * completions counted when it last looked (fin_seen, summed from fin
     * only when that estimate, never below the truth, reaches the limit). */
    size_t          max_inflight;
    size_t          low_water;   /* max_inflight * 3 / 4 */
    uint64_t        nsubmitted;  /* under submit_mu */
    uint64_t        fin_seen;    /* under submit_mu */
    atomic_uint     nheld;       /* buffers the host holds (acquire.c) */
    qv_buf         *held_list;   /* those buffers, under submit_mu: the
                                  * deadlock checks walk them, not every
                                  * registered buffer */
    unsigned        nawaited;    /* of them, those a submitted task waits
                                  * for (qv_buf.awaited), under submit_mu:
                                  * backpressure asks at every submission
                                  * past max_inflight, and a walk of
                                  * 100 000 held buffers took 57 us */
    /* Tasks that ran nowhere, per epoch, until a qv_wait_all reports them
     * (under fail_mu). */
    pthread_mutex_t fail_mu;
    unsigned        nfail[QV__EPOCHS];
    uint64_t        fail_epoch[QV__EPOCHS]; /* the first failure's epoch */
    int             fail_err[QV__EPOCHS];
    char            fail_msg[QV__EPOCHS][512];

    qv__worker *workers;
    unsigned    nworkers;
    struct qv_device *cpu; /* the CPU backend's device */
    unsigned    ncores;

    /* Accelerators, each driven by its own thread (devq.c); device i of
     * the runtime is accel[i - 1]. */
    qv__devq   *accel[QV__MAX_DEVICES - 1];
    unsigned    naccel;
    unsigned    accel_classes; /* mask of classes some accelerator has */
    _Atomic uint64_t lost;     /* tasks no device could run any more */
    /* qv__coh_drop_device calls: begun (high 32 bits) and under way (low
     * 32), in one word so that one load sees both: a CPU task looks at its
     * inputs' loss marks again only when a drop may have marked an input
     * after its first look (task.c). */
    _Atomic uint64_t drops;

    pthread_mutex_t reg_mu;
    pthread_cond_t  unpinned; /* a retired buffer's last pin went */
    qv_func       **funcs;
    size_t          nfuncs, funcs_cap;
    qv__itab func_names; /* funcs by name (func.c) */
    qv_buf         *bufs;
    void           *buf_tree;  /* registered ranges (tsearch), for overlaps */
    qv_buf         *dead_head, *dead_tail; /* unregistered handles, kept a
                                            * while so misuse is caught */
    size_t          ndead;
    /* Submitters waiting with submit_mu let go (backpressure, the epoch
     * ring's hold), their arguments not yet checked, each with the
     * unregister count when it began to wait: no handle unregistered
     * since the oldest of them began is freed (buf.c). Under submit_mu. */
    struct qv__park *parks;
    uint64_t nunlinked;        /* buffers unregistered so far */
    unsigned        magic;     /* QV__RT_MAGIC until destroyed */
    unsigned        fork_gen;  /* qv__fork_gen when made: its process's */
    bool            log_file;  /* this runtime opened log.file */

    qv__recorder *rec;     /* NULL when not recording */
    struct qv__perf_file *loaded_models; /* models read from disk */

    /* Cold from here on: kept after the fields every task touches, so that
     * their cache-line layout does not move when these grow (4 KiB of
     * events ahead of them cost the Cholesky shape of bench_overhead a
     * third more per task). */
    /* The one list of devices (discovery/pool.c): the devices are opened
     * from it, and its rescans report devices that appear or disappear
     * (devq.c, qv__devq_pool_event). */
    struct qv_pool *pool;
    char       cpu_name[128]; /* device 0's name, as discovery names it */
    /* Devices that appeared or disappeared at a rescan (under ev_mu): the
     * totals, and the latest events for the run-time loop to take. */
    pthread_mutex_t ev_mu;
    qv__dev_event   events[QV__DEV_EVENTS];
    unsigned        nevents;
    uint64_t        appeared, disappeared;
    /* Regions and their background compiler (region.c); its own lock. */
    struct qv__loop *loop;
    /* Marks for the trace, e.g. each re-plan (trace/marks.c); own lock. */
    struct qv__marks *marks;
    /* Calls submitted but not entered yet (defer.c), oldest first, under
     * submit_mu: the head of a fused chain until its tail arrives, and the
     * calls whose outputs a fused launch left to compute when read. */
    struct qv__defer *defer_head, *defer_tail;
    uint64_t defer_seq, ndefer;
    /* Snapshots of buffers that deferred calls read (defer.c), under
     * submit_mu; snap_idle: one of them may be free to go. */
    struct qv__snap *snaps;
    size_t snap_bytes;
    atomic_bool snap_idle;
    /* Fused kernels made ready to launch (fuse.c), under reg_mu;
     * sets_capped: a kernel or a part had too many sets of sizes (told
     * once, max_size_sets below). */
    struct qv__fused *fused;
    atomic_bool sets_capped;
    /* Functions a fused kernel, or the calls of a part, get at most, one
     * per set of intermediate sizes (each is kept until the runtime goes:
     * sizes that never repeat made one a call); QV__MAX_SIZE_SETS, tests
     * set fewer. */
    unsigned max_size_sets;
    /* Parts shipped whole to remote boards (part.c), under reg_mu. */
    struct qv__part *parts;
};

#define QV__RT_MAGIC 0x71767274u /* "qvrt" */
#define QV__MAX_SIZE_SETS 32

/* Bumped in the child of every fork(): a runtime made before it has no
 * threads there, and its calls would hang or crash (adversarial testing). */
extern unsigned qv__fork_gen;

/* Whether rt is a live runtime (a cheap check against misuse of a
 * destroyed one, whose shell is kept for a while; see runtime.c), made in
 * this process. */
static inline bool qv__rt_ok(const qv_runtime *rt)
{
    return rt && rt->magic == QV__RT_MAGIC && rt->fork_gen == qv__fork_gen;
}
/* What a runtime that fails qv__rt_ok is, for error messages: NULL,
 * destroyed, or made before a fork() (a child was told that its parent's
 * runtime had been destroyed: adversarial testing). */
static inline const char *qv__rt_why(const qv_runtime *rt)
{
    if (!rt)
        return "NULL runtime";
    return rt->magic == QV__RT_MAGIC && rt->fork_gen != qv__fork_gen
               ? "the runtime was made by the parent process, before fork()"
               : "the runtime was destroyed";
}
/* For a call refused because rt, or another argument, is bad: which. */
static inline const char *qv__args_why(const qv_runtime *rt)
{
    return rt && !qv__rt_ok(rt) ? qv__rt_why(rt) : "NULL argument";
}
static inline bool qv__buf_ok(const qv_buf *b)
{
    return b && b->magic == QV__BUF_MAGIC && qv__rt_ok(b->rt);
}

/* QV_EINVAL for a handle that fails qv__buf_ok, with who in the message. */
int qv__buf_bad(const qv_buf *b, const char *who);

/* Registry helpers (func.c, buf.c) used at destroy. */
void qv__func_free(qv_func *f);
void qv__funcs_destroy(qv_runtime *rt);
void qv__bufs_destroy(qv_runtime *rt);  /* unregisters every buffer */
void qv__bufs_free(qv_runtime *rt);     /* frees the unregistered handles */

/* Unfinished tasks of epoch slot s; of every epoch; using buffer b. Exact
 * when nothing is submitted meanwhile, never below the truth of the
 * moment the call started otherwise. */
static inline uint64_t qv__live(qv_runtime *rt, unsigned s)
{
    uint64_t f = atomic_load_explicit(&rt->fin[s], memory_order_seq_cst);
    return atomic_load_explicit(&rt->sub[s], memory_order_seq_cst) - f;
}
size_t qv__inflight(qv_runtime *rt);
static inline size_t qv__buf_users(qv_buf *b)
{
    size_t d = atomic_load_explicit(&b->ndone, memory_order_seq_cst);
    return atomic_load_explicit(&b->nuse, memory_order_seq_cst) +
           atomic_load_explicit(&b->npf, memory_order_seq_cst) - d;
}
/* One use of b is over (a task finished, a prefetch dropped): whether to
 * wake the waiters (some wait, and nothing uses b any more). Its
 * increment, then its load of nwaiters, against a waiter's increment of
 * nwaiters, then its load of the counts (all sequentially consistent):
 * one of the two sees the other. */
static inline bool qv__buf_use_done(qv_runtime *rt, qv_buf *b)
{
    size_t d = atomic_fetch_add_explicit(&b->ndone, 1, memory_order_seq_cst) + 1;
    return atomic_load_explicit(&rt->nwaiters, memory_order_seq_cst) &&
           d == atomic_load_explicit(&b->nuse, memory_order_seq_cst) +
                    atomic_load_explicit(&b->npf, memory_order_seq_cst);
}
/* Waits for nothing in flight (or nothing using buf when buf != NULL: its
 * tasks, prefetches and host accesses). */
int qv__wait(qv_runtime *rt, qv_buf *buf);
/* Under submit_mu, which it may let go of and take again: waits while
 * max_inflight tasks are in flight and the caller may wait (not a task,
 * nor while a task waits for the release of a buffer the host holds). */
void qv__backpressure(qv_runtime *rt);
/* Under submit_mu, which it may let go of and take again: while
 * qv_wait_all calls wait for a slot of the epoch ring to close their
 * epochs, a submission from outside the tasks waits until all have (else
 * it would join their waits), unless a task waits for the release of a
 * buffer the program holds (the caller may be the one to release it). */
void qv__ring_hold(qv_runtime *rt);
/* Waits, spinning briefly then parking on wait_cv, until done(arg). */
void qv__wait_until(qv_runtime *rt, bool (*done)(qv_runtime *, void *), void *arg);
/* Reports (and forgets) the first failure recorded for buf; 0 if none. */
int qv__buf_take_error(qv_buf *buf);
/* Marks buf stale with err and why (msg, copied), unless a cause is
 * marked already (the first stands); under buf->coh_mu. */
void qv__buf_set_error(qv_buf *buf, int err, const char *msg);
/* QV_EDEADLK when a buffer the host holds has tasks waiting for its
 * release (a wait for them would never end); else 0. Under submit_mu. */
int qv__held_deadlock(qv_runtime *rt);
/* Whether a wait of the calling thread for buf's users (for access m)
 * would wait, through the graph, for a buffer this thread holds: it
 * would never end. Under submit_mu. */
bool qv__held_blocks(qv_runtime *rt, qv_buf *buf, unsigned m);
/* Whether the calling thread holds a buffer of rt. Under submit_mu. */
bool qv__holds_any(qv_runtime *rt);
/* Whether a task waits for the release of a buffer that any thread
 * holds. Under submit_mu. */
bool qv__held_awaited(qv_runtime *rt);
/* Releases every buffer the host still holds, with a warning (shutdown). */
void qv__release_all(qv_runtime *rt);

/* ---- deferred calls (defer.c) ------------------------------------------ */

/* Submits call (f, args) under submit_mu, as qv_submit does from its lock
 * on, without the region's bookkeeping: the task, whose pending the
 * caller drops once it unlocked (qv__defer_start), or NULL with *rc. The
 * tasks that deferred calls conflicting with it became are linked on
 * *forced (through next), ahead of it; forced NULL: none are (for a
 * deferred call, submitted in its turn). planned and worker: a replayed
 * plan's choice (0: none). settled (may be NULL): its inputs whose
 * writers are done (bit j: t->ubuf[j]), for prefetching. */
qv__task *qv__submit_locked(qv_runtime *rt, qv_func *f, const qv_arg *args, size_t nargs,
                            unsigned planned, uint16_t worker, qv__task **forced,
                            unsigned *settled, int *rc);
/* Checks argument i of a call of f; 0 or the error qv_submit returns. */
int qv__arg_check(qv_runtime *rt, const qv_func *f, const qv_arg *args, unsigned i);
/* Drops the submission hold of each task on the list, in order. */
void qv__defer_start(qv_runtime *rt, qv__task *list);
/* Before f's implementations or places change: submits f's deferred calls
 * (and those they follow) and, outside tasks and holding no buffer, waits
 * for what they write,
 * so that they run what f ran when they were made, as the program's
 * qv_wait_all before the change promised (takes submit_mu). */
void qv__defer_func(qv_runtime *rt, const qv_func *f);

typedef struct qv__defer qv__defer;
/* Keeps call (f, args) back, under submit_mu: its buffers are marked so
 * that any access to them submits it first. Its sequence number (> 0), or
 * 0 with *rc when the call is invalid or memory is short. stash: held for
 * a fused chain of the calling thread (the replay decides its fate). */
uint64_t qv__defer_call(qv_runtime *rt, qv_func *f, const qv_arg *args, size_t nargs,
                        unsigned planned, uint16_t worker, bool stash, int *rc);
/* The deferred call with sequence number seq, or NULL when it was
 * submitted since. Under submit_mu. */
qv__defer *qv__defer_find(qv_runtime *rt, uint64_t seq);
/* Keeps d as a recipe (its outputs computed when read), or drops it (a
 * fused launch computes them). Under submit_mu. */
void qv__defer_keep(qv_runtime *rt, qv__defer *d);
void qv__defer_drop(qv_runtime *rt, qv__defer *d);
/* d's call, for checking a chain. */
const qv_arg *qv__defer_args(const qv__defer *d, qv_func **f);
/* The deferred calls seq[0..n-1] (d[j]), their functions (f[j]) and their
 * arguments copied into copy[j] (args[j] = copy[j]): an access of another
 * thread may submit and free a held call while a chain is checked. The
 * block that holds the copied scalars (the caller frees it), or NULL when
 * a call is deferred no more or memory is short. Takes submit_mu. */
unsigned char *qv__defer_copy(qv_runtime *rt, const uint64_t *seq, unsigned n, qv__defer **d,
                              qv_func **f, const qv_arg **args, qv_arg (*copy)[QV_MAX_ARGS]);
/* Whether the host memory of b holds its bytes now, as far as the calls
 * made so far go: no deferred call writes it, no task is writing it, the
 * host does not hold it, the host copy is valid. Under submit_mu. */
bool qv__defer_host_current(const qv_buf *b);
/* Whether a deferred call made after seq `after` conflicts with a call of f
 * on args (one of the two writes a buffer both use). A launch that stands
 * in for held calls from `after` on (a fused kernel, a remote part) must
 * not go then: its submission would force that newer call (another
 * thread's) ahead of the calls it stands in for, and their closure would
 * take the held calls themselves. Under submit_mu. */
bool qv__defer_newer_conflict(const qv_runtime *rt, uint64_t after, const qv_func *f,
                              const qv_arg *args);
/* Submits what an access to bufs[0..n-1] with modes[] conflicts with
 * (and what those conflict with, in order), under submit_mu, linking the
 * tasks on *forced. 0 or an error of a submission. */
int qv__defer_force(qv_runtime *rt, qv_buf *const *bufs, const unsigned *modes, unsigned n,
                    qv__task **forced);
/* Submits the deferred calls with these sequence numbers (those still
 * deferred) and what they conflict with; or all with n == SIZE_MAX. */
int qv__defer_force_seq(qv_runtime *rt, const uint64_t *seq, size_t n, qv__task **forced);
/* Whether an access to b with mode m must force deferred calls first. */
static inline bool qv__defer_hit(const qv_buf *b, unsigned m)
{
    return b->lazy && ((m & QV_W) || b->lazy_w);
}
/* Drops the recipes whose outputs newer deferred calls overwrite before
 * anything reads them (a program that reuses its intermediate buffers
 * would otherwise pile them up). Under submit_mu. */
void qv__defer_prune(qv_runtime *rt);
/* Frees deferred calls left at destroy (none: shutdown submits them). */
void qv__defer_free(qv_runtime *rt);
/* Counts (by 1) or uncounts (by -1) a task or prefetch on snapshot s. */
void qv__snap_hold(struct qv__snap *s, int by);
/* Frees the snapshots that no deferred call and no task uses any more;
 * all of them with all true (destroy, before the devices close). Not
 * under submit_mu. */
void qv__defer_sweep(qv_runtime *rt, bool all);
/* A task or prefetch that names a snapshot's buffer b (b->snap) keeps the
 * snapshot from its submission (qv__snap_busy) to the end of its finish
 * (qv__snap_idle, with the snapshot read before): the finish reads b's
 * counts after counting its use done, when a sweep may already see b
 * unused (adversarial testing: a use after free). */
static inline void qv__snap_busy(qv_buf *b)
{
    if (b->snap)
        qv__snap_hold(b->snap, 1);
}
static inline void qv__snap_idle(struct qv__snap *s)
{
    if (s)
        qv__snap_hold(s, -1);
}
/* Host access to buf with mode m: forces what it conflicts with and
 * starts those tasks (takes submit_mu). */
void qv__defer_host(qv_runtime *rt, qv_buf *buf, unsigned m);
/* As qv__defer_host for an access that must not block (a try): forces
 * nothing while the forced tasks would wait for a slot of the epoch ring. */
void qv__defer_host_try(qv_runtime *rt, qv_buf *buf, unsigned m);

/* ---- fused kernels at run time (fuse.c) ------------------------------- */

struct qv__kernel;
/* The chain a replay holds: its calls in order, the first n - 1 deferred
 * (sequence numbers seq) and the last (f, args) arriving now. Submits the
 * fused catalog kernel k in their place, planned on device dev, when the
 * calls are wired as k says (connections, equal arguments, zero inputs):
 * the task, whose pending the caller drops. NULL when they are not
 * (nothing done: the caller submits the chain as it is). */
qv__task *qv__fuse_launch(qv_runtime *rt, const struct qv__kernel *k, const uint64_t *seq,
                          unsigned n, qv_func *f, const qv_arg *args, unsigned dev);
/* Runs fused function f's chain on the CPU, for call; 0, QV_ENODEV (a
 * call of the chain has no CPU implementation now) or QV_ENOMEM. ready
 * (when not NULL) is called with ready_arg once nothing but memory can stop the
 * chain, before its first call runs. */
int qv__fuse_run_cpu(const qv_func *f, const qv_call *call, void (*ready)(void *),
                     void *ready_arg);
/* Frees the fused kernels' state (destroy). */
void qv__fuse_free(qv_runtime *rt);
/* Takes a fused launch's time on an FPGA board (us: what the board took)
 * into its kernel's measured ratio to the catalog's table. */
void qv__fuse_measured(const qv__task *t, double us);
/* Kernels ks[0..nk-1]'s measured time over their tables' on the FPGA
 * boards (the average over those measured FUSE_MIN_RUNS times or more), or
 * 0 when none is. */
double qv__fuse_scale(qv_runtime *rt, const struct qv__kernel *const *ks, unsigned nk);
/* The largest pace (qv__func_emu_pace) of kernels ks[0..nk-1]'s launches
 * on the FPGA class, or 0 when none has one. */
double qv__fuse_pace(qv_runtime *rt, const struct qv__kernel *const *ks, unsigned nk);
/* Whether f may not be taken over by a fused kernel: the program did not
 * tie it to the catalog with qv_func_set_fpga. */
bool qv__fuse_kept_off(const qv_func *f);
/* Whether fusing the chain memb[0..n-1] into kernel k (ff: its fused
 * function, NULL before its first launch) would strand it: the fused task
 * could not fall back to the CPU, and every call could run alone on a
 * device that does not run k (fuse.c). */
bool qv__fuse_strands(qv_runtime *rt, qv_func *const *memb, unsigned n,
                      const struct qv__kernel *k, const qv_func *ff);

/* ---- parts shipped whole to a remote board (part.c) -------------------- */

/* As qv__fuse_launch, for the calls a plan puts on remote board dev in a
 * row: submits one task that runs them all there in one request, when
 * they can run so (part.c says when). */
qv__task *qv__part_launch(qv_runtime *rt, const uint64_t *seq, unsigned n, qv_func *f,
                          const qv_arg *args, unsigned dev);
/* Runs part function f's calls on the CPU, for call; 0, QV_ENODEV or
 * QV_ENOMEM, ready as for qv__fuse_run_cpu (here once nothing can stop
 * the calls). */
int qv__part_run_cpu(const qv_func *f, const qv_call *call, void (*ready)(void *),
                     void *ready_arg);
/* Frees the parts' state (destroy). */
void qv__part_free(qv_runtime *rt);

/* ---- regions (region.c) ------------------------------------------------ */

/* Sets up rt's regions (at create); QV_ENOMEM. */
int  qv__region_init(qv_runtime *rt);
/* Stops and joins the background compiler (at shutdown, once the tasks are
 * done); queued compiles are dropped. Idempotent. */
void qv__region_stop(qv_runtime *rt);
/* Frees the regions and their plans (at destroy, after qv__region_stop). */
void qv__region_free(qv_runtime *rt);
/* Adds the submission of task t (its function and node id set) with args
 * to the calling thread's current entry: O(args), thread-local, no lock
 * but at an entry's first task. When the entry replays a plan and t
 * matches it, sets t->planned. Not for submissions from inside tasks. */
void qv__region_note(qv_runtime *rt, qv__task *t, const qv_arg *args);
/* Before call (f, args) is submitted: when the entry replays a plan that
 * runs this call within a fused chain, holds it back (or, at the chain's
 * end, launches the fused kernel) and returns true with *rc as qv_submit's
 * result. False: submit it as usual. */
bool qv__region_fuse(qv_runtime *rt, qv_func *f, const qv_arg *args, size_t nargs, int *rc);
/* Whether the calling thread's entry replays a plan with tasks on an
 * accelerator, whose inputs qv_submit then prefetches (after
 * qv__region_fuse began the entry). */
bool qv__region_prefetches(const qv_runtime *rt);
/* The calling thread's held chain (if any) is submitted as it is: before
 * its host accesses and waits. */
void qv__region_flush(qv_runtime *rt);
/* A device appeared, disappeared or failed (why says which): every plan
 * is re-made at its region's next entry. */
void qv__region_devices_changed(qv_runtime *rt, const char *why);
/* Tells the regions (qv__region_devices_changed) of each device out of
 * service whose probe is due (devq.c), once per wait. */
void qv__devq_tell_due(qv_runtime *rt);
/* The calling thread's qv_wait_all returned: ends its implicit entry. */
void qv__region_waited(qv_runtime *rt);

/* ---- FPGA kernels of the catalog (bind.c) ------------------------------ */

/* Checks f's signature against catalog kernel `kernel`: QV_ENOENT when the
 * catalog has no such kernel (or there is no catalog), QV_EMISMATCH naming
 * the first argument that differs. *out is the entry on success; for a
 * fused kernel that implements f (by name) among others, *out stays NULL
 * and *member is true. */
int  qv__fpga_bind(const qv_func *f, const char *kernel, const struct qv__kernel **out,
                   bool *member);
/* qv_func_set_fpga; replan false for the runtime's own functions, which
 * no plan names (a change of an application's function re-plans the
 * regions). */
int  qv__func_set_fpga(qv_func *f, const char *kernel, bool replan);
/* The scalar arguments (bit i: argument i) that kernel's size expressions
 * or trip count name. */
unsigned qv__fpga_sig_scalars(const struct qv__kernel *k);
/* Whether call t of f stays within the buffers' sizes as the kernel's size
 * expressions compute them; when not, why says which argument. */
bool qv__fpga_fits(const qv_func *f, const qv__task *t, char *why, size_t n);
/* The same for a call's arguments (checked against f's signature). */
bool qv__fpga_fits_args(const qv_func *f, const qv_arg *args, char *why, size_t n);

/* The buffers of the tasks whose runs on device dev have begun and not
 * ended (the one whose copies are being made, those in flight), into out
 * (max of them); how many, or SIZE_MAX when more than max. The thread
 * that launches on dev sees them as they are; another sees a moment's. */
size_t qv__devq_busy_bufs(qv_runtime *rt, unsigned dev, const qv_buf **out, size_t max);

/* ---- coherence (coherence.c) ------------------------------------------- */

/* Makes buf valid on device dev for access mode m (copying it there when m
 * reads, allocating when it only writes). 0 or an error (the buffer's
 * valid copies are unchanged then); *from (may be NULL) the device whose
 * copy could not be read when that was the error (a fault of that device,
 * not of dev), else 0. */
int  qv__coh_acquire(qv_runtime *rt, qv_buf *b, unsigned dev, unsigned m, unsigned *from);
/* Allocates b's copy on dev (>= 1) if it has none, moving nothing; a
 * failure is left to the acquire. A remote board's ALLOCs go out
 * together so, ahead of a task's acquires, and share one round trip. */
void qv__coh_reserve(qv_runtime *rt, qv_buf *b, unsigned dev);
/* After a task on dev wrote b: dev holds the only valid copy. */
void qv__coh_written(qv_buf *b, unsigned dev);
/* A task on the host is about to write b without reading it, and nothing
 * can stop it now: the host's copy is the only one that counts (the
 * readers of the older data, before the writer, are done). Left to a
 * device that held the only copy until the task ended, a fault of that
 * device brought its old copy home over what the task was writing, for
 * the task's readers to see (qv__coh_drop_device; test_failures
 * failed_board_copy_stays_off_a_buffer_being_written). Not before: a task
 * that fails first keeps the device's copy, its newest data. */
void qv__coh_host_writes(qv_buf *b);
/* t failed on device dev while it ran there: the copies there of the
 * buffers it writes are no longer valid where another valid copy exists.
 * False (with why) when one it reads and writes had its only copy there:
 * t cannot run again from it, and the host's older copy is the valid one
 * from now on (the device's may be half-written, or still being written). */
bool qv__coh_untrust(qv__task *t, unsigned dev, char *why, size_t n);
/* Brings the data home and frees every device copy (unregister). */
int  qv__coh_flush(qv_runtime *rt, qv_buf *b);
/* Device dev failed and may come back without what it held (a board
 * reset): every copy on it goes, brought home first where it is the only
 * valid one (a buffer whose copy cannot come home keeps the host's older
 * data, reports the error at its waits, and fails the tasks that read it
 * until one writes it). failed: the device's tasks that run again
 * elsewhere without having started there: a copy they were to replace is
 * brought home too. Takes submit_mu, then each buffer's coh_mu, and
 * reg_mu only between them. */
void qv__coh_drop_device(qv_runtime *rt, unsigned dev, qv__task *const *failed,
                         size_t nfailed);
/* The device memory of b on dev (NULL for the host or a 0-byte buffer). */
struct qv_devmem *qv__coh_mem(qv_buf *b, unsigned dev);
/* Whether b's copy on device dev (>= 1) exists and a launch of f may use
 * it without a round trip first (the device's `ready`; takes coh_mu). */
bool qv__coh_ready(qv_buf *b, unsigned dev, const qv_func *f);
/* The device object of runtime device index dev (0: the CPU). */
struct qv_device *qv__device(qv_runtime *rt, unsigned dev);

/* ---- accelerators (devq.c) --------------------------------------------- */

int  qv__devq_open_all(qv_runtime *rt);
void qv__devq_stop_all(qv_runtime *rt);
void qv__devq_close_all(qv_runtime *rt);
void qv__devq_push(qv_runtime *rt, unsigned dev, qv__task *t);
/* Between these two, the tasks the calling thread places on an emulated
 * board whose driver sleeps (in service), predicted under 200 us for their
 * own arguments (the board's model times the pace its runs kept lately),
 * with at most QV__ON_DRIVER_BYTES of buffers and 1 ms of them per board,
 * wait for it: at hold_end it runs them itself, with the short tasks their
 * runs ready on such boards, for 1 ms at most, unless a driver woke
 * meanwhile (it takes its queue then, as it takes what is left; a task
 * placed on a board whose queue the thread ran already wakes its driver).
 * quiverd's socket thread runs a short run so and answers it without a
 * wake-up of the driver and back (two hand-offs of tens of microseconds on
 * a VM). Not nested; the thread waits for no task meanwhile (its kept
 * ones would never run: backpressure and the epoch ring's hold pass it
 * by, qv__devq_keeps); the runtime is not destroyed meanwhile. */
void qv__devq_hold_begin(qv_runtime *rt);
void qv__devq_hold_end(qv_runtime *rt);
/* Whether the calling thread keeps tasks of rt to run at hold_end: it
 * must not wait for tasks in flight meanwhile (backpressure, the epoch
 * ring's hold), which may wait for those. */
bool qv__devq_keeps(const qv_runtime *rt);
/* Around qv_submit's placement of its task: a task placed on a remote
 * board whose driver sleeps, and that needs no ALLOC nor LOAD round trip
 * nor a copy from another device first, is launched by the calling thread
 * at keep_end (its request sent on the socket from there), not by the
 * driver woken for it; the flight is left on the board's queue for the
 * next wait of any thread to land (qv__devq_land), or for the driver,
 * woken when the reply comes with no thread waiting for it
 * (qv__devq_replied). On a VM, each of the two
 * wake-ups spared (the driver's, the program's when the driver completes
 * the task) costs about as much as the loopback's own round trip. Not
 * nested, not from a task or a worker. */
void qv__devq_keep_begin(qv_runtime *rt);
void qv__devq_keep_end(qv_runtime *rt);
/* A thread about to wait (qv__wait_until; no lock held, not a worker nor
 * in a task) lands the remote flights that submitting threads launched
 * while their boards' drivers slept, when they are all that is in flight:
 * it takes their replies off the socket itself and completes the tasks,
 * one at a time while done(rt, arg) is false. */
void qv__devq_land(qv_runtime *rt, bool (*done)(qv_runtime *, void *), void *arg);
/* The link of remote device dev took a RUN's or READ's reply, failed its
 * requests, or sent a heartbeat while requests wait (its I/O thread or a
 * waiting thread, holding no lock): a flight launched by a submitting
 * thread may be waiting for no one to land it (nor to enforce its
 * deadline); its driver is woken then. */
void qv__devq_replied(qv_runtime *rt, unsigned dev);
/* Replay: copies t's inputs (t->ubuf[j] for bit j of `which`: inputs whose
 * writers before t are done) that are not valid on device dev (>= 1) there
 * ahead of t's run, while dev's driver has nothing else to do. */
void qv__devq_prefetch(qv_runtime *rt, unsigned dev, qv__task *t, unsigned which);
/* Copies device dev (>= 1) made ahead so far. */
uint64_t qv__devq_prefetched(qv_runtime *rt, unsigned dev);
/* Rescans the runtime's pool now, as its rescan thread does: devices that
 * appeared or disappeared become events (the internal hook of the tests;
 * the run-time loop will call it). QV_ENODEV without a pool. */
int  qv__devq_rescan(qv_runtime *rt);
/* Moves up to max events not taken yet into out, oldest first; returns how
 * many. appeared / disappeared (may be NULL) get the totals so far. */
size_t qv__devq_events(qv_runtime *rt, qv__dev_event *out, size_t max,
                       uint64_t *appeared, uint64_t *disappeared);
/* Placement inputs for device dev (>= 1). */
bool     qv__devq_usable(qv_runtime *rt, unsigned dev, const qv_func *f);
/* The same whatever f's qv_func_set_where mask says (a task that failed
 * everywhere the mask allows runs elsewhere rather than nowhere). */
bool     qv__devq_usable_unmasked(qv_runtime *rt, unsigned dev, const qv_func *f);
/* Whether device dev can load catalog kernel `kernel` beyond the catalog's
 * rule: a remote board's daemon must serve it (its last HELLO). */
bool     qv__devq_serves(qv_runtime *rt, unsigned dev, const char *kernel);
uint64_t qv__devq_ready_ns(qv_runtime *rt, unsigned dev, uint64_t now);
void     qv__devq_add_backlog(qv_runtime *rt, unsigned dev, uint64_t now, uint64_t ns);
double   qv__devq_transfer_us(qv_runtime *rt, unsigned dev, size_t bytes);
/* What a run on device dev waits for beyond its kernel and its copies: a
 * remote board's reply comes a round trip of its link after the request
 * (twice the board file's latency, as the planner counts a launch
 * there); 0 for the others. */
double   qv__devq_launch_us(qv_runtime *rt, unsigned dev);
/* Counts bytes copied to / from device dev (>= 1), for qv_device_get. */
void     qv__devq_count_bytes(qv_runtime *rt, unsigned dev, uint64_t to, uint64_t from);
qv_class qv__devq_class(qv_runtime *rt, unsigned dev);
/* The calls one launch on device dev may carry (QV_QUERY_RUN_CALLS: a
 * remote daemon's bound); UINT_MAX when it sets none. */
unsigned qv__devq_run_calls(qv_runtime *rt, unsigned dev);
/* qv_trace_write at qv_runtime_destroy (trace.path): a FIFO that no
 * process reads fails at once instead of holding the exit (export.c). */
int qv__trace_write_exit(qv_runtime *rt, const char *path);
/* Device dev's name as discovery gives it (0: the CPU's). */
const char *qv__devq_name(qv_runtime *rt, unsigned dev);
/* Fills the planner's resource for accelerator dev (>= 1) as the runtime
 * sees it now: name, class, the link as measured, cost, board; false when
 * it takes no tasks (failed, gone). */
struct qv_plat_res;
bool qv__devq_plat_res(qv_runtime *rt, unsigned dev, struct qv_plat_res *out);
/* Device dev (>= 1), taken out of service after a fault, works again (a
 * remote board's daemon answers again): it takes tasks again and plans are
 * re-made. fresh: a new connection (a daemon started again may serve
 * other kernels: what it could not run is asked again); else a repeat of
 * the news, for a task's fault that crossed it. The backend calls it from
 * its own thread, holding no lock of its own that query takes. No effect
 * on a device in service but for fresh's. */
void qv__devq_restored(qv_runtime *rt, unsigned dev, bool fresh);
/* The least deadline of a run on a device (30 s), read at each launch;
 * tests shorten it. */
extern int64_t qv__devq_least_limit_ns;
/* The run that took device dev out of service by outliving its deadline
 * ended after all (the device's own thread): the device gets a probe, as
 * after any other fault. Takes no lock but the log's. */
void qv__devq_run_ended(qv_runtime *rt, unsigned dev);
/* Device dev's driver thread is in a launch that outlived its deadline
 * (qv_launch.limit_ns) and runs the task itself (the emulator's): called
 * by the backend's own thread, with the last error saying why, while the
 * driver is in that launch, which then returns QV__HANDED_OVER once this
 * returned. The task is failed over as after a wait that timed out (the
 * device out of service), and the device's queued and later tasks go
 * elsewhere until the driver is back. */
void qv__devq_stuck(qv_runtime *rt, unsigned dev);
/* f's OpenCL or FPGA implementation changed: every device forgets that it
 * could not build or load the old one. */
void qv__devq_func_changed(qv_runtime *rt, const qv_func *f);

#endif
