/*
 * bench.h - the overhead benchmark's shapes and runners. A runner executes
 * one shape once on one runtime and reports wall and CPU time of the timed
 * part (first submission to the end of the final wait), plus the CPU time
 * the runtime burns while idle right after.
 */
#ifndef QV_BENCH_OVERHEAD_H
#define QV_BENCH_OVERHEAD_H

#include <stddef.h>

typedef enum { SHAPE_INDEP, SHAPE_CHAIN, SHAPE_CHOL, SHAPE_COUNT } shape;

typedef struct bench_cfg {
    shape    shape;
    int      ncpu;
    double   body_us;   /* spin inside each task; 0 = empty body */
    int      ntasks;    /* indep, chain: tasks */
    int      nt;        /* chol: tiles per side */
    int      reps;      /* chol: graph repetitions */
    int      record;    /* quiver: record the graph */
} bench_cfg;

typedef struct bench_out {
    double wall_s;
    double cpu_s;       /* process CPU time during the timed part */
    double idle_cores;  /* cores burnt while idle, after the work */
    long   tasks;
} bench_out;

/* A program the runners replay: tasks on tile handles, in order. */
typedef struct bench_task {
    unsigned char kind;   /* 0 potrf, 1 trsm, 2 syrk, 3 gemm (chol only) */
    unsigned char nbuf;
    int           buf[3]; /* tile indices */
    unsigned char mode[3];/* 1 R, 3 RW */
} bench_task;

/* Builds the Cholesky task list for nt x nt tiles over nt*(nt+1)/2 tiles. */
bench_task *bench_chol_tasks(int nt, size_t *ntasks, int *ntiles);

double bench_now(void);
double bench_cpu(void);
void   bench_spin(double us);

int run_quiver(const bench_cfg *c, bench_out *o);
int run_starpu(const bench_cfg *c, const char *sched, bench_out *o);

#endif
