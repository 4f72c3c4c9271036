/*
 * mag_hls.c - the kernel the catalog lacks: mag, the complex magnitude, as
 * an HLS C kernel (the C that Vitis HLS takes). The shipped catalog has mag
 * only inside the fused fir_fft_mag; quiver_add_emu_kernel() (CMakeLists.txt)
 * builds this one for the emulated board, so that `quiver wrap` can
 * interpose mag as well as fir and fft. It computes what dsp.c's mag does.
 */
/* clang-format off */
#include <math.h>

void mag(const float *re, const float *im, float *out, unsigned int n);

void mag(const float *re, const float *im, float *out, unsigned int n)
{
#pragma HLS INTERFACE m_axi port=re bundle=gmem0 offset=slave
#pragma HLS INTERFACE m_axi port=im bundle=gmem1 offset=slave
#pragma HLS INTERFACE m_axi port=out bundle=gmem2 offset=slave
#pragma HLS INTERFACE s_axilite port=re
#pragma HLS INTERFACE s_axilite port=im
#pragma HLS INTERFACE s_axilite port=out
#pragma HLS INTERFACE s_axilite port=n
#pragma HLS INTERFACE s_axilite port=return
    for (unsigned int i = 0; i < n; i++) {
#pragma HLS PIPELINE II=1
        out[i] = sqrtf(re[i] * re[i] + im[i] * im[i]);
    }
}
