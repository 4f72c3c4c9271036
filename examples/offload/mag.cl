/*
 * mag.cl - the offload example's mag for OpenCL devices (PoCL here): one
 * work item per output element, the global size may be rounded up past n.
 * Given to quiver_wrap() (CMakeLists.txt) with hls/fir/fir.cl, which has the
 * same one-item-per-output shape; hls/fft/fft.cl is not, since it must run
 * as exactly one work group, a launch the interposers do not make.
 */
__kernel void mag(__global const float *re, __global const float *im, __global float *out,
                  const uint n)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    out[i] = sqrt(re[i] * re[i] + im[i] * im[i]);
}
