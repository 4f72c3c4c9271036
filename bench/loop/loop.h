/*
 * loop.h - bench_loop, the run-time loop's benchmarks (issue 10): what its
 * modes share. Every measurement runs in a child process of its own, so
 * that runtimes never share a process and each starts cold; the parent
 * only prints.
 */
#ifndef QV_BENCH_LOOP_H
#define QV_BENCH_LOOP_H

#include <stddef.h>

#include "../overhead/bench.h"
#include "quiver.h"

/* Sizes and caps of one invocation: the full figures or --smoke. */
typedef struct loop_args {
    int         smoke;     /* tiny sizes, one run per cell, no waiting */
    int         runs;      /* child processes per cell */
    const char *tmpdir;    /* where the policy files go */
    const char *share;     /* share/quiver of the build or install */
    const char *shape;     /* --overhead: only this shape, or NULL */
    int         replayed;  /* --overhead: only Quiver replayed */
} loop_args;

/* The modes; each prints its table and returns 0, or 1 when a run failed. */
int loop_overhead(const loop_args *a);
int loop_pays(const loop_args *a);
int loop_adapt(const loop_args *a);
int loop_predict(const loop_args *a);

/* ---- remote.c ---------------------------------------------------------- */

/* Starts quiverd serving the emulated U250 with delay_us of latency on
 * each reply, and writes its board file and a policy of the CPU and that
 * board (slot as loop_policy's); the policy's path, or NULL when quiverd
 * was not built or does not answer (said on stderr). */
const char *loop_remote_start(const loop_args *a, unsigned delay_us, int slot);
void loop_remote_stop(void);

/* ---- common.c ---------------------------------------------------------- */

/* A measurement run in a child: fills `size` bytes at out (zeroed
 * before); returns 0 or fails. */
typedef int (*loop_fn)(const void *arg, void *out, size_t size);

/* Runs fn(arg) in a forked child and copies its out back. Returns 0, or
 * -1 when the child failed (its messages went to stderr). */
int loop_child(loop_fn fn, const void *arg, void *out, size_t size);

/* Set by a child's fn: leave with _exit, without atexit handlers (and so
 * without a sanitizer's leak check of a third-party library). */
extern int loop_quick_exit;

/* Writes `text` to tmpdir/name and returns the path (static storage per
 * name slot: slot 0..7), or NULL. */
const char *loop_policy(const loop_args *a, int slot, const char *name, const char *text);

/* The default platform's policy (config/quiver.yaml: CPU, every OpenCL
 * device, the emulated U250 with the catalog), with paths made absolute so
 * that it can live in tmpdir; `implicit` sets implicit_regions. With
 * fpga_only, the devices are the CPU and the board only. `extra` (may be
 * NULL) is appended: more keys. */
const char *loop_default_policy(const loop_args *a, int slot, int implicit, int fpga_only,
                                const char *extra);

/* Removes dir and the files in it (one level). */
void loop_rmdir(const char *dir);

/* qv_region_get into *ri with its size set; 0 or the error. */
int loop_region(qv_runtime *rt, const char *name, qv_region_info *ri);

/* One entry of a program, for loop_warm. */
typedef int (*loop_entry_fn)(void *ctx);

/* Runs entries of region `name` until the region replays (replayed grows)
 * and then `extra` more, giving the background compiler idle time while a
 * compile is due; stops after max_entries or max_s. Returns the entries
 * run (negative: an entry failed); *replaying says whether it replays. */
int loop_warm(qv_runtime *rt, const char *name, loop_entry_fn entry, void *ctx,
              int max_entries, double max_s, int extra, int *replaying);

/* Waits (up to max_s) while region `name` has a compile due but none
 * done yet, so that SCHED_IDLE compiles get a core. */
void loop_let_compile(qv_runtime *rt, const char *name, double max_s);

/* The sum of board_us over the runtime's devices (µs), and the tasks run
 * per class (cpu, gpu, fpga) so far. */
double loop_board_us(qv_runtime *rt, double tasks[3]);

double loop_median(double *v, int n);

#define LOOP_CHECK(x)                                                          \
    do {                                                                       \
        int rc_ = (x);                                                         \
        if (rc_) {                                                             \
            fprintf(stderr, "bench_loop: %s:%d: %s: %s (%s)\n", __FILE__,      \
                    __LINE__, #x, qv_strerror(rc_), qv_last_error());          \
            return rc_ < 0 ? rc_ : -rc_;                                       \
        }                                                                      \
    } while (0)

/* ---- overhead.c, starpu.c --------------------------------------------- */

/* A program: tasks on tile handles, in order (bench/overhead's bench_task;
 * kind 4 is a task without buffers). */
typedef struct loop_prog {
    bench_task *t;
    size_t      n;
    int         ntiles;
    const char *name;
} loop_prog;

/* 1 when bench_loop was built with StarPU. */
int loop_starpu_built(void);

/* Runs p on StarPU with scheduler `sched` and ncpu CPU workers: `warm`
 * entries, then `timed` entries timed, each followed by
 * starpu_task_wait_for_all; *us_per_task is the timed wall time over the
 * timed tasks. 0, or -1 on failure. Call it in a child process. */
int loop_starpu(const loop_prog *p, const char *sched, int ncpu, int warm, int timed,
                double *us_per_task);

/* ---- apps.c: the demos' applications, entry by entry ------------------- */

typedef enum { APP_SIGNAL, APP_CHOL } loop_app_kind;

typedef struct loop_app loop_app;

typedef struct loop_app_cfg {
    loop_app_kind kind;
    const char   *region; /* NULL: eager, no region calls */
    int           frames; /* signal: frames per entry */
    unsigned      n;      /* signal: samples per frame (power of two) */
    int           nt, nb; /* chol: tiles per side, tile size */
    int           opencl; /* register the OpenCL implementations */
    int           nofuse; /* signal: name mag "magnitude", so that no plan
                           * maps the chain onto the fused fir_fft_mag */
    int           remote; /* signal: fir and fft on remote boards only */
    int           cpu_only; /* signal: every stage on the CPU only */
} loop_app_cfg;

/* Registers the functions and buffers of the application on rt. */
int  loop_app_create(qv_runtime *rt, const loop_app_cfg *c, loop_app **out);
/* One entry end to end: the host writes new inputs, the tasks run (inside
 * the region when cfg.region is set), and the outputs come home. */
int  loop_app_entry(void *app);
/* The last entry's output against a sequential run: 0 when equal (within
 * float tolerance), 1 when not. */
int  loop_app_check(loop_app *app);
/* The models' estimates for the application's functions on each class,
 * as text ("fir cpu 41 gpu - fpga 30 us; ..."), into buf. */
void loop_app_models(const loop_app *app, char *buf, size_t n);
/* Tasks of one entry. */
int  loop_app_tasks(const loop_app *app);
void loop_app_destroy(loop_app *app);

/* Calibration, so that every run starts with performance models of each
 * function on each class, as a program that ran before on this machine:
 * creates a fresh directory under tmpdir (its path in dir), runs
 * `entries` eager entries of app c on a runtime of policy `eager` whose
 * models are saved there, and returns 0. Remove dir with loop_rmdir. */
int loop_calibrate(const char *tmpdir, const char *eager, int opencl, const loop_app_cfg *c,
                   int entries, char dir[1024]);

#endif
