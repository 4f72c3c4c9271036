/*
 * quiver_wrap.h - run-time support of the interposers that `quiver wrap`
 * generates (docs/profile.md, "Wrapping"; docs/cli.md, `quiver wrap`).
 *
 * A program linked with -Wl,--wrap=fir calls __wrap_fir where it called
 * fir. The generated __wrap_fir describes the call once (a static
 * qv_wrap_fn: the catalog kernel's arguments, their size expressions, a
 * CPU implementation that calls __real_fir) and hands each call to
 * qv_wrap_call, which runs it as a Quiver task on the caller's memory and
 * returns when the results are in place, or answers "run __real_fir
 * yourself" (small calls, sizes that cannot be evaluated, overlapping
 * arguments, no runtime, any failure). So a wrapped call always computes
 * what the unwrapped call computes, or what the catalog kernel computes
 * for the same arguments.
 *
 * The runtime is made at the first call (qv_options defaults: the policy
 * of $QV_CONFIG, else the installed default) and destroyed at exit.
 * Environment, read once at the first call:
 *   QUIVER_WRAP=0            every call goes to __real_ (no runtime)
 *   QUIVER_WRAP_MIN_BYTES=N  calls whose buffers hold fewer than N bytes in
 *                            all go to __real_ (default 65536)
 *   QUIVER_WRAP_WHERE=L      the device classes the wrapped functions may
 *                            run on, a comma list of cpu, gpu, fpga, remote
 *                            (qv_func_set_where); default: all
 *   QUIVER_WRAP_DEFER=0      functions generated with --defer run
 *                            synchronously too
 *   QUIVER_WRAP_STATS=1      print at exit, per function, how many calls
 *                            went to the runtime and how many to __real_
 *                            (and why), and the tasks each device ran
 */
#ifndef QUIVER_WRAP_H
#define QUIVER_WRAP_H

#include <stdint.h>

#include "quiver.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of qv_wrap_fn a generated file was written for: 2 added
 * `flags` (files written for 1 are still run, synchronously). */
#define QV_WRAP_ABI 2

/* qv_wrap_fn.flags */
#define QV_WRAP_DEFER 1u /* return before the task has run (`quiver wrap
                          * --defer`; docs/profile.md, "Deferred calls") */

/* Kinds of scalar values (how qv_wrap_call reads one). */
enum { QV_WRAP_UINT = 0, QV_WRAP_SINT = 1, QV_WRAP_FLOAT = 2 };

/* One argument of a wrapped function, as its catalog kernel declares it. */
typedef struct qv_wrap_arg {
    const char *name; /* the catalog's name: size expressions refer to it */
    int mode;         /* buffers: QV_R (in), QV_W (out), QV_RW (inout);
                       * scalars: 0 */
    unsigned elem;    /* bytes: of one element (buffers), of the value
                       * (scalars) */
    int kind;         /* scalars: QV_WRAP_UINT, QV_WRAP_SINT or
                       * QV_WRAP_FLOAT */
    const char *size; /* buffers: the catalog's size expression, in
                       * elements; NULL for scalars */
} qv_wrap_arg;

struct qv_wrap_state;

/* One wrapped function. A generated file defines one per function, static
 * and zero-initialised where it says nothing; `state` is the library's. */
typedef struct qv_wrap_fn {
    unsigned abi;       /* QV_WRAP_ABI */
    const char *name;   /* the wrapped function, e.g. "fir" */
    const char *kernel; /* its catalog kernel (the FPGA
                         * implementation), or NULL */
    const qv_wrap_arg *args;
    unsigned nargs;        /* at most QV_MAX_ARGS */
    qv_cpu_fn cpu;         /* calls __real_<name> with the task's data */
    const char *cl_source; /* OpenCL C source, or NULL for none */
    const char *cl_kernel; /* its kernel's name */
    unsigned (*cl_range)(const qv_call *call, size_t global[3], size_t local[3]);
    struct qv_wrap_state *state; /* NULL; set by the library */
    unsigned flags;              /* QV_WRAP_DEFER, or 0 */
} qv_wrap_fn;

/* Runs one call of fn. argv[i] is, for a buffer, the caller's pointer
 * (const cast away: inputs are only read), and for a scalar a pointer to
 * its value in the catalog's type; argv NULL counts a call whose scalars
 * the catalog's types cannot hold (it returns 1). Returns 0 when the call ran as a Quiver
 * task and its outputs are in the caller's memory; 1 when the caller must
 * call __real_<name> itself (the call was not run, or its outputs cannot
 * be trusted: nothing the caller can see was changed then, except outputs
 * that __real_ overwrites). Thread-safe; blocks until the task is done,
 * except for a function with QV_WRAP_DEFER: then it returns 0 once the
 * task is submitted, and the outputs' memory stops whoever touches it
 * first (any thread, or the kernel in a system call) until the results
 * are in place. */
QV_API int qv_wrap_call(qv_wrap_fn *fn, void *const *argv);

/* Makes fn known before its first call, so that QUIVER_WRAP_STATS reports
 * a function whose wrapper never fired (generated files call it from a
 * constructor). Makes no runtime. */
QV_API void qv_wrap_declare(qv_wrap_fn *fn);

/* The OpenCL work size of a call of fn: one work item per element of its
 * first out or inout buffer; the driver chooses the local size. Returns
 * the number of dimensions (1). For qv_wrap_fn.cl_range. */
QV_API unsigned qv_wrap_range(const qv_wrap_fn *fn, const qv_call *call, size_t global[3],
                              size_t local[3]);

/* What happened to the calls of one wrapped function so far. */
typedef struct qv_wrap_stats {
    uint64_t calls;    /* all calls of __wrap_<name>; a call still under
                        * way (another thread's) is in no other count yet */
    uint64_t runtime;  /* ran as Quiver tasks */
    uint64_t real;     /* went to __real_<name>: the sum of the reasons
                        * that follow */
    uint64_t disabled; /* QUIVER_WRAP=0, or no runtime could be made */
    uint64_t below;    /* fewer bytes than QUIVER_WRAP_MIN_BYTES */
    uint64_t unsized;  /* a size expression could not be evaluated (a
                        * division by zero, an overflow, a negative
                        * scalar), an integer scalar of 0, or a NULL
                        * buffer */
    uint64_t overlap;  /* an output overlaps another argument */
    uint64_t busy;     /* an output overlaps memory another thread's
                        * wrapped call is using */
    uint64_t failed;   /* the runtime refused or failed the call */
    uint64_t nested;   /* made from inside a Quiver task (a wrapped
                        * function's __real_ calling another), by a
                        * signal handler that interrupted a wrapped call,
                        * or by a fork handler run inside fork() while
                        * the runtime's locks are held */
    /* Appended with QV_WRAP_ABI 2: */
    uint64_t deferred; /* of `runtime`: returned before the task ran */
    uint64_t touches;  /* deferred outputs that something touched before
                        * their task was done, or right after (each such
                        * touch waited for the results to land) */
    uint64_t lost;     /* deferred calls whose task ran nowhere: their
                        * outputs kept what they held before the call (also
                        * printed on stderr when it is found) */
} qv_wrap_stats;

/* Fills *out for the wrapped function called `name` (as qv_wrap_fn.name).
 * QV_ENOENT when it has not been called yet. Any thread; not from a
 * signal handler (it takes a lock the interrupted code may hold). For a
 * function a file written for QV_WRAP_ABI 1 registered, only the fields
 * before `deferred` are written (its program's struct ends there). */
QV_API int qv_wrap_stats_get(const char *name, qv_wrap_stats *out);

/* As qv_wrap_stats_get, writing at most size bytes of *out: pass
 * sizeof(qv_wrap_stats), and *out gets the fields this header has whatever
 * file registered the function (fields a newer library appends are not
 * written). QV_EINVAL for a size of 0. */
QV_API int qv_wrap_stats_get_sized(const char *name, qv_wrap_stats *out, size_t size);

#ifdef __cplusplus
}
#endif

#endif
