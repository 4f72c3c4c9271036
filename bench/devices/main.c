/*
 * main.c - bench_devices: what one launch costs and how fast data moves on
 * each device the runtime drives (CPU, OpenCL, emulated FPGA board, and an
 * XRT card through XRT's noop shim), through the public API, with memcpy as
 * the limit of host-side copies, in one run.
 *
 *   bench_devices [--config FILE] [--xrt-config FILE] [--mib N]
 *                 [--launches N] [--smoke]
 *
 * launch: a chain of vadd calls on 1-element buffers that stay on the
 * device, restricted to one device; us per call = wall / calls (submission,
 * placement, dispatch, launch, completion). to device: the runtime's own
 * measurement of its copies (qv_device_info.link_gbs, an average over the
 * rounds) while vadd runs on N MiB inputs last written on the host (into
 * device buffers allocated in the first round). from device: the time of
 * the qv_buf_wait that brings home the N MiB result the device wrote, once
 * qv_wait_all has seen vadd finish (qv_wait_all leaves results on the
 * device), so the timed call is the copy and nothing else; the device's
 * own byte counter must show the copy inside the timed call, else the
 * bench fails; the best of three rounds after one. raw OpenCL (an OpenCL
 * row's baseline, raw_cl.c): the same kernel on the same device through
 * the OpenCL API by hand, each launch waited for before the next (the
 * least a chain of dependent tasks costs), and all queued with one wait.
 * memcpy: the best of a 64 MiB memcpy done right after each of those
 * copies home (the header's, at start, for the CPU row). XRT's noop shim runs no kernel:
 * its row measures XRT's launch path and buffer-object copies only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "quiver.h"
#include "raw_cl.h"
#include "vadd/vadd_ref.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void cpu_vadd(const qv_call *c)
{
    qv_hls_vadd_ref(c->ptr[0], c->ptr[1], c->ptr[2], *(const unsigned *)c->ptr[3]);
}
static void cpu_write(const qv_call *c)
{
    (void)c; /* stands for the host writing: its copy becomes the valid one */
}
static unsigned range_n(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = *(const unsigned *)c->ptr[3];
    return 1;
}
static const char *vadd_cl =
    "__kernel void vadd(__global const float *a, __global const float *b,\n"
    "                   __global float *out, const uint n)\n"
    "{ size_t i = get_global_id(0); if (i < n) out[i] = a[i] + b[i]; }\n";

#define CHECK(x)                                                               \
    do {                                                                       \
        int rc_ = (x);                                                         \
        if (rc_) {                                                             \
            fprintf(stderr, "%s: %s (%s)\n", #x, qv_strerror(rc_), qv_last_error()); \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static size_t mib = 64;
static int launches = 2000;
static float *A, *B, *C, *D; /* D: scratch for the memcpy next to each copy home */
static double memcpy_gbs;

/* Measures every accelerator of a runtime made with config (CPU too when
 * with_cpu). */
static void measure(const char *config, int with_cpu)
{
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.perfmodel_dir = "";
    o.record = 0;
    o.config = config;
    qv_runtime *rt;
    CHECK(qv_runtime_create(&o, &rt));
    qv_arg_desc dv[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                         QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("n", unsigned) };
    qv_func *fv, *fw;
    qv_arg_desc dw[] = { QV_ARG_BUF("x", QV_W) };
    CHECK(qv_func_create(rt, "vadd", dv, 4, &fv));
    CHECK(qv_func_set_cpu(fv, cpu_vadd));
    CHECK(qv_func_set_opencl(fv, &(qv_opencl_impl){ vadd_cl, "vadd", NULL, range_n }));
    CHECK(qv_func_set_fpga(fv, "vadd"));
    CHECK(qv_func_create(rt, "write", dw, 1, &fw));
    CHECK(qv_func_set_cpu(fw, cpu_write));
    float s1[3] = { 1, 2, 0 };
    qv_buf *t[3];
    for (int i = 0; i < 3; i++)
        CHECK(qv_buf_register(rt, &s1[i], sizeof s1[i], &t[i]));
    for (unsigned d = with_cpu ? 0 : 1; d < qv_device_count(rt); d++) {
        qv_device_info di;
        CHECK(qv_device_get(rt, d, &di));
        CHECK(qv_func_set_where(fv, 1u << di.cls));
        unsigned one = 1;
        qv_arg small[] = { QV_BUF(t[0]), QV_BUF(t[1]), QV_BUF(t[2]), QV_VAL(one) };
        for (int i = 0; i < 5; i++) /* warm-up: builds, loads, models */
            CHECK(qv_submit(rt, fv, small, 4));
        CHECK(qv_wait_all(rt));
        double t0 = now();
        for (int i = 0; i < launches; i++)
            CHECK(qv_submit(rt, fv, small, 4));
        CHECK(qv_wait_all(rt));
        double launch_us = (now() - t0) / launches * 1e6;
        /* The baseline of an OpenCL row: the same kernel by hand, on the
         * device of that name the runtime lists in this place. */
        char raw[96] = " - | - | - |";
        double each_us, queued_us;
        unsigned nth = 0;
        for (unsigned e = 0; e < d; e++) {
            qv_device_info de;
            nth += qv_device_get(rt, e, &de) == 0 && !strcmp(de.backend, "opencl") &&
                   !strcmp(de.name, di.name);
        }
        if (!strcmp(di.backend, "opencl") &&
            raw_cl_launch_us(di.name, nth, vadd_cl, launches, &each_us, &queued_us) == 0)
            snprintf(raw, sizeof raw, " %.2f | %.2f | %.2f |", each_us, queued_us,
                     launch_us / each_us);
        printf("| %u %.30s | %s | %s | %.2f |", d, di.name, di.backend,
               qv_class_name(di.cls), launch_us);
        if (d == 0) {
            printf(" host memory | host memory | %.2f | - | - |%s\n", memcpy_gbs, raw);
            continue;
        }
        size_t bytes = mib << 20;
        unsigned n = (unsigned)(bytes / sizeof(float));
        qv_buf *ba, *bb, *bc;
        CHECK(qv_buf_register(rt, A, bytes, &ba));
        CHECK(qv_buf_register(rt, B, bytes, &bb));
        CHECK(qv_buf_register(rt, C, bytes, &bc));
        qv_arg big[] = { QV_BUF(ba), QV_BUF(bb), QV_BUF(bc), QV_VAL(n) };
        double from_s = 1e9, memcpy_s = 1e9;
        for (int round = 0; round < 4; round++) {
            /* The host writes the inputs, so the device needs new copies
             * (into the device buffers it already has). */
            CHECK(qv_submit(rt, fw, (qv_arg[]){ QV_BUF(ba) }, 1));
            CHECK(qv_submit(rt, fw, (qv_arg[]){ QV_BUF(bb) }, 1));
            CHECK(qv_submit(rt, fv, big, 4));
            CHECK(qv_wait_all(rt)); /* vadd is done; its result is on the device */
            qv_device_info before;
            CHECK(qv_device_get(rt, d, &before));
            t0 = now();
            CHECK(qv_buf_wait(bc)); /* the copy home */
            double s = now() - t0;
            CHECK(qv_device_get(rt, d, &di));
            if (di.bytes_from - before.bytes_from != bytes) {
                fprintf(stderr, "bench_devices: %s: qv_buf_wait copied %llu bytes home, "
                                "not the %zu of the result\n", di.name,
                        (unsigned long long)(di.bytes_from - before.bytes_from), bytes);
                exit(1);
            }
            /* The limit, measured in the same moments: on a shared VM the
             * bandwidth drifts by 2x within seconds. */
            t0 = now();
            memcpy(D, A, bytes);
            double ms = now() - t0;
            if (round) { /* the first copy home may allocate or map */
                from_s = s < from_s ? s : from_s;
                memcpy_s = ms < memcpy_s ? ms : memcpy_s;
            }
        }
        CHECK(qv_device_get(rt, d, &di));
        double from = (double)bytes / from_s / 1e9, mc = (double)bytes / memcpy_s / 1e9;
        if (di.link_gbs > 0)
            printf(" %.2f | %.2f | %.2f | %.2f | %.2f |%s\n", di.link_gbs, from, mc,
                   di.link_gbs / mc, from / mc, raw);
        else /* an emulated board: its link is the board file's, not learnt */
            printf(" - | %.2f | %.2f | - | %.2f |%s\n", from, mc, from / mc, raw);
        CHECK(qv_buf_unregister(ba));
        CHECK(qv_buf_unregister(bb));
        CHECK(qv_buf_unregister(bc));
    }
    for (int i = 0; i < 3; i++)
        qv_buf_unregister(t[i]);
    qv_runtime_destroy(rt);
}

int main(int argc, char **argv)
{
    const char *config = QV_CONFIG, *xrt_config = QV_XRT_CONFIG;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc)
            mib = (size_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--launches") && i + 1 < argc)
            launches = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[++i];
        else if (!strcmp(argv[i], "--xrt-config") && i + 1 < argc)
            xrt_config = argv[++i];
        else if (!strcmp(argv[i], "--smoke")) {
            mib = 1;
            launches = 20;
        } else {
            fprintf(stderr, "usage: bench_devices [--config FILE] [--xrt-config FILE] "
                            "[--mib N] [--launches N] [--smoke]\n");
            return 2;
        }
    }
    size_t bytes = mib << 20;
    A = malloc(bytes);
    B = malloc(bytes);
    C = malloc(bytes);
    D = malloc(bytes);
    if (!A || !B || !C || !D || mib < 1)
        return 1;
    for (size_t i = 0; i < bytes / sizeof(float); i++) {
        A[i] = (float)(i % 1000);
        B[i] = 1.0f;
    }
    /* The limit at start: the best of 10 after a warm-up (each row also
     * measures its own, next to its copies home). */
    memset(D, 0, bytes);
    for (int round = 0; round < 11; round++) {
        double t = now();
        memcpy(C, A, bytes);
        double gbs = bytes / (now() - t) / 1e9;
        if (round && gbs > memcpy_gbs)
            memcpy_gbs = gbs;
    }
    printf("bench_devices: %d chained launches of vadd on 1 element; %zu MiB copies; "
           "memcpy %.2f GB/s\n\n", launches, mib, memcpy_gbs);
    printf("| device | backend | class | us per launch | to device GB/s | from device GB/s | "
           "memcpy GB/s | to / memcpy | from / memcpy | raw OpenCL us, each waited | "
           "raw OpenCL us, queued | launch / raw each |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    if (xrt_config && *xrt_config) {
        /* XRT picks its shim once per process, when it is first loaded, and
         * the default runtime's discovery loads it: that runtime runs in a
         * child, so that this process can still choose the noop shim for
         * the second runtime, a card through XRT. */
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("bench_devices: fork");
            return 1;
        }
        if (pid == 0) {
            measure(config, 1);
            fflush(stdout);
            _exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 1;
        setenv("QV_XRT_SHIM", "noop", 1);
        measure(xrt_config, 0);
    } else {
        measure(config, 1);
    }
    free(A);
    free(B);
    free(C);
    free(D);
    return 0;
}
