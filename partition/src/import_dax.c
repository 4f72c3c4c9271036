/*
 * import_dax.c - Pegasus DAX 2.1 XML: <job id name runtime> with
 * <uses file link=input|output size>, and <child ref><parent ref/></child>.
 * CPU cost is the job's runtime (seconds); an edge carries the bytes of the
 * files the parent outputs and the child inputs; the function is the job's
 * name (its transformation). Repeated job ids, parents of one child and
 * attributes are errors, and so is what the graph format cannot hold (an
 * empty name, byte counts past 2^53).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "json.h"
#include "part.h"
#include "strmap.h"
#include "xml.h"

static int num_attr(const qv__xel *e, const char *a, double hi, double *out,
                    const char *f, qv_diag *d)
{
    const char *v = qv__part_xml_attr(e, a);
    char *end;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || !(x >= 0) || x > hi) {
        qv__part_diag(d, f, e->line, e->col,
                      "<%.64s> needs attribute %s, a number in [0, %g]", e->name, a, hi);
        return -EINVAL;
    }
    *out = x;
    return 0;
}

/* Sum of sizes of files with link=`link` of job j that are in set (or all
 * when set is NULL); fills set when fill. */
static int files_of(const qv__xel *j, const char *link, qv__strmap *set, int fill,
                    uint64_t *sum, const char *f, qv_diag *d)
{
    *sum = 0;
    for (size_t k = 0; k < j->nkid; k++) {
        const qv__xel *u = j->kid[k];
        if (strcmp(u->name, "uses"))
            continue;
        const char *ln = qv__part_xml_attr(u, "link"), *fn = qv__part_xml_attr(u, "file");
        if (!ln || !fn) {
            qv__part_diag(d, f, u->line, u->col, "<uses> needs file and link");
            return -EINVAL;
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
                qv__part_diag(d, f, j->line, j->col,
                              "the %s files of <job> add up to more than 2^53 bytes",
                              link);
                return -EINVAL;
            }
            *sum += (uint64_t)sz;
        }
    }
    return 0;
}

int qv__part_import_dax(const char *text, size_t len, const char *f, qv_dag **out,
                        qv_diag *d)
{
    qv__xel *root;
    int rc = qv__part_xml_parse(text, len, f, &root, d);
    if (rc)
        return rc;
    qv_dag *g = NULL;
    qv__strmap jobs = {0}, ins = {0}, pars = {0};
    const qv__xel **jel = NULL;
    rc = -EINVAL;
    if (strcmp(root->name, "adag")) {
        qv__part_diag(d, f, root->line, root->col, "root element must be <adag>");
        goto out;
    }
    const char *nm = qv__part_xml_attr(root, "name");
    jel = calloc(root->nkid + 1, sizeof *jel);
    if ((rc = qv__part_strmap_init(&jobs, root->nkid)) || !jel ||
        (rc = qv_dag_create(nm ? nm : "dax", &g))) {
        rc = rc ? rc : -ENOMEM;
        goto out;
    }
    int cpu = qv_dag_class(g, "cpu");
    rc = -EINVAL;
    for (size_t k = 0; k < root->nkid; k++) {
        const qv__xel *j = root->kid[k];
        if (strcmp(j->name, "job"))
            continue;
        const char *id = qv__part_xml_attr(j, "id"), *fn = qv__part_xml_attr(j, "name");
        double rt;
        if (!id || !fn || !*fn) {
            qv__part_diag(d, f, j->line, j->col,
                          "<job> needs an id and a non-empty name (its function)");
            goto out;
        }
        if ((rc = num_attr(j, "runtime", 1e9, &rt, f, d)))
            goto out;
        uint32_t ni;
        if ((rc = qv_dag_add_node(g, g->n, fn, &ni)))
            goto out;
        rc = -EINVAL;
        g->cost[(size_t)ni * g->nclass + (uint32_t)cpu] = rt * 1e6;
        jel[ni] = j;
        if (qv__part_strmap_put(&jobs, id, ni) == 0) {
            qv__part_diag(d, f, j->line, j->col, "duplicate job id \"%.64s\"", id);
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
        rc = -EINVAL;
        if (g->memory[ni] > (uint64_t)1 << 53) {
            qv__part_diag(d, f, j->line, j->col,
                          "the files of <job> add up to more than 2^53 bytes");
            goto out;
        }
    }
    for (size_t k = 0; k < root->nkid; k++) {
        const qv__xel *c = root->kid[k];
        if (strcmp(c->name, "child"))
            continue;
        const char *ref = qv__part_xml_attr(c, "ref");
        uint64_t *ci = ref ? qv__part_strmap_get(&jobs, ref) : NULL;
        if (!ci) {
            qv__part_diag(d, f, c->line, c->col, "<child> names no known job");
            goto out;
        }
        uint64_t s;
        if ((rc = qv__part_strmap_init(&ins, 8)) ||
            (rc = qv__part_strmap_init(&pars, 8)) ||
            (rc = files_of(jel[*ci], "input", &ins, 1, &s, f, d)))
            goto out;
        rc = -EINVAL;
        for (size_t q = 0; q < c->nkid; q++) {
            const qv__xel *pe = c->kid[q];
            if (strcmp(pe->name, "parent"))
                continue;
            const char *pr = qv__part_xml_attr(pe, "ref");
            uint64_t *pi = pr ? qv__part_strmap_get(&jobs, pr) : NULL;
            if (!pi || *pi == *ci) {
                qv__part_diag(d, f, pe->line, pe->col,
                              "<parent> names no known job, or the child itself");
                goto out;
            }
            int put = qv__part_strmap_put(&pars, pr, 0);
            if (put <= 0) {
                if (put == 0)
                    qv__part_diag(d, f, pe->line, pe->col,
                                  "<parent ref=\"%.64s\"> is listed twice", pr);
                rc = put < 0 ? put : -EINVAL;
                goto out;
            }
            if ((rc = files_of(jel[*pi], "output", &ins, 0, &s, f, d)) ||
                (rc = qv_dag_add_edge(g, (uint32_t)*pi, (uint32_t)*ci, s)))
                goto out;
            rc = -EINVAL;
        }
        qv__part_strmap_fini(&ins);
        qv__part_strmap_fini(&pars);
    }
    *out = g;
    g = NULL;
    rc = 0;
out:
    qv__part_strmap_fini(&jobs);
    qv__part_strmap_fini(&ins);
    qv__part_strmap_fini(&pars);
    free(jel);
    qv_dag_destroy(g);
    qv__part_xml_free(root);
    return rc;
}
