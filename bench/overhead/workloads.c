/*
 * workloads.c - the shapes shared by both runners, and timing helpers.
 */
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

double bench_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void bench_spin(double us)
{
    if (us <= 0)
        return;
    double end = bench_now() + us / 1e6;
    while (bench_now() < end)
        ;
}

/* Lower-triangular tile (i, j), i >= j, as an index. */
static int tile(int i, int j)
{
    return i * (i + 1) / 2 + j;
}

bench_task *bench_chol_tasks(int nt, size_t *ntasks, int *ntiles)
{
    size_t n = (size_t)nt * (nt + 1) * (nt + 2) / 6, k = 0;
    bench_task *t = calloc(n, sizeof *t);
    if (!t)
        return NULL;
    for (int j = 0; j < nt; j++) {
        t[k++] = (bench_task){ 0, 1, { tile(j, j) }, { 3 } };
        for (int i = j + 1; i < nt; i++)
            t[k++] = (bench_task){ 1, 2, { tile(j, j), tile(i, j) }, { 1, 3 } };
        for (int i = j + 1; i < nt; i++) {
            t[k++] = (bench_task){ 2, 2, { tile(i, j), tile(i, i) }, { 1, 3 } };
            for (int l = j + 1; l < i; l++)
                t[k++] = (bench_task){ 3, 3, { tile(i, j), tile(l, j), tile(i, l) },
                                       { 1, 1, 3 } };
        }
    }
    *ntasks = k;
    *ntiles = nt * (nt + 1) / 2;
    return t;
}
