/*
 * part.h - internals shared by the planner's files: the scheduling context
 * (a graph bound to a platform: which resource runs which class, execution
 * times per resource, mean costs for ranking), the per-unit timelines used by
 * insertion-based list scheduling, and the entry points of each algorithm.
 */
#ifndef QVPART_PART_H
#define QVPART_PART_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "qvpart.h"

/* Limits of the .qvg.json format, which the reader (graph_json.c) and
 * qv_dag_check share. */
#define QV__DAG_MAX_EXACT   9007199254740992.0 /* 2^53: integers exact in a double */
#define QV__DAG_MAX_COST_US 1e15 /* µs, 31 years: anything above is absurd */

typedef struct qv__ctx {
    const qv_dag *g;
    const qv_plat *p;
    int *res_class;     /* resource -> graph class index, -1 if none */
    double *w;          /* n * nres: µs on one unit of resource r, or INF */
    double *wavg;       /* n: mean over the units able to run the node */
    double mean_lat;    /* mean transfer latency over distinct unit pairs */
    double mean_inv_bw; /* mean µs per byte over distinct unit pairs */
    const uint8_t *keep; /* NULL, or the resources it may use (borrowed) */
    uint32_t nunits;     /* units of those resources */
    int (*cancel)(void *arg); /* qv_plan_opts.cancel, or NULL */
    void *cancel_arg;
} qv__ctx;

/* Whether the caller asked planning to stop (qv_plan_opts.cancel). */
static inline bool qv__part_cancelled(const qv__ctx *c)
{
    return c->cancel && c->cancel(c->cancel_arg);
}

/* Binds g to p; QV_EINVAL with a diag naming a node that no unit can run. */
int qv__part_ctx_init(qv__ctx *c, const qv_dag *g, const qv_plat *p, qv_diag *diag);
/* The same on the resources r with keep[r] != 0 only (keep NULL: all, which
 * is qv__part_ctx_init): the others run nothing (w = INFINITY) and leave
 * the means, as if the platform did not have them. */
int qv__part_ctx_init_keep(qv__ctx *c, const qv_dag *g, const qv_plat *p,
                           const uint8_t *keep, qv_diag *diag);
void qv__part_ctx_fini(qv__ctx *c);

/* a + b, held at UINT64_MAX: byte sums over edges (each up to 2^53, 2^26
 * of them) pass 2^64, and a sum wrapped to a small one chose fused
 * kernels and partitions by it (adversarial testing). */
static inline uint64_t qv__sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static inline double qv__w(const qv__ctx *c, uint32_t i, uint32_t r)
{
    return c->w[(size_t)i * c->p->nres + r];
}
/* The resource whose units r's tasks also hold while they run (r's work
 * runs on the host's cores: qv_plat_res.shares_cpu); UINT32_MAX when none
 * (or when c leaves the host's CPU out). */
static inline uint32_t qv__shared_host(const qv__ctx *c, uint32_t r)
{
    uint32_t h = c->p->host_res;
    if (!c->p->res[r].shares_cpu || h == UINT32_MAX || (c->keep && !c->keep[h]))
        return UINT32_MAX;
    return h;
}
/* How many of the host's CPU units a task of resource r holds while it
 * runs: qv_plat_res.shares_cpu, at most the host's units; 0 when r's work
 * does not run on the host's cores or there is no host CPU. */
static inline uint32_t qv__shared_units(const qv_plat *p, uint32_t r)
{
    uint32_t h = p->host_res;
    if (p->res[r].shares_cpu <= 0 || h == UINT32_MAX)
        return 0;
    uint32_t k = (uint32_t)p->res[r].shares_cpu;
    return k < p->res[h].units ? k : p->res[h].units;
}
static inline double qv__mean_comm(const qv__ctx *c, uint64_t bytes)
{
    return bytes ? c->mean_lat + (double)bytes * c->mean_inv_bw : 0.0;
}

/* Upward ranks with mean costs (Topcuoglu 2002, eq. 6). rank: n doubles. */
void qv__part_rank_upward(const qv__ctx *c, double *rank);

/* A topological order that takes, among ready nodes, the highest prio first
 * (ties: lower index). order: n entries. */
int qv__part_priority_order(const qv_dag *g, const double *prio, uint32_t *order);

/*
 * Per-unit busy intervals for insertion scheduling: a treap in slot order
 * (implicit keys: a slot's position is its rank), each node keeping the
 * idle gap before its slot and the largest gap in its subtree, so that the
 * first gap that fits is found in O(log n) and a slot is inserted in
 * O(log n) however the tasks fall (a star's leaves all wait for the hub
 * behind one long gap that a scan would walk past every time).
 */
typedef struct qv__tlnode {
    double s, e;   /* µs, the busy interval */
    double pe;     /* µs, end of the slot before (0 for the first) */
    double maxgap; /* µs, largest s - pe in the subtree */
    uint32_t l, r, size, prio;
} qv__tlnode;
typedef struct qv__timeline {
    qv__tlnode *v; /* node pool; v[0] is the empty tree */
    uint32_t n, cap, root;
    uint32_t first;  /* node of the first slot */
    double last_e;   /* µs, end of the last slot, 0 when empty */
    uint64_t rng;    /* treap priorities */
    uint64_t visits; /* nodes qv__part_tl_find looked at (tests count them) */
} qv__timeline;

/* Earliest start >= ready of a gap of length dur on t (insertion policy:
 * the first gap that fits, else after the last slot); *pos gets where the
 * slot would go (its rank). A zero timeline is an empty one. */
double qv__part_tl_find(qv__timeline *t, double ready, double dur, uint32_t *pos);
/* Inserts [s, e] at rank pos (from qv__part_tl_find). 0 or QV_ENOMEM. */
int qv__part_tl_insert(qv__timeline *t, uint32_t pos, double s, double e);
void qv__part_tl_fini(qv__timeline *t);

/* Data-ready time of node i on resource r given placed predecessors. */
double qv__part_ready(const qv__ctx *c, uint32_t i, uint32_t r, const uint32_t *unit,
                      const double *end);

/*
 * List scheduling with insertion: nodes in `order` (a topological order),
 * each placed on the unit giving its earliest finish time among the allowed
 * units. allowed_res: NULL (any resource) or per node a resource index the
 * node must stay on (UINT32_MAX = any). oct: NULL, or n * nres optimistic
 * costs added to the finish time when choosing (PEFT).
 */
int qv__part_list_schedule(const qv__ctx *c, const uint32_t *order,
                           const uint32_t *allowed_res, const double *oct, uint32_t *unit,
                           double *start, double *end);

int qv__part_heft(const qv__ctx *c, uint32_t *unit, double *start, double *end);
int qv__part_peft(const qv__ctx *c, uint32_t *unit, double *start, double *end);

/* METIS k-way partition; part[n] in 0..k-1. tpw: k target weights summing
 * to 1 (NULL: equal). With repair, parts are renumbered in dispatch order
 * and the graph of parts is acyclic (metis_part.c). *cut gets the bytes on
 * edges between parts. */
int qv__part_metis_partition(const qv__ctx *c, uint32_t k, const double *tpw, int repair,
                             uint32_t *part, uint64_t *cut);
/* Makes the graph of parts acyclic and numbers parts in dispatch order. */
int qv__part_repair_acyclic(const qv_dag *g, uint32_t k, uint32_t *part);
/* A k-part partition derived from a finer kf-part one (fine[n]) by METIS
 * on the graph of fine parts, then repaired like qv__part_metis_partition: one
 * METIS run on the whole graph serves every k. */
int qv__part_metis_coarsen(const qv__ctx *c, const uint32_t *fine, uint32_t kf,
                           uint32_t k, const double *tpw, uint32_t *part, uint64_t *cut);
/* Places parts on resources and schedules; see place.c. */
int qv__part_place_parts(const qv__ctx *c, const uint32_t *part, uint32_t k, int refine,
                         uint32_t *unit, double *start, double *end);
int qv__part_metis_only(const qv__ctx *c, uint32_t *unit, double *start, double *end,
                        uint32_t *nparts);
int qv__part_quiver(const qv__ctx *c, uint32_t *unit, double *start, double *end,
                    uint32_t *nparts, const char **variant);

/*
 * The objective (objective.c, docs/partition.md "Objective"). A qv__pick
 * keeps candidate plans and chooses one by cost_weight and deadline_us of
 * qv_plan_opts; qv__part_objective drives the algorithms for it.
 */
typedef struct qv__pick qv__pick;
/* Offers a candidate: unit/start/end of every node (copied when no
 * candidate kept is as fast and as cheap), variant a static name. 0 or
 * QV_ENOMEM. */
int qv__pick_offer(qv__pick *k, const uint32_t *unit, const double *start,
                   const double *end, const char *variant, uint32_t nparts);
/* Quiver's candidates (quiver.c) on c: each also goes to k when k is not
 * NULL; the fastest, before compaction, is left in unit/start/end. */
int qv__part_quiver_cands(const qv__ctx *c, qv__pick *k, uint32_t *unit, double *start,
                          double *end, uint32_t *nparts, const char **variant);
/* Replays the plan with each unit's tasks in start order, keeping the
 * result when it is no later (quiver.c): tasks only move earlier. */
int qv__part_compact(const qv__ctx *c, const uint32_t *unit, double *start, double *end);
/* Algorithm a on c (the whole platform) under cost_weight w > 0 and
 * deadline_us (0: none): its candidates on the platform and on the
 * platform without its most expensive resources, one more left out each
 * time while every node can still run; the chosen plan in unit/start/end. */
int qv__part_objective(const qv__ctx *c, qv_algo a, double w, double deadline_us,
                       uint32_t *unit, double *start, double *end, uint32_t *nparts,
                       const char **variant);
/* Money of a placement of n nodes with this makespan (qv_plan_money). */
double qv__part_money(const qv_plat *p, uint32_t n, const uint32_t *unit, double makespan,
                      double *per_res);

/* The planning entry points without a catalog (plan.c, bounds.c, sim.c) and
 * with one (fuse.c; cat NULL: the former). The public qv_plan_make,
 * qv_bounds_compute and qv_sim_validate choose between them. */
int qv__part_plan_make(const qv_dag *g, const qv_plat *p, const qv_plan_opts *o,
                       qv_plan **out, qv_diag *diag);
int qv__part_bounds(const qv_dag *g, const qv_plat *p, qv_bounds *out);
int qv__part_sim_validate(const qv_dag *g, const qv_plat *p, const qv_plan *pl,
                          qv_diag *diag);
int qv__part_plan_make_cat(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                           const qv_plan_opts *o, qv_plan **out, qv_diag *diag);
int qv__part_bounds_cat(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                        qv_bounds *out);
int qv__part_sim_validate_cat(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                              const qv_plan *pl, qv_diag *diag);

/* Sets r's board (what qv_catalog_holds decides by) from board file b: a
 * remote board's is the board its daemon serves (none when its file names
 * none). plat_from_config.c. */
struct qv__board;
void qv__part_res_board(qv_plat_res *r, const struct qv__board *b);

double qv__part_now_us(void);
uint64_t qv__part_rng(uint64_t *s);    /* splitmix64 */
double qv__part_rng_unit(uint64_t *s); /* [0, 1) */
uint64_t qv__part_hash_str(const char *s);

#endif
