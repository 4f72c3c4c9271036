/*
 * bench_profile.c - the cost of `quiver profile`'s instrumentation, in one
 * run: work.c built without and with -finstrument-functions, the latter run
 * bare (glibc's empty hooks) and with libquiver-profile.so preloaded, each
 * the median of R runs of the child's CPU time (user + system: on a
 * shared machine, wall time mostly measures the other processes).
 *
 *   tiny: N rounds of 3 nested ~2 ns calls (uftrace's bench): the added ns
 *         per call (goal <= 30) and the slowdown (goal <= 5x);
 *   hot:  functions of >= 10 us (goal <= 1.10x).
 * It also prints the probe cost the library calibrated and subtracts.
 *
 *   bench_profile [--smoke] [--runs R]
 * --smoke: small sizes, one run, no goal checked (ctest bench_profile_smoke).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "profile/profraw.h"

static char dir[] = "/tmp/qvbenchprof.XXXXXX";

/* CPU seconds of one run of prog mode n, preloaded or not. */
static double run(const char *prog, const char *mode, long n, int preload)
{
    char ns[32];
    snprintf(ns, sizeof ns, "%ld", n);
    pid_t pid = fork();
    if (pid == 0) {
        if (preload) {
            setenv("LD_PRELOAD", QV_PROFILE_LIB, 1);
            setenv("QV_PROFILE_DIR", dir, 1);
        }
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execl(prog, prog, mode, ns, (char *)NULL);
        _exit(127);
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR)
        ;
    double t = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "bench_profile: %s %s %ld failed\n", prog, mode, n);
        exit(1);
    }
    return t;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const char *prog, const char *mode, long n, int preload, int runs)
{
    double t[64];
    for (int i = 0; i < runs; i++)
        t[i] = run(prog, mode, n, preload);
    qsort(t, (size_t)runs, sizeof t[0], cmp);
    return t[runs / 2];
}

/* The probe cost the library wrote in its last raw profile. */
static double probe_ns(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s/qvprof.*.txt 2>/dev/null | head -n 1", dir);
    FILE *p = popen(cmd, "r");
    char path[512] = "";
    if (p && fgets(path, sizeof path, p))
        path[strcspn(path, "\n")] = 0;
    if (p)
        pclose(p);
    qv__prof_raw *r;
    if (!path[0] || qv__prof_raw_load(path, &r, NULL))
        return -1;
    double v = r->probe_pair_ns;
    qv__prof_raw_free(r);
    return v;
}

int main(int argc, char **argv)
{
    int smoke = 0, runs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--smoke"))
            smoke = 1;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_profile [--smoke] [--runs R]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 63)
        runs = 5;
    if (smoke)
        runs = 1;
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    long tiny = smoke ? 100000 : 15000000, hot = smoke ? 50 : 20000;
    double tp = median(QV_WORK_PLAIN, "tiny", tiny, 0, runs);
    double tb = median(QV_WORK_INSTR, "tiny", tiny, 0, runs);
    double ti = median(QV_WORK_INSTR, "tiny", tiny, 1, runs);
    double probe = probe_ns();
    double hp = median(QV_WORK_PLAIN, "hot", hot, 0, runs);
    double hb = median(QV_WORK_INSTR, "hot", hot, 0, runs);
    double hi = median(QV_WORK_INSTR, "hot", hot, 1, runs);
    double calls = 3.0 * (double)tiny;
    double per_call = (ti - tp) / calls * 1e9;
    printf("bench_profile: median of %d runs of each process's CPU time (user + system)\n", runs);
    printf("tiny (%ld x 3 nested calls):  plain %.3f s, instrumented %.3f s, profiled %.3f s\n",
           tiny, tp, tb, ti);
    printf("  added per call        %6.1f ns   (goal <= 30)\n", per_call);
    printf("  slowdown              %6.2fx     (goal <= 5x; uftrace-bench-like)\n", ti / tp);
    printf("  calibrated probe cost %6.1f ns   (subtracted from every call's time)\n", probe);
    printf("hot (%ld calls of a ~10-20 us filter, 34 calls per round): plain %.3f s, "
           "instrumented %.3f s, profiled %.3f s\n",
           hot, hp, hb, hi);
    printf("  slowdown              %6.3fx    (goal <= 1.10x; %.3fx of the instrumented "
           "build without the library)\n",
           hi / hp, hi / hb);
    printf("  per filter call       %6.1f us\n", hp / (double)hot * 1e6);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_profile: could not remove %s\n", dir);
    if (smoke)
        return 0;
    int ok = per_call <= 30 && ti / tp <= 5 && hi / hp <= 1.10;
    printf("goals: %s\n", ok ? "met" : "NOT met");
    return 0;
}
