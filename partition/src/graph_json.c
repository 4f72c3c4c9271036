/*
 * graph_json.c - reads and writes the .qvg.json graph format (docs/partition.md, docs/formats.md).
 * Readers accept extra keys and ignore them; everything the format defines
 * is checked (types, ranges, unique ids, edges between known nodes, each
 * pair once, no cycle), and an error names the file and the line:column or
 * the node id.
 * qv_dag_check applies the same rules to a graph in memory, so that what
 * qv_dag_write writes (an import, a generated graph, the runtime's recorded
 * graph) is what this reader accepts. This is the one writer of the format:
 * the runtime converts its recorded graph into a qv_dag
 * (host/src/trace/to_dag.c), whose optional run keys (qv_dag_run, the
 * graph's span_us and critical_path_us) are read back like the rest.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "part.h"
#include "qv_escape.h"
#include "qv_text.h"

#define MAX_EXACT   QV__DAG_MAX_EXACT
#define MAX_COST_US QV__DAG_MAX_COST_US
#define EXACT_INT   ((int64_t)1 << 53) /* MAX_EXACT, compared as an integer */

typedef struct idx_pair {
    int64_t id;
    uint32_t idx;
} idx_pair;

static int cmp_pair(const void *a, const void *b)
{
    const idx_pair *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_pair_idx(const void *a, const void *b)
{
    const idx_pair *x = a, *y = b;
    int c = cmp_pair(a, b);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* The first edge of g (in the file's order) whose node pair an earlier edge
 * already has, that earlier edge in *first; UINT32_MAX when every pair is
 * listed once. An edge carries all the bytes its source hands to its
 * destination, so a pair listed twice is an error (the runtime, the
 * importers and the generators merge them), not two transfers. *err gets
 * QV_ENOMEM when there is no memory to look. */
static uint32_t dup_edge(const qv_dag *g, uint32_t *first, int *err)
{
    uint32_t found = UINT32_MAX;
    idx_pair *e = malloc(((size_t)g->m + 1) * sizeof *e);
    *err = e ? 0 : QV_ENOMEM;
    if (!e)
        return found;
    for (uint32_t i = 0; i < g->m; i++)
        e[i] = (idx_pair){(int64_t)((uint64_t)g->esrc[i] << 32 | g->edst[i]), i};
    qsort(e, g->m, sizeof *e, cmp_pair_idx);
    /* Sorted by pair, then by index: the second of each pair's run is its
     * first repeat, the run's first element the edge it repeats. */
    for (uint32_t i = 1; i < g->m; i++)
        if (e[i].id == e[i - 1].id && (i < 2 || e[i - 2].id != e[i].id) &&
            e[i].idx < found) {
            found = e[i].idx;
            *first = e[i - 1].idx;
        }
    free(e);
    return found;
}

__attribute__((format(printf, 4, 5))) static int
bad(qv_diag *d, const char *f, const qv__jval *v, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qv__part_diag(d, f, v ? v->line : 0, v ? v->col : 0, "%s", msg);
    return QV_EFORMAT;
}

/* An integer in [lo, hi] as a double without fraction. */
static int get_int(const qv__jval *o, const char *key, int required, double lo, double hi,
                   double *out, const char *f, qv_diag *d)
{
    const qv__jval *v = qv__part_json_get(o, key);
    if (!v) {
        if (required) {
            qv__part_diag(d, f, o->line, o->col, "missing \"%s\"", key);
            return QV_EFORMAT;
        }
        *out = 0;
        return 0;
    }
    /* Compared as written (isint), or as read when that is exact: 2^53 + 1
     * read as a double is 2^53, which is in range. */
    if (v->type != QV__JNUM || !v->exact ||
        (v->isint ? (double)v->u.inum < lo || (double)v->u.inum > hi ||
                        v->u.inum < -(int64_t)9007199254740992 ||
                        v->u.inum > (int64_t)9007199254740992
                  : v->u.num != floor(v->u.num) || v->u.num < lo || v->u.num > hi)) {
        qv__part_diag(d, f, v->line, v->col, "\"%s\" must be an integer in [%.0f, %.0f]",
                      key, lo, hi);
        return QV_EFORMAT;
    }
    *out = v->u.num;
    return 0;
}

/* An optional number in [0, 1e15] (times in µs); *out is kept when absent. */
static int get_time(const qv__jval *o, const char *key, double *out, const char *f,
                    qv_diag *d)
{
    const qv__jval *v = qv__part_json_get(o, key);
    if (!v)
        return 0;
    if (v->type != QV__JNUM || !(v->u.num >= 0) || v->u.num > MAX_COST_US) {
        qv__part_diag(d, f, v->line, v->col, "\"%s\" must be a number in [0, 1e15]", key);
        return QV_EFORMAT;
    }
    *out = v->u.num;
    return 0;
}

/* The run keys of node ni of a recorded graph (device, worker, start_us,
 * critical, board_us), all optional. g->run (nnodes entries) is made at the
 * first node that has one; device names one of the node's cost classes. */
static int read_run(qv_dag *g, uint32_t ni, const qv__jval *nd, size_t nnodes, double id,
                    const char *f, qv_diag *d)
{
    static const char *const keys[] = {"device", "worker", "start_us", "critical",
                                       "board_us"};
    int any = 0;
    for (int k = 0; k < 5; k++)
        any |= qv__part_json_get(nd, keys[k]) != NULL;
    if (!any)
        return 0;
    if (!g->run) {
        if (!(g->run = calloc(nnodes + 1, sizeof *g->run)))
            return QV_ENOMEM;
        for (size_t i = 0; i <= nnodes; i++)
            g->run[i].device = -1;
    }
    qv_dag_run *r = &g->run[ni];
    const qv__jval *v = qv__part_json_get(nd, "device");
    if (v) {
        for (uint32_t k = 0; v->type == QV__JSTR && k < g->nclass; k++)
            if (!strcmp(g->class_name[k], v->u.str.s) &&
                !isinf(g->cost[(size_t)ni * g->nclass + k]))
                r->device = (int32_t)k;
        if (r->device < 0) {
            qv__part_diag(d, f, v->line, v->col,
                          "node %.0f: \"device\" must name a class of its \"cost_us\"",
                          id);
            return QV_EFORMAT;
        }
    }
    double w = 0;
    int rc = get_int(nd, "worker", 0, 0, 4294967295.0, &w, f, d);
    if (!rc)
        rc = get_time(nd, "start_us", &r->start_us, f, d);
    if (!rc)
        rc = get_time(nd, "board_us", &r->board_us, f, d);
    if (rc)
        return rc;
    r->worker = (uint32_t)w;
    if ((v = qv__part_json_get(nd, "critical"))) {
        if (v->type != QV__JBOOL) {
            qv__part_diag(d, f, v->line, v->col,
                          "node %.0f: \"critical\" must be true or false", id);
            return QV_EFORMAT;
        }
        r->critical = v->u.b != 0;
    }
    return 0;
}

static bool in(const char *key, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(key, set[i]))
            return true;
    return false;
}

/* The members this reader reads; the format ignores the others, which are
 * checked and not kept (qv__part_json_parse_keep). */
static bool graph_keeps(void *arg, const char *const *path, int npath, const char *key)
{
    (void)arg;
    static const char *const top[] = {"format", "version", "name", "nodes",
                                      "edges", "span_us", "critical_path_us"};
    static const char *const node[] = {"id",     "function", "cost_us",  "bytes_in",
                                       "bytes_out", "memory", "device", "worker",
                                       "start_us", "critical", "board_us"};
    static const char *const edge[] = {"src", "dst", "bytes"};
    if (npath == 0)
        return in(key, top, sizeof top / sizeof *top);
    if (npath == 1 && !strcmp(path[0], "nodes"))
        return in(key, node, sizeof node / sizeof *node);
    if (npath == 1 && !strcmp(path[0], "edges"))
        return in(key, edge, sizeof edge / sizeof *edge);
    return true; /* a node's cost_us: every class */
}

int qv_dag_parse(const char *text, size_t len, const char *fname, qv_dag **out,
                 qv_diag *diag)
{
    const char *f = fname ? fname : "<graph>";
    qv__jval *root;
    *out = NULL;
    int rc = qv__part_json_parse_keep(text, len, f, graph_keeps, NULL, &root, diag);
    if (rc) {
        /* XML (a Pegasus DAX given to `quiver plan`): said what it is and
         * how to read it, not only that '<' is no JSON value. */
        size_t i = 0;
        while (i < len &&
               (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
            i++;
        if (rc == QV_EINVAL && diag && i < len && text[i] == '<') {
            size_t m = strlen(diag->message);
            snprintf(diag->message + m, sizeof diag->message - m,
                     " (XML, a DAX workflow? `quiver graph import FILE -o GRAPH.json` "
                     "converts one)");
        }
        return rc == QV_EINVAL ? QV_EFORMAT : rc; /* a syntax error */
    }
    qv_dag *g = NULL;
    idx_pair *map = NULL;
    rc = QV_EFORMAT;
    if (root->type != QV__JOBJ) {
        bad(diag, f, root, "the graph must be a JSON %s", "object");
        goto done;
    }
    const qv__jval *fmt = qv__part_json_get(root, "format");
    if (!fmt || fmt->type != QV__JSTR || strcmp(fmt->u.str.s, "quiver-graph")) {
        bad(diag, f, fmt ? fmt : root, "%s", "\"format\" must be \"quiver-graph\"");
        goto done;
    }
    double ver;
    if ((rc = get_int(root, "version", 1, 1, 1e9, &ver, f, diag)))
        goto done;
    rc = QV_EFORMAT;
    if (ver != 1) {
        bad(diag, f, qv__part_json_get(root, "version"),
            "unsupported version (this reader knows %s)", "1");
        goto done;
    }
    const qv__jval *name = qv__part_json_get(root, "name");
    if (name && name->type != QV__JSTR) {
        bad(diag, f, name, "\"name\" must be a %s", "string");
        goto done;
    }
    const qv__jval *nodes = qv__part_json_get(root, "nodes");
    const qv__jval *edges = qv__part_json_get(root, "edges");
    if (!nodes || nodes->type != QV__JARR) {
        bad(diag, f, nodes ? nodes : root, "\"nodes\" must be an %s", "array");
        goto done;
    }
    if (!edges || edges->type != QV__JARR) {
        bad(diag, f, edges ? edges : root, "\"edges\" must be an %s", "array");
        goto done;
    }
    if (nodes->u.arr.n > QV_DAG_MAX_NODES || edges->u.arr.n > QV_DAG_MAX_EDGES) {
        bad(diag, f, nodes, "%s", "too many nodes or edges");
        goto done;
    }
    if ((rc = qv_dag_create(name ? name->u.str.s : "graph", &g)))
        goto done;
    if ((rc = get_time(root, "span_us", &g->span_us, f, diag)) ||
        (rc = get_time(root, "critical_path_us", &g->critical_path_us, f, diag)))
        goto done;
    rc = QV_EFORMAT;
    for (size_t i = 0; i < nodes->u.arr.n; i++) {
        const qv__jval *nd = nodes->u.arr.v[i];
        rc = QV_EFORMAT;
        if (nd->type != QV__JOBJ) {
            bad(diag, f, nd, "a node must be an %s", "object");
            goto done;
        }
        double id;
        if ((rc = get_int(nd, "id", 1, -MAX_EXACT, MAX_EXACT, &id, f, diag)))
            goto done;
        rc = QV_EFORMAT;
        const qv__jval *fn = qv__part_json_get(nd, "function");
        if (!fn || fn->type != QV__JSTR || !fn->u.str.len) {
            qv__part_diag(diag, f, (fn ? fn : nd)->line, (fn ? fn : nd)->col,
                          "node %.0f: \"function\" must be a non-empty string", id);
            goto done;
        }
        const qv__jval *cost = qv__part_json_get(nd, "cost_us");
        if (!cost || cost->type != QV__JOBJ || !cost->u.obj.n) {
            qv__part_diag(diag, f, (cost ? cost : nd)->line, (cost ? cost : nd)->col,
                          "node %.0f: \"cost_us\" must be an object with at least "
                          "one device class",
                          id);
            goto done;
        }
        uint32_t ni;
        if ((rc = qv_dag_add_node(g, (int64_t)id, fn->u.str.s, &ni)))
            goto done;
        rc = QV_EFORMAT;
        for (size_t k = 0; k < cost->u.obj.n; k++) {
            const qv__jmem *mm = &cost->u.obj.m[k];
            const qv__jval *cv = mm->val;
            int cls = qv_dag_class(g, mm->key);
            if (cls < 0) {
                qv__part_diag(diag, f, cv->line, cv->col,
                              "node %.0f: device class \"%.32s\" is not a name of 1 "
                              "to %d characters [A-Za-z0-9_.-], or one class too "
                              "many (at most %d)",
                              id, mm->key, QV_CLASS_NAME_MAX - 1, QV_DAG_MAX_CLASSES);
                goto done;
            }
            if (cv->type != QV__JNUM || !(cv->u.num >= 0) || cv->u.num > MAX_COST_US) {
                qv__part_diag(diag, f, cv->line, cv->col,
                              "node %.0f: cost_us.%s must be a number in [0, 1e15]", id,
                              mm->key);
                goto done;
            }
            g->cost[(size_t)ni * g->nclass + (uint32_t)cls] = cv->u.num;
        }
        double b;
        static const char *bkeys[] = {"bytes_in", "bytes_out", "memory"};
        uint64_t *bdst[] = {g->bytes_in, g->bytes_out, g->memory};
        for (int k = 0; k < 3; k++) {
            if ((rc = get_int(nd, bkeys[k], 0, 0, MAX_EXACT, &b, f, diag)))
                goto done;
            bdst[k][ni] = (uint64_t)b;
        }
        if ((rc = read_run(g, ni, nd, nodes->u.arr.n, id, f, diag)))
            goto done;
    }
    /* Unique ids: sort (id, index) pairs; edges then find nodes by bsearch. */
    rc = QV_ENOMEM;
    map = malloc((g->n + 1) * sizeof *map);
    if (!map)
        goto done;
    for (uint32_t i = 0; i < g->n; i++)
        map[i] = (idx_pair){g->ids[i], i};
    qsort(map, g->n, sizeof *map, cmp_pair);
    rc = QV_EFORMAT;
    for (uint32_t i = 1; i < g->n; i++)
        if (map[i].id == map[i - 1].id) {
            const qv__jval *nd =
                nodes->u.arr.v[map[i].idx > map[i - 1].idx ? map[i].idx : map[i - 1].idx];
            qv__part_diag(diag, f, nd->line, nd->col, "duplicate node id %" PRId64,
                          map[i].id);
            goto done;
        }
    for (size_t e = 0; e < edges->u.arr.n; e++) {
        const qv__jval *ed = edges->u.arr.v[e];
        rc = QV_EFORMAT;
        if (ed->type != QV__JOBJ) {
            bad(diag, f, ed, "an edge must be an %s", "object");
            goto done;
        }
        double s, d, b;
        if ((rc = get_int(ed, "src", 1, -MAX_EXACT, MAX_EXACT, &s, f, diag)) ||
            (rc = get_int(ed, "dst", 1, -MAX_EXACT, MAX_EXACT, &d, f, diag)) ||
            (rc = get_int(ed, "bytes", 0, 0, MAX_EXACT, &b, f, diag)))
            goto done;
        rc = QV_EFORMAT;
        idx_pair ks = {(int64_t)s, 0}, kd = {(int64_t)d, 0};
        idx_pair *ps = bsearch(&ks, map, g->n, sizeof *map, cmp_pair);
        idx_pair *pd = bsearch(&kd, map, g->n, sizeof *map, cmp_pair);
        if (!ps || !pd) {
            qv__part_diag(diag, f, ed->line, ed->col,
                          "edge names node %.0f, which is not in \"nodes\"", ps ? d : s);
            goto done;
        }
        if (ps->idx == pd->idx) {
            qv__part_diag(diag, f, ed->line, ed->col, "edge from node %.0f to itself", s);
            goto done;
        }
        if ((rc = qv_dag_add_edge(g, ps->idx, pd->idx, (uint64_t)b)))
            goto done;
    }
    uint32_t first = 0, dup = dup_edge(g, &first, &rc);
    if (rc)
        goto done;
    if (dup != UINT32_MAX) {
        const qv__jval *ed = edges->u.arr.v[dup];
        qv__part_diag(diag, f, ed->line, ed->col,
                      "duplicate edge from node %" PRId64 " to node %" PRId64
                      " (edge %" PRIu32 " has it too); list a pair once, with all "
                      "the bytes it carries",
                      g->ids[g->esrc[dup]], g->ids[g->edst[dup]], first);
        rc = QV_EFORMAT;
        goto done;
    }
    if ((rc = qv_dag_finalize(g, diag))) {
        if (diag)
            snprintf(diag->file, sizeof diag->file, "%s", f);
        if (rc == QV_EINVAL) /* a cycle */
            rc = QV_EFORMAT;
        goto done;
    }
    *out = g;
    g = NULL;
    rc = 0;
done:
    free(map);
    qv_dag_destroy(g);
    qv__part_json_free(root);
    return rc;
}

int qv_dag_check(const qv_dag *g, qv_diag *diag)
{
    const char *f = g->name;
    if (!g->topo) {
        qv__part_diag(diag, f, 0, 0, "graph is not finalized");
        return QV_EINVAL;
    }
    if (g->n > QV_DAG_MAX_NODES || g->m > QV_DAG_MAX_EDGES) {
        qv__part_diag(diag, f, 0, 0, "too many nodes or edges");
        return QV_EINVAL;
    }
    for (uint32_t i = 0; i < g->n; i++) {
        long long id = (long long)g->ids[i];
        const char *fn = g->func_name[g->func[i]];
        if (g->ids[i] < -EXACT_INT || g->ids[i] > EXACT_INT) {
            qv__part_diag(diag, f, 0, 0, "node %lld: the id is not within +-2^53", id);
            return QV_EINVAL;
        }
        if (!fn[0]) {
            qv__part_diag(diag, f, 0, 0, "node %lld: the function name is empty", id);
            return QV_EINVAL;
        }
        int classes = 0;
        for (uint32_t k = 0; k < g->nclass; k++) {
            double c = g->cost[(size_t)i * g->nclass + k];
            if (c == INFINITY)
                continue;
            if (!(c >= 0) || c > MAX_COST_US) {
                qv__part_diag(diag, f, 0, 0,
                              "node %lld (%.64s): cost_us.%s %g is not a number in "
                              "[0, 1e15]",
                              id, fn, g->class_name[k], c);
                return QV_EINVAL;
            }
            classes++;
        }
        if (!classes) {
            qv__part_diag(diag, f, 0, 0, "node %lld (%.64s): no device class has a cost",
                          id, fn);
            return QV_EINVAL;
        }
        static const char *bkeys[] = {"bytes_in", "bytes_out", "memory"};
        const uint64_t b[] = {g->bytes_in[i], g->bytes_out[i], g->memory[i]};
        for (int k = 0; k < 3; k++)
            if (b[k] > (uint64_t)EXACT_INT) {
                qv__part_diag(diag, f, 0, 0,
                              "node %lld (%.64s): %s %" PRIu64 " is over 2^53, the "
                              "largest integer the graph format holds",
                              id, fn, bkeys[k], b[k]);
                return QV_EINVAL;
            }
        const qv_dag_run *r = g->run ? &g->run[i] : NULL;
        if (r && (r->device < -1 || r->device >= (int32_t)g->nclass ||
                  (r->device >= 0 &&
                   isinf(g->cost[(size_t)i * g->nclass + (uint32_t)r->device])))) {
            qv__part_diag(diag, f, 0, 0,
                          "node %lld (%.64s): the device it ran on is not a class of "
                          "its cost_us",
                          id, fn);
            return QV_EINVAL;
        }
        if (r && (!(r->start_us >= 0 && r->start_us <= MAX_COST_US) ||
                  !(r->board_us >= 0 && r->board_us <= MAX_COST_US))) {
            qv__part_diag(diag, f, 0, 0,
                          "node %lld (%.64s): start_us or board_us is not a number in "
                          "[0, 1e15]",
                          id, fn);
            return QV_EINVAL;
        }
    }
    if (!(g->span_us >= 0 && g->span_us <= MAX_COST_US) ||
        !(g->critical_path_us >= 0 && g->critical_path_us <= MAX_COST_US)) {
        qv__part_diag(diag, f, 0, 0,
                      "span_us or critical_path_us is not a number in [0, 1e15]");
        return QV_EINVAL;
    }
    for (uint32_t e = 0; e < g->m; e++)
        if (g->ebytes[e] > (uint64_t)EXACT_INT) {
            qv__part_diag(diag, f, 0, 0,
                          "edge from node %lld to node %lld: bytes %" PRIu64 " is over "
                          "2^53, the largest integer the graph format holds",
                          (long long)g->ids[g->esrc[e]], (long long)g->ids[g->edst[e]],
                          g->ebytes[e]);
            return QV_EINVAL;
        }
    int err;
    uint32_t first = 0, dup = dup_edge(g, &first, &err);
    if (err)
        return err;
    if (dup != UINT32_MAX) {
        qv__part_diag(diag, f, 0, 0,
                      "duplicate edge from node %lld to node %lld (edges %" PRIu32
                      " and %" PRIu32 "); the reader takes a pair once",
                      (long long)g->ids[g->esrc[dup]], (long long)g->ids[g->edst[dup]],
                      first, dup);
        return QV_EINVAL;
    }
    /* edges within the graph, no self loop, no cycle: qv_dag_finalize */
    idx_pair *map = malloc(((size_t)g->n + 1) * sizeof *map);
    if (!map)
        return QV_ENOMEM;
    for (uint32_t i = 0; i < g->n; i++)
        map[i] = (idx_pair){g->ids[i], i};
    qsort(map, g->n, sizeof *map, cmp_pair);
    int rc = 0;
    for (uint32_t i = 1; i < g->n && !rc; i++)
        if (map[i].id == map[i - 1].id) {
            qv__part_diag(diag, f, 0, 0, "duplicate node id %" PRId64, map[i].id);
            rc = QV_EINVAL;
        }
    free(map);
    return rc;
}

int qv_dag_load(const char *path, qv_dag **out, qv_diag *diag)
{
    char *text;
    size_t len;
    int rc = qv__part_read_file(path, QV__JSON_MAX_INPUT, &text, &len, diag);
    if (rc)
        return rc;
    rc = qv_dag_parse(text, len, path, out, diag);
    free(text);
    return rc;
}

static int dag_write(const qv_dag *g, FILE *f)
{
    fprintf(f, "{\"format\": \"quiver-graph\", \"version\": 1, \"name\": ");
    qv__json_fputs(f, g->name);
    if (g->run || g->span_us > 0 || g->critical_path_us > 0)
        fprintf(f, ",\n \"span_us\": %.17g, \"critical_path_us\": %.17g", g->span_us,
                g->critical_path_us);
    fprintf(f, ",\n \"nodes\": [");
    for (uint32_t i = 0; i < g->n; i++) {
        fprintf(f, "%s\n  {\"id\": %" PRId64 ", \"function\": ", i ? "," : "", g->ids[i]);
        qv__json_fputs(f, g->func_name[g->func[i]]);
        fprintf(f, ", \"cost_us\": {");
        int first = 1;
        for (uint32_t k = 0; k < g->nclass; k++) {
            double c = g->cost[(size_t)i * g->nclass + k];
            if (isinf(c))
                continue;
            fprintf(f, "%s", first ? "" : ", ");
            qv__json_fputs(f, g->class_name[k]);
            fprintf(f, ": %.17g", c);
            first = 0;
        }
        fprintf(f,
                "}, \"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64
                ", \"memory\": %" PRIu64,
                g->bytes_in[i], g->bytes_out[i], g->memory[i]);
        const qv_dag_run *r = g->run ? &g->run[i] : NULL;
        if (r && r->device >= 0 && (uint32_t)r->device < g->nclass) {
            fprintf(f, ", \"device\": ");
            qv__json_fputs(f, g->class_name[r->device]);
        }
        if (r)
            fprintf(f, ", \"worker\": %" PRIu32 ", \"start_us\": %.17g, \"critical\": %s",
                    r->worker, r->start_us, r->critical ? "true" : "false");
        if (r && r->board_us > 0)
            fprintf(f, ", \"board_us\": %.17g", r->board_us);
        fputc('}', f);
    }
    fprintf(f, "],\n \"edges\": [");
    for (uint32_t e = 0; e < g->m; e++)
        fprintf(f,
                "%s\n  {\"src\": %" PRId64 ", \"dst\": %" PRId64 ", \"bytes\": %" PRIu64
                "}",
                e ? "," : "", g->ids[g->esrc[e]], g->ids[g->edst[e]], g->ebytes[e]);
    fprintf(f, "]}\n");
    return ferror(f) ? QV_EIO : 0;
}

int qv_dag_write(const qv_dag *g, FILE *f)
{
    locale_t old = qv__c_numbers_begin(); /* files others read */
    int rc = dag_write(g, f);
    qv__c_numbers_end(old);
    return rc;
}
