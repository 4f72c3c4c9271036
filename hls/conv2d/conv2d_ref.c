/*
 * Reference 2-D filter (see conv2d_ref.h): four nested loops with explicit
 * clamping, the plainest statement of the border rule the HLS line-buffer
 * design must reproduce.
 */
#include "conv2d_ref.h"

#include <errno.h>
#include <stddef.h>

static uint32_t clamp_index(int64_t v, uint32_t len)
{
    if (v < 0)
        return 0;
    if (v >= (int64_t)len)
        return len - 1;
    return (uint32_t)v;
}

int qv_hls_conv2d_ref(const float *in, const float *filt, float *out, uint32_t width,
                      uint32_t height, uint32_t ksize)
{
    if (ksize == 0 || ksize % 2 == 0)
        return -EINVAL;
    int64_t r = ksize / 2;
    for (uint32_t y = 0; y < height; y++) {
        for (uint32_t x = 0; x < width; x++) {
            float acc = 0.0f;
            for (uint32_t dy = 0; dy < ksize; dy++) {
                uint32_t sy = clamp_index((int64_t)y + dy - r, height);
                for (uint32_t dx = 0; dx < ksize; dx++) {
                    uint32_t sx = clamp_index((int64_t)x + dx - r, width);
                    acc += filt[dy * ksize + dx] * in[(size_t)sy * width + sx];
                }
            }
            out[(size_t)y * width + x] = acc;
        }
    }
    return 0;
}
