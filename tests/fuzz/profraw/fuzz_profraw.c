/*
 * fuzz_profraw.c - the raw profile reader (host/src/profile/profraw.c) on
 * any bytes: it must refuse bad input with a diagnostic, never crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "profile/profraw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What quiver profile counts on: an address in a module names one the
 * profile declared (2^32 + 5 named undeclared module 5: review). */
static void declared(const qv__prof_raw *r, qv__prof_addr a)
{
    if (a.module >= 0 && !qv__prof_raw_find(r, a.module))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qv__prof_raw *r = NULL;
    qv_diag d = { 0 };
    if (qv__prof_raw_parse((const char *)data, size, "fuzz", &r, &d) == 0) {
        for (size_t i = 0; i < r->nfns; i++)
            declared(r, r->fns[i].fn);
        for (size_t i = 0; i < r->narcs; i++) {
            declared(r, r->arcs[i].callee);
            declared(r, r->arcs[i].caller);
        }
        qv__prof_raw_free(r);
    }
    return 0;
}
