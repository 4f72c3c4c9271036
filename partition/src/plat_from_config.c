/*
 * plat_from_config.c - platform files for the planner. There is one reader
 * of the format, the runtime's (host/src/config/platform.c, over the strict
 * YAML layer, with the board reader for the boards that resources name);
 * qv_plat_load and qv_plat_parse run it and convert its result into a
 * qv_plat. So `quiver plan`, `quiver check` and the runtime give a file the
 * same verdict and the same file:line:col message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/platform.h"
#include "part.h"

/* The planner's view of a platform the reader accepted. The reader enforces
 * every limit qv_plat_create checks, so this fails only for memory. */
static int convert(const qv__platform *cp, qv_plat **out, qv_diag *diag)
{
    qv_plat_res *res = calloc(cp->nres, sizeof *res);
    if (!res)
        return qv__diag_set(diag, cp->path, 0, 0, QV_ENOMEM, "out of memory");
    for (size_t i = 0; i < cp->nres; i++) {
        const qv__pres *s = &cp->res[i];
        qv_plat_res *r = &res[i];
        snprintf(r->name, sizeof r->name, "%s", s->name);
        snprintf(r->cls, sizeof r->cls, "%s", qv_class_name(s->cls));
        r->units = s->units;
        r->speed = s->speed;
        r->bandwidth_gbs = s->bandwidth_gbs;
        r->latency_us = s->latency_us;
        r->cost_per_hour = s->cost_per_hour;
        r->host_memory = s->cls == QV_CLASS_CPU;
        /* an emulated board (not one a daemon serves) computes on the
         * cores of the machine that runs it, as the runtime's does */
        r->shares_cpu = s->board && s->board->kind != QV_CLASS_REMOTE && s->board->emulation;
        qv__part_res_board(r, s->board);
    }
    int rc = qv_plat_create(cp->name, res, (uint32_t)cp->nres, out);
    free(res);
    if (rc)
        return qv__diag_set(diag, cp->path, 0, 0, rc, "%s", qv_strerror(rc));
    return 0;
}

void qv__part_res_board(qv_plat_res *r, const qv__board *b)
{
    /* A remote board's kernels are those of the board its daemon serves;
     * one whose file names none keeps the graph's costs. */
    if (b && b->kind == QV_CLASS_REMOTE)
        b = b->served;
    if (!b)
        return;
    snprintf(r->board_name, sizeof r->board_name, "%.127s", b->name);
    snprintf(r->board_platform, sizeof r->board_platform, "%.127s",
             b->platform ? b->platform : "");
    r->board_emulation = b->emulation;
}

static int from_doc(qv__ydoc *doc, qv_plat **out, qv_diag *diag)
{
    qv__platform *cp;
    int rc = qv__platform_from_doc(doc, &cp, diag);
    qv__ydoc_free(doc);
    if (rc)
        return rc;
    rc = convert(cp, out, diag);
    qv__platform_free(cp);
    return rc;
}

int qv_plat_load(const char *path, qv_plat **out, qv_diag *diag)
{
    *out = NULL;
    if (!path)
        return qv__diag_set(diag, "", 0, 0, QV_EINVAL, "no file given");
    qv__ydoc *doc;
    int rc = qv__ydoc_load(path, &doc, diag);
    return rc ? rc : from_doc(doc, out, diag);
}

int qv_plat_parse(const char *text, size_t len, const char *fname, qv_plat **out,
                  qv_diag *diag)
{
    *out = NULL;
    if (!text)
        return qv__diag_set(diag, fname ? fname : "<platform>", 0, 0, QV_EINVAL,
                            "no text given");
    qv__ydoc *doc;
    int rc = qv__ydoc_load_mem(fname ? fname : "<platform>", text, len, &doc, diag);
    return rc ? rc : from_doc(doc, out, diag);
}
