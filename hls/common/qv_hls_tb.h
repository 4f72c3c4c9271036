/*
 * Helpers shared by the HLS kernel testbenches and the OpenCL check: a small
 * deterministic random generator (so a failing size can be replayed) and the
 * error-bound comparisons each kernel's README states. Header-only and
 * static, because Vitis HLS compiles each testbench with only its own folder
 * and this one on the include path.
 */
#ifndef QV_HLS_TB_H
#define QV_HLS_TB_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

/* xorshift64*: fixed seeds give the same inputs on every machine. */
typedef struct {
    uint64_t s;
} qv_hls_rng;

static inline void qv_hls_rng_seed(qv_hls_rng *r, uint64_t seed)
{
    r->s = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static inline uint32_t qv_hls_rng_u32(qv_hls_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 0x2545f4914f6cdd1dull) >> 32);
}

/* Uniform in [-1, 1), with 24 random bits so every value is an exact float. */
static inline float qv_hls_rng_f32(qv_hls_rng *r)
{
    return (float)((int32_t)(qv_hls_rng_u32(r) >> 8) - (1 << 23)) / (float)(1 << 23);
}

static inline void qv_hls_fill_f32(qv_hls_rng *r, float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = qv_hls_rng_f32(r);
}

/*
 * Checks |got[i] - want[i]| <= bound[i] for every i and prints the first
 * failure. The bound is per element because the float kernels' errors grow
 * with the magnitude of the terms summed into each output (see the READMEs).
 * Returns the number of elements out of bound.
 */
static inline size_t qv_hls_check_bound(const char *what, const float *got,
                                        const float *want, const double *bound, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= bound[i])) { /* also catches NaN */
            if (bad == 0)
                fprintf(stderr,
                        "%s: element %zu: got %.9g want %.9g (|diff| %.3g > %.3g)\n",
                        what, i, (double)got[i], (double)want[i], d, bound[i]);
            bad++;
        }
    }
    if (bad)
        fprintf(stderr, "%s: %zu of %zu elements out of bound\n", what, bad, n);
    return bad;
}

/* Same, one bound for all elements. */
static inline size_t qv_hls_check_abs(const char *what, const float *got,
                                      const float *want, double bound, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= bound)) {
            if (bad == 0)
                fprintf(stderr,
                        "%s: element %zu: got %.9g want %.9g (|diff| %.3g > %.3g)\n",
                        what, i, (double)got[i], (double)want[i], d, bound);
            bad++;
        }
    }
    if (bad)
        fprintf(stderr, "%s: %zu of %zu elements out of bound\n", what, bad, n);
    return bad;
}

/* Exact comparison for the integer kernels. */
static inline size_t qv_hls_check_u32(const char *what, const uint32_t *got,
                                      const uint32_t *want, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            if (bad == 0)
                fprintf(stderr, "%s: element %zu: got %u want %u\n", what, i,
                        (unsigned)got[i], (unsigned)want[i]);
            bad++;
        }
    }
    if (bad)
        fprintf(stderr, "%s: %zu of %zu elements differ\n", what, bad, n);
    return bad;
}

#endif
