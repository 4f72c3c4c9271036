/*
 * Reference of the fused fir_fft_mag kernel (see fir_fft_mag_ref.h): the
 * chain itself, built from the fir and fft references rather than a second
 * copy of their loops, so it cannot drift from the unfused functions.
 */
#include "fir_fft_mag_ref.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "../fft/fft_ref.h"
#include "../fir/fir_ref.h"

void qv_hls_mag_ref(const float *re, const float *im, float *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        out[i] = sqrtf(re[i] * re[i] + im[i] * im[i]);
}

int qv_hls_fir_fft_mag_ref(const float *x, const float *h, float *mag, uint32_t n,
                           uint32_t taps)
{
    if (n == 0 || (n & (n - 1)) != 0)
        return -EINVAL;
    float *re = malloc(n * sizeof *re);
    float *im = calloc(n, sizeof *im); /* the FFT input's imaginary part: zero */
    if (!re || !im) {
        free(re);
        free(im);
        return -ENOMEM;
    }
    qv_hls_fir_ref(x, h, re, n, taps);
    int rc = qv_hls_fft_ref(re, im, re, im, n); /* in place, n already checked */
    if (rc == 0)
        qv_hls_mag_ref(re, im, mag, n);
    free(re);
    free(im);
    return rc;
}
