/*
 * fuzz_catalog.c - fuzz target for the kernel catalog as the runtime and the
 * planner both use it: the one loader (qv__catalog_from_doc, behind
 * qv_catalog_load and qv_config_check), then, for a catalog that loads, the
 * invariants the two sides rely on: for every kernel and every board of the
 * catalog, the runtime's build rule and the planner's qv_catalog_holds
 * agree; a table gives a time >= 0 at any size (NaN without a table); every
 * size and trip count evaluates, never crashing, for any scalar values, and
 * succeeds when every scalar is 1 (the loader checked it for 1 or more).
 * Relative paths in inputs resolve against tests/fuzz/catalog, whose files
 * are the corpus (replayed as the test fuzz_catalog_corpus).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/catalog.h"
#include "config/yaml_doc.h"
#include "qvpart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* tests/fuzz/catalog/fuzz.yaml, found from this file's own path. */
static const char *input_path(void)
{
    static char path[1024];
    if (!path[0]) {
        const char *slash = strrchr(__FILE__, '/');
        int dir = slash ? (int)(slash - __FILE__) : 1;
        snprintf(path, sizeof path, "%.*s/../fuzz/catalog/fuzz.yaml", dir,
                 slash ? __FILE__ : ".");
    }
    return path;
}

static void check_kernel(const qv__catalog *c, uint32_t ki)
{
    const qv__kernel *k = &c->kernels[ki];
    for (size_t b = 0; b < c->nboards; b++) {
        const qv__board *bd = c->boards[b];
        qv_plat_res r;
        memset(&r, 0, sizeof r);
        snprintf(r.cls, sizeof r.cls, "%s", bd->kind == QV_CLASS_FPGA ? "fpga" : "cpu");
        snprintf(r.board_name, sizeof r.board_name, "%s", bd->name);
        snprintf(r.board_platform, sizeof r.board_platform, "%s",
                 bd->platform ? bd->platform : "");
        r.board_emulation = bd->emulation;
        int runtime = qv__kernel_build(k, bd->name, bd->platform, bd->emulation) != NULL;
        if (bd->kind == QV_CLASS_FPGA && qv_catalog_holds(c, ki, &r) != runtime)
            abort();
    }
    static const uint64_t sizes[] = {0, 1, 4096, UINT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        double us = qv_catalog_table_us(c, ki, sizes[i]);
        if (k->ntable ? !(us >= 0) : !isnan(us))
            abort();
    }
    const char *names[64];
    uint64_t ones[64], any[64];
    size_t n = 0;
    for (size_t i = 0; i < k->nargs && n < 64; i++)
        if (k->args[i].dir == QV__KDIR_SCALAR) {
            names[n] = k->args[i].name;
            ones[n] = 1;
            any[n++] = i % 3 == 0 ? 0 : i % 3 == 1 ? UINT64_MAX : 7;
        }
    for (size_t i = 0; i <= k->nargs; i++) {
        const char *e = i < k->nargs ? k->args[i].size : k->trip_count;
        uint64_t v;
        if (!e)
            continue;
        if (qv__expr_eval(e, names, ones, n, &v))
            abort();
        (void)qv__expr_eval(e, names, any, n, &v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qv__ydoc *doc;
    qv_diag diag;
    if (qv__ydoc_load_mem(input_path(), data, size, &doc, &diag))
        return 0;
    qv__catalog *c;
    int rc = qv__catalog_from_doc(doc, &c, &diag);
    qv__ydoc_free(doc);
    if (rc)
        return 0;
    for (uint32_t k = 0; k < qv_catalog_kernel_count(c); k++)
        check_kernel(c, k);
    qv_catalog_destroy(c);
    return 0;
}
