/*
 * check.c - `quiver check`'s entry point, qv_config_check: loads a file as
 * whichever of the four kinds (board, catalog, policy, platform) its
 * content says it is, through that kind's one loader.
 */
#include <string.h>

#include "config/board.h"
#include "config/catalog.h"
#include "config/platform.h"
#include "config/policy.h"
#include "config/yaml_doc.h"
#include "core/internal.h"
#include "devices/device.h"

QV_API const char *qv_config_kind_name(qv_config_kind kind)
{
    switch (kind) {
    case QV_CONFIG_BOARD:
        return "board";
    case QV_CONFIG_CATALOG:
        return "catalog";
    case QV_CONFIG_POLICY:
        return "policy";
    case QV_CONFIG_PLATFORM:
        return "platform";
    default:
        return "unknown";
    }
}

/* The distinguishing key of each kind; a policy has only policy keys. The
 * check is on keys, not on the file name, so a board can live anywhere. */
static qv_config_kind recognise(const qv__ynode *root)
{
    /* An empty file, or an empty mapping, is the default policy, as the
     * runtime reads it (a user's finding: check refused it). */
    if (!root || qv__yis_null(root) || (root->kind == QV__Y_MAP && root->n == 0))
        return QV_CONFIG_POLICY;
    if (root->kind != QV__Y_MAP)
        return QV_CONFIG_UNKNOWN;
    if (qv__ymap_get(root, "resources"))
        return QV_CONFIG_PLATFORM;
    if (qv__ymap_get(root, "kernels"))
        return QV_CONFIG_CATALOG;
    if (qv__ymap_get(root, "kind"))
        return QV_CONFIG_BOARD;
    for (size_t i = 0; i < root->n; i++)
        for (size_t j = 0; qv__policy_top_keys[j]; j++)
            if (!strcmp(root->items[2 * i]->str, qv__policy_top_keys[j]))
                return QV_CONFIG_POLICY;
    /* No distinguishing key: a misspelt one still tells the kind, so that
     * the loader can answer with "did you mean". */
    static const char *const marks[] = {"resources", "kernels", "kind", NULL};
    static const qv_config_kind kinds[] = {QV_CONFIG_PLATFORM, QV_CONFIG_CATALOG,
                                           QV_CONFIG_BOARD};
    for (size_t i = 0; i < root->n; i++) {
        const char *key = root->items[2 * i]->str;
        const char *m = qv__did_you_mean(key, marks);
        for (size_t j = 0; m && j < 3; j++)
            if (m == marks[j])
                return kinds[j];
        if (qv__did_you_mean(key, qv__policy_top_keys))
            return QV_CONFIG_POLICY;
    }
    if (qv__ymap_get(root, "memory") || qv__ymap_get(root, "fabric"))
        return QV_CONFIG_BOARD;
    return QV_CONFIG_UNKNOWN;
}

/* The YAML node of kernel `name`'s builds in catalog doc, for the
 * position of an error in one of them; the document's root if not found. */
static const qv__ynode *builds_node(const qv__ydoc *doc, const char *name)
{
    const qv__ynode *ks = qv__ymap_get(doc->root, "kernels");
    for (size_t i = 0; ks && ks->kind == QV__Y_SEQ && i < ks->n; i++) {
        const qv__ynode *k = ks->items[i];
        const qv__ynode *n = k->kind == QV__Y_MAP ? qv__ymap_get(k, "name") : NULL;
        if (n && n->kind == QV__Y_SCALAR && !strcmp(n->str, name)) {
            const qv__ynode *b = qv__ymap_get(k, "builds");
            return b ? b : k;
        }
    }
    return doc->root;
}

static int check_builds(const qv__ydoc *doc, const qv__catalog *c, qv_diag *diag)
{
    for (size_t i = 0; i < c->nkernels; i++) {
        const qv__kernel *k = &c->kernels[i];
        for (size_t j = 0; j < k->nbuilds; j++) {
            const qv__kbuild *b = &k->builds[j];
            if (qv__xclbin_check_build(k, b->board, b->xclbin) == 0)
                continue;
            const qv__ynode *at = builds_node(doc, k->name);
            return qv__diag_set(diag, doc->path, at->line, at->col, QV_EMISMATCH,
                                "kernel '%s', build %zu (board %s): %s", k->name, j + 1,
                                b->board ? b->board->name : "?", qv_last_error());
        }
    }
    return 0;
}

QV_API int qv_config_check(const char *path, qv_config_kind *kind, qv_diag *diag)
{
    return qv__config_check(path, kind, diag, false);
}

int qv__config_check(const char *path, qv_config_kind *kind, qv_diag *diag, bool builds)
{
    if (kind)
        *kind = QV_CONFIG_UNKNOWN;
    if (!path)
        return qv__diag_set(diag, "", 0, 0, QV_EINVAL, "no file given");
    qv__ydoc *doc;
    int rc = qv__ydoc_load(path, &doc, diag);
    if (rc)
        return rc;
    qv_config_kind k = recognise(doc->root);
    if (kind)
        *kind = k;
    switch (k) {
    case QV_CONFIG_BOARD: {
        qv__board *b;
        rc = qv__board_from_doc(doc, &b, diag);
        qv__board_free(b);
        break;
    }
    case QV_CONFIG_CATALOG: {
        qv__catalog *c;
        rc = qv__catalog_from_doc(doc, &c, diag);
        if (!rc && builds)
            rc = check_builds(doc, c, diag);
        qv__catalog_free(c);
        break;
    }
    case QV_CONFIG_PLATFORM: {
        qv__platform *p;
        rc = qv__platform_from_doc(doc, &p, diag);
        qv__platform_free(p);
        break;
    }
    case QV_CONFIG_POLICY: {
        qv__policy p;
        rc = qv__policy_from_doc(doc, &p, diag);
        /* Its catalog's builds too, as a check of the catalog opens them
         * (the runtime opens each at its first use): a policy passed
         * whose catalog's check failed. */
        if (!rc && builds && p.catalog) {
            qv_diag sub;
            int crc = qv__config_check(p.catalog, NULL, &sub, true);
            if (crc == QV_ENOMEM) {
                rc = crc;
            } else if (crc) {
                const qv__ynode *at = qv__ymap_get(doc->root, "catalog");
                char where[1200];
                qv_diag_format(&sub, where, sizeof where);
                rc = qv__yerr(
                    doc, at, diag, "catalog: '%s' has a build its board would refuse: %s",
                    at && at->kind == QV__Y_SCALAR ? at->str : p.catalog, where);
            }
        }
        qv__policy_fini(&p);
        break;
    }
    default:
        rc = qv__yerr(doc, doc->root && !qv__yis_null(doc->root) ? doc->root : NULL, diag,
                      "cannot tell what kind of file this is; expected a "
                      "board (with 'kind'), a kernel catalog ('kernels'), a "
                      "platform ('resources') or a runtime policy "
                      "('scheduler', 'hot_threshold', 'replan', 'discovery', "
                      "'log', ...)");
        break;
    }
    if (rc == QV_ENOMEM)
        qv__diag_set(diag, path, 0, 0, rc, "out of memory");
    qv__ydoc_free(doc);
    return rc;
}
