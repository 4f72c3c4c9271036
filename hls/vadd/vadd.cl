/*
 * vadd, OpenCL C 1.2 variant: out[i] = a[i] + b[i].
 * Work split: one work-item per element, 1-D. The global size may be rounded
 * up past n (to a multiple of the work-group size); items past n do nothing.
 * Argument order and types match the HLS kernel and the reference.
 */
__kernel void vadd(__global const float *a, __global const float *b, __global float *out,
                   const uint n)
{
    size_t i = get_global_id(0);
    if (i < n)
        out[i] = a[i] + b[i];
}
