/*
 * plan.c - qv_plan_make, the one entry point to every algorithm: binds the
 * graph to the platform, times the algorithm alone (plan_time_us), then
 * fills the bounds and the cut and runs the simulator's validity check, so
 * that no invalid plan ever leaves the library. A cost objective goes
 * through objective.c; qv_plan_money is here.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "part.h"
#include "qv_escape.h"
#include "qv_text.h"

static const char *const algo_names[] = {"quiver", "heft", "peft", "metis"};

const char *qv_algo_name(qv_algo a)
{
    return (unsigned)a < 4 ? algo_names[a] : "?";
}

int qv_algo_parse(const char *s, qv_algo *out)
{
    for (unsigned a = 0; a < 4; a++)
        if (!strcmp(s, algo_names[a])) {
            *out = (qv_algo)a;
            return 0;
        }
    return QV_EINVAL;
}

void qv_plan_destroy(qv_plan *pl)
{
    if (!pl)
        return;
    free(pl->unit);
    free(pl->start);
    free(pl->end);
    free(pl->fused);
    free(pl);
}

void qv_plan_opts_init(qv_plan_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->algo = QV_ALGO_QUIVER;
}

/* Whether n is the size of a version of qv_plan_opts: fields are only
 * appended, so a version ends at one of them (its struct's size, with or
 * without tail padding). A size within a field is no qv_plan_opts: taken,
 * half of the cancel pointer was called (adversarial testing). */
static bool opts_size_known(size_t n)
{
#define END(f) (offsetof(qv_plan_opts, f) + sizeof(((qv_plan_opts *)0)->f))
    /* (cancel and cancel_arg came together: no version ends between) */
    static const size_t ends[] = {END(algo),        END(catalog), END(cost_weight),
                                  END(deadline_us), END(no_fuse), END(fused_scale),
                                  END(cancel_arg)};
#undef END
    const size_t align = _Alignof(qv_plan_opts);
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        if (n == ends[i] || n == (ends[i] + align - 1) / align * align)
            return n <= sizeof(qv_plan_opts);
    return false;
}

int qv_plan_make(const qv_dag *g, const qv_plat *p, const qv_plan_opts *opts,
                 qv_plan **out, qv_diag *diag)
{
    /* A caller built against an older, shorter qv_plan_opts leaves the
     * fields it does not know at their defaults. */
    qv_plan_opts o;
    qv_plan_opts_init(&o);
    *out = NULL;
    if (opts) {
        if (!opts_size_known(opts->size)) {
            qv__part_diag(diag, g->name, 0, 0,
                          "qv_plan_opts.size %zu: the size of no version of qv_plan_opts "
                          "(this library's is %zu); call qv_plan_opts_init first",
                          opts->size, sizeof o);
            return QV_EINVAL;
        }
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
        o.size = sizeof o;
    }
    if ((unsigned)o.algo > QV_ALGO_METIS) {
        qv__part_diag(diag, g->name, 0, 0, "unknown algorithm %d", (int)o.algo);
        return QV_EINVAL;
    }
    if (!(o.cost_weight >= 0 && o.cost_weight <= 1)) {
        qv__part_diag(diag, g->name, 0, 0,
                      "qv_plan_opts.cost_weight %g: expected 0 (time) to 1 (money)",
                      o.cost_weight);
        return QV_EINVAL;
    }
    if (!(o.fused_scale >= 0 && o.fused_scale < INFINITY)) {
        qv__part_diag(diag, g->name, 0, 0,
                      "qv_plan_opts.fused_scale %g: expected 0 (none) or a factor above 0",
                      o.fused_scale);
        return QV_EINVAL;
    }
    if (!(o.deadline_us >= 0 && o.deadline_us < INFINITY)) {
        qv__part_diag(diag, g->name, 0, 0,
                      "qv_plan_opts.deadline_us %g: expected 0 (none) or a time in µs",
                      o.deadline_us);
        return QV_EINVAL;
    }
    return o.catalog ? qv__part_plan_make_cat(g, p, o.catalog, &o, out, diag)
                     : qv__part_plan_make(g, p, &o, out, diag);
}

int qv__part_plan_make(const qv_dag *g, const qv_plat *p, const qv_plan_opts *o,
                       qv_plan **out, qv_diag *diag)
{
    qv_algo a = o->algo;
    *out = NULL;
    if (!g->topo) {
        qv__part_diag(diag, g->name, 0, 0, "graph is not finalized");
        return QV_EINVAL;
    }
    qv__ctx c;
    int rc = qv__part_ctx_init(&c, g, p, diag);
    if (rc)
        return rc;
    c.cancel = o->cancel;
    c.cancel_arg = o->cancel_arg;
    qv_plan *pl = calloc(1, sizeof *pl);
    if (!pl) {
        qv__part_ctx_fini(&c);
        return QV_ENOMEM;
    }
    pl->algo = a;
    pl->variant = qv_algo_name(a);
    pl->n = g->n;
    pl->unit = malloc(((size_t)g->n + 1) * sizeof *pl->unit);
    pl->start = malloc(((size_t)g->n + 1) * sizeof *pl->start);
    pl->end = malloc(((size_t)g->n + 1) * sizeof *pl->end);
    if (!pl->unit || !pl->start || !pl->end) {
        rc = QV_ENOMEM;
        goto fail;
    }
    double t0 = qv__part_now_us();
    if (o->cost_weight > 0) {
        rc = qv__part_objective(&c, a, o->cost_weight, o->deadline_us, pl->unit, pl->start,
                                pl->end, &pl->nparts, &pl->variant);
    } else switch (a) {
    case QV_ALGO_HEFT:
        rc = qv__part_heft(&c, pl->unit, pl->start, pl->end);
        break;
    case QV_ALGO_PEFT:
        rc = qv__part_peft(&c, pl->unit, pl->start, pl->end);
        break;
    case QV_ALGO_METIS:
        rc = qv__part_metis_only(&c, pl->unit, pl->start, pl->end, &pl->nparts);
        break;
    case QV_ALGO_QUIVER:
        rc = qv__part_quiver(&c, pl->unit, pl->start, pl->end, &pl->nparts, &pl->variant);
        break;
    default:
        rc = QV_EINVAL;
    }
    pl->plan_time_us = qv__part_now_us() - t0;
    if (rc == QV_ECANCELED) {
        qv__part_diag(diag, g->name, 0, 0, "planning canceled");
        goto fail;
    }
    if (rc) {
        qv__part_diag(diag, g->name, 0, 0, "%s failed (%d)", qv_algo_name(a), rc);
        goto fail;
    }
    for (uint32_t i = 0; i < g->n; i++)
        if (pl->end[i] > pl->makespan)
            pl->makespan = pl->end[i];
    pl->deadline_missed = o->deadline_us > 0 && pl->makespan > o->deadline_us;
    for (uint32_t e = 0; e < g->m; e++) {
        uint32_t ra = p->unit_res[pl->unit[g->esrc[e]]];
        uint32_t rb = p->unit_res[pl->unit[g->edst[e]]];
        if (p->inv_bw[(size_t)ra * p->nres + rb] > 0)
            pl->bytes_cut = qv__sat_add(pl->bytes_cut, g->ebytes[e]);
    }
    qv_bounds b;
    if ((rc = qv__part_bounds(g, p, &b)))
        goto fail;
    pl->lower_bound = b.lb_cp > b.lb_area ? b.lb_cp : b.lb_area;
    if ((rc = qv__part_sim_validate(g, p, pl, diag)))
        goto fail;
    qv__part_ctx_fini(&c);
    *out = pl;
    return 0;
fail:
    qv__part_ctx_fini(&c);
    qv_plan_destroy(pl);
    return rc;
}

double qv__part_money(const qv_plat *p, uint32_t n, const uint32_t *unit, double makespan,
                      double *per_res)
{
    double total = 0;
    if (per_res)
        for (uint32_t r = 0; r < p->nres; r++)
            per_res[r] = 0;
    /* which resources run a node: one pass per 64 resources (a platform
     * file has at most 64) */
    for (uint32_t base = 0; base < p->nres; base += 64) {
        uint64_t used = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t r = p->unit_res[unit[i]];
            /* a task on the host's cores holds the host's CPU too */
            uint32_t h = p->res[r].shares_cpu ? p->host_res : UINT32_MAX;
            if (r >= base && r - base < 64)
                used |= (uint64_t)1 << (r - base);
            if (h != UINT32_MAX && h >= base && h - base < 64)
                used |= (uint64_t)1 << (h - base);
        }
        for (uint32_t r = base; r < p->nres && r - base < 64; r++)
            if (used >> (r - base) & 1) {
                double m = p->res[r].cost_per_hour * makespan / 3.6e9;
                total += m;
                if (per_res)
                    per_res[r] = m;
            }
    }
    return total;
}

double qv_plan_money(const qv_plan *pl, const qv_plat *p, double *per_res)
{
    return qv__part_money(p, pl->n, pl->unit, pl->makespan, per_res);
}

static void unit_name(const qv_plat *p, uint32_t u, uint32_t *r, uint32_t *k)
{
    *r = p->unit_res[u];
    *k = u - p->res[*r].first_unit;
}

static int write_json(const qv_dag *g, const qv_plat *p, const qv_plan *pl, FILE *f)
{
    fprintf(f,
            "{\"algorithm\": \"%s\", \"makespan_us\": %.17g, "
            "\"lower_bound_us\": %.17g, \"plan_time_us\": %.17g,\n"
            " \"tasks\": [",
            qv_algo_name(pl->algo), pl->makespan, pl->lower_bound, pl->plan_time_us);
    for (uint32_t i = 0; i < pl->n; i++) {
        uint32_t r, k;
        unit_name(p, pl->unit[i], &r, &k);
        fprintf(f, "%s\n  {\"id\": %lld, \"resource\": ", i ? "," : "",
                (long long)g->ids[i]);
        qv__json_fputs(f, p->res[r].name); /* names from files, escaped */
        fprintf(f, ", \"unit\": %u, \"start_us\": %.17g, \"end_us\": %.17g", k,
                pl->start[i], pl->end[i]);
        const char *kn = pl->fused ? qv_catalog_kernel_name(pl->catalog, pl->fused[i]) : NULL;
        if (kn) {
            fputs(", \"fused\": ", f);
            qv__json_fputs(f, kn);
        }
        fputc('}', f);
    }
    fprintf(f, "]}\n");
    return ferror(f) ? QV_EIO : 0;
}

int qv_plan_write_json(const qv_dag *g, const qv_plat *p, const qv_plan *pl, FILE *f)
{
    locale_t old = qv__c_numbers_begin(); /* files others read */
    int rc = write_json(g, p, pl, f);
    qv__c_numbers_end(old);
    return rc;
}

static int write_dot(const qv_dag *g, const qv_plat *p, const qv_plan *pl, FILE *f)
{
    /* One cluster per resource; edges that cross memories are drawn bold
     * with their transfer time. */
    fputs("digraph \"", f);
    qv__dot_fputs(f, g->name);
    fputs("\" {\n  rankdir=TB;\n  node [shape=box];\n", f);
    for (uint32_t r = 0; r < p->nres; r++) {
        fprintf(f, "  subgraph cluster_%u {\n    label=\"", r);
        qv__dot_fputs(f, p->res[r].name);
        fputs(" (", f);
        qv__dot_fputs(f, p->res[r].cls);
        fputs(")\";\n", f);
        for (uint32_t i = 0; i < g->n; i++)
            if (p->unit_res[pl->unit[i]] == r) {
                fprintf(f, "    n%u [label=\"%lld ", i, (long long)g->ids[i]);
                qv__dot_fputs(f, g->func_name[g->func[i]]);
                fprintf(f, "\\n%.1f-%.1f us\"];\n", pl->start[i], pl->end[i]);
            }
        fprintf(f, "  }\n");
    }
    for (uint32_t e = 0; e < g->m; e++) {
        uint32_t s = g->esrc[e], d = g->edst[e];
        uint32_t ra = p->unit_res[pl->unit[s]], rb = p->unit_res[pl->unit[d]];
        double t = qv_plat_comm(p, ra, rb, g->ebytes[e]);
        if (t > 0)
            fprintf(f, "  n%u -> n%u [style=bold, label=\"%.1f us\"];\n", s, d, t);
        else
            fprintf(f, "  n%u -> n%u;\n", s, d);
    }
    fprintf(f, "}\n");
    return ferror(f) ? QV_EIO : 0;
}

int qv_plan_write_dot(const qv_dag *g, const qv_plat *p, const qv_plan *pl, FILE *f)
{
    locale_t old = qv__c_numbers_begin(); /* files others read */
    int rc = write_dot(g, p, pl, f);
    qv__c_numbers_end(old);
    return rc;
}
