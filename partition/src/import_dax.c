/*
 * import_dax.c - Pegasus DAX 2.1 XML: <job id name runtime> with
 * <uses file link=input|output size>, and <child ref><parent ref/></child>.
 * CPU cost is the job's runtime (seconds); an edge carries the bytes of the
 * files the parent outputs and the child inputs, and a file a job uses
 * twice counts once; the function is the job's name (its transformation).
 * Repeated job ids, parents of one child and attributes are errors, and so
 * is what the graph format cannot hold (an empty name, byte counts past
 * 2^53). The XML is read by formats/xml.h
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

/* The files with link=`link` of job j into set (made by the caller), and
 * the size of each distinct one added to *sum, from 0: a file a job uses
 * twice is one file, at its first size, as its edges count it (two
 * identical <uses> made 200 bytes of a 100-byte output: adversarial
 * testing). */
static int files_of(const qv__xml_node *j, const char *link, qv__strmap *set,
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
        if ((rc = qv__part_strmap_put(set, fn, (uint64_t)sz)) <= 0) {
            if (rc < 0)
                return rc;
            continue;
        }
        if ((uint64_t)sz > ((uint64_t)1 << 53) - *sum) { /* *sum <= 2^53 */
            qv__part_diag(d, f, j->line, j->column,
                          "the %s files of <job> add up to more than 2^53 bytes", link);
            return QV_EFORMAT;
        }
        *sum += (uint64_t)sz;
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
    /* Each job's output and input files, made once with the job, not at
     * each <child> that names it (a job named by 20 000 of them took 40 s:
     * adversarial testing). */
    qv__strmap *outs = NULL, *ins = NULL;
    size_t nkid = 0;
    rc = QV_EFORMAT;
    if (!is(root, "adag")) {
        qv__part_diag(d, f, root->line, root->column, "root element must be <adag>");
        goto out;
    }
    const char *nm = qv__xml_attr(root, "name");
    for (const qv__xml_node *k = root->child; k; k = k->next)
        nkid++;
    outs = calloc(nkid + 1, sizeof *outs);
    ins = calloc(nkid + 1, sizeof *ins);
    if ((rc = qv__part_strmap_init(&jobs, nkid)) || !outs || !ins ||
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
        if (qv__part_strmap_put(&jobs, id, ni) == 0) {
            qv__part_diag(d, f, j->line, j->column, "duplicate job id \"%.64s\"", id);
            goto out;
        }
        /* Both sets made now, for the edges below; they grow as needed. */
        if ((rc = qv__part_strmap_init(&ins[ni], 0)) ||
            (rc = qv__part_strmap_init(&outs[ni], 0)) ||
            (rc = files_of(j, "input", &ins[ni], &g->bytes_in[ni], f, d)) ||
            (rc = files_of(j, "output", &outs[ni], &g->bytes_out[ni], f, d)))
            goto out;
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
        if ((rc = qv__part_strmap_init(&pars, 8)))
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
            /* What the parent passes is what the child reads of its
             * outputs (at the parent's sizes). */
            if ((rc = qv_dag_add_edge(g, (uint32_t)*pi, (uint32_t)*ci,
                                      qv__part_strmap_common(&outs[*pi], &ins[*ci]))))
                goto out;
            rc = QV_EFORMAT;
        }
        qv__part_strmap_fini(&pars);
    }
    *out = g;
    g = NULL;
    rc = 0;
out:
    for (size_t i = 0; outs && ins && i < nkid + 1; i++) { /* made only with both */
        qv__part_strmap_fini(&outs[i]);
        qv__part_strmap_fini(&ins[i]);
    }
    free(outs);
    free(ins);
    qv__part_strmap_fini(&jobs);
    qv__part_strmap_fini(&pars);
    qv_dag_destroy(g);
    qv__xml_free(root);
    return rc;
}
