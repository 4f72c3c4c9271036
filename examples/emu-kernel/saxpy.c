/*
 * saxpy.c - a user's own kernel, y = a*x + y, written for Vitis HLS in C:
 * the kind of source a user brings, built for the emulated board by
 * quiver_add_emu_kernel() (CMakeLists.txt). Compiled with gcc, the pragmas
 * are ignored and the same source is the emulated kernel.
 */
/* clang-format off */
void saxpy_top(const float *x, float *y, float a, unsigned int n);

void saxpy_top(const float *x, float *y, float a, unsigned int n)
{
#pragma HLS INTERFACE m_axi port=x bundle=gmem0 offset=slave
#pragma HLS INTERFACE m_axi port=y bundle=gmem1 offset=slave
#pragma HLS INTERFACE s_axilite port=x
#pragma HLS INTERFACE s_axilite port=y
#pragma HLS INTERFACE s_axilite port=a
#pragma HLS INTERFACE s_axilite port=n
#pragma HLS INTERFACE s_axilite port=return
    for (unsigned int i = 0; i < n; i++) {
#pragma HLS PIPELINE II=1
        y[i] = a * x[i] + y[i];
    }
}
