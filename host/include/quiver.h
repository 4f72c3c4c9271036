/*
 * quiver.h - the public API of the Quiver host runtime.
 *
 * An application creates a runtime, registers functions (one implementation
 * per device class) and buffers (its own memory, borrowed), and submits calls
 * of functions on buffers. Calls run asynchronously; their dependencies come
 * from the order of submission and each argument's access mode, so a program
 * reads like sequential code. Every executed call is recorded in a measured
 * execution graph that can be written out as .qvg.json, Graphviz DOT or a
 * Chrome trace.
 *
 * Conventions: functions return 0 or a negative QV_E* code (qv_strerror
 * names it, qv_last_error gives detail); output parameters come last; strings
 * passed in are copied; registered memory stays the caller's.
 */
#ifndef QUIVER_H
#define QUIVER_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(QV_BUILDING_LIBRARY) && defined(__GNUC__)
#define QV_API __attribute__((visibility("default")))
#else
#define QV_API
#endif

/* The version of this header, the same as the project's in CMake (a test
 * checks). qv_version() answers for the library a program runs with, which
 * may be newer than the header it was compiled with. */
#define QV_VERSION_MAJOR 0
#define QV_VERSION_MINOR 1
#define QV_VERSION_PATCH 0
/* One number that orders versions: 10000 * major + 100 * minor + patch. */
#define QV_VERSION_NUMBER                                                      \
    (QV_VERSION_MAJOR * 10000 + QV_VERSION_MINOR * 100 + QV_VERSION_PATCH)

/* Returns the library's version as "MAJOR.MINOR.PATCH", a static string.
 * Any thread, any time, before any runtime exists. */
QV_API const char *qv_version(void);

/* Returns the library's version as QV_VERSION_NUMBER computes it. */
QV_API unsigned qv_version_number(void);

/* ---- errors ------------------------------------------------------------ */

/* Error codes: negative. Where a POSIX errno says the same thing the code is
 * its negation, so system errors pass through unchanged. */
#define QV_ERRNO_MAP(X)                                                                  \
    X(EINVAL, -EINVAL, "invalid argument")                                               \
    X(ENOMEM, -ENOMEM, "out of memory")                                                  \
    X(ENOENT, -ENOENT, "no such entry")                                                  \
    X(EBUSY, -EBUSY, "resource busy")                                                    \
    X(ENODEV, -ENODEV, "no device can run this task")                                    \
    X(ESHUTDOWN, -ESHUTDOWN, "runtime is shut down")                                     \
    X(ETIMEDOUT, -ETIMEDOUT, "timed out")                                                \
    X(EDEADLK, -EDEADLK, "would deadlock")                                               \
    X(EIO, -EIO, "i/o error")                                                            \
    X(ENOTSUP, -ENOTSUP, "not supported")                                                \
    X(E2BIG, -E2BIG, "too many or too large (past a limit)")                             \
    X(EEXIST, -EEXIST, "already exists")                                                 \
    X(ECANCELED, -ECANCELED, "canceled")                                                 \
    X(EFORMAT, -4000, "malformed input")                                                 \
    X(EMISMATCH, -4001, "arguments do not match the function's signature")

enum {
#define QV__ERR_ENUM(name, val, msg) QV_##name = (val),
    QV_ERRNO_MAP(QV__ERR_ENUM)
#undef QV__ERR_ENUM
};

/* Returns a static description of err (0, a QV_E* code or -errno). */
QV_API const char *qv_strerror(int err);

/* ---- types ------------------------------------------------------------- */

typedef struct qv_runtime qv_runtime;
typedef struct qv_func qv_func;
typedef struct qv_buf qv_buf;

/* Device classes, as in the graph and platform formats. */
typedef enum qv_class {
    QV_CLASS_CPU = 0,
    QV_CLASS_GPU = 1,
    QV_CLASS_FPGA = 2,
    QV_CLASS_REMOTE = 3,
    QV_CLASS_COUNT
} qv_class;

/* Returns "cpu", "gpu", "fpga" or "remote"; NULL for anything else. */
QV_API const char *qv_class_name(qv_class c);

/* Access modes of buffer arguments. A QV_W argument is not copied to the
 * device before the task: the bytes the task does not write are undefined
 * after it (QV_RW keeps them). */
typedef enum qv_mode { QV_R = 1, QV_W = 2, QV_RW = 3 } qv_mode;

/* Most arguments one function may take. */
#define QV_MAX_ARGS 16

/* One argument in a function's signature. */
typedef struct qv_arg_desc {
    const char *name;  /* for messages and exported graphs; may be NULL */
    int         is_buf; /* 1: a buffer with `mode`; 0: a scalar of `size` */
    qv_mode     mode;  /* buffers only */
    size_t      size;  /* scalars only: bytes, passed by value */
} qv_arg_desc;

#define QV_ARG_BUF(nm, md) ((qv_arg_desc){ (nm), 1, (md), 0 })
#define QV_ARG_SCALAR(nm, type) ((qv_arg_desc){ (nm), 0, QV_R, sizeof(type) })

/* One argument of a submitted call: a buffer, or a pointer to a scalar value
 * that is copied at submission. */
typedef struct qv_arg {
    qv_buf     *buf;
    const void *val;
    size_t      size; /* bytes of *val */
} qv_arg;

#define QV_BUF(b) ((qv_arg){ (b), NULL, 0 })
#define QV_VAL(v) ((qv_arg){ NULL, &(v), sizeof(v) })

/* What a CPU implementation receives. ptr[i] is the data of buffer argument i
 * or a pointer to the copy of scalar argument i; size[i] its bytes. The
 * pointers are valid for the duration of the call only. */
typedef struct qv_call {
    void *const  *ptr;
    const size_t *size;
    unsigned      nargs;
    unsigned      worker; /* index of the worker running the call */
} qv_call;

typedef void (*qv_cpu_fn)(const qv_call *call);

/* ---- runtime ----------------------------------------------------------- */

/* Options for qv_runtime_create. Initialise with qv_options_init, then set
 * what differs. Fields are only ever appended, and `size` says how many the
 * caller knows: a program built against an older header passes the smaller
 * struct it has, the library reads only the fields that size covers and
 * gives the others their defaults. */
typedef struct qv_options {
    size_t      size;          /* sizeof(qv_options) of the caller's header;
                                * set by qv_options_init, do not change */
    int ncpu;                  /* CPU workers, 0 to 4096; 0 = one per
                                * core the creating thread may run on */
    int         pin;           /* pin workers to those cores (1) */
    int         record;        /* record the execution graph (1) */
    unsigned spin_us;          /* idle spin before a worker parks (µs,
                                * 0 to 1000000), and before a device's
                                * threads sleep; QV_SPIN_US in the
                                * environment wins */
    const char *config;        /* runtime policy YAML; NULL = $QV_CONFIG, else
                                * share/quiver/quiver.yaml of this install
                                * (docs/install.md); "" (or QV_CONFIG="") =
                                * none: the CPU and OpenCL, no boards */
    const char *perfmodel_dir; /* NULL = the policy's perfmodel.dir, else
                                * $XDG_CACHE_HOME/quiver (~/.cache/quiver);
                                * "" = none */
    int         opencl;        /* use OpenCL devices as the gpu class (1) */
    uint64_t    record_window; /* the recorded graph keeps the last this many
                                * tasks at least (rounded up to 32768), and
                                * forgets older ones, so that a long run's
                                * memory stays bounded (about 90 bytes a task
                                * with one edge, 24 more per further edge:
                                * 1 << 20 is ~100 MB); 0 = keep every task
                                * until qv_graph_reset */
} qv_options;

/* qv_options.record_window's default: about a million tasks. */
#define QV_RECORD_WINDOW_DEFAULT ((uint64_t)1 << 20)

/* Fills opts with the defaults and sets opts->size. Inline, so that it
 * writes the struct of the caller's header and never more: a newer library
 * gives the fields it added their defaults itself. */
static inline void qv_options_init(qv_options *opts)
{
    qv_options o = {0};
    if (!opts)
        return;
    o.size = sizeof o;
    o.ncpu = 0;
    o.pin = 1;
    o.record = 1;
    o.spin_us = 50;
    o.opencl = 1;
    o.record_window = QV_RECORD_WINDOW_DEFAULT;
    *opts = o;
}

/* Creates a runtime and starts its workers. opts may be NULL for defaults.
 * QV_EINVAL when opts->size is not the size of any version of qv_options
 * (the options were not set up with qv_options_init, or come from a newer
 * header than the library). On error *out is NULL and nothing is left
 * running. In the child of a fork(), a runtime made before it refuses
 * every call (QV_EINVAL): its threads stayed in the parent. */
QV_API int qv_runtime_create(const qv_options *opts, qv_runtime **out);

/* Waits for all submitted work and stops the workers; later submissions fail
 * with QV_ESHUTDOWN, except those of the runtime's own running tasks, which
 * are part of the work waited for. Buffers stay registered until
 * unregistered or the runtime is destroyed, and what a device wrote may
 * still be only there: read a buffer's memory after qv_buf_wait (or
 * qv_buf_acquire) or qv_buf_unregister, which bring it home, as before the
 * shutdown. Functions and buffers may still be registered, acquired and
 * unregistered after it (nothing runs their calls). Idempotent. */
QV_API int qv_runtime_shutdown(qv_runtime *rt);

/* Shuts down, saves the performance models and frees the runtime with every
 * function and buffer still registered. NULL is fine. Called from one of
 * the runtime's own tasks it does nothing (logged; qv_last_error says
 * why). A task may create, use and destroy another runtime, and wait for
 * it: a qv_wait_all that would close a cycle of such waits returns
 * QV_EDEADLK (a cycle through qv_buf_wait or qv_buf_acquire is not
 * detected; docs/runtime.md). */
QV_API void qv_runtime_destroy(qv_runtime *rt);

/* The detail of the last error on the calling thread, or "" if none. The
 * string stays valid until the next failing call on this thread. */
QV_API const char *qv_last_error(void);

/* Number of CPU workers. */
QV_API unsigned qv_runtime_ncpu(const qv_runtime *rt);

/* The devices the runtime drives: index 0 is the host CPU (all its
 * workers), then accelerators in the order found. */
typedef struct qv_device_info {
    char     name[128];
    qv_class cls;
    char     backend[16];   /* "cpu", "opencl", ... */
    unsigned units;         /* tasks it runs at once (not the compute
                             * units `quiver devices` shows: one OpenCL
                             * task spreads over all of those) */
    int      healthy;       /* 0 once a device-level fault took it out */
    uint64_t tasks;         /* tasks run to completion */
    uint64_t failed;        /* tasks that failed here, each placed again
                             * elsewhere (reported if none can run it) */
    uint64_t bytes_to;      /* host -> device */
    uint64_t bytes_from;    /* device -> host */
    double   board_us;      /* emulated boards: the modelled busy time */
    double   link_gbs;      /* measured copy bandwidth to the device, GB/s
                             * (an average of recent copies); 0 if none */
} qv_device_info;

/* The runtime's devices, 0 to qv_device_count - 1 (0 is the CPU).
 * qv_device_get fills *out: 0, QV_EINVAL for a NULL (or destroyed) runtime or out,
 * QV_ENOENT for an index past the count. */
QV_API unsigned qv_device_count(const qv_runtime *rt);
QV_API int      qv_device_get(const qv_runtime *rt, unsigned idx, qv_device_info *out);

/* ---- functions --------------------------------------------------------- */

/* Registers a function called `name` with `nargs` arguments. The name and
 * the descriptors are copied. Returns QV_EEXIST if the name is taken. The
 * function lives until the runtime is destroyed. */
QV_API int qv_func_create(qv_runtime *rt, const char *name,
                          const qv_arg_desc *args, size_t nargs,
                          qv_func **out);

/* Looks a registered function up by name; QV_ENOENT if there is none. */
QV_API int qv_func_find(qv_runtime *rt, const char *name, qv_func **out);

/* Sets the CPU implementation. Must not race with submissions of f. */
QV_API int qv_func_set_cpu(qv_func *f, qv_cpu_fn fn);

/* An OpenCL implementation: the kernel `kernel` of OpenCL C `source`,
 * built once per device (and cached on disk by source, options and
 * device). Its arguments are the function's, in order: buffers as global
 * pointers, scalars by value. `range` (required: qv_func_set_opencl
 * returns QV_EINVAL without it) gives a call's work size: it fills
 * global[0..dims-1] (and local, or 0s to let the driver choose) from the
 * call's sizes and scalars, and returns dims (1 to 3). */
typedef struct qv_opencl_impl {
    const char *source;
    const char *kernel;
    const char *options; /* build options; may be NULL */
    unsigned (*range)(const qv_call *call, size_t global[3], size_t local[3]);
} qv_opencl_impl;

/* Sets the OpenCL implementation (strings are copied); NULL removes it.
 * Set again, the next call builds the new code, also on a device where the
 * old code did not build; a call already running keeps its code. */
QV_API int qv_func_set_opencl(qv_func *f, const qv_opencl_impl *impl);

/* Sets the FPGA implementation: the kernel called `kernel` in the catalog
 * the runtime policy names (`catalog:`). Runs on the boards that kernel has
 * a build for (real cards through XRT, emulated boards natively). The name
 * is copied; NULL removes the FPGA implementation. QV_ENOENT when the
 * catalog has no such kernel (or the runtime has no catalog); QV_EMISMATCH
 * when its arguments differ from f's in number, kind (buffer or scalar),
 * scalar size or access mode (in = QV_R, out = QV_W, inout = QV_RW), with
 * qv_last_error naming the argument. Calls whose buffers are smaller than
 * the kernel's `size:` expressions compute never reach a board. Safe to
 * call at any time, but calls of f submitted before and not run yet may
 * run either kernel: to know which, change it once they are done
 * (qv_wait_all); regions with a plan are re-planned at their next entry.
 *
 * A fused kernel (the catalog's `implements` lists several functions,
 * e.g. fir_fft_mag) implements f when f's name is among them: binding f
 * to it gives f no FPGA implementation of its own, but says f is the
 * catalog's function of that name, so the run-time loop may run a chain
 * of f's calls as one launch of a fused kernel (docs/runtime.md, "Fused
 * kernels"). A function may be taken over by a fused kernel only once it
 * is bound this way or to a kernel of its own: a function that shares a
 * name with the catalog's but is left unbound is the program's own. */
QV_API int qv_func_set_fpga(qv_func *f, const char *kernel);

/* Restricts f to the device classes in mask (bits 1 << qv_class); 0 lifts
 * the restriction. Like StarPU's `where`. A change re-plans the regions
 * that have a plan (their next entry), as a change of devices does. May be
 * called at any time; calls already placed keep their device. A call
 * that no device the mask allows can take (each failed it, or is out of
 * service) runs on another that has one of f's implementations rather
 * than nowhere: the CPU, else another accelerator (docs/runtime.md,
 * "Failures the caller sees"). A mask that allows no class of this
 * runtime's devices with an implementation of f (the GPU for a function
 * with a CPU implementation only, or on a machine without one) is a
 * mistake said at once: qv_submit refuses the call with QV_ENODEV, as
 * StarPU refuses a task no worker of its `where` can run. */
QV_API int qv_func_set_where(qv_func *f, unsigned mask);

QV_API const char *qv_func_name(const qv_func *f);

/* ---- buffers ----------------------------------------------------------- */

/* Registers n bytes at ptr. The memory stays the caller's and must stay
 * valid until qv_buf_unregister returns. n may be 0 (ptr may then be NULL),
 * which makes a pure dependency token. QV_EEXIST when the range overlaps a
 * registered buffer (their tasks would race through shared memory). */
QV_API int qv_buf_register(qv_runtime *rt, void *ptr, size_t n,
                           qv_buf **out);

/* Waits until every submitted task that uses buf is done, copies the data
 * home from the device that holds the only valid copy, then forgets buf.
 * The buffer is forgotten even when this returns an error: a negative code
 * (QV_ENODEV, ...) says that a task that should have written buf ran
 * nowhere, so the memory holds older data (qv_last_error names the task).
 * QV_EDEADLK when called from a task while tasks still use buf, or when a
 * task that uses buf waits for a buffer the calling thread holds (nothing
 * is forgotten then); QV_EBUSY
 * while the host holds buf (qv_buf_acquire); QV_EINVAL for a handle that
 * was unregistered already (detected for recent handles). From the moment
 * it is called, other threads' qv_submit, qv_buf_acquire and qv_buf_wait
 * on buf get QV_EINVAL, and of two unregisters of buf one wins; a
 * qv_buf_wait already under way is waited for. */
QV_API int qv_buf_unregister(qv_buf *buf);

/* Forgets buf if no submitted task still uses it, no other thread is in
 * qv_buf_wait on it, and no device that is full or failed is moving its
 * copy home; QV_EBUSY otherwise. */
QV_API int qv_buf_try_unregister(qv_buf *buf);

/* Gives the calling thread access to buf's memory, as StarPU's
 * starpu_data_acquire. Waits for the tasks submitted so far that conflict
 * with `mode` (QV_R: the last writer; QV_W, QV_RW: every earlier user),
 * brings the host copy up to date (QV_R, QV_RW), and for QV_W and QV_RW
 * makes the host copy the only valid one (device copies are dropped, so
 * tasks that follow see what the host wrote). With QV_W the memory's
 * contents are undefined: write all of it, or use QV_RW. Tasks submitted
 * while the host holds buf wait for qv_buf_release.
 * Errors (buf is then not held): QV_EDEADLK from inside a task, or when a
 * task it would wait for waits (through the graph) for a buffer the
 * calling thread holds; QV_EBUSY
 * when buf is already acquired; QV_EINVAL for a bad mode or handle;
 * QV_ENOMEM without memory to wait for those tasks; a negative code such
 * as QV_ENODEV when a task that should have written buf ran nowhere, or
 * its only copy was lost with a failed device (qv_last_error names the
 * cause at the first wait or acquire; later QV_R acquires and waits fail
 * too, "holds no valid data", until buf is written by a task or the
 * host: QV_W, or QV_RW to keep what it holds). */
QV_API int qv_buf_acquire(qv_buf *buf, qv_mode mode);

/* As qv_buf_acquire, but never waits for a task nor a device: QV_EBUSY
 * (nothing held) while a submitted task still uses buf or a call owed to
 * it is deferred (such calls are submitted then, so a later try can
 * succeed), and for QV_R and QV_RW while only a device holds its
 * current contents (bringing them home may wait for the device). For a
 * thread that must not block, as a daemon's socket thread. It may still
 * wait for another thread's acquisition in progress (one copy home), and
 * a task that just ended (qv_buf_wait returned) may count as a user for a
 * moment: QV_EBUSY then; qv_wait_all returns after that. */
QV_API int qv_buf_try_acquire(qv_buf *buf, qv_mode mode);

/* Ends the host's access that qv_buf_acquire began; the tasks waiting for
 * buf may run. Any thread may call it. QV_EINVAL when buf is not acquired,
 * also while a qv_buf_acquire of it has not returned. Do not wait for tasks
 * that use a buffer you hold (qv_wait_all, qv_buf_wait, qv_buf_acquire and
 * qv_buf_unregister return QV_EDEADLK then); a wait in another thread
 * waits for this release. */
QV_API int qv_buf_release(qv_buf *buf);

/* A read-only acquire released at once: waits for the last task submitted
 * so far that writes buf and brings the host copy up to date, so that the
 * caller may READ the memory. Writing it needs qv_buf_acquire(QV_W or
 * QV_RW): otherwise a device copy may stay valid and the tasks that follow
 * would not see the host's writes. Returns at once (0) while the host holds
 * buf, once the qv_buf_acquire that took it has returned (one still
 * waiting in another thread is waited for). Error codes as
 * qv_buf_acquire; from a task, QV_EDEADLK while tasks still use buf. */
QV_API int qv_buf_wait(qv_buf *buf);

QV_API void  *qv_buf_data(const qv_buf *buf);
QV_API size_t qv_buf_size(const qv_buf *buf);

/* ---- tasks ------------------------------------------------------------- */

/* Submits one call of f. args follow f's signature: a buffer where it
 * declares a buffer, a value of the declared size where it declares a
 * scalar. Returns at once; the call runs when its dependencies are done.
 * Returns QV_ENODEV if no device has an implementation of f (of the
 * classes its qv_func_set_where mask allows, if set), QV_EMISMATCH
 * when the arguments do not match f (or the call does not fit f's FPGA
 * kernel, per the catalog's sizes, and nothing else can run f), QV_EINVAL
 * for an unregistered buffer or a scalar whose value is NULL, QV_ENOMEM
 * without memory for the call or its dependencies: on any error nothing of
 * the call is submitted. Blocks
 * while the policy's `max_inflight` tasks are in flight (backpressure;
 * never from a task, nor while a task in flight waits for a buffer the
 * program holds: a held buffer that no task waits for changes nothing).
 * Safe from any thread, tasks included. */
QV_API int qv_submit(qv_runtime *rt, qv_func *f, const qv_arg *args,
                     size_t nargs);

/* Waits until every task submitted before the call (by any thread) is
 * done; tasks that others submit meanwhile are not waited for. Returns a
 * negative code when one of them ran nowhere (every device that could run
 * it failed, or none was left: QV_ENODEV, ...), with qv_last_error naming
 * the function and the cause; each such failure is reported once.
 * QV_EDEADLK from a task, or when a buffer the calling thread holds has
 * tasks waiting for its release (a buffer another thread holds is waited
 * for: its qv_buf_release lets them run). Data written on a device may stay there:
 * qv_buf_wait or qv_buf_acquire brings a buffer home before the host
 * reads it. */
QV_API int qv_wait_all(qv_runtime *rt);

/* ---- regions (the run-time loop, docs/runtime.md "Regions") ------------ */

/* Opens region `name` (copied; 1 to 127 bytes, not starting with
 * "implicit:") on the calling thread: the tasks this thread submits until
 * qv_region_end are one entry of the region. Regions do not nest:
 * QV_EBUSY when this thread has a region open. QV_EINVAL for a NULL or
 * destroyed runtime, a bad name, or a call from inside a task (what tasks
 * submit belongs to no entry). QV_E2BIG for a new name past the 4096
 * a runtime keeps (name regions by the code they run, not by iteration).
 * QV_ESHUTDOWN after qv_runtime_shutdown. Submissions since this thread's
 * last qv_wait_all that an explicit region cuts off count as no implicit
 * entry. */
QV_API int qv_region_begin(qv_runtime *rt, const char *name);

/* Closes the calling thread's open region: the entry is counted, and when
 * its signature has been seen `hot_threshold` entries in a row (the policy)
 * it is compiled into a plan in the background; later entries replay the
 * plan while their submissions match it (docs/runtime.md, "Regions").
 * Never waits for the tasks. QV_EINVAL when this thread has no region open
 * on rt. */
QV_API int qv_region_end(qv_runtime *rt);

/* What a region has done. Fields are only appended: set `size` to
 * sizeof(qv_region_info) before the call. Times are of the last entry.
 * entries = recorded + replayed. */
typedef struct qv_region_info {
    size_t   size;          /* sizeof(qv_region_info) of the caller's header */
    char     name[128];     /* as given, or "implicit:<16 hex digits>" */
    int      implicit;      /* 1: the work between two qv_wait_all */
    uint64_t entries;       /* entries ended (qv_region_end, qv_wait_all) */
    uint64_t recorded;      /* entries run eagerly and recorded */
    uint64_t replayed;      /* entries run from a plan, every task sent to
                             * the device the plan chose (a device failure
                             * after that re-runs it elsewhere, and
                             * re-plans), but for a refresh's call
                             * (`refreshes`) */
    uint64_t compiles;      /* plans made in the background, re-plans
                             * included */
    uint64_t replans;       /* plans made again: drift of the measured from
                             * the predicted time, a device that appeared,
                             * disappeared or failed, or a new signature
                             * once the region had a plan */
    uint64_t guard_misses;  /* entries whose replay stopped: a submission
                             * that did not match the plan, or an entry
                             * shorter than the plan (the rest of the entry
                             * ran eagerly) */
    uint64_t signature;     /* of the last entry (docs/runtime.md) */
    uint64_t signatures;    /* signatures seen in turn: an entry whose
                             * signature differs from the one before counts
                             * a new one */
    uint64_t sig_entries;   /* entries in a row with the last signature;
                             * a new signature starts it again at 1 */
    uint64_t tasks;         /* tasks of the last entry */
    double   predicted_us;  /* µs: what the plan predicted for the last
                             * entry (its makespan, calibrated by the
                             * entries measured so far); 0 before a plan,
                             * and when no plan is for the entry's calls */
    double measured_us;     /* µs: the last entry whose tasks are all done,
                             * first task start to last task end; 0 before
                             * (or when the runtime does not record, or the
                             * entry's tasks left the recorded graph) */
    unsigned parts;         /* parts of the current plan's partition; 0 for
                             * a list-scheduled plan or none */
    char     last_replan_reason[128]; /* why it was last (re)compiled, e.g.
                                       * "hot: 3 entries with one
                                       * signature", "drift: ...", "devices
                                       * changed: ..."; "" before */
    char last_error[256];             /* why the last compile failed, or why a hot
                                       * region is not compiled yet ("not compiled
                                       * yet: ...", a wait); "" if none */
    /* Appended later: a caller built before passes the smaller size and
     * gets the fields above. */
    uint64_t fused;         /* chains of replayed entries run as one launch
                             * of a fused catalog kernel (docs/runtime.md,
                             * "Fused kernels") */
    uint64_t shipped;       /* parts of replayed entries sent whole to a
                             * remote board, each in one request
                             * (docs/runtime.md, "Parts on remote boards") */
    uint64_t measured_entries; /* replayed entries measured against their
                                * plan's prediction: each until 12 of the
                                * plan are (9 after a re-plan for drift,
                                * whose calibration carries over), then
                                * at most one per 0.5 ms of entry starts
                                * (docs/runtime.md, "Regions") */
    uint64_t refreshes;        /* replayed entries that sent one call to a
                                * device class the plan leaves out for its
                                * function, whose model there was not measured
                                * for perfmodel.refresh_ms (docs/runtime.md,
                                * "Regions", Refreshes) */
} qv_region_info;

/* Fills *out for region `name` (explicit, or an implicit one by its
 * "implicit:..." name); NULL: the calling thread's most recent region,
 * explicit or implicit. QV_ENOENT when there is none such; QV_EINVAL for
 * a NULL or destroyed runtime, NULL out, or an out->size that is not the
 * size of any version of qv_region_info. Any thread may call it. */
QV_API int qv_region_get(qv_runtime *rt, const char *name, qv_region_info *out);

/* ---- the execution graph ----------------------------------------------- */

/* The functions below may be called from any thread while others submit.
 * They see the tasks submitted before the call and wait for those to finish,
 * not for later ones, so a thread that keeps submitting cannot hold them up.
 * They do not wait from inside a task, nor while tasks wait for a buffer
 * the host holds (where qv_wait_all returns QV_EDEADLK); tasks that have not
 * run then appear with zero times (start_us, end_us and cost 0). A runtime
 * created with qv_options.record = 0 has no graph: qv_graph_info_get,
 * qv_graph_node, qv_graph_write, qv_graph_write_dot and qv_trace_write
 * return QV_ENOENT, and qv_graph_reset does nothing (0). */

/* Summary of the recorded graph, with the critical path on measured times. */
typedef struct qv_graph_info {
    uint64_t nodes;
    uint64_t edges;
    double   total_us;          /* sum of task times */
    double   span_us;           /* first start to last end */
    double   critical_path_us;  /* longest dependency chain, by task time */
    uint64_t critical_path_len; /* tasks on it */
    uint64_t bottleneck[4];     /* node ids dominating the path, longest first */
    unsigned nbottlenecks;
} qv_graph_info;

/* One recorded task. */
typedef struct qv_node_info {
    const char *function; /* the function's name, valid while rt lives */
    qv_class    cls;      /* where it ran */
    unsigned    worker;
    double      start_us; /* since the runtime was created */
    double      end_us;
    uint64_t    bytes_in, bytes_out;
} qv_node_info;

/* Describes node `id` (as in qv_graph_info.bottleneck), once its task is
 * done. QV_ENOENT if no such node is recorded. */
QV_API int qv_graph_node(qv_runtime *rt, uint64_t id, qv_node_info *out);

/* Fills info for everything recorded so far, once it has run. */
QV_API int qv_graph_info_get(qv_runtime *rt, qv_graph_info *info);

/* Writes the recorded graph in the quiver-graph JSON format (.qvg.json),
 * with each node's measured cost on its class and model estimates for the
 * other classes that have an implementation, once it has run, and how it
 * ran (class, worker, start, critical path, board time): the planner's
 * qv_dag_load (qvpart.h) reads all of it back. name NULL: "quiver". */
QV_API int qv_graph_write(qv_runtime *rt, const char *name, const char *path);

/* Writes the recorded graph as Graphviz DOT, the critical path in red. */
QV_API int qv_graph_write_dot(qv_runtime *rt, const char *path);

/* Writes a Chrome trace-event JSON timeline, one track per worker. */
QV_API int qv_trace_write(qv_runtime *rt, const char *path);

/* Forgets the recorded graph (the models keep what they learned). The next
 * task submitted is the first node of the new graph; edges to the tasks
 * forgotten are not recorded. The memory is freed once the tasks submitted
 * before the call are done (waiting for them, as above). */
QV_API int qv_graph_reset(qv_runtime *rt);

/* ---- performance models ------------------------------------------------ */

/* Estimated time (µs) of f on class c for calls touching `bytes` bytes of
 * buffers. QV_ENOENT when nothing was measured for that size yet. */
QV_API int qv_perfmodel_estimate(const qv_func *f, qv_class c, size_t bytes,
                                 double *us);

/* Writes the models to the per-host file now (also done at destroy). */
QV_API int qv_perfmodel_save(qv_runtime *rt);

/* Path of the per-host model file, or "" when persistence is off. */
QV_API const char *qv_perfmodel_path(const qv_runtime *rt);

#ifdef __cplusplus
}
#endif

#include "quiver/config.h" /* configuration files and resource discovery */

#endif /* QUIVER_H */
