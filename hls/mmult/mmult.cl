/*
 * mmult, OpenCL C 1.2 variant: c (m x n) = a (m x k) * b (k x n), row-major.
 * Work split: one work-item per element of c on a 2-D range, dimension 0 the
 * column j (global size >= n) and dimension 1 the row i (global size >= m);
 * sizes may be rounded up to the work-group shape and the extra items do
 * nothing. Adjacent work-items read adjacent b elements (coalesced).
 * The sum runs in increasing p like the reference.
 */
__kernel void mmult(__global const float *a, __global const float *b, __global float *c,
                    const uint m, const uint n, const uint k)
{
    size_t j = get_global_id(0);
    size_t i = get_global_id(1);
    if (i >= m || j >= n)
        return;
    float acc = 0.0f;
    for (uint p = 0; p < k; p++)
        acc += a[i * k + p] * b[(size_t)p * n + j];
    c[i * n + j] = acc;
}
