/*
 * fuzz_config.c - fuzz target for the YAML layer and the four loaders: any
 * input must give either a loaded document or a diagnostic, never a crash,
 * a leak or a hang. Relative paths in inputs resolve against the current
 * directory. The corpus (tests/fuzz/yaml) holds the shipped files, the good
 * and bad test files and a few hostile ones.
 */
#include <stddef.h>
#include <stdint.h>

#include "config/board.h"
#include "config/catalog.h"
#include "config/platform.h"
#include "config/policy.h"
#include "config/yaml_doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qv__ydoc *doc;
    qv_diag diag;
    if (qv__ydoc_load_mem("fuzz.yaml", data, size, &doc, &diag))
        return 0;
    /* Every loader on every input: each must reject what is not its own. */
    qv__board *b;
    if (!qv__board_from_doc(doc, &b, &diag))
        qv__board_free(b);
    qv__catalog *c;
    if (!qv__catalog_from_doc(doc, &c, &diag))
        qv__catalog_free(c);
    qv__platform *p;
    if (!qv__platform_from_doc(doc, &p, &diag))
        qv__platform_free(p);
    qv__policy pol;
    qv__policy_from_doc(doc, &pol, &diag);
    qv__policy_fini(&pol);
    qv__ydoc_free(doc);
    return 0;
}
