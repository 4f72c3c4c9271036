/*
 * test_offload_dsp.c - examples/offload/dsp.c's fir, fft and mag give what
 * the kernel library's references (qv_hls_*_ref, the CPU implementations
 * behind the catalog's kernels) give for the same arguments: fir and mag
 * to the bit, the FFT within rounding (its bit reversal copies out of
 * place, the reference swaps in place: the same butterflies either way).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "dsp.h"
#include "fft/fft_ref.h"
#include "fir/fir_ref.h"
#include "fir_fft_mag/fir_fft_mag_ref.h"

enum { N = 1024, TAPS = 64 };

static float x[N], h[TAPS], zero[N], a[N], b[N], re[N], im[N], re2[N], im2[N];

static void fill(float *v, size_t n, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
}

static void test_fir(void **state)
{
    (void)state;
    fill(x, N, 1);
    fill(h, TAPS, 2);
    for (unsigned taps = 1; taps <= TAPS; taps *= 2) {
        fir(x, h, a, N, taps);
        qv_hls_fir_ref(x, h, b, N, taps);
        assert_memory_equal(a, b, sizeof a);
    }
}

static void test_fft(void **state)
{
    (void)state;
    fill(x, N, 3);
    fill(a, N, 4);
    for (unsigned n = 1; n <= N; n *= 2) {
        fft(x, a, re, im, n);
        assert_int_equal(qv_hls_fft_ref(x, a, re2, im2, n), 0);
        for (unsigned i = 0; i < n; i++) {
            assert_true(fabsf(re[i] - re2[i]) <= 1e-5f * (float)n);
            assert_true(fabsf(im[i] - im2[i]) <= 1e-5f * (float)n);
        }
    }
    /* Not a power of two: nothing written. */
    re[0] = 42.0f;
    fft(x, a, re, im, 3);
    assert_true(re[0] == 42.0f);
}

/* The example's chain per frame, against the fused kernel's reference. */
static void test_chain(void **state)
{
    (void)state;
    fill(x, N, 5);
    fill(h, TAPS, 6);
    fir(x, h, a, N, TAPS);
    fft(a, zero, re, im, N);
    mag(re, im, b, N);
    assert_int_equal(qv_hls_fir_fft_mag_ref(x, h, a, N, TAPS), 0);
    float peak = 0;
    for (int i = 0; i < N; i++)
        peak = fmaxf(peak, a[i]);
    for (int i = 0; i < N; i++)
        assert_true(fabsf(a[i] - b[i]) <= 1e-5f * peak);
    qv_hls_mag_ref(re, im, a, N);
    assert_memory_equal(a, b, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fir),
        cmocka_unit_test(test_fft),
        cmocka_unit_test(test_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
