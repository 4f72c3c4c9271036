/*
 * main.c - the smallest Quiver program: scale a vector in four tasks and
 * add it to another, then check the result. Built against an installed
 * Quiver (find_package or pkg-config) to prove the install works.
 */
#include <stdio.h>

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

int main(void)
{
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
    qv_runtime_destroy(rt);
    for (int i = 0; i < N; i++)
        if (y[i] != 1.0f + (float)i / 16.0f) {
            printf("hello_quiver: wrong result at %d: %g\n", i, y[i]);
            return 1;
        }
    printf("hello_quiver: OK\n");
    return 0;
}
