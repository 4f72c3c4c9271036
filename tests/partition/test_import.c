/*
 * test_import.c - the WfFormat and DAX importers on the public workflow
 * sets of shared/dagsets (argv[1]); skipped (77) when they are absent.
 * Checks task counts against the files, that edges carry the bytes of the
 * shared files, that the accelerator rule is deterministic, and that every
 * imported graph plans validly. Without the sets, the tests of small files
 * written here still run: what the graph reader refuses (empty names, byte
 * counts past 2^53, costs past 1e15 µs) and repeated ids and attributes are
 * import errors with file and line, and what import returns, written,
 * reads back.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../partition/src/json.h"
#include "helper.h"
#include "plan_algo.h"
#include "qvpart.h"


static const char *dir;

static qv_dag *import(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    qv_dag *g = NULL;
    qv_diag d = {0};
    int rc = qv_dag_import(path, NULL, &g, &d);
    if (rc)
        fprintf(stderr, "%s:%u:%u: %s\n", d.file, d.line, d.column, d.message);
    assert_int_equal(rc, 0);
    return g;
}

static void test_counts(void **state)
{
    (void)state;
    static const struct {
        const char *f;
        uint32_t n;
    } c[] = {
        {"pegasus_dax/Montage_25.xml", 25},
        {"pegasus_dax/CyberShake_30.xml", 30},
        {"pegasus_dax/Epigenomics_24.xml", 24},
        {"pegasus_dax/Inspiral_30.xml", 30},
        {"wfinstances/montage-chameleon-dss-05d-001.json", 58},
        {"wfinstances/srasearch-chameleon-10a-001.json", 22},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        qv_dag *g = import(c[i].f);
        assert_int_equal(g->n, c[i].n);
        assert_true(g->m > 0);
        qv_dag_destroy(g);
    }
}

static void test_heft_dax(void **state)
{
    (void)state;
    /* the HEFT paper graph as a DAX: 10 jobs, 15 dependencies, runtimes
     * of the paper's first processor column, file sizes on edges */
    qv_dag *g = import("pegasus_dax/HEFT_paper.xml");
    assert_int_equal(g->n, 10);
    assert_int_equal(g->m, 15);
    int cpu = qv_dag_class(g, "cpu");
    assert_true(fabs(g->cost[0 * g->nclass + (uint32_t)cpu] - 14e6) < 1e-3);
    /* edge 1 -> 2 carries file heft_file_1_2 of 2250 bytes */
    int found = 0;
    for (uint32_t e = 0; e < g->m; e++)
        if (g->esrc[e] == 0 && g->edst[e] == 1)
            found = g->ebytes[e] == 2250;
    assert_true(found);
    qv_dag_destroy(g);
}

static void test_rule_and_plans(void **state)
{
    (void)state;
    qv_dag *a = import("wfinstances/1000genome-chameleon-2ch-100k-001.json");
    qv_dag *b = import("wfinstances/1000genome-chameleon-2ch-100k-001.json");
    assert_int_equal(a->nclass, 3);
    for (uint32_t i = 0; i < a->n * a->nclass; i++)
        assert_true(a->cost[i] == b->cost[i] || (isinf(a->cost[i]) && isinf(b->cost[i])));
    qv_plat_res r[2] = {
        {.name = "c", .cls = "cpu", .units = 4, .speed = 1, .host_memory = 1},
        {.name = "g",
         .cls = "gpu",
         .units = 1,
         .speed = 1,
         .bandwidth_gbs = 6,
         .latency_us = 10},
    };
    qv_plat *p;
    assert_int_equal(qv_plat_create("p", r, 2, &p), 0);
    for (int k = 0; k < 4; k++) {
        qv_plan *pl;
        assert_int_equal(plan_algo(a, p, (qv_algo)k, &pl, NULL), 0);
        qv_plan_destroy(pl);
    }
    qv_plat_destroy(p);
    qv_dag_destroy(a);
    qv_dag_destroy(b);
}

/* Writes text to a temporary file and imports it; *d gets the error. */
static int import_text(const char *text, const char *ext, const qv_import_opts *o,
                       qv_dag **g, qv_diag *d)
{
    char path[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/qv_import_XXXXXX%s", tmp ? tmp : "/tmp", ext);
    int fd = mkstemps(path, (int)strlen(ext));
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    memset(d, 0, sizeof *d);
    *g = NULL;
    int rc = qv_dag_import(path, o, g, d);
    unlink(path);
    return rc;
}

/* A graph that import returns must read back: written, then parsed. */
static void roundtrip(const qv_dag *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(qv_dag_write(g, f), 0);
    assert_int_equal(fclose(f), 0);
    qv_dag *h = NULL;
    qv_diag d = {0};
    int rc = qv_dag_parse(buf, len, "written.qvg.json", &h, &d);
    if (rc)
        fprintf(stderr, "%s:%u:%u: %s\n", d.file, d.line, d.column, d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(h->n, g->n);
    assert_int_equal(h->m, g->m);
    qv_dag_destroy(h);
    free(buf);
}

#define DAX_HEAD "<?xml version=\"1.0\"?>\n<adag name=\"t\">\n"
#define WF_HEAD                                                                          \
    "{\"name\": \"t\", \"workflow\": {\"specification\": {\"files\": [%s],\n"            \
    "\"tasks\": [%s]},\n\"execution\": {\"tasks\": [%s]}}}\n"

static void test_import_validates(void **state)
{
    (void)state;
    static const struct {
        const char *ext, *text, *msg;
        int line; /* 0: the error names a node, not a line */
    } bad[] = {
        /* a cycle: named by the job's place in the file, not by a node
         * id the file never had */
        {".xml",
         DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\"/>\n"
                  "<job id=\"b\" name=\"g\" runtime=\"1\"/>\n"
                  "<child ref=\"a\"><parent ref=\"b\"/></child>\n"
                  "<child ref=\"b\"><parent ref=\"a\"/></child>\n</adag>\n",
         "dependencies form a cycle through <job> ", 0},
        /* DAX: an empty job name was written as "function": "" */
        {".xml", DAX_HEAD "<job id=\"a\" name=\"\" runtime=\"1\"/>\n</adag>\n",
         "non-empty name", 3},
        /* a size past 2^53, then sizes that add up past it */
        {".xml",
         DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\">\n"
                  "<uses file=\"x\" link=\"input\" size=\"1e16\"/></job>\n</adag>\n",
         "size, a number in [0, 9.0072e+15]", 4},
        {".xml",
         DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\">\n"
                  "<uses file=\"x\" link=\"output\" size=\"5e15\"/>\n"
                  "<uses file=\"y\" link=\"output\" size=\"5e15\"/></job>\n</adag>\n",
         "output files of <job> add up to more than 2^53 bytes", 3},
        {".xml",
         DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\">\n"
                  "<uses file=\"x\" link=\"input\" size=\"5e15\"/>\n"
                  "<uses file=\"y\" link=\"output\" size=\"5e15\"/></job>\n</adag>\n",
         "files of <job> add up to more than 2^53 bytes", 3},
        /* decimal numbers only: C's hex and inf were taken (0x10 as 16 s) */
        {".xml", DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"0x10\"/>\n</adag>\n",
         "runtime, a number in", 3},
        {".xml", DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"0x1p-3\"/>\n</adag>\n",
         "runtime, a number in", 3},
        {".xml", DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"inf\"/>\n</adag>\n",
         "runtime, a number in", 3},
        {".xml",
         DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\">\n"
                  "<uses file=\"x\" link=\"input\" size=\"0x10\"/></job>\n</adag>\n",
         "size, a number in", 4},
        /* repeated attributes, ids, parents */
        {".xml",
         DAX_HEAD "<job id=\"a\" name=\"f\"\n     id=\"b\" runtime=\"1\"/>\n</adag>\n",
         "duplicate attribute 'id' in <job>", 4},
        {".xml",
         DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\"/>\n"
                  "<job id=\"a\" name=\"g\" runtime=\"1\"/>\n</adag>\n",
         "duplicate job id \"a\"", 4},
        {".xml",
         DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\"/>\n"
                  "<job id=\"b\" name=\"g\" runtime=\"1\"/>\n"
                  "<child ref=\"b\"><parent ref=\"a\"/>\n<parent ref=\"a\"/></child>\n"
                  "</adag>\n",
         "<parent ref=\"a\"> is listed twice", 6},
        /* the XML reader's refusals, at their line (tests/unit/test_xml.c) */
        {".xml",
         "<?xml version=\"1.0\"?>\n<!DOCTYPE adag [<!ENTITY e \"x\">]>\n<adag/>\n",
         "a DOCTYPE declaration is not accepted", 2},
        {".xml", DAX_HEAD "<job id=\"a\" name=\"f\xff\" runtime=\"1\"/>\n</adag>\n",
         "invalid UTF-8 (byte 0xff)", 3},
        {".xml", DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\">\n</adag>\n",
         "mismatched tag: </job> expected", 4},
        /* WfFormat: empty name without category, repeated ids and parents */
        {".json",
         "{\"workflow\": {\"specification\": {\"files\": [],\n"
         "\"tasks\": [{\"id\": \"a\", \"name\": \"\"}]},\n"
         "\"execution\": {\"tasks\": [{\"id\": \"a\", \"runtimeInSeconds\": 1}]}}}\n",
         "task \"a\" has an empty name and no category", 2},
        {".json",
         "{\"workflow\": {\"specification\": {\"files\": [\n"
         "{\"id\": \"x\", \"sizeInBytes\": 1},\n{\"id\": \"x\", \"sizeInBytes\": 2}],\n"
         "\"tasks\": []},\n\"execution\": {\"tasks\": []}}}\n",
         "duplicate file id \"x\"", 3},
        {".json",
         "{\"workflow\": {\"specification\": {\"files\": [],\n"
         "\"tasks\": [{\"id\": \"a\", \"name\": \"f\"}]},\n"
         "\"execution\": {\"tasks\": [{\"id\": \"a\", \"runtimeInSeconds\": 1},\n"
         "{\"id\": \"a\", \"runtimeInSeconds\": 2}]}}}\n",
         "duplicate task id \"a\" in workflow.execution.tasks", 4},
        {".json",
         "{\"workflow\": {\"specification\": {\"files\": [],\n"
         "\"tasks\": [{\"id\": \"a\", \"name\": \"f\"},\n"
         "{\"id\": \"b\", \"name\": \"f\", \"parents\": [\"a\", \"a\"]}]},\n"
         "\"execution\": {\"tasks\": [{\"id\": \"a\", \"runtimeInSeconds\": 1},\n"
         "{\"id\": \"b\", \"runtimeInSeconds\": 1}]}}}\n",
         "parent \"a\" is listed twice", 3},
        {".json",
         "{\"workflow\": {\"specification\": {\"files\": [\n"
         "{\"id\": \"x\", \"sizeInBytes\": 5e15}, {\"id\": \"y\", \"sizeInBytes\": "
         "5e15}],\n"
         "\"tasks\": [{\"id\": \"a\", \"name\": \"f\", \"inputFiles\": [\"x\", "
         "\"y\"]}]},\n"
         "\"execution\": {\"tasks\": [{\"id\": \"a\", \"runtimeInSeconds\": 1}]}}}\n",
         "input files add up to more than 2^53 bytes", 3},
        /* a file size with a fraction (1.5 was taken as 1) */
        {".json",
         "{\"workflow\": {\"specification\": {\"files\": [\n"
         "{\"id\": \"x\", \"sizeInBytes\": 1.5}],\n"
         "\"tasks\": []},\n\"execution\": {\"tasks\": []}}}\n",
         "file size must be a whole number of bytes", 2},
        /* children that do not name the task as their parent (the edge
         * was dropped without a word), or that do not exist */
        {".json",
         "{\"workflow\": {\"specification\": {\"files\": [],\n"
         "\"tasks\": [{\"id\": \"a\", \"name\": \"f\", \"children\": [\"b\"]},\n"
         "{\"id\": \"b\", \"name\": \"f\", \"parents\": []}]},\n"
         "\"execution\": {\"tasks\": [{\"id\": \"a\", \"runtimeInSeconds\": 1},\n"
         "{\"id\": \"b\", \"runtimeInSeconds\": 1}]}}}\n",
         "child \"b\" does not name this task among its parents", 2},
        {".json",
         "{\"workflow\": {\"specification\": {\"files\": [],\n"
         "\"tasks\": [{\"id\": \"a\", \"name\": \"f\", \"children\": [\"zz\"]}]},\n"
         "\"execution\": {\"tasks\": [{\"id\": \"a\", \"runtimeInSeconds\": 1}]}}}\n",
         "unknown child task", 2},
        /* 1e9 s on the CPU is 1e15 µs; the GPU at half that speed is past
         * what the format holds (a node-level error: the rule made it) */
        {".json",
         "{\"workflow\": {\"specification\": {\"files\": [],\n"
         "\"tasks\": [{\"id\": \"a\", \"name\": \"f\"}]},\n"
         "\"execution\": {\"tasks\": [{\"id\": \"a\", \"runtimeInSeconds\": 1e9}]}}}\n",
         "node 0 (f): cost_us.gpu 2e+15 is not a number in [0, 1e15]", 0},
    };
    qv_import_opts half = {.naccel = 1};
    strcpy(half.accel[0].name, "gpu");
    half.accel[0].lo = half.accel[0].hi = 0.5;
    half.accel[0].share = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qv_dag *g;
        qv_diag d;
        int rc = import_text(bad[i].text, bad[i].ext, &half, &g, &d);
        if (rc == 0 || !strstr(d.message, bad[i].msg) || d.line != (unsigned)bad[i].line)
            fprintf(stderr, "case %zu: rc %d, %s:%u:%u: %s\n", i, rc, d.file, d.line,
                    d.column, d.message);
        assert_int_equal(rc, QV_EFORMAT);
        assert_null(g);
        assert_non_null(strstr(d.message, bad[i].msg));
        assert_non_null(strstr(d.file, "qv_import_"));
        assert_int_equal(d.line, (unsigned)bad[i].line);
    }
    /* the largest that fits is taken, and reads back once written */
    static const char *good[] = {
        DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\">\n"
                 "<uses file=\"x\" link=\"output\" size=\"4503599627370496\"/></job>\n"
                 "<job id=\"b\" name=\"g\" runtime=\"2\">\n"
                 "<uses file=\"x\" link=\"input\" size=\"4503599627370496\"/></job>\n"
                 "<child ref=\"b\"><parent ref=\"a\"/></child>\n</adag>\n",
        "{\"workflow\": {\"specification\": {\"files\": [\n"
        "{\"id\": \"x\", \"sizeInBytes\": 9007199254740992}],\n"
        "\"tasks\": [{\"id\": \"a\", \"name\": \"f_ID1\", \"outputFiles\": [\"x\"]},\n"
        "{\"id\": \"b\", \"name\": \"\", \"category\": \"g\", \"parents\": [\"a\"],\n"
        " \"inputFiles\": [\"x\"]}]},\n"
        "\"execution\": {\"tasks\": [{\"id\": \"a\", \"runtimeInSeconds\": 5e8},\n"
        "{\"id\": \"b\", \"runtimeInSeconds\": 1}]}}}\n",
    };
    for (int i = 0; i < 2; i++) {
        qv_dag *g;
        qv_diag d;
        int rc = import_text(good[i], i ? ".json" : ".xml", &half, &g, &d);
        if (rc)
            fprintf(stderr, "good %d: %s:%u:%u: %s\n", i, d.file, d.line, d.column, d.message);
        assert_int_equal(rc, 0);
        assert_int_equal(g->n, 2);
        assert_int_equal(g->m, 1);
        assert_int_equal(qv_dag_check(g, &d), 0);
        roundtrip(g);
        qv_dag_destroy(g);
    }
}

/* A job named by several <child> elements gets the edges of each, each
 * with the bytes its parent passes (the child's inputs are read once for
 * all of them: they were read again at each, quadratic in the elements). */
static void test_dax_child_in_parts(void **state)
{
    (void)state;
    const char *text = DAX_HEAD
        "<job id=\"p\" name=\"f\" runtime=\"1\"><uses file=\"a\" link=\"output\" "
        "size=\"100\"/></job>\n"
        "<job id=\"q\" name=\"f\" runtime=\"1\"><uses file=\"b\" link=\"output\" "
        "size=\"200\"/></job>\n"
        "<job id=\"c\" name=\"g\" runtime=\"1\"><uses file=\"a\" link=\"input\" "
        "size=\"100\"/><uses file=\"b\" link=\"input\" size=\"200\"/></job>\n"
        "<child ref=\"c\"><parent ref=\"p\"/></child>\n"
        "<child ref=\"c\"><parent ref=\"q\"/></child>\n</adag>\n";
    qv_dag *g;
    qv_diag d;
    int rc = import_text(text, ".xml", NULL, &g, &d);
    if (rc)
        fail_msg("%s:%u:%u: %s", d.file, d.line, d.column, d.message);
    assert_int_equal(g->n, 3);
    assert_int_equal(g->m, 2);
    const uint64_t want[2] = {100, 200};
    for (uint32_t e = 0; e < 2; e++) {
        assert_int_equal(g->edst[e], 2);
        assert_true(g->ebytes[e] == want[g->esrc[e]]);
    }
    qv_dag_destroy(g);
}

/* A file a task lists twice is one file, in its bytes in and out as on its
 * edges: WfFormat counted outputs listed three times three times (inputs
 * once), DAX counted every repeated <uses> (adversarial testing). */
static void test_files_listed_twice(void **state)
{
    (void)state;
    static const char *text[] = {
        DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\">\n"
                 "<uses file=\"f1\" link=\"output\" size=\"100\"/>\n"
                 "<uses file=\"f1\" link=\"output\" size=\"100\"/></job>\n"
                 "<job id=\"b\" name=\"g\" runtime=\"1\">\n"
                 "<uses file=\"f1\" link=\"input\" size=\"100\"/>\n"
                 "<uses file=\"f1\" link=\"input\" size=\"100\"/>\n"
                 "<uses file=\"f2\" link=\"output\" size=\"1000\"/>\n"
                 "<uses file=\"f2\" link=\"output\" size=\"1000\"/>\n"
                 "<uses file=\"f2\" link=\"output\" size=\"1000\"/></job>\n"
                 "<job id=\"c\" name=\"h\" runtime=\"1\">\n"
                 "<uses file=\"f2\" link=\"input\" size=\"1000\"/></job>\n"
                 "<child ref=\"b\"><parent ref=\"a\"/></child>\n"
                 "<child ref=\"c\"><parent ref=\"b\"/></child>\n</adag>\n",
        "{\"workflow\": {\"specification\": {\"files\": [\n"
        "{\"id\": \"f1\", \"sizeInBytes\": 100}, {\"id\": \"f2\", \"sizeInBytes\": "
        "1000}],\n"
        "\"tasks\": [{\"id\": \"a\", \"name\": \"f\", \"outputFiles\": [\"f1\", "
        "\"f1\"]},\n"
        "{\"id\": \"b\", \"name\": \"g\", \"parents\": [\"a\"],\n"
        " \"inputFiles\": [\"f1\", \"f1\"], \"outputFiles\": [\"f2\", \"f2\", \"f2\"]},\n"
        "{\"id\": \"c\", \"name\": \"h\", \"parents\": [\"b\"], \"inputFiles\": "
        "[\"f2\"]}]},\n"
        "\"execution\": {\"tasks\": [{\"id\": \"a\", \"runtimeInSeconds\": 1},\n"
        "{\"id\": \"b\", \"runtimeInSeconds\": 1}, {\"id\": \"c\", \"runtimeInSeconds\": "
        "1}]}}}\n",
    };
    for (int i = 0; i < 2; i++) {
        qv_dag *g;
        qv_diag d;
        int rc = import_text(text[i], i ? ".json" : ".xml", NULL, &g, &d);
        if (rc)
            fail_msg("%d: %s:%u:%u: %s", i, d.file, d.line, d.column, d.message);
        assert_int_equal(g->n, 3);
        assert_int_equal(g->m, 2);
        const uint64_t in[3] = {0, 100, 1000}, out[3] = {100, 1000, 0};
        for (uint32_t v = 0; v < 3; v++) {
            if (g->bytes_in[v] != in[v] || g->bytes_out[v] != out[v])
                fail_msg("%s, node %u: bytes in %llu, out %llu; expected %llu, %llu",
                         i ? "WfFormat" : "DAX", v, (unsigned long long)g->bytes_in[v],
                         (unsigned long long)g->bytes_out[v], (unsigned long long)in[v],
                         (unsigned long long)out[v]);
            assert_true(g->memory[v] == in[v] + out[v]);
        }
        for (uint32_t e = 0; e < 2; e++)
            assert_true(g->ebytes[e] == out[g->esrc[e]]);
        qv_dag_destroy(g);
    }
}

/* A rule the import cannot apply is QV_EINVAL, naming the rule: an
 * infinite speed-up (every cost 0 before), a vanishing one, the base
 * class. */
static void test_bad_accel_rules(void **state)
{
    (void)state;
    static const struct {
        const char *cls;
        double lo, hi;
    } bad[] = {{"gpu", 1, INFINITY}, {"gpu", 1e-300, 1e-300}, {"cpu", 1, 2},
               {"fpga", 2, 1}, {"gpu", NAN, 2}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qv_import_opts o = {.naccel = 2};
        strcpy(o.accel[0].name, "fpga");
        o.accel[0].lo = 0.5;
        o.accel[0].hi = 8;
        o.accel[0].share = 1;
        strcpy(o.accel[1].name, bad[i].cls);
        o.accel[1].lo = bad[i].lo;
        o.accel[1].hi = bad[i].hi;
        o.accel[1].share = 1;
        qv_dag *g;
        qv_diag d;
        int rc = import_text(DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1\"/>\n</adag>\n",
                             ".xml", &o, &g, &d);
        assert_int_equal(rc, QV_EINVAL);
        assert_null(g);
        assert_non_null(strstr(d.message, "accelerator rule 2"));
    }
}

/* qv_dag_check refuses what the reader refuses, naming the node. */
static void test_dag_check(void **state)
{
    (void)state;
    for (int k = 0; k < 6; k++) {
        qv_dag *g;
        assert_int_equal(qv_dag_create("g", &g), 0);
        int cpu = qv_dag_class(g, "cpu");
        uint32_t a, b;
        assert_int_equal(qv_dag_add_node(g, 7, k == 0 ? "" : "f", &a), 0);
        assert_int_equal(qv_dag_add_node(g, k == 1 ? 7 : 8, "f", &b), 0);
        g->cost[a * g->nclass + (uint32_t)cpu] = k == 2 ? 2e15 : 1;
        if (k != 3)
            g->cost[b * g->nclass + (uint32_t)cpu] = 1;
        g->bytes_in[a] = k == 4 ? ((uint64_t)1 << 53) + 1 : 0;
        assert_int_equal(qv_dag_add_edge(g, a, b, k == 5 ? UINT64_MAX : 1), 0);
        assert_int_equal(qv_dag_finalize(g, NULL), 0);
        static const char *msg[] = {
            "node 7: the function name is empty",
            "duplicate node id 7",
            "node 7 (f): cost_us.cpu 2e+15 is not a number in [0, 1e15]",
            "node 8 (f): no device class has a cost",
            "node 7 (f): bytes_in 9007199254740993 is over 2^53",
            "edge from node 7 to node 8: bytes 18446744073709551615 is over 2^53",
        };
        qv_diag d = {0};
        assert_int_equal(qv_dag_check(g, &d), QV_EINVAL);
        if (!strstr(d.message, msg[k]))
            fprintf(stderr, "case %d: %s\n", k, d.message);
        assert_non_null(strstr(d.message, msg[k]));
        qv_dag_destroy(g);
    }
}

/* Under a program's locale with a decimal comma, a DAX's runtime="1.5"
 * reads as 1.5 s (it was refused: strtod stopped at the point), and the
 * plan's JSON is JSON ("makespan_us": 1,5 was not). Skipped where no
 * such locale can be had. */
static void test_under_a_decimal_comma(void **state)
{
    (void)state;
    if (!qv_test_comma_locale())
        skip();
    qv_dag *g;
    qv_diag d;
    int rc =
        import_text(DAX_HEAD "<job id=\"a\" name=\"f\" runtime=\"1.5\"/>\n"
                             "<job id=\"b\" name=\"g\" runtime=\"0.25\"/>\n"
                             "<child ref=\"b\"><parent ref=\"a\"/></child>\n</adag>\n",
                    ".xml", NULL, &g, &d);
    if (rc) {
        setlocale(LC_NUMERIC, "C");
        fail_msg("%s:%u:%u: %s", d.file, d.line, d.column, d.message);
    }
    int cpu = qv_dag_class(g, "cpu");
    assert_true(g->cost[(uint32_t)cpu] == 1.5e6);
    qv_plat_res r = {.name = "c", .cls = "cpu", .units = 1, .speed = 1, .host_memory = 1};
    qv_plat *p;
    assert_int_equal(qv_plat_create("p", &r, 1, &p), 0);
    qv_plan *pl;
    assert_int_equal(plan_algo(g, p, QV_ALGO_HEFT, &pl, NULL), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(qv_plan_write_json(g, p, pl, f), 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(localeconv()->decimal_point[0], ','); /* the program's, kept */
    setlocale(LC_NUMERIC, "C");
    qv__jval *v = NULL;
    memset(&d, 0, sizeof d);
    rc = qv__part_json_parse(buf, len, "plan.json", &v, &d);
    if (rc)
        fail_msg("%s:%d:%d: %s\n%s", d.file, d.line, d.column, d.message, buf);
    assert_non_null(strstr(buf, "1750000")); /* the makespan, 1.75 s */
    qv__part_json_free(v);
    free(buf);
    qv_plan_destroy(pl);
    qv_plat_destroy(p);
    qv_dag_destroy(g);
}

int main(int argc, char **argv)
{
    struct stat st;
    dir = argc > 1 ? argv[1] : "../shared/dagsets";
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_import_validates),
        cmocka_unit_test(test_dax_child_in_parts),
        cmocka_unit_test(test_files_listed_twice),
        cmocka_unit_test(test_bad_accel_rules),
        cmocka_unit_test(test_dag_check),
        cmocka_unit_test(test_under_a_decimal_comma),
    };
    int rc = cmocka_run_group_tests_name("import rules", own, NULL, NULL);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "no dagsets at %s: their tests skipped\n", dir);
        return rc;
    }
    const struct CMUnitTest sets[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_heft_dax),
        cmocka_unit_test(test_rule_and_plans),
    };
    return rc | cmocka_run_group_tests_name("public workflow sets", sets, NULL, NULL);
}
