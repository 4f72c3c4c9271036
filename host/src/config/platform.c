/*
 * platform.c - the platform file loader (schema in platform.h and
 * docs/config/platform.md): the one reader of platform files, used by the
 * runtime, `quiver check` and, through plat_from_config.c, the planner.
 */
#include "config/platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const class_names[] = {"cpu", "gpu", "fpga", "remote", NULL};

static const char *const article[] = {"a cpu", "a gpu", "an fpga", "a remote"};

static const qv__ykey top_keys[] = {
    {"platform", 1, "platform: NAME"},
    {"resources", 1, "resources: [{name: cores, class: cpu, units: 16}]"},
    {NULL, 0, NULL},
};
static const qv__ykey res_keys[] = {
    {"name", 1, "name: gpu0"},  {"class", 1, "class: cpu | gpu | fpga | remote"},
    {"units", 0, NULL},         {"speed", 0, NULL},
    {"cost_per_hour", 0, NULL}, {"link", 0, NULL},
    {"board", 0, NULL},         {NULL, 0, NULL},
};
static const qv__ykey link_keys[] = {
    {"bandwidth_gbs", 1, "bandwidth_gbs: 12.0"},
    {"latency_us", 1, "latency_us: 10"},
    {NULL, 0, NULL},
};

void qv__platform_free(qv__platform *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nres; i++) {
        free(p->res[i].name);
        qv__board_free(p->res[i].board);
    }
    free(p->res);
    free(p->name);
    free(p->path);
    free(p);
}

static int load_resource(const qv__ydoc *doc, const qv__ynode *m, qv__platform *p,
                         qv_diag *diag)
{
    qv__pres *r = &p->res[p->nres];
    const qv__ynode *n = NULL;
    const char *s;
    int c = 0;
    int64_t units = 1;
    int rc = qv__ymap_check(doc, m, "a resource", res_keys, diag);
    if (!rc)
        rc = qv__yget_str(doc, qv__ymap_get(m, "name"), "name", &s, diag);
    if (rc)
        return rc;
    if (!*s || strlen(s) > 63)
        return qv__yerr(doc, qv__ymap_get(m, "name"), diag,
                        "name: expected 1 to 63 characters");
    for (size_t i = 0; i < p->nres; i++)
        if (!strcmp(p->res[i].name, s))
            return qv__yerr(doc, qv__ymap_get(m, "name"), diag,
                            "duplicate resource name '%s'", s);
    if (!(r->name = strdup(s)))
        return QV_ENOMEM;
    p->nres++; /* owned from here on */
    r->speed = 1.0;
    rc = qv__yget_enum(doc, qv__ymap_get(m, "class"), "class", class_names, &c, diag);
    r->cls = (qv_class)c;
    if (!rc && (n = qv__ymap_get(m, "units")))
        rc = qv__yget_int(doc, n, "units", 1, QV__PLATFORM_MAX_UNITS, &units, diag);
    r->units = (unsigned)units;
    unsigned total = 0;
    for (size_t i = 0; i < p->nres; i++)
        total += p->res[i].units; /* this one included */
    if (!rc && total > QV__PLATFORM_MAX_UNITS)
        rc = qv__yerr(doc, n ? n : m, diag,
                      "units: the resources so far have %u units in all; expected "
                      "at most %d in one platform",
                      total, QV__PLATFORM_MAX_UNITS);
    if (!rc && (n = qv__ymap_get(m, "speed")))
        rc = qv__yget_double(doc, n, "speed", 1e-6, 1e6, &r->speed, diag);
    if (!rc && (n = qv__ymap_get(m, "board"))) {
        char *path;
        rc = qv__yget_path(doc, n, "board", 0, &path, diag);
        if (!rc) {
            qv_diag sub;
            rc = qv__board_load(path, &r->board, &sub);
            if (rc && rc != QV_ENOMEM) {
                char where[1200];
                qv_diag_format(&sub, where, sizeof where);
                rc = qv__yerr(doc, n, diag,
                              "board: '%s' is not a valid "
                              "board: %s",
                              n->str, where);
            }
            free(path);
        }
        if (!rc && r->board->kind != r->cls)
            rc = qv__yerr(doc, n, diag,
                          "board: '%s' is %s board; expected %s board "
                          "for class %s",
                          n->str, article[r->board->kind], article[r->cls],
                          class_names[r->cls]);
        /* The planner matches these against the catalog's builds, whole:
         * the board reader allows 127 bytes for both. */
        if (!rc && (strlen(r->board->name) > 127 ||
                    (r->board->platform && strlen(r->board->platform) > 127)))
            rc = qv__yerr(doc, n, diag,
                          "board: '%s' has a name or a platform longer than 127 "
                          "characters",
                          n->str);
        if (!rc) {
            r->cost_per_hour = r->board->cost_per_hour;
            r->bandwidth_gbs = r->board->bandwidth_gbs;
            r->latency_us = r->board->latency_us;
        }
    }
    if (!rc && (n = qv__ymap_get(m, "cost_per_hour")))
        rc = qv__yget_double(doc, n, "cost_per_hour", 0, 1e9, &r->cost_per_hour, diag);
    n = qv__ymap_get(m, "link");
    if (!rc && n && r->cls == QV_CLASS_CPU)
        rc = qv__yerr(doc, qv__ymap_key(m, "link"), diag,
                      "link: a cpu resource shares host memory and has no "
                      "link; remove it");
    if (!rc && n) {
        rc = qv__ymap_check(doc, n, "link", link_keys, diag);
        if (!rc)
            rc = qv__yget_double(doc, qv__ymap_get(n, "bandwidth_gbs"),
                                 "link.bandwidth_gbs", 0.001, 10000, &r->bandwidth_gbs,
                                 diag);
        if (!rc)
            rc = qv__yget_double(doc, qv__ymap_get(n, "latency_us"), "link.latency_us", 0,
                                 1e7, &r->latency_us, diag);
    }
    if (!rc && r->cls != QV_CLASS_CPU && r->bandwidth_gbs == 0)
        rc = qv__yerr(doc, m, diag,
                      "resource '%s' (class %s) needs a link to host memory: "
                      "expected 'link: {bandwidth_gbs: 12.0, latency_us: 10}'"
                      " or a board that has one",
                      r->name, class_names[r->cls]);
    return rc;
}

int qv__platform_from_doc(const qv__ydoc *doc, qv__platform **out, qv_diag *diag)
{
    *out = NULL;
    const qv__ynode *root = doc->root, *res;
    const char *s;
    if (!root)
        return qv__yerr(doc, NULL, diag,
                        "empty file; expected a platform "
                        "(platform, resources)");
    int rc = qv__ymap_check(doc, root, "a platform", top_keys, diag);
    if (!rc)
        rc = qv__yget_str(doc, qv__ymap_get(root, "platform"), "platform", &s, diag);
    if (!rc && (!*s || strlen(s) > 63))
        rc = qv__yerr(doc, qv__ymap_get(root, "platform"), diag,
                      "platform: expected a name of 1 to 63 characters");
    res = qv__ymap_get(root, "resources");
    if (!rc &&
        (res->kind != QV__Y_SEQ || res->n == 0 || res->n > QV__PLATFORM_MAX_RESOURCES))
        rc = qv__yerr(doc, res, diag,
                      "resources: expected a list of 1 to %d resources, got "
                      "%s",
                      QV__PLATFORM_MAX_RESOURCES,
                      res->kind != QV__Y_SEQ ? qv__ydesc(res)
                      : res->n               ? "too many"
                                             : "an empty list");
    if (rc)
        return rc;
    qv__platform *p = calloc(1, sizeof *p);
    if (!p)
        return QV_ENOMEM;
    p->path = strdup(doc->path);
    p->name = strdup(s);
    p->res = calloc(res->n, sizeof *p->res);
    if (!p->path || !p->name || !p->res)
        rc = QV_ENOMEM;
    for (size_t i = 0; !rc && i < res->n; i++)
        rc = load_resource(doc, res->items[i], p, diag);
    if (rc) {
        qv__platform_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int qv__platform_load(const char *path, qv__platform **out, qv_diag *diag)
{
    *out = NULL;
    qv__ydoc *doc;
    int rc = qv__ydoc_load(path, &doc, diag);
    if (rc)
        return rc;
    rc = qv__platform_from_doc(doc, out, diag);
    qv__ydoc_free(doc);
    return rc;
}
