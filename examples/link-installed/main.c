/*
 * main.c - the smallest Quiver program: scale a vector in four tasks and
 * add it to another, then check the result. Built against an installed
 * Quiver (find_package or pkg-config) to prove the install works.
 *
 * With --default-platform it also checks what a program gets with no
 * configuration at all (qv_options.config NULL, QV_CONFIG unset): the
 * installed default policy, so the CPU, an OpenCL device and the emulated
 * U250, and the catalog's vadd kernel run on that board.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <quiver.h>

static void scale(const qv_call *c)
{
    float *x = c->ptr[0];
    float k = *(const float *)c->ptr[1];
    for (size_t i = 0; i < c->size[0] / sizeof *x; i++)
        x[i] *= k;
}

static void add(const qv_call *c)
{
    const float *x = c->ptr[0];
    float *y = c->ptr[1];
    for (size_t i = 0; i < c->size[1] / sizeof *y; i++)
        y[i] += x[i];
}

static void vadd(const qv_call *c)
{
    const float *a = c->ptr[0], *b = c->ptr[1];
    float *out = c->ptr[2];
    uint32_t n = *(const uint32_t *)c->ptr[3];
    for (uint32_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

/* The devices of the default platform, and vadd on the emulated board. */
static int default_platform(qv_runtime *rt)
{
    unsigned seen = 0, fpga = 0;
    for (unsigned i = 0; i < qv_device_count(rt); i++) {
        qv_device_info d;
        if (qv_device_get(rt, i, &d))
            return 1;
        printf("hello_quiver: device %u: %s (%s)\n", i, d.name, d.backend);
        seen |= 1u << d.cls;
        if (d.cls == QV_CLASS_FPGA)
            fpga = i;
    }
    const unsigned want = 1u << QV_CLASS_CPU | 1u << QV_CLASS_GPU | 1u << QV_CLASS_FPGA;
    if ((seen & want) != want) {
        fprintf(stderr, "hello_quiver: the default platform lacks %s%s%s\n",
                seen & 1u << QV_CLASS_CPU ? "" : "the CPU ",
                seen & 1u << QV_CLASS_GPU ? "" : "an OpenCL device ",
                seen & 1u << QV_CLASS_FPGA ? "" : "the emulated board");
        return 1;
    }
    enum { N = 1000 };
    static float a[N], b[N], out[N];
    for (int i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 2.0f * (float)i;
    }
    uint32_t n = N;
    qv_arg_desc dv[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                         QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("n", uint32_t) };
    qv_func *f;
    qv_buf *ba, *bb, *bo;
    if (qv_func_create(rt, "vadd", dv, 4, &f) || qv_func_set_cpu(f, vadd) ||
        qv_func_set_fpga(f, "vadd") || qv_func_set_where(f, 1u << QV_CLASS_FPGA) ||
        qv_buf_register(rt, a, sizeof a, &ba) || qv_buf_register(rt, b, sizeof b, &bb) ||
        qv_buf_register(rt, out, sizeof out, &bo) ||
        qv_submit(rt, f, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n) }, 4) ||
        qv_wait_all(rt)) {
        fprintf(stderr, "hello_quiver: vadd on the board: %s\n", qv_last_error());
        return 1;
    }
    qv_buf_unregister(ba);
    qv_buf_unregister(bb);
    qv_buf_unregister(bo);
    qv_device_info d;
    if (qv_device_get(rt, fpga, &d) || d.tasks != 1) {
        fprintf(stderr, "hello_quiver: vadd did not run on the emulated board\n");
        return 1;
    }
    for (int i = 0; i < N; i++)
        if (out[i] != 3.0f * (float)i) {
            fprintf(stderr, "hello_quiver: vadd: wrong result at %d: %g\n", i, out[i]);
            return 1;
        }
    printf("hello_quiver: vadd ran on %s, board time %.1f us (modelled)\n", d.name,
           d.board_us);
    return 0;
}

int main(int argc, char **argv)
{
    int platform = argc > 1 && !strcmp(argv[1], "--default-platform");
    if (argc > 1 && !platform) {
        fprintf(stderr, "usage: hello_quiver [--default-platform]\n");
        return 2;
    }
    enum { N = 4096 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        y[i] = 1.0f;
    }
    qv_options o;
    qv_options_init(&o);
    o.perfmodel_dir = "";
    qv_runtime *rt;
    int rc = qv_runtime_create(&o, &rt);
    if (rc) {
        fprintf(stderr, "qv_runtime_create: %s: %s\n", qv_strerror(rc), qv_last_error());
        return 1;
    }
    qv_arg_desc ds[] = { QV_ARG_BUF("x", QV_RW), QV_ARG_SCALAR("k", float) };
    qv_arg_desc da[] = { QV_ARG_BUF("x", QV_R), QV_ARG_BUF("y", QV_RW) };
    qv_func *fs, *fa;
    qv_buf *bx, *by;
    if (qv_func_create(rt, "scale", ds, 2, &fs) || qv_func_set_cpu(fs, scale) ||
        qv_func_create(rt, "add", da, 2, &fa) || qv_func_set_cpu(fa, add) ||
        qv_buf_register(rt, x, sizeof x, &bx) || qv_buf_register(rt, y, sizeof y, &by)) {
        fprintf(stderr, "set-up failed: %s\n", qv_last_error());
        return 1;
    }
    float k = 0.5f;
    for (int i = 0; i < 4; i++)
        qv_submit(rt, fs, (qv_arg[]){ QV_BUF(bx), QV_VAL(k) }, 2);
    qv_submit(rt, fa, (qv_arg[]){ QV_BUF(bx), QV_BUF(by) }, 2);
    qv_buf_unregister(bx);
    qv_buf_unregister(by);
    if (platform && default_platform(rt)) {
        qv_runtime_destroy(rt);
        return 1;
    }
    qv_runtime_destroy(rt);
    for (int i = 0; i < N; i++)
        if (y[i] != 1.0f + (float)i / 16.0f) {
            printf("hello_quiver: wrong result at %d: %g\n", i, y[i]);
            return 1;
        }
    printf("hello_quiver: OK\n");
    return 0;
}
