/*
 * quiverd.h - what the daemon's files share: its options, the boards and
 * kernels it serves (one libquiver runtime whose platform holds the boards
 * of --board, one function per catalog kernel restricted to the FPGA
 * class), its log, and the serve loop (serve.c) that answers the wire
 * protocol (host/src/remote/wire.h) on a ROUTER socket.
 */
#ifndef QV_QUIVERD_H
#define QV_QUIVERD_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config/board.h"
#include "quiver.h"
#include "remote/wire.h"

#define QD_MAX_BOARDS 16

typedef struct qd_options {
    const char *boards[QD_MAX_BOARDS];
    unsigned nboards;
    const char *catalog;
    const char *listen;
    const char *keys; /* NULL: plain */
    int allow_plain;
    const char *log;   /* NULL: stderr */
    unsigned delay_us; /* added to every reply (tests) */
    unsigned fail_launch; /* the launch that fails, from 1 (tests); 0 none */
    int ncpu;          /* workers of the runtime; 0: 2 */
    int spin_us;       /* the runtime's idle spin (µs); -1: chosen from the cores */
    unsigned max_tasks; /* tasks in flight it takes (--max-tasks) */
    uint64_t max_memory; /* bytes of buffers of all clients (--max-memory);
                          * 0: half the machine's memory */
    int cpu;             /* --cpu: the socket's threads' CPU, or QD_CPU_NONE */
} qd_options;

enum { QD_CPU_NONE = -1 };

/* --max-tasks' default: two of the largest RUN (QV_WIRE's 65536 tasks). */
#define QD_MAX_TASKS 131072

/* One served function: the catalog kernel and the signature it was made
 * with. */
typedef struct qd_func {
    qv_func *f;
    const char *name;   /* the function's name, RUN tasks use it */
    const char *kernel; /* catalog name */
    unsigned nargs;
    qv_arg_desc args[QV_MAX_ARGS];
} qd_func;

#define QD_MAX_DEVICES 16 /* the runtime's, at most */

typedef struct qd_daemon {
    const qd_options *opt;
    qv_runtime *rt;
    qv__board *boards[QD_MAX_BOARDS];
    unsigned nboards;
    qd_func *funcs;
    unsigned nfuncs;
    /* HELLO's reply, built once: boards, their kernels. */
    qv_wire_board wboards[QD_MAX_BOARDS];
    qv_wire_kernel *wkernels;
    uint64_t instance;
    qv_wire_limits limits;
    int curve;
    /* Per device of rt, the index in HELLO's boards of the board it is
     * (QV_WIRE_NO_BOARD: none), for a run's reply; and rt's CPU workers,
     * which come before the devices in a node's worker index. */
    uint16_t dev_board[QD_MAX_DEVICES];
    unsigned nworkers;
} qd_daemon;

/* Log line "quiverd: ..." with a timestamp, to --log or stderr. Any
 * thread. */
void qd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Opens the log (NULL: stderr). */
int qd_log_open(const char *path);
/* Keeps the pid for getpid() (pid.c), before any thread starts. */
void qd_pid_keep(void);

/* The served function called name, or NULL. */
const qd_func *qd_func_find(const qd_daemon *d, const char *name);

/* Binds opt->listen and serves until SIGTERM/SIGINT; returns the exit
 * status (0 after a clean stop). */
int qd_serve(qd_daemon *d);

/* Set by the signal handlers: qd_stop (SIGTERM, SIGINT) makes the serve
 * loop stop reading requests, qd_reload (SIGHUP) re-read the authorized
 * client keys. Atomic (lock-free, so signal-safe): a handler may run on
 * any of the daemon's threads, two at once (ThreadSanitizer, under a
 * SIGHUP every 5 ms). */
extern atomic_int qd_stop, qd_reload;

#endif
