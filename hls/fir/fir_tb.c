/*
 * C-simulation testbench of the fir kernel: random signals and filters of
 * several sizes (tap counts from 1 to FIR_MAX_TAPS, lengths shorter and
 * longer than the filter and than a burst chunk), the HLS kernel against the
 * reference, and the reference against a double-precision direct sum.
 * Tolerance, per output: |got - want| <= 1e-5 * sum_k |h[k] * x[i-k]|, the
 * usual bound for a float dot product of up to 128 terms (128 * 2^-24 < 1e-5).
 * Returns 0 on pass, 1 on fail.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/qv_hls_tb.h"
#include "fir.h"
#include "fir_ref.h"

#define TOL 1e-5

int main(void)
{
    static const unsigned cases[][2] = {
        {1, 1},     {16, 1},    {16, 5},     {100, 31},
        {127, 128}, {1000, 64}, {3000, 128}, {FIR_CHUNK + 7, 17}};
    qv_hls_rng rng;
    int fail = 0;

    qv_hls_rng_seed(&rng, 0x5eed0002);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned n = cases[c][0], taps = cases[c][1];
        float *x = malloc(n * sizeof *x), *h = malloc(taps * sizeof *h);
        float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
        float *oracle = malloc(n * sizeof *oracle);
        double *bound = malloc(n * sizeof *bound);
        if (!x || !h || !got || !want || !oracle || !bound) {
            fprintf(stderr, "fir_tb: out of memory\n");
            return 1;
        }
        qv_hls_fill_f32(&rng, x, n);
        qv_hls_fill_f32(&rng, h, taps);
        for (unsigned i = 0; i < n; i++) {
            double sum = 0.0, mag = 0.0;
            for (unsigned k = 0; k < taps && k <= i; k++) {
                sum += (double)h[k] * x[i - k];
                mag += fabs((double)h[k] * x[i - k]);
            }
            oracle[i] = (float)sum;
            bound[i] = TOL * mag + 1e-30;
            got[i] = -1e30f;
        }
        fir(x, h, got, n, taps);
        qv_hls_fir_ref(x, h, want, n, taps);
        char what[64];
        snprintf(what, sizeof what, "fir n=%u taps=%u ref", n, taps);
        fail |= qv_hls_check_bound(what, want, oracle, bound, n) != 0;
        snprintf(what, sizeof what, "fir n=%u taps=%u hls", n, taps);
        fail |= qv_hls_check_bound(what, got, want, bound, n) != 0;
        free(x), free(h), free(got), free(want), free(oracle), free(bound);
    }

    /* An infinite sample: the outputs within `taps` of it are what the
     * reference's are (infinite or NaN), the later ones finite as there:
     * the unused taps add nothing, where 0 * inf would be NaN. */
    {
        enum { N = 200, TAPS = 5, AT = 10 };
        float x[N], h[TAPS], got[N], want[N];
        qv_hls_fill_f32(&rng, x, N);
        qv_hls_fill_f32(&rng, h, TAPS);
        x[AT] = INFINITY;
        fir(x, h, got, N, TAPS);
        qv_hls_fir_ref(x, h, want, N, TAPS);
        for (int i = 0; i < N; i++)
            if (!(got[i] == want[i] || (isnan(got[i]) && isnan(want[i])))) {
                fprintf(stderr, "fir: an infinite sample at %d: y[%d] = %g, the "
                        "reference's %g\n", AT, i, got[i], want[i]);
                fail = 1;
                break;
            }
    }

    /* Too many taps: the kernel must leave the output alone. */
    {
        float x[4] = {1, 2, 3, 4}, h[FIR_MAX_TAPS + 1] = {0}, y[4] = {7, 7, 7, 7};
        fir(x, h, y, 4, FIR_MAX_TAPS + 1);
        for (int i = 0; i < 4; i++)
            if (y[i] != 7.0f) {
                fprintf(stderr, "fir: taps > FIR_MAX_TAPS wrote the output\n");
                fail = 1;
                break;
            }
    }
    puts(fail ? "fir csim: FAIL" : "fir csim: PASS");
    return fail;
}
