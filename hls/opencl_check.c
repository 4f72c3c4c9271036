/*
 * hls_opencl_check: builds every kernel's OpenCL C variant (hls/<k>/<k>.cl)
 * with clBuildProgram on the first OpenCL device found (PoCL here, any GPU
 * elsewhere), runs it on random inputs of two or three sizes with the work
 * split its .cl file documents, and compares the result with the plain C
 * reference within the tolerance stated in the kernel's README. It is the
 * proof that the runtime's OpenCL backend can use these files as they are.
 *
 * Usage: hls_opencl_check <hls source dir>. Exit status: 0 all kernels
 * pass, 1 a kernel fails or does not build (its build log is printed),
 * 77 no OpenCL platform or device (reported as skipped by ctest).
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/qv_hls_tb.h"
#include "conv2d/conv2d_ref.h"
#include "fft/fft_ref.h"
#include "fir/fir_ref.h"
#include "fir_fft_mag/fir_fft_mag_ref.h"
#include "histogram/histogram_ref.h"
#include "mmult/mmult_ref.h"
#include "vadd/vadd_ref.h"

#define SKIP 77

typedef struct {
    const char *dir; /* hls source directory */
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue q;
    cl_ulong local_mem; /* bytes */
} env;

/* One kernel under test: its program, kernel and the buffers of one run. */
typedef struct {
    cl_program prog;
    cl_kernel k;
    cl_mem mem[6];
    int nmem;
} run;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        if (sz >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (buf = malloc((size_t)sz + 1)) != NULL) {
            *len = fread(buf, 1, (size_t)sz, f);
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* Builds <dir>/<name>/<name>.cl and creates kernel <name>; prints the build log on
 * failure. */
static int build(const env *e, const char *name, run *r)
{
    char path[4096];
    size_t len = 0;
    cl_int err;
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/%s/%s.cl", e->dir, name, name);
    char *src = slurp(path, &len);
    if (!src) {
        fprintf(stderr, "%s: cannot read %s\n", name, path);
        return -1;
    }
    const char *srcs[1] = {src};
    r->prog = clCreateProgramWithSource(e->ctx, 1, srcs, &len, &err);
    free(src);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "%s: clCreateProgramWithSource: %d\n", name, (int)err);
        return -1;
    }
    err = clBuildProgram(r->prog, 1, &e->dev, "-cl-std=CL1.2", NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t loglen = 0;
        clGetProgramBuildInfo(r->prog, e->dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &loglen);
        char *log = malloc(loglen + 1);
        if (log && clGetProgramBuildInfo(r->prog, e->dev, CL_PROGRAM_BUILD_LOG, loglen,
                                         log, NULL) == CL_SUCCESS) {
            log[loglen] = '\0';
            fprintf(stderr, "%s: clBuildProgram failed (%d); build log:\n%s\n", name,
                    (int)err, log);
        } else {
            fprintf(stderr, "%s: clBuildProgram failed (%d), no build log\n", name,
                    (int)err);
        }
        free(log);
        return -1;
    }
    r->k = clCreateKernel(r->prog, name, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "%s: clCreateKernel: %d\n", name, (int)err);
        return -1;
    }
    return 0;
}

static void run_release(run *r)
{
    for (int i = 0; i < r->nmem; i++)
        if (r->mem[i])
            clReleaseMemObject(r->mem[i]);
    r->nmem = 0;
    if (r->k)
        clReleaseKernel(r->k);
    if (r->prog)
        clReleaseProgram(r->prog);
    memset(r, 0, sizeof *r);
}

static void release_buffers(run *r)
{
    for (int i = 0; i < r->nmem; i++)
        if (r->mem[i])
            clReleaseMemObject(r->mem[i]);
    r->nmem = 0;
}

/* Sets argument idx to a new buffer: a copy of host (bytes) or, host NULL, uninitialised.
 */
static int arg_buf(const env *e, run *r, cl_uint idx, const void *host, size_t bytes)
{
    cl_int err;
    size_t sz = bytes ? bytes : 4; /* zero-size buffers are invalid */
    cl_mem m = clCreateBuffer(e->ctx,
                              host && bytes ? CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR
                                            : CL_MEM_READ_WRITE,
                              sz, host && bytes ? (void *)host : NULL, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clCreateBuffer(%zu): %d\n", sz, (int)err);
        return -1;
    }
    r->mem[r->nmem++] = m;
    err = clSetKernelArg(r->k, idx, sizeof m, &m);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clSetKernelArg(%u): %d\n", idx, (int)err);
        return -1;
    }
    return 0;
}

static int arg_uint(run *r, cl_uint idx, cl_uint v)
{
    cl_int err = clSetKernelArg(r->k, idx, sizeof v, &v);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clSetKernelArg(%u): %d\n", idx, (int)err);
        return -1;
    }
    return 0;
}

static size_t round_up(size_t v, size_t m)
{
    return v == 0 ? m : (v + m - 1) / m * m;
}

/* Enqueues over global[0..dims) with local (NULL: the implementation picks) and waits. */
static int launch(const env *e, run *r, cl_uint dims, const size_t *global,
                  const size_t *local)
{
    cl_int err =
        clEnqueueNDRangeKernel(e->q, r->k, dims, NULL, global, local, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clFinish(e->q);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clEnqueueNDRangeKernel: %d\n", (int)err);
        return -1;
    }
    return 0;
}

/* The one-work-group kernels: as many items as the kernel allows, at most 256. */
static int launch_one_group(const env *e, run *r)
{
    size_t wg = 0;
    if (clGetKernelWorkGroupInfo(r->k, e->dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg,
                                 NULL) != CL_SUCCESS ||
        wg == 0)
        wg = 1;
    size_t n = wg < 256 ? wg : 256;
    return launch(e, r, 1, &n, &n);
}

static int fetch(const env *e, const run *r, int which, void *host, size_t bytes)
{
    if (bytes == 0)
        return 0;
    cl_int err =
        clEnqueueReadBuffer(e->q, r->mem[which], CL_TRUE, 0, bytes, host, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clEnqueueReadBuffer: %d\n", (int)err);
        return -1;
    }
    return 0;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "hls_opencl_check: out of memory\n");
        exit(1);
    }
    return p;
}

static unsigned ilog2(unsigned n)
{
    unsigned l = 0;
    while ((1u << l) < n)
        l++;
    return l;
}

static int check_vadd(const env *e, qv_hls_rng *rng)
{
    static const unsigned sizes[] = {1, 1000, 100003};
    run r;
    int fail = 0;
    if (build(e, "vadd", &r) != 0) {
        run_release(&r);
        return 1;
    }
    for (size_t s = 0; s < 3 && !fail; s++) {
        unsigned n = sizes[s];
        float *a = xmalloc(n * 4), *b = xmalloc(n * 4), *got = xmalloc(n * 4),
              *want = xmalloc(n * 4);
        qv_hls_fill_f32(rng, a, n);
        qv_hls_fill_f32(rng, b, n);
        qv_hls_vadd_ref(a, b, want, n);
        size_t g = round_up(n, 64);
        if (arg_buf(e, &r, 0, a, n * 4) || arg_buf(e, &r, 1, b, n * 4) ||
            arg_buf(e, &r, 2, NULL, n * 4) || arg_uint(&r, 3, n) ||
            launch(e, &r, 1, &g, NULL) || fetch(e, &r, 2, got, n * 4))
            fail = 1;
        else
            fail = qv_hls_check_abs("opencl vadd", got, want, 0.0, n) != 0;
        printf("  vadd n=%u: %s\n", n, fail ? "FAIL" : "ok (exact)");
        release_buffers(&r);
        free(a), free(b), free(got), free(want);
    }
    run_release(&r);
    return fail;
}

static int check_fir(const env *e, qv_hls_rng *rng)
{
    static const unsigned cases[][2] = {{1000, 31}, {4096, 128}, {50, 200}};
    run r;
    int fail = 0;
    if (build(e, "fir", &r) != 0) {
        run_release(&r);
        return 1;
    }
    for (size_t c = 0; c < 3 && !fail; c++) {
        unsigned n = cases[c][0], taps = cases[c][1];
        float *x = xmalloc(n * 4), *h = xmalloc(taps * 4), *got = xmalloc(n * 4),
              *want = xmalloc(n * 4);
        double *bound = xmalloc(n * sizeof(double));
        qv_hls_fill_f32(rng, x, n);
        qv_hls_fill_f32(rng, h, taps);
        qv_hls_fir_ref(x, h, want, n, taps);
        for (unsigned i = 0; i < n; i++) {
            double mag = 0.0;
            for (unsigned k = 0; k < taps && k <= i; k++)
                mag += fabs((double)h[k] * x[i - k]);
            bound[i] = 1e-5 * mag + 1e-30;
        }
        size_t g = round_up(n, 64);
        if (arg_buf(e, &r, 0, x, n * 4) || arg_buf(e, &r, 1, h, taps * 4) ||
            arg_buf(e, &r, 2, NULL, n * 4) || arg_uint(&r, 3, n) ||
            arg_uint(&r, 4, taps) || launch(e, &r, 1, &g, NULL) ||
            fetch(e, &r, 2, got, n * 4))
            fail = 1;
        else
            fail = qv_hls_check_bound("opencl fir", got, want, bound, n) != 0;
        printf("  fir n=%u taps=%u: %s\n", n, taps, fail ? "FAIL" : "ok");
        release_buffers(&r);
        free(x), free(h), free(got), free(want), free(bound);
    }
    run_release(&r);
    return fail;
}

static int check_fft(const env *e, qv_hls_rng *rng)
{
    static const unsigned sizes[] = {2, 1024, 16384};
    run r;
    int fail = 0;
    if (build(e, "fft", &r) != 0) {
        run_release(&r);
        return 1;
    }
    for (size_t s = 0; s < 3 && !fail; s++) {
        unsigned n = sizes[s];
        float *xr = xmalloc(n * 4), *xi = xmalloc(n * 4), *gr = xmalloc(n * 4),
              *gi = xmalloc(n * 4);
        float *wr = xmalloc(n * 4), *wi = xmalloc(n * 4);
        qv_hls_fill_f32(rng, xr, n);
        qv_hls_fill_f32(rng, xi, n);
        qv_hls_fft_ref(xr, xi, wr, wi, n);
        double l1 = 0.0;
        for (unsigned j = 0; j < n; j++)
            l1 += hypot(xr[j], xi[j]);
        double bound = 1e-6 * (ilog2(n) + 1) * l1;
        if (arg_buf(e, &r, 0, xr, n * 4) || arg_buf(e, &r, 1, xi, n * 4) ||
            arg_buf(e, &r, 2, NULL, n * 4) || arg_buf(e, &r, 3, NULL, n * 4) ||
            arg_uint(&r, 4, n) || launch_one_group(e, &r) || fetch(e, &r, 2, gr, n * 4) ||
            fetch(e, &r, 3, gi, n * 4))
            fail = 1;
        else
            fail = (qv_hls_check_abs("opencl fft re", gr, wr, bound, n) +
                    qv_hls_check_abs("opencl fft im", gi, wi, bound, n)) != 0;
        printf("  fft n=%u: %s\n", n, fail ? "FAIL" : "ok");
        release_buffers(&r);
        free(xr), free(xi), free(gr), free(gi), free(wr), free(wi);
    }
    run_release(&r);
    return fail;
}

static int check_mmult(const env *e, qv_hls_rng *rng)
{
    static const unsigned shapes[][3] = {{33, 31, 65}, {64, 100, 17}, {128, 128, 128}};
    run r;
    int fail = 0;
    if (build(e, "mmult", &r) != 0) {
        run_release(&r);
        return 1;
    }
    for (size_t s = 0; s < 3 && !fail; s++) {
        unsigned m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
        float *a = xmalloc(na * 4), *b = xmalloc(nb * 4), *got = xmalloc(nc * 4),
              *want = xmalloc(nc * 4);
        double *bound = xmalloc(nc * sizeof(double));
        qv_hls_fill_f32(rng, a, na);
        qv_hls_fill_f32(rng, b, nb);
        qv_hls_mmult_ref(a, b, want, m, n, k);
        for (unsigned i = 0; i < m; i++)
            for (unsigned j = 0; j < n; j++) {
                double mag = 0.0;
                for (unsigned p = 0; p < k; p++)
                    mag += fabs((double)a[(size_t)i * k + p] * b[(size_t)p * n + j]);
                bound[(size_t)i * n + j] = 1e-5 * mag + 1e-30;
            }
        size_t g[2] = {round_up(n, 16), round_up(m, 16)};
        if (arg_buf(e, &r, 0, a, na * 4) || arg_buf(e, &r, 1, b, nb * 4) ||
            arg_buf(e, &r, 2, NULL, nc * 4) || arg_uint(&r, 3, m) || arg_uint(&r, 4, n) ||
            arg_uint(&r, 5, k) || launch(e, &r, 2, g, NULL) ||
            fetch(e, &r, 2, got, nc * 4))
            fail = 1;
        else
            fail = qv_hls_check_bound("opencl mmult", got, want, bound, nc) != 0;
        printf("  mmult m=%u n=%u k=%u: %s\n", m, n, k, fail ? "FAIL" : "ok");
        release_buffers(&r);
        free(a), free(b), free(got), free(want), free(bound);
    }
    run_release(&r);
    return fail;
}

static long clampl(long v, long len)
{
    return v < 0 ? 0 : v >= len ? len - 1 : v;
}

static int check_conv2d(const env *e, qv_hls_rng *rng)
{
    static const unsigned cases[][3] = {{64, 48, 7}, {100, 1, 3}, {257, 31, 5}};
    run r;
    int fail = 0;
    if (build(e, "conv2d", &r) != 0) {
        run_release(&r);
        return 1;
    }
    for (size_t c = 0; c < 3 && !fail; c++) {
        unsigned w = cases[c][0], h = cases[c][1], k = cases[c][2];
        size_t np = (size_t)w * h;
        long rad = k / 2;
        float *in = xmalloc(np * 4), *f = xmalloc((size_t)k * k * 4);
        float *got = xmalloc(np * 4), *want = xmalloc(np * 4);
        double *bound = xmalloc(np * sizeof(double));
        qv_hls_fill_f32(rng, in, np);
        qv_hls_fill_f32(rng, f, (size_t)k * k);
        qv_hls_conv2d_ref(in, f, want, w, h, k);
        for (long y = 0; y < (long)h; y++)
            for (long x = 0; x < (long)w; x++) {
                double mag = 0.0;
                for (long dy = -rad; dy <= rad; dy++)
                    for (long dx = -rad; dx <= rad; dx++)
                        mag += fabs((double)f[(dy + rad) * k + dx + rad] *
                                    in[clampl(y + dy, h) * w + clampl(x + dx, w)]);
                bound[y * w + x] = 1e-5 * mag + 1e-30;
            }
        size_t g[2] = {round_up(w, 16), round_up(h, 16)};
        if (arg_buf(e, &r, 0, in, np * 4) || arg_buf(e, &r, 1, f, (size_t)k * k * 4) ||
            arg_buf(e, &r, 2, NULL, np * 4) || arg_uint(&r, 3, w) || arg_uint(&r, 4, h) ||
            arg_uint(&r, 5, k) || launch(e, &r, 2, g, NULL) ||
            fetch(e, &r, 2, got, np * 4))
            fail = 1;
        else
            fail = qv_hls_check_bound("opencl conv2d", got, want, bound, np) != 0;
        printf("  conv2d %ux%u k=%u: %s\n", w, h, k, fail ? "FAIL" : "ok");
        release_buffers(&r);
        free(in), free(f), free(got), free(want), free(bound);
    }
    run_release(&r);
    return fail;
}

static int check_histogram(const env *e, qv_hls_rng *rng)
{
    static const unsigned cases[][2] = {{100003, 256}, {5000, 4096}, {1, 7}};
    run r;
    int fail = 0;
    if (build(e, "histogram", &r) != 0) {
        run_release(&r);
        return 1;
    }
    for (size_t c = 0; c < 3 && !fail; c++) {
        unsigned n = cases[c][0], nbins = cases[c][1];
        uint32_t *d = xmalloc((size_t)n * 4), *got = xmalloc((size_t)nbins * 4);
        uint32_t *want = xmalloc((size_t)nbins * 4);
        for (unsigned i = 0; i < n; i++) /* skewed, so some bins are hot */
            d[i] = (i % 3 == 0) ? 0x7fffffffu : qv_hls_rng_u32(rng);
        qv_hls_histogram_ref(d, want, n, nbins);
        if (arg_buf(e, &r, 0, d, (size_t)n * 4) ||
            arg_buf(e, &r, 1, NULL, (size_t)nbins * 4) || arg_uint(&r, 2, n) ||
            arg_uint(&r, 3, nbins) || launch_one_group(e, &r) ||
            fetch(e, &r, 1, got, (size_t)nbins * 4))
            fail = 1;
        else
            fail = qv_hls_check_u32("opencl histogram", got, want, nbins) != 0;
        printf("  histogram n=%u nbins=%u: %s\n", n, nbins, fail ? "FAIL" : "ok (exact)");
        release_buffers(&r);
        free(d), free(got), free(want);
    }
    run_release(&r);
    return fail;
}

static int check_fir_fft_mag(const env *e, qv_hls_rng *rng)
{
    static const unsigned cases[][2] = {{8, 5}, {1024, 31}, {4096, 128}};
    run r;
    int fail = 0;
    if (e->local_mem < 2 * 4096 * sizeof(float)) {
        printf("  fir_fft_mag: skipped, the device has %llu bytes of local memory, 32 "
               "KiB needed\n",
               (unsigned long long)e->local_mem);
        return 0;
    }
    if (build(e, "fir_fft_mag", &r) != 0) {
        run_release(&r);
        return 1;
    }
    for (size_t c = 0; c < 3 && !fail; c++) {
        unsigned n = cases[c][0], taps = cases[c][1];
        float *x = xmalloc(n * 4), *h = xmalloc(taps * 4), *got = xmalloc(n * 4),
              *want = xmalloc(n * 4);
        qv_hls_fill_f32(rng, x, n);
        qv_hls_fill_f32(rng, h, taps);
        qv_hls_fir_fft_mag_ref(x, h, want, n, taps);
        double l1 = 0.0;
        for (unsigned j = 0; j < n; j++)
            for (unsigned k = 0; k < taps && k <= j; k++)
                l1 += fabs((double)h[k] * x[j - k]);
        double bound = 1e-5 * (ilog2(n) + 1) * l1;
        if (arg_buf(e, &r, 0, x, n * 4) || arg_buf(e, &r, 1, h, taps * 4) ||
            arg_buf(e, &r, 2, NULL, n * 4) || arg_uint(&r, 3, n) ||
            arg_uint(&r, 4, taps) || launch_one_group(e, &r) ||
            fetch(e, &r, 2, got, n * 4))
            fail = 1;
        else
            fail = qv_hls_check_abs("opencl fir_fft_mag", got, want, bound, n) != 0;
        printf("  fir_fft_mag n=%u taps=%u: %s\n", n, taps, fail ? "FAIL" : "ok");
        release_buffers(&r);
        free(x), free(h), free(got), free(want);
    }
    run_release(&r);
    return fail;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <hls source dir>\n", argv[0]);
        return 2;
    }
    env e = {.dir = argv[1]};
    cl_uint nplat = 0;
    if (clGetPlatformIDs(0, NULL, &nplat) != CL_SUCCESS || nplat == 0) {
        printf("no OpenCL platform: skipped\n");
        return SKIP;
    }
    cl_platform_id *plats = xmalloc(nplat * sizeof *plats);
    clGetPlatformIDs(nplat, plats, NULL);
    cl_platform_id plat = NULL;
    for (cl_uint i = 0; i < nplat && !plat; i++) {
        cl_uint ndev = 0;
        if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_ALL, 1, &e.dev, &ndev) ==
                CL_SUCCESS &&
            ndev > 0)
            plat = plats[i];
    }
    free(plats);
    if (!plat) {
        printf("no OpenCL device: skipped\n");
        return SKIP;
    }
    char pname[256] = "", dname[256] = "";
    clGetPlatformInfo(plat, CL_PLATFORM_NAME, sizeof pname, pname, NULL);
    clGetDeviceInfo(e.dev, CL_DEVICE_NAME, sizeof dname, dname, NULL);
    clGetDeviceInfo(e.dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof e.local_mem, &e.local_mem,
                    NULL);
    printf("OpenCL: %s / %s\n", pname, dname);

    cl_int err;
    e.ctx = clCreateContext(NULL, 1, &e.dev, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clCreateContext: %d\n", (int)err);
        return 1;
    }
    e.q = clCreateCommandQueue(e.ctx, e.dev, 0, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clCreateCommandQueue: %d\n", (int)err);
        clReleaseContext(e.ctx);
        return 1;
    }

    static int (*const checks[])(const env *, qv_hls_rng *) = {
        check_vadd,   check_fir,       check_fft,        check_mmult,
        check_conv2d, check_histogram, check_fir_fft_mag};
    qv_hls_rng rng;
    qv_hls_rng_seed(&rng, 0x5eedc10c);
    int fails = 0;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        fails += checks[i](&e, &rng);

    clReleaseCommandQueue(e.q);
    clReleaseContext(e.ctx);
    printf("hls_opencl_check: %s\n", fails ? "FAIL" : "PASS");
    return fails ? 1 : 0;
}
