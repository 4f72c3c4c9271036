/*
 * remote.h - bench_remote, the remote-board benchmarks of issue 11: what
 * its files share. main.c runs the measurements and prints; daemon.c
 * starts quiverd and the raw ZeroMQ echo process and writes the board and
 * policy files; raw.c is the raw ZeroMQ baselines; wire.c speaks quiverd's
 * protocol with no runtime on the host; quiver.c measures libquiver;
 * signal.c runs the signal chain.
 */
#ifndef QV_BENCH_REMOTE_H
#define QV_BENCH_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "quiver.h"

/* What one invocation measures, and where its files go. */
typedef struct br_args {
    int smoke;           /* tiny sizes, one run, results checked only */
    int runs;            /* rounds; each measures every path once */
    int rtt_iters;       /* round trips per path and round */
    int mib_iters;       /* 1 MiB round trips per path and round */
    int frames;          /* signal chain: frames per run */
    const char *share;   /* share/quiver of the build */
    const char *tmpdir;  /* policy, board and model files; the daemon's log */
    const char *quiverd; /* the daemon's program */
    unsigned paths;      /* --paths: the round trips measured (1 << path), raw's always */
    int cpu;             /* the servers' socket threads' CPU; -1: any (--unpinned) */
} br_args;

double br_now(void); /* seconds, monotonic */
double br_median(double *v, int n);
/* min, median and max of v[0..n) (v is sorted) into s[0..2]. */
void br_stats(double *v, int n, double s[3]);

/* ---- daemon.c: the processes and files the measurements use ---------- */

/* Starts quiverd (a->quiverd) serving the emulated U250 on
 * tcp://127.0.0.1 (a port it picks, read from its log), plain, and waits
 * until it answers HELLO. Its endpoint into ep. 0, or -1 with a message on
 * stderr. It dies with this process (PR_SET_PDEATHSIG). */
int br_daemon_start(const br_args *a, char *ep, size_t eplen);
/* SIGTERM to the daemon, then waits for it. */
void br_daemon_stop(void);
/* The daemon's pid, or -1 when none runs. */
pid_t br_daemon_pid(void);
/* The CPU time (user and system, every thread) that process pid has used,
 * in microseconds; -1 when it cannot be read. */
double br_cpu_us(pid_t pid);

/* Forks a process that echoes every message a ROUTER on tcp://127.0.0.1
 * receives back to its sender, zero-copy (the received message is sent
 * back as it is); its endpoint into ep. Returns its pid, or -1. */
pid_t br_echo_start(char *ep, size_t eplen, int cpu);
/* Sends the echo process its stop message on ep and waits for it. */
void br_echo_stop(pid_t pid, const char *ep);

/* Writes tmpdir/remote-emu.yaml, a remote board at endpoint ep that
 * serves the emulated U250, and a policy tmpdir/NAME.yaml with devices
 * `devices` (e.g. "[cpu, fpga, remote]") whose boards are the local
 * emulated U250 when local, and the remote board when remote. The policy's
 * path into out. 0 or -1. */
int br_policy(const br_args *a, const char *ep, const char *name, const char *devices,
              int local, int remote, char *out, size_t outlen);

/* ---- raw.c: ZeroMQ alone --------------------------------------------- */

/* A DEALER of a new context connected to ep; NULL on failure. */
void *br_dealer(const char *ep, void **ctx);
void br_dealer_close(void *ctx, void *sock);

/* iters round trips of a size-byte message (sent zero-copy from one
 * buffer kept across calls, received into ZeroMQ's message) to the echo
 * at sock: µs of each into us[0..iters). 0 or -1. */
int br_raw_pingpong(void *sock, size_t size, int iters, double *us);
/* Frees the buffer br_raw_pingpong keeps. */
void br_raw_release(void);

/* ---- wire.c: quiverd's protocol from a bare DEALER -------------------- */

typedef struct br_wire br_wire;

/* Connects to quiverd at ep and says HELLO; allocates on the daemon the
 * buffers of vadd on n floats (a, b, out), writes a and b and loads the
 * kernel. NULL with a message on stderr. */
br_wire *br_wire_open(const char *ep, uint32_t n, const float *a, const float *b);
/* Requests of one round trip (br_wire_round), sent in this order. */
enum {
    BR_WIRE_HEARTBEAT = 1, /* answered by the daemon's socket thread at once */
    BR_WIRE_WRITE = 2,     /* a, from the caller's memory, zero-copy */
    BR_WIRE_RUN = 4,       /* vadd */
    BR_WIRE_READ = 8,      /* out after a RUN, else a, into out */
    BR_WIRE_OUT = 16       /* the RUN brings out in its reply, into out */
};
/* One round trip of the requests `what` (BR_WIRE_*), each sent before any
 * reply is read, as the remote backend sends them; returns when every
 * reply came (µs into *us). 0 or -1. */
int br_wire_round(br_wire *w, unsigned what, float *out, double *us);
/* The daemon's counters "requests" and "bytes_in" (STATS). 0 or -1. */
int br_wire_stats(br_wire *w, uint64_t *requests, uint64_t *bytes_in);
void br_wire_close(br_wire *w);

/* ---- quiver.c: libquiver with the remote and the local board --------- */

typedef struct br_quiver br_quiver;

/* A runtime of policy `policy` (CPU, the local emulated board, the remote
 * one) with vadd on n floats registered: inputs a, b, output out (the
 * caller's, n floats each). NULL with a message on stderr. */
br_quiver *br_quiver_open(const char *policy, uint32_t n, float *a, float *b, float *out);
/* Keeps vadd to class cls (QV_CLASS_REMOTE or QV_CLASS_FPGA) and runs it
 * `warm` times untimed. µs of the first of those into *first_us. 0 or -1. */
int br_quiver_place(br_quiver *q, qv_class cls, int warm, double *first_us);
/* One qv_submit of vadd and qv_wait_all, timed (µs into *us); with
 * write_a the host writes a first (qv_buf_acquire QV_W, one element
 * changed, qv_buf_release), so the board needs a new copy of it. */
int br_quiver_vadd(br_quiver *q, int write_a, double *us);
/* The device of class cls: its index and info. -1 when there is none. */
int br_quiver_device(br_quiver *q, qv_class cls, qv_device_info *di);
void br_quiver_close(br_quiver *q);

/* ---- signal.c: the signal chain --------------------------------------- */

/* One run of the signal chain (fir -> fft -> mag on `frames` frames of
 * 1024 samples, regions per frame, 4 frames in flight) on policy `policy`;
 * fft_where: a class mask for fft (0: anywhere). Prints nothing. */
typedef struct br_signal_out {
    double wall_ms; /* first submission to the last result home */
    double worst;   /* largest difference from the sequential run */
    int ok;         /* worst < 1e-4 and the spectral peaks agree */
    unsigned ndev;
    qv_class cls[6];
    uint64_t tasks[6];
    uint64_t failed[6];
    uint64_t replayed; /* entries of region "frame" that replayed a plan */
    uint64_t fused;    /* chains run as one fused kernel */
} br_signal_out;

int br_signal_run(const char *policy, const char *models, int frames, unsigned fft_where,
                  br_signal_out *o);
/* The same chain run sequentially with the references, no runtime: ms. */
double br_signal_seq_ms(int frames);

#define BR_CHECK(x)                                                                      \
    do {                                                                                 \
        int rc_ = (x);                                                                   \
        if (rc_) {                                                                       \
            fprintf(stderr, "bench_remote: %s:%d: %s: %s (%s)\n", __FILE__, __LINE__,    \
                    #x, qv_strerror(rc_), qv_last_error());                              \
            return -1;                                                                   \
        }                                                                                \
    } while (0)

#endif
