/*
 * import.c - workflow files into graphs: picks the reader by content (JSON
 * or XML), then applies the accelerator-cost rule. Workflow traces record
 * one runtime per task on CPUs; accelerator costs are not in the data, so a
 * documented, deterministic rule invents them per function (every task of a
 * function gets the same speedup, as a kernel would):
 *   factor = lo * (hi/lo)^u1, the class present when u2 < share,
 * with u1, u2 in [0,1) from a hash of "function/class".
 */
#include <math.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "import.h"
#include "json.h"
#include "part.h"

#define MAX_WORKFLOW_BYTES ((size_t)256 << 20)

/* A rule the import can apply: a class other than the base (cpu) and
 * finite speed-ups, 0 < LO <= HI: HI inf made every cost 0 (adversarial
 * testing). Bounded to [1e-6, 1e6], where a cost of the graph format's
 * range stays in it give or take that factor. */
static bool accel_ok(const char *cn, double lo, double hi)
{
    return lo >= 1e-6 && hi >= lo && hi <= 1e6 && strcmp(cn, "cpu") != 0;
}

/* The index of the first rule of opts the import cannot apply, or -1. */
static int bad_rule(const qv_import_opts *opts)
{
    for (unsigned a = 0; opts && a < opts->naccel && a < 4; a++)
        if (!accel_ok(opts->accel[a].name, opts->accel[a].lo, opts->accel[a].hi))
            return (int)a;
    return -1;
}

int qv__part_import_accel(qv_dag *g, const qv_import_opts *opts)
{
    qv_import_opts def = {.naccel = 2};
    if (!opts || !opts->naccel) {
        strcpy(def.accel[0].name, "gpu");
        def.accel[0].lo = 0.5;
        def.accel[0].hi = 16;
        def.accel[0].share = 1;
        strcpy(def.accel[1].name, "fpga");
        def.accel[1].lo = 0.5;
        def.accel[1].hi = 8;
        def.accel[1].share = 0.5;
        opts = &def;
    }
    if (bad_rule(opts) >= 0)
        return QV_EINVAL;
    int cpu = qv_dag_class(g, "cpu");
    if (cpu < 0)
        return cpu;
    for (unsigned a = 0; a < opts->naccel && a < 4; a++) {
        const char *cn = opts->accel[a].name;
        double lo = opts->accel[a].lo, hi = opts->accel[a].hi;
        int k = qv_dag_class(g, cn);
        if (k < 0)
            return k;
        for (uint32_t i = 0; i < g->n; i++) {
            char key[256];
            snprintf(key, sizeof key, "%s/%s", g->func_name[g->func[i]], cn);
            uint64_t h = qv__part_hash_str(key);
            double u1 = (double)(h & 0xFFFFF) / 1048576.0;
            double u2 = (double)((h >> 20) & 0xFFFFF) / 1048576.0;
            double c = g->cost[(size_t)i * g->nclass + (uint32_t)cpu];
            g->cost[(size_t)i * g->nclass + (uint32_t)k] =
                u2 < opts->accel[a].share ? c / (lo * pow(hi / lo, u1)) : INFINITY;
        }
    }
    return 0;
}

int qv_dag_import(const char *path, const qv_import_opts *opts, qv_dag **out,
                  qv_diag *diag)
{
    char *text;
    size_t len;
    *out = NULL;
    int rc = qv__part_read_file(path, MAX_WORKFLOW_BYTES, &text, &len, diag);
    if (rc)
        return rc;
    const char *s = text;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    qv_dag *g = NULL;
    bool dax = *s == '<';
    if (*s == '{')
        rc = qv__part_import_wfformat(text, len, path, &g, diag);
    else if (*s == '<')
        rc = qv__part_import_dax(text, len, path, &g, diag);
    else {
        qv__part_diag(diag, path, 1, 1, "neither WfFormat JSON nor DAX XML");
        rc = QV_EFORMAT;
    }
    free(text);
    if (rc == QV_EINVAL) /* a syntax error of the JSON or XML layer */
        rc = QV_EFORMAT;
    if (!rc && (rc = qv__part_import_accel(g, opts))) {
        int a = rc == QV_EINVAL ? bad_rule(opts) : -1;
        if (a >= 0)
            qv__part_diag(diag, path, 0, 0,
                          "accelerator rule %d (%.15s, %g to %g): expected a class other "
                          "than cpu and speed-ups from 1e-06 to 1e+06, low to high",
                          a + 1, opts->accel[a].name, opts->accel[a].lo, opts->accel[a].hi);
        else
            qv__part_diag(diag, path, 0, 0, "bad accelerator rule");
    }
    /* what the reader of .qvg.json would refuse is refused here */
    if (!rc && ((rc = qv_dag_finalize(g, diag)) || (rc = qv_dag_check(g, diag)))) {
        if (diag)
            snprintf(diag->file, sizeof diag->file, "%s", path);
        /* A cycle names a node by its id, which an imported graph numbers
         * in the file's order from 0: said as the job or task it is. */
        long long at;
        if (rc == QV_EINVAL && diag &&
            sscanf(diag->message, "edges form a cycle through node %lld", &at) == 1)
            snprintf(
                diag->message, sizeof diag->message,
                "its dependencies form a cycle through %s %lld of the file (counting "
                "from 1)",
                dax ? "<job>" : "task", at + 1);
        if (rc == QV_EINVAL) /* a cycle, or a value the graph format refuses */
            rc = QV_EFORMAT;
    }
    if (rc) {
        qv_dag_destroy(g);
        return rc;
    }
    *out = g;
    return 0;
}
