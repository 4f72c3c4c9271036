/*
 * remote.c - bench_loop --pays's remote board: quiverd (the build's
 * binary) serving the emulated U250 on an ipc endpoint under the
 * temporary directory, with --delay-us for a network's latency, and the
 * board and policy files that name it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/board.h"
#include "devices/device.h"
#include "loop.h"

#ifndef QV_QUIVERD
#define QV_QUIVERD ""
#endif

static pid_t daemon_pid = -1;

static int reachable(const char *file)
{
    qv__board *bd;
    qv_diag d;
    if (qv__board_load(file, &bd, &d) != 0) {
        fprintf(stderr, "bench_loop: %s: %s\n", file, d.message);
        return -1;
    }
    char info[300];
    int rc = qv__remote_probe(bd, 200, info, sizeof info);
    qv__board_free(bd);
    return rc == 0;
}

const char *loop_remote_start(const loop_args *a, unsigned delay_us, int slot)
{
    if (!QV_QUIVERD[0])
        return NULL;
    char ep[600], board[700], text[2048], emu[600], cat[600], delay[32], log[600];
    snprintf(ep, sizeof ep, "ipc://%s/quiverd.sock", a->tmpdir);
    snprintf(emu, sizeof emu, "%s/boards/emu/u250-emu.yaml", a->share);
    snprintf(cat, sizeof cat, "%s/kernels.yaml", a->share);
    snprintf(delay, sizeof delay, "%u", delay_us);
    snprintf(log, sizeof log, "%s/quiverd.log", a->tmpdir);
    /* The link the planner prices: a network's latency each way. */
    snprintf(text, sizeof text,
             "name: remote-emu\nkind: remote\n"
             "memory:\n  - {type: DDR4, size: 16 GiB, count: 4}\n"
             "link: {bandwidth_gbs: 1.0, latency_us: %u}\n"
             "remote:\n  endpoint: %s\n  board: %s\n",
             delay_us, ep, emu);
    const char *bfile = loop_policy(a, slot, "remote-emu.yaml", text);
    if (!bfile)
        return NULL;
    snprintf(board, sizeof board, "%s", bfile);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return NULL;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the bench */
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(QV_QUIVERD, "quiverd", "--board", emu, "--catalog", cat, "--listen", ep,
              "--allow-plain", "--delay-us", delay, (char *)NULL);
        _exit(127);
    }
    daemon_pid = pid;
    for (int i = 0; i < 100; i++) {
        int st, up = reachable(board);
        if (up > 0)
            break;
        if (up < 0 || waitpid(pid, &st, WNOHANG) == pid || i == 99) {
            fprintf(stderr, "bench_loop: quiverd does not answer at %s (see %s)\n", ep,
                    log);
            loop_remote_stop();
            return NULL;
        }
    }
    snprintf(
        text, sizeof text,
        "# Written by bench_loop: the CPU and a board served by quiverd.\n"
        "catalog: %s/kernels.yaml\nscheduler: heft\nimplicit_regions: false\n"
        "devices: [cpu, remote]\n"
        "discovery: {rescan_interval_ms: 0, opencl: false, xrt: false, boards: [%s]}\n",
        a->share, board);
    return loop_policy(a, slot, "remote.yaml", text);
}

void loop_remote_stop(void)
{
    if (daemon_pid <= 0)
        return;
    kill(daemon_pid, SIGTERM);
    waitpid(daemon_pid, NULL, 0);
    daemon_pid = -1;
}
