/*
 * apps.c - the demos' two applications as bench_loop runs them, one entry
 * at a time: the signal chain of quiver-signal (fir -> fft -> mag per frame;
 * CPU references, hls/'s OpenCL kernels, the catalog's FPGA kernels for fir
 * and fft) and the tiled Cholesky of quiver-cholesky (examples/cholesky's
 * tile kernels on the CPU and in OpenCL).
 *
 * An entry is what a streaming program does each step: the host writes new
 * inputs (qv_buf_acquire for writing, so device copies are dropped), the
 * tasks run, and the outputs come home (qv_buf_wait). The check compares
 * the last entry with a sequential run of the same references.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fft/fft_ref.h"
#include "fir/fir_ref.h"
#include "fir_fft_mag/fir_fft_mag_ref.h"
#include "loop.h"
#include "loop_cl.h"
#include "tile_kernels.h"
#include "tile_kernels_cl.h"

#define TAPS 31
#define POOL 16 /* distinct input frames the signal entries cycle through */

struct loop_app {
    loop_app_cfg cfg;
    qv_runtime  *rt;
    long         entries;
    /* signal */
    qv_func     *fir, *fft, *mag;
    float       *h, *zeros, *pool;
    float      **x, **y, **re, **im, **m;
    qv_buf      *bh, *bz, **bx, **by, **bre, **bim, **bm;
    /* cholesky */
    qv_func     *potrf, *trsm, *syrk, *gemm;
    double     **tile, **a0, **ref;
    qv_buf     **bt;
    char         cl_opts[32];
};

/* ---- the signal chain -------------------------------------------------- */

static void cpu_fir(const qv_call *c)
{
    qv_hls_fir_ref(c->ptr[0], c->ptr[1], c->ptr[2], *(const uint32_t *)c->ptr[3],
                   *(const uint32_t *)c->ptr[4]);
}
static void cpu_fft(const qv_call *c)
{
    qv_hls_fft_ref(c->ptr[0], c->ptr[1], c->ptr[2], c->ptr[3], *(const uint32_t *)c->ptr[4]);
}
static void cpu_mag(const qv_call *c)
{
    qv_hls_mag_ref(c->ptr[0], c->ptr[1], c->ptr[2], *(const uint32_t *)c->ptr[3]);
}
static unsigned range_n3(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = *(const uint32_t *)c->ptr[3];
    return 1;
}
static unsigned range_fft(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)c;
    g[0] = l[0] = 64;
    return 1;
}

static const char mag_cl[] =
    "__kernel void mag(__global const float *re, __global const float *im,\n"
    "                  __global float *out, const uint n)\n"
    "{ uint i = get_global_id(0); if (i < n) out[i] = sqrt(re[i] * re[i] + im[i] * im[i]); }\n";

static int signal_create(loop_app *a)
{
    qv_runtime *rt = a->rt;
    int fr = a->cfg.frames;
    uint32_t n = a->cfg.n;
    qv_arg_desc d_fir[] = { QV_ARG_BUF("x", QV_R), QV_ARG_BUF("h", QV_R),
                            QV_ARG_BUF("y", QV_W), QV_ARG_SCALAR("n", uint32_t),
                            QV_ARG_SCALAR("taps", uint32_t) };
    qv_arg_desc d_fft[] = { QV_ARG_BUF("in_re", QV_R), QV_ARG_BUF("in_im", QV_R),
                            QV_ARG_BUF("out_re", QV_W), QV_ARG_BUF("out_im", QV_W),
                            QV_ARG_SCALAR("n", uint32_t) };
    qv_arg_desc d_mag[] = { QV_ARG_BUF("re", QV_R), QV_ARG_BUF("im", QV_R),
                            QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("n", uint32_t) };
    LOOP_CHECK(qv_func_create(rt, "fir", d_fir, 5, &a->fir));
    LOOP_CHECK(qv_func_create(rt, "fft", d_fft, 5, &a->fft));
    LOOP_CHECK(qv_func_create(rt, a->cfg.nofuse ? "magnitude" : "mag", d_mag, 4, &a->mag));
    LOOP_CHECK(qv_func_set_cpu(a->fir, cpu_fir));
    LOOP_CHECK(qv_func_set_cpu(a->fft, cpu_fft));
    LOOP_CHECK(qv_func_set_cpu(a->mag, cpu_mag));
    if (a->cfg.opencl) {
        LOOP_CHECK(qv_func_set_opencl(a->fir,
                                      &(qv_opencl_impl){ fir_cl_src, "fir", NULL, range_n3 }));
        LOOP_CHECK(qv_func_set_opencl(a->fft,
                                      &(qv_opencl_impl){ fft_cl_src, "fft", NULL, range_fft }));
        LOOP_CHECK(qv_func_set_opencl(a->mag,
                                      &(qv_opencl_impl){ mag_cl, "mag", NULL, range_n3 }));
    }
    LOOP_CHECK(qv_func_set_fpga(a->fir, "fir"));
    LOOP_CHECK(qv_func_set_fpga(a->fft, "fft"));
    if (!a->cfg.nofuse) /* the catalog's mag: fir_fft_mag may take it over */
        LOOP_CHECK(qv_func_set_fpga(a->mag, "fir_fft_mag"));
    if (a->cfg.cpu_only) {
        LOOP_CHECK(qv_func_set_where(a->fir, 1u << QV_CLASS_CPU));
        LOOP_CHECK(qv_func_set_where(a->fft, 1u << QV_CLASS_CPU));
        LOOP_CHECK(qv_func_set_where(a->mag, 1u << QV_CLASS_CPU));
    }
    if (a->cfg.remote) {
        LOOP_CHECK(qv_func_set_where(a->fir, 1u << QV_CLASS_REMOTE));
        LOOP_CHECK(qv_func_set_where(a->fft, 1u << QV_CLASS_REMOTE));
    }

    size_t fb = n * sizeof(float);
    a->h = malloc(TAPS * sizeof *a->h);
    a->zeros = calloc(n, sizeof(float));
    a->pool = malloc(POOL * fb);
    float ***arr[] = { &a->x, &a->y, &a->re, &a->im, &a->m };
    qv_buf ***bufs[] = { &a->bx, &a->by, &a->bre, &a->bim, &a->bm };
    if (!a->h || !a->zeros || !a->pool)
        return QV_ENOMEM;
    for (int k = 0; k < 5; k++) {
        *arr[k] = calloc((size_t)fr, sizeof **arr[k]);
        *bufs[k] = calloc((size_t)fr, sizeof **bufs[k]);
        if (!*arr[k] || !*bufs[k])
            return QV_ENOMEM;
        for (int f = 0; f < fr; f++)
            if (!((*arr[k])[f] = calloc(n, sizeof(float))))
                return QV_ENOMEM;
    }
    for (int t = 0; t < TAPS; t++) /* the demo's windowed-sinc low-pass */
        a->h[t] = (t == TAPS / 2 ? 0.25f
                                 : (float)(sin(0.25 * M_PI * (t - TAPS / 2)) /
                                           (M_PI * (t - TAPS / 2)))) *
                  (float)(0.54 - 0.46 * cos(2 * M_PI * t / (TAPS - 1)));
    unsigned seed = 12345;
    for (int f = 0; f < POOL; f++)
        for (uint32_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            double noise = ((seed >> 8) & 0xffff) / 65536.0 - 0.5;
            a->pool[(size_t)f * n + i] =
                (float)(sin(2 * M_PI * (0.02 + 0.002 * f) * i) + 0.3 * noise);
        }
    LOOP_CHECK(qv_buf_register(rt, a->h, TAPS * sizeof *a->h, &a->bh));
    LOOP_CHECK(qv_buf_register(rt, a->zeros, fb, &a->bz));
    for (int k = 0; k < 5; k++)
        for (int f = 0; f < fr; f++)
            LOOP_CHECK(qv_buf_register(rt, (*arr[k])[f], fb, &(*bufs[k])[f]));
    return 0;
}

static const float *signal_input(const loop_app *a, long entry, int f)
{
    return a->pool + (size_t)((entry * a->cfg.frames + f) % POOL) * a->cfg.n;
}

static int signal_entry(loop_app *a)
{
    qv_runtime *rt = a->rt;
    uint32_t n = a->cfg.n, taps = TAPS;
    size_t fb = n * sizeof(float);
    for (int f = 0; f < a->cfg.frames; f++) {
        LOOP_CHECK(qv_buf_acquire(a->bx[f], QV_W));
        memcpy(a->x[f], signal_input(a, a->entries, f), fb);
        LOOP_CHECK(qv_buf_release(a->bx[f]));
    }
    if (a->cfg.region)
        LOOP_CHECK(qv_region_begin(rt, a->cfg.region));
    for (int f = 0; f < a->cfg.frames; f++) {
        LOOP_CHECK(qv_submit(rt, a->fir, (qv_arg[]){ QV_BUF(a->bx[f]), QV_BUF(a->bh),
                                                     QV_BUF(a->by[f]), QV_VAL(n),
                                                     QV_VAL(taps) }, 5));
        LOOP_CHECK(qv_submit(rt, a->fft, (qv_arg[]){ QV_BUF(a->by[f]), QV_BUF(a->bz),
                                                     QV_BUF(a->bre[f]), QV_BUF(a->bim[f]),
                                                     QV_VAL(n) }, 5));
        LOOP_CHECK(qv_submit(rt, a->mag, (qv_arg[]){ QV_BUF(a->bre[f]), QV_BUF(a->bim[f]),
                                                     QV_BUF(a->bm[f]), QV_VAL(n) }, 4));
    }
    if (a->cfg.region)
        LOOP_CHECK(qv_region_end(rt));
    LOOP_CHECK(qv_wait_all(rt));
    for (int f = 0; f < a->cfg.frames; f++)
        LOOP_CHECK(qv_buf_wait(a->bm[f]));
    return 0;
}

static int signal_check(loop_app *a)
{
    uint32_t n = a->cfg.n;
    float *y = malloc(n * sizeof *y), *re = malloc(n * sizeof *re),
          *im = malloc(n * sizeof *im), *m = malloc(n * sizeof *m);
    int bad = !y || !re || !im || !m;
    for (int f = 0; !bad && f < a->cfg.frames; f++) {
        qv_hls_fir_ref(signal_input(a, a->entries - 1, f), a->h, y, n, TAPS);
        qv_hls_fft_ref(y, a->zeros, re, im, n);
        qv_hls_mag_ref(re, im, m, n);
        double scale = 0, worst = 0;
        for (uint32_t i = 0; i < n; i++)
            scale = fmax(scale, fabs(m[i]));
        for (uint32_t i = 0; i < n; i++)
            worst = fmax(worst, fabs(m[i] - a->m[f][i]) / (scale > 0 ? scale : 1));
        bad |= !(worst < 1e-4);
    }
    free(y);
    free(re);
    free(im);
    free(m);
    return bad;
}

static void signal_destroy(loop_app *a)
{
    float **arr[] = { a->x, a->y, a->re, a->im, a->m };
    qv_buf **bufs[] = { a->bx, a->by, a->bre, a->bim, a->bm };
    for (int k = 0; k < 5; k++) {
        for (int f = 0; f < a->cfg.frames; f++) {
            if (bufs[k] && bufs[k][f])
                qv_buf_unregister(bufs[k][f]);
            if (arr[k])
                free(arr[k][f]);
        }
        free(arr[k]);
        free(bufs[k]);
    }
    if (a->bh)
        qv_buf_unregister(a->bh);
    if (a->bz)
        qv_buf_unregister(a->bz);
    free(a->h);
    free(a->zeros);
    free(a->pool);
}

/* ---- the tiled Cholesky ------------------------------------------------ */

static int tile_nb; /* the tile size of this process's Cholesky */

static void cpu_potrf(const qv_call *c)
{
    tile_potrf(c->ptr[0], tile_nb);
}
static void cpu_trsm(const qv_call *c)
{
    tile_trsm(c->ptr[0], c->ptr[1], tile_nb);
}
static void cpu_syrk(const qv_call *c)
{
    tile_syrk(c->ptr[0], c->ptr[1], tile_nb);
}
static void cpu_gemm(const qv_call *c)
{
    tile_gemm(c->ptr[0], c->ptr[1], c->ptr[2], tile_nb);
}
static unsigned range_rows(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)c;
    (void)l;
    g[0] = (size_t)tile_nb;
    return 1;
}
static unsigned range_tile(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)c;
    (void)l;
    g[0] = g[1] = (size_t)tile_nb;
    return 2;
}

#define T(a, i, j) ((a)[(i) * nt + (j)])

/* The algorithm run sequentially on tiles t, or with t NULL submitted as
 * tasks on the registered tiles. */
static int chol_run(loop_app *a, double **t)
{
    int nt = a->cfg.nt, nb = a->cfg.nb;
    qv_runtime *rt = a->rt;
#define B(i, j) QV_BUF(T(a->bt, i, j))
    for (int k = 0; k < nt; k++) {
        if (t)
            tile_potrf(T(t, k, k), nb);
        else
            LOOP_CHECK(qv_submit(rt, a->potrf, (qv_arg[]){ B(k, k) }, 1));
        for (int i = k + 1; i < nt; i++) {
            if (t)
                tile_trsm(T(t, k, k), T(t, i, k), nb);
            else
                LOOP_CHECK(qv_submit(rt, a->trsm, (qv_arg[]){ B(k, k), B(i, k) }, 2));
        }
        for (int i = k + 1; i < nt; i++) {
            if (t)
                tile_syrk(T(t, i, k), T(t, i, i), nb);
            else
                LOOP_CHECK(qv_submit(rt, a->syrk, (qv_arg[]){ B(i, k), B(i, i) }, 2));
            for (int j = k + 1; j < i; j++) {
                if (t)
                    tile_gemm(T(t, i, k), T(t, j, k), T(t, i, j), nb);
                else
                    LOOP_CHECK(qv_submit(rt, a->gemm,
                                         (qv_arg[]){ B(i, k), B(j, k), B(i, j) }, 3));
            }
        }
    }
#undef B
    return 0;
}

static int chol_create(loop_app *a)
{
    qv_runtime *rt = a->rt;
    int nt = a->cfg.nt, nb = a->cfg.nb, n = nt * nb;
    size_t tb = (size_t)nb * nb * sizeof(double);
    tile_nb = nb;
    qv_arg_desc d_potrf[] = { QV_ARG_BUF("a", QV_RW) };
    qv_arg_desc d_trsm[] = { QV_ARG_BUF("l", QV_R), QV_ARG_BUF("b", QV_RW) };
    qv_arg_desc d_syrk[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("c", QV_RW) };
    qv_arg_desc d_gemm[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                             QV_ARG_BUF("c", QV_RW) };
    LOOP_CHECK(qv_func_create(rt, "potrf", d_potrf, 1, &a->potrf));
    LOOP_CHECK(qv_func_create(rt, "trsm", d_trsm, 2, &a->trsm));
    LOOP_CHECK(qv_func_create(rt, "syrk", d_syrk, 2, &a->syrk));
    LOOP_CHECK(qv_func_create(rt, "gemm", d_gemm, 3, &a->gemm));
    LOOP_CHECK(qv_func_set_cpu(a->potrf, cpu_potrf));
    LOOP_CHECK(qv_func_set_cpu(a->trsm, cpu_trsm));
    LOOP_CHECK(qv_func_set_cpu(a->syrk, cpu_syrk));
    LOOP_CHECK(qv_func_set_cpu(a->gemm, cpu_gemm));
    if (a->cfg.opencl) {
        snprintf(a->cl_opts, sizeof a->cl_opts, "-DNB=%d", nb);
        LOOP_CHECK(qv_func_set_opencl(a->trsm, &(qv_opencl_impl){ tile_kernels_cl, "trsm",
                                                                  a->cl_opts, range_rows }));
        LOOP_CHECK(qv_func_set_opencl(a->syrk, &(qv_opencl_impl){ tile_kernels_cl, "syrk",
                                                                  a->cl_opts, range_tile }));
        LOOP_CHECK(qv_func_set_opencl(a->gemm, &(qv_opencl_impl){ tile_kernels_cl, "gemm",
                                                                  a->cl_opts, range_tile }));
    }
    a->tile = calloc((size_t)nt * nt, sizeof *a->tile);
    a->a0 = calloc((size_t)nt * nt, sizeof *a->a0);
    a->ref = calloc((size_t)nt * nt, sizeof *a->ref);
    a->bt = calloc((size_t)nt * nt, sizeof *a->bt);
    if (!a->tile || !a->a0 || !a->ref || !a->bt)
        return QV_ENOMEM;
    for (int ti = 0; ti < nt; ti++)
        for (int tj = 0; tj <= ti; tj++) {
            double *t0 = malloc(tb), *t = malloc(tb), *r = malloc(tb);
            T(a->a0, ti, tj) = t0;
            T(a->tile, ti, tj) = t;
            T(a->ref, ti, tj) = r;
            if (!t0 || !t || !r)
                return QV_ENOMEM;
            for (int j = 0; j < nb; j++)
                for (int i = 0; i < nb; i++) { /* quiver-cholesky's SPD matrix */
                    int gi = ti * nb + i, gj = tj * nb + j;
                    double v = 1.0 / (1.0 + fabs((double)(gi - gj))) + 0.5 * cos(0.01 * (gi + gj));
                    t0[(size_t)j * nb + i] = gi == gj ? v + n : v;
                }
            memcpy(r, t0, tb);
            LOOP_CHECK(qv_buf_register(rt, t, tb, &T(a->bt, ti, tj)));
        }
    return chol_run(a, a->ref); /* the sequential reference */
}

static int chol_entry(loop_app *a)
{
    int nt = a->cfg.nt, nb = a->cfg.nb;
    size_t tb = (size_t)nb * nb * sizeof(double);
    for (int ti = 0; ti < nt; ti++)
        for (int tj = 0; tj <= ti; tj++) {
            LOOP_CHECK(qv_buf_acquire(T(a->bt, ti, tj), QV_W));
            memcpy(T(a->tile, ti, tj), T(a->a0, ti, tj), tb);
            LOOP_CHECK(qv_buf_release(T(a->bt, ti, tj)));
        }
    if (a->cfg.region)
        LOOP_CHECK(qv_region_begin(a->rt, a->cfg.region));
    int rc = chol_run(a, NULL);
    if (rc)
        return rc;
    if (a->cfg.region)
        LOOP_CHECK(qv_region_end(a->rt));
    LOOP_CHECK(qv_wait_all(a->rt));
    for (int ti = 0; ti < nt; ti++)
        for (int tj = 0; tj <= ti; tj++)
            LOOP_CHECK(qv_buf_wait(T(a->bt, ti, tj)));
    return 0;
}

static int chol_check(loop_app *a)
{
    int nt = a->cfg.nt, nb = a->cfg.nb;
    double worst = 0, scale = 0;
    for (int ti = 0; ti < nt; ti++)
        for (int tj = 0; tj <= ti; tj++)
            for (int i = 0; i < nb * nb; i++) {
                scale = fmax(scale, fabs(T(a->ref, ti, tj)[i]));
                worst = fmax(worst, fabs(T(a->ref, ti, tj)[i] - T(a->tile, ti, tj)[i]));
            }
    return !(worst <= 1e-9 * (scale > 0 ? scale : 1));
}

static void chol_destroy(loop_app *a)
{
    int nt = a->cfg.nt;
    for (int ti = 0; ti < nt; ti++)
        for (int tj = 0; tj <= ti; tj++) {
            if (a->bt && T(a->bt, ti, tj))
                qv_buf_unregister(T(a->bt, ti, tj));
            if (a->tile)
                free(T(a->tile, ti, tj));
            if (a->a0)
                free(T(a->a0, ti, tj));
            if (a->ref)
                free(T(a->ref, ti, tj));
        }
    free(a->tile);
    free(a->a0);
    free(a->ref);
    free(a->bt);
}

#undef T

/* ---- the interface ----------------------------------------------------- */

int loop_app_create(qv_runtime *rt, const loop_app_cfg *c, loop_app **out)
{
    loop_app *a = calloc(1, sizeof *a);
    *out = NULL;
    if (!a)
        return QV_ENOMEM;
    a->cfg = *c;
    a->rt = rt;
    int rc = c->kind == APP_SIGNAL ? signal_create(a) : chol_create(a);
    if (rc) {
        loop_app_destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

int loop_app_entry(void *app)
{
    loop_app *a = app;
    int rc = a->cfg.kind == APP_SIGNAL ? signal_entry(a) : chol_entry(a);
    if (rc == 0)
        a->entries++;
    return rc;
}

int loop_app_check(loop_app *a)
{
    if (a->entries < 1)
        return 1;
    return a->cfg.kind == APP_SIGNAL ? signal_check(a) : chol_check(a);
}

void loop_app_models(const loop_app *a, char *buf, size_t n)
{
    size_t fb = a->cfg.n * sizeof(float), tb = (size_t)a->cfg.nb * a->cfg.nb * sizeof(double);
    const qv_func *f[4];
    size_t bytes[4];
    int nf;
    if (a->cfg.kind == APP_SIGNAL) {
        f[0] = a->fir, f[1] = a->fft, f[2] = a->mag;
        bytes[0] = 2 * fb + TAPS * sizeof(float), bytes[1] = 4 * fb, bytes[2] = 3 * fb;
        nf = 3;
    } else {
        f[0] = a->potrf, f[1] = a->trsm, f[2] = a->syrk, f[3] = a->gemm;
        bytes[0] = tb, bytes[1] = bytes[2] = 2 * tb, bytes[3] = 3 * tb;
        nf = 4;
    }
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < nf && used < n; i++) {
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "; " : "", qv_func_name(f[i]));
        for (int c = QV_CLASS_CPU; c < QV_CLASS_COUNT && used < n; c++) {
            double us;
            if (qv_perfmodel_estimate(f[i], (qv_class)c, bytes[i], &us) == 0)
                used += (size_t)snprintf(buf + used, n - used, " %s %.1f", qv_class_name((qv_class)c), us);
        }
        if (used < n)
            used += (size_t)snprintf(buf + used, n - used, " us");
    }
}

int loop_app_tasks(const loop_app *a)
{
    int nt = a->cfg.nt;
    return a->cfg.kind == APP_SIGNAL ? 3 * a->cfg.frames : nt * (nt + 1) * (nt + 2) / 6;
}

void loop_app_destroy(loop_app *a)
{
    if (!a)
        return;
    if (a->cfg.kind == APP_SIGNAL)
        signal_destroy(a);
    else
        chol_destroy(a);
    free(a);
}
