/*
 * qvpart.h - the offline planner of Quiver: task graphs (qv_dag), platforms
 * (qv_plat), plans (qv_plan), the schedulers that make plans (Quiver's
 * METIS-based planner, HEFT, PEFT, METIS-only), the lower bounds and the
 * simulator that replays and checks a plan under the cost model of docs/model.md.
 *
 * Functions return 0 or a negative QV_E* code of quiver.h (qv_strerror
 * names it): QV_EINVAL for a bad argument or a problem with no solution,
 * QV_EFORMAT for a malformed input file, QV_ENOMEM, QV_EIO, -errno when a
 * file cannot be read. Where the input is a file, a qv_diag (may be NULL)
 * says what was wrong and where (file:line:column).
 * Graph and platform structs are plain data so that schedulers and tools can
 * walk them without accessor calls; treat them as read-only after loading.
 * Nothing here keeps global state: every function is safe to call from any
 * thread on objects that thread owns.
 */
#ifndef QVPART_H
#define QVPART_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "quiver.h"
#include "quiver/config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QV_DAG_MAX_CLASSES 8  /* device classes one graph may name */
#define QV_CLASS_NAME_MAX  16 /* bytes, with the terminating NUL */
#define QV_DAG_MAX_NODES   (1u << 24)
#define QV_DAG_MAX_EDGES   (1u << 26)
/* The largest JSON file (a graph, a workflow) the readers take, in bytes. */
#define QV_JSON_MAX_FILE   ((size_t)512 << 20)


/* ---- graphs ------------------------------------------------------------ */

/* One node of a recorded graph as the runtime ran it (the node keys
 * device, worker, start_us, critical and board_us of .qvg.json). */
typedef struct qv_dag_run {
    int32_t device;  /* class index it ran on (its cost there is the measured
                      * time), or -1 when unknown */
    uint32_t worker; /* the runtime's CPU worker or device driver thread */
    double start_us; /* µs after the graph's first start */
    double board_us; /* an emulated board's modelled time, µs; 0: none */
    int critical;    /* 1 when on the measured critical path */
} qv_dag_run;

/*
 * An ExecutionGraph. Nodes are 0..n-1 in file order (ids[] keeps the ids of
 * the file); cost[i * nclass + k] is node i's time on class k in µs, or
 * INFINITY where the node has no implementation for that class. Edges are
 * stored as given and also in CSR form (succ_*, pred_*) after
 * qv_dag_finalize(); topo[] is a topological order.
 */
typedef struct qv_dag {
    char *name;
    uint32_t n, m;
    uint32_t nclass;
    char class_name[QV_DAG_MAX_CLASSES][QV_CLASS_NAME_MAX];
    int64_t *ids;
    uint32_t *func; /* index into func_name */
    char **func_name;
    uint32_t nfunc;
    double *cost;                            /* µs, n * nclass */
    uint64_t *bytes_in, *bytes_out, *memory; /* bytes */
    uint32_t *esrc, *edst;
    uint64_t *ebytes; /* bytes per edge */
    /* How a run went, for a graph the runtime recorded (qv_graph_write)
     * and read back: NULL and 0 otherwise. run has n entries, set once the
     * last node is added; qv_dag_destroy frees it. */
    struct qv_dag_run *run;
    double span_us;          /* first start to last end, µs */
    double critical_path_us; /* longest path on measured times, µs */
    /* filled by qv_dag_finalize */
    uint32_t *succ_off, *succ_edge; /* succ_edge[succ_off[i]..] = edge ids */
    uint32_t *pred_off, *pred_edge;
    uint32_t *topo;
} qv_dag;

/* An empty graph named `name` (copied); free with qv_dag_destroy. Graphs
 * come only from the library (this, qv_dag_load, qv_dag_import,
 * qv_dag_generate): it keeps private growth state behind the struct. */
QV_API int qv_dag_create(const char *name, qv_dag **out);
QV_API void qv_dag_destroy(qv_dag *g); /* NULL is fine */
/* The index of class `name`, added if new; QV_EINVAL for a name that is not
 * an identifier or one class too many. */
QV_API int qv_dag_class(qv_dag *g, const char *name);
/* Appends a node with all classes absent; *out (may be NULL) gets its
 * index. QV_E2BIG past QV_DAG_MAX_NODES. */
QV_API int qv_dag_add_node(qv_dag *g, int64_t id, const char *function, uint32_t *out);
/* QV_EINVAL for a node that does not exist, QV_E2BIG past QV_DAG_MAX_EDGES. */
QV_API int qv_dag_add_edge(qv_dag *g, uint32_t src, uint32_t dst, uint64_t bytes);
/* Builds the CSR arrays and the topological order; QV_EINVAL and a diag naming
 * a node on the cycle if the edges do not form a DAG, or on a self loop. */
QV_API int qv_dag_finalize(qv_dag *g, qv_diag *diag);

/* Reads a .qvg.json graph (docs/formats.md, docs/partition.md) from a file or a buffer. The
 * result is finalized and the caller's (qv_dag_destroy). QV_EFORMAT for a
 * malformed graph (a cycle included), with line/column or node-id in diag;
 * -errno when the file cannot be read. */
QV_API int qv_dag_load(const char *path, qv_dag **out, qv_diag *diag);
QV_API int qv_dag_parse(const char *text, size_t len, const char *fname, qv_dag **out,
                 qv_diag *diag);
/* Writes g as .qvg.json; 0 or QV_EIO. */
QV_API int qv_dag_write(const qv_dag *g, FILE *f);
/* 0 when the finalized graph g meets every rule of the .qvg.json reader,
 * so that qv_dag_write writes a file qv_dag_load accepts: non-empty function
 * names, ids within +-2^53 and unique, costs in [0, 1e15] µs with at least
 * one class per node, byte counts up to 2^53, one edge per node pair. Else
 * QV_EINVAL and a diag that names the node or edge (file: the graph's
 * name). */
QV_API int qv_dag_check(const qv_dag *g, qv_diag *diag);

/* Imports a WfFormat JSON (1.x) or Pegasus DAX 2.1 XML workflow, chosen by
 * content. CPU cost = recorded runtime; edge bytes = files the parent writes
 * and the child reads; accelerator costs by the rule of qv_import_opts.
 * Repeated ids (tasks, jobs, files, a task's parents) and repeated XML
 * attributes are errors, and the result passes qv_dag_check: an imported
 * graph is one `quiver plan` reads. QV_EFORMAT (diag: file:line:column)
 * for a malformed workflow, QV_EINVAL for a bad accelerator rule. */
typedef struct qv_import_opts {
    /* Each class other than cpu gets cost = cpu / factor for the functions
     * the rule gives it, where factor is drawn log-uniformly from
     * [lo, hi] by a hash of the function name, and a function has that
     * class with probability `share` (also by hash). Zero opts = the
     * defaults of docs/partition.md: gpu [0.5, 16] share 1, fpga [0.5, 8]
     * share 0.5. */
    struct {
        char name[QV_CLASS_NAME_MAX];
        double lo, hi, share;
    } accel[4];
    unsigned naccel;
} qv_import_opts;
QV_API int qv_dag_import(const char *path, const qv_import_opts *opts, qv_dag **out,
                  qv_diag *diag);

/* Generators. Costs in µs for classes cpu, gpu (and fpga where said). */
typedef enum qv_gen_kind {
    QV_GEN_CHOLESKY,
    QV_GEN_LU,
    QV_GEN_QR,
    QV_GEN_FFT,
    QV_GEN_RANDOM
} qv_gen_kind;
typedef struct qv_gen_opts {
    qv_gen_kind kind;
    unsigned nt;                     /* tiles per side (cholesky, lu, qr) */
    unsigned points;                 /* FFT points, a power of two */
    unsigned n;                      /* random: number of tasks */
    double fat, density, regularity; /* random, DAGGEN meaning, in [0,1] */
    unsigned jump;                   /* random: max levels an edge may skip (>= 1) */
    double ccr;                      /* random and FFT: communication/computation ratio */
    double heterogeneity;            /* random and FFT: beta of Topcuoglu, in [0, 2) */
    uint64_t seed;
} qv_gen_opts;
/* Defaults for kind (nt 10, points 64, n 100, fat .5, density .5,
 * regularity .5, jump 2, ccr 1, heterogeneity 1, seed 1). */
QV_API void qv_gen_defaults(qv_gen_kind kind, qv_gen_opts *o);
/* QV_EINVAL for options out of range. */
QV_API int qv_dag_generate(const qv_gen_opts *o, qv_dag **out);

/* ---- platforms --------------------------------------------------------- */

typedef struct qv_plat_res {
    char name[128];       /* as a platform file or discovery names it */
    char cls[QV_CLASS_NAME_MAX];
    uint32_t units;
    double speed;         /* relative, default 1 */
    double bandwidth_gbs; /* link to host memory, GB/s (10^9 B/s) */
    double latency_us;    /* link latency, µs */
    double cost_per_hour; /* money, default 0 */
    int host_memory;      /* cpu: shares host memory, no link used */
    uint32_t first_unit;  /* index of its first unit in the platform */
    /* From the resource's `board` file ("" and 0 without one): which builds
     * of a kernel catalog the resource can load (qv_catalog_holds). */
    char board_name[128];     /* a board file's name: 1 to 127 bytes */
    char board_platform[128];
    int board_emulation;
    /* Its work runs on the host's CPU cores (OpenCL on the CPU such as
     * PoCL, an emulated board): each of its tasks also holds this many
     * units of the platform's CPU resource while it runs (1, or more for
     * a device that spreads one kernel over several cores; at most the
     * CPU's units), so that it adds no capacity that the host does not
     * have. 0: none; negative: qv_plat_create refuses it. Ignored on the
     * CPU itself. */
    int shares_cpu;
} qv_plat_res;

typedef struct qv_plat {
    char name[64];
    uint32_t nres, nunits;
    qv_plat_res *res;
    uint32_t *unit_res; /* unit -> resource */
    /* transfer cost between memories of resources a and b:
     * lat[a*nres+b] + bytes * inv_bw[a*nres+b] (µs) */
    double *lat, *inv_bw;
    /* The resource whose units a shares_cpu resource's tasks hold: the
     * first resource of class cpu in host memory; UINT32_MAX if none. */
    uint32_t host_res;
} qv_plat;

/* Reads a platform file (docs/config/platform.md; a board a resource names
 * is read relative to the file) with the runtime's one reader of the format,
 * so that the verdict and the file:line:col message are those of
 * qv_config_check. 0, QV_EFORMAT (diag says what and where), QV_ENOENT or
 * -errno (unreadable), QV_ENOMEM; diag may be NULL. The result is the
 * caller's, freed with qv_plat_destroy. */
QV_API int qv_plat_load(const char *path, qv_plat **out, qv_diag *diag);
QV_API int qv_plat_parse(const char *text, size_t len, const char *fname, qv_plat **out,
                  qv_diag *diag);
QV_API void qv_plat_destroy(qv_plat *p); /* NULL is fine */
/* Builds a platform from resources (copied); fills lat/inv_bw. QV_EINVAL
 * past the limits of a platform file (1 to 64 resources, 1 to 4096 units in
 * all) or for a resource without speed, without a link unless it shares
 * host memory, or with a negative shares_cpu. */
QV_API int qv_plat_create(const char *name, const qv_plat_res *res, uint32_t nres,
                   qv_plat **out);

/* The machine as the runtime sees it: one resource per device that
 * qv_runtime_create opens from the pool (quiver/config.h), in its order and
 * named as qv_device_get names them: first the CPU (every hwloc resource
 * together, "numa0+numa1", one unit per core), then each accelerator as one
 * unit (the runtime runs one task at a time on each) with the pool's cost
 * per hour and link (latency, bandwidth), an FPGA board with its name,
 * vendor platform and emulation for qv_catalog_holds. OpenCL devices that
 * are not GPUs are left out, as the runtime leaves them, and so is a remote
 * board whose daemon does not answer a probe (1 s).
 * name may be NULL ("this machine"). */
QV_API int qv_plat_from_pool(qv_pool *pool, const char *name, qv_plat **out);

/* µs to move `bytes` from resource a's memory to resource b's. */
static inline double qv_plat_comm(const qv_plat *p, uint32_t a, uint32_t b,
                                  uint64_t bytes)
{
    size_t i = (size_t)a * p->nres + b;
    return p->lat[i] + (double)bytes * p->inv_bw[i];
}

/* ---- kernel catalogs ----------------------------------------------------- */

/*
 * The kernel catalog (config/kernels.yaml, docs/config/catalog.md): one type
 * and one loader, shared by the runtime, `quiver check` and the planner. The
 * planner reads each kernel's name, the function it implements or the fused
 * chain of functions in data-flow order, the boards and vendor platforms it
 * was built for, and its measured times by bytes. With a catalog, an
 * fpga-class resource runs a node only if it holds a single-function kernel
 * for the node's function, and a chain of nodes may run as one task of a
 * fused kernel (docs/partition.md, "Kernel catalog"). Kernels are numbered
 * 0..qv_catalog_kernel_count()-1 in file order. A loaded catalog is
 * read-only: any thread may read it.
 */
typedef struct qv__catalog qv_catalog; /* opaque: the runtime's catalog */

/* Reads and checks a catalog file with the runtime's loader (board files
 * and xclbins relative to the file): the same verdict and the same
 * file:line:col message as qv_config_check and the runtime. 0, or
 * QV_EFORMAT (diag says what and where), QV_ENOENT or -errno (unreadable),
 * QV_ENOMEM; diag may be NULL. *out is the caller's, freed with
 * qv_catalog_destroy. */
QV_API int qv_catalog_load(const char *path, qv_catalog **out, qv_diag *diag);
QV_API void qv_catalog_destroy(qv_catalog *c); /* NULL is fine */
/* The number of kernels, and kernel k's name (owned by the catalog; NULL
 * when k is past the end). */
QV_API uint32_t qv_catalog_kernel_count(const qv_catalog *c);
QV_API const char *qv_catalog_kernel_name(const qv_catalog *c, uint32_t k);
/* 1 when resource r (class fpga, or remote with the board its daemon
 * serves in board_name) can load kernel k, else 0: a build names its board,
 * or its board's vendor platform and the board is not emulated. The
 * runtime's devices and placement decide by the same rule. */
QV_API int qv_catalog_holds(const qv_catalog *c, uint32_t k, const qv_plat_res *r);
/* µs of one call of kernel k on `bytes` by its table: linear between the two
 * points around bytes, the first point's time below the first, and above the
 * last the line through the last two points (never falling; proportional to
 * bytes with one point). NAN when k has no table. */
QV_API double qv_catalog_table_us(const qv_catalog *c, uint32_t k, uint64_t bytes);

/* ---- plans ------------------------------------------------------------- */

typedef enum qv_algo {
    QV_ALGO_QUIVER,
    QV_ALGO_HEFT,
    QV_ALGO_PEFT,
    QV_ALGO_METIS
} qv_algo;
/* "quiver", "heft", "peft", "metis" (static strings), and back: QV_EINVAL
 * for an unknown name. */
QV_API const char *qv_algo_name(qv_algo a);
QV_API int qv_algo_parse(const char *s, qv_algo *out);

typedef struct qv_plan {
    qv_algo algo;
    const char *variant; /* static string: the candidate the quiver planner
                          * kept (heft, peft, ranks, metis, refined) */
    uint32_t n;
    uint32_t *unit;      /* node -> platform unit */
    double *start, *end; /* µs */
    double makespan;     /* µs */
    double lower_bound;  /* µs, max(LB_cp, LB_area) */
    double plan_time_us; /* wall-clock time of the algorithm alone */
    uint32_t nparts;     /* parts of the partition used; 0: no partition
                          * (HEFT, PEFT, or a list-scheduled quiver plan) */
    uint64_t bytes_cut;  /* bytes on edges between different memories */
    /* Fused chains (planning with a catalog), NULL when none: fused[i] is the
     * index in `catalog` of the fused kernel whose one task runs node i, or
     * UINT32_MAX. The catalog is borrowed: it must outlive the plan. */
    uint32_t *fused;
    const qv_catalog *catalog;
    /* 1 when qv_plan_opts.deadline_us was set and the plan does not meet
     * it: no candidate did, so the planner kept the fastest. */
    int deadline_missed;
    /* The factor the fused kernels' table times were multiplied by
     * (qv_plan_opts.fused_scale; 1 for none). */
    double fused_scale;
} qv_plan;

/*
 * How to plan. Fields are only appended: `size` (set by qv_plan_opts_init)
 * tells the library which fields the caller knows, and the others keep
 * their defaults.
 */
typedef struct qv_plan_opts {
    size_t size;               /* sizeof(qv_plan_opts) when the caller built */
    qv_algo algo;              /* default QV_ALGO_QUIVER */
    const qv_catalog *catalog; /* default NULL: no kernel catalog; borrowed,
                                * it must outlive the plan */
    /* The objective (docs/partition.md, "Objective"): 0, the default, is
     * time alone (the shortest makespan); 1 is money alone (qv_plan_money,
     * the shortest makespan among plans of equal money); between, the plan
     * minimising (1-w) makespan/best + w money/most over the candidates.
     * With w > 0 the candidates include plans that leave out the most
     * expensive resources. In [0, 1]. */
    double cost_weight;
    /* µs; 0 (the default): none. With cost_weight > 0 only the candidates
     * that finish within it are weighed; when none does, the fastest is
     * kept and qv_plan.deadline_missed says so. >= 0. */
    double deadline_us;
    /* 0 (the default): with a catalog, chains that a fused kernel
     * implements may run as one task. 1: every node runs as itself; the
     * catalog still says which kernels each FPGA holds (the runtime plans
     * a region so after its fused plan lost to eager placement). */
    int no_fuse;
    /* Multiplies the time a fused kernel's `perf.table` gives (0, the
     * default, or 1: as the catalog says): a runtime that measured its
     * boards slower than their tables plans with what it measured. >= 0. */
    double fused_scale;
    /* Asked while planning (NULL, the default: never): before each
     * schedule and each METIS run, and every 1024 nodes a schedule
     * places, so at least once for any graph. A nonzero answer stops the
     * planner, and qv_plan_make returns QV_ECANCELED. The runtime stops
     * its background compile so when it shuts down (a region of 100 000
     * calls took seconds to plan). */
    int (*cancel)(void *arg);
    void *cancel_arg;
} qv_plan_opts;
/* Fills o with the defaults and its size. */
QV_API void qv_plan_opts_init(qv_plan_opts *o);

/* Plans g (finalized) on p; opts NULL means the defaults. With a catalog,
 * fpga resources run only the functions whose kernels they hold, and chains
 * that a fused kernel implements run as one task where that is cheaper
 * (docs/partition.md, "Kernel catalog"). The plan is simulated and checked
 * before it is returned, and is the caller's (qv_plan_destroy). QV_EINVAL
 * (diag says why) when some node can run on no unit, for an unfinalized
 * graph or bad opts; QV_ENOMEM. */
QV_API int qv_plan_make(const qv_dag *g, const qv_plat *p, const qv_plan_opts *opts,
                        qv_plan **out, qv_diag *diag);
QV_API void qv_plan_destroy(qv_plan *pl); /* NULL is fine */
/* What a plan costs: each resource that runs at least one task bills its
 * cost_per_hour for the plan's whole makespan, so the money is the sum over
 * the resources used of cost_per_hour * makespan_us / 3.6e9. per_res (may
 * be NULL) gets each resource's share (p->nres entries, 0 for those unused).
 * p must be the platform the plan was made on. */
QV_API double qv_plan_money(const qv_plan *pl, const qv_plat *p, double *per_res);
/* Writes the plan as the plan JSON of docs/formats.md (unit numbered within its
 * resource), or as Graphviz (one cluster per resource, transfers labelled).
 * 0 or QV_EIO. */
QV_API int qv_plan_write_json(const qv_dag *g, const qv_plat *p, const qv_plan *pl, FILE *f);
QV_API int qv_plan_write_dot(const qv_dag *g, const qv_plat *p, const qv_plan *pl, FILE *f);

/* ---- bounds and metrics ------------------------------------------------ */

typedef struct qv_bounds {
    double lb_cp;    /* longest path, fastest unit each, free transfers */
    double lb_area;  /* fractional split of the work over classes */
    double seq_best; /* best single-unit sequential time, INFINITY if no
                      * unit can run every node */
} qv_bounds;
/* The bounds of the problem qv_plan_make solves with catalog cat (NULL:
 * none; with one, its placement rules and fused chains as the planner fuses
 * them, at the tables' own times: a plan made with qv_plan_opts.fused_scale
 * carries its own bound in qv_plan.lower_bound). lb_cp is also the SLR divisor (Σ of
 * minimum costs on CP_MIN, Topcuoglu 2002); lb_area is a valid bound (weak LP duality)
 * that equals the LP optimum with up to two classes. QV_EINVAL for an unfinalized graph
 * or a node no unit can run; QV_ENOMEM. */
QV_API int qv_bounds_compute(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                             qv_bounds *out);

/* ---- simulator --------------------------------------------------------- */

/* Replays an assignment (node -> unit) and an order of all nodes (a
 * topological order that also gives each unit's queue order) under the cost
 * model, filling start/end (n each, µs) and returning the makespan in *ms.
 * A node on a shares_cpu resource also waits for and holds shares_cpu
 * units of the host's CPU (those free soonest; of those, the ones whose own
 * next node in order comes last). QV_EINVAL for an unfinalized graph, an order that
 * is not topological or a node on a unit that cannot run it; QV_ENOMEM. */
QV_API int qv_sim_replay(const qv_dag *g, const qv_plat *p, const uint32_t *unit,
                  const uint32_t *order, double *start, double *end, double *ms);
/* Checks a plan: every node once on a unit of a class it has a cost for,
 * with its duration, no overlap on a unit, inputs arrived before it starts,
 * makespan = last end, a lower bound from 0 to the makespan (times that are
 * NaN or infinite fail), never more units of the host's CPU held at one
 * instant (one by each of its nodes, shares_cpu by each node of a shares_cpu
 * resource) than the CPU has. With a catalog cat (NULL: none), also
 * fpga nodes only on resources holding their kernel, and the nodes of each fused chain
 * (pl->fused) a path the kernel implements, all on one unit with one start
 * and end, taking the kernel's time there; any other shared slot is an
 * overlap, and without a catalog a plan with fused chains is refused.
 * 0 or QV_EINVAL with the first violation in diag; QV_ENOMEM. */
QV_API int qv_sim_validate(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                           const qv_plan *pl, qv_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
