/*
 * predict.c - bench_loop --predict: how well a plan predicts its region's
 * time. The demos' regions (quiver-signal's one frame per entry, a tiled
 * Cholesky per entry) on the default platform, warmed up until they replay
 * (the models calibrated); then, after each entry, the plan's predicted_us
 * against the entry's measured_us (first task start to last task end).
 * Mean absolute error in % of the measured time; the bias is the mean
 * signed error (positive: the plan promises more time than it takes).
 * The floor is the error of the best constant in hindsight (the median of
 * the measured times, known only after the run): what the entries' own
 * spread from one to the next leaves to any prediction that does not
 * foresee the machine's hiccups.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "loop.h"

typedef struct pred_cfg {
    const char  *policy;
    loop_app_cfg app;
    int          entries, max_warm;
    double       max_warm_s;
    const char  *tmpdir, *calib_policy;
    int          calib;   /* eager entries that calibrate the models first */
} pred_cfg;

typedef struct pred_out {
    int    n, replaying, ok;
    double replayed, mae, median, bias, worst, pred, meas, replans, floor;
} pred_out;

static int run_predict(const void *arg, void *out_, size_t size)
{
    const pred_cfg *c = arg;
    pred_out *o = out_;
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
    const char *name = c->app.region;
    int warm = loop_warm(rt, name, loop_app_entry, app, c->max_warm, c->max_warm_s, 2,
                         &o->replaying);
    if (warm < 0)
        return warm;
    qv_region_info r0, ri;
    double *abs_err = calloc((size_t)c->entries, sizeof *abs_err);
    double *meas = calloc((size_t)c->entries, sizeof *meas);
    if (!abs_err || !meas) {
        free(abs_err);
        free(meas);
        return QV_ENOMEM;
    }
    LOOP_CHECK(loop_region(rt, name, &r0));
    for (int e = 0; e < c->entries; e++) {
        LOOP_CHECK(loop_app_entry(app));
        LOOP_CHECK(loop_region(rt, name, &ri));
        if (ri.predicted_us <= 0 || ri.measured_us <= 0)
            continue;
        double err = (ri.predicted_us - ri.measured_us) / ri.measured_us;
        abs_err[o->n] = 100 * fabs(err);
        meas[o->n] = ri.measured_us;
        o->mae += fabs(err);
        o->bias += err;
        o->worst = fmax(o->worst, fabs(err));
        o->pred += ri.predicted_us;
        o->meas += ri.measured_us;
        o->n++;
    }
    if (o->n) {
        o->mae *= 100.0 / o->n;
        o->bias *= 100.0 / o->n;
        o->worst *= 100.0;
        o->pred /= o->n;
        o->meas /= o->n;
        o->median = loop_median(abs_err, o->n);
        double m = loop_median(meas, o->n); /* sorts meas: the sum below needs no order */
        for (int i = 0; i < o->n; i++)
            o->floor += fabs(m - meas[i]) / meas[i];
        o->floor *= 100.0 / o->n;
    }
    free(abs_err);
    free(meas);
    o->replayed = (double)(ri.replayed - r0.replayed);
    o->replans = (double)ri.replans;
    o->ok = loop_app_check(app) == 0;
    if (ri.last_error[0])
        fprintf(stderr, "bench_loop: %s: %s\n", name, ri.last_error);
    loop_app_destroy(app);
    qv_runtime_destroy(rt);
    if (dir[0])
        loop_rmdir(dir);
    return 0;
}

int loop_predict(const loop_args *a)
{
    /* Plans kept (replan.eager_slack: 0): this measures their predictions,
     * and one that loses to eager placement would be dropped. */
    const char *policy = loop_default_policy(a, 4, 1, 0, "replan: {eager_slack: 0}\n");
    const char *eager = loop_default_policy(a, 5, 0, 0, NULL);
    if (!policy || !eager) {
        fprintf(stderr, "bench_loop: cannot write a policy under %s\n", a->tmpdir);
        return 1;
    }
    int s = a->smoke, failed = 0;
    struct {
        const char  *label;
        loop_app_cfg app;
    } apps[] = {
        { s ? "signal frame of 256" : "quiver-signal: a frame of 1024",
          { APP_SIGNAL, "frame", 1, s ? 256 : 1024, 0, 0, 1, 0, 0, 0 } },
        { s ? "cholesky 3 x 16" : "cholesky 6x6 tiles of 64",
          { APP_CHOL, "cholesky", 0, 0, s ? 3 : 6, s ? 16 : 64, 1, 0, 0, 0 } },
    };
    printf("### --predict: the plan's predicted_us against each entry's measured_us, "
           "replayed entries, default platform\n\n");
    printf("| region | entries | replayed | predicted us (mean) | measured us (mean) | "
           "mean abs error | median abs error | bias | worst | floor: best constant | "
           "re-plans | result |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < 2; i++) {
        pred_cfg c = { policy, apps[i].app, s ? 3 : 200, s ? 12 : 100, s ? 3.0 : 60.0,
                       a->tmpdir, eager, s ? 4 : 20 };
        pred_out o;
        if (loop_child(run_predict, &c, &o, sizeof o)) {
            fprintf(stderr, "bench_loop: --predict %s failed\n", apps[i].label);
            failed = 1;
            continue;
        }
        printf("| %s | %d | %.0f%s | %.1f | %.1f | %.1f%% | %.1f%% | %+.1f%% | %.1f%% | %.1f%% | "
               "%.0f | %s |\n", apps[i].label, o.n, o.replayed,
               o.replayed < c.entries ? " NOT REPLAYED" : "", o.pred, o.meas, o.mae, o.median,
               o.bias, o.worst, o.floor, o.replans, o.ok ? "OK" : "WRONG");
        failed |= !o.ok;
    }
    printf("\n");
    return failed;
}
