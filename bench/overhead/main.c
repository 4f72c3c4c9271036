/*
 * main.c - bench_overhead: Quiver's per-task overhead next to StarPU's, in
 * one run, on the same machine, with the same number of CPU workers.
 *
 *   bench_overhead [--runs N] [--ncpu N] [--smoke]
 *
 * Every measurement is its own process (so runtimes never share a process
 * and start-up is excluded from the timing); runtimes take turns within
 * each round so that drift of the machine hits them alike. Cells are median
 * [min-max] over the runs. us/task = (first submit -> final wait returns) /
 * tasks. "idle cores" is CPU time burnt per second while the runtime sits
 * idle after the work. With a 10 us body, eff = tasks x body / ncpu / wall
 * (chain: tasks x body / wall).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const char *runtimes[] = { "quiver", "quiver-norec", "starpu-eager", "starpu-dmda" };
#define NRT (sizeof runtimes / sizeof runtimes[0])
static const char *shape_names[] = { "indep", "chain", "chol" };

static int one(const char *rt, const bench_cfg *c)
{
    bench_out o = { 0 };
    int rc;
    if (!strncmp(rt, "quiver", 6))
        rc = run_quiver(c, &o);
    else
        rc = run_starpu(c, rt + 7, &o);
    if (rc)
        return 1;
    printf("%.9f %.9f %.6f %ld\n", o.wall_s, o.cpu_s, o.idle_cores, o.tasks);
    return 0;
}

/* Runs one measurement in a child process; returns 0 and fills o. */
static int child(const char *rt, const bench_cfg *c, bench_out *o)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        char shape_s[8], ncpu[16], body[32], n[16], nt[16], reps[16], rec[4];
        snprintf(shape_s, sizeof shape_s, "%d", (int)c->shape);
        snprintf(ncpu, sizeof ncpu, "%d", c->ncpu);
        snprintf(body, sizeof body, "%g", c->body_us);
        snprintf(n, sizeof n, "%d", c->ntasks);
        snprintf(nt, sizeof nt, "%d", c->nt);
        snprintf(reps, sizeof reps, "%d", c->reps);
        snprintf(rec, sizeof rec, "%d", c->record);
        execl("/proc/self/exe", "bench_overhead", "--one", rt, shape_s, ncpu, body, n, nt,
              reps, rec, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    int got = f ? fscanf(f, "%lf %lf %lf %ld", &o->wall_s, &o->cpu_s, &o->idle_cores,
                         &o->tasks)
                : 0;
    if (f)
        fclose(f);
    int st;
    waitpid(pid, &st, 0);
    return got == 4 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    if (argc == 10 && !strcmp(argv[1], "--one")) {
        bench_cfg c = { (shape)atoi(argv[3]), atoi(argv[4]), atof(argv[5]), atoi(argv[6]),
                        atoi(argv[7]), atoi(argv[8]), atoi(argv[9]) };
        return one(argv[2], &c);
    }
    int runs = 7, ncpu = 2, smoke = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ncpu") && i + 1 < argc)
            ncpu = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--smoke"))
            smoke = 1;
        else {
            fprintf(stderr, "usage: bench_overhead [--runs N] [--ncpu N] [--smoke]\n");
            return 2;
        }
    }
    if (smoke)
        runs = 1;
    if (runs < 1 || runs > 100 || ncpu < 1) {
        fprintf(stderr, "bench_overhead: --runs must be 1..100, --ncpu >= 1\n");
        return 2;
    }
    printf("bench_overhead: %d runs per cell, %d CPU workers each, us/task median "
           "[min-max]\n\n", runs, ncpu);
    printf("| shape | body | quiver | quiver (no graph) | starpu eager | starpu dmda | "
           "quiver / best starpu |\n|---|---|---|---|---|---|---|\n");
    double idle[NRT] = { 0 };
    int nidle = 0, failed = 0;
    for (int s = 0; s < SHAPE_COUNT; s++) {
        for (int b = 0; b < 2; b++) {
            bench_cfg c = { (shape)s, ncpu, b ? 10.0 : 0.0, 0, 20, 20, 1 };
            c.ntasks = s == SHAPE_INDEP ? 100000 : 20000;
            if (smoke) {
                c.ntasks = 200;
                c.nt = 4;
                c.reps = 2;
            }
            double us[NRT][100], eff[NRT][100];
            for (int r = 0; r < runs; r++) {
                for (unsigned k = 0; k < NRT; k++) {
                    bench_out o;
                    c.record = strcmp(runtimes[k], "quiver-norec") != 0;
                    if (child(runtimes[k], &c, &o) != 0) {
                        fprintf(stderr, "%s %s failed\n", runtimes[k], shape_names[s]);
                        failed = 1;
                        us[k][r] = eff[k][r] = 0;
                        continue;
                    }
                    us[k][r] = o.wall_s * 1e6 / (double)o.tasks;
                    double work = (double)o.tasks * c.body_us / 1e6;
                    eff[k][r] = work / (s == SHAPE_CHAIN ? 1 : ncpu) / o.wall_s;
                    idle[k] += o.idle_cores;
                }
                nidle++;
            }
            printf("| %s | %s |", shape_names[s], b ? "10 us" : "empty");
            double med[NRT];
            for (unsigned k = 0; k < NRT; k++) {
                double v[100], e[100];
                memcpy(v, us[k], sizeof(double) * (size_t)runs);
                memcpy(e, eff[k], sizeof(double) * (size_t)runs);
                med[k] = median(v, runs);
                printf(" %.2f [%.2f-%.2f]", med[k], v[0], v[runs - 1]);
                if (b)
                    printf(" eff %.2f", median(e, runs));
                printf(" |");
            }
            double best = med[2] < med[3] ? med[2] : med[3];
            printf(" %.2f |\n", best > 0 ? med[0] / best : 0.0);
            fflush(stdout);
        }
    }
    printf("\nCores burnt while idle (mean over all runs):");
    for (unsigned k = 0; k < NRT; k++)
        printf(" %s %.2f%s", runtimes[k], idle[k] / nidle, k + 1 < NRT ? "," : "\n");
    return failed;
}
