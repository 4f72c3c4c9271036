/*
 * devq.h - an accelerator's queue and driver thread (struct qv__devq),
 * shared by devq.c (the driver: placement on the device, launches, waits,
 * faults) and devq_open.c (opening the devices of the discovery pool,
 * rescans, closing). Private to host/src/core.
 */
#ifndef QV_CORE_DEVQ_H
#define QV_CORE_DEVQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/board.h"
#include "core/internal.h"
#include "devices/device.h"

/* A copy to make ahead of a replayed task's run (qv__devq_prefetch): the
 * task and the buffer each hold a reference until it is done. */
typedef struct qv__pf {
    struct qv__pf *next;
    qv__task *t;
    qv_buf *b;
} qv__pf;

#define QV__DEVQ_DEPTH 8 /* tasks in flight on a remote board */
#define RETRY_MIN_MS   1000
#define RETRY_MAX_MS   60000

struct qv__devq {
    struct qv_device *dev;
    qv_runtime *rt;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    qv__task *head, *tail;
    bool stop;
    atomic_bool healthy;
    /* Out of service after a fault, a device gets a task again (a probe)
     * from retry_ns on: back in service if it runs it, else the wait
     * doubles (RETRY_MIN_MS to RETRY_MAX_MS). UINT64_MAX: never (a run
     * that hung, a remote board: its link says when it is back). */
    _Atomic uint64_t retry_ns;
    unsigned retry_ms; /* the next wait; driver thread */
    uint64_t back_ns;  /* back in service since; driver thread */
    atomic_bool probing;
    atomic_bool due_told; /* plans were told the probe is due */
    /* The run that outlived its deadline ended (the backend's thread,
     * qv__devq_run_ended), not yet taken by qv__devq_settle_ended: either side may
     * come first. */
    atomic_bool run_ended;
    _Atomic uint64_t ready_ns; /* predicted time its queue drains */
    /* Its last new connection (qv__devq_restored, fresh): a refusal of a
     * run launched before it is the old daemon's. */
    _Atomic uint64_t restored_ns;
    unsigned char *fit; /* per function id: FIT_* bits */
    size_t nfit;
    pthread_mutex_t fit_mu;
    /* Link estimate: the board file's (or discovery's) link until copies
     * are measured, then an EWMA of measured transfers. */
    _Atomic uint64_t bw_bps; /* bytes per second */
    atomic_bool bw_measured;
    double latency_us; /* per transfer */
    uint64_t mem;      /* bytes of device memory; 0: not known */
    bool emulated;     /* the board file's link is the truth
                        * (an emulated board, a remote one) */
    _Atomic uint64_t tasks, failed, bytes_to, bytes_from;
    const qv__board *board;      /* FPGA boards: the board file, else NULL */
    _Atomic unsigned res_id;     /* its resource in rt->pool */
    atomic_bool gone;            /* disappeared at a rescan */
    char name[128];              /* discovery's name */
    char backend[16];            /* discovery's backend */
    double cost_per_hour;        /* discovery's (the board file's) */
    qv__pf *pf_head, *pf_tail;   /* prefetches, under mu */
    atomic_uint pokes;           /* tasks, prefetches and stops queued
                                  * (under mu): an idle driver spins for
                                  * the next before it sleeps */
    _Atomic uint64_t prefetched; /* copies made ahead */
    /* Tasks launched and not waited for yet, oldest first (driver thread):
     * up to depth of them. A remote board takes several, so that its
     * requests overlap the network's round trips; the others one. */
    unsigned depth, nfly;
    struct flight {
        qv__task *t;
        qv_event *ev;
        uint64_t t0;
        int64_t limit; /* its wait's deadline (wait_limit_ns) */
        bool far;      /* counted in rt->far */
        bool loose;    /* launched by a submitting thread (qv__devq_keep_end) */
    } fly[QV__DEVQ_DEPTH];
    /* Flights launched by submitting threads while the driver slept, not
     * landed yet (counted in rt->loose too); under mu: a thread that
     * helped (qv__devq_keep_end, qv__devq_land) saw a reply come meanwhile
     * (qv__devq_replied), which it may have to leave to the driver. */
    atomic_uint loose;
    bool reply_seen;
    /* A flight's time, launch to reply, averaged (driver thread). Longer
     * than a spin, the tasks in flight count in rt->far: a thread waiting
     * for them alone sleeps at once rather than spin on a core that
     * ZeroMQ and, on loopback, the daemon want (bench_remote on 2 cores:
     * the 64-byte run's median 13 us shorter, 30 us less of the host's
     * CPU per task). */
    uint64_t fly_ns;
    /* The task whose launch the driver is in, and when it started (driver
     * thread; read by qv__devq_stuck while the driver is in that launch). */
    qv__task *cur;
    uint64_t cur_t0;
    /* The task being launched (from its copies to its run's end on a
     * device without flights), and the one land waits for, taken off fly
     * (set by the thread that launches, which is also the one whose
     * copies evict frees): a full device frees no copy they use
     * (coherence.c, evict). Atomic: no lock on a launch's path. */
    _Atomic(qv__task *) launching, landing;
    /* Under mu: the driver thread is in a run that its backend hands
     * over as hung (qv__devq_stuck), and may never come back; the
     * hand-over is done; the driver thread ended. */
    bool stuck, handed, exited;
    bool leak;              /* left to a stuck driver at the close */
    pthread_cond_t done_cv; /* handed or exited */
    /* The driver thread as a CPU worker, for the short CPU tasks its
     * tasks ready (qv__on_driver); made by it at the first, read by
     * qv_device_get for its count. */
    _Atomic(qv__worker *) drv;
    /* Under mu: the driver sleeps for want of work, and nobody woke it
     * since; a thread that held its tasks runs them itself (qv__devq_hold_end),
     * and the driver, parked, waits for it to end. */
    bool idle, helping, parked;
};

/* What q knows of a function (q->fit): it failed to build or load here;
 * whether the catalog has a build of its kernel for q's board. */
enum { FIT_BROKEN = 1, FIT_CHECKED = 2, FIT_NO_BUILD = 4 };

/* The driver thread of q (qv__thread_start's function; devq.c). */
void *qv__devq_driver(void *arg);
/* A run of q's that outlived its deadline ended since: q gets its probe
 * (devq.c). */
void qv__devq_settle_ended(qv__devq *q);

#endif
