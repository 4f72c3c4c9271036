/*
 * run_starpu.c - the same shapes on StarPU 1.3, through its public API,
 * with the scheduler named by the caller (STARPU_SCHED).
 */
#include <starpu.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

static double body_us;

static void body(void *buffers[], void *arg)
{
    (void)buffers;
    (void)arg;
    bench_spin(body_us);
}

static struct starpu_codelet cl_none = { .cpu_funcs = { body }, .nbuffers = 0 };
static struct starpu_codelet cl_rw = { .cpu_funcs = { body }, .nbuffers = 1,
                                       .modes = { STARPU_RW } };
static struct starpu_codelet cl_r_rw = { .cpu_funcs = { body }, .nbuffers = 2,
                                         .modes = { STARPU_R, STARPU_RW } };
static struct starpu_codelet cl_r_r_rw = { .cpu_funcs = { body }, .nbuffers = 3,
                                           .modes = { STARPU_R, STARPU_R, STARPU_RW } };

int run_starpu(const bench_cfg *c, const char *sched, bench_out *o)
{
    body_us = c->body_us;
    char ncpu[16];
    snprintf(ncpu, sizeof ncpu, "%d", c->ncpu);
    setenv("STARPU_NCPU", ncpu, 1);
    setenv("STARPU_SCHED", sched, 1);
    setenv("STARPU_NCUDA", "0", 1);
    setenv("STARPU_NOPENCL", "0", 1);
    setenv("STARPU_SILENT", "1", 1);
    if (starpu_init(NULL) != 0) {
        fprintf(stderr, "starpu_init failed\n");
        return -1;
    }
    double w0, c0;
    if (c->shape == SHAPE_INDEP) {
        w0 = bench_now(), c0 = bench_cpu();
        for (int i = 0; i < c->ntasks; i++)
            if (starpu_task_insert(&cl_none, 0) != 0)
                return -1;
        starpu_task_wait_for_all();
        o->tasks = c->ntasks;
    } else if (c->shape == SHAPE_CHAIN) {
        double x = 0;
        starpu_data_handle_t h;
        starpu_variable_data_register(&h, STARPU_MAIN_RAM, (uintptr_t)&x, sizeof x);
        w0 = bench_now(), c0 = bench_cpu();
        for (int i = 0; i < c->ntasks; i++)
            if (starpu_task_insert(&cl_rw, STARPU_RW, h, 0) != 0)
                return -1;
        starpu_task_wait_for_all();
        o->tasks = c->ntasks;
        starpu_data_unregister(h);
    } else {
        size_t n;
        int ntiles;
        bench_task *t = bench_chol_tasks(c->nt, &n, &ntiles);
        double *tiles = calloc((size_t)ntiles * 8, sizeof *tiles);
        starpu_data_handle_t *h = calloc((size_t)ntiles, sizeof *h);
        if (!t || !tiles || !h)
            return -1;
        for (int i = 0; i < ntiles; i++)
            starpu_variable_data_register(&h[i], STARPU_MAIN_RAM,
                                          (uintptr_t)(tiles + 8 * i), 8 * sizeof *tiles);
        struct starpu_codelet *cls[4] = { &cl_rw, &cl_r_rw, &cl_r_rw, &cl_r_r_rw };
        w0 = bench_now(), c0 = bench_cpu();
        for (int r = 0; r < c->reps; r++) {
            for (size_t k = 0; k < n; k++) {
                int rc;
                if (t[k].nbuf == 1)
                    rc = starpu_task_insert(cls[t[k].kind], STARPU_RW, h[t[k].buf[0]], 0);
                else if (t[k].nbuf == 2)
                    rc = starpu_task_insert(cls[t[k].kind], STARPU_R, h[t[k].buf[0]],
                                            STARPU_RW, h[t[k].buf[1]], 0);
                else
                    rc = starpu_task_insert(cls[t[k].kind], STARPU_R, h[t[k].buf[0]],
                                            STARPU_R, h[t[k].buf[1]], STARPU_RW,
                                            h[t[k].buf[2]], 0);
                if (rc != 0)
                    return -1;
            }
            starpu_task_wait_for_all();
        }
        o->tasks = (long)n * c->reps;
        for (int i = 0; i < ntiles; i++)
            starpu_data_unregister(h[i]);
        free(t);
        free(tiles);
        free(h);
    }
    o->wall_s = bench_now() - w0;
    o->cpu_s = bench_cpu() - c0;
    usleep(100000);
    double i0 = bench_cpu(), iw = bench_now();
    usleep(300000);
    o->idle_cores = (bench_cpu() - i0) / (bench_now() - iw);
    starpu_shutdown();
    return 0;
}
