/*
 * test_graph.c - the recorded execution graph: nodes, edges with the bytes
 * they carry, the critical path and bottlenecks on measured times, and the
 * three exports (.qvg.json, DOT, Chrome trace); the .qvg.json file reads
 * back with the planner's reader as the graph the runtime recorded; the
 * trace's marks (qv__trace_mark) as instants in the Chrome trace; an
 * export whose file is slow to take it holds up no reset.
 *
 * Links the static library: the marks are internal.
 */
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "../../partition/src/json.h"
#include "helper.h"
#include "qv_escape.h"
#include "quiver.h"
#include "qvpart.h"
#include "trace/marks.h"

static void cpu_sleep(const qv_call *c)
{
    usleep(*(const unsigned *)c->ptr[c->nargs - 1]);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static qv_runtime *rt;
static qv_func *f1, *f2, *f3;
static double xa[64], xb[32], xc[16], xd[8];
static qv_buf *a, *b, *c, *d;

/* The diamond  A(20ms) -> B(2ms) -> D(2ms),  A -> C(40ms) -> D. */
static int diamond(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.perfmodel_dir = "";
    if (qv_runtime_create(&o, &rt))
        return -1;
    qv_arg_desc w1[] = { QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("us", unsigned) };
    qv_arg_desc rw[] = { QV_ARG_BUF("in", QV_R), QV_ARG_BUF("out", QV_W),
                         QV_ARG_SCALAR("us", unsigned) };
    qv_arg_desc rrw[] = { QV_ARG_BUF("x", QV_R), QV_ARG_BUF("y", QV_R),
                          QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("us", unsigned) };
    qv_func_create(rt, "produce", w1, 2, &f1);
    qv_func_create(rt, "stage", rw, 3, &f2);
    qv_func_create(rt, "join", rrw, 4, &f3);
    qv_func_set_cpu(f1, cpu_sleep);
    qv_func_set_cpu(f2, cpu_sleep);
    qv_func_set_cpu(f3, cpu_sleep);
    qv_buf_register(rt, xa, sizeof xa, &a);
    qv_buf_register(rt, xb, sizeof xb, &b);
    qv_buf_register(rt, xc, sizeof xc, &c);
    qv_buf_register(rt, xd, sizeof xd, &d);
    unsigned t20 = 20000, t2 = 2000, t40 = 40000;
    qv_arg A[] = { QV_BUF(a), QV_VAL(t20) };
    qv_arg B[] = { QV_BUF(a), QV_BUF(b), QV_VAL(t2) };
    qv_arg C[] = { QV_BUF(a), QV_BUF(c), QV_VAL(t40) };
    qv_arg D[] = { QV_BUF(b), QV_BUF(c), QV_BUF(d), QV_VAL(t2) };
    if (qv_submit(rt, f1, A, 2) || qv_submit(rt, f2, B, 3) || qv_submit(rt, f2, C, 3) ||
        qv_submit(rt, f3, D, 4))
        return -1;
    return qv_wait_all(rt);
}

static int done(void **state)
{
    (void)state;
    qv_runtime_destroy(rt);
    return 0;
}

static void critical_path(void **state)
{
    (void)state;
    qv_graph_info gi;
    assert_int_equal(qv_graph_info_get(rt, &gi), 0);
    assert_int_equal(gi.nodes, 4);
    assert_int_equal(gi.edges, 4);
    assert_int_equal(gi.critical_path_len, 3); /* A, C, D */
    assert_true(gi.critical_path_us >= 62000);
    assert_true(gi.span_us >= gi.critical_path_us * 0.99);
    assert_true(gi.total_us >= 64000);
    /* Bottlenecks: the tasks on the path that take at least a tenth of it,
     * longest first. Asleep, C and A (40 and 20 ms) dominate and B and D
     * (2 ms) do not; on a loaded machine sleeps overrun, so the expected
     * list comes from the measured times. */
    double us[4];
    for (uint64_t i = 0; i < 4; i++) {
        qv_node_info ni;
        assert_int_equal(qv_graph_node(rt, i, &ni), 0);
        us[i] = ni.end_us - ni.start_us;
    }
    uint64_t path[3] = {0, us[2] >= us[1] ? 2 : 1, 3}, want[3];
    assert_true(fabs(gi.critical_path_us - (us[0] + us[path[1]] + us[3])) < 1);
    unsigned nwant = 0;
    for (int k = 0; k < 3; k++)
        if (us[path[k]] >= 0.1 * gi.critical_path_us)
            want[nwant++] = path[k];
    for (unsigned x = 0; x < nwant; x++) /* longest first */
        for (unsigned y = x + 1; y < nwant; y++)
            if (us[want[y]] > us[want[x]]) {
                uint64_t t = want[x];
                want[x] = want[y];
                want[y] = t;
            }
    assert_true(nwant >= 1);
    assert_int_equal(gi.nbottlenecks, nwant);
    for (unsigned x = 0; x < nwant; x++)
        assert_int_equal(gi.bottleneck[x], want[x]);
}

static void qvg_export(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/diamond.qvg.json", qv_test_scratch());
    assert_int_equal(qv_graph_write(rt, "diamond", path), 0);
    char *s = qv_test_slurp(path, NULL);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"format\": \"quiver-graph\", \"version\": 1, "
                              "\"name\": \"diamond\""));
    assert_int_equal(count(s, "\"function\": "), 4);
    assert_int_equal(count(s, "\"function\": \"stage\""), 2);
    assert_int_equal(count(s, "\"src\": "), 4);
    /* Each edge carries the buffer it hands over. */
    assert_non_null(strstr(s, "{\"src\": 0, \"dst\": 1, \"bytes\": 512}"));
    assert_non_null(strstr(s, "{\"src\": 0, \"dst\": 2, \"bytes\": 512}"));
    assert_non_null(strstr(s, "{\"src\": 1, \"dst\": 3, \"bytes\": 256}"));
    assert_non_null(strstr(s, "{\"src\": 2, \"dst\": 3, \"bytes\": 128}"));
    assert_non_null(strstr(s, "\"bytes_in\": 384, \"bytes_out\": 64, \"memory\": 448"));
    assert_int_equal(count(s, "\"cost_us\": {\"cpu\": "), 4);
    assert_int_equal(count(s, "\"critical\": true"), 3);
    free(s);
}

/* The graph the runtime writes is the one it recorded, as the planner reads
 * it: every node with its function, bytes, measured time on the class it
 * ran on, worker, start and critical flag; every edge with its bytes; the
 * span and critical path; and writing it again reads back the same. */
static void qvg_reads_back(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/diamond-back.qvg.json", qv_test_scratch());
    assert_int_equal(qv_graph_write(rt, "diamond", path), 0);
    qv_dag *g = NULL;
    qv_diag dg;
    memset(&dg, 0, sizeof dg);
    int rc = qv_dag_load(path, &g, &dg);
    if (rc)
        fprintf(stderr, "%s:%u:%u: %s\n", dg.file, dg.line, dg.column, dg.message);
    assert_int_equal(rc, 0);
    assert_int_equal(qv_dag_check(g, &dg), 0);
    assert_string_equal(g->name, "diamond");
    qv_graph_info gi;
    assert_int_equal(qv_graph_info_get(rt, &gi), 0);
    assert_int_equal(g->n, gi.nodes);
    assert_int_equal(g->m, gi.edges);
    assert_true(fabs(g->span_us - gi.span_us) < 1e-3);
    assert_true(fabs(g->critical_path_us - gi.critical_path_us) < 1e-3);
    assert_non_null(g->run);
    int cpu = -1;
    for (uint32_t k = 0; k < g->nclass; k++)
        if (!strcmp(g->class_name[k], "cpu"))
            cpu = (int)k;
    assert_true(cpu >= 0);
    static const uint64_t in[] = {0, 512, 512, 384}, out[] = {512, 256, 128, 64};
    double t0 = INFINITY;
    int critical = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        qv_node_info ni;
        assert_int_equal(qv_graph_node(rt, i, &ni), 0);
        assert_int_equal(g->ids[i], (int64_t)i);
        assert_string_equal(g->func_name[g->func[i]], ni.function);
        assert_int_equal(g->bytes_in[i], ni.bytes_in);
        assert_int_equal(g->bytes_out[i], ni.bytes_out);
        assert_int_equal(g->bytes_in[i], in[i]);
        assert_int_equal(g->bytes_out[i], out[i]);
        assert_int_equal(g->memory[i], in[i] + out[i]);
        /* the measured time on the class it ran on */
        assert_int_equal(g->run[i].device, cpu);
        double us = g->cost[(size_t)i * g->nclass + (uint32_t)cpu];
        assert_true(fabs(us - (ni.end_us - ni.start_us)) < 1e-2);
        assert_int_equal(g->run[i].worker, ni.worker);
        if (ni.start_us < t0)
            t0 = ni.start_us;
        critical += g->run[i].critical;
    }
    for (uint32_t i = 0; i < g->n; i++) {
        qv_node_info ni;
        assert_int_equal(qv_graph_node(rt, i, &ni), 0);
        assert_true(fabs(g->run[i].start_us - (ni.start_us - t0)) < 1e-2);
    }
    assert_int_equal(critical, 3); /* A, D and the longer of B and C */
    assert_true(g->run[0].critical && g->run[3].critical);
    assert_int_equal(g->run[1].critical + g->run[2].critical, 1);
    static const uint32_t es[] = {0, 0, 1, 2}, ed[] = {1, 2, 3, 3};
    static const uint64_t eb[] = {512, 512, 256, 128};
    for (uint32_t e = 0; e < g->m; e++) {
        int found = 0;
        for (int k = 0; k < 4; k++)
            found += g->esrc[e] == es[k] && g->edst[e] == ed[k] && g->ebytes[e] == eb[k];
        assert_int_equal(found, 1);
    }
    /* Written again by the same writer, it reads back the same. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(qv_dag_write(g, f), 0);
    fclose(f);
    qv_dag *h = NULL;
    assert_int_equal(qv_dag_parse(buf, len, "again", &h, &dg), 0);
    assert_int_equal(h->n, g->n);
    assert_int_equal(h->m, g->m);
    assert_true(h->span_us == g->span_us);
    assert_true(h->critical_path_us == g->critical_path_us);
    for (uint32_t i = 0; i < g->n; i++) {
        assert_int_equal(h->run[i].device, g->run[i].device);
        assert_int_equal(h->run[i].worker, g->run[i].worker);
        assert_int_equal(h->run[i].critical, g->run[i].critical);
        assert_true(h->run[i].start_us == g->run[i].start_us);
        assert_true(h->run[i].board_us == g->run[i].board_us);
        for (uint32_t k = 0; k < g->nclass; k++)
            assert_true(h->cost[(size_t)i * h->nclass + k] ==
                        g->cost[(size_t)i * g->nclass + k]);
    }
    free(buf);
    qv_dag_destroy(h);
    qv_dag_destroy(g);
}

static void dot_export(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/diamond.dot", qv_test_scratch());
    assert_int_equal(qv_graph_write_dot(rt, path), 0);
    char *s = qv_test_slurp(path, NULL);
    assert_non_null(s);
    assert_non_null(strstr(s, "digraph quiver {"));
    assert_int_equal(count(s, " -> "), 4);
    /* Nodes A, C, D and the edges A->C, C->D in red. */
    assert_int_equal(count(s, "penwidth=2"), 5);
    assert_non_null(strstr(s, "n0 -> n2 [label=\"512 B\", color=red"));
    assert_non_null(strstr(s, "n0 -> n1 [label=\"512 B\"];"));
    free(s);
}

static void chrome_export(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/diamond.trace.json", qv_test_scratch());
    assert_int_equal(qv_trace_write(rt, path), 0);
    char *s = qv_test_slurp(path, NULL);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"traceEvents\": ["));
    assert_int_equal(count(s, "\"ph\": \"X\""), 4);
    assert_int_equal(count(s, "\"thread_name\""), count(s, "\"cpu worker "));
    assert_true(count(s, "\"thread_name\"") >= 1);
    /* Flows come in start/finish pairs. */
    assert_int_equal(count(s, "\"ph\": \"s\""), count(s, "\"ph\": \"f\""));
    free(s);
}

static void anti_dependencies(void **state)
{
    (void)state;
    /* A reader then a writer of the same buffer: ordered, no data carried. */
    qv_graph_reset(rt);
    unsigned t = 100;
    qv_arg R[] = { QV_BUF(a), QV_BUF(b), QV_VAL(t) };
    qv_arg W[] = { QV_BUF(a), QV_VAL(t) };
    assert_int_equal(qv_submit(rt, f2, R, 3), 0);
    assert_int_equal(qv_submit(rt, f1, W, 2), 0);
    char path[300];
    snprintf(path, sizeof path, "%s/war.qvg.json", qv_test_scratch());
    assert_int_equal(qv_graph_write(rt, "war", path), 0);
    char *s = qv_test_slurp(path, NULL);
    assert_non_null(s);
    assert_int_equal(count(s, "\"function\": "), 2);
    assert_non_null(strstr(s, "{\"src\": 0, \"dst\": 1, \"bytes\": 0}"));
    assert_int_equal(count(s, "\"src\": "), 1);
    free(s);
    /* After a reset nothing is left. */
    assert_int_equal(qv_graph_reset(rt), 0);
    qv_graph_info gi;
    assert_int_equal(qv_graph_info_get(rt, &gi), 0);
    assert_int_equal(gi.nodes, 0);
    assert_int_equal(gi.edges, 0);
    assert_int_equal(gi.critical_path_len, 0);
}

static void cpu_spin(const qv_call *call)
{
    (void)call;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t1);
    while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 1000);
}

/* A chain is its own critical path, whatever the timing. */
static void chain_is_critical(void **state)
{
    (void)state;
    assert_int_equal(qv_graph_reset(rt), 0);
    qv_func *spin;
    qv_arg_desc d1[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "spin", d1, 1, &spin), 0);
    qv_func_set_cpu(spin, cpu_spin);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(qv_submit(rt, spin, (qv_arg[]){ QV_BUF(d) }, 1), 0);
    qv_graph_info gi;
    assert_int_equal(qv_graph_info_get(rt, &gi), 0);
    assert_int_equal(gi.nodes, 1000);
    assert_int_equal(gi.edges, 999);
    assert_int_equal(gi.critical_path_len, 1000);
    assert_true(gi.critical_path_us >= 1000.0);
    assert_true(gi.critical_path_us <= gi.total_us + 1e-6);
}

/* Function names with a quote, a backslash, a control character and a
 * byte that is not UTF-8: the DOT file is valid UTF-8 with them escaped
 * (a raw byte made dot read the whole file as Latin-1). */
static void cpu_nothing(const qv_call *call)
{
    (void)call;
}

/* The DOT drawing (a new string, *len bytes) of a run of one call of
 * each of n functions named names[i], on one CPU worker. */
static char *dot_of_calls(const char *const *names, int n, size_t *len)
{
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    qv_runtime *r;
    assert_int_equal(qv_runtime_create(&o, &r), 0);
    for (int i = 0; i < n; i++) {
        qv_func *f;
        assert_int_equal(qv_func_create(r, names[i], NULL, 0, &f), 0);
        qv_func_set_cpu(f, cpu_nothing);
        assert_int_equal(qv_submit(r, f, NULL, 0), 0);
    }
    assert_int_equal(qv_wait_all(r), 0);
    char path[300];
    snprintf(path, sizeof path, "%s/calls.dot", qv_test_scratch());
    assert_int_equal(qv_graph_write_dot(r, path), 0);
    char *s = qv_test_slurp(path, len);
    assert_non_null(s);
    qv_runtime_destroy(r);
    return s;
}

static void dot_escapes_names(void **state)
{
    (void)state;
    static const char *const names[] = {"caf\xc3\xa9", "a\"b\\c", "raw\xff", "bell\a"};
    size_t n = 0;
    char *s = dot_of_calls(names, 4, &n);
    assert_non_null(strstr(s, "caf\xc3\xa9 #0"));
    assert_non_null(strstr(s, "a\\\"b\\\\c #1"));
    assert_non_null(strstr(s, "raw\\\\xFF #2"));
    assert_non_null(strstr(s, "bell\\\\x07 #3"));
    for (size_t i = 0; i < n;) { /* valid UTF-8 throughout */
        unsigned long cp;
        size_t k = qv__utf8_seq((const unsigned char *)s + i, &cp);
        assert_true(k > 0);
        i += k;
    }
    free(s);
}

/* A function name longer than a DOT string may be: the drawing cuts it,
 * with "...", so that Graphviz reads it (it refused a string past 16384
 * bytes: "longer than 16384?"). */
static void dot_cuts_long_names(void **state)
{
    (void)state;
    enum { LONG = 20000 };
    char *name = malloc(LONG + 1);
    assert_non_null(name);
    memset(name, 'f', LONG);
    name[LONG] = 0;
    size_t n = 0;
    char *s = dot_of_calls((const char *const *)&name, 1, &n);
    size_t longest = qv_test_dot_longest_string(s, n);
    if (longest > 16384)
        fail_msg("a DOT string of %zu bytes: Graphviz refuses past 16384", longest);
    assert_non_null(strstr(s, "fff... #0"));
    free(s);
    free(name);
}

static void not_recording(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.record = 0;
    o.perfmodel_dir = "";
    qv_runtime *r;
    assert_int_equal(qv_runtime_create(&o, &r), 0);
    qv__trace_mark(r, "kept", "nowhere"); /* nothing to keep it for */
    char path[300];
    snprintf(path, sizeof path, "%s/none.qvg.json", qv_test_scratch());
    assert_int_equal(qv_graph_write(r, "none", path), QV_ENOENT);
    assert_non_null(strstr(qv_last_error(), "record"));
    /* Every reader of the graph says so alike (quiver.h). */
    qv_graph_info gi;
    qv_node_info ni;
    assert_int_equal(qv_graph_info_get(r, &gi), QV_ENOENT);
    assert_int_equal(qv_graph_node(r, 0, &ni), QV_ENOENT);
    assert_int_equal(qv_graph_write_dot(r, path), QV_ENOENT);
    assert_int_equal(qv_trace_write(r, path), QV_ENOENT);
    assert_int_equal(qv_graph_reset(r), 0);
    qv_runtime_destroy(r);
    /* Unwritable path. */
    assert_int_equal(qv_graph_write(rt, "x", "/nonexistent/dir/x.json"), -ENOENT);
    assert_non_null(strstr(qv_last_error(), "/nonexistent/dir/x.json"));
}

/* ---- marks (trace/marks.c): instants in the Chrome trace --------------- */

/* The trace at path, read back by the library's strict JSON reader (so
 * every escape must be valid JSON); *text gets the raw file. */
static qv__jval *read_trace(const char *path, char **text)
{
    size_t len = 0;
    char *s = qv_test_slurp(path, &len);
    assert_non_null(s);
    qv__jval *v = NULL;
    qv_diag dg = { 0 };
    if (qv__part_json_parse(s, len, path, &v, &dg) != 0)
        fail_msg("%s:%u:%u: %s", path, dg.line, dg.column, dg.message);
    if (text)
        *text = s;
    else
        free(s);
    return v;
}

static const char *jstr(const qv__jval *o, const char *key)
{
    const qv__jval *v = qv__part_json_get(o, key);
    assert_non_null(v);
    assert_int_equal(v->type, QV__JSTR);
    return v->u.str.s;
}

static double jnum(const qv__jval *o, const char *key)
{
    const qv__jval *v = qv__part_json_get(o, key);
    assert_non_null(v);
    assert_int_equal(v->type, QV__JNUM);
    return v->u.num;
}

/* The trace's events of phase ph, in the file's order; returns how many
 * (up to max). */
static size_t events(const qv__jval *root, const char *ph, const qv__jval **out, size_t max)
{
    const qv__jval *ev = qv__part_json_get(root, "traceEvents");
    assert_non_null(ev);
    assert_int_equal(ev->type, QV__JARR);
    size_t n = 0;
    for (size_t i = 0; i < ev->u.arr.n; i++)
        if (!strcmp(jstr(ev->u.arr.v[i], "ph"), ph)) {
            if (n < max)
                out[n] = ev->u.arr.v[i];
            n++;
        }
    return n;
}

static size_t write_marks(const char *file, qv__jval **root, const qv__jval **out,
                          size_t max)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", qv_test_scratch(), file);
    assert_int_equal(qv_trace_write(rt, path), 0);
    *root = read_trace(path, NULL);
    return events(*root, "i", out, max);
}

/* Each mark is a global instant with its name and detail (escaped: quotes,
 * backslashes, controls, bidi overrides), on the tasks' time line: a mark
 * made after a task ended lies after it. */
static void marks_in_trace(void **state)
{
    (void)state;
    assert_int_equal(qv_graph_reset(rt), 0);
    unsigned t = 1000;
    assert_int_equal(qv_submit(rt, f1, (qv_arg[]){ QV_BUF(a), QV_VAL(t) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    const char *detail = "drift 12% on \"fir\\fft\"\n\tcaf\xc3\xa9 \x1b[2J \xe2\x80\xae end";
    qv__trace_mark(rt, "replan", detail);
    qv__trace_mark(rt, "device \"u250\" lost", NULL);
    qv__trace_mark(rt, NULL, "no name: not kept");
    qv__trace_mark(NULL, "no runtime", "ignored");

    char path[300], *text;
    snprintf(path, sizeof path, "%s/marks.trace.json", qv_test_scratch());
    assert_int_equal(qv_trace_write(rt, path), 0);
    qv__jval *root = read_trace(path, &text);
    assert_int_equal(count(text, "\"ph\": \"i\", \"s\": \"g\""), 2);
    /* Escaped in the file: no raw control or bidi override reaches it. */
    assert_null(strchr(text, '\x1b'));
    assert_null(strstr(text, "\xe2\x80\xae"));
    assert_non_null(strstr(text, "\"detail\": \"drift 12% on \\\"fir\\\\fft\\\"\\n\\t"
                                 "caf\xc3\xa9 \\u001B[2J \\u202E end\""));
    free(text);
    const qv__jval *mk[4], *task[2];
    assert_int_equal(events(root, "i", mk, 4), 2);
    assert_int_equal(events(root, "X", task, 2), 1);
    assert_string_equal(jstr(mk[0], "name"), "replan");
    assert_string_equal(jstr(mk[0], "s"), "g");
    assert_string_equal(jstr(qv__part_json_get(mk[0], "args"), "detail"), detail);
    assert_string_equal(jstr(mk[1], "name"), "device \"u250\" lost");
    assert_string_equal(jstr(qv__part_json_get(mk[1], "args"), "detail"), "");
    double end = jnum(task[0], "ts") + jnum(task[0], "dur");
    assert_true(jnum(task[0], "ts") >= 0);
    assert_true(jnum(mk[0], "ts") >= end - 0.002);
    assert_true(jnum(mk[1], "ts") >= jnum(mk[0], "ts"));
    qv__part_json_free(root);
}

/* qv_graph_reset forgets the marks with the graph. */
static void marks_reset(void **state)
{
    (void)state;
    assert_int_equal(qv_graph_reset(rt), 0);
    qv__trace_mark(rt, "before", "the reset");
    assert_int_equal(qv_graph_reset(rt), 0);
    qv__jval *root;
    const qv__jval *mk[2];
    assert_int_equal(write_marks("reset.trace.json", &root, mk, 2), 0);
    qv__part_json_free(root);
    qv__trace_mark(rt, "after", "the reset");
    assert_int_equal(write_marks("reset2.trace.json", &root, mk, 2), 1);
    assert_string_equal(jstr(mk[0], "name"), "after");
    /* Nothing was dropped: the trace says so only when marks were. */
    assert_null(qv__part_json_get(root, "otherData"));
    qv__part_json_free(root);
}

/* The last QV__MARKS_MAX marks are kept, oldest first; the trace counts
 * the dropped ones. Long names and details are cut at a whole character. */
static void marks_bounded(void **state)
{
    (void)state;
    assert_int_equal(qv_graph_reset(rt), 0);
    enum { EXTRA = 10 };
    for (int i = 0; i < QV__MARKS_MAX + EXTRA; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        qv__trace_mark(rt, "m", num);
    }
    static const qv__jval *mk[QV__MARKS_MAX + EXTRA];
    qv__jval *root;
    assert_int_equal(write_marks("bounded.trace.json", &root, mk, QV__MARKS_MAX + EXTRA),
                     QV__MARKS_MAX);
    for (int i = 0; i < QV__MARKS_MAX; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i + EXTRA);
        assert_string_equal(jstr(qv__part_json_get(mk[i], "args"), "detail"), num);
    }
    assert_string_equal(jstr(qv__part_json_get(root, "otherData"), "marks_dropped"), "10");
    qv__part_json_free(root);

    /* 200 two-byte characters, 3000 bytes of detail: cut to 126 and 1023. */
    assert_int_equal(qv_graph_reset(rt), 0);
    char name[401], detail[3001];
    for (int i = 0; i < 200; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    name[400] = 0;
    memset(detail, 'x', 3000);
    detail[3000] = 0;
    qv__trace_mark(rt, name, detail);
    assert_int_equal(write_marks("long.trace.json", &root, mk, 2), 1);
    assert_int_equal(strlen(jstr(mk[0], "name")), 126);
    assert_int_equal(strncmp(jstr(mk[0], "name"), name, 126), 0);
    assert_int_equal(strlen(jstr(qv__part_json_get(mk[0], "args"), "detail")),
                     QV__MARK_DETAIL_MAX);
    qv__part_json_free(root);
}

enum { MARKERS = 4, MARKS_EACH = 1000 }; /* 4000 marks: all kept */
static atomic_int markers_done;

static void *marker(void *arg)
{
    int id = (int)(intptr_t)arg;
    char name[16];
    snprintf(name, sizeof name, "t%d", id);
    for (int i = 0; i < MARKS_EACH; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        qv__trace_mark(rt, name, num);
    }
    atomic_fetch_add(&markers_done, 1);
    return NULL;
}

/* Threads mark while the trace is written and the graph reset: every trace
 * is valid JSON with at most QV__MARKS_MAX marks (a TSan build checks the
 * locking), and with no reset each thread's marks all arrive, in order. */
static void marks_while_writing(void **state)
{
    (void)state;
    assert_int_equal(qv_graph_reset(rt), 0);
    pthread_t th[MARKERS];
    atomic_store(&markers_done, 0);
    for (int i = 0; i < MARKERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, marker, (void *)(intptr_t)i), 0);
    static const qv__jval *mk[QV__MARKS_MAX];
    for (int w = 0; w < 50 && atomic_load(&markers_done) < MARKERS; w++) {
        qv__jval *root;
        assert_true(write_marks("busy.trace.json", &root, mk, QV__MARKS_MAX) <=
                    QV__MARKS_MAX);
        qv__part_json_free(root);
        if (w % 8 == 7)
            assert_int_equal(qv_graph_reset(rt), 0);
    }
    for (int i = 0; i < MARKERS; i++)
        pthread_join(th[i], NULL);

    assert_int_equal(qv_graph_reset(rt), 0);
    for (int i = 0; i < MARKERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, marker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < MARKERS; i++)
        pthread_join(th[i], NULL);
    qv__jval *root;
    assert_int_equal(write_marks("all.trace.json", &root, mk, QV__MARKS_MAX),
                     MARKERS * MARKS_EACH);
    int next[MARKERS] = { 0 };
    double ts = 0;
    for (int i = 0; i < MARKERS * MARKS_EACH; i++) {
        int id = atoi(jstr(mk[i], "name") + 1);
        assert_true(id >= 0 && id < MARKERS);
        assert_int_equal(atoi(jstr(qv__part_json_get(mk[i], "args"), "detail")), next[id]);
        next[id]++;
        assert_true(jnum(mk[i], "ts") >= ts); /* oldest first */
        ts = jnum(mk[i], "ts");
    }
    qv__part_json_free(root);
}

struct export_job {
    char path[300];
    int trace; /* qv_trace_write, else qv_graph_write_dot */
    int rc;
};

static void *exporter(void *arg)
{
    struct export_job *j = arg;
    j->rc = j->trace ? qv_trace_write(rt, j->path) : qv_graph_write_dot(rt, j->path);
    return NULL;
}

static void *resetter(void *arg)
{
    atomic_int *done = arg;
    atomic_store(done, qv_graph_reset(rt) == 0 ? 1 : -1);
    return NULL;
}

/* An export to a FIFO that no one reads yet (a pipe to a slow reader, at
 * its worst) holds up no reset: before, the DOT and trace exports kept the
 * recorder's read lock while they wrote, so the reset waited until the
 * FIFO was read, and the window's old chunks were never reused meanwhile.
 * Then the reader comes and gets the whole file. */
static void export_to_a_slow_reader(void **state)
{
    (void)state;
    unsigned t0 = 0;
    qv_arg A[] = { QV_BUF(a), QV_VAL(t0) };
    for (int i = 0; i < 50; i++)
        assert_int_equal(qv_submit(rt, f1, A, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    for (int trace = 0; trace < 2; trace++) {
        struct export_job j = { .trace = trace };
        snprintf(j.path, sizeof j.path, "%s/slow-%d.fifo", qv_test_scratch(), trace);
        unlink(j.path);
        assert_int_equal(mkfifo(j.path, 0600), 0);
        pthread_t ex, rs;
        assert_int_equal(pthread_create(&ex, NULL, exporter, &j), 0);
        usleep(100000); /* the export has its view and waits in the open */
        atomic_int done = 0;
        assert_int_equal(pthread_create(&rs, NULL, resetter, &done), 0);
        for (int i = 0; i < 500 && !atomic_load(&done); i++)
            usleep(10000);
        int reset = atomic_load(&done);
        /* The reader comes, so that the exporter finishes either way. */
        int fd = open(j.path, O_RDONLY);
        assert_true(fd >= 0);
        char buf[4096], first[32] = "";
        ssize_t n;
        size_t total = 0;
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            if (!total)
                memcpy(first, buf, n < 31 ? (size_t)n : 31);
            total += (size_t)n;
        }
        close(fd);
        pthread_join(ex, NULL);
        pthread_join(rs, NULL);
        assert_int_equal(reset, 1); /* within 5 s, the export still open */
        assert_int_equal(j.rc, 0);
        assert_true(total > 0);
        assert_non_null(strstr(first, trace ? "{\"displayTimeUnit\"" : "digraph quiver {"));
        unlink(j.path);
    }
}

/* A reader of the FIFO that reads a little and goes: the export fails
 * (QV_EIO) and the program lives on, its signal mask as before, no SIGPIPE
 * left pending. SIGPIPE's default action killed the program (adversarial
 * testing). */
static void *read_a_little(void *p)
{
    int fd = open((const char *)p, O_RDONLY);
    char buf[100];
    if (fd >= 0) {
        (void)read(fd, buf, sizeof buf);
        close(fd);
    }
    return NULL;
}

static void export_to_a_reader_that_leaves(void **state)
{
    (void)state;
    unsigned t0 = 0;
    qv_arg A[] = {QV_BUF(a), QV_VAL(t0)};
    for (int i = 0; i < 3000; i++) /* a trace far past a pipe's buffer */
        assert_int_equal(qv_submit(rt, f1, A, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    for (int kind = 0; kind < 3; kind++) {
        char path[300];
        snprintf(path, sizeof path, "%s/leaves-%d.fifo", qv_test_scratch(), kind);
        unlink(path);
        assert_int_equal(mkfifo(path, 0600), 0);
        pthread_t r;
        assert_int_equal(pthread_create(&r, NULL, read_a_little, path), 0);
        int rc = kind == 0   ? qv_trace_write(rt, path)
                 : kind == 1 ? qv_graph_write_dot(rt, path)
                             : qv_graph_write(rt, "leaves", path);
        pthread_join(r, NULL);
        assert_int_equal(rc, QV_EIO);
        sigset_t m, p;
        assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &m), 0);
        assert_int_equal(sigismember(&m, SIGPIPE), 0);
        assert_int_equal(sigpending(&p), 0);
        assert_int_equal(sigismember(&p, SIGPIPE), 0);
        unlink(path);
    }
    qv_graph_reset(rt);
}

/* trace.path a FIFO that no process reads: qv_runtime_destroy writes no
 * trace and returns at once (it waited in the open for good, and the
 * program never exited: adversarial testing); the log says why. */
static void *destroyer(void *p)
{
    qv_runtime_destroy(p);
    return NULL;
}

static void trace_path_fifo_without_reader(void **state)
{
    (void)state;
    char fifo[300], pol[300];
    snprintf(fifo, sizeof fifo, "%s/exit-trace.fifo", qv_test_scratch());
    snprintf(pol, sizeof pol, "%s/fifo-policy.yaml", qv_test_scratch());
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    FILE *pf = fopen(pol, "w");
    assert_non_null(pf);
    fprintf(pf,
            "devices: [cpu]\ndiscovery: {opencl: false, xrt: false}\n"
            "trace: {path: \"%s\"}\n",
            fifo);
    fclose(pf);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    o.config = pol;
    qv_runtime *r;
    assert_int_equal(qv_runtime_create(&o, &r), 0);
    qv_func *f;
    assert_int_equal(qv_func_create(r, "once", NULL, 0, &f), 0);
    qv_func_set_cpu(f, cpu_nothing);
    assert_int_equal(qv_submit(r, f, NULL, 0), 0);
    assert_int_equal(qv_wait_all(r), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, destroyer, r), 0);
    bool ended = false;
    for (int i = 0; i < 500 && !ended; i++) {
        usleep(10000);
        ended = pthread_tryjoin_np(th, NULL) == 0;
    }
    if (!ended) { /* a reader lets it end, so that the test fails, not hangs */
        int fd = open(fifo, O_RDONLY);
        char buf[4096];
        while (fd >= 0 && read(fd, buf, sizeof buf) > 0)
            ;
        if (fd >= 0)
            close(fd);
        pthread_join(th, NULL);
        fail_msg("qv_runtime_destroy waited 5 s for the reader of trace.path");
    }
    unlink(fifo);
    unlink(pol);
}

/* Under a locale whose decimal point is a comma, the exports are still
 * JSON ("ts": 6,533 was not), the program's locale is as it was, and a
 * graph's numbers read back whole. Skipped where no such locale is
 * installed. */
static void exports_under_a_decimal_comma(void **state)
{
    (void)state;
    if (!qv_test_comma_locale())
        skip();
    unsigned t0 = 0;
    qv_arg A[] = {QV_BUF(a), QV_VAL(t0)};
    for (int i = 0; i < 20; i++)
        assert_int_equal(qv_submit(rt, f1, A, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    char path[300];
    for (int kind = 0; kind < 2; kind++) {
        snprintf(path, sizeof path, "%s/comma-%d.json", qv_test_scratch(), kind);
        assert_int_equal(
            kind ? qv_graph_write(rt, "comma", path) : qv_trace_write(rt, path), 0);
        assert_int_equal(localeconv()->decimal_point[0], ','); /* the program's, kept */
        char *text = qv_test_slurp(path, NULL);
        assert_non_null(text);
        qv__jval *v = NULL;
        qv_diag dg = {0};
        int rc = qv__part_json_parse(text, strlen(text), path, &v, &dg);
        if (rc)
            fail_msg("%s:%d:%d: %s", dg.file, dg.line, dg.column, dg.message);
        qv__part_json_free(v);
        free(text);
    }
    /* And read back as written: 1.75 was read as 1 (strtod's comma). */
    snprintf(path, sizeof path, "%s/comma-in.json", qv_test_scratch());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"format\": \"quiver-graph\", \"version\": 1, \"name\": \"x\", \"nodes\": "
          "[{\"id\": 0, \"function\": \"f\", \"cost_us\": {\"cpu\": 1.75}}], "
          "\"edges\": []}\n",
          f);
    fclose(f);
    qv_dag *g = NULL;
    qv_diag dg = {0};
    assert_int_equal(qv_dag_load(path, &g, &dg), 0);
    assert_true(g->cost[0] == 1.75);
    /* And libqvpart's own writer writes it as JSON ("cpu": 1,75 was not,
     * and its reader refused its own file). */
    snprintf(path, sizeof path, "%s/comma-out.json", qv_test_scratch());
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(qv_dag_write(g, f), 0);
    assert_int_equal(fclose(f), 0);
    qv_dag_destroy(g);
    g = NULL;
    if (qv_dag_load(path, &g, &dg))
        fail_msg("%s:%d:%d: %s", dg.file, dg.line, dg.column, dg.message);
    assert_true(g->cost[0] == 1.75);
    assert_int_equal(localeconv()->decimal_point[0], ',');
    qv_dag_destroy(g);
    setlocale(LC_NUMERIC, "C");
    qv_graph_reset(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(critical_path),
        cmocka_unit_test(qvg_export),
        cmocka_unit_test(qvg_reads_back),
        cmocka_unit_test(dot_export),
        cmocka_unit_test(chrome_export),
        cmocka_unit_test(anti_dependencies),
        cmocka_unit_test(chain_is_critical),
        cmocka_unit_test(dot_escapes_names),
        cmocka_unit_test(dot_cuts_long_names),
        cmocka_unit_test(not_recording),
        cmocka_unit_test(marks_in_trace),
        cmocka_unit_test(marks_reset),
        cmocka_unit_test(marks_bounded),
        cmocka_unit_test(marks_while_writing),
        cmocka_unit_test(export_to_a_slow_reader),
        cmocka_unit_test(export_to_a_reader_that_leaves),
        cmocka_unit_test(trace_path_fifo_without_reader),
        cmocka_unit_test(exports_under_a_decimal_comma),
    };
    int rc = cmocka_run_group_tests(tests, diamond, done);
    qv_test_scratch_remove();
    return rc;
}
