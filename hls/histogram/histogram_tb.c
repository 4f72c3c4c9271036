/*
 * C-simulation testbench of the histogram kernel: uniform random values,
 * values confined to a few bins, alternating bins (A B A B, the pattern that
 * defeats a naive pipelined update), sorted runs and a constant input, for
 * several bin counts up to HISTOGRAM_MAX_BINS. The HLS kernel is compared with
 * the reference, and the reference with counts computed by a different route
 * (the bin taken in double precision, exact for these magnitudes) plus the
 * check that the counts add up to n.
 * Tolerance: exact (integer counts). Returns 0 on pass, 1 on fail.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/qv_hls_tb.h"
#include "histogram.h"
#include "histogram_ref.h"

enum { UNIFORM, FEW, ALTERNATE, SORTED, CONSTANT, NPATTERNS };

static void make_data(qv_hls_rng *rng, uint32_t *d, unsigned n, int pattern)
{
    for (unsigned i = 0; i < n; i++) {
        switch (pattern) {
        case UNIFORM:
            d[i] = qv_hls_rng_u32(rng);
            break;
        case FEW:
            d[i] = qv_hls_rng_u32(rng) % 3u * 0x40000000u + (qv_hls_rng_u32(rng) & 0xffu);
            break;
        case ALTERNATE:
            d[i] = (i & 1u) ? 0xffffffffu : (i % 5u) * 0x1000u;
            break;
        case SORTED:
            d[i] = (uint32_t)(((uint64_t)i << 32) / n);
            break;
        default:
            d[i] = 0x80000000u;
            break;
        }
    }
}

int main(void)
{
    static const unsigned sizes[] = {0, 1, 2, 1000, 100003};
    static const unsigned nbins_list[] = {1, 7, 256, 1000, HISTOGRAM_MAX_BINS};
    qv_hls_rng rng;
    int fail = 0;
    uint32_t *d = malloc(100003 * sizeof *d);
    uint32_t *got = malloc(HISTOGRAM_MAX_BINS * sizeof *got);
    uint32_t *want = malloc(HISTOGRAM_MAX_BINS * sizeof *want);
    uint32_t *oracle = malloc(HISTOGRAM_MAX_BINS * sizeof *oracle);
    if (!d || !got || !want || !oracle) {
        fprintf(stderr, "histogram_tb: out of memory\n");
        return 1;
    }

    qv_hls_rng_seed(&rng, 0x5eed0006);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t b = 0; b < sizeof nbins_list / sizeof nbins_list[0]; b++)
            for (int pat = 0; pat < NPATTERNS; pat++) {
                unsigned n = sizes[s], nbins = nbins_list[b];
                make_data(&rng, d, n, pat);
                memset(oracle, 0, nbins * sizeof *oracle);
                for (unsigned i = 0; i < n; i++)
                    oracle[(uint32_t)floor((double)d[i] * nbins / 4294967296.0)]++;
                for (unsigned i = 0; i < nbins; i++)
                    got[i] = 0xdeadbeefu;
                histogram(d, got, n, nbins);
                if (qv_hls_histogram_ref(d, want, n, nbins) != 0) {
                    fprintf(stderr, "histogram ref refused nbins=%u\n", nbins);
                    fail = 1;
                }
                uint64_t total = 0;
                for (unsigned i = 0; i < nbins; i++)
                    total += want[i];
                if (total != n) {
                    fprintf(stderr, "histogram ref: counts add up to %llu, not %u\n",
                            (unsigned long long)total, n);
                    fail = 1;
                }
                char what[80];
                snprintf(what, sizeof what, "histogram n=%u nbins=%u pattern=%d ref", n,
                         nbins, pat);
                fail |= qv_hls_check_u32(what, want, oracle, nbins) != 0;
                snprintf(what, sizeof what, "histogram n=%u nbins=%u pattern=%d hls", n,
                         nbins, pat);
                fail |= qv_hls_check_u32(what, got, want, nbins) != 0;
            }

    /* The README's recipe for values that already are bin numbers: scaled by
     * ceil(2^32 / nbins), value v must land in bin v. */
    for (size_t b = 0; b < sizeof nbins_list / sizeof nbins_list[0]; b++) {
        unsigned nbins = nbins_list[b];
        uint32_t scale = (uint32_t)((((uint64_t)1 << 32) + nbins - 1) / nbins);
        for (unsigned i = 0; i < 3 * nbins; i++)
            d[i] = (i % nbins) * scale;
        histogram(d, got, 3 * nbins, nbins);
        for (unsigned i = 0; i < nbins; i++)
            if (got[i] != 3) {
                fprintf(stderr,
                        "histogram: scaled bin number %u counted %u times, not 3\n", i,
                        (unsigned)got[i]);
                fail = 1;
                break;
            }
    }

    /* nbins out of the kernel's range: bins untouched; the reference refuses 0. */
    got[0] = 7;
    histogram(d, got, 10, 0);
    histogram(d, got, 10, HISTOGRAM_MAX_BINS + 1);
    if (got[0] != 7 || qv_hls_histogram_ref(d, got, 10, 0) == 0) {
        fprintf(stderr, "histogram: nbins out of range was not refused\n");
        fail = 1;
    }
    free(d), free(got), free(want), free(oracle);
    puts(fail ? "histogram csim: FAIL" : "histogram csim: PASS");
    return fail;
}
