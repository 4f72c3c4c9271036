/*
 * vadd: out[i] = a[i] + b[i], as a Vitis HLS kernel written in C.
 *
 * The vector is processed in chunks of VADD_CHUNK elements. Each chunk is
 * read with two bursts (a and b sit on separate AXI bundles, so both bursts
 * run in the same pipelined loop), added on the fly into a local buffer, and
 * written back with one burst from a second pipelined loop. Explicit local
 * buffers keep every AXI access a long sequential burst regardless of how
 * the tool analyses the pointers.
 *
 * Compiled with gcc (-Wno-unknown-pragmas) the same source is the emulated
 * kernel, and must match qv_hls_vadd_ref exactly.
 */

/* Not clang-formatted: it would rewrite the HLS pragmas ("port=a" becomes
 * "port = a", long ones get split with backslashes) and Vitis wants them as
 * written. Lines are kept to the house style by hand. */
/* clang-format off */
#include "vadd.h"

void vadd(const float *a, const float *b, float *out, unsigned int n)
{
#pragma HLS INTERFACE m_axi port=a bundle=gmem0 offset=slave depth=1048576 max_read_burst_length=256
#pragma HLS INTERFACE m_axi port=b bundle=gmem1 offset=slave depth=1048576 max_read_burst_length=256
#pragma HLS INTERFACE m_axi port=out bundle=gmem2 offset=slave depth=1048576 max_write_burst_length=256
#pragma HLS INTERFACE s_axilite port=a
#pragma HLS INTERFACE s_axilite port=b
#pragma HLS INTERFACE s_axilite port=out
#pragma HLS INTERFACE s_axilite port=n
#pragma HLS INTERFACE s_axilite port=return

    float obuf[VADD_CHUNK];

    /* Counting chunks rather than stepping base keeps n near 2^32 from wrapping. */
    unsigned int nchunks = n / VADD_CHUNK + (n % VADD_CHUNK != 0);
    for (unsigned int c = 0; c < nchunks; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
        unsigned int base = c * VADD_CHUNK;
        unsigned int len = n - base < VADD_CHUNK ? n - base : VADD_CHUNK;
        /* A chunk's own pointers: indexes that cannot wrap, so that the
         * emulation's compiler vectorizes both loops (a[base + i] in 32
         * bits may wrap, and kept them scalar: 3x slower). */
        const float *ca = a + base;
        const float *cb = b + base;
        float *co = out + base;

        /* Both input bursts and the add share one loop: one element per cycle. */
        for (unsigned int i = 0; i < len; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
            float x = ca[i];
            float y = cb[i];
            obuf[i] = x + y;
        }
        for (unsigned int i = 0; i < len; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
            co[i] = obuf[i];
        }
    }
}
