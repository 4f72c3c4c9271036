/*
 * signal.c - the signal demo's chain (examples/signal/main.c: FIR filter
 * -> FFT -> magnitude, frame by frame, each frame a region, 4 frames in
 * flight) with the catalog's fir and fft kernels, on whatever boards the
 * policy names; the results checked against the same chain run
 * sequentially with the references, and the tasks each device ran.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fft/fft_ref.h"
#include "fir/fir_ref.h"
#include "fir_fft_mag/fir_fft_mag_ref.h"
#include "remote.h"

#define TAPS  31
#define NSAMP 1024
#define BATCH 4

static void cpu_fir(const qv_call *c)
{
    qv_hls_fir_ref(c->ptr[0], c->ptr[1], c->ptr[2], *(const uint32_t *)c->ptr[3],
                   *(const uint32_t *)c->ptr[4]);
}
static void cpu_fft(const qv_call *c)
{
    qv_hls_fft_ref(c->ptr[0], c->ptr[1], c->ptr[2], c->ptr[3],
                   *(const uint32_t *)c->ptr[4]);
}
static void cpu_mag(const qv_call *c)
{
    qv_hls_mag_ref(c->ptr[0], c->ptr[1], c->ptr[2], *(const uint32_t *)c->ptr[3]);
}

/* The frames' memory: x in, y, re, im intermediates, m out. */
typedef struct frames {
    float h[TAPS], zeros[NSAMP];
    float (*x)[NSAMP], (*y)[NSAMP], (*re)[NSAMP], (*im)[NSAMP], (*m)[NSAMP];
} frames;

static int frames_init(frames *fr, int n)
{
    memset(fr, 0, sizeof *fr);
    fr->x = calloc((size_t)n, sizeof *fr->x);
    fr->y = calloc((size_t)n, sizeof *fr->y);
    fr->re = calloc((size_t)n, sizeof *fr->re);
    fr->im = calloc((size_t)n, sizeof *fr->im);
    fr->m = calloc((size_t)n, sizeof *fr->m);
    if (!fr->x || !fr->y || !fr->re || !fr->im || !fr->m)
        return -1;
    for (int t = 0; t < TAPS; t++) /* the demo's windowed-sinc low-pass */
        fr->h[t] =
            (t == TAPS / 2
                 ? 0.25f
                 : (float)(sin(0.25 * M_PI * (t - TAPS / 2)) / (M_PI * (t - TAPS / 2)))) *
            (float)(0.54 - 0.46 * cos(2 * M_PI * t / (TAPS - 1)));
    unsigned seed = 12345;
    for (int f = 0; f < n; f++)
        for (uint32_t i = 0; i < NSAMP; i++) {
            seed = seed * 1103515245u + 12345u;
            double noise = ((seed >> 8) & 0xffff) / 65536.0 - 0.5;
            fr->x[f][i] = (float)(sin(2 * M_PI * (0.02 + 0.002 * f) * i) + 0.3 * noise);
        }
    return 0;
}

static void frames_fini(frames *fr)
{
    free(fr->x);
    free(fr->y);
    free(fr->re);
    free(fr->im);
    free(fr->m);
}

/* The largest difference from the sequential chain (magnitudes relative to
 * their peak, y absolute, re and im relative to theirs), and whether each
 * frame's spectral peak is where the sequential run puts it. */
static double check(const frames *fr, int n, int *peaks_ok)
{
    static float ry[NSAMP], rre[NSAMP], rim[NSAMP], rm[NSAMP];
    double worst = 0;
    *peaks_ok = 1;
    for (int f = 0; f < n; f++) {
        qv_hls_fir_ref(fr->x[f], fr->h, ry, NSAMP, TAPS);
        qv_hls_fft_ref(ry, fr->zeros, rre, rim, NSAMP);
        qv_hls_mag_ref(rre, rim, rm, NSAMP);
        double scale = 0, sre = 0;
        uint32_t p1 = 0, p2 = 0;
        for (uint32_t i = 0; i < NSAMP; i++) {
            scale = fmax(scale, fabs(rm[i]));
            sre = fmax(sre, fmax(fabs(rre[i]), fabs(rim[i])));
            if (i < NSAMP / 2 && rm[i] > rm[p1])
                p1 = i;
            if (i < NSAMP / 2 && fr->m[f][i] > fr->m[f][p2])
                p2 = i;
        }
        for (uint32_t i = 0; i < NSAMP; i++) {
            worst = fmax(worst, fabs(rm[i] - fr->m[f][i]) / (scale > 0 ? scale : 1));
            worst = fmax(worst, fabs(ry[i] - fr->y[f][i]));
            worst = fmax(worst,
                         fmax(fabs(rre[i] - fr->re[f][i]), fabs(rim[i] - fr->im[f][i])) /
                             (sre > 0 ? sre : 1));
        }
        *peaks_ok &= p1 == p2;
    }
    return worst;
}

static int chain(qv_runtime *rt, frames *fr, int n, unsigned fft_where, double *wall_ms)
{
    qv_arg_desc d_fir[] = {QV_ARG_BUF("x", QV_R), QV_ARG_BUF("h", QV_R),
                           QV_ARG_BUF("y", QV_W), QV_ARG_SCALAR("n", uint32_t),
                           QV_ARG_SCALAR("taps", uint32_t)};
    qv_arg_desc d_fft[] = {QV_ARG_BUF("in_re", QV_R), QV_ARG_BUF("in_im", QV_R),
                           QV_ARG_BUF("out_re", QV_W), QV_ARG_BUF("out_im", QV_W),
                           QV_ARG_SCALAR("n", uint32_t)};
    qv_arg_desc d_mag[] = {QV_ARG_BUF("re", QV_R), QV_ARG_BUF("im", QV_R),
                           QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("n", uint32_t)};
    qv_func *fir, *fft, *mag;
    BR_CHECK(qv_func_create(rt, "fir", d_fir, 5, &fir));
    BR_CHECK(qv_func_create(rt, "fft", d_fft, 5, &fft));
    BR_CHECK(qv_func_create(rt, "mag", d_mag, 4, &mag));
    BR_CHECK(qv_func_set_cpu(fir, cpu_fir));
    BR_CHECK(qv_func_set_cpu(fft, cpu_fft));
    BR_CHECK(qv_func_set_cpu(mag, cpu_mag));
    BR_CHECK(qv_func_set_fpga(fir, "fir"));
    BR_CHECK(qv_func_set_fpga(fft, "fft"));
    BR_CHECK(qv_func_set_fpga(mag, "fir_fft_mag")); /* the catalog's mag */
    if (fft_where)
        BR_CHECK(qv_func_set_where(fft, fft_where));
    size_t fb = sizeof fr->x[0];
    uint32_t ns = NSAMP, taps = TAPS;
    qv_buf *bh, *bz, **b = calloc((size_t)n * 5, sizeof *b);
    if (!b)
        return -1;
    BR_CHECK(qv_buf_register(rt, fr->h, sizeof fr->h, &bh));
    BR_CHECK(qv_buf_register(rt, fr->zeros, sizeof fr->zeros, &bz));
    double t0 = br_now();
    for (int f = 0; f < n; f++) {
        qv_buf **bf = &b[f * 5]; /* x, y, re, im, m */
        BR_CHECK(qv_buf_register(rt, fr->x[f], fb, &bf[0]));
        BR_CHECK(qv_buf_register(rt, fr->y[f], fb, &bf[1]));
        BR_CHECK(qv_buf_register(rt, fr->re[f], fb, &bf[2]));
        BR_CHECK(qv_buf_register(rt, fr->im[f], fb, &bf[3]));
        BR_CHECK(qv_buf_register(rt, fr->m[f], fb, &bf[4]));
        BR_CHECK(qv_region_begin(rt, "frame"));
        BR_CHECK(qv_submit(rt, fir,
                           (qv_arg[]){QV_BUF(bf[0]), QV_BUF(bh), QV_BUF(bf[1]),
                                      QV_VAL(ns), QV_VAL(taps)},
                           5));
        BR_CHECK(qv_submit(rt, fft,
                           (qv_arg[]){QV_BUF(bf[1]), QV_BUF(bz), QV_BUF(bf[2]),
                                      QV_BUF(bf[3]), QV_VAL(ns)},
                           5));
        BR_CHECK(qv_submit(
            rt, mag, (qv_arg[]){QV_BUF(bf[2]), QV_BUF(bf[3]), QV_BUF(bf[4]), QV_VAL(ns)},
            4));
        BR_CHECK(qv_region_end(rt));
        if ((f + 1) % BATCH == 0)
            BR_CHECK(qv_wait_all(rt));
    }
    for (int f = 0; f < n; f++) /* every result home, intermediates too */
        for (int k = 4; k >= 0; k--)
            BR_CHECK(qv_buf_unregister(b[f * 5 + k]));
    *wall_ms = (br_now() - t0) * 1e3;
    BR_CHECK(qv_buf_unregister(bh));
    BR_CHECK(qv_buf_unregister(bz));
    free(b);
    return 0;
}

int br_signal_run(const char *policy, const char *models, int n, unsigned fft_where,
                  br_signal_out *o)
{
    memset(o, 0, sizeof *o);
    frames fr;
    if (frames_init(&fr, n) != 0) {
        frames_fini(&fr);
        return -1;
    }
    qv_options opts;
    qv_options_init(&opts);
    opts.ncpu = 1;
    opts.config = policy;
    opts.perfmodel_dir = models;
    opts.opencl = 0;
    qv_runtime *rt;
    int rc = qv_runtime_create(&opts, &rt);
    if (rc) {
        fprintf(stderr, "bench_remote: runtime of %s: %s (%s)\n", policy, qv_strerror(rc),
                qv_last_error());
        frames_fini(&fr);
        return -1;
    }
    rc = chain(rt, &fr, n, fft_where, &o->wall_ms);
    if (!rc) {
        int peaks;
        o->worst = check(&fr, n, &peaks);
        o->ok = o->worst < 1e-4 && peaks;
        o->ndev = qv_device_count(rt) < 6 ? qv_device_count(rt) : 6;
        for (unsigned d = 0; d < o->ndev; d++) {
            qv_device_info di;
            if (qv_device_get(rt, d, &di) != 0)
                continue;
            o->cls[d] = di.cls;
            o->tasks[d] = di.tasks;
            o->failed[d] = di.failed;
        }
        qv_region_info ri;
        memset(&ri, 0, sizeof ri);
        ri.size = sizeof ri;
        if (qv_region_get(rt, "frame", &ri) == 0) {
            o->replayed = ri.replayed;
            o->fused = ri.fused;
        }
    }
    qv_runtime_destroy(rt); /* saves the models */
    frames_fini(&fr);
    return rc;
}

double br_signal_seq_ms(int n)
{
    frames fr;
    double ms = -1;
    if (frames_init(&fr, n) == 0) {
        double t0 = br_now();
        for (int f = 0; f < n; f++) {
            qv_hls_fir_ref(fr.x[f], fr.h, fr.y[f], NSAMP, TAPS);
            qv_hls_fft_ref(fr.y[f], fr.zeros, fr.re[f], fr.im[f], NSAMP);
            qv_hls_mag_ref(fr.re[f], fr.im[f], fr.m[f], NSAMP);
        }
        ms = (br_now() - t0) * 1e3;
    }
    frames_fini(&fr);
    return ms;
}
