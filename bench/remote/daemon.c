#define _GNU_SOURCE 1
/*
 * daemon.c - the processes bench_remote talks to, and the files that name
 * them: quiverd (the build's binary, started with fork and exec, plain on
 * tcp://127.0.0.1 at a port it picks), a raw ZeroMQ echo process (the
 * baseline's peer: a process of its own, as quiverd is), and the remote
 * board and policy files of the runtimes.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "devices/remote_link.h"
#include "remote.h"

static pid_t daemon_pid = -1;

double br_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

pid_t br_daemon_pid(void)
{
    return daemon_pid;
}

double br_cpu_us(pid_t pid)
{
    clockid_t c;
    struct timespec ts;
    if (clock_getcpuclockid(pid, &c) != 0 || clock_gettime(c, &ts) != 0)
        return -1;
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double br_median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void br_stats(double *v, int n, double s[3])
{
    s[1] = br_median(v, n);
    s[0] = n > 0 ? v[0] : 0;
    s[2] = n > 0 ? v[n - 1] : 0;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The endpoint of the daemon's "listening on ENDPOINT (...)" line in its
 * log, into ep; 0 once found. */
static int endpoint_from_log(const char *log, char *ep, size_t eplen)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return -1;
    char line[1024];
    int found = -1;
    while (found && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "listening on tcp://");
        if (!p)
            continue;
        p += strlen("listening on ");
        size_t len = strcspn(p, " \n");
        if (len < eplen) {
            memcpy(ep, p, len);
            ep[len] = 0;
            found = 0;
        }
    }
    fclose(f);
    return found;
}

int br_daemon_start(const br_args *a, char *ep, size_t eplen)
{
    char board[1024], catalog[1024], log[1024];
    snprintf(board, sizeof board, "%s/boards/emu/u250-emu.yaml", a->share);
    snprintf(catalog, sizeof catalog, "%s/kernels.yaml", a->share);
    snprintf(log, sizeof log, "%s/quiverd.log", a->tmpdir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_remote: fork");
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the bench, whatever happens */
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        char cpu[16] = "none";
        if (a->cpu >= 0)
            snprintf(cpu, sizeof cpu, "%d", a->cpu);
        execl(a->quiverd, "quiverd", "--board", board, "--catalog", catalog, "--listen",
              "tcp://127.0.0.1:*", "--allow-plain", "--log", log, "--cpu", cpu,
              (char *)NULL);
        _exit(127);
    }
    daemon_pid = pid;
    double until = br_now() + 30;
    while (endpoint_from_log(log, ep, eplen) != 0) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "bench_remote: quiverd (%s) exited with status %d; see %s\n",
                    a->quiverd, st, log);
            daemon_pid = -1;
            return -1;
        }
        if (br_now() > until) {
            fprintf(stderr, "bench_remote: quiverd logged no endpoint in 30 s (%s)\n",
                    log);
            br_daemon_stop();
            return -1;
        }
        nap_ms(20);
    }
    /* Listening is not serving yet: wait for an answer to HELLO. */
    qv__rlink_conf c;
    memset(&c, 0, sizeof c);
    c.name = "bench";
    c.endpoint = ep;
    c.timeout_ms = 500;
    char err[300] = "";
    while (br_now() < until) {
        qv__rhello h;
        if (qv__rlink_probe(&c, &h, err, sizeof err) == 0) {
            qv__rhello_fini(&h);
            return 0;
        }
    }
    fprintf(stderr, "bench_remote: quiverd at %s does not answer: %s\n", ep, err);
    br_daemon_stop();
    return -1;
}

void br_daemon_stop(void)
{
    if (daemon_pid <= 0)
        return;
    kill(daemon_pid, SIGTERM);
    waitpid(daemon_pid, NULL, 0);
    daemon_pid = -1;
}

/* The echo process: every message back to its sender, as received; an
 * empty one is answered and ends it. */
static int echo_main(int fd)
{
    void *ctx = zmq_ctx_new(), *sock = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    char ep[256] = "";
    size_t len = sizeof ep;
    if (!sock || zmq_bind(sock, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, ep, &len) != 0)
        ep[0] = 0;
    if (write(fd, ep, sizeof ep) != (ssize_t)sizeof ep || !ep[0])
        return 1;
    close(fd);
    for (;;) {
        zmq_msg_t rid, body;
        zmq_msg_init(&rid);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&rid, sock, 0) < 0 || zmq_msg_recv(&body, sock, 0) < 0)
            return 1;
        int last = zmq_msg_size(&body) == 0;
        if (zmq_msg_send(&rid, sock, ZMQ_SNDMORE) < 0 || zmq_msg_send(&body, sock, 0) < 0)
            return 1;
        if (last)
            break;
    }
    int linger = 1000;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 0;
}

pid_t br_echo_start(char *ep, size_t eplen, int cpu)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(fd[0]);
        if (cpu >= 0) { /* its thread and ZeroMQ's, made after this */
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            sched_setaffinity(0, sizeof one, &one);
        }
        _exit(echo_main(fd[1]));
    }
    close(fd[1]);
    char buf[256];
    ssize_t got = 0, r;
    while (got < (ssize_t)sizeof buf &&
           (r = read(fd[0], buf + got, sizeof buf - (size_t)got)) > 0)
        got += r;
    close(fd[0]);
    if (got != (ssize_t)sizeof buf || !buf[0] || strlen(buf) >= eplen) {
        fprintf(stderr, "bench_remote: the echo process did not start\n");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    snprintf(ep, eplen, "%s", buf);
    return pid;
}

void br_echo_stop(pid_t pid, const char *ep)
{
    void *ctx, *sock = br_dealer(ep, &ctx);
    if (sock) {
        zmq_send(sock, "", 0, 0);
        int ms = 2000;
        zmq_setsockopt(sock, ZMQ_RCVTIMEO, &ms, sizeof ms);
        char b[1];
        zmq_recv(sock, b, sizeof b, 0);
        br_dealer_close(ctx, sock);
    }
    kill(pid, SIGTERM); /* when the message did not make it */
    waitpid(pid, NULL, 0);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int br_policy(const br_args *a, const char *ep, const char *name, const char *devices,
              int local, int remote, char *out, size_t outlen)
{
    char board[1024], text[4096];
    snprintf(board, sizeof board, "%s/remote-emu.yaml", a->tmpdir);
    if (remote) {
        snprintf(
            text, sizeof text,
            "# Written by bench_remote: the emulated U250 that quiverd serves "
            "on loopback.\n"
            "name: remote-u250-emu\nkind: remote\n"
            "memory:\n  - {type: DDR4, size: 16 GiB, count: 4, bandwidth_gbs: 19.25}\n"
            "link: {bandwidth_gbs: 2.0, latency_us: 60}\n"
            "remote:\n  endpoint: %s\n  board: %s/boards/emu/u250-emu.yaml\n",
            ep, a->share);
        if (write_file(board, text) != 0)
            return -1;
    }
    snprintf(text, sizeof text,
             "# Written by bench_remote.\n"
             "catalog: %s/kernels.yaml\n"
             "scheduler: heft\n"
             "devices: %s\n"
             "discovery:\n"
             "  rescan_interval_ms: 0\n"
             "  opencl: false\n"
             "  xrt: false\n"
             "  boards: [%s%s%s%s]\n"
             "log:\n  level: warn\n",
             a->share, devices, local ? a->share : "",
             local ? "/boards/emu/u250-emu.yaml" : "", local && remote ? ", " : "",
             remote ? board : "");
    snprintf(out, outlen, "%s/%s.yaml", a->tmpdir, name);
    return write_file(out, text);
}
