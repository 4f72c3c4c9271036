/*
 * C-simulation testbench of the fft kernel: random complex inputs for every
 * power of two from 1 to FFT_MAX_N, the HLS kernel against the reference and
 * the reference against a direct DFT computed in double precision. Also: a
 * unit impulse and a pure tone (known closed forms), an in-place reference
 * call, and sizes the kernel must refuse.
 * Tolerance, per output: |got - want| <= 1e-6 * (log2(n) + 1) * sum_j |in[j]|
 * (complex modulus), i.e. float rounding of about 2^-23 growing once per
 * stage, applied to the largest value an output can take.
 * Returns 0 on pass, 1 on fail.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/qv_hls_tb.h"
#include "fft.h"
#include "fft_ref.h"

#define TOL 1e-6

static double fft_bound(const float *re, const float *im, unsigned n)
{
    unsigned log2n = 0;
    while ((1u << log2n) < n)
        log2n++;
    double l1 = 0.0;
    for (unsigned j = 0; j < n; j++)
        l1 += hypot(re[j], im[j]);
    return TOL * (log2n + 1) * l1 + 1e-30;
}

static int check_pair(const char *what, unsigned n, const float *gr, const float *gi,
                      const float *wr, const float *wi, double bound)
{
    char w[80];
    snprintf(w, sizeof w, "%s n=%u re", what, n);
    size_t bad = qv_hls_check_abs(w, gr, wr, bound, n);
    snprintf(w, sizeof w, "%s n=%u im", what, n);
    bad += qv_hls_check_abs(w, gi, wi, bound, n);
    return bad != 0;
}

int main(void)
{
    qv_hls_rng rng;
    int fail = 0;
    size_t max = FFT_MAX_N;
    float *xr = malloc(max * sizeof(float)), *xi = malloc(max * sizeof(float));
    float *gr = malloc(max * sizeof(float)), *gi = malloc(max * sizeof(float));
    float *wr = malloc(max * sizeof(float)), *wi = malloc(max * sizeof(float));
    float *dr = malloc(max * sizeof(float)), *di = malloc(max * sizeof(float));
    double *cs = malloc(max * sizeof(double)), *sn = malloc(max * sizeof(double));
    if (!xr || !xi || !gr || !gi || !wr || !wi || !dr || !di || !cs || !sn) {
        fprintf(stderr, "fft_tb: out of memory\n");
        return 1;
    }

    qv_hls_rng_seed(&rng, 0x5eed0003);
    for (unsigned n = 1; n <= FFT_MAX_N; n *= 2) {
        qv_hls_fill_f32(&rng, xr, n);
        qv_hls_fill_f32(&rng, xi, n);
        for (unsigned j = 0; j < n; j++) {
            cs[j] = cos(2.0 * 3.14159265358979323846 * j / n);
            sn[j] = sin(2.0 * 3.14159265358979323846 * j / n);
        }
        for (unsigned k = 0; k < n; k++) { /* direct DFT, exact twiddles */
            double sr = 0.0, si = 0.0;
            for (unsigned j = 0; j < n; j++) {
                unsigned t = (unsigned)(((unsigned long long)j * k) % n);
                sr += xr[j] * cs[t] + xi[j] * sn[t];
                si += xi[j] * cs[t] - xr[j] * sn[t];
            }
            dr[k] = (float)sr;
            di[k] = (float)si;
        }
        double bound = fft_bound(xr, xi, n);
        for (unsigned k = 0; k < n; k++)
            gr[k] = gi[k] = -1e30f;
        fft(xr, xi, gr, gi, n);
        if (qv_hls_fft_ref(xr, xi, wr, wi, n) != 0) {
            fprintf(stderr, "fft ref refused n=%u\n", n);
            fail = 1;
        }
        fail |= check_pair("fft ref vs dft", n, wr, wi, dr, di, bound);
        fail |= check_pair("fft hls vs ref", n, gr, gi, wr, wi, bound);

        /* In place: the reference with out == in gives the same values. */
        memcpy(gr, xr, n * sizeof(float));
        memcpy(gi, xi, n * sizeof(float));
        qv_hls_fft_ref(gr, gi, gr, gi, n);
        fail |= check_pair("fft ref in place", n, gr, gi, wr, wi, 0.0);
    }

    /* Closed forms: an impulse at 0 transforms to all ones; a tone of
     * frequency 3 to n at bin 3 and zero elsewhere. */
    {
        unsigned n = 256;
        memset(xr, 0, n * sizeof(float));
        memset(xi, 0, n * sizeof(float));
        xr[0] = 1.0f;
        fft(xr, xi, gr, gi, n);
        for (unsigned k = 0; k < n; k++) {
            wr[k] = 1.0f;
            wi[k] = 0.0f;
        }
        fail |= check_pair("fft impulse", n, gr, gi, wr, wi, 1e-6);
        for (unsigned j = 0; j < n; j++) {
            xr[j] = (float)cos(2.0 * 3.14159265358979323846 * 3 * j / n);
            xi[j] = (float)sin(2.0 * 3.14159265358979323846 * 3 * j / n);
            wr[j] = wi[j] = 0.0f;
        }
        wr[3] = (float)n;
        fft(xr, xi, gr, gi, n);
        fail |= check_pair("fft tone", n, gr, gi, wr, wi, 1e-6 * 9 * n);
    }

    /* Sizes outside the kernel's domain leave the output alone. */
    {
        static const unsigned badn[] = {0, 3, 12, FFT_MAX_N * 2};
        for (size_t b = 0; b < sizeof badn / sizeof badn[0]; b++) {
            gr[0] = 7.0f;
            fft(xr, xi, gr, gi, badn[b]);
            if (gr[0] != 7.0f) {
                fprintf(stderr, "fft: n=%u was not refused\n", badn[b]);
                fail = 1;
            }
            if (badn[b] != FFT_MAX_N * 2 &&
                qv_hls_fft_ref(xr, xi, gr, gi, badn[b]) == 0) {
                fprintf(stderr, "fft ref: n=%u was not refused\n", badn[b]);
                fail = 1;
            }
        }
    }

    free(xr), free(xi), free(gr), free(gi), free(wr), free(wi), free(dr), free(di);
    free(cs), free(sn);
    puts(fail ? "fft csim: FAIL" : "fft csim: PASS");
    return fail;
}
