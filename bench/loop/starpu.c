/*
 * starpu.c - bench_loop's baseline: a program of bench_task entries on
 * StarPU 1.3 through its public API, entry by entry, with the scheduler
 * named by the caller (STARPU_SCHED). Without StarPU (QV_LOOP_STARPU
 * undefined) the baseline is absent and the tables print '-'.
 */
#include <stdio.h>
#include <stdlib.h>

#include "loop.h"

#ifdef QV_LOOP_STARPU
#include <starpu.h>

static void body(void *buffers[], void *arg)
{
    (void)buffers;
    (void)arg;
}

static struct starpu_codelet cl_none = { .cpu_funcs = { body }, .nbuffers = 0 };
static struct starpu_codelet cl_rw = { .cpu_funcs = { body }, .nbuffers = 1,
                                       .modes = { STARPU_RW } };
static struct starpu_codelet cl_r_rw = { .cpu_funcs = { body }, .nbuffers = 2,
                                         .modes = { STARPU_R, STARPU_RW } };
static struct starpu_codelet cl_r_r_rw = { .cpu_funcs = { body }, .nbuffers = 3,
                                           .modes = { STARPU_R, STARPU_R, STARPU_RW } };

static int entry(const loop_prog *p, starpu_data_handle_t *h)
{
    for (size_t k = 0; k < p->n; k++) {
        const bench_task *t = &p->t[k];
        int rc;
        if (t->nbuf == 0)
            rc = starpu_task_insert(&cl_none, 0);
        else if (t->nbuf == 1)
            rc = starpu_task_insert(&cl_rw, STARPU_RW, h[t->buf[0]], 0);
        else if (t->nbuf == 2)
            rc = starpu_task_insert(&cl_r_rw, STARPU_R, h[t->buf[0]], STARPU_RW,
                                    h[t->buf[1]], 0);
        else
            rc = starpu_task_insert(&cl_r_r_rw, STARPU_R, h[t->buf[0]], STARPU_R,
                                    h[t->buf[1]], STARPU_RW, h[t->buf[2]], 0);
        if (rc != 0)
            return -1;
    }
    starpu_task_wait_for_all();
    return 0;
}

int loop_starpu_built(void)
{
    return 1;
}

int loop_starpu(const loop_prog *p, const char *sched, int ncpu, int warm, int timed,
                double *us_per_task)
{
    char n[16];
    snprintf(n, sizeof n, "%d", ncpu);
    setenv("STARPU_NCPU", n, 1);
    setenv("STARPU_SCHED", sched, 1);
    setenv("STARPU_NCUDA", "0", 1);
    setenv("STARPU_NOPENCL", "0", 1);
    setenv("STARPU_SILENT", "1", 1);
    loop_quick_exit = 1; /* StarPU 1.3 leaks at shutdown */
    if (starpu_init(NULL) != 0) {
        fprintf(stderr, "bench_loop: starpu_init failed\n");
        return -1;
    }
    int nt = p->ntiles ? p->ntiles : 1, rc = 0;
    double *tiles = calloc((size_t)nt * 8, sizeof *tiles);
    starpu_data_handle_t *h = calloc((size_t)nt, sizeof *h);
    if (!tiles || !h)
        rc = -1;
    for (int i = 0; !rc && i < p->ntiles; i++)
        starpu_variable_data_register(&h[i], STARPU_MAIN_RAM, (uintptr_t)(tiles + 8 * i),
                                      8 * sizeof *tiles);
    for (int e = 0; !rc && e < warm; e++)
        rc = entry(p, h);
    double t0 = bench_now();
    for (int e = 0; !rc && e < timed; e++)
        rc = entry(p, h);
    *us_per_task = (bench_now() - t0) * 1e6 / ((double)timed * (double)p->n);
    for (int i = 0; h && i < p->ntiles; i++)
        starpu_data_unregister(h[i]);
    starpu_shutdown();
    free(tiles);
    free(h);
    return rc;
}

#else

int loop_starpu_built(void)
{
    return 0;
}

int loop_starpu(const loop_prog *p, const char *sched, int ncpu, int warm, int timed,
                double *us_per_task)
{
    (void)p, (void)sched, (void)ncpu, (void)warm, (void)timed;
    *us_per_task = 0;
    return -1;
}

#endif
