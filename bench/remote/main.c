/*
 * main.c - bench_remote: the remote-board figures of issue 11
 * ("Benchmarks"), each beside its baseline in one run.
 *
 *   bench_remote [--rtt] [--mib] [--signal] [--runs N] [--rtt-iters N]
 *                [--mib-iters N] [--frames N] [--share DIR] [--quiverd PATH]
 *                [--paths LIST] [--cpu N] [--smoke]
 *
 * It starts quiverd (the build's, or --quiverd PATH) serving the emulated U250, plain on
 * tcp://127.0.0.1, and a raw ZeroMQ echo process on the same transport,
 * then measures in rounds (--runs), every path once per round, in turn
 * (with no mode, all three):
 *
 * 1. Round trip of a 64-byte run: vadd on n = 16 floats (64-byte buffers)
 *    kept to the remote board, qv_submit + qv_wait_all + the result home
 *    (--rtt-iters times), against a raw DEALER/ROUTER ping-pong of a
 *    64-byte message; between them, the same requests sent by hand to
 *    quiverd with no runtime on the host (wire.c), and the task on the
 *    local emulated board. The daemon's request counter (STATS) says how
 *    many requests each task cost.
 * 2. 1 MiB to the daemon and back: vadd on n = 262144 floats whose input a
 *    the host rewrites before each task (so 1 MiB goes out, 1 MiB of
 *    result comes back; b stays on the board), against raw ZeroMQ sending
 *    a 1 MiB frame zero-copy to the echo and receiving it back. MB/s =
 *    2 MiB over the round trip.
 * 3. The signal chain with the local emulated board only, with a board
 *    served by quiverd beside it (placed by the scheduler), and with fft
 *    kept to the remote board, beside the sequential chain: wall time,
 *    tasks per device, the result check.
 *
 * --cpu N keeps each server's socket thread and ZeroMQ I/O thread on CPU
 * N: quiverd's (its --cpu) and the echo process's alike.
 *
 * --paths raw,heartbeat,...: only those round trips of sections 1 and 2
 * (names in path_opt; raw ZeroMQ's always), so that the CPU a path takes
 * is measured with no other path's threads in the process.
 *
 * Medians per round, then the median [min-max] of the rounds. --smoke
 * runs one short round of everything and checks results and placement,
 * never timings. Files (policies, models, the daemon's log) go to a
 * temporary directory, removed at exit.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remote.h"
#include "vadd/vadd_ref.h"

enum { RTT_N = 16, MIB_N = 262144 };

static void rmdir_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[2048];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            rmdir_tree(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* min, median, max of v[0..n) without reordering v. */
static void stats_of(const double *v, int n, double s[3])
{
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) {
        s[0] = s[1] = s[2] = 0;
        return;
    }
    memcpy(c, v, (size_t)n * sizeof *c);
    br_stats(c, n, s);
    free(c);
}

/* A path's round trips (µs, one median per round) and, beside raw (NULL:
 * none), its difference from raw ZeroMQ round by round: the load of the
 * shared machine moves both within a run. */
static void print_row(const char *path, const char *what, const double *v, int runs,
                      const double *raw)
{
    double s[3], d[100];
    if (!v)
        return; /* not measured (--paths) */
    stats_of(v, runs, s);
    printf("| %s | %s | %.1f [%.1f-%.1f] |", path, what, s[1], s[0], s[2]);
    if (!raw) {
        printf(" - |\n");
        return;
    }
    for (int r = 0; r < runs; r++)
        d[r] = v[r] - raw[r];
    stats_of(d, runs, s);
    printf(" %+.1f [%+.1f to %+.1f] |\n", s[1], s[0], s[2]);
}

/* As print_row for 1 MiB: MB/s, and the throughput over raw ZeroMQ's,
 * round by round. */
static void print_mbs_row(const char *path, const double *us, int runs, const double *raw)
{
    double s[3], q[100], bytes = 2.0 * MIB_N * sizeof(float);
    if (!us)
        return; /* not measured (--paths) */
    stats_of(us, runs, s);
    printf("| %s | %.0f [%.0f-%.0f] | %.0f [%.0f-%.0f] |", path, s[1], s[0], s[2],
           bytes / s[1], bytes / s[2], bytes / s[0]); /* bytes per µs = MB/s */
    if (!raw) {
        printf(" 1 |\n");
        return;
    }
    for (int r = 0; r < runs; r++)
        q[r] = raw[r] / us[r];
    stats_of(q, runs, s);
    printf(" %.2f [%.2f-%.2f] |\n", s[1], s[0], s[2]);
}

static int vadd_ok(const float *a, const float *b, const float *out, uint32_t n,
                   const char *what)
{
    for (uint32_t i = 0; i < n; i++)
        if (out[i] != a[i] + b[i]) {
            fprintf(stderr, "bench_remote: %s: out[%u] = %g, expected %g\n", what, i,
                    (double)out[i], (double)(a[i] + b[i]));
            return -1;
        }
    return 0;
}

/* The paths a round trip takes, each measured in every round. */
enum { P_RAW, P_HB, P_WR, P_RUN, P_RUNO, P_WRUN, P_WRUNO, P_Q, P_QW, P_LOCAL, P_COUNT };

typedef struct path {
    int kind;      /* 0 raw ZeroMQ, 1 the wire by hand, 2 libquiver */
    unsigned wire; /* kind 1: BR_WIRE_* */
    qv_class cls;  /* kind 2: where vadd is kept */
    int write_a;   /* kind 2: the host rewrites a first */
} path;

static const path paths[P_COUNT] = {
    [P_RAW] = {0, 0, QV_CLASS_CPU, 0},
    [P_HB] = {1, BR_WIRE_HEARTBEAT, QV_CLASS_CPU, 0},
    [P_WR] = {1, BR_WIRE_WRITE | BR_WIRE_READ, QV_CLASS_CPU, 0},
    [P_RUN] = {1, BR_WIRE_RUN | BR_WIRE_READ, QV_CLASS_CPU, 0},
    [P_RUNO] = {1, BR_WIRE_RUN | BR_WIRE_OUT, QV_CLASS_CPU, 0},
    [P_WRUN] = {1, BR_WIRE_WRITE | BR_WIRE_RUN | BR_WIRE_READ, QV_CLASS_CPU, 0},
    [P_WRUNO] = {1, BR_WIRE_WRITE | BR_WIRE_RUN | BR_WIRE_OUT, QV_CLASS_CPU, 0},
    [P_Q] = {2, 0, QV_CLASS_REMOTE, 0},
    [P_QW] = {2, 0, QV_CLASS_REMOTE, 1},
    [P_LOCAL] = {2, 0, QV_CLASS_FPGA, 1},
};

/* The round trips of one size on the paths of mask, `runs` rounds:
 * us[path][run] get each round's median. For the libquiver paths on the
 * remote board, req: the daemon's requests per task (its STATS counter),
 * task_us: the task's time on the daemon (board_us). */
typedef struct vadd_bench {
    const br_args *a;
    const char *echo_ep, *ep, *policy;
    uint32_t n;
    int iters;
    unsigned mask; /* 1 << P_* */
    double *us[P_COUNT];
    double req[P_COUNT], task_us[P_COUNT], first_us;
    double memcpy_us; /* a memcpy of the buffer's size, median */
    double vadd_us;   /* the plain C vadd on the buffers, median */
    pid_t echo_pid;
    /* CPU time per round trip, over every round: this process (the
     * client) and the one that answers (the echo process or quiverd; none
     * for the local board). */
    double cpu_host[P_COUNT], cpu_srv[P_COUNT];
    uint64_t remote_tasks, local_tasks;
    uint64_t chunks; /* turns taken, each placing vadd once per path */
} vadd_bench;

enum { CHUNK = 100 }; /* round trips per path and turn */

/* One round trip on path p, timed into *us. */
static int round_trip(int p, void *esock, br_wire *w, br_quiver *q, size_t bytes,
                      float *wo, double *us)
{
    if (paths[p].kind == 0)
        return br_raw_pingpong(esock, bytes, 1, us);
    if (paths[p].kind == 1)
        return br_wire_round(w, paths[p].wire, wo, us);
    return br_quiver_vadd(q, paths[p].write_a, us);
}

static int vadd_rounds(vadd_bench *vb)
{
    int rc = -1, runs = vb->a->runs, it = vb->iters;
    size_t bytes = (size_t)vb->n * sizeof(float);
    float *qa = malloc(bytes), *qb = malloc(bytes), *qo = calloc(vb->n, sizeof(float));
    float *wa = malloc(bytes), *wb = malloc(bytes), *wo = calloc(vb->n, sizeof(float));
    float *scratch = malloc(bytes);
    double *samp = malloc((size_t)(it > 20 ? it : 20) * sizeof *samp);
    void *ectx = NULL, *esock = NULL;
    br_wire *w = NULL;
    br_quiver *q = NULL;
    if (!qa || !qb || !qo || !wa || !wb || !wo || !samp || !scratch)
        goto out;
    for (uint32_t i = 0; i < vb->n; i++) {
        qa[i] = wa[i] = (float)(i % 1000) * 0.5f;
        qb[i] = wb[i] = 1.0f / (float)(i + 1);
    }
    if (!(esock = br_dealer(vb->echo_ep, &ectx)) ||
        !(w = br_wire_open(vb->ep, vb->n, wa, wb)) ||
        !(q = br_quiver_open(vb->policy, vb->n, qa, qb, qo)))
        goto out;
    /* Warm-up: connections, the daemon's first allocations and load, the
     * local board's. */
    double d;
    if (br_raw_pingpong(esock, bytes, 20, samp) != 0 ||
        br_wire_round(w, paths[P_WRUN].wire, wo, &d) != 0 ||
        br_quiver_place(q, QV_CLASS_REMOTE, 5, &vb->first_us) != 0 ||
        br_quiver_place(q, QV_CLASS_FPGA, 5, NULL) != 0)
        goto out;
    qv_device_info rd0, rd1, ld0, ld1;
    if (br_quiver_device(q, QV_CLASS_REMOTE, &rd0) < 0 ||
        br_quiver_device(q, QV_CLASS_FPGA, &ld0) < 0) {
        fprintf(stderr, "bench_remote: the runtime has no remote or no local board\n");
        goto out;
    }
    /* The paths take turns every CHUNK round trips, so that the load of a
     * shared machine, which drifts within seconds, weighs on all alike. */
    double *mc = calloc((size_t)runs, sizeof *mc), *sp[P_COUNT] = {0};
    double *vk = calloc((size_t)runs, sizeof *vk);
    for (int p = 0; p < P_COUNT && mc && vk; p++)
        if (!(sp[p] = calloc((size_t)it, sizeof(double))))
            goto out_mc;
    if (!mc || !vk)
        goto out_mc;
    for (int r = 0; r < runs; r++) {
        for (int done = 0; done < it; vb->chunks++) {
            int k = it - done < CHUNK ? it - done : CHUNK;
            for (int p = 0; p < P_COUNT; p++) {
                if (!(vb->mask & 1u << p))
                    continue;
                uint64_t req0 = 0, req1 = 0, in;
                qv_device_info t0, t1;
                int remote = paths[p].kind == 2 && paths[p].cls == QV_CLASS_REMOTE;
                if (paths[p].kind == 2 &&
                    (br_quiver_place(q, paths[p].cls, 1, NULL) != 0 ||
                     br_quiver_device(q, QV_CLASS_REMOTE, &t0) < 0))
                    goto out_mc;
                if (remote && br_wire_stats(w, &req0, &in) != 0)
                    goto out_mc;
                pid_t srv = paths[p].kind == 0                 ? vb->echo_pid
                            : paths[p].cls == QV_CLASS_FPGA ? 0
                                                            : br_daemon_pid();
                double h0 = br_cpu_us(getpid()), s0 = srv > 0 ? br_cpu_us(srv) : 0;
                for (int i = 0; i < k; i++)
                    if (round_trip(p, esock, w, q, bytes, wo, &sp[p][done + i]) != 0)
                        goto out_mc;
                vb->cpu_host[p] += br_cpu_us(getpid()) - h0;
                if (srv > 0)
                    vb->cpu_srv[p] += br_cpu_us(srv) - s0;
                if (p == P_WR && memcmp(wo, wa, bytes) != 0) {
                    fprintf(stderr,
                            "bench_remote: the wire's READ differs from its WRITE\n");
                    goto out_mc;
                }
                if (remote) {
                    if (br_wire_stats(w, &req1, &in) != 0 ||
                        br_quiver_device(q, QV_CLASS_REMOTE, &t1) < 0)
                        goto out_mc;
                    vb->req[p] += (double)(req1 - req0 - 1); /* less the STATS itself */
                    vb->task_us[p] += t1.board_us - t0.board_us;
                }
            }
            done += k;
        }
        for (int p = 0; p < P_COUNT; p++)
            if (vb->mask & 1u << p)
                vb->us[p][r] = br_median(sp[p], it);
        for (int i = 0; i < it; i++) { /* the copies' yardstick */
            double t0 = br_now();
            memcpy(scratch, qa, bytes);
            samp[i] = (br_now() - t0) * 1e6;
        }
        mc[r] = br_median(samp, it);
        /* The kernel's work alone, the plain C reference on an input just
         * copied in, as a run finds it (out in place of a): what the
         * daemon's board must do between a run's input and its output. */
        for (int i = 0; i < it; i++) {
            memcpy(scratch, qa, bytes);
            double t0 = br_now();
            qv_hls_vadd_ref(scratch, qb, scratch, vb->n);
            samp[i] = (br_now() - t0) * 1e6;
        }
        vk[r] = br_median(samp, it);
    }
    for (int p = 0; p < P_COUNT; p++) {
        vb->req[p] /= (double)it * runs;
        vb->task_us[p] /= (double)it * runs;
        vb->cpu_host[p] /= (double)it * runs;
        vb->cpu_srv[p] /= (double)it * runs;
    }
    vb->memcpy_us = br_median(mc, runs);
    vb->vadd_us = br_median(vk, runs);
    br_quiver_device(q, QV_CLASS_REMOTE, &rd1);
    br_quiver_device(q, QV_CLASS_FPGA, &ld1);
    vb->remote_tasks = rd1.tasks - rd0.tasks;
    vb->local_tasks = ld1.tasks - ld0.tasks;
    if (vadd_ok(qa, qb, qo, vb->n, "libquiver's vadd") != 0 ||
        ((vb->mask & (1u << P_RUN | 1u << P_RUNO | 1u << P_WRUN | 1u << P_WRUNO)) &&
         vadd_ok(wa, wb, wo, vb->n, "the wire vadd") != 0))
        goto out_mc;
    if (rd1.failed != rd0.failed || ld1.failed != ld0.failed) {
        fprintf(stderr, "bench_remote: tasks failed on a board and ran elsewhere\n");
        goto out_mc;
    }
    rc = 0;
out_mc:
    free(mc);
    free(vk);
    for (int p = 0; p < P_COUNT; p++)
        free(sp[p]);
out:
    br_quiver_close(q);
    br_wire_close(w);
    br_dealer_close(ectx, esock);
    br_raw_release();
    free(qa);
    free(qb);
    free(qo);
    free(wa);
    free(wb);
    free(wo);
    free(scratch);
    free(samp);
    return rc;
}

static int alloc_series(vadd_bench *vb, int runs)
{
    for (int p = 0; p < P_COUNT; p++)
        if ((vb->mask & 1u << p) && !(vb->us[p] = calloc((size_t)runs, sizeof(double))))
            return -1;
    return 0;
}

static void free_series(vadd_bench *vb)
{
    for (int p = 0; p < P_COUNT; p++)
        free(vb->us[p]);
}

/* Tasks the rounds put on each board: the timed ones and a placing task
 * per path and turn. */
static int placed_right(const vadd_bench *vb)
{
    uint64_t per = (uint64_t)vb->iters * (uint64_t)vb->a->runs + vb->chunks, remote = 0,
             local = 0;
    for (int p = 0; p < P_COUNT; p++)
        if ((vb->mask & 1u << p) && paths[p].kind == 2)
            *(paths[p].cls == QV_CLASS_REMOTE ? &remote : &local) += per;
    if (vb->remote_tasks == remote && vb->local_tasks == local)
        return 0;
    fprintf(stderr,
            "bench_remote: %llu tasks on the remote board and %llu on the local one, "
            "not %llu and %llu\n",
            (unsigned long long)vb->remote_tasks, (unsigned long long)vb->local_tasks,
            (unsigned long long)remote, (unsigned long long)local);
    return -1;
}

/* Short names of the paths, for the CPU table. */
static const char *const path_name[P_COUNT] = {
    [P_RAW] = "raw ZeroMQ",
    [P_HB] = "quiverd by hand: HEARTBEAT",
    [P_WR] = "quiverd by hand: WRITE + READ",
    [P_RUN] = "quiverd by hand: RUN + READ",
    [P_RUNO] = "quiverd by hand: RUN, out in its reply",
    [P_WRUN] = "quiverd by hand: WRITE + RUN + READ",
    [P_WRUNO] = "quiverd by hand: WRITE + RUN, out in its reply",
    [P_Q] = "libquiver, remote board",
    [P_QW] = "libquiver, the host rewrote a, remote board",
    [P_LOCAL] = "libquiver, local emulated board",
};

/* --paths' names of the paths. */
static const char *const path_opt[P_COUNT] = {
    [P_RAW] = "raw",         [P_HB] = "heartbeat", [P_WR] = "write-read",
    [P_RUN] = "run-read",    [P_RUNO] = "run",     [P_WRUN] = "write-run-read",
    [P_WRUNO] = "write-run", [P_Q] = "libquiver",  [P_QW] = "libquiver-write",
    [P_LOCAL] = "local",
};

/* The paths of --paths' comma-separated list (raw's always); 0 when a
 * name is unknown. */
static unsigned parse_paths(const char *list)
{
    unsigned m = 1u << P_RAW;
    char name[64];
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof name)
            return 0;
        memcpy(name, p, n);
        name[n] = 0;
        int k = 0;
        while (k < P_COUNT && strcmp(path_opt[k], name) != 0)
            k++;
        if (k == P_COUNT)
            return 0;
        m |= 1u << k;
        p += n + (p[n] == ',');
    }
    return m;
}

/* Where the cores went: on a machine whose cores both ends share, a round
 * trip lasts about as long as the CPU it takes. */
static void print_cpu(const vadd_bench *vb)
{
    printf("CPU time per round trip over every round (user and system, every thread; "
           "the client is this process, with the runtime's threads; the server the echo "
           "process or quiverd):\n\n"
           "| path | client us | server us | both us |\n|---|---|---|---|\n");
    for (int p = 0; p < P_COUNT; p++)
        if (vb->mask & 1u << p)
            printf("| %s | %.1f | %.1f | %.1f |\n", path_name[p], vb->cpu_host[p],
                   vb->cpu_srv[p], vb->cpu_host[p] + vb->cpu_srv[p]);
    printf("\n");
}

static int bench_rtt(const br_args *a, const char *echo_ep, pid_t echo, const char *ep,
                     const char *policy)
{
    vadd_bench vb = {.a = a,
                     .echo_ep = echo_ep,
                     .echo_pid = echo,
                     .ep = ep,
                     .policy = policy,
                     .n = RTT_N,
                     .iters = a->rtt_iters,
                     .mask = ((1u << P_COUNT) - 1) & a->paths};
    int rc = alloc_series(&vb, a->runs);
    if (!rc)
        rc = vadd_rounds(&vb);
    if (!rc)
        rc = placed_right(&vb);
    if (!rc) {
        const double *raw = vb.us[P_RAW];
        printf(
            "### 1. Round trip of a 64-byte run (vadd, n = 16 floats), %d per path and "
            "round, %d rounds\n\n",
            a->rtt_iters, a->runs);
        printf("| path | what crosses the socket per round trip | us median [min-max] of "
               "the "
               "rounds | minus raw ZeroMQ in the same round, median [min to max] |\n"
               "|---|---|---|---|\n");
        print_row("raw ZeroMQ DEALER/ROUTER ping-pong, echo process",
                  "one 64-byte message", raw, a->runs, NULL);
        print_row("quiverd by hand: HEARTBEAT (answered by its socket thread)",
                  "one request, one reply", vb.us[P_HB], a->runs, raw);
        print_row("quiverd by hand: WRITE a + READ a (no run; copied at once, no task uses a)",
                  "WRITE 64 B + READ 64 B, pipelined", vb.us[P_WR], a->runs, raw);
        print_row("quiverd by hand: RUN vadd + READ out", "RUN + READ 64 B, pipelined",
                  vb.us[P_RUN], a->runs, raw);
        print_row("quiverd by hand: RUN vadd, out in its reply",
                  "RUN (its reply: out's 64 B)", vb.us[P_RUNO], a->runs, raw);
        print_row("quiverd by hand: WRITE a + RUN + READ out",
                  "WRITE 64 B + RUN + READ 64 B, pipelined", vb.us[P_WRUN], a->runs, raw);
        print_row("quiverd by hand: WRITE a + RUN, out in its reply",
                  "WRITE 64 B + RUN (its reply: out's 64 B), pipelined", vb.us[P_WRUNO],
                  a->runs, raw);
        char what[160];
        snprintf(what, sizeof what, "%.2f requests per task (RUN; out in its reply)",
                 vb.req[P_Q]);
        print_row("libquiver: qv_submit + qv_wait_all, remote board", what, vb.us[P_Q],
                  a->runs, raw);
        snprintf(what, sizeof what, "%.2f requests per task (WRITE + RUN)",
                 vb.req[P_QW]);
        print_row("libquiver: the host rewrote a first (qv_buf_acquire), remote board",
                  what, vb.us[P_QW], a->runs, raw);
        print_row("libquiver: the same on the local emulated board",
                  "nothing (no network)", vb.us[P_LOCAL], a->runs, NULL);
        printf("\nlibquiver's first task on the remote board (3 ALLOCs, LOAD, 2 WRITEs, "
               "RUN): %.0f us. The task on the daemon (its node's start to end, "
               "qv_device_info.board_us): %.1f us.\n",
               vb.first_us, vb.task_us[P_Q]);
        printf(
            "tasks: %llu on the remote board, %llu on the local board, as placed, none "
            "failed\n\n",
            (unsigned long long)vb.remote_tasks, (unsigned long long)vb.local_tasks);
        print_cpu(&vb);
    }
    free_series(&vb);
    return rc;
}

static int bench_mib(const br_args *a, const char *echo_ep, pid_t echo, const char *ep,
                     const char *policy)
{
    vadd_bench vb = {.a = a,
                     .echo_ep = echo_ep,
                     .echo_pid = echo,
                     .ep = ep,
                     .policy = policy,
                     .n = MIB_N,
                     .iters = a->mib_iters,
                     .mask = (1u << P_RAW | 1u << P_WR | 1u << P_WRUN | 1u << P_WRUNO |
                              1u << P_QW | 1u << P_LOCAL) &
                             a->paths};
    int rc = alloc_series(&vb, a->runs);
    if (!rc)
        rc = vadd_rounds(&vb);
    if (!rc)
        rc = placed_right(&vb);
    if (!rc) {
        double bytes = 2.0 * MIB_N * sizeof(float);
        const double *raw = vb.us[P_RAW];
        printf(
            "### 2. 1 MiB to the daemon and back (vadd, n = 262144 floats, a rewritten "
            "by the host before each task, b left on the board), %d per path and round, "
            "%d rounds\n\n",
            a->mib_iters, a->runs);
        printf("| path | us per round trip, median [min-max] of the rounds | MB/s (2 MiB "
               "per "
               "round trip) | MB/s over raw ZeroMQ's in the same round, median [min-max] "
               "|\n|---|---|---|---|\n");
        print_mbs_row("raw ZeroMQ, 1 MiB zero-copy to the echo process and back", raw,
                      a->runs, NULL);
        print_mbs_row("quiverd by hand: WRITE 1 MiB + READ it back (no run)", vb.us[P_WR],
                      a->runs, raw);
        print_mbs_row("quiverd by hand: WRITE a 1 MiB + RUN + READ out 1 MiB",
                      vb.us[P_WRUN], a->runs, raw);
        print_mbs_row("quiverd by hand: WRITE a 1 MiB + RUN, out's 1 MiB in its reply",
                      vb.us[P_WRUNO], a->runs, raw);
        print_mbs_row("libquiver: qv_buf_acquire/release a, qv_submit, qv_wait_all, "
                      "remote board",
                      vb.us[P_QW], a->runs, raw);
        print_mbs_row("libquiver: the same on the local emulated board (no network)",
                      vb.us[P_LOCAL], a->runs, raw);
        double rawm = br_median(vb.us[P_RAW], a->runs), base = bytes / rawm;
        double q = vb.us[P_QW] ? br_median(vb.us[P_QW], a->runs) : 0;
        if (q > 0)
            printf(
                "\nThe task on the daemon (the time its runtime recorded, start to end, "
                "qv_device_info.board_us): %.0f us per task; libquiver less that: %.0f "
                "MB/s, %.2f "
                "of raw ZeroMQ. A memcpy of 1 MiB here: %.0f us. Requests per task: "
                "%.2f.\n\n",
                vb.task_us[P_QW], bytes / (q - vb.task_us[P_QW]),
                bytes / (q - vb.task_us[P_QW]) / base, vb.memcpy_us, vb.req[P_QW]);
        else
            printf("\n");
        /* What a daemon that only received, ran the task as the local board
         * does, and sent, one after the other, would reach: the task's own
         * work (copies to and from the board, the kernel) is not
         * network time, and raw ZeroMQ's echo does none. */
        double loc = vb.us[P_LOCAL] ? br_median(vb.us[P_LOCAL], a->runs) : 0;
        if (q > 0 && loc > 0)
            printf("In sequence, raw ZeroMQ's round trip and the same task on the local "
                   "emulated board take %.0f us: %.2f of raw ZeroMQ's throughput, what a "
                   "daemon would reach that added nothing to them but overlapped "
                   "nothing either. The kernel's work alone (the plain C vadd on "
                   "these buffers, median): %.0f us; a run cannot start before its input "
                   "is in nor answer before it ends, so no round trip with a run is "
                   "under raw ZeroMQ's plus that: at best %.2f of raw ZeroMQ's "
                   "throughput.\n\n",
                   rawm + loc, rawm / (rawm + loc), vb.vadd_us,
                   rawm / (rawm + vb.vadd_us));
        print_cpu(&vb);
    }
    free_series(&vb);
    return rc;
}

static int bench_signal(const br_args *a, const char *ep)
{
    static const char *cfg[3] = {"local emulated board only",
                                 "local + remote board, placed by "
                                 "the scheduler",
                                 "local + remote board, fft kept to the remote "
                                 "board"};
    char pol[3][1024], models[3][1024];
    if (br_policy(a, ep, "signal-local", "[cpu, fpga]", 1, 0, pol[0], sizeof pol[0]) ||
        br_policy(a, ep, "signal-both", "[cpu, fpga, remote]", 1, 1, pol[1],
                  sizeof pol[1]))
        return -1;
    snprintf(pol[2], sizeof pol[2], "%s", pol[1]);
    for (int c = 0; c < 3; c++)
        snprintf(models[c], sizeof models[c], "%s/models-%d", a->tmpdir, c);
    double *wall[4];
    br_signal_out last[3];
    uint64_t remote_all[3] = {0, 0, 0}; /* remote-board tasks, all rounds */
    int rc = 0;
    for (int c = 0; c < 4; c++)
        if (!(wall[c] = calloc((size_t)a->runs, sizeof(double))))
            rc = -1;
    for (int r = 0; r < a->runs && !rc; r++) {
        wall[3][r] = br_signal_seq_ms(a->frames);
        for (int c = 0; c < 3 && !rc; c++) {
            unsigned where = c == 2 ? 1u << QV_CLASS_REMOTE : 0;
            rc = br_signal_run(pol[c], models[c], a->frames, where, &last[c]);
            if (!rc && !last[c].ok) {
                fprintf(stderr,
                        "bench_remote: signal chain (%s): results differ from the "
                        "sequential run by %.1e\n",
                        cfg[c], last[c].worst);
                rc = -1;
            }
            wall[c][r] = last[c].wall_ms;
            for (unsigned d = 0; d < last[c].ndev; d++)
                if (last[c].cls[d] == QV_CLASS_REMOTE)
                    remote_all[c] += last[c].tasks[d];
        }
    }
    if (!rc) {
        printf(
            "### 3. The signal chain (fir -> fft -> mag), %d frames of 1024 samples, "
            "%d rounds; models kept across rounds (the first round starts without)\n\n",
            a->frames, a->runs);
        printf(
            "| configuration | wall ms median [min-max] | tasks per device (last round) "
            "| replayed / fused entries | check |\n|---|---|---|---|---|\n");
        double s[3];
        br_stats(wall[3], a->runs, s);
        printf("| sequential C, the references, no runtime | %.1f [%.1f-%.1f] | - | - | "
               "- |\n",
               s[1], s[0], s[2]);
        for (int c = 0; c < 3; c++) {
            br_stats(wall[c], a->runs, s);
            printf("| %s | %.1f [%.1f-%.1f] | ", cfg[c], s[1], s[0], s[2]);
            for (unsigned d = 0; d < last[c].ndev; d++)
                printf("%s%s %llu%s", d ? ", " : "", qv_class_name(last[c].cls[d]),
                       (unsigned long long)last[c].tasks[d],
                       last[c].failed[d] ? " (some failed)" : "");
            printf(" | %llu / %llu | %.1e OK |\n", (unsigned long long)last[c].replayed,
                   (unsigned long long)last[c].fused, last[c].worst);
        }
        printf("\nTasks on the remote board over all %d rounds (%d tasks each): placed "
               "by the "
               "scheduler %llu, fft kept there %llu.\n\n",
               a->runs, 3 * a->frames, (unsigned long long)remote_all[1],
               (unsigned long long)remote_all[2]);
        /* Where fft is kept to the remote board, that board runs every FFT. */
        uint64_t remote = 0;
        for (unsigned d = 0; d < last[2].ndev; d++)
            if (last[2].cls[d] == QV_CLASS_REMOTE)
                remote += last[2].tasks[d];
        if (remote < (uint64_t)a->frames) {
            fprintf(stderr,
                    "bench_remote: the remote board ran %llu tasks, not the %d FFTs\n",
                    (unsigned long long)remote, a->frames);
            rc = -1;
        }
    }
    for (int c = 0; c < 4; c++)
        free(wall[c]);
    return rc;
}

static void loadavg(char *buf, size_t n)
{
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) {
        if (!fgets(buf, (int)n, f))
            buf[0] = 0;
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
}

int main(int argc, char **argv)
{
    br_args a = {0, 5, 2000, 50, 64, QV_REMOTE_SHARE, NULL, QV_QUIVERD, ~0u, -1};
    int modes[3] = {0, 0, 0}, any = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rtt") || !strcmp(argv[i], "--mib") ||
            !strcmp(argv[i], "--signal"))
            modes[argv[i][2] == 'r' ? 0 : argv[i][2] == 'm' ? 1 : 2] = any = 1;
        else if (!strcmp(argv[i], "--smoke"))
            a.smoke = 1;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            a.runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rtt-iters") && i + 1 < argc)
            a.rtt_iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mib-iters") && i + 1 < argc)
            a.mib_iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--frames") && i + 1 < argc)
            a.frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--share") && i + 1 < argc)
            a.share = argv[++i];
        else if (!strcmp(argv[i], "--quiverd") && i + 1 < argc)
            a.quiverd = argv[++i];
        else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
            a.cpu = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--paths") && i + 1 < argc &&
                 (a.paths = parse_paths(argv[++i])) != 0)
            continue;
        else {
            fprintf(stderr, "usage: bench_remote [--rtt] [--mib] [--signal] [--runs N] "
                            "[--rtt-iters N] [--mib-iters N] [--frames N] [--share DIR] "
                            "[--quiverd PATH] [--paths LIST] [--cpu N] [--smoke]\n");
            return 2;
        }
    }
    if (a.smoke) {
        a.runs = 1;
        a.rtt_iters = 20;
        a.mib_iters = 3;
        a.frames = 8;
    }
    if (a.runs < 1 || a.runs > 100 || a.rtt_iters < 1 || a.mib_iters < 1 ||
        a.frames < 1 || a.frames > 4096 || a.cpu < -1 || a.cpu >= 1024) {
        fprintf(stderr, "bench_remote: --runs must be 1..100, --frames 1..4096, --cpu "
                        "0..1023, the iterations at least 1\n");
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/bench_remote.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench_remote: mkdtemp");
        return 1;
    }
    a.tmpdir = dir;
    char echo_ep[256], ep[256], policy[1024], load[128];
    int failed = 1;
    pid_t echo = br_echo_start(echo_ep, sizeof echo_ep, a.cpu);
    if (echo < 0) {
        rmdir_tree(dir);
        return 1;
    }
    loadavg(load, sizeof load);
    if (br_daemon_start(&a, ep, sizeof ep) == 0 &&
        br_policy(&a, ep, "vadd", "[cpu, fpga, remote]", 1, 1, policy, sizeof policy) ==
            0) {
        char pin[96] = "on any CPU";
        if (a.cpu >= 0)
            snprintf(pin, sizeof pin, "on CPU %d (--cpu; quiverd --cpu %d)", a.cpu,
                     a.cpu);
        printf(
            "bench_remote%s: quiverd at %s (emulated U250, plain), raw ZeroMQ echo at "
            "%s; "
            "each one's socket thread and ZeroMQ I/O thread %s; load average at start: "
            "%s\n\n",
            a.smoke ? " --smoke" : "", ep, echo_ep, pin, load);
        fflush(stdout);
        double t0 = br_now();
        failed = 0;
        if (!any)
            modes[0] = modes[1] = modes[2] = 1;
        if (modes[0])
            failed = bench_rtt(&a, echo_ep, echo, ep, policy) != 0;
        fflush(stdout);
        if (!failed && modes[1])
            failed = bench_mib(&a, echo_ep, echo, ep, policy) != 0;
        fflush(stdout);
        if (!failed && modes[2])
            failed = bench_signal(&a, ep) != 0;
        loadavg(load, sizeof load);
        printf("(%.0f s; load average at the end: %s)\n", br_now() - t0, load);
    }
    br_daemon_stop();
    br_echo_stop(echo, echo_ep);
    rmdir_tree(dir);
    return failed;
}
