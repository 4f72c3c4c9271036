/*
 * C-simulation testbench of the conv2d kernel: random images and filters of
 * every supported filter size (1, 3, 5, 7) on images smaller than the
 * filter, thin (one row, one column), odd-sized and full line-buffer width,
 * the HLS kernel against the reference and the reference against a
 * double-precision sum with its own clamp-to-edge indexing.
 * Tolerance, per pixel: |got - want| <= 1e-5 * sum |filt * in| over the
 * K*K terms of that pixel (float dot product of at most 49 terms).
 * Returns 0 on pass, 1 on fail.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/qv_hls_tb.h"
#include "conv2d.h"
#include "conv2d_ref.h"

#define TOL 1e-5

static long clampl(long v, long len)
{
    return v < 0 ? 0 : v >= len ? len - 1 : v;
}

int main(void)
{
    static const unsigned cases[][3] = {{1, 1, 1},   {1, 1, 7},  {5, 3, 3},
                                        {3, 5, 5},   {17, 9, 5}, {64, 48, 7},
                                        {100, 1, 3}, {1, 50, 5}, {CONV2D_MAX_W, 4, 3},
                                        {31, 29, 1}};
    qv_hls_rng rng;
    int fail = 0;

    qv_hls_rng_seed(&rng, 0x5eed0005);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned w = cases[c][0], h = cases[c][1], k = cases[c][2];
        size_t np = (size_t)w * h;
        long r = k / 2;
        float *in = malloc(np * sizeof *in), *f = malloc((size_t)k * k * sizeof *f);
        float *got = malloc(np * sizeof *got), *want = malloc(np * sizeof *want);
        float *oracle = malloc(np * sizeof *oracle);
        double *bound = malloc(np * sizeof *bound);
        if (!in || !f || !got || !want || !oracle || !bound) {
            fprintf(stderr, "conv2d_tb: out of memory\n");
            return 1;
        }
        qv_hls_fill_f32(&rng, in, np);
        qv_hls_fill_f32(&rng, f, (size_t)k * k);
        for (long y = 0; y < (long)h; y++)
            for (long x = 0; x < (long)w; x++) {
                double sum = 0.0, mag = 0.0;
                for (long dy = -r; dy <= r; dy++)
                    for (long dx = -r; dx <= r; dx++) {
                        double t = (double)f[(dy + r) * k + dx + r] *
                                   in[clampl(y + dy, h) * w + clampl(x + dx, w)];
                        sum += t;
                        mag += fabs(t);
                    }
                oracle[y * w + x] = (float)sum;
                bound[y * w + x] = TOL * mag + 1e-30;
                got[y * w + x] = -1e30f;
            }
        conv2d(in, f, got, w, h, k);
        if (qv_hls_conv2d_ref(in, f, want, w, h, k) != 0) {
            fprintf(stderr, "conv2d ref refused %ux%u k=%u\n", w, h, k);
            fail = 1;
        }
        char what[80];
        snprintf(what, sizeof what, "conv2d %ux%u k=%u ref", w, h, k);
        fail |= qv_hls_check_bound(what, want, oracle, bound, np) != 0;
        snprintf(what, sizeof what, "conv2d %ux%u k=%u hls", w, h, k);
        fail |= qv_hls_check_bound(what, got, want, bound, np) != 0;
        free(in), free(f), free(got), free(want), free(oracle), free(bound);
    }

    /* Filters the kernel cannot take, and a row too wide: output untouched. */
    {
        static const unsigned bad[][2] = {{4, 0}, {2, 2}, {4, 9}, {CONV2D_MAX_W + 1, 3}};
        static float in[CONV2D_MAX_W + 1], f[81], out[CONV2D_MAX_W + 1];
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            out[0] = 7.0f;
            conv2d(in, f, out, bad[b][0], 1, bad[b][1]);
            if (out[0] != 7.0f) {
                fprintf(stderr, "conv2d: width=%u ksize=%u was not refused\n", bad[b][0],
                        bad[b][1]);
                fail = 1;
            }
        }
        if (qv_hls_conv2d_ref(in, f, out, 4, 1, 2) == 0 ||
            qv_hls_conv2d_ref(in, f, out, 4, 1, 0) == 0) {
            fprintf(stderr, "conv2d ref: an even ksize was not refused\n");
            fail = 1;
        }
    }
    puts(fail ? "conv2d csim: FAIL" : "conv2d csim: PASS");
    return fail;
}
