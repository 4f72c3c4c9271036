/*
 * pays.c - bench_loop --pays: applications where the plan should pay, on
 * the default platform (CPU, PoCL, the emulated U250 and its catalog):
 * the demos' signal chain and tiled Cholesky, end to end (inputs written,
 * tasks, outputs home) per entry, eager (heft placement task by task, no
 * regions, implicit_regions off) against planned (each entry a region,
 * timed once it replays). Also the board's modelled busy time per entry
 * and where the tasks ran.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

typedef struct pay_cfg {
    loop_app_cfg app;
    const char  *label;
    const char  *policy;
    int          planned;
    int          warm, max_warm, timed;
    double       max_warm_s;
    const char  *tmpdir, *calib_policy;
    int          calib;   /* eager entries that calibrate the models first */
} pay_cfg;

enum { P_MED, P_MEAN, P_BOARD, P_REPLAYED, P_TIMED, P_CPU, P_GPU, P_FPGA, P_OK, P_COMPILES,
       P_PRED, P_MEAS, P_WARM, P_REPLANS, P_RECORDED, P_N };

typedef struct pay_out {
    double v[P_N];
    char   models[512]; /* the models' estimates at the end of the run */
    char   reason[160]; /* the region's last_replan_reason at the end */
} pay_out;

static int run_app(const void *arg, void *out_, size_t size)
{
    const pay_cfg *c = arg;
    pay_out *po = out_;
    double *out = po->v;
    (void)size;
    char dir[1024] = "";
    if (c->calib && loop_calibrate(c->tmpdir, c->calib_policy, 1, &c->app, c->calib, dir))
        return -1;
    qv_options opts;
    qv_options_init(&opts);
    opts.config = c->policy;
    opts.perfmodel_dir = dir;
    qv_runtime *rt;
    LOOP_CHECK(qv_runtime_create(&opts, &rt));
    loop_app *app;
    LOOP_CHECK(loop_app_create(rt, &c->app, &app));
    int warm = 0, replaying = 0;
    if (c->planned) {
        warm = loop_warm(rt, c->app.region, loop_app_entry, app, c->max_warm, c->max_warm_s,
                         2, &replaying);
        if (warm < 0)
            return warm;
    } else {
        for (; warm < c->warm; warm++)
            LOOP_CHECK(loop_app_entry(app));
    }
    qv_region_info r0 = { 0 }, r1 = { 0 };
    if (c->planned)
        LOOP_CHECK(loop_region(rt, c->app.region, &r0));
    double k0[3], k1[3], b0 = loop_board_us(rt, k0);
    double *ms = calloc((size_t)c->timed, sizeof *ms), sum = 0;
    if (!ms)
        return QV_ENOMEM;
    for (int e = 0; e < c->timed; e++) {
        double t0 = bench_now();
        LOOP_CHECK(loop_app_entry(app));
        ms[e] = (bench_now() - t0) * 1e3;
        sum += ms[e];
    }
    double b1 = loop_board_us(rt, k1);
    if (c->planned)
        LOOP_CHECK(loop_region(rt, c->app.region, &r1));
    double tasks = (k1[0] - k0[0]) + (k1[1] - k0[1]) + (k1[2] - k0[2]);
    out[P_MED] = loop_median(ms, c->timed);
    out[P_MEAN] = sum / c->timed;
    out[P_BOARD] = (b1 - b0) / c->timed;
    out[P_REPLAYED] = (double)(r1.replayed - r0.replayed);
    out[P_RECORDED] = (double)(r1.recorded - r0.recorded);
    out[P_TIMED] = c->timed;
    for (int k = 0; k < 3; k++)
        out[P_CPU + k] = tasks > 0 ? (k1[k] - k0[k]) / tasks : 0;
    out[P_OK] = loop_app_check(app) == 0;
    out[P_COMPILES] = (double)r1.compiles;
    out[P_PRED] = r1.predicted_us;
    out[P_MEAS] = r1.measured_us;
    out[P_WARM] = warm;
    out[P_REPLANS] = (double)r1.replans;
    snprintf(po->reason, sizeof po->reason, "%s", r1.last_replan_reason);
    loop_app_models(app, po->models, sizeof po->models);
    if (c->planned && r1.last_error[0])
        fprintf(stderr, "bench_loop: %s: %s\n", c->app.region, r1.last_error);
    free(ms);
    loop_app_destroy(app);
    qv_runtime_destroy(rt);
    if (dir[0])
        loop_rmdir(dir);
    return 0;
}

int loop_pays(const loop_args *a)
{
    const char *eager = loop_default_policy(a, 1, 0, 0, NULL);
    const char *planned = loop_default_policy(a, 2, 1, 0, NULL);
    if (!eager || !planned) {
        fprintf(stderr, "bench_loop: cannot write a policy under %s\n", a->tmpdir);
        return 1;
    }
    int s = a->smoke;
    /* A board served by quiverd, 500 us away each way: fir and fft may run
     * only there, mag on the host. Eager sends each call on its own and
     * starts fft when fir's reply is home; the plan ships both as one part
     * (docs/runtime.md, "Parts on remote boards"). */
    const char *remote = loop_remote_start(a, 500, 7);
    struct {
        const char  *label;
        loop_app_cfg app;
        const char  *policy; /* NULL: the default platform's */
    } apps[] = {
        { s ? "signal 2 x 256" : "signal 8 frames x 1024",
          { APP_SIGNAL, "frames", s ? 2 : 8, s ? 256 : 1024, 0, 0, 1, 0, 0, 0 }, NULL },
        { s ? "signal 1 x 1024" : "signal 4 frames x 4096",
          { APP_SIGNAL, "frames", s ? 1 : 4, s ? 1024 : 4096, 0, 0, 1, 0, 0, 0 }, NULL },
        { s ? "signal 2 x 256, unfused" : "signal 8 frames x 1024, unfused",
          { APP_SIGNAL, "frames", s ? 2 : 8, s ? 256 : 1024, 0, 0, 1, 1, 0, 0 }, NULL },
        { s ? "cholesky 3 x 16" : "cholesky 6x6 tiles of 64",
          { APP_CHOL, "cholesky", 0, 0, s ? 3 : 6, s ? 16 : 64, 1, 0, 0, 0 }, NULL },
        { s ? "signal 2 x 256, remote board" : "signal 8 x 1024, fir+fft on a remote board",
          { APP_SIGNAL, "frames", s ? 2 : 8, s ? 256 : 1024, 0, 0, 0, 1, 1, 0 }, remote },
    };
    int napps = (int)(sizeof apps / sizeof apps[0]) - !remote, failed = 0, notes = 0;
    char note[8][2][640];
    memset(note, 0, sizeof note);
    printf("### --pays: end to end per entry on the default platform (CPU + OpenCL + "
           "emulated U250), eager (heft, no regions) vs planned (regions, replayed); "
           "median of %d process%s\n\n", a->runs, a->runs > 1 ? "es" : "");
    printf("| application | run | ms/entry (median of runs) [min-max] | board us/entry "
           "(modelled) | tasks cpu/gpu/board | replayed/timed | compiles | result | "
           "eager / planned | eager / planned of the same round, median [min-max] |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < napps; i++) {
        double v[2][P_N][100];
        /* Each round's eager and planned runs, one after the other: their
         * ratio rides out the machine's slow and fast phases, which last
         * longer than a process and move both medians apart. */
        double round_ms[2][100];
        char models[2][512] = { "", "" }, reason[160] = "";
        int went_eager = 0;
        int ok[2] = { 0 };
        for (int r = 0; r < a->runs && r < 100; r++)
            for (int p = 0; p < 2; p++) {
                round_ms[p][r] = 0;
                const char *pe = apps[i].policy ? apps[i].policy : eager;
                const char *pp = apps[i].policy ? apps[i].policy : planned;
                pay_cfg c = { apps[i].app, apps[i].label, p ? pp : pe, p,
                              s ? 5 : 10, s ? 12 : 100, s ? 3 : 100, s ? 3.0 : 60.0,
                              a->tmpdir, pe, s ? 4 : 20 };
                if (!p)
                    c.app.region = NULL;
                pay_out po;
                if (loop_child(run_app, &c, &po, sizeof po)) {
                    fprintf(stderr, "bench_loop: %s %s failed\n", apps[i].label,
                            p ? "planned" : "eager");
                    failed = 1;
                    continue;
                }
                for (int k = 0; k < P_N; k++)
                    v[p][k][ok[p]] = po.v[k];
                round_ms[p][r] = po.v[P_MED];
                memcpy(models[p], po.models, sizeof models[p]);
                if (p && strstr(po.reason, "runs eagerly")) { /* the plan lost */
                    went_eager++;
                    memcpy(reason, po.reason, sizeof reason);
                }
                ok[p]++;
            }
        double med[2] = { 0, 0 };
        for (int p = 0; p < 2; p++) {
            if (!ok[p]) {
                printf("| %s | %s | failed | | | | | | | |\n", apps[i].label,
                       p ? "planned" : "eager");
                continue;
            }
            int n = ok[p], all_ok = 1;
            double rep = 1e300, timed = 0, probe = 0, lost = 0;
            for (int k = 0; k < n; k++) {
                all_ok &= v[p][P_OK][k] != 0;
                rep = v[p][P_REPLAYED][k] < rep ? v[p][P_REPLAYED][k] : rep;
                timed = v[p][P_TIMED][k];
                /* Entries run eagerly (recorded) to weigh the plan against
                 * eager placement (5 at a time), and entries neither
                 * replayed nor recorded (a guard miss) */
                probe = v[p][P_RECORDED][k] > probe ? v[p][P_RECORDED][k] : probe;
                double miss = timed - v[p][P_REPLAYED][k] - v[p][P_RECORDED][k];
                lost = miss > lost ? miss : lost;
            }
            med[p] = loop_median(v[p][P_MED], n);
            double lo = v[p][P_MED][0], hi = v[p][P_MED][n - 1];
            printf("| %s | %s | %.3f [%.3f-%.3f] | %.1f | %.0f%%/%.0f%%/%.0f%% |", apps[i].label,
                   p ? "planned" : "eager", med[p], lo, hi, loop_median(v[p][P_BOARD], n),
                   100 * loop_median(v[p][P_CPU], n), 100 * loop_median(v[p][P_GPU], n),
                   100 * loop_median(v[p][P_FPGA], n));
            if (p && went_eager)
                printf(" %.0f/%.0f, then eager in %d of %d runs | %.0f |", rep, timed,
                       went_eager, n, loop_median(v[p][P_COMPILES], n));
            else if (p && rep < timed && !lost && probe <= 5)
                printf(" %.0f/%.0f (the others eager, weighing the plan) | %.0f |", rep, timed,
                       loop_median(v[p][P_COMPILES], n));
            else if (p)
                printf(" %.0f/%.0f%s | %.0f |", rep, timed,
                       rep < timed ? " NOT REPLAYED" : "", loop_median(v[p][P_COMPILES], n));
            else
                printf(" - | - |");
            printf(" %s |", all_ok ? "OK" : "WRONG");
            failed |= !all_ok;
            double ratio[100];
            int nr = 0;
            for (int r = 0; p && r < a->runs && r < 100; r++)
                if (round_ms[0][r] > 0 && round_ms[1][r] > 0)
                    ratio[nr++] = round_ms[0][r] / round_ms[1][r];
            if (p && med[0] > 0 && med[1] > 0)
                printf(" %.2f |", med[0] / med[1]);
            else
                printf(" |");
            if (nr) {
                double rm = loop_median(ratio, nr); /* sorts ratio */
                printf(" %.2f [%.2f-%.2f] |\n", rm, ratio[0], ratio[nr - 1]);
            } else {
                printf(" |\n");
            }
        }
        for (int p = 0; p < 2; p++)
            if (ok[p])
                notes += snprintf(note[i][p], sizeof note[i][p], "%s, %s run: %s%s%s",
                                  apps[i].label, p ? "planned" : "eager", models[p],
                                  p && reason[0] ? "; the region: " : "",
                                  p ? reason : "") > 0;
        fflush(stdout);
    }
    loop_remote_stop();
    printf("\nThe models at the end of the last run of each (us per call):\n");
    for (int i = 0; notes && i < napps; i++)
        for (int p = 0; p < 2; p++)
            if (note[i][p][0])
                printf("- %s\n", note[i][p]);
    printf("\n");
    return failed;
}
