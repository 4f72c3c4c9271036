/*
 * fft, OpenCL C 1.2 variant: forward radix-2 FFT of n complex floats held as
 * split real/imaginary arrays, unscaled, n a power of two (no upper limit).
 * Work split: exactly ONE work-group; launch with global size == local size
 * (any size the device allows; more than n/2 items gains nothing). The group
 * copies the input to the output in bit-reversed order, then runs log2(n)
 * stages in place in the output, each work-item taking every
 * local-size-th butterfly, with a global-memory barrier between stages.
 * One group is what lets the stages synchronise inside one launch.
 * out must not alias in. Twiddles are computed in float (cos/sin of
 * -2*pi*k/n) where the reference rounds double values, which the stated
 * tolerance covers. n not a power of two writes nothing.
 */
static uint fft_bitrev(uint v, uint bits)
{
    uint r = 0;
    for (uint b = 0; b < bits; b++)
        r |= ((v >> b) & 1u) << (bits - 1 - b);
    return r;
}

__kernel void fft(__global const float *in_re, __global const float *in_im,
                  __global float *out_re, __global float *out_im, const uint n)
{
    uint lid = (uint)get_local_id(0);
    uint lsz = (uint)get_local_size(0);
    if (n == 0 || (n & (n - 1)) != 0)
        return;
    uint log2n = 31 - clz(n);

    for (uint i = lid; i < n; i += lsz) {
        uint j = fft_bitrev(i, log2n);
        out_re[j] = in_re[i];
        out_im[j] = in_im[i];
    }
    barrier(CLK_GLOBAL_MEM_FENCE);

    for (uint s = 0; s < log2n; s++) {
        uint h = 1u << s;
        for (uint j = lid; j < n / 2; j += lsz) {
            uint p = j & (h - 1);
            uint a = ((j >> s) << (s + 1)) | p;
            uint b = a + h;
            uint k = p << (log2n - 1 - s);
            float ang = (float)k * (-6.28318530717958647692f / (float)n);
            float wr = cos(ang), wi = sin(ang);
            float br = out_re[b], bi = out_im[b];
            float tr = wr * br - wi * bi;
            float ti = wr * bi + wi * br;
            float ar = out_re[a], ai = out_im[a];
            out_re[a] = ar + tr;
            out_im[a] = ai + ti;
            out_re[b] = ar - tr;
            out_im[b] = ai - ti;
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
}
