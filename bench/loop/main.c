/*
 * main.c - bench_loop: the run-time loop's figures (issue 10, "Benchmarks"),
 * each beside its baseline in one run.
 *
 *   bench_loop [--overhead] [--pays] [--adapt] [--predict] [--runs N]
 *              [--share DIR] [--smoke] [--shape S] [--replayed-only]
 *
 * With no mode, all four. --smoke runs every mode at tiny sizes, once, with
 * short caps on waiting for a compile: it checks that the benchmark works
 * and its results are right, never its timings. --share names the
 * share/quiver directory whose catalog and board files the default
 * platform's policy uses (default: the build tree's). Policy files go to a
 * temporary directory ($TMPDIR or /tmp), removed at exit. --shape (indep,
 * chain, chol or random) and --replayed-only narrow --overhead to one shape
 * and to Quiver's replayed runtime: two builds run taking turns compare a
 * change on one figure in a minute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"

int main(int argc, char **argv)
{
    loop_args a = { 0, 3, NULL, QV_LOOP_SHARE, NULL, 0 };
    int modes[4] = { 0 }, any = 0;
    static const char *names[4] = { "--overhead", "--pays", "--adapt", "--predict" };
    for (int i = 1; i < argc; i++) {
        int m = -1;
        for (int k = 0; k < 4; k++)
            if (!strcmp(argv[i], names[k]))
                m = k;
        if (m >= 0)
            modes[m] = any = 1;
        else if (!strcmp(argv[i], "--smoke"))
            a.smoke = 1;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            a.runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--share") && i + 1 < argc)
            a.share = argv[++i];
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc)
            a.shape = argv[++i];
        else if (!strcmp(argv[i], "--replayed-only"))
            a.replayed = 1;
        else {
            fprintf(stderr, "usage: bench_loop [--overhead] [--pays] [--adapt] [--predict] "
                            "[--runs N] [--share DIR] [--smoke] [--shape S] "
                            "[--replayed-only]\n");
            return 2;
        }
    }
    if (a.runs < 1 || a.runs > 100) {
        fprintf(stderr, "bench_loop: --runs must be 1..100\n");
        return 2;
    }
    if (a.smoke)
        a.runs = 1;
    if (!any)
        modes[0] = modes[1] = modes[2] = modes[3] = 1;
    const char *tmp = getenv("TMPDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/bench_loop.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench_loop: mkdtemp");
        return 1;
    }
    a.tmpdir = dir;
    printf("bench_loop%s: %s\n\n", a.smoke ? " --smoke" : "",
           loop_starpu_built() ? "StarPU 1.3 baseline built in" : "built without StarPU");
    int (*run[4])(const loop_args *) = { loop_overhead, loop_pays, loop_adapt, loop_predict };
    int failed = 0;
    for (int k = 0; k < 4; k++) {
        if (!modes[k])
            continue;
        double t0 = bench_now();
        failed |= run[k](&a);
        printf("(%s took %.0f s)\n\n", names[k], bench_now() - t0);
        fflush(stdout);
    }
    loop_rmdir(dir);
    return failed;
}
