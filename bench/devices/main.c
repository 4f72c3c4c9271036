/*
 * main.c - bench_devices: what one launch costs and how fast data moves on
 * each device the runtime drives, through the public API, with memcpy as
 * the physical limit of host-side copies, in one run.
 *
 *   bench_devices [--mib N] [--launches N] [--smoke]
 *
 * launch: a chain of empty tasks on a 0-byte token, restricted to one
 * device; us per task = wall / tasks (submission, placement, dispatch,
 * launch, completion). to/from: a task on the device that reads and writes
 * an N MiB buffer last written on the host (the copy in), then a CPU task
 * on it (the copy out), each timed alone minus the launch cost; the best of
 * three rounds, so that allocation stays out of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quiver.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nop(const qv_call *c)
{
    (void)c;
}

static const char *cl_src = "__kernel void nop(__global uchar *token) {}\n"
                            "__kernel void touch(__global uchar *x) { if (get_global_id(0) == 0) x[0] ^= 1; }\n";
static unsigned one(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)c;
    (void)l;
    g[0] = 1;
    return 1;
}
static void touch(const qv_call *c)
{
    ((unsigned char *)c->ptr[0])[0] ^= 1;
}

#define CHECK(x)                                                               \
    do {                                                                       \
        int rc_ = (x);                                                         \
        if (rc_) {                                                             \
            fprintf(stderr, "%s: %s (%s)\n", #x, qv_strerror(rc_), qv_last_error()); \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

int main(int argc, char **argv)
{
    size_t mib = 64;
    int launches = 2000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc)
            mib = (size_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--launches") && i + 1 < argc)
            launches = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--smoke")) {
            mib = 1;
            launches = 20;
        } else {
            fprintf(stderr, "usage: bench_devices [--mib N] [--launches N] [--smoke]\n");
            return 2;
        }
    }
    size_t bytes = mib << 20;
    unsigned char *a = malloc(bytes), *b = malloc(bytes);
    if (!a || !b)
        return 1;
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    /* The limit: one host memcpy of the same size (after a warm-up). */
    double t, memcpy_gbs = 0;
    for (int round = 0; round < 4; round++) {
        t = now();
        memcpy(b, a, bytes);
        double gbs = bytes / (now() - t) / 1e9;
        memcpy_gbs = round && gbs > memcpy_gbs ? gbs : round ? memcpy_gbs : 0;
    }

    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.perfmodel_dir = "";
    o.record = 0;
    qv_runtime *rt;
    CHECK(qv_runtime_create(&o, &rt));
    qv_arg_desc dtok[] = { QV_ARG_BUF("token", QV_RW) };
    qv_arg_desc dbuf[] = { QV_ARG_BUF("x", QV_RW) };
    qv_func *fnop, *ftouch, *fhost;
    CHECK(qv_func_create(rt, "nop", dtok, 1, &fnop));
    CHECK(qv_func_set_cpu(fnop, nop));
    CHECK(qv_func_set_opencl(fnop, &(qv_opencl_impl){ cl_src, "nop", NULL, one }));
    CHECK(qv_func_create(rt, "touch", dbuf, 1, &ftouch));
    CHECK(qv_func_set_cpu(ftouch, touch));
    CHECK(qv_func_set_opencl(ftouch, &(qv_opencl_impl){ cl_src, "touch", NULL, one }));
    CHECK(qv_func_create(rt, "touch_host", dbuf, 1, &fhost));
    CHECK(qv_func_set_cpu(fhost, touch));

    printf("bench_devices: %d chained empty launches; %zu MiB copies; memcpy %.2f GB/s\n\n",
           launches, mib, memcpy_gbs);
    printf("| device | class | us per launch | to device GB/s | from device GB/s | "
           "to / memcpy | from / memcpy |\n|---|---|---|---|---|---|---|\n");
    qv_buf *tok;
    CHECK(qv_buf_register(rt, NULL, 0, &tok));
    for (unsigned d = 0; d < qv_device_count(rt); d++) {
        qv_device_info di;
        CHECK(qv_device_get(rt, d, &di));
        unsigned where = 1u << di.cls;
        CHECK(qv_func_set_where(fnop, where));
        CHECK(qv_func_set_where(ftouch, where));
        /* Warm-up: builds programs, fills models. */
        for (int i = 0; i < 5; i++)
            CHECK(qv_submit(rt, fnop, (qv_arg[]){ QV_BUF(tok) }, 1));
        CHECK(qv_wait_all(rt));
        t = now();
        for (int i = 0; i < launches; i++)
            CHECK(qv_submit(rt, fnop, (qv_arg[]){ QV_BUF(tok) }, 1));
        CHECK(qv_wait_all(rt));
        double launch_us = (now() - t) / launches * 1e6;
        printf("| %u %.32s | %s | %.2f |", d, di.name, qv_class_name(di.cls), launch_us);
        if (d == 0) {
            printf(" host memory | host memory | - | - |\n");
            continue;
        }
        qv_buf *bx;
        CHECK(qv_buf_register(rt, a, bytes, &bx));
        double in_s = 1e9, out_s = 1e9;
        for (int round = 0; round < 3; round++) {
            t = now();
            CHECK(qv_submit(rt, ftouch, (qv_arg[]){ QV_BUF(bx) }, 1));
            CHECK(qv_buf_wait(bx));
            double s_in = now() - t - launch_us / 1e6;
            t = now();
            CHECK(qv_submit(rt, fhost, (qv_arg[]){ QV_BUF(bx) }, 1));
            CHECK(qv_buf_wait(bx));
            double s_out = now() - t - launch_us / 1e6;
            in_s = s_in < in_s ? s_in : in_s;
            out_s = s_out < out_s ? s_out : out_s;
        }
        CHECK(qv_buf_unregister(bx));
        double to = bytes / in_s / 1e9, from = bytes / out_s / 1e9;
        printf(" %.2f | %.2f | %.2f | %.2f |\n", to, from, to / memcpy_gbs,
               from / memcpy_gbs);
    }
    qv_buf_unregister(tok);
    qv_runtime_destroy(rt);
    free(a);
    free(b);
    return 0;
}
