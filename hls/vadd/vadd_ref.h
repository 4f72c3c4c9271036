/*
 * Plain C reference of the vadd kernel: the CPU implementation the runtime
 * registers for the "vadd" function and the oracle the testbench and the
 * OpenCL check compare against.
 */
#ifndef QV_HLS_VADD_REF_H
#define QV_HLS_VADD_REF_H

#include <stdint.h>

/*
 * out[i] = a[i] + b[i] for 0 <= i < n. a, b: n floats read; out: n floats
 * written. out may alias a or b (each element is read before it is written).
 * Every n is valid; n = 0 does nothing. Thread-safe: no state.
 */
void qv_hls_vadd_ref(const float *a, const float *b, float *out, uint32_t n);

#endif
