/*
 * Plain C reference of the conv2d kernel: a 2-D filter over a float image
 * with clamp-to-edge borders. The CPU implementation of the "conv2d"
 * function and the oracle for the HLS and OpenCL variants.
 */
#ifndef QV_HLS_CONV2D_REF_H
#define QV_HLS_CONV2D_REF_H

#include <stdint.h>

/*
 * out[y][x] = sum_{dy<K} sum_{dx<K} filt[dy][dx] * in[cy(y+dy-r)][cx(x+dx-r)]
 * with K = ksize, r = K/2, cy and cx clamping a row or column index to the
 * image (clamp-to-edge padding: the border pixel repeats). This is the
 * correlation form used by image and CNN filters; flip filt for a
 * mathematical convolution. Images are row-major, width x height floats
 * (index y*width + x); filt is K*K floats, row-major. The sum runs over dy
 * then dx in increasing order, which the other variants follow.
 * in, filt: read; out: width*height floats written, must not alias in.
 * Returns 0, or -EINVAL (nothing written) when ksize is even or 0. An empty
 * image (width or height 0) is valid and writes nothing.
 */
int qv_hls_conv2d_ref(const float *in, const float *filt, float *out, uint32_t width,
                      uint32_t height, uint32_t ksize);

#endif
