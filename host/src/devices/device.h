/*
 * device.h - the backend interface: one struct of operations per kind of
 * device (cpu, opencl, xrt, emu, remote), one file per backend.
 *
 * A backend's device struct starts with `qv_device` (its base) and is
 * dev_size bytes long; the core allocates it zeroed and calls open. A NULL
 * operation means the core default (for alloc/free/write/read: host memory,
 * nothing to copy).
 *
 * The ops struct has no ABI version field: every backend is compiled into
 * libquiver with this header, so none can disagree with the core about its
 * layout, and nothing loads backends built apart. A loader of out-of-tree
 * backends would add a version as the struct's first field and refuse a
 * backend whose version it does not know.
 */
#ifndef QV_DEVICES_DEVICE_H
#define QV_DEVICES_DEVICE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quiver.h"

typedef struct qv_device qv_device;
typedef struct qv_devmem qv_devmem;
typedef struct qv_event qv_event;

/* One call to run: the function and its bound arguments. */
typedef struct qv_launch {
    const qv_func *func;
    qv_cpu_fn      cpu;  /* the CPU implementation, for the cpu backend */
    const qv_call *call; /* host view: sizes, scalars, host pointers */
    qv_devmem *const *mem; /* per argument: device memory of a buffer
                            * (NULL for scalars and 0-byte buffers) */
    int64_t        limit_ns; /* how long the run may take before the device
                              * is judged hung (the wait's timeout); 0 none */
} qv_launch;

/* Returned by a launch that ran the task on the calling driver thread
 * (the emulator's) after its backend handed the run over as hung
 * (qv__devq_stuck): the task was failed over meanwhile, and is not the
 * caller's any more. Not an error code of the API. */
#define QV__HANDED_OVER (-1000)

/* What a failing operation means for the runtime, by its error code:
 *   QV_ENOTSUP, QV_EFORMAT  this function cannot run on this device (a
 *                           build error): never try the pair again;
 *   QV_ENOMEM, QV_EBUSY     no room now (a remote daemon at its bound):
 *                           run this task elsewhere;
 *   QV_E2BIG                this call does not fit the device (a launch
 *                           size of its own): run this task elsewhere, and
 *                           keep sending the function's other calls;
 *   anything else           the device is faulty: stop using it.
 * In every case the task is re-run on another device, the CPU at last. */

/* What query can ask. */
enum {
    QV_QUERY_UNITS = 1, /* unsigned: units that run tasks at once */
    QV_QUERY_NAME,      /* char[]: a human-readable name */
    QV_QUERY_MEMORY,    /* uint64_t: bytes of device memory */
    QV_QUERY_BOARD_US,  /* double: an emulated board's modelled busy time */
    QV_QUERY_RUN_CALLS, /* unsigned: the calls one launch may carry (a
                         * remote board's daemon says, quiverd --max-tasks);
                         * not answered: no bound */
};

struct qv_device {
    const struct qv_device_ops *ops;
    /* Set by close: a thread of the backend still uses the device (a run
     * that never ended), so it must not be freed. */
    bool        leak;
    qv_runtime *rt;
    qv_class    cls;
    unsigned    idx;    /* among devices of this backend */
    unsigned    id;     /* index among the runtime's devices */
    bool        on_host; /* its work runs on the host's CPU cores (open sets
                          * it): the planner counts it against the CPU */
    unsigned host_units; /* on_host: the host's cores one of its tasks
                          * keeps busy (open sets it; 0 taken as 1) */
};

struct qv_device_ops {
    const char *name;     /* "cpu", "opencl", "xrt", "emu", "remote" */
    qv_class    cls;
    size_t      dev_size; /* bytes of the backend's device struct */
    /* Counts devices of this kind (for a board description b, or all). */
    int  (*probe)(const void *b, unsigned *count);
    /* Opens device idx into d (zeroed, base filled in). Any thread. */
    int  (*open)(qv_device *d, unsigned idx, const void *b);
    /* Releases everything open acquired; no call on d is in flight. */
    void (*close)(qv_device *d);
    int  (*alloc)(qv_device *d, size_t n, unsigned bank, qv_devmem **out);
    /* An alloc that returned before the device answered it (a remote
     * board's ALLOC, so that a task's go out together): waits for that
     * answer; its error then, after which the copy is freed. May be NULL
     * (allocs are done when they return). Any thread. */
    int  (*settle)(qv_device *d, qv_devmem *m);
    void (*free)(qv_device *d, qv_devmem *m);
    int  (*write)(qv_device *d, qv_devmem *dst, size_t off, const void *src,
                  size_t n, qv_event **ev);
    int  (*read)(qv_device *d, void *dst, qv_devmem *src, size_t off, size_t n,
                 qv_event **ev);
    /* Starts l; with ev NULL it returns when the call is done. Called by
     * the worker that drives d only. */
    int  (*launch)(qv_device *d, const qv_launch *l, qv_event **ev);
    int  (*wait)(qv_device *d, qv_event *ev, int64_t timeout_ns);
    /* Answers `what` into out (size bytes). Any thread. */
    int  (*query)(qv_device *d, int what, void *out, size_t size);
    /* Gets f ready to launch on d (builds or loads its program), so that
     * the one-time cost stays out of the task's measured time. May be
     * NULL. Errors as launch's. Called by d's driver thread only. */
    int  (*prepare)(qv_device *d, const qv_func *f);
    /* Whether host memory at host holds copy m's bytes as they were before
     * the runs that failed since (a remote board's outputs come home only
     * with a run that succeeded): what a task that failed there updating
     * m in place can run again from. May be NULL (never). Any thread. */
    bool (*mirrored)(qv_device *d, const qv_devmem *m, const void *host);
    /* Whether a launch of f with copy m (NULL: no copy) makes no round
     * trip first: f loaded since the daemon (re)connected, m allocated on
     * the daemon of now. May be NULL (never). Called by whichever thread
     * drives d at the moment (the driver, or one that holds its queue). */
    bool (*ready)(qv_device *d, const qv_func *f, const qv_devmem *m);
};

extern const struct qv_device_ops qv__cpu_ops;
extern const struct qv_device_ops qv__opencl_ops;
extern const struct qv_device_ops qv__emu_ops;
extern const struct qv_device_ops qv__xrt_ops;
extern const struct qv_device_ops qv__remote_ops;

/* Shared by backends (common.c). */
/* Grows a zero-filled table of *n elem-byte entries so that index need
 * fits: the table (moved, perhaps), or NULL when out of memory (the old
 * one is then untouched). */
void *qv__dev_table_grow(void *table, size_t *n, size_t need, size_t elem);
/* Answers QV_QUERY_UNITS, _NAME and _MEMORY; QV_ENOTSUP for the rest. */
int qv__dev_query_basic(int what, void *out, size_t size, unsigned units,
                        const char *name, uint64_t memory);
/* f's FPGA kernel (the catalog entry qv_func_set_fpga bound and checked)
 * and the xclbin of its build for board (a const qv__board *). QV_ENOTSUP
 * with the reason otherwise. */
struct qv__kernel;
/* An emulated board's modelled run time (µs) of kernel k for call c on a
 * board clocked board_mhz (0: the kernel's, else 300): (latency + ii *
 * (trips - 1)) cycles, its trip count from c's scalars, or the catalog's
 * table of measured times. */
double qv__kernel_call_us(const struct qv__kernel *k, double board_mhz, const qv_call *c);
int qv__fpga_kernel_for(const qv_func *f, const void *board,
                        const struct qv__kernel **kernel, const char **xclbin);
/* QV_EMISMATCH (with what differs) unless the xclbin's kernel xk takes the
 * catalog entry k's arguments, in order: names, buffer or scalar, scalar
 * sizes. A catalog that swapped two scalars of one size passed every other
 * check and crashed the process in the kernel. */
struct qv__xclbin_kernel;
int qv__kernel_matches_xclbin(const struct qv__kernel *k, const struct qv__xclbin_kernel *xk,
                              const char *path);
/* QV_EMISMATCH unless xclbin x (read from path) was built for the
 * platform of board (a const qv__board *; NULL, or either platform
 * unknown: not compared). An emulated U280 ran a U250 build without a
 * word (a user's test). */
struct qv__xclbin;
int qv__xclbin_fits_board(const struct qv__xclbin *x, const void *board, const char *path);
/* QV_ENOTSUP, saying which fault, unless xclbin x (read from path) is what
 * an emulated board runs kernel `kernel` from: an sw_emu build whose
 * BITSTREAM section is a shared library (the kernel compiled for the
 * host). board: the board's name, for the message. */
int qv__xclbin_emu_runs(const struct qv__xclbin *x, const char *path, const char *kernel,
                        const char *board);
/* Reads and parses the xclbin at path (at most limit bytes): *data and *x
 * on success (free them with free and qv__xclbin_destroy once done with
 * x, which points into data); QV_ENOTSUP naming the file and the fault. */
int qv__xclbin_read(const char *path, size_t limit, uint8_t **data, struct qv__xclbin **x);
/* The whole check of a catalog build, as a board would make it when it
 * loads the build: the file reads as an xclbin, holds kernel k with the
 * catalog's arguments, is an emulation build exactly when board is
 * emulated, and was built for board's platform. For `quiver check`. */
int qv__xclbin_check_build(const struct qv__kernel *k, const void *board, const char *path);

/* `quiver devices`: says hello to the daemon of remote board `board` (a
 * const qv__board *) and waits up to timeout_ms: 0 with what it serves in
 * info, else an error with the reason in info (remote.c). */
int qv__remote_probe(const void *board, unsigned timeout_ms, char *info, size_t infolen);

/* Whether the daemon of remote device d serves catalog kernel `kernel`, as
 * its last HELLO said (remote.c). */
bool qv__remote_serves(qv_device *d, const char *kernel);

/* `quiver devices` and `quiver plan`: the same for entry `index` of a
 * discovery pool, through its board file (read again): 1 reachable, 0 not
 * (info says why), -1 when the entry is not a remote board's. */
struct qv_pool;
/* Every remote board of pool probed at once, a thread each (twelve silent
 * daemons took twelve timeouts one after another): up[i] as
 * qv__remote_probe_entry's result for entry i (-1: not a remote board),
 * info + i * infolen what it said; n entries. */
void qv__remote_probe_all(struct qv_pool *pool, unsigned timeout_ms, int *up, char *info,
                          size_t infolen, size_t n);
int qv__remote_probe_entry(struct qv_pool *pool, size_t index, unsigned timeout_ms, char *info,
                           size_t infolen);

/* Fault injection for tests (as SQLite's): after `after` more calls of op
 * (QV_FAULT_*) on backend `backend`, that call fails with err; once. */
enum { QV_FAULT_ALLOC = 1, QV_FAULT_WRITE, QV_FAULT_READ, QV_FAULT_LAUNCH, QV_FAULT_WAIT };
void qv__fault_set(const char *backend, int op, unsigned after, int err);
/* As qv__fault_set, but `times` calls in a row fail (QV_FAULT_ALWAYS:
 * every one until the next setting): a persistent fault, which the
 * runtime's retries of an idempotent operation do not get past. */
#define QV_FAULT_ALWAYS UINT_MAX
void qv__fault_set_n(const char *backend, int op, unsigned after, unsigned times,
                     int err);
/* Called by backends at the top of an op: 0, or the error to fail with
 * (after the delay, when one is set for the op). */
int  qv__fault_hit(const char *backend, int op);
/* Every later call of op on backend takes us microseconds longer (0 or a
 * NULL backend: none). */
void qv__fault_delay_set(const char *backend, int op, unsigned us);
/* How many threads are in such a delay now. */
unsigned qv__fault_delaying(void);
/* How many such delays have ended since the process began: a test counts
 * the slow steps a thread took, where timing it would measure the load. */
unsigned qv__fault_delays(void);
/* A pause of us microseconds (0: none) in the thread that completes the
 * last task a host acquisition waits for, right after it lets the host go
 * (qv__task_finish): the window in which the host's caller may go on and
 * release the acquisition, and its task be reused. While armed, a task
 * released to the pool gets a func that no code may follow
 * (qv__task_release), so that a read of it fails at once. */
void qv__fault_pause_set(unsigned us);
bool qv__fault_pausing(void);
void qv__fault_pause(void);

/* CPU backend extras for the worker pool: pins the calling thread to the
 * core of worker idx; false when the system refuses (containers, cgroups
 * without the core), which is not an error. */
int qv__cpu_bind_self(qv_device *d, unsigned idx);

/* Emulated boards, for tests and benchmarks of adaptation: later runs on
 * the emulated board that rt names `device` (as qv_device_get names it)
 * are modelled `factor` times as long, in the board's clock and so in the
 * time the runtime learns (1: as the model says). Any thread, while tasks
 * run; a run already started keeps its time. QV_ENOENT when rt has no
 * emulated board of that name, QV_EINVAL for a factor that is not a
 * finite number > 0. */
int qv__emu_set_slowdown(qv_runtime *rt, const char *device, double factor);

#endif
