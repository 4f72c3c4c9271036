/*
 * fir, OpenCL C 1.2 variant: y[i] = sum_{k<taps, k<=i} h[k] * x[i-k].
 * Work split: one work-item per output sample, 1-D; the global size may be
 * rounded up past n and the extra items do nothing. No limit on taps here.
 * The sum runs in increasing k like the reference; the compiler may contract
 * to fused multiply-adds, which the stated tolerance covers.
 */
__kernel void fir(__global const float *x, __global const float *h, __global float *y,
                  const uint n, const uint taps)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    uint kmax = taps <= i ? taps : (uint)i + 1;
    float acc = 0.0f;
    for (uint k = 0; k < kmax; k++)
        acc += h[k] * x[i - k];
    y[i] = acc;
}
