/*
 * conv2d: a K x K filter (K odd, <= CONV2D_MAX_K) over a float image with
 * clamp-to-edge borders, as a Vitis HLS kernel written in C. The arithmetic
 * is that of qv_hls_conv2d_ref, term for term.
 *
 * Each input row is burst-read once into a line buffer of CONV2D_MAX_K rows;
 * input row ry lives in slot ry % CONV2D_MAX_K, and since the rows one output
 * row needs, clamp(y-r) .. clamp(y+r), are at most K consecutive rows, their
 * slots never collide. The line buffer is partitioned by slot so one cycle
 * reads the same column from every slot; a K-row column is picked from those
 * by the per-row slot map (clamped rows simply map to the same slot) and
 * shifted into a window of registers. The column index is clamped as it is
 * read, so the window holds clamp(x-r) .. clamp(x+r) when output x is due:
 * W + 2r cycles per row at II=1, with K*K multipliers. Coefficients and
 * window are MAX_K x MAX_K; positions past K have zero coefficients, which
 * add nothing to the sum.
 */

/* Not clang-formatted: it would rewrite the HLS pragmas ("port=a" becomes
 * "port = a", long ones get split with backslashes) and Vitis wants them as
 * written. Lines are kept to the house style by hand. */
/* clang-format off */
#include "conv2d.h"

void conv2d(const float *in, const float *filt, float *out, unsigned int width,
            unsigned int height, unsigned int ksize)
{
#pragma HLS INTERFACE m_axi port=in bundle=gmem0 offset=slave depth=4194304 max_read_burst_length=256
#pragma HLS INTERFACE m_axi port=filt bundle=gmem1 offset=slave depth=49
#pragma HLS INTERFACE m_axi port=out bundle=gmem2 offset=slave depth=4194304 max_write_burst_length=256
#pragma HLS INTERFACE s_axilite port=in
#pragma HLS INTERFACE s_axilite port=filt
#pragma HLS INTERFACE s_axilite port=out
#pragma HLS INTERFACE s_axilite port=width
#pragma HLS INTERFACE s_axilite port=height
#pragma HLS INTERFACE s_axilite port=ksize
#pragma HLS INTERFACE s_axilite port=return

    float lb[CONV2D_MAX_K][CONV2D_MAX_W];
    float coef[CONV2D_MAX_K][CONV2D_MAX_K];
    float win[CONV2D_MAX_K][CONV2D_MAX_K];
    float obuf[CONV2D_MAX_W];
    unsigned int slot[CONV2D_MAX_K];
#pragma HLS ARRAY_PARTITION variable=lb complete dim=1
#pragma HLS ARRAY_PARTITION variable=coef complete dim=0
#pragma HLS ARRAY_PARTITION variable=win complete dim=0
#pragma HLS ARRAY_PARTITION variable=slot complete dim=1

    if (ksize == 0 || ksize % 2 == 0 || ksize > CONV2D_MAX_K || width > CONV2D_MAX_W)
        return;
    if (width == 0 || height == 0)
        return; /* nothing to write; also keeps width - 1 and height - 1 meaningful */
    unsigned int r = ksize / 2;

    for (unsigned int dy = 0; dy < CONV2D_MAX_K; dy++) {
        for (unsigned int dx = 0; dx < CONV2D_MAX_K; dx++) {
#pragma HLS PIPELINE II=1
            coef[dy][dx] = (dy < ksize && dx < ksize) ? filt[dy * ksize + dx] : 0.0f;
        }
    }

    unsigned int next = 0; /* next input row to bring into the line buffer */
    for (unsigned int y = 0; y < height; y++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=2048
        unsigned int hi = y + r < height ? y + r : height - 1;
        for (; next <= hi; next++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=4
            unsigned int s = next % CONV2D_MAX_K;
            for (unsigned int x = 0; x < width; x++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=2048
                lb[s][x] = in[next * width + x];
            }
        }

        for (unsigned int dy = 0; dy < CONV2D_MAX_K; dy++) {
#pragma HLS UNROLL
            unsigned int ry = y + dy < r ? 0 : y + dy - r;
            if (ry > height - 1)
                ry = height - 1;
            slot[dy] = ry % CONV2D_MAX_K; /* rows past K are never selected */
            for (unsigned int dx = 0; dx < CONV2D_MAX_K; dx++) {
#pragma HLS UNROLL
                win[dy][dx] = 0.0f;
            }
        }

        for (unsigned int t = 0; t < width + 2 * r; t++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=2054
            unsigned int c = t < r ? 0 : t - r;
            if (c > width - 1)
                c = width - 1;
            float bank[CONV2D_MAX_K];
#pragma HLS ARRAY_PARTITION variable=bank complete dim=1
            for (unsigned int s = 0; s < CONV2D_MAX_K; s++) {
#pragma HLS UNROLL
                bank[s] = lb[s][c];
            }
            for (unsigned int dy = 0; dy < CONV2D_MAX_K; dy++) {
#pragma HLS UNROLL
                float v = dy < ksize ? bank[slot[dy]] : 0.0f;
                for (unsigned int dx = 0; dx < CONV2D_MAX_K; dx++) {
#pragma HLS UNROLL
                    if (dx == ksize - 1)
                        win[dy][dx] = v;
                    else if (dx + 1 < CONV2D_MAX_K)
                        win[dy][dx] = win[dy][dx + 1];
                }
            }
            if (t >= 2 * r) {
                float acc = 0.0f;
                for (unsigned int dy = 0; dy < CONV2D_MAX_K; dy++) {
#pragma HLS UNROLL
                    for (unsigned int dx = 0; dx < CONV2D_MAX_K; dx++) {
#pragma HLS UNROLL
                        acc += coef[dy][dx] * win[dy][dx];
                    }
                }
                obuf[t - 2 * r] = acc;
            }
        }

        for (unsigned int x = 0; x < width; x++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=2048
            out[y * width + x] = obuf[x];
        }
    }
}
