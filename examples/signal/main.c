/*
 * main.c - Quiver's signal-processing demo: frames of a noisy signal go
 * through FIR filter -> FFT -> magnitude, frame by frame, written as plain
 * sequential code. Each stage has a CPU implementation (the plain C
 * references of hls/), an OpenCL one (hls/<k>/<k>.cl, built into this
 * program; PoCL in CI) and, for
 * fir and fft, an FPGA kernel from the catalog that runs on an emulated
 * Alveo U250 (the HLS C source compiled for the host, timed by the board's
 * cycle model). Quiver places every call by its models; this program checks
 * the result against a sequential run and prints which device ran what.
 *
 *   quiver-signal [--frames N] [--n SAMPLES] [--config quiver.yaml] [--hls DIR]
 *                 [--where STAGE=CLASS[,CLASS...]]... [--out DIR]
 *
 * Without --config it reads what any program does: $QV_CONFIG, else the
 * default policy installed with libquiver (CPU, OpenCL, an emulated U250).
 * --hls DIR reads the OpenCL sources from DIR/<k>/<k>.cl instead.
 * --where fft=remote restricts a stage (fir, fft or mag) to device classes
 * (cpu, gpu, fpga, remote: qv_func_set_where), as remote-demo.sh does to
 * send the FFTs to a board served by quiverd.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fft/fft_ref.h"
#include "fir/fir_ref.h"
#include "fir_fft_mag/fir_fft_mag_ref.h"
#include "quiver.h"
#include "signal_cl.h"

#define TAPS 31

#define CHECK(x)                                                                         \
    do {                                                                                 \
        int rc_ = (x);                                                                   \
        if (rc_) {                                                                       \
            const char *why_ = qv_last_error(); /* (it names the cause) */               \
            fprintf(stderr, "signal: %s\n", *why_ ? why_ : qv_strerror(rc_));            \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

/* CPU implementations: the plain C references. Argument orders follow the
 * kernels' (hls/<k>/README.md). */
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

/* OpenCL work sizes (hls/<k>/README.md): fir one work-item per sample, fft
 * exactly one work-group, mag one work-item per sample. */
static unsigned range_fir(const qv_call *c, size_t g[3], size_t l[3])
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
static unsigned range_mag(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = *(const uint32_t *)c->ptr[3];
    return 1;
}

static const char mag_cl[] =
    "__kernel void mag(__global const float *re, __global const float *im,\n"
    "                  __global float *out, const uint n)\n"
    "{ uint i = get_global_id(0); if (i < n) out[i] = sqrt(re[i] * re[i] + im[i] * im[i]); }\n";

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    fclose(f);
    return s;
}

/* "fft=remote,cpu": the stage's index in names (3 stages) and the class
 * mask, or -1. */
static int parse_where(const char *arg, const char *const names[3], unsigned *mask)
{
    const char *eq = strchr(arg, '=');
    int stage = -1;
    for (int i = 0; eq && i < 3; i++)
        if (strlen(names[i]) == (size_t)(eq - arg) &&
            !strncmp(arg, names[i], (size_t)(eq - arg)))
            stage = i;
    if (stage < 0)
        return -1;
    *mask = 0;
    for (const char *p = eq + 1;;) {
        size_t len = strcspn(p, ",");
        int c = QV_CLASS_COUNT;
        for (int k = 0; k < QV_CLASS_COUNT; k++)
            if (strlen(qv_class_name((qv_class)k)) == len &&
                !strncmp(p, qv_class_name((qv_class)k), len))
                c = k;
        if (c == QV_CLASS_COUNT)
            return -1;
        *mask |= 1u << c;
        if (!p[len])
            return stage;
        p += len + 1;
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    int frames = 64, batch = 4;
    uint32_t n = 1024;
    const char *config = NULL, *hls = NULL, *out = "quiver-signal";
    static const char *const stage[3] = { "fir", "fft", "mag" };
    unsigned where[3] = { 0, 0, 0 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--frames") && i + 1 < argc)
            frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[++i];
        else if (!strcmp(argv[i], "--hls") && i + 1 < argc)
            hls = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--where") && i + 1 < argc) {
            unsigned mask;
            int s = parse_where(argv[++i], stage, &mask);
            if (s < 0) {
                fprintf(stderr, "signal: --where %s: expected STAGE=CLASS[,CLASS...], STAGE "
                                "one of fir, fft, mag and CLASS one of cpu, gpu, fpga, "
                                "remote\n", argv[i]);
                return 2;
            }
            where[s] = mask;
        } else {
            bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            fprintf(help ? stdout : stderr,
                    "usage: quiver-signal [--frames N] [--batch FRAMES] [--n SAMPLES] "
                    "[--config quiver.yaml] [--hls DIR] "
                    "[--where STAGE=CLASS[,CLASS...]]... [--out DIR]\n");
            return help ? 0 : 2;
        }
    }
    if (frames < 1 || frames > 4096 || batch < 1 || n < 2 || n > 4096 || (n & (n - 1))) {
        fprintf(stderr, "signal: --frames must be 1..4096, --batch at least 1 and --n a "
                        "power of two up to 4096\n");
        return 2;
    }
    /* The output directory before the run: a bad --out was found only
     * after all the work. */
    struct stat ost;
    const char *bad = NULL;
    if (mkdir(out, 0755) != 0 && errno != EEXIST)
        bad = strerror(errno);
    else if (stat(out, &ost) != 0)
        bad = strerror(errno);
    else if (!S_ISDIR(ost.st_mode))
        bad = "not a directory";
    else if (access(out, W_OK | X_OK) != 0)
        bad = strerror(errno);
    if (bad) {
        fprintf(stderr, "signal: --out %s: %s\n", out, bad);
        return 1;
    }

    qv_options opts;
    qv_options_init(&opts);
    opts.config = config;
    qv_runtime *rt;
    CHECK(qv_runtime_create(&opts, &rt));

    qv_arg_desc d_fir[] = { QV_ARG_BUF("x", QV_R), QV_ARG_BUF("h", QV_R),
                            QV_ARG_BUF("y", QV_W), QV_ARG_SCALAR("n", uint32_t),
                            QV_ARG_SCALAR("taps", uint32_t) };
    qv_arg_desc d_fft[] = { QV_ARG_BUF("in_re", QV_R), QV_ARG_BUF("in_im", QV_R),
                            QV_ARG_BUF("out_re", QV_W), QV_ARG_BUF("out_im", QV_W),
                            QV_ARG_SCALAR("n", uint32_t) };
    qv_arg_desc d_mag[] = { QV_ARG_BUF("re", QV_R), QV_ARG_BUF("im", QV_R),
                            QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("n", uint32_t) };
    qv_func *fir, *fft, *mag;
    CHECK(qv_func_create(rt, "fir", d_fir, 5, &fir));
    CHECK(qv_func_create(rt, "fft", d_fft, 5, &fft));
    CHECK(qv_func_create(rt, "mag", d_mag, 4, &mag));
    CHECK(qv_func_set_cpu(fir, cpu_fir));
    CHECK(qv_func_set_cpu(fft, cpu_fft));
    CHECK(qv_func_set_cpu(mag, cpu_mag));
    char path[1024], *fir_cl = NULL, *fft_cl = NULL;
    if (hls) {
        snprintf(path, sizeof path, "%s/fir/fir.cl", hls);
        fir_cl = slurp(path);
        snprintf(path, sizeof path, "%s/fft/fft.cl", hls);
        fft_cl = slurp(path);
    } else {
        fir_cl = strdup(fir_cl_src);
        fft_cl = strdup(fft_cl_src);
    }
    if (fir_cl && fft_cl) {
        CHECK(qv_func_set_opencl(fir, &(qv_opencl_impl){ fir_cl, "fir", NULL, range_fir }));
        CHECK(qv_func_set_opencl(fft, &(qv_opencl_impl){ fft_cl, "fft", NULL, range_fft }));
    } else {
        fprintf(stderr, "signal: no OpenCL sources under %s: fir and fft run without "
                        "OpenCL\n", hls ? hls : "(built in)");
    }
    CHECK(qv_func_set_opencl(mag, &(qv_opencl_impl){ mag_cl, "mag", NULL, range_mag }));
    /* FPGA kernels of the catalog the policy names (config/kernels.yaml).
     * A policy without a catalog (QV_CONFIG="": CPU and OpenCL only) has
     * none: the chain runs without them. */
    int fpga = qv_func_set_fpga(fir, "fir");
    if (fpga == QV_ENOENT) {
        printf("no FPGA kernels (%s): the chain runs on the CPU and OpenCL\n",
               qv_last_error());
    } else {
        CHECK(fpga);
        CHECK(qv_func_set_fpga(fft, "fft"));
        /* mag has no kernel of its own; tied to the fused fir_fft_mag, it
         * says it is the catalog's mag, whose calls that kernel may take
         * over (a function left unbound is never taken over). */
        CHECK(qv_func_set_fpga(mag, "fir_fft_mag"));
    }
    /* --where: a stage kept to some device classes (a failed device's
     * tasks still re-run on the CPU). */
    qv_func *const stages[3] = { fir, fft, mag };
    for (int s = 0; s < 3; s++)
        if (where[s]) {
            CHECK(qv_func_set_where(stages[s], where[s]));
            printf("%s is placed only on:", stage[s]);
            for (int k = 0; k < QV_CLASS_COUNT; k++)
                if (where[s] & 1u << k)
                    printf(" %s", qv_class_name((qv_class)k));
            printf("\n");
        }

    /* Frames: a chirp plus noise; one filter for all. */
    size_t fb = n * sizeof(float);
    float *h = malloc(TAPS * sizeof *h);
    float *zeros = calloc(n, sizeof *zeros);
    float **x = calloc((size_t)frames, sizeof *x), **y = calloc((size_t)frames, sizeof *y);
    float **re = calloc((size_t)frames, sizeof *re), **im = calloc((size_t)frames, sizeof *im);
    float **m = calloc((size_t)frames, sizeof *m);
    if (!h || !zeros || !x || !y || !re || !im || !m)
        return 1;
    for (int t = 0; t < TAPS; t++) /* a windowed-sinc low-pass */
        h[t] = (t == TAPS / 2 ? 0.25f
                              : (float)(sin(0.25 * M_PI * (t - TAPS / 2)) /
                                        (M_PI * (t - TAPS / 2)))) *
               (float)(0.54 - 0.46 * cos(2 * M_PI * t / (TAPS - 1)));
    unsigned seed = 12345;
    for (int f = 0; f < frames; f++) {
        x[f] = malloc(fb);
        y[f] = malloc(fb);
        re[f] = malloc(fb);
        im[f] = malloc(fb);
        m[f] = malloc(fb);
        if (!x[f] || !y[f] || !re[f] || !im[f] || !m[f])
            return 1;
        for (uint32_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            double noise = ((seed >> 8) & 0xffff) / 65536.0 - 0.5;
            x[f][i] = (float)(sin(2 * M_PI * (0.02 + 0.002 * f) * i) + 0.3 * noise);
        }
    }
    qv_buf *bh, *bz, **bx = calloc((size_t)frames, sizeof *bx), **by = calloc((size_t)frames, sizeof *by);
    qv_buf **bre = calloc((size_t)frames, sizeof *bre), **bim = calloc((size_t)frames, sizeof *bim);
    qv_buf **bm = calloc((size_t)frames, sizeof *bm);
    if (!bx || !by || !bre || !bim || !bm)
        return 1;
    CHECK(qv_buf_register(rt, h, TAPS * sizeof *h, &bh));
    CHECK(qv_buf_register(rt, zeros, fb, &bz));
    uint32_t taps = TAPS;

    /* The pipeline, as sequential code. */
    double t0 = now_ms();
    for (int f = 0; f < frames; f++) {
        CHECK(qv_buf_register(rt, x[f], fb, &bx[f]));
        CHECK(qv_buf_register(rt, y[f], fb, &by[f]));
        CHECK(qv_buf_register(rt, re[f], fb, &bre[f]));
        CHECK(qv_buf_register(rt, im[f], fb, &bim[f]));
        CHECK(qv_buf_register(rt, m[f], fb, &bm[f]));
        /* Each frame is one entry of the region "frame": the runtime learns
         * its signature, once it is hot compiles it into a plan in the
         * background, and replays the plan for the frames after that. */
        CHECK(qv_region_begin(rt, "frame"));
        CHECK(qv_submit(rt, fir, (qv_arg[]){ QV_BUF(bx[f]), QV_BUF(bh), QV_BUF(by[f]),
                                             QV_VAL(n), QV_VAL(taps) }, 5));
        CHECK(qv_submit(rt, fft, (qv_arg[]){ QV_BUF(by[f]), QV_BUF(bz), QV_BUF(bre[f]),
                                             QV_BUF(bim[f]), QV_VAL(n) }, 5));
        CHECK(qv_submit(rt, mag, (qv_arg[]){ QV_BUF(bre[f]), QV_BUF(bim[f]), QV_BUF(bm[f]),
                                             QV_VAL(n) }, 4));
        CHECK(qv_region_end(rt));
        /* A stream keeps `batch` frames in flight, as a bound on latency
         * and memory would have it. */
        if ((f + 1) % batch == 0)
            CHECK(qv_wait_all(rt));
    }
    for (int f = 0; f < frames; f++) /* brings every result home */
        CHECK(qv_buf_unregister(bm[f]));
    double wall = now_ms() - t0;
    /* The intermediates too: where a fused kernel ran the chain as one
     * launch, the runtime computes them now, when they are read. */
    double t1 = now_ms();
    for (int f = 0; f < frames; f++) {
        CHECK(qv_buf_unregister(by[f]));
        CHECK(qv_buf_unregister(bre[f]));
        CHECK(qv_buf_unregister(bim[f]));
    }
    double inter_ms = now_ms() - t1;

    /* Check against the same chain run sequentially with the references. */
    float *ry = malloc(fb), *rre = malloc(fb), *rim = malloc(fb), *rm = malloc(fb);
    double worst = 0;
    int peak_ok = 1;
    for (int f = 0; f < frames && ry && rre && rim && rm; f++) {
        qv_hls_fir_ref(x[f], h, ry, n, TAPS);
        qv_hls_fft_ref(ry, zeros, rre, rim, n);
        qv_hls_mag_ref(rre, rim, rm, n);
        double scale = 0;
        uint32_t p1 = 0, p2 = 0;
        for (uint32_t i = 0; i < n; i++) {
            scale = fmax(scale, fabs(rm[i]));
            if (i < n / 2 && rm[i] > rm[p1])
                p1 = i;
            if (i < n / 2 && m[f][i] > m[f][p2])
                p2 = i;
        }
        double sre = 0;
        for (uint32_t i = 0; i < n; i++)
            sre = fmax(sre, fmax(fabs(rre[i]), fabs(rim[i])));
        for (uint32_t i = 0; i < n; i++) {
            worst = fmax(worst, fabs(rm[i] - m[f][i]) / (scale > 0 ? scale : 1));
            worst = fmax(worst, fabs(ry[i] - y[f][i]));
            worst = fmax(worst, fmax(fabs(rre[i] - re[f][i]), fabs(rim[i] - im[f][i])) /
                                    (sre > 0 ? sre : 1));
        }
        peak_ok &= p1 == p2;
    }
    int ok = worst < 1e-4 && peak_ok;

    qv_graph_info gi;
    CHECK(qv_graph_info_get(rt, &gi));
    printf("Quiver signal demo: %d frames of %u samples through fir -> fft -> mag, "
           "%llu tasks\n", frames, n, (unsigned long long)gi.nodes);
    printf("result check (magnitudes and the intermediates y, re, im): largest "
           "difference from a sequential run %.1e of the peak, spectral peaks %s  %s\n",
           worst, peak_ok ? "identical" : "DIFFER", ok ? "OK" : "FAILED");
    printf("time: %.1f ms; critical path %.1f ms over %llu tasks\n", wall,
           gi.critical_path_us / 1e3, (unsigned long long)gi.critical_path_len);
    for (unsigned d = 0; d < qv_device_count(rt); d++) {
        qv_device_info di;
        CHECK(qv_device_get(rt, d, &di));
        printf("device %u: %-40.40s %-6s %4llu tasks", d, di.name, qv_class_name(di.cls),
               (unsigned long long)di.tasks);
        if (d)
            printf(", %.1f MB in, %.1f MB out", di.bytes_to / 1e6, di.bytes_from / 1e6);
        if (di.board_us > 0)
            printf(", board time %.1f us (modelled)", di.board_us);
        if (di.failed)
            printf(", %llu failed and re-ran elsewhere", (unsigned long long)di.failed);
        printf("\n");
    }
    /* The region: its entries, how many replayed a plan, the plans made
     * (the first when it became hot, then re-plans) and the last entry's
     * predicted against its measured time. */
    qv_region_info ri;
    memset(&ri, 0, sizeof ri);
    ri.size = sizeof ri;
    CHECK(qv_region_get(rt, "frame", &ri));
    printf("region %s: %llu entries, %llu run eagerly, %llu replayed, %llu compiled, "
           "%llu re-planned, %llu guard misses\n", ri.name, (unsigned long long)ri.entries,
           (unsigned long long)ri.recorded, (unsigned long long)ri.replayed,
           (unsigned long long)ri.compiles, (unsigned long long)ri.replans,
           (unsigned long long)ri.guard_misses);
    if (ri.fused)
        printf("  fused: %llu chains ran as one launch of a fused kernel; their "
               "intermediates were computed when read, in %.1f ms\n",
               (unsigned long long)ri.fused, inter_ms);
    else
        printf("  fused: no chain ran as one launch of a fused kernel\n");
    if (ri.refreshes)
        printf("  refreshes: %llu replayed entr%s sent one call to a device the plan "
               "leaves out, to measure it again\n",
               (unsigned long long)ri.refreshes, ri.refreshes == 1 ? "y" : "ies");
    /* A last entry that ran eagerly (the plan dropped, or a guard miss)
     * has no prediction: predicted_us is 0 there. */
    if (ri.compiles && ri.predicted_us > 0)
        printf("  plan: %s; last entry predicted %.1f us, measured %.1f us\n",
               ri.last_replan_reason, ri.predicted_us, ri.measured_us);
    else if (ri.compiles)
        printf("  plan: %s; last entry ran eagerly, measured %.1f us\n",
               ri.last_replan_reason, ri.measured_us);
    else if (ri.last_error[0])
        printf("  %s%s\n",
               strncmp(ri.last_error, "not compiled", 12) ? "not compiled: " : "",
               ri.last_error);
    char pg[1024], pt[1024];
    snprintf(pg, sizeof pg, "%s/signal.qvg.json", out);
    snprintf(pt, sizeof pt, "%s/signal.trace.json", out);
    CHECK(qv_graph_write(rt, "signal", pg));
    CHECK(qv_trace_write(rt, pt));
    printf("wrote: %s (graph), %s (timeline: open in https://ui.perfetto.dev)\n", pg, pt);
    printf("plan it for another machine: quiver plan --graph %s --platform "
           "<prefix>/share/quiver/platforms/ws8-gpu-2fpga.yaml\n", pg);

    for (int f = 0; f < frames; f++) {
        qv_buf_unregister(bx[f]);
        free(x[f]);
        free(y[f]);
        free(re[f]);
        free(im[f]);
        free(m[f]);
    }
    qv_buf_unregister(bh);
    qv_buf_unregister(bz);
    qv_runtime_destroy(rt);
    free(fir_cl);
    free(fft_cl);
    free(ry);
    free(rre);
    free(rim);
    free(rm);
    free(h);
    free(zeros);
    free(x);
    free(y);
    free(re);
    free(im);
    free(m);
    free(bx);
    free(by);
    free(bre);
    free(bim);
    free(bm);
    /* What it printed reached its reader: a full disk or a closed
     * standard output is an error, as for the quiver command (it exited 0;
     * adversarial testing). */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "signal: error writing standard output\n");
        ok = 0;
    }
    return ok ? 0 : 1;
}
