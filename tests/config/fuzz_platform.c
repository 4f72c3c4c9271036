/*
 * fuzz_platform.c - fuzz target for platform files through their one
 * reader: the planner's qv_plat_parse and the runtime's loader (as
 * qv_config_check runs it) must give the same verdict and the same
 * diagnostic for any input, and a platform that loads must be one the
 * planner can use (units within the limit, every unit on a resource,
 * transfer costs finite and not negative). Corpus: tests/fuzz/platform;
 * board paths resolve against the current directory.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/platform.h"
#include "config/yaml_doc.h"
#include "qvpart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qv_diag d1, d2;
    memset(&d1, 0, sizeof d1);
    memset(&d2, 0, sizeof d2);
    qv_plat *p = NULL;
    int rc1 = qv_plat_parse((const char *)data, size, "fuzz.yaml", &p, &d1);
    qv__ydoc *doc;
    qv__platform *cp = NULL;
    int rc2 = qv__ydoc_load_mem("fuzz.yaml", data, size, &doc, &d2);
    if (!rc2) {
        rc2 = qv__platform_from_doc(doc, &cp, &d2);
        qv__ydoc_free(doc);
    }
    if (rc1 != rc2 || (rc1 && (!d1.message[0] || memcmp(&d1, &d2, sizeof d1))))
        abort(); /* two verdicts, or an error that says nothing */
    if (rc1 == 0) {
        if (!p || !cp || p->nres != cp->nres || !p->nunits ||
            p->nunits > QV__PLATFORM_MAX_UNITS)
            abort();
        for (uint32_t u = 0; u < p->nunits; u++)
            if (p->unit_res[u] >= p->nres)
                abort();
        for (size_t i = 0; i < (size_t)p->nres * p->nres; i++)
            if (!(p->lat[i] >= 0) || !(p->inv_bw[i] >= 0) || !isfinite(p->lat[i]) ||
                !isfinite(p->inv_bw[i]))
                abort();
    }
    qv__platform_free(cp);
    qv_plat_destroy(p);
    return 0;
}
