/*
 * fuzz_perfmodel.c - fuzz target for the performance-model file parser.
 */
#include <stddef.h>
#include <stdint.h>

#include "trace/perfmodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qv__perf_file pf;
    char err[256];
    if (qv__perf_parse((const char *)data, size, "fuzzhost", &pf, err, sizeof err) == 0)
        qv__perf_file_clear(&pf);
    return 0;
}
