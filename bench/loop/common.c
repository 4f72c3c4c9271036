/*
 * common.c - what bench_loop's modes share: measurements in child
 * processes, the policy files they run under, region counters and
 * statistics.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

int loop_quick_exit;

int loop_child(loop_fn fn, const void *arg, void *out, size_t size)
{
    int fd[2];
    fflush(NULL); /* or the child's copy of our buffers prints twice */
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        memset(out, 0, size);
        int rc = fn(arg, out, size);
        ssize_t w = rc == 0 ? write(fd[1], out, size) : -1;
        /* exit, not _exit: a sanitizer's leak check runs in the child too
         * (the parent flushed its buffers before the fork); but not on
         * StarPU, which leaves allocations behind at shutdown. */
        if (loop_quick_exit)
            _exit(w == (ssize_t)size ? 0 : 1);
        exit(w == (ssize_t)size ? 0 : 1);
    }
    close(fd[1]);
    size_t want = size, got = 0;
    while (got < want) {
        ssize_t r = read(fd[0], (char *)out + got, want - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return got == want && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

const char *loop_policy(const loop_args *a, int slot, const char *name, const char *text)
{
    static char paths[8][1024];
    if (slot < 0 || slot >= 8)
        return NULL;
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", a->tmpdir, name);
    FILE *f = fopen(paths[slot], "w");
    if (!f)
        return NULL;
    int ok = fputs(text, f) >= 0;
    if (fclose(f) != 0 || !ok)
        return NULL;
    return paths[slot];
}

const char *loop_default_policy(const loop_args *a, int slot, int implicit, int fpga_only,
                                const char *extra)
{
    char text[4096], name[64];
    snprintf(text, sizeof text,
             "# Written by bench_loop: config/quiver.yaml with absolute paths.\n"
             "catalog: %s/kernels.yaml\n"
             "scheduler: heft\n"
             "implicit_regions: %s\n"
             "devices: %s\n"
             "discovery:\n"
             "  rescan_interval_ms: 5000\n"
             "  opencl: %s\n"
             "  boards: [%s/boards/emu/u250-emu.yaml]\n",
             a->share, implicit ? "true" : "false",
             fpga_only ? "[cpu, fpga]" : "[cpu, gpu, fpga, remote]",
             fpga_only ? "false" : "true", a->share);
    if (extra)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s", extra);
    snprintf(name, sizeof name, "policy-%d.yaml", slot);
    return loop_policy(a, slot, name, text);
}

void loop_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
            unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

int loop_calibrate(const char *tmpdir, const char *eager, int opencl, const loop_app_cfg *c,
                   int entries, char dir[1024])
{
    snprintf(dir, 1024, "%s/models.XXXXXX", tmpdir);
    if (!mkdtemp(dir)) {
        perror("bench_loop: mkdtemp");
        return -1;
    }
    qv_options opts;
    qv_options_init(&opts);
    opts.config = eager;
    opts.opencl = opencl;
    opts.perfmodel_dir = dir;
    qv_runtime *rt;
    LOOP_CHECK(qv_runtime_create(&opts, &rt));
    loop_app_cfg ec = *c;
    ec.region = NULL;
    loop_app *app;
    LOOP_CHECK(loop_app_create(rt, &ec, &app));
    for (int e = 0; e < entries; e++)
        LOOP_CHECK(loop_app_entry(app));
    loop_app_destroy(app);
    qv_runtime_destroy(rt); /* saves the models into dir */
    return 0;
}

int loop_region(qv_runtime *rt, const char *name, qv_region_info *ri)
{
    memset(ri, 0, sizeof *ri);
    ri->size = sizeof *ri;
    return qv_region_get(rt, name, ri);
}

void loop_let_compile(qv_runtime *rt, const char *name, double max_s)
{
    double end = bench_now() + max_s;
    qv_region_info ri;
    /* "not compiled yet: ..." is a wait (devices calibrating), not a failure. */
    while (bench_now() < end && loop_region(rt, name, &ri) == 0 && ri.sig_entries >= 3 &&
           !ri.compiles &&
           (!ri.last_error[0] || !strncmp(ri.last_error, "not compiled yet", 16))) {
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

int loop_warm(qv_runtime *rt, const char *name, loop_entry_fn entry, void *ctx,
              int max_entries, double max_s, int extra, int *replaying)
{
    double end = bench_now() + max_s;
    int e = 0, left = -1;
    *replaying = 0;
    while (e < max_entries && left != 0) {
        int rc = entry(ctx);
        if (rc)
            return rc < 0 ? rc : -rc;
        e++;
        if (left > 0) {
            left--;
            continue;
        }
        qv_region_info ri;
        if (loop_region(rt, name, &ri) != 0)
            continue;
        if (ri.replayed > 0) {
            *replaying = 1;
            left = extra;
            continue;
        }
        if (bench_now() > end)
            break;
        loop_let_compile(rt, name, end - bench_now());
    }
    return e;
}

double loop_board_us(qv_runtime *rt, double tasks[3])
{
    double us = 0;
    tasks[0] = tasks[1] = tasks[2] = 0;
    for (unsigned d = 0; d < qv_device_count(rt); d++) {
        qv_device_info di;
        if (qv_device_get(rt, d, &di) != 0)
            continue;
        us += di.board_us;
        if (di.cls == QV_CLASS_CPU)
            tasks[0] += (double)di.tasks;
        else if (di.cls == QV_CLASS_GPU)
            tasks[1] += (double)di.tasks;
        else if (di.cls == QV_CLASS_FPGA || di.cls == QV_CLASS_REMOTE)
            tasks[2] += (double)di.tasks;
    }
    return us;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double loop_median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
