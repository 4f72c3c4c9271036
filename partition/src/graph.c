/*
 * graph.c - the qv_dag type: building it node by node, interning function
 * names (through a hash map) and device classes, and finalizing it into CSR
 * adjacency with a topological order (Kahn's algorithm, which also finds
 * cycles). The growth state (capacities, the name map) lives in a private
 * struct around the public qv_dag, which shows callers only data.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "part.h"
#include "strmap.h"

/* Every qv_dag is the first member of one of these, made by qv_dag_create:
 * the growth state stays out of the public struct. */
typedef struct dag_priv {
    qv_dag pub;
    uint32_t ncap, mcap, fcap; /* allocated nodes, edges, function names */
    qv__strmap fmap;           /* function name -> index, once fmap_ready */
    int fmap_ready;
} dag_priv;

static dag_priv *priv(qv_dag *g)
{
    return (dag_priv *)g;
}

int qv_dag_create(const char *name, qv_dag **out)
{
    dag_priv *d = calloc(1, sizeof *d);
    if (!d)
        return QV_ENOMEM;
    qv_dag *g = &d->pub;
    g->name = strdup(name ? name : "graph");
    if (!g->name) {
        free(d);
        return QV_ENOMEM;
    }
    *out = g;
    return 0;
}

static void free_csr(qv_dag *g)
{
    free(g->succ_off);
    free(g->succ_edge);
    free(g->pred_off);
    free(g->pred_edge);
    free(g->topo);
    g->succ_off = g->succ_edge = g->pred_off = g->pred_edge = g->topo = NULL;
}

void qv_dag_destroy(qv_dag *g)
{
    if (!g)
        return;
    free(g->name);
    free(g->ids);
    free(g->func);
    for (uint32_t i = 0; i < g->nfunc; i++)
        free(g->func_name[i]);
    free(g->func_name);
    if (priv(g)->fmap_ready)
        qv__part_strmap_fini(&priv(g)->fmap);
    free(g->cost);
    free(g->bytes_in);
    free(g->bytes_out);
    free(g->memory);
    free(g->esrc);
    free(g->edst);
    free(g->ebytes);
    free(g->run);
    free_csr(g);
    free(priv(g));
}

int qv_dag_class(qv_dag *g, const char *name)
{
    for (uint32_t k = 0; k < g->nclass; k++)
        if (!strcmp(g->class_name[k], name))
            return (int)k;
    if (g->nclass >= QV_DAG_MAX_CLASSES || strlen(name) >= QV_CLASS_NAME_MAX || !*name)
        return QV_EINVAL;
    /* Class names are identifiers (cpu, gpu, fpga, remote, ...). */
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.'))
            return QV_EINVAL;
    /* Costs are stored n * nclass: widen the table by one column. */
    uint32_t nc = g->nclass + 1;
    if (priv(g)->ncap) {
        double *c = malloc((size_t)priv(g)->ncap * nc * sizeof *c);
        if (!c)
            return QV_ENOMEM;
        for (uint32_t i = 0; i < g->n; i++) {
            for (uint32_t k = 0; k < g->nclass; k++)
                c[(size_t)i * nc + k] = g->cost[(size_t)i * g->nclass + k];
            c[(size_t)i * nc + g->nclass] = INFINITY;
        }
        free(g->cost);
        g->cost = c;
    }
    strcpy(g->class_name[g->nclass], name);
    g->nclass = nc;
    return (int)(nc - 1);
}

/* The index of function f in func_name, added if new. A hash map from the
 * names (which it borrows) keeps this O(1): a scan made a graph of 100 000
 * distinct functions take 24 s to read. */
static int intern_func(qv_dag *g, const char *f, uint32_t *out)
{
    dag_priv *d = priv(g);
    if (!d->fmap_ready) {
        if (qv__part_strmap_init(&d->fmap, 64))
            return QV_ENOMEM;
        d->fmap_ready = 1;
    }
    const uint64_t *k = qv__part_strmap_get(&d->fmap, f);
    if (k) {
        *out = (uint32_t)*k;
        return 0;
    }
    if (g->nfunc == d->fcap) {
        uint32_t nc = d->fcap ? d->fcap * 2 : 8;
        char **nf = realloc(g->func_name, nc * sizeof *nf);
        if (!nf)
            return QV_ENOMEM;
        g->func_name = nf;
        d->fcap = nc;
    }
    if (!(g->func_name[g->nfunc] = strdup(f)))
        return QV_ENOMEM;
    if (qv__part_strmap_put(&d->fmap, g->func_name[g->nfunc], g->nfunc) < 0) {
        free(g->func_name[g->nfunc]);
        return QV_ENOMEM;
    }
    *out = g->nfunc++;
    return 0;
}

#define GROW(ptr, cap)                                                                   \
    do {                                                                                 \
        void *np_ = realloc((ptr), (size_t)(cap) * sizeof *(ptr));                       \
        if (!np_)                                                                        \
            return QV_ENOMEM;                                                              \
        (ptr) = np_;                                                                     \
    } while (0)

int qv_dag_add_node(qv_dag *g, int64_t id, const char *function, uint32_t *out)
{
    if (g->n >= QV_DAG_MAX_NODES)
        return QV_E2BIG;
    dag_priv *d = priv(g);
    if (g->n == d->ncap) {
        uint32_t nc = d->ncap ? d->ncap * 2 : 64;
        uint32_t ncl = g->nclass ? g->nclass : 1;
        GROW(g->ids, nc);
        GROW(g->func, nc);
        GROW(g->bytes_in, nc);
        GROW(g->bytes_out, nc);
        GROW(g->memory, nc);
        GROW(g->cost, (size_t)nc * ncl);
        d->ncap = nc;
    }
    uint32_t i = g->n;
    int rc = intern_func(g, function ? function : "task", &g->func[i]);
    if (rc)
        return rc;
    g->ids[i] = id;
    g->bytes_in[i] = g->bytes_out[i] = g->memory[i] = 0;
    for (uint32_t k = 0; k < g->nclass; k++)
        g->cost[(size_t)i * g->nclass + k] = INFINITY;
    g->n++;
    free_csr(g);
    if (out)
        *out = i;
    return 0;
}

int qv_dag_add_edge(qv_dag *g, uint32_t src, uint32_t dst, uint64_t bytes)
{
    if (src >= g->n || dst >= g->n)
        return QV_EINVAL;
    if (g->m >= QV_DAG_MAX_EDGES)
        return QV_E2BIG;
    dag_priv *d = priv(g);
    if (g->m == d->mcap) {
        uint32_t nc = d->mcap ? d->mcap * 2 : 64;
        GROW(g->esrc, nc);
        GROW(g->edst, nc);
        GROW(g->ebytes, nc);
        d->mcap = nc;
    }
    g->esrc[g->m] = src;
    g->edst[g->m] = dst;
    g->ebytes[g->m] = bytes;
    g->m++;
    free_csr(g);
    return 0;
}

int qv_dag_finalize(qv_dag *g, qv_diag *diag)
{
    free_csr(g);
    uint32_t n = g->n, m = g->m;
    g->succ_off = calloc((size_t)n + 1, sizeof *g->succ_off);
    g->pred_off = calloc((size_t)n + 1, sizeof *g->pred_off);
    g->succ_edge = malloc(((size_t)m + 1) * sizeof *g->succ_edge);
    g->pred_edge = malloc(((size_t)m + 1) * sizeof *g->pred_edge);
    g->topo = malloc(((size_t)n + 1) * sizeof *g->topo);
    uint32_t *fill = malloc(((size_t)n + 1) * sizeof *fill);
    if (!g->succ_off || !g->pred_off || !g->succ_edge || !g->pred_edge || !g->topo ||
        !fill) {
        free(fill);
        free_csr(g);
        return QV_ENOMEM;
    }
    for (uint32_t e = 0; e < m; e++) {
        if (g->esrc[e] == g->edst[e]) {
            qv__part_diag(diag, g->name, 0, 0, "edge %u: node %lld depends on itself", e,
                          (long long)g->ids[g->esrc[e]]);
            free(fill);
            free_csr(g);
            return QV_EINVAL;
        }
        g->succ_off[g->esrc[e] + 1]++;
        g->pred_off[g->edst[e] + 1]++;
    }
    for (uint32_t i = 0; i < n; i++) {
        g->succ_off[i + 1] += g->succ_off[i];
        g->pred_off[i + 1] += g->pred_off[i];
    }
    memcpy(fill, g->succ_off, (size_t)n * sizeof *fill);
    for (uint32_t e = 0; e < m; e++)
        g->succ_edge[fill[g->esrc[e]]++] = e;
    memcpy(fill, g->pred_off, (size_t)n * sizeof *fill);
    for (uint32_t e = 0; e < m; e++)
        g->pred_edge[fill[g->edst[e]]++] = e;
    /* Kahn: fill[] now counts the predecessors not yet emitted. */
    uint32_t head = 0, tail = 0;
    for (uint32_t i = 0; i < n; i++) {
        fill[i] = g->pred_off[i + 1] - g->pred_off[i];
        if (!fill[i])
            g->topo[tail++] = i;
    }
    while (head < tail) {
        uint32_t v = g->topo[head++];
        for (uint32_t j = g->succ_off[v]; j < g->succ_off[v + 1]; j++) {
            uint32_t d = g->edst[g->succ_edge[j]];
            if (--fill[d] == 0)
                g->topo[tail++] = d;
        }
    }
    if (tail != n) {
        /* Every node left has a predecessor left: walking back n steps
         * from any of them must end on a cycle. */
        uint32_t bad = 0;
        for (uint32_t i = 0; i < n; i++)
            if (fill[i]) {
                bad = i;
                break;
            }
        for (uint32_t step = 0; step < n; step++)
            for (uint32_t j = g->pred_off[bad]; j < g->pred_off[bad + 1]; j++) {
                uint32_t s = g->esrc[g->pred_edge[j]];
                if (fill[s]) {
                    bad = s;
                    break;
                }
            }
        qv__part_diag(diag, g->name, 0, 0, "edges form a cycle through node %lld",
                      (long long)g->ids[bad]);
        free(fill);
        free_csr(g);
        return QV_EINVAL;
    }
    free(fill);
    return 0;
}

double qv__part_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

uint64_t qv__part_rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double qv__part_rng_unit(uint64_t *s)
{
    return (double)(qv__part_rng(s) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t qv__part_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}
