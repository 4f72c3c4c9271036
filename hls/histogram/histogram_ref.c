/*
 * Reference histogram (see histogram_ref.h): clear, then one increment per
 * value. The bin mapping is a 32x32->64-bit multiply and a shift, exact in
 * integers, so every variant must give the same counts.
 */
#include "histogram_ref.h"

#include <errno.h>

int qv_hls_histogram_ref(const uint32_t *data, uint32_t *bins, uint32_t n, uint32_t nbins)
{
    if (nbins == 0)
        return -EINVAL;
    for (uint32_t b = 0; b < nbins; b++)
        bins[b] = 0;
    for (uint32_t i = 0; i < n; i++)
        bins[(uint32_t)(((uint64_t)data[i] * nbins) >> 32)]++;
    return 0;
}
