/*
 * Reference radix-2 FFT (see fft_ref.h): bit-reversal permutation, then
 * log2(n) stages of butterflies in place. Written for clarity, and with the
 * butterfly arithmetic in the same order as the HLS kernel so the two agree
 * to the bit when both are compiled for the host.
 */
#include "fft_ref.h"

#include <errno.h>
#include <math.h>

static uint32_t bit_reverse(uint32_t v, unsigned bits)
{
    uint32_t r = 0;
    for (unsigned b = 0; b < bits; b++)
        r |= ((v >> b) & 1u) << (bits - 1 - b);
    return r;
}

int qv_hls_fft_ref(const float *in_re, const float *in_im, float *out_re, float *out_im,
                   uint32_t n)
{
    if (n == 0 || (n & (n - 1)) != 0)
        return -EINVAL;
    unsigned log2n = 0;
    while ((1u << log2n) < n)
        log2n++;

    if (out_re != in_re || out_im != in_im) {
        for (uint32_t i = 0; i < n; i++) {
            out_re[i] = in_re[i];
            out_im[i] = in_im[i];
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j = bit_reverse(i, log2n);
        if (j > i) {
            float t = out_re[i];
            out_re[i] = out_re[j];
            out_re[j] = t;
            t = out_im[i];
            out_im[i] = out_im[j];
            out_im[j] = t;
        }
    }

    for (unsigned s = 0; s < log2n; s++) {
        uint32_t h = 1u << s; /* half the butterfly span */
        for (uint32_t p = 0; p < h; p++) {
            uint32_t k = p << (log2n - 1 - s); /* twiddle index in units of 2*pi/n */
            double ang = 6.283185307179586 * (double)k / (double)n;
            float wr = (float)cos(ang), wi = -(float)sin(ang);
            for (uint32_t a = p; a < n; a += 2 * h) {
                uint32_t b = a + h;
                float tr = wr * out_re[b] - wi * out_im[b];
                float ti = wr * out_im[b] + wi * out_re[b];
                float ar = out_re[a], ai = out_im[a];
                out_re[a] = ar + tr;
                out_im[a] = ai + ti;
                out_re[b] = ar - tr;
                out_im[b] = ai - ti;
            }
        }
    }
    return 0;
}
