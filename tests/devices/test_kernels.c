/*
 * test_kernels.c - every kernel of hls/ gives the same result on the CPU
 * (its plain C reference), on OpenCL (PoCL in CI) and on the emulated
 * Alveo U250 (its HLS C source, packed in an sw_emu xclbin, run by the emu
 * backend), on random inputs of several sizes; the emulated board records
 * its modelled time; and faults of the emulated board end with the task done
 * on the CPU and the right result.
 *
 * Runs against the shipped policy (config/quiver.yaml: CPU, OpenCL, one
 * emulated U250, the catalog config/kernels.yaml). Each device that is
 * missing (no OpenCL here) is skipped, not failed.
 */
#include <math.h>

#include "conv2d/conv2d_ref.h"
#include "devices/device.h"
#include "fft/fft_ref.h"
#include "fir/fir_ref.h"
#include "fir_fft_mag/fir_fft_mag_ref.h"
#include "helper.h"
#include "histogram/histogram_ref.h"
#include "mmult/mmult_ref.h"
#include "quiver.h"
#include "qvpart.h"
#include "platform.h"
#include "vadd/vadd_ref.h"

#define MAXB 6 /* buffers per kernel at most */

typedef struct kspec {
    const char *name;
    unsigned    nbuf, nscal;
    qv_mode     mode[MAXB];
    void (*cpu)(const qv_call *c);
    unsigned (*range)(const qv_call *c, size_t g[3], size_t l[3]);
    int         exact;
} kspec;

static uint32_t U(const qv_call *c, unsigned i)
{
    return *(const uint32_t *)c->ptr[i];
}
static void c_vadd(const qv_call *c)
{
    qv_hls_vadd_ref(c->ptr[0], c->ptr[1], c->ptr[2], U(c, 3));
}
static void c_fir(const qv_call *c)
{
    qv_hls_fir_ref(c->ptr[0], c->ptr[1], c->ptr[2], U(c, 3), U(c, 4));
}
static void c_fft(const qv_call *c)
{
    qv_hls_fft_ref(c->ptr[0], c->ptr[1], c->ptr[2], c->ptr[3], U(c, 4));
}
static void c_mmult(const qv_call *c)
{
    qv_hls_mmult_ref(c->ptr[0], c->ptr[1], c->ptr[2], U(c, 3), U(c, 4), U(c, 5));
}
static void c_conv2d(const qv_call *c)
{
    qv_hls_conv2d_ref(c->ptr[0], c->ptr[1], c->ptr[2], U(c, 3), U(c, 4), U(c, 5));
}
static void c_hist(const qv_call *c)
{
    qv_hls_histogram_ref(c->ptr[0], c->ptr[1], U(c, 2), U(c, 3));
}
static void c_ffm(const qv_call *c)
{
    qv_hls_fir_fft_mag_ref(c->ptr[0], c->ptr[1], c->ptr[2], U(c, 3), U(c, 4));
}

static size_t up(size_t v, size_t to)
{
    return (v + to - 1) / to * to;
}
static unsigned r_n3(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = U(c, 3);
    return 1;
}
static unsigned r_mmult(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = up(U(c, 4), 8); /* columns */
    g[1] = up(U(c, 3), 8); /* rows */
    return 2;
}
static unsigned r_conv(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = up(U(c, 3), 8);
    g[1] = up(U(c, 4), 8);
    return 2;
}
static unsigned r_group(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)c;
    g[0] = l[0] = 64; /* exactly one work-group */
    return 1;
}

static const kspec K[] = {
    { "vadd", 3, 1, { QV_R, QV_R, QV_W }, c_vadd, r_n3, 1 },
    { "fir", 3, 2, { QV_R, QV_R, QV_W }, c_fir, r_n3, 0 },
    { "fft", 4, 1, { QV_R, QV_R, QV_W, QV_W }, c_fft, r_group, 0 },
    { "mmult", 3, 3, { QV_R, QV_R, QV_W }, c_mmult, r_mmult, 0 },
    { "conv2d", 3, 3, { QV_R, QV_R, QV_W }, c_conv2d, r_conv, 0 },
    { "histogram", 2, 2, { QV_R, QV_W }, c_hist, r_group, 1 },
    { "fir_fft_mag", 3, 2, { QV_R, QV_R, QV_W }, c_ffm, r_group, 0 },
};
#define NK (sizeof K / sizeof K[0])

static qv_runtime *rt;
static qv_func *fn[NK];
static unsigned have; /* classes present: mask */

static char *slurp_src(const char *k)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/hls/%s/%s.cl", getenv("QV_SOURCE_DIR"), k, k);
    return qv_test_slurp(path, NULL);
}

static int setup(void **state)
{
    (void)state;
    if (!(rt = qv_test_default_runtime(&have)))
        return -1;
    for (unsigned i = 0; i < NK; i++) {
        qv_arg_desc d[MAXB + 3];
        unsigned n = 0;
        for (unsigned b = 0; b < K[i].nbuf; b++)
            d[n++] = QV_ARG_BUF(NULL, K[i].mode[b]);
        for (unsigned s = 0; s < K[i].nscal; s++)
            d[n++] = QV_ARG_SCALAR(NULL, uint32_t);
        if (qv_func_create(rt, K[i].name, d, n, &fn[i]) || qv_func_set_cpu(fn[i], K[i].cpu) ||
            qv_func_set_fpga(fn[i], K[i].name))
            return -1;
        char *src = slurp_src(K[i].name);
        if (!src)
            return -1;
        int rc = qv_func_set_opencl(fn[i], &(qv_opencl_impl){ src, K[i].name, NULL, K[i].range });
        free(src);
        if (rc)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qv__fault_set(NULL, 0, 0, 0);
    qv_runtime_destroy(rt);
    return 0;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* One call of kernel i with sizes s[] on class `cls`; compares each output
 * buffer with a CPU run of the same inputs. */
static void check(unsigned i, const uint32_t *s, qv_class cls)
{
    const kspec *k = &K[i];
    size_t count[MAXB] = {0};
    uint32_t n = s[0];
    switch (i) {
    case 0: count[0] = count[1] = count[2] = n; break;
    case 1: count[0] = count[2] = n; count[1] = s[1]; break;
    case 2: count[0] = count[1] = count[2] = count[3] = n; break;
    case 3: count[0] = (size_t)s[0] * s[2]; count[1] = (size_t)s[2] * s[1];
            count[2] = (size_t)s[0] * s[1]; break;
    case 4: count[0] = count[2] = (size_t)s[0] * s[1]; count[1] = (size_t)s[2] * s[2]; break;
    case 5: count[0] = n; count[1] = s[1]; break;
    default: count[0] = count[2] = n; count[1] = s[1]; break;
    }
    void *dev[MAXB], *ref[MAXB];
    qv_buf *b[MAXB];
    for (unsigned j = 0; j < k->nbuf; j++) {
        size_t bytes = count[j] * 4;
        dev[j] = malloc(bytes ? bytes : 4);
        ref[j] = malloc(bytes ? bytes : 4);
        assert_non_null(dev[j]);
        assert_non_null(ref[j]);
        for (size_t e = 0; e < count[j]; e++) {
            uint32_t r = rnd();
            float f = (float)((double)(r % 20001) / 10000.0 - 1.0);
            if (i == 5 && j == 0)
                memcpy((char *)dev[j] + 4 * e, &r, 4); /* histogram: raw words */
            else if (i == 2 && j == 1)
                memset((char *)dev[j] + 4 * e, 0, 4);   /* fft: a real signal */
            else
                memcpy((char *)dev[j] + 4 * e, &f, 4);
        }
        memcpy(ref[j], dev[j], bytes);
        assert_int_equal(qv_buf_register(rt, dev[j], bytes, &b[j]), 0);
    }
    qv_arg a[MAXB + 3];
    unsigned na = 0;
    for (unsigned j = 0; j < k->nbuf; j++)
        a[na++] = QV_BUF(b[j]);
    for (unsigned j = 0; j < k->nscal; j++)
        a[na++] = QV_VAL(s[j]);
    assert_int_equal(qv_func_set_where(fn[i], 1u << cls), 0);
    assert_int_equal(qv_submit(rt, fn[i], a, na), 0);
    for (unsigned j = 0; j < k->nbuf; j++)
        assert_int_equal(qv_buf_unregister(b[j]), 0);
    /* The reference, on the same inputs. */
    void *p[MAXB + 3];
    size_t sz[MAXB + 3];
    for (unsigned j = 0; j < k->nbuf; j++)
        p[j] = ref[j], sz[j] = count[j] * 4;
    for (unsigned j = 0; j < k->nscal; j++)
        p[k->nbuf + j] = (void *)&s[j], sz[k->nbuf + j] = 4;
    k->cpu(&(qv_call){ p, sz, na, 0 });
    for (unsigned j = 0; j < k->nbuf; j++) {
        if (!(k->mode[j] & QV_W))
            continue;
        double scale = 0, worst = 0;
        for (size_t e = 0; e < count[j]; e++) {
            float x, y;
            memcpy(&x, (char *)ref[j] + 4 * e, 4);
            memcpy(&y, (char *)dev[j] + 4 * e, 4);
            if (k->exact) {
                if (memcmp((char *)ref[j] + 4 * e, (char *)dev[j] + 4 * e, 4))
                    fail_msg("%s on %s: word %zu differs", k->name, qv_class_name(cls), e);
                continue;
            }
            scale = fmax(scale, fabs(x));
            worst = fmax(worst, fabs((double)x - y));
        }
        /* Floats summed in another order: relative to the output's size. */
        if (worst > 1e-4 * (scale > 1 ? scale : 1))
            fail_msg("%s on %s (size %u): differs by %g (scale %g)", k->name,
                     qv_class_name(cls), s[0], worst, scale);
    }
    for (unsigned j = 0; j < k->nbuf; j++) {
        free(dev[j]);
        free(ref[j]);
    }
    qv_func_set_where(fn[i], 0);
}

static const uint32_t sizes[NK][3][3] = {
    { { 1, 0, 0 }, { 1000, 0, 0 }, { 100003, 0, 0 } },
    { { 1000, 31, 0 }, { 4096, 128, 0 }, { 50, 7, 0 } },
    { { 2, 0, 0 }, { 256, 0, 0 }, { 4096, 0, 0 } },
    { { 33, 31, 65 }, { 64, 100, 17 }, { 96, 96, 96 } },
    { { 64, 48, 7 }, { 100, 1, 3 }, { 257, 31, 5 } },
    { { 100003, 256, 0 }, { 5000, 4096, 0 }, { 1, 7, 0 } },
    { { 8, 5, 0 }, { 1024, 31, 0 }, { 4096, 128, 0 } },
};

static void every_kernel_everywhere(void **state)
{
    (void)state;
    if (!(have & (1u << QV_CLASS_FPGA)))
        fail_msg("the shipped policy should give an emulated FPGA board");
    for (unsigned i = 0; i < NK; i++)
        for (unsigned s = 0; s < 3; s++)
            for (unsigned c = 0; c < QV_CLASS_COUNT; c++)
                if (have & (1u << c) && c != QV_CLASS_REMOTE)
                    check(i, sizes[i][s], (qv_class)c);
    /* The board kept its own clock next to the wall clock. */
    qv_device_info di;
    for (unsigned d = 0; d < qv_device_count(rt); d++) {
        assert_int_equal(qv_device_get(rt, d, &di), 0);
        if (di.cls == QV_CLASS_FPGA) {
            assert_string_equal(di.backend, "emu");
            assert_true(di.board_us > 0);
            assert_int_equal(di.tasks, 3 * NK);
        }
    }
}

static void board_time_in_graph(void **state)
{
    (void)state;
    check(0, sizes[0][1], QV_CLASS_FPGA);
    char path[512];
    snprintf(path, sizeof path, "%s/emu.qvg.json", qv_test_scratch());
    assert_int_equal(qv_graph_write(rt, "emu", path), 0);
    char *s = qv_test_slurp(path, NULL);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"device\": \"fpga\""));
    assert_non_null(strstr(s, "\"board_us\": "));
    free(s);
    /* The planner's reader gets the board's time back, on the fpga node. */
    qv_dag *g = NULL;
    assert_int_equal(qv_dag_load(path, &g, NULL), 0);
    assert_non_null(g->run);
    int on_board = 0;
    for (uint32_t i = 0; i < g->n; i++)
        if (g->run[i].board_us > 0) {
            assert_string_equal(g->class_name[g->run[i].device], "fpga");
            on_board++;
        }
    assert_true(on_board > 0);
    qv_dag_destroy(g);
}

/* Faults of the emulated board (no memory; a run that does not finish in
 * time): the task is done on the CPU, right result. */
static void emu_faults(void **state)
{
    (void)state;
    unsigned fpga = 0;
    for (unsigned d = 0; d < qv_device_count(rt); d++) {
        qv_device_info di;
        qv_device_get(rt, d, &di);
        if (di.cls == QV_CLASS_FPGA)
            fpga = d;
    }
    assert_true(fpga > 0);
    qv_device_info d0, d1;
    qv_device_get(rt, fpga, &d0);
    qv__fault_set("emu", QV_FAULT_ALLOC, 0, QV_ENOMEM);
    check(1, sizes[1][0], QV_CLASS_FPGA);
    qv_device_get(rt, fpga, &d1);
    assert_int_equal(d1.failed - d0.failed, 1);
    assert_true(d1.healthy);
    /* A run past its deadline: the board is judged hung. */
    qv__fault_set("emu", QV_FAULT_WAIT, 0, QV_ETIMEDOUT);
    check(1, sizes[1][1], QV_CLASS_FPGA);
    qv_device_get(rt, fpga, &d1);
    assert_int_equal(d1.failed - d0.failed, 2);
    assert_false(d1.healthy);
}

int main(void)
{
    if (!getenv("QV_SOURCE_DIR"))
        return QV_TEST_SKIP;
    setenv("QV_LOG", "0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_kernel_everywhere),
        cmocka_unit_test(board_time_in_graph),
        cmocka_unit_test(emu_faults),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    qv_test_scratch_remove();
    return rc;
}
