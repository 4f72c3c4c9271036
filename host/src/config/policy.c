/*
 * policy.c - the runtime policy loader (schema in policy.h and
 * docs/config/policy.md).
 */
#include "config/policy.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/board.h"
#include "config/catalog.h"
#include "config/yaml_doc.h"
#include "core/internal.h"
#include "qv_text.h"

static const char *const sched_names[] = {"eager", "heft", NULL};
static const char *const level_names[] = {"error", "warn",  "info",
                                          "debug", "trace", NULL};
static const char *const class_names[] = {"cpu", "gpu", "fpga", "remote", NULL};

const char *const qv__policy_top_keys[] = {"scheduler", "hot_threshold", "devices",
                                           "replan",    "discovery",     "log",
                                           "perfmodel", "trace",         "catalog",
                                           "max_inflight", "implicit_regions",
                                           "objective", "deadline_ms", "remote", NULL};

static const qv__ykey top_keys[] = {
    {"scheduler", 0, NULL}, {"hot_threshold", 0, NULL}, {"devices", 0, NULL},
    {"replan", 0, NULL},    {"discovery", 0, NULL},     {"log", 0, NULL},
    {"perfmodel", 0, NULL}, {"trace", 0, NULL},         {"catalog", 0, NULL},
    {"max_inflight", 0, NULL}, {"implicit_regions", 0, NULL}, {"objective", 0, NULL},
    {"deadline_ms", 0, NULL},  {"remote", 0, NULL}, {NULL, 0, NULL},
};
static const qv__ykey replan_keys[] = {
    {"drift", 0, NULL},       {"min_interval_ms", 0, NULL},
    {"eager_slack", 0, NULL}, {"eager_retry_ms", 0, NULL},
    {NULL, 0, NULL},
};
static const qv__ykey discovery_keys[] = {
    {"rescan_interval_ms", 0, NULL},
    {"hwloc", 0, NULL},
    {"opencl", 0, NULL},
    {"xrt", 0, NULL},
    {"boards", 0, NULL},
    {NULL, 0, NULL},
};
static const qv__ykey log_keys[] = {
    {"level", 0, NULL},
    {"file", 0, NULL},
    {NULL, 0, NULL},
};
static const qv__ykey perfmodel_keys[] = {
    {"dir", 0, NULL},
    {"min_samples", 0, NULL},
    {"refresh_ms", 0, NULL},
    {NULL, 0, NULL},
};
static const qv__ykey trace_keys[] = {
    {"path", 0, NULL},
    {NULL, 0, NULL},
};
static const qv__ykey remote_keys[] = {
    {"heartbeat_ms", 0, NULL},
    {"timeout_ms", 0, NULL},
    {NULL, 0, NULL},
};

void qv__policy_pool_options(const qv__policy *p, qv_pool_options *o)
{
    qv_pool_options_init(o);
    o->hwloc = p->discover_hwloc;
    o->opencl = p->discover_opencl;
    o->xrt = p->discover_xrt;
    o->rescan_ms = p->rescan_interval_ms;
    o->boards = (const char *const *)p->boards;
    o->nboards = p->nboards;
}

const char *qv__sched_name(qv__sched s)
{
    return (unsigned)s < 2 ? sched_names[s] : "?";
}

const char *qv__loglevel_name(qv__loglevel l)
{
    return (unsigned)l < 5 ? level_names[l] : "?";
}

void qv__policy_defaults(qv__policy *p)
{
    memset(p, 0, sizeof *p);
    p->scheduler = QV__SCHED_HEFT;
    p->hot_threshold = 3;
    p->implicit_regions = 1;
    p->devices = (1u << QV_CLASS_COUNT) - 1;
    p->replan_drift = 0.25;
    p->replan_min_interval_ms = 1000;
    p->replan_eager_slack = 1.05;
    p->replan_eager_retry_ms = 10000;
    p->rescan_interval_ms = 5000;
    p->discover_hwloc = 1;
    p->discover_opencl = 1;
    p->discover_xrt = 1;
    p->log_level = QV__LOG_WARN;
    p->perfmodel_min_samples = 3;
    p->perfmodel_refresh_ms = 1000;
    p->max_inflight = 65536;
    p->remote_heartbeat_ms = 250;
    p->remote_timeout_ms = 1000;
}

void qv__policy_fini(qv__policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nboards; i++)
        free(p->boards[i]);
    free(p->boards);
    free(p->log_file);
    free(p->perfmodel_dir);
    free(p->trace_path);
    free(p->catalog);
    qv__catalog_free(p->cat);
    qv__policy_defaults(p);
}

static int get_uint(const qv__ydoc *doc, const qv__ynode *map, const char *key,
                    const char *what, int64_t lo, int64_t hi, unsigned *out,
                    qv_diag *diag)
{
    const qv__ynode *n = qv__ymap_get(map, key);
    int64_t v;
    if (!n)
        return 0;
    int rc = qv__yget_int(doc, n, what, lo, hi, &v, diag);
    if (!rc)
        *out = (unsigned)v;
    return rc;
}

static int get_flag(const qv__ydoc *doc, const qv__ynode *map, const char *key,
                    const char *what, int *out, qv_diag *diag)
{
    const qv__ynode *n = qv__ymap_get(map, key);
    return n ? qv__yget_bool(doc, n, what, out, diag) : 0;
}

/* A path that need not exist yet (a log file, a model directory): a
 * non-empty string, resolved against the file. */
static int get_outpath(const qv__ydoc *doc, const qv__ynode *map, const char *key,
                       const char *what, char **out, qv_diag *diag)
{
    const qv__ynode *n = qv__ymap_get(map, key);
    const char *s;
    if (!n)
        return 0;
    int rc = qv__yget_str(doc, n, what, &s, diag);
    if (rc)
        return rc;
    if (!*s)
        return qv__yerr(doc, n, diag, "%s: expected a path, got an empty string", what);
    const char *home = getenv("HOME");
    if (s[0] == '~' && s[1] == '/' && home && *home) {
        /* "~/x" as a shell would read it: users write cache paths so. */
        size_t a = strlen(home), b = strlen(s + 1);
        if (!(*out = malloc(a + b + 1)))
            return QV_ENOMEM;
        memcpy(*out, home, a);
        memcpy(*out + a, s + 1, b + 1);
        return 0;
    }
    *out = qv__path_resolve(doc->dir, s);
    return *out ? 0 : QV_ENOMEM;
}

/* A number with no bounds of its own, for keys whose range takes words to
 * say: a number too large for a double (1e999) is one all the same, +-inf
 * in *v, and one too small (1e-400) the smallest double of its sign, not
 * 0, so that the caller's range refuses it in the caller's words.
 * diag is filled only when n is no number. */
static int get_any_number(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                          double *v, qv_diag *diag)
{
    qv_diag num;
    int rc = qv__yget_double(doc, n, what, -DBL_MAX, DBL_MAX, v, &num);
    if (!rc)
        return 0;
    char *end;
    if (n->kind == QV__Y_SCALAR && n->plain) {
        errno = 0;
        double x = qv__strtod_c(n->str, &end);
        bool tiny = x == 0 && errno == ERANGE;
        if (end != n->str && !*end && (isinf(x) || tiny)) {
            *v = tiny ? copysign(DBL_TRUE_MIN, n->str[0] == '-' ? -1.0 : 1.0) : x;
            return 0;
        }
    }
    if (diag)
        *diag = num;
    return rc;
}

/* objective: time (0), cost (1), or a weight between them. */
static int load_objective(const qv__ydoc *doc, const qv__ynode *n, qv__policy *p,
                          qv_diag *diag)
{
    static const char *const names[] = {"time", "cost", NULL};
    static const char *const form = "time, cost, or a weight from 0 (time) to 1 (cost)";
    if (n->kind != QV__Y_SCALAR)
        return qv__yerr(doc, n, diag, "objective: expected %s, got %s", form, qv__ydesc(n));
    double v;
    if (!get_any_number(doc, n, "objective", &v, NULL)) {
        char t[64];
        if (!(v >= 0 && v <= 1))
            return qv__yerr(doc, n, diag, "objective: %s is out of range; expected %s",
                            qv__ynum_text(n->str, t, sizeof t), form);
        p->objective = v;
        return 0;
    }
    for (int k = 0; names[k]; k++)
        if (!strcmp(n->str, names[k])) {
            p->objective = k;
            return 0;
        }
    const char *dym = qv__did_you_mean(n->str, names);
    if (dym)
        return qv__yerr(doc, n, diag,
                        "objective: unknown value '%s'; did you mean '%s'? (expected %s)",
                        n->str, dym, form);
    return qv__yerr(doc, n, diag, "objective: unknown value '%s'; expected %s", n->str,
                    form);
}

static int load_devices(const qv__ydoc *doc, const qv__ynode *n, qv__policy *p,
                        qv_diag *diag)
{
    if (n->kind != QV__Y_SEQ || n->n == 0)
        return qv__yerr(doc, n, diag,
                        "devices: expected a non-empty list of device "
                        "classes such as [cpu, gpu, fpga, remote], got %s",
                        qv__ydesc(n));
    p->devices = 0;
    for (size_t i = 0; i < n->n; i++) {
        int c;
        int rc = qv__yget_enum(doc, n->items[i], "devices", class_names, &c, diag);
        if (rc)
            return rc;
        if (p->devices & (1u << c))
            return qv__yerr(doc, n->items[i], diag, "devices: '%s' is listed twice",
                            class_names[c]);
        p->devices |= 1u << c;
    }
    if (!(p->devices & (1u << QV_CLASS_CPU)))
        return qv__yerr(doc, n, diag,
                        "devices: expected a list that includes cpu (the "
                        "runtime falls back to the CPU when a device fails)");
    return 0;
}

/* Item i of discovery.boards n: its path into p, its board's name into
 * names[i] (the earlier ones' names in names[0..i)). */
static int load_board(const qv__ydoc *doc, const qv__ynode *n, size_t i, qv__policy *p,
                      char **names, qv_diag *diag)
{
    char *path;
    int rc = qv__yget_path(doc, n->items[i], "discovery.boards", 0, &path, diag);
    if (rc)
        return rc;
    /* The same file under two spellings (x, ./x, a link) is one board:
     * files are compared by identity, not by name. */
    for (size_t j = 0; j < p->nboards; j++)
        if (qv__same_file(p->boards[j], path)) {
            free(path);
            if (!strcmp(n->items[j]->str, n->items[i]->str))
                return qv__yerr(doc, n->items[i], diag,
                                "discovery.boards: '%s' is listed twice",
                                n->items[i]->str);
            return qv__yerr(doc, n->items[i], diag,
                            "discovery.boards: '%s' is the same file as '%s' "
                            "(line %u, column %u); list each board once",
                            n->items[i]->str, n->items[j]->str, n->items[j]->line,
                            n->items[j]->col);
        }
    p->boards[p->nboards++] = path;
    /* Nothing starts half-configured: the boards must load now. */
    qv__board *b;
    qv_diag sub;
    rc = qv__board_load(path, &b, &sub);
    if (rc == QV_ENOMEM)
        return rc;
    if (rc) {
        char where[1200];
        qv_diag_format(&sub, where, sizeof where);
        return qv__yerr(doc, n->items[i], diag,
                        "discovery.boards: '%s' is not a valid board: %s",
                        n->items[i]->str, where);
    }
    names[i] = strdup(b->name);
    qv__board_free(b);
    if (!names[i])
        return QV_ENOMEM;
    for (size_t j = 0; j < i; j++)
        if (!strcmp(names[j], names[i]))
            return qv__yerr(doc, n->items[i], diag,
                            "discovery.boards: '%s' describes board '%s', as '%s' "
                            "(line %u, column %u) does: a board's name is what tells "
                            "its devices apart",
                            n->items[i]->str, names[i], n->items[j]->str,
                            n->items[j]->line, n->items[j]->col);
    return 0;
}

static int load_boards(const qv__ydoc *doc, const qv__ynode *n, qv__policy *p,
                       qv_diag *diag)
{
    if (n->kind != QV__Y_SEQ)
        return qv__yerr(doc, n, diag,
                        "discovery.boards: expected a list of board files, "
                        "got %s",
                        qv__ydesc(n));
    p->boards = calloc(n->n ? n->n : 1, sizeof *p->boards);
    if (!p->boards)
        return QV_ENOMEM;
    /* The boards' names, each once: a board's name is what tells its
     * devices apart. Checked here too, not only by discovery, so that
     * `quiver check` refuses such a policy (it passed, and the runtime
     * said "cannot start the device threads: already exists": adversarial
     * testing). */
    char **names = calloc(n->n ? n->n : 1, sizeof *names);
    if (!names)
        return QV_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n->n && !rc; i++)
        rc = load_board(doc, n, i, p, names, diag);
    for (size_t i = 0; i < n->n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* The catalog loads now, as the runtime uses it (the runtime takes p->cat),
 * so that `quiver check` on a policy refuses what the runtime would. */
static int load_catalog(const qv__ydoc *doc, const qv__ynode *n, qv__policy *p,
                        qv_diag *diag)
{
    qv_diag sub;
    int rc = qv__catalog_load(p->catalog, &p->cat, &sub);
    if (rc == QV_ENOMEM)
        return rc;
    if (rc) {
        char where[1200];
        qv_diag_format(&sub, where, sizeof where);
        return qv__yerr(doc, n, diag, "catalog: '%s' is not a valid kernel catalog: %s",
                        n->str, where);
    }
    return 0;
}

/* Which file the runtime reads (this policy, the catalog, a board file)
 * path is, or NULL: an output there (log.file, trace.path) would write
 * into it. */
static const char *read_by(const qv__ydoc *doc, const qv__policy *p, const char *path)
{
    if (doc->path && qv__same_file(path, doc->path) == 1)
        return "this policy file";
    if (p->catalog && qv__same_file(path, p->catalog) == 1)
        return "the catalog";
    for (size_t i = 0; i < p->nboards; i++)
        if (qv__same_file(path, p->boards[i]) == 1)
            return "a board file of discovery.boards";
    return NULL;
}

int qv__policy_from_doc(const qv__ydoc *doc, qv__policy *p, qv_diag *diag)
{
    qv__policy_defaults(p);
    const qv__ynode *root = doc->root, *n, *sec;
    if (!root || qv__yis_null(root))
        return 0; /* an empty file is the default policy */
    int rc = qv__ymap_check(doc, root, "the runtime policy", top_keys, diag);
    int v = 0;
    if (!rc && (n = qv__ymap_get(root, "scheduler"))) {
        rc = qv__yget_enum(doc, n, "scheduler", sched_names, &v, diag);
        p->scheduler = (qv__sched)v;
    }
    if (!rc)
        rc = get_uint(doc, root, "hot_threshold", "hot_threshold", 1, 1000000,
                      &p->hot_threshold, diag);
    if (!rc)
        rc = get_flag(doc, root, "implicit_regions", "implicit_regions",
                      &p->implicit_regions, diag);
    if (!rc)
        rc = get_uint(doc, root, "max_inflight", "max_inflight", 16, 1u << 24,
                      &p->max_inflight, diag);
    if (!rc && (n = qv__ymap_get(root, "devices")))
        rc = load_devices(doc, n, p, diag);
    if (!rc && (n = qv__ymap_get(root, "objective")))
        rc = load_objective(doc, n, p, diag);
    /* Any number, then its range in one message (1e999 and 1e301 were
     * told a range of -1e+300 to 1e+300: adversarial testing). */
    if (!rc && (n = qv__ymap_get(root, "deadline_ms")) &&
        !(rc = get_any_number(doc, n, "deadline_ms", &p->deadline_ms, diag)) &&
        !(p->deadline_ms >= 0 && p->deadline_ms <= 86400000)) {
        char t[64];
        rc = qv__yerr(doc, n, diag,
                      "deadline_ms: %s is out of range; expected 0 (none) to 86400000 "
                      "(a day)",
                      qv__ynum_text(n->str, t, sizeof t));
    }
    if (!rc && (n = qv__ymap_get(root, "catalog"))) {
        rc = qv__yget_path(doc, n, "catalog", 0, &p->catalog, diag);
        if (!rc)
            rc = load_catalog(doc, n, p, diag);
    }
    if (!rc && (sec = qv__ymap_get(root, "replan"))) {
        rc = qv__ymap_check(doc, sec, "replan", replan_keys, diag);
        if (!rc && (n = qv__ymap_get(sec, "drift")))
            rc = qv__yget_double(doc, n, "replan.drift", 0.01, 100, &p->replan_drift,
                                 diag);
        if (!rc)
            rc = get_uint(doc, sec, "min_interval_ms", "replan.min_interval_ms", 0,
                          86400000, &p->replan_min_interval_ms, diag);
        if (!rc)
            rc = get_uint(doc, sec, "eager_retry_ms", "replan.eager_retry_ms", 0,
                          86400000, &p->replan_eager_retry_ms, diag);
        if (!rc && (n = qv__ymap_get(sec, "eager_slack"))) {
            /* One message for both gaps of the range (0 to 1 and past 10
             * said different things). */
            double slack = 0;
            rc = get_any_number(doc, n, "replan.eager_slack", &slack, diag);
            char t[64];
            if (!rc && !(slack == 0 || (slack >= 1 && slack <= 10)))
                rc = qv__yerr(doc, n, diag,
                              "replan.eager_slack: %s is out of range; expected 0 (never "
                              "fall back to eager placement) or 1 to 10",
                              qv__ynum_text(n->str, t, sizeof t));
            if (!rc)
                p->replan_eager_slack = slack;
        }
    }
    if (!rc && (sec = qv__ymap_get(root, "discovery"))) {
        rc = qv__ymap_check(doc, sec, "discovery", discovery_keys, diag);
        if (!rc)
            rc = get_uint(doc, sec, "rescan_interval_ms", "discovery.rescan_interval_ms",
                          0, 86400000, &p->rescan_interval_ms, diag);
        if (!rc && p->rescan_interval_ms && p->rescan_interval_ms < 100)
            rc = qv__yerr(doc, qv__ymap_get(sec, "rescan_interval_ms"), diag,
                          "discovery.rescan_interval_ms: %u is out of range; "
                          "expected 0 (no rescan) or 100 to 86400000",
                          p->rescan_interval_ms);
        if (!rc)
            rc = get_flag(doc, sec, "hwloc", "discovery.hwloc", &p->discover_hwloc, diag);
        if (!rc)
            rc = get_flag(doc, sec, "opencl", "discovery.opencl", &p->discover_opencl,
                          diag);
        if (!rc)
            rc = get_flag(doc, sec, "xrt", "discovery.xrt", &p->discover_xrt, diag);
        if (!rc && (n = qv__ymap_get(sec, "boards")))
            rc = load_boards(doc, n, p, diag);
    }
    if (!rc && (sec = qv__ymap_get(root, "log"))) {
        rc = qv__ymap_check(doc, sec, "log", log_keys, diag);
        if (!rc && (n = qv__ymap_get(sec, "level"))) {
            rc = qv__yget_enum(doc, n, "log.level", level_names, &v, diag);
            p->log_level = (qv__loglevel)v;
        }
        if (!rc)
            rc = get_outpath(doc, sec, "file", "log.file", &p->log_file, diag);
        /* A directory there passed `quiver check` and failed the runtime's
         * start (a user's finding): said by both. */
        struct stat st;
        if (!rc && p->log_file && stat(p->log_file, &st) == 0 && S_ISDIR(st.st_mode))
            rc = qv__yerr(doc, qv__ymap_get(sec, "file"), diag,
                          "log.file: %s is a directory; expected a file to append to",
                          p->log_file);
        /* Nor a file the runtime reads: the catalog took log lines and did
         * not parse again (adversarial testing). */
        const char *read = !rc && p->log_file ? read_by(doc, p, p->log_file) : NULL;
        if (read)
            rc = qv__yerr(doc, qv__ymap_get(sec, "file"), diag,
                          "log.file: %s is %s, which the runtime reads; expected a file "
                          "of its own to append to",
                          p->log_file, read);
    }
    if (!rc && (sec = qv__ymap_get(root, "perfmodel"))) {
        rc = qv__ymap_check(doc, sec, "perfmodel", perfmodel_keys, diag);
        if (!rc)
            rc = get_outpath(doc, sec, "dir", "perfmodel.dir", &p->perfmodel_dir, diag);
        if (!rc)
            rc = get_uint(doc, sec, "min_samples", "perfmodel.min_samples", 1, 1000000,
                          &p->perfmodel_min_samples, diag);
        if (!rc)
            rc = get_uint(doc, sec, "refresh_ms", "perfmodel.refresh_ms", 0, 86400000,
                          &p->perfmodel_refresh_ms, diag);
    }
    if (!rc && (sec = qv__ymap_get(root, "trace"))) {
        rc = qv__ymap_check(doc, sec, "trace", trace_keys, diag);
        if (!rc)
            rc = get_outpath(doc, sec, "path", "trace.path", &p->trace_path, diag);
        /* As log.file: a directory passed `quiver check`, and the trace was
         * lost at exit (adversarial testing). */
        struct stat st;
        if (!rc && p->trace_path && stat(p->trace_path, &st) == 0 && S_ISDIR(st.st_mode))
            rc = qv__yerr(doc, qv__ymap_get(sec, "path"), diag,
                          "trace.path: %s is a directory; expected a file to write",
                          p->trace_path);
        const char *read = !rc && p->trace_path ? read_by(doc, p, p->trace_path) : NULL;
        if (read)
            rc =
                qv__yerr(doc, qv__ymap_get(sec, "path"), diag,
                         "trace.path: %s is %s, which the runtime reads; expected a file "
                         "of its own to write",
                         p->trace_path, read);
    }
    if (!rc && (sec = qv__ymap_get(root, "remote"))) {
        rc = qv__ymap_check(doc, sec, "remote", remote_keys, diag);
        if (!rc)
            rc = get_uint(doc, sec, "heartbeat_ms", "remote.heartbeat_ms", 10, 60000,
                          &p->remote_heartbeat_ms, diag);
        if (!rc)
            rc = get_uint(doc, sec, "timeout_ms", "remote.timeout_ms", 50, 3600000,
                          &p->remote_timeout_ms, diag);
        if (!rc && p->remote_timeout_ms < 2 * p->remote_heartbeat_ms)
            rc = qv__yerr(doc, sec, diag,
                          "remote: timeout_ms (%u) must be at least twice heartbeat_ms "
                          "(%u), else a late heartbeat fails the board",
                          p->remote_timeout_ms, p->remote_heartbeat_ms);
    }
    if (rc)
        qv__policy_fini(p);
    return rc;
}

int qv__policy_load(const char *path, qv__policy *out, qv_diag *diag)
{
    qv__policy_defaults(out);
    qv__ydoc *doc;
    int rc = qv__ydoc_load(path, &doc, diag);
    if (rc)
        return rc;
    rc = qv__policy_from_doc(doc, out, diag);
    qv__ydoc_free(doc);
    return rc;
}
