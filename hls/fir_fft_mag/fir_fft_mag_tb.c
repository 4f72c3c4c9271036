/*
 * C-simulation testbench of the fused fir_fft_mag kernel. For random signals
 * and filters over power-of-two lengths 1 .. FFM_MAX_N and tap counts up to
 * FFM_MAX_TAPS it checks that:
 *  - the fused HLS kernel equals the unfused chain run step by step
 *    (qv_hls_fir_ref, qv_hls_fft_ref on (y, 0), qv_hls_mag_ref) EXACTLY: the
 *    kernel performs the same float operations in the same order, and the
 *    build turns off multiply-add contraction (-ffp-contract=off);
 *  - qv_hls_fir_fft_mag_ref equals the same chain exactly;
 *  - the chain is within 1e-5 * (log2(n) + 1) * sum_j sum_k |h[k] x[j-k]| of
 *    a double-precision FIR, direct DFT and magnitude (the FIR's dot-product
 *    bound carried through the FFT's per-stage growth).
 * Returns 0 on pass, 1 on fail.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/qv_hls_tb.h"
#include "../fft/fft_ref.h"
#include "../fir/fir_ref.h"
#include "fir_fft_mag.h"
#include "fir_fft_mag_ref.h"

#define TOL 1e-5

int main(void)
{
    static const unsigned taps_list[] = {1, 5, 31, FFM_MAX_TAPS};
    const size_t max = FFM_MAX_N;
    qv_hls_rng rng;
    int fail = 0;
    float *x = malloc(max * sizeof(float)), *h = malloc(FFM_MAX_TAPS * sizeof(float));
    float *y = malloc(max * sizeof(float)), *zero = calloc(max, sizeof(float));
    float *re = malloc(max * sizeof(float)), *im = malloc(max * sizeof(float));
    float *chain = malloc(max * sizeof(float)), *got = malloc(max * sizeof(float));
    float *fused_ref = malloc(max * sizeof(float)), *oracle = malloc(max * sizeof(float));
    double *yd = malloc(max * sizeof(double)), *cs = malloc(max * sizeof(double));
    double *sn = malloc(max * sizeof(double));
    if (!x || !h || !y || !zero || !re || !im || !chain || !got || !fused_ref ||
        !oracle || !yd || !cs || !sn) {
        fprintf(stderr, "fir_fft_mag_tb: out of memory\n");
        return 1;
    }

    qv_hls_rng_seed(&rng, 0x5eed0007);
    for (unsigned n = 1; n <= FFM_MAX_N; n *= 2) {
        unsigned taps = taps_list[(n * 7u / 3u) % 4u]; /* vary taps across sizes */
        if (n == FFM_MAX_N)
            taps = FFM_MAX_TAPS;
        qv_hls_fill_f32(&rng, x, n);
        qv_hls_fill_f32(&rng, h, taps);

        /* The chain, one step after another. */
        qv_hls_fir_ref(x, h, y, n, taps);
        if (qv_hls_fft_ref(y, zero, re, im, n) != 0) {
            fprintf(stderr, "fft ref refused n=%u\n", n);
            fail = 1;
        }
        qv_hls_mag_ref(re, im, chain, n);

        /* Double-precision oracle and the error bound. */
        double l1 = 0.0;
        for (unsigned j = 0; j < n; j++) {
            double s = 0.0;
            for (unsigned k = 0; k < taps && k <= j; k++) {
                s += (double)h[k] * x[j - k];
                l1 += fabs((double)h[k] * x[j - k]);
            }
            yd[j] = s;
            cs[j] = cos(2.0 * 3.14159265358979323846 * j / n);
            sn[j] = sin(2.0 * 3.14159265358979323846 * j / n);
        }
        for (unsigned k = 0; k < n; k++) {
            double sr = 0.0, si = 0.0;
            for (unsigned j = 0; j < n; j++) {
                unsigned t = (unsigned)(((unsigned long long)j * k) % n);
                sr += yd[j] * cs[t];
                si -= yd[j] * sn[t];
            }
            oracle[k] = (float)sqrt(sr * sr + si * si);
        }
        unsigned log2n = 0;
        while ((1u << log2n) < n)
            log2n++;
        double bound = TOL * (log2n + 1) * l1 + 1e-30;

        for (unsigned k = 0; k < n; k++)
            got[k] = fused_ref[k] = -1e30f;
        fir_fft_mag(x, h, got, n, taps);
        if (qv_hls_fir_fft_mag_ref(x, h, fused_ref, n, taps) != 0) {
            fprintf(stderr, "fir_fft_mag ref refused n=%u\n", n);
            fail = 1;
        }
        char what[80];
        snprintf(what, sizeof what, "fir_fft_mag n=%u taps=%u chain vs double", n, taps);
        fail |= qv_hls_check_abs(what, chain, oracle, bound, n) != 0;
        snprintf(what, sizeof what, "fir_fft_mag n=%u taps=%u hls vs chain", n, taps);
        fail |= qv_hls_check_abs(what, got, chain, 0.0, n) != 0;
        snprintf(what, sizeof what, "fir_fft_mag n=%u taps=%u ref vs chain", n, taps);
        fail |= qv_hls_check_abs(what, fused_ref, chain, 0.0, n) != 0;
    }

    /* Out of the kernel's domain: output untouched; the reference refuses n. */
    {
        static const unsigned bad[][2] = {
            {0, 1}, {6, 1}, {FFM_MAX_N * 2, 1}, {8, FFM_MAX_TAPS + 1}};
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            got[0] = 7.0f;
            fir_fft_mag(x, h, got, bad[b][0], bad[b][1]);
            if (got[0] != 7.0f) {
                fprintf(stderr, "fir_fft_mag: n=%u taps=%u was not refused\n", bad[b][0],
                        bad[b][1]);
                fail = 1;
            }
        }
        if (qv_hls_fir_fft_mag_ref(x, h, got, 6, 1) == 0) {
            fprintf(stderr, "fir_fft_mag ref: n=6 was not refused\n");
            fail = 1;
        }
    }

    free(x), free(h), free(y), free(zero), free(re), free(im), free(chain), free(got);
    free(fused_ref), free(oracle), free(yd), free(cs), free(sn);
    puts(fail ? "fir_fft_mag csim: FAIL" : "fir_fft_mag csim: PASS");
    return fail;
}
