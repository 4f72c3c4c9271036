/*
 * conv2d, OpenCL C 1.2 variant: K x K filter, clamp-to-edge borders, K odd
 * (no upper limit here; the HLS kernel stops at 7).
 * Work split: one work-item per output pixel on a 2-D range, dimension 0 the
 * column x (global size >= width) and dimension 1 the row y (global size >=
 * height); extra items from rounding up do nothing. An even ksize writes
 * nothing, like the HLS kernel. The sum runs over dy then dx, as in the
 * reference.
 */
__kernel void conv2d(__global const float *in, __global const float *filt,
                     __global float *out, const uint width, const uint height, const uint ksize)
{
    size_t x = get_global_id(0);
    size_t y = get_global_id(1);
    if (x >= width || y >= height || (ksize & 1u) == 0)
        return;
    int r = (int)(ksize / 2);
    float acc = 0.0f;
    for (int dy = 0; dy < (int)ksize; dy++) {
        int sy = clamp((int)y + dy - r, 0, (int)height - 1);
        for (int dx = 0; dx < (int)ksize; dx++) {
            int sx = clamp((int)x + dx - r, 0, (int)width - 1);
            acc += filt[dy * (int)ksize + dx] * in[(size_t)sy * width + (size_t)sx];
        }
    }
    out[y * width + x] = acc;
}
