/*
 * adapt.c - bench_loop --adapt: 200 entries of the signal chain's region
 * on the CPU and the emulated board; before entry 50 the board is made 4x
 * slower (qv__emu_set_slowdown: its modelled time, which the runtime
 * learns). Reported: after how many entries `replans` grows, and the
 * entries after the re-plan against two static runs over the same
 * entries: one slow from its first entry (its plan made for the new
 * conditions) and one that keeps every stage on the CPU (the board
 * unused). The best static plan is the one of the two with the lower
 * median over the rounds (the faster of the two in each round is printed
 * too). The emulated board's slowdown is modelled, not slept: wall time
 * shows where the work went; the board's modelled time per entry and the
 * plan's prediction show what the slowdown costs.
 *
 * Entries come 1 ms apart, as frames of a stream would, which leaves the
 * background compiler (SCHED_IDLE) idle time on a small machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/device.h"
#include "loop.h"

typedef struct adapt_cfg {
    const char  *policy;
    loop_app_cfg app;
    int          entries;  /* in all */
    int          slow_at;  /* entry before which the board slows; 0: from the start */
    double       factor;
    int          window;   /* first entry of the statistics; -1: after the re-plan */
    const char  *tmpdir, *calib_policy;
    int          calib;    /* eager entries that calibrate the models first */
} adapt_cfg;

typedef struct adapt_out {
    int    replaying_at_slow; /* the region replayed before the slowdown */
    int    replan_entry;      /* first entry >= slow_at after which replans grew; -1 */
    int    window, window_n;  /* the entries of the statistics */
    double replans, compiles, replayed_window;
    double replans_before;    /* re-plans before the slowdown */
    int    last_pre_replan;   /* entry after which the last of those came; -1 */
    double wall_ms, board_us, fpga, measured_us, predicted_us; /* window means */
    double pre_wall_ms, pre_board_us, pre_fpga, pre_predicted_us; /* before the slowdown */
    int    ok;
    char   reason[128];
    char   device[128];
    char   models[512];   /* at the end of the run */
} adapt_out;

typedef struct entry_rec {
    double wall_ms, board_us, fpga, measured_us, predicted_us, replans, replayed;
} entry_rec;

static void pause_ms(int ms)
{
    struct timespec ts = { 0, ms * 1000L * 1000L };
    nanosleep(&ts, NULL);
}

static int run_adapt(const void *arg, void *out_, size_t size)
{
    const adapt_cfg *c = arg;
    adapt_out *o = out_;
    (void)size;
    char dir[1024] = "";
    if (c->calib && loop_calibrate(c->tmpdir, c->calib_policy, 0, &c->app, c->calib, dir))
        return -1;
    qv_options opts;
    qv_options_init(&opts);
    opts.config = c->policy; /* the CPU and the emulated board */
    opts.opencl = 0;
    opts.perfmodel_dir = dir;
    qv_runtime *rt;
    LOOP_CHECK(qv_runtime_create(&opts, &rt));
    for (unsigned d = 0; d < qv_device_count(rt) && !o->device[0]; d++) {
        qv_device_info di;
        if (qv_device_get(rt, d, &di) == 0 && di.cls == QV_CLASS_FPGA)
            snprintf(o->device, sizeof o->device, "%s", di.name);
    }
    if (!o->device[0]) {
        fprintf(stderr, "bench_loop: --adapt: the policy gives no emulated board\n");
        return -1;
    }
    loop_app *app;
    LOOP_CHECK(loop_app_create(rt, &c->app, &app));
    entry_rec *rec = calloc((size_t)c->entries, sizeof *rec);
    if (!rec)
        return QV_ENOMEM;
    const char *name = c->app.region;
    double replans_before = 0, seen = 0;
    o->replan_entry = -1;
    o->last_pre_replan = -1;
    for (int e = 0; e < c->entries; e++) {
        if (e == c->slow_at) {
            qv_region_info ri;
            if (loop_region(rt, name, &ri) == 0) {
                o->replaying_at_slow = ri.replayed > 0;
                replans_before = (double)ri.replans;
                o->replans_before = replans_before;
            }
            LOOP_CHECK(qv__emu_set_slowdown(rt, o->device, c->factor));
        }
        double k0[3], k1[3], b0 = loop_board_us(rt, k0), t0 = bench_now();
        LOOP_CHECK(loop_app_entry(app));
        rec[e].wall_ms = (bench_now() - t0) * 1e3;
        double b1 = loop_board_us(rt, k1), n = k1[0] - k0[0] + k1[1] - k0[1] + k1[2] - k0[2];
        rec[e].board_us = b1 - b0;
        rec[e].fpga = n > 0 ? (k1[2] - k0[2]) / n : 0;
        qv_region_info ri;
        LOOP_CHECK(loop_region(rt, name, &ri));
        rec[e].measured_us = ri.measured_us;
        rec[e].predicted_us = ri.predicted_us;
        rec[e].replans = (double)ri.replans;
        rec[e].replayed = (double)ri.replayed;
        if (e < c->slow_at && (double)ri.replans > seen)
            o->last_pre_replan = e;
        seen = (double)ri.replans;
        if (e >= c->slow_at && o->replan_entry < 0 && c->slow_at > 0 &&
            (double)ri.replans > replans_before) {
            o->replan_entry = e;
            snprintf(o->reason, sizeof o->reason, "%s", ri.last_replan_reason);
        }
        if (e + 1 == c->entries) {
            o->replans = (double)ri.replans;
            o->compiles = (double)ri.compiles;
            if (ri.last_error[0])
                fprintf(stderr, "bench_loop: %s: %s\n", name, ri.last_error);
        }
        if (!ri.compiles)
            loop_let_compile(rt, name, 2.0);
        pause_ms(1);
    }
    o->ok = loop_app_check(app) == 0;
    loop_app_models(app, o->models, sizeof o->models);
    /* Statistics: the entries after the re-plan (or the window given). */
    int w = c->window;
    if (w < 0)
        w = o->replan_entry >= 0 ? o->replan_entry + 1 : c->slow_at + (c->entries - c->slow_at) / 2;
    if (w >= c->entries)
        w = c->entries - 1;
    o->window = w;
    o->window_n = c->entries - w;
    for (int e = w; e < c->entries; e++) {
        o->wall_ms += rec[e].wall_ms / o->window_n;
        o->board_us += rec[e].board_us / o->window_n;
        o->fpga += rec[e].fpga / o->window_n;
        o->measured_us += rec[e].measured_us / o->window_n;
    }
    o->predicted_us = rec[c->entries - 1].predicted_us;
    o->replayed_window = rec[c->entries - 1].replayed - (w > 0 ? rec[w - 1].replayed : 0);
    int p0 = c->slow_at > 10 ? c->slow_at - 10 : 0, np = c->slow_at - p0;
    for (int e = p0; e < c->slow_at; e++) {
        o->pre_wall_ms += rec[e].wall_ms / np;
        o->pre_board_us += rec[e].board_us / np;
        o->pre_fpga += rec[e].fpga / np;
    }
    if (c->slow_at > 0)
        o->pre_predicted_us = rec[c->slow_at - 1].predicted_us;
    free(rec);
    loop_app_destroy(app);
    qv_runtime_destroy(rt);
    if (dir[0])
        loop_rmdir(dir);
    return 0;
}

/* The runs of one workload: a table and a line per run. */
static int adapt_runs(const loop_args *a, const adapt_cfg *cp, const char *label)
{
    adapt_cfg c = *cp;
    char lines[100][512], after[512] = "";
    double meas[100], board[100], wall[100], bmeas[100], bwall[100];
    /* Per round: adaptive over each static plan (slow from entry 0, CPU
     * only), and each static plan's own times. */
    double rmeas[2][100], rwall[2][100], smeas[2][100];
    int failed = 0, n = 0;
    printf("%s:\n\n| run | entries | ms/entry (wall) | board us/entry (modelled) | tasks on "
           "the board | measured us/entry | predicted us | replayed |\n"
           "|---|---|---|---|---|---|---|---|\n", label);
    for (int r = 0; r < a->runs; r++) {
        adapt_out ad, st;
        lines[r][0] = 0;
        if (loop_child(run_adapt, &c, &ad, sizeof ad)) {
            fprintf(stderr, "bench_loop: --adapt failed\n");
            failed = 1;
            continue;
        }
        adapt_cfg cs = c;
        cs.slow_at = 0;
        cs.window = ad.window;
        if (loop_child(run_adapt, &cs, &st, sizeof st)) {
            fprintf(stderr, "bench_loop: --adapt (static, slow from the start) failed\n");
            failed = 1;
            continue;
        }
        adapt_out cp_;
        adapt_cfg cc = cs;
        cc.app.cpu_only = 1;
        if (loop_child(run_adapt, &cc, &cp_, sizeof cp_)) {
            fprintf(stderr, "bench_loop: --adapt (static, CPU only) failed\n");
            failed = 1;
            continue;
        }
        /* The best static plan measured: the faster of the two. */
        const adapt_out *best = cp_.measured_us > 0 && cp_.measured_us < st.measured_us
                                    ? &cp_ : &st;
        int k = ad.replan_entry - c.slow_at + 1;
        char pre[48] = "";
        if (ad.last_pre_replan >= 0)
            snprintf(pre, sizeof pre, ", the last after entry %d", ad.last_pre_replan);
        if (ad.replan_entry >= 0)
            snprintf(lines[r], sizeof lines[r], "run %d: replaying before the slowdown: %s "
                     "(re-plans before it: %.0f%s); replans grew after entry %d, the %d%s "
                     "run on the slow board (%s); re-plans in all %.0f; adaptive / static "
                     "after it: measured %.2f, wall %.2f",
                     r + 1, ad.replaying_at_slow ? "yes" : "NO", ad.replans_before, pre,
                     ad.replan_entry, k,
                     k == 1 ? "st" : k == 2 ? "nd" : k == 3 ? "rd" : "th", ad.reason,
                     ad.replans, st.measured_us > 0 ? ad.measured_us / st.measured_us : 0.0,
                     st.wall_ms > 0 ? ad.wall_ms / st.wall_ms : 0.0);
        else
            snprintf(lines[r], sizeof lines[r], "run %d: replaying before the slowdown: %s "
                     "(re-plans before it: %.0f); NO re-plan in the %d entries after it "
                     "(replans %.0f, compiles %.0f)", r + 1,
                     ad.replaying_at_slow ? "yes" : "NO", ad.replans_before,
                     c.entries - c.slow_at, ad.replans, ad.compiles);
        printf("| %d: adaptive, before the slowdown | %d-%d | %.3f | %.1f | %.0f%% | - | %.1f "
               "| - |\n", r + 1, c.slow_at > 10 ? c.slow_at - 10 : 0, c.slow_at - 1,
               ad.pre_wall_ms, ad.pre_board_us, 100 * ad.pre_fpga, ad.pre_predicted_us);
        const adapt_out *o[3] = { &ad, &st, &cp_ };
        const char *lab[3] = { ad.replan_entry >= 0 ? "adaptive, after the re-plan"
                                                    : "adaptive, after the slowdown",
                               "static, slow from entry 0", "static, CPU only" };
        for (int q = 0; q < 3; q++)
            printf("| %d: %s | %d-%d | %.3f | %.1f | %.0f%% | %.1f | %.1f | %.0f/%d |\n", r + 1,
                   lab[q], o[q]->window, c.entries - 1, o[q]->wall_ms, o[q]->board_us,
                   100 * o[q]->fpga, o[q]->measured_us, o[q]->predicted_us,
                   o[q]->replayed_window, o[q]->window_n);
        if (r + 1 == a->runs)
            snprintf(lines[r] + strlen(lines[r]), sizeof lines[r] - strlen(lines[r]),
                     "\n  board %s; models at the end, adaptive: %s\n  static: %s",
                     ad.device, ad.models, st.models);
        if (!ad.ok || !st.ok || !cp_.ok) {
            printf("result of run %d: WRONG\n", r + 1);
            failed = 1;
        }
        snprintf(after + strlen(after), sizeof after - strlen(after), "%s%d", n ? ", " : "",
                 ad.replan_entry >= 0 ? k : -1);
        meas[n] = st.measured_us > 0 ? ad.measured_us / st.measured_us : 0;
        board[n] = st.board_us > 0 ? ad.board_us / st.board_us : 0;
        wall[n] = st.wall_ms > 0 ? ad.wall_ms / st.wall_ms : 0;
        bmeas[n] = best->measured_us > 0 ? ad.measured_us / best->measured_us : 0;
        bwall[n] = best->wall_ms > 0 ? ad.wall_ms / best->wall_ms : 0;
        for (int q = 0; q < 2; q++) {
            const adapt_out *sq = q ? &cp_ : &st;
            rmeas[q][n] = sq->measured_us > 0 ? ad.measured_us / sq->measured_us : 0;
            rwall[q][n] = sq->wall_ms > 0 ? ad.wall_ms / sq->wall_ms : 0;
            smeas[q][n] = sq->measured_us;
        }
        n++;
        fflush(stdout);
    }
    if (n)
        printf("\nThe re-plan came after the slow board's entry no. %s (-1: none); adaptive / "
               "static (slow from entry 0) after it, median of the runs: measured %.2f, wall "
               "%.2f, board (modelled) %.2f; adaptive / the best static plan measured (the "
               "faster static run of each round): measured %.2f, wall %.2f\n",
               after, loop_median(meas, n), loop_median(wall, n), loop_median(board, n),
               loop_median(bmeas, n), loop_median(bwall, n));
    /* The best static plan is one plan: the static run with the lower
     * median over the rounds, each round's adaptive run over it. (The
     * faster of two runs each round is the better of two noisy samples:
     * it sides with the static runs by the machine's noise.) */
    if (n) {
        double m0[100], m1[100];
        memcpy(m0, smeas[0], (size_t)n * sizeof *m0);
        memcpy(m1, smeas[1], (size_t)n * sizeof *m1);
        int q = loop_median(m1, n) < loop_median(m0, n);
        printf("Adaptive / the best static plan (%s: the lower median of the static runs), "
               "median of the rounds: measured %.2f, wall %.2f\n",
               q ? "CPU only" : "slow from entry 0", loop_median(rmeas[q], n),
               loop_median(rwall[q], n));
    }
    printf("\n");
    for (int r = 0; r < a->runs; r++)
        if (lines[r][0])
            printf("- %s\n", lines[r]);
    printf("\n");
    return failed;
}

int loop_adapt(const loop_args *a)
{
    /* Re-plans no more often than every 20 ms (the default 1 s is longer
     * than this whole run; an entry takes 1-3 ms here), and never drops
     * the plan for eager placement: this measures the re-plan. */
    const char *replan = "replan:\n  min_interval_ms: 20\n  eager_slack: 0\n";
    const char *policy = loop_default_policy(a, 3, 1, 1, replan);
    const char *eager = loop_default_policy(a, 6, 0, 1, replan);
    if (!policy || !eager) {
        fprintf(stderr, "bench_loop: cannot write a policy under %s\n", a->tmpdir);
        return 1;
    }
    int s = a->smoke;
    adapt_cfg c = { policy,
                    { APP_SIGNAL, "frames", s ? 2 : 8, s ? 256 : 1024, 0, 0, 0, 0, 0, 0 },
                    s ? 12 : 200, s ? 6 : 50, 4.0, -1, a->tmpdir, eager, s ? 4 : 20 };
    printf("### --adapt: signal chain (%d frames x %u per entry) on CPU + emulated board, "
           "%d entries, board %.0fx slower before entry %d; %d run%s of each\n\n",
           c.app.frames, c.app.n, c.entries, c.factor, c.slow_at, a->runs,
           a->runs > 1 ? "s" : "");
    int failed = adapt_runs(a, &c, "As the demo (the catalog's fused fir_fft_mag implements "
                                   "the chain)");
    c.app.nofuse = 1;
    failed |= adapt_runs(a, &c, "Unfused (mag registered as 'magnitude': no plan maps "
                                "the chain onto fir_fft_mag)");
    return failed;
}
