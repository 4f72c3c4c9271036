/*
 * fuzz_profraw.c - the raw profile reader (host/src/profile/profraw.c) on
 * any bytes: it must refuse bad input with a diagnostic, never crash.
 */
#include <stddef.h>
#include <stdint.h>

#include "profile/profraw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qv__prof_raw *r = NULL;
    qv_diag d = { 0 };
    if (qv__prof_raw_parse((const char *)data, size, "fuzz", &r, &d) == 0) {
        for (size_t i = 0; i < r->narcs; i++)
            (void)qv__prof_raw_module(r, r->arcs[i].callee.module);
        qv__prof_raw_free(r);
    }
    return 0;
}
