/*
 * bench_defer.c - the cost of deferred wrapped calls (`quiver wrap
 * --defer`, host/src/wrap/pending.c) with many outputs pending at once, in
 * one run beside the same calls made synchronously and the plain function.
 *
 * Each call scales one page of floats (y = 2 x + 1) into its own page of
 * one large anonymous mapping, so every output is deferrable; nothing is
 * touched until all calls are made, then every output is read once (which
 * lands it). Printed per size K: the calls' time per call, the time to land
 * them all, and the same K calls made synchronously (their task waited for
 * by each call) and as plain function calls. The CPU only
 * (QUIVER_WRAP_WHERE=cpu), each wrapped call sent to the runtime
 * (QUIVER_WRAP_MIN_BYTES=0).
 *
 *   bench_defer [--smoke] [--runs R]
 * --smoke: K = 200 only, one run (ctest bench_defer_smoke).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "quiver.h"
#include "quiver_wrap.h"

#define FLOATS 1024u /* one 4 KiB page per output */

static void cpu_scale(const qv_call *c)
{
    const float *x = c->ptr[0];
    float *y = c->ptr[1];
    for (size_t i = 0; i < c->size[1] / sizeof *y; i++)
        y[i] = 2.0f * x[i] + 1.0f;
}

static void scale_plain(const float *x, float *y, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        y[i] = 2.0f * x[i] + 1.0f;
}

static const qv_wrap_arg args[] = {
    {"x", QV_R, 4, 0, "n"}, {"y", QV_W, 4, 0, "n"}, {"n", 0, 4, QV_WRAP_UINT, NULL}};
static qv_wrap_fn g_defer = {QV_WRAP_ABI, "bench_defer", NULL, args, 3, cpu_scale,
                             NULL, NULL, NULL, NULL, QV_WRAP_DEFER};
static qv_wrap_fn g_sync = {QV_WRAP_ABI, "bench_sync", NULL, args, 3, cpu_scale,
                            NULL, NULL, NULL, NULL, 0};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One round of k calls through fn (or the plain function when NULL) into
 * k pages of a fresh mapping; *land gets the time to read them all back.
 * Returns seconds of calls, or -1 when a result is wrong. */
static double round_of(qv_wrap_fn *fn, const float *x, size_t k, double *land)
{
    size_t pg = 4096, gap = 2 * pg; /* a page apart: no two outputs share a page */
    char *ys = mmap(NULL, k * gap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ys == MAP_FAILED)
        return -1;
    uint32_t n = FLOATS;
    double t0 = now();
    for (size_t i = 0; i < k; i++) {
        float *y = (float *)(ys + i * gap);
        if (fn) {
            void *argv[3] = {(void *)(uintptr_t)x, y, &n};
            if (qv_wrap_call(fn, argv))
                return -1;
        } else
            scale_plain(x, y, n);
    }
    double t1 = now();
    int bad = 0;
    for (size_t i = 0; i < k; i++) {
        const float *y = (const float *)(ys + i * gap);
        bad |= y[7] != 2.0f * x[7] + 1.0f;
    }
    *land = now() - t1;
    munmap(ys, k * gap);
    return bad ? -1 : t1 - t0;
}

int main(int argc, char **argv)
{
    int smoke = 0, runs = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--smoke"))
            smoke = 1;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_defer [--smoke] [--runs R]\n");
            return 2;
        }
    }
    if (runs < 1 || smoke)
        runs = 1;
    setenv("QUIVER_WRAP_WHERE", "cpu", 0);
    setenv("QUIVER_WRAP_MIN_BYTES", "0", 0);
    float *x = mmap(NULL, FLOATS * sizeof(float), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (x == MAP_FAILED)
        return 1;
    for (uint32_t i = 0; i < FLOATS; i++)
        x[i] = (float)i;
    double land;
    if (round_of(&g_defer, x, 8, &land) < 0 || round_of(&g_sync, x, 8, &land) < 0) {
        fprintf(stderr, "bench_defer: a warm-up call failed\n");
        return 1;
    }
    qv_wrap_stats st0;
    qv_wrap_stats_get("bench_defer", &st0);
    static const size_t sizes[] = {1000, 5000, 20000};
    printf("K pending | deferred: us per call, landing all ms | synchronous: us per call | "
           "plain: us per call | deferred calls\n");
    for (size_t s = 0; s < (smoke ? 1 : sizeof sizes / sizeof sizes[0]); s++) {
        size_t k = smoke ? 200 : sizes[s];
        double d[16], l[16], y[16], p[16];
        unsigned long long before = 0;
        qv_wrap_stats st;
        if (!qv_wrap_stats_get("bench_defer", &st))
            before = st.deferred;
        for (int r = 0; r < runs && r < 16; r++) {
            double ld, ls, lp;
            d[r] = round_of(&g_defer, x, k, &ld);
            y[r] = round_of(&g_sync, x, k, &ls);
            p[r] = round_of(NULL, x, k, &lp);
            l[r] = ld;
            if (d[r] < 0 || y[r] < 0 || p[r] < 0) {
                fprintf(stderr, "bench_defer: K = %zu: a wrong result\n", k);
                return 1;
            }
        }
        int m = runs < 16 ? runs : 16;
        qsort(d, (size_t)m, sizeof *d, cmp);
        qsort(l, (size_t)m, sizeof *l, cmp);
        qsort(y, (size_t)m, sizeof *y, cmp);
        qsort(p, (size_t)m, sizeof *p, cmp);
        qv_wrap_stats_get("bench_defer", &st);
        printf("%9zu | %8.1f us, %8.1f ms | %8.1f us | %6.2f us | %llu of %zu\n", k,
               d[m / 2] / (double)k * 1e6, l[m / 2] * 1e3, y[m / 2] / (double)k * 1e6,
               p[m / 2] / (double)k * 1e6, st.deferred - before, (size_t)m * k);
    }
    printf("(median of %d runs; deferred calls: how many the runtime deferred; 0 where "
           "userfaultfd is not permitted)\n", runs);
    return 0;
}
