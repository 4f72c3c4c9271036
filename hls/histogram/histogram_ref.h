/*
 * Plain C reference of the histogram kernel: counts of 32-bit unsigned
 * values in nbins equal-width bins spanning the whole uint32 range. The CPU
 * implementation of the "histogram" function and the oracle for the HLS and
 * OpenCL variants.
 */
#ifndef QV_HLS_HISTOGRAM_REF_H
#define QV_HLS_HISTOGRAM_REF_H

#include <stdint.h>

/*
 * Value v falls in bin floor(v * nbins / 2^32), so bin b covers
 * [ceil(b * 2^32 / nbins), ceil((b+1) * 2^32 / nbins)); with nbins = 256 that
 * is the top byte of v. Values that already are bin numbers (v < nbins)
 * land in bin v once multiplied by ceil(2^32 / nbins) (for nbins < 65536).
 * bins[b] = number of i < n whose data[i] falls in bin b; the counts
 * overwrite bins (no accumulation).
 * data: n uint32 read; bins: nbins uint32 written. Returns 0, or -EINVAL
 * (nothing written) when nbins is 0. No upper limit on nbins here; the HLS
 * kernel stops at HISTOGRAM_MAX_BINS.
 */
int qv_hls_histogram_ref(const uint32_t *data, uint32_t *bins, uint32_t n,
                         uint32_t nbins);

#endif
