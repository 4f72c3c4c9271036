/*
 * platform.c - platform files for planning (DESIGN.md "Files"): a strict
 * reader over libyaml's document API for exactly the planning keys, with
 * file:line:col errors, and the transfer-cost tables of the cost model.
 * The runtime's own YAML loaders live in host/src/config; this reader exists
 * so that partition/ stays usable offline without the runtime.
 */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "json.h"
#include "part.h"

#define MAX_PLATFORM_BYTES ((size_t)1 << 20)
#define MAX_RESOURCES      64
#define MAX_UNITS          4096

int qv_plat_create(const char *name, const qv_plat_res *res, uint32_t nres, qv_plat **out)
{
    if (!nres || nres > MAX_RESOURCES)
        return -EINVAL;
    qv_plat *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    snprintf(p->name, sizeof p->name, "%s", name ? name : "platform");
    p->nres = nres;
    p->res = calloc(nres, sizeof *p->res);
    p->lat = calloc((size_t)nres * nres, sizeof *p->lat);
    p->inv_bw = calloc((size_t)nres * nres, sizeof *p->inv_bw);
    uint32_t total = 0;
    for (uint32_t r = 0; r < nres; r++) {
        if (!res[r].units || res[r].units > MAX_UNITS || !(res[r].speed > 0) ||
            (!res[r].host_memory && !(res[r].bandwidth_gbs > 0)) ||
            !(res[r].latency_us >= 0))
            total = UINT32_MAX;
        else if (total != UINT32_MAX)
            total += res[r].units;
    }
    if (total == UINT32_MAX || total > MAX_UNITS) {
        qv_plat_destroy(p);
        return -EINVAL;
    }
    p->unit_res = malloc((size_t)total * sizeof *p->unit_res);
    if (!p->res || !p->lat || !p->inv_bw || !p->unit_res) {
        qv_plat_destroy(p);
        return -ENOMEM;
    }
    memcpy(p->res, res, nres * sizeof *res);
    for (uint32_t r = 0; r < nres; r++) {
        p->res[r].first_unit = p->nunits;
        for (uint32_t u = 0; u < p->res[r].units; u++)
            p->unit_res[p->nunits++] = r;
    }
    /* Cost model: same memory is free; otherwise each device end of the
     * path pays its own link's latency and bandwidth (device to device goes
     * through host memory, both links in turn). */
    for (uint32_t a = 0; a < nres; a++)
        for (uint32_t b = 0; b < nres; b++) {
            const qv_plat_res *ra = &p->res[a], *rb = &p->res[b];
            double l = 0, ib = 0;
            if (a != b && !(ra->host_memory && rb->host_memory)) {
                if (!ra->host_memory) {
                    l += ra->latency_us;
                    ib += 1.0 / (ra->bandwidth_gbs * 1000.0);
                }
                if (!rb->host_memory) {
                    l += rb->latency_us;
                    ib += 1.0 / (rb->bandwidth_gbs * 1000.0);
                }
            }
            p->lat[(size_t)a * nres + b] = l;
            p->inv_bw[(size_t)a * nres + b] = ib;
        }
    *out = p;
    return 0;
}

void qv_plat_destroy(qv_plat *p)
{
    if (!p)
        return;
    free(p->res);
    free(p->unit_res);
    free(p->lat);
    free(p->inv_bw);
    free(p);
}

/* ---- the YAML reader ---- */

/*
 * Parses text into doc, refusing nesting deeper than MAX_DEPTH with the
 * file:line:col of the first collection too deep. libyaml's scanner does
 * work proportional to the flow nesting depth for every token (it walks its
 * stack of possible simple keys), so a file of 64k '[' took 12 s and one of
 * 1 MB minutes. A first pass over events stops at the first collection too
 * deep, having scanned at most about a thousand tokens past it (libyaml
 * looks that far ahead for a key); only input known to be shallow is then
 * loaded as a document. 0, or -EINVAL / -ENOMEM with diag filled.
 */
#define MAX_DEPTH 64

static int yaml_error(const yaml_parser_t *ps, const char *file, qv_diag *diag)
{
    if (ps->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    qv__part_diag(diag, file, (int)ps->problem_mark.line + 1,
                  (int)ps->problem_mark.column + 1, "YAML: %s",
                  ps->problem ? ps->problem : "syntax error");
    return -EINVAL;
}

static int load_doc(const char *text, size_t len, const char *file, yaml_document_t *doc,
                    qv_diag *diag)
{
    yaml_parser_t ps;
    yaml_event_t ev;
    int rc = 0, depth = 0;
    if (!yaml_parser_initialize(&ps))
        return -ENOMEM;
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
    for (int end = 0; !end && !rc;) {
        if (!yaml_parser_parse(&ps, &ev)) {
            rc = yaml_error(&ps, file, diag);
            break;
        }
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > MAX_DEPTH) {
                qv__part_diag(diag, file, (int)ev.start_mark.line + 1,
                              (int)ev.start_mark.column + 1,
                              "nesting deeper than %d levels", MAX_DEPTH);
                rc = -EINVAL;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_STREAM_END_EVENT:
            end = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&ps);
    if (rc)
        return rc;
    if (!yaml_parser_initialize(&ps))
        return -ENOMEM;
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
    if (!yaml_parser_load(&ps, doc))
        rc = yaml_error(&ps, file, diag);
    yaml_parser_delete(&ps);
    return rc;
}

typedef struct yr {
    yaml_document_t *doc;
    const char *file;
    qv_diag *diag;
} yr;

__attribute__((format(printf, 3, 4))) static int yerr(yr *y, const yaml_node_t *n,
                                                      const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qv__part_diag(y->diag, y->file, n ? (int)n->start_mark.line + 1 : 0,
                  n ? (int)n->start_mark.column + 1 : 0, "%s", msg);
    return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_num(yr *y, const yaml_node_t *n, const char *key, double lo, double hi,
                   double *out)
{
    const char *s = scalar(n);
    char *end;
    if (s && *s) {
        errno = 0;
        double v = strtod(s, &end);
        if (!*end && !errno && v >= lo && v <= hi && isfinite(v)) {
            *out = v;
            return 0;
        }
    }
    char range[64];
    snprintf(range, sizeof range, "[%g, %g]", lo, hi);
    return yerr(y, n, "%s must be a number in %s", key, range);
}

static int get_str(yr *y, const yaml_node_t *n, const char *key, char *dst, size_t cap)
{
    const char *s = scalar(n);
    if (!s || !*s || strlen(s) >= cap)
        return yerr(y, n, "%s must be a non-empty string%s", key,
                    s && *s ? " (too long)" : "");
    strcpy(dst, s);
    return 0;
}

/* link: {bandwidth_gbs, latency_us}, both required. In a board file the
 * link may carry more keys (pcie_gen, ...): `strict` off ignores them. */
static int read_link(yr *y, yaml_node_t *m, int strict, qv_plat_res *r)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return yerr(y, m, "link must be a mapping {bandwidth_gbs, latency_us}");
    int have_bw = 0, have_lat = 0;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start;
         pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, pr->value);
        const char *ks = scalar(k);
        int rc;
        if (ks && !strcmp(ks, "bandwidth_gbs")) {
            if ((rc = get_num(y, v, "link.bandwidth_gbs", 1e-6, 1e6, &r->bandwidth_gbs)))
                return rc;
            have_bw = 1;
        } else if (ks && !strcmp(ks, "latency_us")) {
            if ((rc = get_num(y, v, "link.latency_us", 0, 1e9, &r->latency_us)))
                return rc;
            have_lat = 1;
        } else if (strict) {
            return yerr(y, k,
                        "unknown key '%.64s' in link (expected "
                        "bandwidth_gbs, latency_us)",
                        ks ? ks : "?");
        }
    }
    if (!have_bw || !have_lat)
        return yerr(y, m, "link needs %s", !have_bw ? "bandwidth_gbs" : "latency_us");
    return 0;
}

/* A board file belongs to the runtime's configuration (docs/config/
 * board.md); the planner reads only what a platform takes from it: kind
 * (must be the resource's class), link, cost_per_hour, and name, platform
 * and emulation, which say which builds of a kernel catalog it loads. */
static int read_board(yr *y, yaml_node_t *at, const char *board, int need_link,
                      int need_cost, qv_plat_res *r)
{
    char path[1024];
    if (board[0] == '/') {
        snprintf(path, sizeof path, "%s", board);
    } else {
        char dir[768];
        snprintf(dir, sizeof dir, "%s", y->file);
        snprintf(path, sizeof path, "%s/%s", dirname(dir), board);
    }
    char *text;
    size_t len;
    qv_diag scratch;
    if (qv__part_read_file(path, MAX_PLATFORM_BYTES, &text, &len, &scratch))
        return yerr(y, at, "board file '%.128s' cannot be read: %.200s", board,
                    scratch.message);
    yaml_document_t doc;
    int rc = load_doc(text, len, path, &doc, y->diag), found = !need_link;
    if (rc) {
        free(text);
        return rc;
    }
    yr by = {&doc, path, y->diag};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = yerr(&by, root, "a board file is a mapping");
        goto out;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
         pr < root->data.mapping.pairs.top && !rc; pr++) {
        const char *ks = scalar(yaml_document_get_node(&doc, pr->key));
        yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
        if (!ks)
            continue;
        if (!strcmp(ks, "kind")) {
            const char *kind = scalar(v);
            if (!kind || strcmp(kind, r->cls))
                rc = yerr(&by, v,
                          "board kind '%.32s' is not the class '%s' of "
                          "resource '%s'",
                          kind ? kind : "?", r->cls, r->name);
        } else if (!strcmp(ks, "link") && need_link) {
            found = 1;
            rc = read_link(&by, v, 0, r);
        } else if (!strcmp(ks, "cost_per_hour") && need_cost) {
            rc = get_num(&by, v, "cost_per_hour", 0, 1e9, &r->cost_per_hour);
        } else if (!strcmp(ks, "name")) {
            rc = get_str(&by, v, "name", r->board_name, sizeof r->board_name);
        } else if (!strcmp(ks, "platform")) {
            rc = get_str(&by, v, "platform", r->board_platform, sizeof r->board_platform);
        } else if (!strcmp(ks, "emulation")) {
            const char *e = scalar(v);
            if (e && (!strcmp(e, "true") || !strcmp(e, "True") || !strcmp(e, "TRUE")))
                r->board_emulation = 1;
            else if (e &&
                     (!strcmp(e, "false") || !strcmp(e, "False") || !strcmp(e, "FALSE")))
                r->board_emulation = 0;
            else
                rc = yerr(&by, v, "emulation must be true or false");
        }
    }
    if (!rc && !found)
        rc = yerr(y, at,
                  "resource '%s' needs a link and board file '%.128s' has "
                  "none",
                  r->name, board);
out:
    yaml_document_delete(&doc);
    free(text);
    return rc;
}

static int read_resource(yr *y, yaml_node_t *m, qv_plat_res *r)
{
    memset(r, 0, sizeof *r);
    if (m->type != YAML_MAPPING_NODE)
        return yerr(y, m, "a resource must be a mapping {name, class, units, ...}");
    r->units = 1;
    r->speed = 1;
    int have_name = 0, have_class = 0, have_link = 0, have_cost = 0;
    char board[512] = "";
    yaml_node_t *link_at = m, *board_at = m;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start;
         pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, pr->value);
        const char *ks = scalar(k);
        double d = 0;
        int rc = 0;
        if (!ks) {
            rc = yerr(y, k, "keys must be plain strings");
        } else if (!strcmp(ks, "name")) {
            rc = get_str(y, v, "name", r->name, sizeof r->name);
            have_name = 1;
        } else if (!strcmp(ks, "class")) {
            rc = get_str(y, v, "class", r->cls, sizeof r->cls);
            have_class = 1;
        } else if (!strcmp(ks, "units")) {
            if (!(rc = get_num(y, v, "units", 1, MAX_UNITS, &d))) {
                if (d != floor(d))
                    rc = yerr(y, v, "units must be an integer");
                r->units = (uint32_t)d;
            }
        } else if (!strcmp(ks, "speed")) {
            rc = get_num(y, v, "speed", 1e-6, 1e6, &r->speed);
        } else if (!strcmp(ks, "cost_per_hour")) {
            rc = get_num(y, v, "cost_per_hour", 0, 1e9, &r->cost_per_hour);
            have_cost = 1;
        } else if (!strcmp(ks, "link")) {
            rc = read_link(y, v, 1, r);
            have_link = 1;
            link_at = k;
        } else if (!strcmp(ks, "board")) {
            rc = get_str(y, v, "board", board, sizeof board);
            board_at = v;
        } else {
            rc = yerr(y, k, "unknown key '%.64s' in resource (expected %s)", ks,
                      "name, class, units, speed, link, board, cost_per_hour");
        }
        if (rc)
            return rc;
    }
    if (!have_name || !have_class)
        return yerr(y, m, "a resource needs %s", !have_name ? "name" : "class");
    static const char *classes[] = {"cpu", "gpu", "fpga", "remote"};
    int known = 0;
    for (int k = 0; k < 4; k++)
        known |= !strcmp(r->cls, classes[k]);
    if (!known)
        return yerr(y, m,
                    "resource '%s': class '%s' is not cpu, gpu, fpga or "
                    "remote",
                    r->name, r->cls);
    r->host_memory = !strcmp(r->cls, "cpu");
    if (r->host_memory && have_link)
        return yerr(y, link_at,
                    "link: a cpu resource shares host memory and "
                    "has no link; remove it");
    if (board[0]) {
        int rc =
            read_board(y, board_at, board, !r->host_memory && !have_link, !have_cost, r);
        if (rc)
            return rc;
    } else if (!r->host_memory && !have_link) {
        return yerr(y, m,
                    "resource '%s' (class %s) needs link: "
                    "{bandwidth_gbs, latency_us} or a board with one",
                    r->name, r->cls);
    }
    return 0;
}

int qv_plat_parse(const char *text, size_t len, const char *fname, qv_plat **out,
                  qv_diag *diag)
{
    const char *f = fname ? fname : "<platform>";
    *out = NULL;
    if (len > MAX_PLATFORM_BYTES) {
        qv__part_diag(diag, f, 0, 0, "platform file larger than %zu bytes",
                      MAX_PLATFORM_BYTES);
        return -EFBIG;
    }
    yaml_document_t doc;
    int rc = load_doc(text, len, f, &doc, diag);
    if (rc)
        return rc;
    yr y = {&doc, f, diag};
    qv_plat_res res[MAX_RESOURCES];
    uint32_t nres = 0;
    char name[64] = "";
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *resources = NULL;
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = yerr(&y, root, "a platform file is a mapping with platform and resources");
        goto done;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
         pr < root->data.mapping.pairs.top && !rc; pr++) {
        yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
        const char *ks = scalar(k);
        if (ks && !strcmp(ks, "platform"))
            rc = get_str(&y, v, "platform", name, sizeof name);
        else if (ks && !strcmp(ks, "resources"))
            resources = v;
        else
            rc = yerr(&y, k, "unknown key '%.64s' (expected %s)", ks ? ks : "?",
                      "platform, resources");
    }
    if (rc)
        goto done;
    if (!name[0] || !resources) {
        rc = yerr(&y, root, "missing '%s'", !name[0] ? "platform" : "resources");
        goto done;
    }
    if (resources->type != YAML_SEQUENCE_NODE ||
        resources->data.sequence.items.top == resources->data.sequence.items.start) {
        rc = yerr(&y, resources, "resources must be a non-empty list");
        goto done;
    }
    uint32_t units = 0;
    for (yaml_node_item_t *it = resources->data.sequence.items.start;
         it < resources->data.sequence.items.top; it++) {
        yaml_node_t *m = yaml_document_get_node(&doc, *it);
        if (nres == MAX_RESOURCES) {
            rc = yerr(&y, m, "more than %d resources", MAX_RESOURCES);
            goto done;
        }
        if ((rc = read_resource(&y, m, &res[nres])))
            goto done;
        for (uint32_t r = 0; r < nres; r++)
            if (!strcmp(res[r].name, res[nres].name)) {
                rc = yerr(&y, m, "duplicate resource name '%s'", res[nres].name);
                goto done;
            }
        units += res[nres].units;
        if (units > MAX_UNITS) {
            rc = yerr(&y, m, "more than %d units in all", MAX_UNITS);
            goto done;
        }
        nres++;
    }
    rc = qv_plat_create(name, res, nres, out);
done:
    yaml_document_delete(&doc);
    return rc;
}

int qv_plat_load(const char *path, qv_plat **out, qv_diag *diag)
{
    char *text;
    size_t len;
    int rc = qv__part_read_file(path, MAX_PLATFORM_BYTES, &text, &len, diag);
    if (rc)
        return rc;
    rc = qv_plat_parse(text, len, path, out, diag);
    free(text);
    return rc;
}
