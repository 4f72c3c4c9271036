/*
 * import_dax.c - Pegasus DAX 2.1 XML: <job id name runtime> with
 * <uses file link=input|output size>, and <child ref><parent ref/></child>.
 * CPU cost is the job's runtime (seconds); an edge carries the bytes of the
 * files the parent outputs and the child inputs; the function is the job's
 * name (its transformation). Repeated job ids, parents of one child and
 * attributes are errors, and so is what the graph format cannot hold (an
 * empty name, byte counts past 2^53). The XML is read by formats/xml.h
 * (expat: no DOCTYPE or entities, depth and size bounded).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "formats/xml.h"
#include "import.h"
#include "json.h"
#include "part.h"
#include "qv_text.h"
#include "strmap.h"

/* A DAX of a 100 000-job workflow has about a million elements; the input
 * is bounded by qv_dag_import's file size. */
static const qv__xml_limits dax_limits = {.max_bytes = SIZE_MAX,
                                          .max_elements = (size_t)1 << 22};

/* Whether e is the element `name`, whatever its namespace prefix. */
static int is(const qv__xml_node *e, const char *name)
{
    const char *colon = strchr(e->name, ':');
    return !strcmp(colon ? colon + 1 : e->name, name);
}

static int num_attr(const qv__xml_node *e, const char *a, double hi, double *out,
                    const char *f, qv_diag *d)
{
    const char *v = qv__xml_attr(e, a);
    char *end;
    /* Decimal only, as every other reader: strtod alone took C's hex
     * ("0x10" as 16, "0x1p-3") and "inf" (adversarial testing). */
    bool dec = v && (isdigit((unsigned char)*v) || *v == '.') &&
               v[strspn(v, "0123456789.eE+-")] == 0;
    double x = dec ? qv__strtod_c(v, &end) : 0;
    if (!dec || *end || !(x >= 0) || x > hi) {
        qv__part_diag(d, f, e->line, e->column,
                      "<%.64s> needs attribute %s, a number in [0, %g]", e->name, a, hi);
        return QV_EFORMAT;
    }
    *out = x;
    return 0;
}

/* Sum of sizes of files with link=`link` of job j that are in set (or all
 * when set is NULL); fills set when fill. */
static int files_of(const qv__xml_node *j, const char *link, qv__strmap *set, int fill,
                    uint64_t *sum, const char *f, qv_diag *d)
{
    *sum = 0;
    for (const qv__xml_node *u = j->child; u; u = u->next) {
        if (!is(u, "uses"))
            continue;
        const char *ln = qv__xml_attr(u, "link"), *fn = qv__xml_attr(u, "file");
        if (!ln || !fn) {
            qv__part_diag(d, f, u->line, u->column, "<uses> needs file and link");
            return QV_EFORMAT;
        }
        if (strcmp(ln, link))
            continue;
        double sz;
        int rc = num_attr(u, "size", QV__DAG_MAX_EXACT, &sz, f, d);
        if (rc)
            return rc;
        if (fill && (rc = qv__part_strmap_put(set, fn, (uint64_t)sz)) < 0)
            return rc;
        if (fill || !set || qv__part_strmap_get(set, fn)) {
            if ((uint64_t)sz > ((uint64_t)1 << 53) - *sum) { /* *sum <= 2^53 */
                qv__part_diag(d, f, j->line, j->column,
                              "the %s files of <job> add up to more than 2^53 bytes",
                              link);
                return QV_EFORMAT;
            }
            *sum += (uint64_t)sz;
        }
    }
    return 0;
}

int qv__part_import_dax(const char *text, size_t len, const char *f, qv_dag **out,
                        qv_diag *d)
{
    qv__xml_node *root;
    qv__xml_error xe;
    int rc = qv__xml_parse(text, len, &dax_limits, &root, &xe);
    if (rc) {
        qv__part_diag(d, f, (int)xe.line, (int)xe.column, "%s", xe.msg);
        return rc;
    }
    qv_dag *g = NULL;
    qv__strmap jobs = {0}, pars = {0};
    qv__strmap *outs = NULL; /* each job's output files, made when it is a parent */
    /* and its input files, made when it is a child: once, not at each
     * <child> that names it (a job named by 20 000 of them took 40 s:
     * adversarial testing) */
    qv__strmap *ins = NULL;
    const qv__xml_node **jel = NULL;
    rc = QV_EFORMAT;
    if (!is(root, "adag")) {
        qv__part_diag(d, f, root->line, root->column, "root element must be <adag>");
        goto out;
    }
    const char *nm = qv__xml_attr(root, "name");
    size_t nkid = 0;
    for (const qv__xml_node *k = root->child; k; k = k->next)
        nkid++;
    jel = calloc(nkid + 1, sizeof *jel);
    outs = calloc(nkid + 1, sizeof *outs);
    ins = calloc(nkid + 1, sizeof *ins);
    if ((rc = qv__part_strmap_init(&jobs, nkid)) || !jel || !outs || !ins ||
        (rc = qv_dag_create(nm ? nm : "dax", &g))) {
        rc = rc ? rc : QV_ENOMEM;
        goto out;
    }
    int cpu = qv_dag_class(g, "cpu");
    rc = QV_EFORMAT;
    for (const qv__xml_node *j = root->child; j; j = j->next) {
        if (!is(j, "job"))
            continue;
        const char *id = qv__xml_attr(j, "id"), *fn = qv__xml_attr(j, "name");
        double rt;
        if (!id || !fn || !*fn) {
            qv__part_diag(d, f, j->line, j->column,
                          "<job> needs an id and a non-empty name (its function)");
            goto out;
        }
        if ((rc = num_attr(j, "runtime", 1e9, &rt, f, d)))
            goto out;
        uint32_t ni;
        if ((rc = qv_dag_add_node(g, g->n, fn, &ni)))
            goto out;
        rc = QV_EFORMAT;
        g->cost[(size_t)ni * g->nclass + (uint32_t)cpu] = rt * 1e6;
        jel[ni] = j;
        if (qv__part_strmap_put(&jobs, id, ni) == 0) {
            qv__part_diag(d, f, j->line, j->column, "duplicate job id \"%.64s\"", id);
            goto out;
        }
        uint64_t s;
        if ((rc = files_of(j, "input", NULL, 0, &s, f, d)))
            goto out;
        g->bytes_in[ni] = s;
        if ((rc = files_of(j, "output", NULL, 0, &s, f, d)))
            goto out;
        g->bytes_out[ni] = s;
        g->memory[ni] = g->bytes_in[ni] + g->bytes_out[ni];
        rc = QV_EFORMAT;
        if (g->memory[ni] > (uint64_t)1 << 53) {
            qv__part_diag(d, f, j->line, j->column,
                          "the files of <job> add up to more than 2^53 bytes");
            goto out;
        }
    }
    for (const qv__xml_node *c = root->child; c; c = c->next) {
        if (!is(c, "child"))
            continue;
        const char *ref = qv__xml_attr(c, "ref");
        uint64_t *ci = ref ? qv__part_strmap_get(&jobs, ref) : NULL;
        if (!ci) {
            qv__part_diag(d, f, c->line, c->column, "<child> names no known job");
            goto out;
        }
        uint64_t s;
        qv__strmap *ci_in = &ins[*ci];
        if ((rc = qv__part_strmap_init(&pars, 8)) ||
            (!ci_in->cap && ((rc = qv__part_strmap_init(ci_in, 8)) ||
                             (rc = files_of(jel[*ci], "input", ci_in, 1, &s, f, d)))))
            goto out;
        rc = QV_EFORMAT;
        for (const qv__xml_node *pe = c->child; pe; pe = pe->next) {
            if (!is(pe, "parent"))
                continue;
            const char *pr = qv__xml_attr(pe, "ref");
            uint64_t *pi = pr ? qv__part_strmap_get(&jobs, pr) : NULL;
            if (!pi || *pi == *ci) {
                qv__part_diag(d, f, pe->line, pe->column,
                              "<parent> names no known job, or the child itself");
                goto out;
            }
            int put = qv__part_strmap_put(&pars, pr, 0);
            if (put <= 0) {
                if (put == 0)
                    qv__part_diag(d, f, pe->line, pe->column,
                                  "<parent ref=\"%.64s\"> is listed twice", pr);
                rc = put < 0 ? put : QV_EFORMAT;
                goto out;
            }
            /* The parent's outputs as a set, made once: what it passes is
             * what the child reads of them (at the parent's sizes). */
            qv__strmap *po = &outs[*pi];
            if (!po->cap && ((rc = qv__part_strmap_init(po, 8)) ||
                             (rc = files_of(jel[*pi], "output", po, 1, &s, f, d))))
                goto out;
            if ((rc = qv_dag_add_edge(g, (uint32_t)*pi, (uint32_t)*ci,
                                      qv__part_strmap_common(po, ci_in))))
                goto out;
            rc = QV_EFORMAT;
        }
        qv__part_strmap_fini(&pars);
    }
    *out = g;
    g = NULL;
    rc = 0;
out:
    for (size_t i = 0; jel && i < nkid + 1; i++) {
        if (outs)
            qv__part_strmap_fini(&outs[i]);
        if (ins)
            qv__part_strmap_fini(&ins[i]);
    }
    free(outs);
    free(ins);
    qv__part_strmap_fini(&jobs);
    qv__part_strmap_fini(&pars);
    free(jel);
    qv_dag_destroy(g);
    qv__xml_free(root);
    return rc;
}
