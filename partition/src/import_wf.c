/*
 * import_wf.c - WfFormat 1.5 JSON (WfCommons): tasks and files from
 * workflow.specification, runtimes from workflow.execution. CPU cost is the
 * recorded runtime; an edge carries the bytes of the files the parent writes
 * and the child reads, and a file a task lists twice counts once. The
 * function of a task is its "category" when given, else its name without
 * the Pegasus "_ID..." suffix. Repeated task, file and parent ids are
 * errors, and so is what the graph format cannot hold (an empty function
 * name, byte counts past 2^53 or with a fraction); a task's "children",
 * when given, must name it among their "parents".
 */
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "json.h"
#include "part.h"
#include "qv_escape.h"
#include "strmap.h"

static const qv__jval *need(const qv__jval *o, const char *key, qv__jtype t,
                            const char *f, qv_diag *d)
{
    const qv__jval *v = qv__part_json_get(o, key);
    if (!v || v->type != t) {
        const char *tn = qv__part_json_type_name(t);
        qv__part_diag(d, f, (v ? v : o)->line, (v ? v : o)->col, "\"%s\" must be %s %s",
                      key, strchr("aeiou", tn[0]) ? "an" : "a", tn);
        return NULL;
    }
    return v;
}

static int key_order(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A task's "children" must be known tasks that name it among their
 * "parents", where the edges come from: a child whose parents left the
 * task out lost that dependency without a word (adversarial testing). The
 * edges made so far (g's, parent << 32 | child) sorted, each child looked
 * up: linear in the edges and children but for the sort. */
static int check_children(const qv__jval *tl, qv__strmap *tasks, const qv_dag *g,
                          const char *f, qv_diag *d)
{
    uint64_t *keys = malloc((g->m ? g->m : 1) * sizeof *keys);
    if (!keys)
        return QV_ENOMEM;
    for (uint32_t e = 0; e < g->m; e++)
        keys[e] = (uint64_t)g->esrc[e] << 32 | g->edst[e];
    qsort(keys, g->m, sizeof *keys, key_order);
    int rc = 0;
    for (size_t i = 0; !rc && i < tl->u.arr.n; i++) {
        const qv__jval *t = tl->u.arr.v[i], *ch = qv__part_json_get(t, "children");
        if (ch && ch->type != QV__JARR) {
            qv__part_diag(d, f, ch->line, ch->col, "children must be an array");
            rc = QV_EFORMAT;
        }
        for (size_t j = 0; !rc && ch && j < ch->u.arr.n; j++) {
            const qv__jval *cn = ch->u.arr.v[j];
            uint64_t *ci =
                cn->type == QV__JSTR ? qv__part_strmap_get(tasks, cn->u.str.s) : NULL;
            uint64_t key = ci ? (uint64_t)i << 32 | (uint32_t)*ci : 0;
            if (!ci) {
                qv__part_diag(d, f, cn->line, cn->col, "unknown child task");
                rc = QV_EFORMAT;
            } else if (!bsearch(&key, keys, g->m, sizeof *keys, key_order)) {
                qv__part_diag(d, f, cn->line, cn->col,
                              "child \"%.64s\" does not name this task among its parents",
                              cn->u.str.s);
                rc = QV_EFORMAT;
            }
        }
    }
    free(keys);
    return rc;
}

/* *acc += add, refused past 2^53 (what the graph format holds) with the
 * task's line and column. */
static int add_bytes(uint64_t *acc, uint64_t add, const char *what, const qv__jval *t,
                     const char *f, qv_diag *d)
{
    const uint64_t max = (uint64_t)1 << 53; /* *acc <= max on entry */
    if (add > max - *acc) {
        qv__part_diag(d, f, t->line, t->col,
                      "the task's %s files add up to more than 2^53 bytes", what);
        return QV_EFORMAT;
    }
    *acc += add;
    return 0;
}

/* The files named in arr (NULL: none) into set, made here, and the bytes
 * of each distinct one added to *acc: a file listed twice is one file, as
 * the edges count it (outputs listed three times were counted three times,
 * adversarial testing). what: "input" or "output", for the messages. */
static int sum_files(const qv__jval *arr, qv__strmap *files, qv__strmap *set,
                     const char *what, uint64_t *acc, const qv__jval *t, const char *f,
                     qv_diag *d)
{
    size_t n = arr ? arr->u.arr.n : 0;
    int rc = qv__part_strmap_init(set, n);
    for (size_t j = 0; !rc && j < n; j++) {
        const qv__jval *fn = arr->u.arr.v[j];
        uint64_t *sz =
            fn->type == QV__JSTR ? qv__part_strmap_get(files, fn->u.str.s) : NULL;
        if (!sz) {
            qv__part_diag(d, f, fn->line, fn->col, "unknown %s file", what);
            return QV_EFORMAT;
        }
        rc = qv__part_strmap_put(set, fn->u.str.s, *sz);
        if (rc > 0)
            rc = add_bytes(acc, *sz, what, t, f, d);
    }
    return rc;
}

int qv__part_import_wfformat(const char *text, size_t len, const char *f, qv_dag **out,
                             qv_diag *d)
{
    qv__jval *root;
    int rc = qv__part_json_parse(text, len, f, &root, d);
    if (rc)
        return rc;
    qv_dag *g = NULL;
    qv__strmap files = {0}, tasks = {0}, runs = {0}, ins = {0}, outset = {0}, pars = {0};
    qv__strmap *outs = NULL; /* each task's output files, made when it is a parent */
    size_t ntask = 0;
    const qv__jval *wf, *spec, *ex, *tl, *fl, *xl;
    rc = QV_EFORMAT;
    if (!(wf = need(root, "workflow", QV__JOBJ, f, d)) ||
        !(spec = need(wf, "specification", QV__JOBJ, f, d)) ||
        !(ex = need(wf, "execution", QV__JOBJ, f, d)) ||
        !(tl = need(spec, "tasks", QV__JARR, f, d)) ||
        !(fl = need(spec, "files", QV__JARR, f, d)) ||
        !(xl = need(ex, "tasks", QV__JARR, f, d)))
        goto out;
    if (qv__part_strmap_init(&files, fl->u.arr.n) ||
        qv__part_strmap_init(&tasks, tl->u.arr.n) ||
        qv__part_strmap_init(&runs, xl->u.arr.n)) {
        rc = QV_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < fl->u.arr.n; i++) {
        const qv__jval *fe = fl->u.arr.v[i], *id, *sz;
        if (!(id = need(fe, "id", QV__JSTR, f, d)) ||
            !(sz = need(fe, "sizeInBytes", QV__JNUM, f, d)))
            goto out;
        if (!(sz->u.num >= 0 && sz->u.num <= QV__DAG_MAX_EXACT) ||
            sz->u.num != (double)(uint64_t)sz->u.num) { /* 1.5 was taken as 1 */
            qv__part_diag(d, f, sz->line, sz->col,
                          "file size must be a whole number of bytes in [0, 2^53]");
            goto out;
        }
        int put = qv__part_strmap_put(&files, id->u.str.s, (uint64_t)sz->u.num);
        if (put < 0) {
            rc = QV_ENOMEM;
            goto out;
        }
        if (put == 0) {
            qv__part_diag(d, f, id->line, id->col, "duplicate file id \"%.64s\"",
                          id->u.str.s);
            goto out;
        }
    }
    for (size_t i = 0; i < xl->u.arr.n; i++) {
        const qv__jval *id = need(xl->u.arr.v[i], "id", QV__JSTR, f, d);
        if (!id)
            goto out;
        int put = qv__part_strmap_put(&runs, id->u.str.s, i);
        if (put < 0) {
            rc = QV_ENOMEM;
            goto out;
        }
        if (put == 0) {
            qv__part_diag(d, f, id->line, id->col,
                          "duplicate task id \"%.64s\" in workflow.execution.tasks",
                          id->u.str.s);
            goto out;
        }
    }
    const qv__jval *nm = qv__part_json_get(root, "name");
    if ((rc = qv_dag_create(nm && nm->type == QV__JSTR ? nm->u.str.s : "workflow", &g)))
        goto out;
    int cpu = qv_dag_class(g, "cpu");
    rc = QV_EFORMAT;
    for (size_t i = 0; i < tl->u.arr.n; i++) {
        const qv__jval *t = tl->u.arr.v[i], *id, *name;
        if (!(id = need(t, "id", QV__JSTR, f, d)) ||
            !(name = need(t, "name", QV__JSTR, f, d)))
            goto out;
        char func[128];
        const qv__jval *cat = qv__part_json_get(t, "category");
        if (cat && cat->type == QV__JSTR && cat->u.str.len) {
            snprintf(func, sizeof func, "%s", cat->u.str.s);
        } else {
            snprintf(func, sizeof func, "%s", name->u.str.s);
            char *cut = strstr(func, "_ID");
            if (cut && cut != func)
                *cut = 0;
        }
        qv__utf8_trim(func); /* a long name is cut at a character */
        if (!func[0]) {
            qv__part_diag(d, f, t->line, t->col,
                          "task \"%.64s\" has an empty name and no category: a graph "
                          "node needs a function name",
                          id->u.str.s);
            goto out;
        }
        uint64_t *ri = qv__part_strmap_get(&runs, id->u.str.s);
        const qv__jval *rt =
            ri ? qv__part_json_get(xl->u.arr.v[*ri], "runtimeInSeconds") : NULL;
        if (!rt || rt->type != QV__JNUM || !(rt->u.num >= 0) || rt->u.num > 1e9) {
            qv__part_diag(d, f, t->line, t->col,
                          "task \"%.64s\" has no valid runtimeInSeconds in "
                          "workflow.execution.tasks",
                          id->u.str.s);
            goto out;
        }
        uint32_t ni;
        if ((rc = qv_dag_add_node(g, (int64_t)i, func, &ni)))
            goto out;
        rc = QV_EFORMAT;
        g->cost[(size_t)ni * g->nclass + (uint32_t)cpu] = rt->u.num * 1e6;
        if (qv__part_strmap_put(&tasks, id->u.str.s, ni) == 0) {
            qv__part_diag(d, f, id->line, id->col, "duplicate task id \"%.64s\"",
                          id->u.str.s);
            goto out;
        }
    }
    ntask = tl->u.arr.n;
    if (!(outs = calloc(ntask ? ntask : 1, sizeof *outs))) {
        rc = QV_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < tl->u.arr.n; i++) {
        const qv__jval *t = tl->u.arr.v[i];
        const qv__jval *par = qv__part_json_get(t, "parents");
        const qv__jval *inf = qv__part_json_get(t, "inputFiles");
        const qv__jval *outf = qv__part_json_get(t, "outputFiles");
        if ((par && par->type != QV__JARR) || (inf && inf->type != QV__JARR) ||
            (outf && outf->type != QV__JARR)) {
            qv__part_diag(d, f, t->line, t->col,
                          "parents, inputFiles and outputFiles must be arrays");
            goto out;
        }
        if ((rc = sum_files(inf, &files, &ins, "input", &g->bytes_in[i], t, f, d)) ||
            (rc = sum_files(outf, &files, &outset, "output", &g->bytes_out[i], t, f, d)))
            goto out;
        qv__part_strmap_fini(&outset);
        rc = QV_EFORMAT;
        g->memory[i] = g->bytes_in[i];
        if (add_bytes(&g->memory[i], g->bytes_out[i], "input and output", t, f, d))
            goto out;
        if ((rc = qv__part_strmap_init(&pars, par ? par->u.arr.n : 0)))
            goto out;
        rc = QV_EFORMAT;
        for (size_t j = 0; par && j < par->u.arr.n; j++) {
            const qv__jval *pn = par->u.arr.v[j];
            uint64_t *pi =
                pn->type == QV__JSTR ? qv__part_strmap_get(&tasks, pn->u.str.s) : NULL;
            if (!pi) {
                qv__part_diag(d, f, pn->line, pn->col, "unknown parent task");
                goto out;
            }
            int put = qv__part_strmap_put(&pars, pn->u.str.s, 0);
            if (put <= 0) {
                if (put == 0)
                    qv__part_diag(d, f, pn->line, pn->col,
                                  "parent \"%.64s\" is listed twice", pn->u.str.s);
                rc = put < 0 ? put : QV_EFORMAT;
                goto out;
            }
            /* The parent's outputs as a set, made once (its output
             * files were checked when it was the child). */
            qv__strmap *po = &outs[*pi];
            if (!po->cap) {
                const qv__jval *pout = qv__part_json_get(tl->u.arr.v[*pi], "outputFiles");
                size_t no = pout && pout->type == QV__JARR ? pout->u.arr.n : 0;
                if ((rc = qv__part_strmap_init(po, no)))
                    goto out;
                for (size_t k = 0; k < no; k++) {
                    const qv__jval *fn = pout->u.arr.v[k];
                    uint64_t *sz = fn->type == QV__JSTR
                                       ? qv__part_strmap_get(&files, fn->u.str.s)
                                       : NULL;
                    if (sz && (rc = qv__part_strmap_put(po, fn->u.str.s, *sz)) < 0)
                        goto out;
                }
                rc = QV_EFORMAT;
            }
            uint64_t bytes = qv__part_strmap_common(po, &ins);
            if ((uint32_t)*pi == (uint32_t)i) {
                qv__part_diag(d, f, pn->line, pn->col, "task is its own parent");
                goto out;
            }
            if ((rc = qv_dag_add_edge(g, (uint32_t)*pi, (uint32_t)i, bytes)))
                goto out;
            rc = QV_EFORMAT;
        }
        qv__part_strmap_fini(&ins);
        qv__part_strmap_fini(&pars);
    }
    if ((rc = check_children(tl, &tasks, g, f, d)))
        goto out;
    *out = g;
    g = NULL;
    rc = 0;
out:
    for (size_t i = 0; outs && i < ntask; i++)
        qv__part_strmap_fini(&outs[i]);
    free(outs);
    qv__part_strmap_fini(&ins);
    qv__part_strmap_fini(&outset);
    qv__part_strmap_fini(&pars);
    qv__part_strmap_fini(&files);
    qv__part_strmap_fini(&tasks);
    qv__part_strmap_fini(&runs);
    qv_dag_destroy(g);
    qv__part_json_free(root);
    return rc;
}
