/*
 * C-simulation testbench of the vadd kernel (what Vitis HLS runs as csim, and
 * a ctest here): random inputs of several sizes, including ones that are not
 * a multiple of the burst chunk, the HLS kernel against the reference.
 * Tolerance: exact. A float add is correctly rounded in IEEE 754, so every
 * implementation must give the same bits. The reference itself is checked
 * against a double-precision sum rounded once to float (the same value).
 * Returns 0 on pass, 1 on fail.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../common/qv_hls_tb.h"
#include "vadd.h"
#include "vadd_ref.h"

int main(void)
{
    static const unsigned sizes[] = {
        0, 1, 7, VADD_CHUNK - 1, VADD_CHUNK, VADD_CHUNK + 1, 5000, 65536 + 3};
    qv_hls_rng rng;
    int fail = 0;

    qv_hls_rng_seed(&rng, 0x5eed0001);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        unsigned n = sizes[s];
        size_t alloc = n ? n : 1;
        float *a = malloc(alloc * sizeof *a), *b = malloc(alloc * sizeof *b);
        float *got = malloc(alloc * sizeof *got), *want = malloc(alloc * sizeof *want);
        float *oracle = malloc(alloc * sizeof *oracle);
        if (!a || !b || !got || !want || !oracle) {
            fprintf(stderr, "vadd_tb: out of memory\n");
            return 1;
        }
        qv_hls_fill_f32(&rng, a, n);
        qv_hls_fill_f32(&rng, b, n);
        for (unsigned i = 0; i < n; i++) {
            oracle[i] = (float)((double)a[i] + (double)b[i]);
            got[i] = -1e30f; /* so an unwritten element shows */
        }
        vadd(a, b, got, n);
        qv_hls_vadd_ref(a, b, want, n);
        char what[64];
        snprintf(what, sizeof what, "vadd n=%u ref", n);
        fail |= qv_hls_check_abs(what, want, oracle, 0.0, n) != 0;
        snprintf(what, sizeof what, "vadd n=%u hls", n);
        fail |= qv_hls_check_abs(what, got, want, 0.0, n) != 0;
        free(a), free(b), free(got), free(want), free(oracle);
    }
    puts(fail ? "vadd csim: FAIL" : "vadd csim: PASS");
    return fail;
}
