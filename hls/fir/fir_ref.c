/*
 * Reference FIR filter (see fir_ref.h): the direct form, summed in
 * increasing tap order so the HLS kernel, which unrolls the same sum, can
 * give the same bits.
 */
#include "fir_ref.h"

void qv_hls_fir_ref(const float *x, const float *h, float *y, uint32_t n, uint32_t taps)
{
    for (uint32_t i = 0; i < n; i++) {
        float acc = 0.0f;
        uint32_t kmax =
            taps <= i ? taps : i + 1; /* taps past the first sample see zeros */
        for (uint32_t k = 0; k < kmax; k++)
            acc += h[k] * x[i - k];
        y[i] = acc;
    }
}
