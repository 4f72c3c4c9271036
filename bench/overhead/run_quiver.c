/*
 * run_quiver.c - the shapes on Quiver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "quiver.h"

static double body_us;

static void body(const qv_call *c)
{
    (void)c;
    bench_spin(body_us);
}

#define CHECK(x)                                                               \
    do {                                                                       \
        int rc_ = (x);                                                         \
        if (rc_) {                                                             \
            fprintf(stderr, "%s: %s (%s)\n", #x, qv_strerror(rc_),             \
                    qv_last_error());                                          \
            return rc_;                                                        \
        }                                                                      \
    } while (0)

int run_quiver(const bench_cfg *c, bench_out *o)
{
    body_us = c->body_us;
    qv_options opts;
    qv_options_init(&opts);
    opts.ncpu = c->ncpu;
    opts.record = c->record;
    opts.perfmodel_dir = "";
    opts.opencl = 0;   /* CPU workers only, as StarPU here (STARPU_NOPENCL=0) */
    opts.config = "";  /* and no policy file: no emulated board either */
    qv_runtime *rt;
    CHECK(qv_runtime_create(&opts, &rt));

    qv_arg_desc d1[] = { QV_ARG_BUF("a", QV_RW) };
    qv_arg_desc d2[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_RW) };
    qv_arg_desc d3[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                         QV_ARG_BUF("c", QV_RW) };
    qv_func *none, *f[4];
    CHECK(qv_func_create(rt, "empty", NULL, 0, &none));
    CHECK(qv_func_create(rt, "potrf", d1, 1, &f[0]));
    CHECK(qv_func_create(rt, "trsm", d2, 2, &f[1]));
    CHECK(qv_func_create(rt, "syrk", d2, 2, &f[2]));
    CHECK(qv_func_create(rt, "gemm", d3, 3, &f[3]));
    qv_func_set_cpu(none, body);
    for (int i = 0; i < 4; i++)
        qv_func_set_cpu(f[i], body);

    double w0, c0;
    if (c->shape == SHAPE_INDEP) {
        w0 = bench_now(), c0 = bench_cpu();
        for (int i = 0; i < c->ntasks; i++)
            CHECK(qv_submit(rt, none, NULL, 0));
        CHECK(qv_wait_all(rt));
        o->tasks = c->ntasks;
    } else if (c->shape == SHAPE_CHAIN) {
        double x = 0;
        qv_buf *b;
        CHECK(qv_buf_register(rt, &x, sizeof x, &b));
        qv_arg a[] = { QV_BUF(b) };
        w0 = bench_now(), c0 = bench_cpu();
        for (int i = 0; i < c->ntasks; i++)
            CHECK(qv_submit(rt, f[0], a, 1));
        CHECK(qv_wait_all(rt));
        o->tasks = c->ntasks;
    } else {
        size_t n;
        int ntiles;
        bench_task *t = bench_chol_tasks(c->nt, &n, &ntiles);
        double *tiles = calloc((size_t)ntiles * 8, sizeof *tiles);
        qv_buf **h = calloc((size_t)ntiles, sizeof *h);
        if (!t || !tiles || !h)
            return QV_ENOMEM;
        for (int i = 0; i < ntiles; i++)
            CHECK(qv_buf_register(rt, tiles + 8 * i, 8 * sizeof *tiles, &h[i]));
        w0 = bench_now(), c0 = bench_cpu();
        for (int r = 0; r < c->reps; r++) {
            for (size_t k = 0; k < n; k++) {
                qv_arg a[3];
                for (int j = 0; j < t[k].nbuf; j++)
                    a[j] = QV_BUF(h[t[k].buf[j]]);
                CHECK(qv_submit(rt, f[t[k].kind], a, t[k].nbuf));
            }
            CHECK(qv_wait_all(rt));
        }
        o->tasks = (long)n * c->reps;
        free(t);
        free(tiles);
        free(h);
    }
    o->wall_s = bench_now() - w0;
    o->cpu_s = bench_cpu() - c0;
    usleep(100000); /* let the workers go idle */
    double i0 = bench_cpu(), iw = bench_now();
    usleep(300000);
    o->idle_cores = (bench_cpu() - i0) / (bench_now() - iw);
    qv_runtime_destroy(rt);
    return 0;
}
