/*
 * export.c - writes the recorded graph out: the quiver-graph JSON of
 * docs/partition.md (.qvg.json) through the planner's one writer of the format
 * (qv_dag_write, on the graph qv__graph_to_dag converts), Graphviz DOT with
 * the critical path in red, and a Chrome trace-event timeline (one track per
 * worker, flow arrows for the dependencies that carry data between workers,
 * the trace's marks as global instants) that opens in Perfetto.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/device.h"
#include "qv_escape.h"
#include "qv_text.h"
#include "trace/graph.h"
#include "trace/marks.h"
#include "trace/perfmodel.h"
#include "trace/to_dag.h"

/* The calling thread's state while it writes an export (open_out to
 * close_out): numbers in the C locale, whatever the program's (under a
 * locale with a decimal comma, "ts": 6,533 made the trace invalid JSON:
 * adversarial testing), and SIGPIPE held back, so that a pipe whose
 * reader went away fails the export instead of killing the program (its
 * default action did: adversarial testing). */
static _Thread_local struct {
    locale_t prev;
    sigset_t mask;
    bool pipe_was_pending;
} out_state;

static bool pipe_pending(void)
{
    sigset_t p;
    return sigpending(&p) == 0 && sigismember(&p, SIGPIPE) == 1;
}

static sigset_t pipe_set(void)
{
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    return pipe;
}

/* Set while qv_runtime_destroy writes trace.path (qv__trace_write_exit):
 * open_out does not wait for a FIFO's reader then. */
static _Thread_local bool out_no_wait;

/* *f open for writing at path, or -errno with qv_last_error naming path.
 * A FIFO blocks the open until a reader comes, as a shell's redirection
 * does, but for the trace written at exit: a FIFO with no reader then
 * fails at once (ENXIO), where it hung the program's exit for good
 * (adversarial testing). */
static int open_out(const char *path, FILE **f)
{
    int fd = open(
        path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (out_no_wait ? O_NONBLOCK : 0),
        0666); /* as fopen: the umask decides */
    if (fd < 0) {
        int e = errno ? errno : EIO;
        return qv__fail(-e, "cannot write %s: %s", path,
                        e == ENXIO ? "a FIFO that no process reads" : strerror(e));
    }
    if ((out_no_wait && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) ||
        !(*f = fdopen(fd, "w"))) {
        int e = errno ? errno : EIO;
        close(fd);
        return qv__fail(-e, "cannot write %s: %s", path, strerror(e));
    }
    out_state.prev = qv__c_numbers_begin();
    sigset_t pipe = pipe_set();
    out_state.pipe_was_pending = pipe_pending();
    pthread_sigmask(SIG_BLOCK, &pipe, &out_state.mask);
    return 0;
}

static int close_out(FILE *f, const char *path)
{
    int bad = ferror(f);
    int rc = fclose(f) != 0 || bad ? qv__fail(QV_EIO, "error writing %s", path) : 0;
    if (!out_state.pipe_was_pending && pipe_pending()) { /* ours: taken */
        sigset_t pipe = pipe_set();
        struct timespec now = {0, 0};
        (void)sigtimedwait(&pipe, NULL, &now);
        if (!rc)
            rc = qv__fail(QV_EIO, "error writing %s: its reader went away", path);
    }
    pthread_sigmask(SIG_SETMASK, &out_state.mask, NULL);
    qv__c_numbers_end(out_state.prev);
    return rc;
}

static int view(qv_runtime *rt, const char *path, qv__gview *g, FILE **f)
{
    if (!qv__rt_ok(rt) || !path)
        return qv__fail(QV_EINVAL, "graph export: %s", qv__args_why(rt));
    int rc = qv__gview_build(rt, g);
    if (rc)
        return rc;
    /* Written with the recorder let go: an export to a pipe whose reader
     * is slow (or to a FIFO no one opens yet) held it, and with it kept
     * qv_graph_reset waiting and the recorded window growing without
     * bound (adversarial testing). */
    if (qv__gview_detach(g)) {
        qv__gview_free(g);
        return qv__fail(QV_ENOMEM, "graph export: out of memory");
    }
    if ((rc = open_out(path, f)))
        qv__gview_free(g);
    return rc;
}

QV_API int qv_graph_write(qv_runtime *rt, const char *name, const char *path)
{
    if (!qv__rt_ok(rt) || !path)
        return qv__fail(QV_EINVAL, "graph export: %s", qv__args_why(rt));
    qv_dag *g;
    FILE *f;
    int rc = qv__graph_to_dag(rt, name, &g);
    if (rc)
        return rc;
    if ((rc = open_out(path, &f))) {
        qv_dag_destroy(g);
        return rc;
    }
    qv_dag_write(g, f); /* a write error shows in close_out */
    qv_dag_destroy(g);
    return close_out(f, path);
}

static void dot_label(FILE *f, const char *s)
{
    qv__dot_fputs(f, s);
}

QV_API int qv_graph_write_dot(qv_runtime *rt, const char *path)
{
    qv__gview g;
    FILE *f;
    int rc = view(rt, path, &g, &f);
    if (rc)
        return rc;
    fprintf(f, "digraph quiver {\n  rankdir=TB;\n  node [shape=box, fontsize=10];\n"
               "  label=\"critical path %.1f us over %llu tasks (red)\";\n",
            g.cp_us, (unsigned long long)g.cp_len);
    for (uint64_t i = 0; i < g.n; i++) {
        fprintf(f, "  n%llu [label=\"", (unsigned long long)i);
        dot_label(f, qv__gview_func(&g, i));
        fprintf(f, " #%llu\\n%.1f us\"%s];\n", (unsigned long long)i, g.dur_us[i],
                g.on_cp[i] ? ", color=red, penwidth=2, fontcolor=red" : "");
    }
    for (uint64_t i = 0; i < g.m; i++) {
        const qv__edge *e = &g.e[i];
        bool cp = g.on_cp[e->src] && g.on_cp[e->dst] && g.pred[e->dst] == (int64_t)e->src;
        fprintf(f, "  n%llu -> n%llu [", (unsigned long long)e->src,
                (unsigned long long)e->dst);
        if (e->bytes)
            fprintf(f, "label=\"%llu B\"", (unsigned long long)e->bytes);
        else
            fputs("style=dashed", f);
        fputs(cp ? ", color=red, penwidth=2];\n" : "];\n", f);
    }
    fputs("}\n", f);
    qv__gview_free(&g);
    return close_out(f, path);
}

QV_API int qv_trace_write(qv_runtime *rt, const char *path)
{
    qv__gview g;
    FILE *f;
    int rc = view(rt, path, &g, &f);
    if (rc)
        return rc;
    qv__mark *mk;
    size_t nmk;
    uint64_t dropped;
    if ((rc = qv__marks_copy(rt, &mk, &nmk, &dropped)) != 0) {
        (void)close_out(f, path); /* the thread's locale and mask back */
        qv__gview_free(&g);
        return qv__fail(rc, "qv_trace_write: out of memory");
    }
    /* One time base for tasks and marks: the earliest of the tasks' starts
     * and the marks, so that no event has a negative time. */
    uint64_t t0 = g.t1_ns ? g.t0_ns : UINT64_MAX;
    for (size_t i = 0; i < nmk; i++)
        if (mk[i].ns < t0)
            t0 = mk[i].ns;
    if (t0 == UINT64_MAX)
        t0 = g.t0_ns;
    unsigned nw = 0;
    for (uint64_t i = 0; i < g.n; i++)
        if (qv__gview_node(&g, i).worker + 1u > nw)
            nw = qv__gview_node(&g, i).worker + 1u;
    fputs("{\"displayTimeUnit\": \"ns\", ", f);
    if (dropped) /* the marks kept are the last QV__MARKS_MAX */
        fprintf(f, "\"otherData\": {\"marks_dropped\": \"%llu\"}, ",
                (unsigned long long)dropped);
    fputs("\"traceEvents\": [\n", f);
    fputs("  {\"ph\": \"M\", \"pid\": 1, \"name\": \"process_name\", "
          "\"args\": {\"name\": \"quiver\"}}", f);
    for (unsigned w = 0; w < nw; w++) {
        /* Tracks past the CPU workers are the accelerators' drivers. */
        char name[160];
        unsigned dev = w >= rt->nworkers ? w - rt->nworkers + 1 : 0;
        if (dev && dev <= rt->naccel) {
            struct qv_device *d = qv__device(rt, dev);
            char dn[128] = "";
            d->ops->query(d, QV_QUERY_NAME, dn, sizeof dn);
            snprintf(name, sizeof name, "%s", dn);
        } else {
            snprintf(name, sizeof name, "cpu worker %u", w);
        }
        qv__utf8_trim(name); /* the device's name, cut to dn, ends at a character */
        fprintf(f, ",\n  {\"ph\": \"M\", \"pid\": 1, \"tid\": %u, \"name\": "
                   "\"thread_name\", \"args\": {\"name\": ", w);
        qv__json_fputs(f, name);
        fputs("}}", f);
    }
    for (uint64_t i = 0; i < g.n; i++) {
        const qv__node nd = qv__gview_node(&g, i);
        qv_func *fn = qv__gview_fn(&g, i);
        double pred_us = -1;
        if (fn)
            qv__perf_get(fn->perf[nd.cls], nd.memory, &pred_us, NULL, NULL);
        fputs(",\n  {\"ph\": \"X\", \"pid\": 1, \"name\": ", f);
        qv__json_fputs(f, qv__gview_func(&g, i));
        fprintf(f, ", \"cat\": \"%s\", \"tid\": %u, \"ts\": %.3f, \"dur\": %.3f, "
                   "\"args\": {\"id\": %llu, \"measured_us\": %.3f, \"model_us\": %.3f, "
                   "\"bytes_in\": %llu, \"bytes_out\": %llu, \"critical\": %s",
                qv_class_name((qv_class)nd.cls), (unsigned)nd.worker,
                nd.start_ns >= t0 ? (nd.start_ns - t0) / 1e3 : 0.0,
                g.dur_us[i], (unsigned long long)i, g.dur_us[i], pred_us,
                (unsigned long long)nd.bytes_in, (unsigned long long)nd.bytes_out,
                g.on_cp[i] ? "true" : "false");
        /* An emulated board's own time next to the wall time. */
        if (nd.board_us > 0)
            fprintf(f, ", \"board_us\": %.3f", (double)nd.board_us);
        fputs("}}", f);
    }
    /* Flow arrows for data that crosses from one worker to another. */
    for (uint64_t i = 0; i < g.m; i++) {
        const qv__edge *e = &g.e[i];
        const qv__node s = qv__gview_node(&g, e->src), d = qv__gview_node(&g, e->dst);
        /* Nodes that have not run (read from inside a task) have no times. */
        if (!e->bytes || s.worker == d.worker || !s.end_ns || !d.start_ns)
            continue;
        fprintf(f, ",\n  {\"ph\": \"s\", \"pid\": 1, \"tid\": %u, \"id\": %llu, "
                   "\"name\": \"data\", \"cat\": \"flow\", \"ts\": %.3f}",
                (unsigned)s.worker, (unsigned long long)i,
                (s.end_ns - t0) / 1e3 - 0.001);
        fprintf(f, ",\n  {\"ph\": \"f\", \"bp\": \"e\", \"pid\": 1, \"tid\": %u, "
                   "\"id\": %llu, \"name\": \"data\", \"cat\": \"flow\", \"ts\": %.3f, "
                   "\"args\": {\"bytes\": %llu}}",
                (unsigned)d.worker, (unsigned long long)i,
                (d.start_ns - t0) / 1e3, (unsigned long long)e->bytes);
    }
    /* Marks (a re-plan and its reason): instants across every track. */
    for (size_t i = 0; i < nmk; i++) {
        fputs(",\n  {\"ph\": \"i\", \"s\": \"g\", \"pid\": 1, \"tid\": 0, \"name\": ", f);
        qv__json_fputs(f, mk[i].name);
        fprintf(f, ", \"cat\": \"mark\", \"ts\": %.3f, \"args\": {\"detail\": ",
                (mk[i].ns - t0) / 1e3);
        qv__json_fputs(f, mk[i].detail);
        fputs("}}", f);
    }
    free(mk);
    fputs("\n]}\n", f);
    qv__gview_free(&g);
    return close_out(f, path);
}

int qv__trace_write_exit(qv_runtime *rt, const char *path)
{
    out_no_wait = true;
    int rc = qv_trace_write(rt, path);
    out_no_wait = false;
    return rc;
}
