/*
 * fir_fft_mag, OpenCL C 1.2 variant: mag = |FFT(FIR(x, h))|, the fused
 * fir -> fft -> magnitude chain (see fir.cl and fft.cl for the steps).
 * Work split: exactly ONE work-group; launch with global size == local size
 * (any size the device allows). The intermediate complex signal lives in
 * local memory: 2 * 4096 floats = 32 KiB, the OpenCL 1.2 minimum for
 * CL_DEVICE_LOCAL_MEM_SIZE, hence n <= 4096 here as in the HLS kernel. The
 * FIR writes each output at its bit-reversed index, the stages run in local
 * memory with a barrier between them, and the magnitude is written to mag.
 * n not a power of two, or over 4096, writes nothing. No limit on taps.
 */
#define FFM_MAX_N 4096u

static uint ffm_bitrev(uint v, uint bits)
{
    uint r = 0;
    for (uint b = 0; b < bits; b++)
        r |= ((v >> b) & 1u) << (bits - 1 - b);
    return r;
}

__kernel void fir_fft_mag(__global const float *x, __global const float *h,
                          __global float *mag, const uint n, const uint taps)
{
    __local float re[FFM_MAX_N];
    __local float im[FFM_MAX_N];
    uint lid = (uint)get_local_id(0);
    uint lsz = (uint)get_local_size(0);
    if (n == 0 || n > FFM_MAX_N || (n & (n - 1)) != 0)
        return;
    uint log2n = 31 - clz(n);

    for (uint i = lid; i < n; i += lsz) {
        uint kmax = taps <= i ? taps : i + 1;
        float acc = 0.0f;
        for (uint k = 0; k < kmax; k++)
            acc += h[k] * x[i - k];
        uint j = ffm_bitrev(i, log2n);
        re[j] = acc;
        im[j] = 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    for (uint s = 0; s < log2n; s++) {
        uint hs = 1u << s;
        for (uint j = lid; j < n / 2; j += lsz) {
            uint p = j & (hs - 1);
            uint a = ((j >> s) << (s + 1)) | p;
            uint b = a + hs;
            uint k = p << (log2n - 1 - s);
            float ang = (float)k * (-6.28318530717958647692f / (float)n);
            float wr = cos(ang), wi = sin(ang);
            float br = re[b], bi = im[b];
            float tr = wr * br - wi * bi;
            float ti = wr * bi + wi * br;
            float ar = re[a], ai = im[a];
            re[a] = ar + tr;
            im[a] = ai + ti;
            re[b] = ar - tr;
            im[b] = ai - ti;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    for (uint i = lid; i < n; i += lsz)
        mag[i] = sqrt(re[i] * re[i] + im[i] * im[i]);
}
