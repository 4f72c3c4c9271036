/*
 * fuzz_dax.c - fuzz target for the XML reader (host/src/formats/xml.h) and
 * the Pegasus DAX importer on it (qv_dag_import, which also takes the
 * WfFormat JSON inputs of the corpus: it picks by content). Any input must give an
 * error with a message and a position inside the input, or a tree whose
 * invariants hold under tight limits (checked here, so that a reader bug is
 * a crash, not a silent pass); a graph the importer returns must pass
 * qv_dag_check and read back once written. Built with libFuzzer under
 * QV_FUZZ; otherwise tests/fuzz/replay_main.c replays tests/fuzz/dax/corpus
 * as a ctest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/xml.h"
#include "quiver.h"
#include "qvpart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const qv__xml_limits lim = {
    .max_bytes = 1 << 20, .max_depth = 8, .max_elements = 1000, .max_attrs = 16};

static void check_tree(const qv__xml_node *root, const uint8_t *data, size_t size)
{
    size_t count = 0;
    unsigned depth = 1;
    const qv__xml_node *n = root;
    if (root->parent || root->next)
        abort();
    while (n) {
        if (++count > lim.max_elements || depth > lim.max_depth ||
            n->nattrs > lim.max_attrs || n->attr[2 * n->nattrs] || !n->name[0] ||
            n->line < 1 || n->column < 1 || n->offset >= size || data[n->offset] != '<')
            abort();
        for (size_t i = 0; i < n->nattrs; i++) {
            if (qv__xml_attr(n, n->attr[2 * i]) != n->attr[2 * i + 1])
                abort(); /* a name twice: the first would shadow this one */
        }
        if (n->child) {
            if (n->child->parent != n)
                abort();
            n = n->child;
            depth++;
            continue;
        }
        while (n && !n->next) {
            n = n->parent;
            depth--;
        }
        if (n) {
            if (n->next->parent != n->parent ||
                (!n->next->next && n->parent->last != n->next))
                abort();
            n = n->next;
        }
    }
}

/* The input as a file, for qv_dag_import (which picks DAX or WfFormat by
 * its first character). 1 when there is no temporary file. */
static int import_file(const uint8_t *data, size_t size, qv_dag **g, qv_diag *d)
{
    static char path[512];
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/qv_fuzz_dax_%ld.xml", tmp ? tmp : "/tmp",
                 (long)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    int ok = fwrite(data, 1, size, f) == size;
    if (fclose(f) || !ok) {
        unlink(path);
        return 1;
    }
    int rc = qv_dag_import(path, NULL, g, d);
    unlink(path);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qv__xml_node *root = NULL;
    qv__xml_error e;
    int rc = qv__xml_parse((const char *)data, size, &lim, &root, &e);
    if (rc == 0)
        check_tree(root, data, size);
    else if ((rc != QV_EFORMAT && rc != QV_ENOMEM) || !e.msg[0] || e.offset > size ||
             root)
        abort();
    qv__xml_free(root);

    qv_dag *g = NULL;
    qv_diag d;
    memset(&d, 0, sizeof d);
    rc = import_file(data, size, &g, &d);
    if (rc == 1)
        return 0; /* no temporary file: nothing tested */
    if (rc) {
        if (!d.message[0] || g)
            abort(); /* every error must say what is wrong */
        return 0;
    }
    if (qv_dag_check(g, &d))
        abort();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        qv_dag_write(g, f);
        fclose(f);
        qv_dag *h = NULL;
        if (qv_dag_parse(buf, len, "fuzz-rt", &h, &d) || h->n != g->n || h->m != g->m)
            abort();
        qv_dag_destroy(h);
        free(buf);
    }
    qv_dag_destroy(g);
    return 0;
}
