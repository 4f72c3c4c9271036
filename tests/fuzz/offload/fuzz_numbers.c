/*
 * fuzz_numbers.c - fuzz target of read_numbers (examples/offload/numbers.c),
 * the reader of the offload example's signal and output files: any bytes
 * give a clean refusal or numbers that are finite and within the limit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fmemopen */
#endif
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "numbers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* fmemopen wants a size of at least 1: an empty input is a file of
     * nothing, which /dev/null gives. */
    FILE *f = size ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
    if (!f)
        return 0;
    double *v;
    size_t n;
    if (read_numbers(f, "input", FLT_MAX, &v, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (!isfinite(v[i]) || fabs(v[i]) > FLT_MAX)
                abort();
        free(v);
    }
    fclose(f);
    return 0;
}
