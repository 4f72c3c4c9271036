/*
 * test_config.c - the configuration loaders: every file in bad/ gives
 * exactly the error written on its first line, every shipped file
 * validates, the shipped figures are the data sheets', and the parsed values
 * of good files are what they say.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/board.h"
#include "config/catalog.h"
#include "config/platform.h"
#include "config/policy.h"
#include "config/yaml_doc.h"
#include "quiver/config.h"

static char src[1024];

static const char *path_of(const char *rel)
{
    static char buf[4][2048];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", src, rel);
    return buf[k];
}

static int setup(void **state)
{
    (void)state;
    const char *s = getenv("QV_SOURCE_DIR");
    snprintf(src, sizeof src, "%s", s ? s : ".");
    return 0;
}

/* Replaces every occurrence of `from` in s (in place, s has room). */
static void replace_all(char *s, size_t size, const char *from, const char *to)
{
    char out[4096];
    size_t o = 0, fl = strlen(from), tl = strlen(to);
    for (const char *p = s; *p && o + tl < sizeof out - 1;) {
        if (fl && !strncmp(p, from, fl)) {
            memcpy(out + o, to, tl);
            o += tl;
            p += fl;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
    snprintf(s, size, "%s", out);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_bad_files(void **state)
{
    (void)state;
    const char *dir = path_of("tests/config/bad");
    char dirbuf[2048];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    DIR *d = opendir(dirbuf);
    assert_non_null(d);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (strstr(e->d_name, ".yaml"))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    assert_true(n >= 40);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        char path[2400], line[2048] = "";
        snprintf(path, sizeof path, "%s/%s", dirbuf, names[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(line, sizeof line, f));
        fclose(f);
        line[strcspn(line, "\n")] = 0;
        assert_true(!strncmp(line, "# expect: ", 10));
        const char *want = line + 10;
        qv_diag diag;
        memset(&diag, 0, sizeof diag);
        int rc = qv_config_check(path, NULL, &diag);
        char got[4096];
        qv_diag_format(&diag, got, sizeof got);
        replace_all(got, sizeof got, dirbuf, "{dir}");
        char prefix[512];
        snprintf(prefix, sizeof prefix, "{dir}/%s", names[i]);
        const char *tail = got;
        if (!strncmp(got, prefix, strlen(prefix)))
            tail = got + strlen(prefix) + (got[strlen(prefix)] == ':') +
                   (got[strlen(prefix) + 1] == ' ');
        if (rc != QV_EFORMAT || strcmp(tail, want)) {
            fprintf(stderr, "%s: rc %d\n  want: %s\n  got:  %s\n", names[i], rc, want,
                    tail);
            failures++;
        }
        free(names[i]);
    }
    assert_int_equal(failures, 0);
}

static void check_dir(const char *rel, qv_config_kind want, size_t atleast)
{
    DIR *d = opendir(path_of(rel));
    assert_non_null(d);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
            continue;
        char p[2400];
        snprintf(p, sizeof p, "%s/%s", path_of(rel), e->d_name);
        qv_diag diag;
        qv_config_kind kind;
        int rc = qv_config_check(p, &kind, &diag);
        if (rc) {
            char msg[2200];
            qv_diag_format(&diag, msg, sizeof msg);
            fprintf(stderr, "%s\n", msg);
        }
        assert_int_equal(rc, 0);
        if (want != QV_CONFIG_UNKNOWN)
            assert_int_equal(kind, want);
        n++;
    }
    closedir(d);
    assert_true(n >= atleast);
}

static void test_shipped_files(void **state)
{
    (void)state;
    check_dir("boards", QV_CONFIG_BOARD, 7);
    check_dir("boards/emu", QV_CONFIG_BOARD, 6);
    check_dir("boards/platforms", QV_CONFIG_PLATFORM, 1);
    qv_config_kind kind;
    qv_diag diag;
    assert_int_equal(qv_config_check(path_of("config/quiver.yaml"), &kind, &diag), 0);
    assert_int_equal(kind, QV_CONFIG_POLICY);
    assert_int_equal(qv_config_check(path_of("config/kernels.yaml"), &kind, &diag), 0);
    assert_int_equal(kind, QV_CONFIG_CATALOG);
}

static qv__board *load_board(const char *rel)
{
    qv__board *b;
    qv_diag diag;
    assert_int_equal(qv__board_load(path_of(rel), &b, &diag), 0);
    return b;
}

/* An emulated twin must be its card in every figure. */
static void test_emulated_twins(void **state)
{
    (void)state;
    static const char *const cards[] = {"u50", "u55c", "u200", "u250", "u280", "vck5000"};
    for (size_t i = 0; i < 6; i++) {
        char r[64], e[64];
        snprintf(r, sizeof r, "boards/%s.yaml", cards[i]);
        snprintf(e, sizeof e, "boards/emu/%s-emu.yaml", cards[i]);
        qv__board *a = load_board(r), *b = load_board(e);
        assert_int_equal(a->emulation, 0);
        assert_int_equal(b->emulation, 1);
        assert_int_equal(a->kind, QV_CLASS_FPGA);
        assert_string_equal(a->platform, b->platform);
        char twin[160];
        snprintf(twin, sizeof twin, "%s-emu", a->name);
        assert_string_equal(b->name, twin);
        assert_int_equal(a->memory, b->memory);
        assert_int_equal(a->nbanks, b->nbanks);
        assert_true(a->lut == b->lut && a->ff == b->ff && a->dsp == b->dsp &&
                    a->bram == b->bram && a->uram == b->uram && a->aie == b->aie);
        assert_true(a->bandwidth_gbs == b->bandwidth_gbs &&
                    a->latency_us == b->latency_us && a->clock_mhz == b->clock_mhz &&
                    a->cost_per_hour == b->cost_per_hour);
        qv__board_free(a);
        qv__board_free(b);
    }
}

static void test_board_figures(void **state)
{
    (void)state;
    qv__board *b = load_board("boards/u250.yaml");
    assert_string_equal(b->platform, "xilinx_u250_gen3x16_xdma_4_1_202210_1");
    assert_int_equal(b->memory, UINT64_C(64) << 30);
    assert_int_equal(b->lut, 1728000);
    assert_int_equal(b->dsp, 12288);
    assert_int_equal(b->pcie_gen, 3);
    assert_int_equal(b->pcie_lanes, 16);
    qv__board_free(b);
    b = load_board("boards/u280.yaml");
    assert_int_equal(b->nbanks, 2);
    assert_int_equal(b->banks[0].type, QV__MEM_HBM2);
    assert_int_equal(b->memory, (UINT64_C(8) << 30) + (UINT64_C(32) << 30));
    qv__board_free(b);
    b = load_board("boards/vck5000.yaml");
    assert_string_equal(b->platform, "xilinx_vck5000_gen4x8_qdma_2_202220_1");
    assert_int_equal(b->aie, 400);
    qv__board_free(b);
    b = load_board("boards/remote-u250.yaml");
    assert_int_equal(b->kind, QV_CLASS_REMOTE);
    assert_string_equal(b->endpoint, "tcp://fpga-host.example.com:5555");
    assert_non_null(b->served);
    assert_string_equal(b->served->name, "alveo-u250");
    qv__board_free(b);
}

static void test_good_catalog(void **state)
{
    (void)state;
    qv__catalog *c;
    qv_diag diag;
    int rc = qv__catalog_load(path_of("tests/config/good/catalog.yaml"), &c, &diag);
    if (rc) {
        char msg[2200];
        qv_diag_format(&diag, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(c->nkernels, 3);
    assert_true(c->nboards >= 13);
    const qv__kernel *k = &c->kernels[0];
    assert_string_equal(k->name, "vadd");
    assert_int_equal(k->nbuilds, 2);
    assert_string_equal(k->builds[1].board->name, "alveo-u250-emu");
    assert_int_equal(k->builds[1].board->emulation, 1);
    assert_non_null(strstr(k->builds[0].xclbin, "xclbin/vadd_u250.xclbin"));
    assert_int_equal(k->ii, 1);
    assert_int_equal(k->latency_cycles, 40);
    assert_string_equal(k->trip_count, "n");
    assert_int_equal(k->lut, 1800);
    k = &c->kernels[1];
    assert_int_equal(k->nfuncs, 2);
    assert_string_equal(k->funcs[0], "scale");
    assert_int_equal(k->nconn, 1);
    assert_string_equal(k->conn[0].to, "vadd.a");
    assert_int_equal(k->builds[0].by_platform, 1);
    assert_string_equal(k->builds[0].board->name, "alveo-u280");
    assert_string_equal(k->builds[0].platform, "xilinx_u280_gen3x16_xdma_1_202211_1");
    assert_true(k->clock_mhz == 250);
    k = &c->kernels[2];
    assert_int_equal(k->ntable, 3);
    assert_int_equal(k->table[1].bytes, 1 << 20);
    assert_true(k->table[2].us == 5800);
    /* x holds n + taps - 1 elements */
    const char *names[] = {"n", "taps"};
    const uint64_t vals[] = {1000, 16};
    uint64_t v;
    assert_int_equal(qv__expr_eval(k->args[0].size, names, vals, 2, &v), 0);
    assert_int_equal(v, 1015);
    qv__catalog_free(c);
}

static void test_expressions(void **state)
{
    (void)state;
    const char *names[] = {"n", "m"};
    const uint64_t vals[] = {3, 5};
    uint64_t v;
    assert_int_equal(qv__expr_eval("n * 4 + (m - 1) / 2", names, vals, 2, &v), 0);
    assert_int_equal(v, 14);
    assert_int_equal(qv__expr_eval("n / (m - 5)", names, vals, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("n - m", names, vals, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("k", names, vals, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("99999999999999999999", names, vals, 2, &v),
                     QV_EINVAL);
    assert_int_equal(qv__expr_eval("4294967296 * 4294967296", names, vals, 2, &v),
                     QV_EINVAL);
    assert_int_equal(qv__expr_eval("(((n)))", names, vals, 2, &v), 0);
    assert_int_equal(v, 3);
    char deep[200];
    memset(deep, '(', 100);
    snprintf(deep + 100, sizeof deep - 100, "n");
    assert_int_equal(qv__expr_eval(deep, names, vals, 2, &v), QV_EINVAL);
}

static void test_policy(void **state)
{
    (void)state;
    qv__policy def, p;
    qv_diag diag;
    qv__policy_defaults(&def);
    assert_int_equal(def.scheduler, QV__SCHED_HEFT);
    assert_int_equal(def.hot_threshold, 3);
    assert_true(def.replan_drift == 0.25);
    assert_int_equal(def.rescan_interval_ms, 5000);
    /* The shipped file shows the defaults, except that it adds the embedded
     * default platform's emulated board and the kernel catalog. */
    assert_int_equal(qv__policy_load(path_of("config/quiver.yaml"), &p, &diag), 0);
    assert_int_equal(p.scheduler, def.scheduler);
    assert_int_equal(p.hot_threshold, def.hot_threshold);
    assert_int_equal(p.devices, def.devices);
    assert_true(p.replan_drift == def.replan_drift);
    assert_int_equal(p.replan_min_interval_ms, def.replan_min_interval_ms);
    assert_int_equal(p.rescan_interval_ms, def.rescan_interval_ms);
    assert_int_equal(p.nboards, 1);
    assert_non_null(strstr(p.boards[0], "boards/emu/u250-emu.yaml"));
    assert_non_null(p.catalog);
    assert_non_null(strstr(p.catalog, "config/kernels.yaml"));
    assert_int_equal(p.log_level, def.log_level);
    assert_null(p.log_file);
    assert_null(p.perfmodel_dir);
    assert_int_equal(p.perfmodel_min_samples, def.perfmodel_min_samples);
    qv__policy_fini(&p);

    assert_int_equal(qv__policy_load(path_of("tests/config/good/policy.yaml"), &p, &diag),
                     0);
    assert_int_equal(p.scheduler, QV__SCHED_EAGER);
    assert_int_equal(p.hot_threshold, 5);
    assert_int_equal(p.devices, (1u << QV_CLASS_CPU) | (1u << QV_CLASS_FPGA));
    assert_true(p.replan_drift == 0.1);
    assert_int_equal(p.replan_min_interval_ms, 250);
    assert_int_equal(p.rescan_interval_ms, 0);
    assert_int_equal(p.discover_opencl, 0);
    assert_int_equal(p.discover_xrt, 0);
    assert_int_equal(p.nboards, 2);
    assert_non_null(strstr(p.boards[1], "boards/remote-u250.yaml"));
    assert_int_equal(p.log_level, QV__LOG_DEBUG);
    assert_non_null(strstr(p.log_file, "tests/config/good/quiver.log"));
    assert_non_null(strstr(p.perfmodel_dir, "tests/config/good/models"));
    assert_int_equal(p.perfmodel_min_samples, 5);
    assert_non_null(strstr(p.trace_path, "trace.json"));
    qv__policy_fini(&p);
    assert_null(p.boards);

    /* A failed load leaves the defaults, owning nothing. */
    assert_int_equal(qv__policy_load(path_of("tests/config/bad/out-of-range."
                                             "yaml"),
                                     &p, &diag),
                     QV_EFORMAT);
    assert_int_equal(p.hot_threshold, 3);
    assert_null(p.boards);
    assert_int_equal(qv__policy_load(path_of("tests/config/nonexistent.yaml"), &p, &diag),
                     QV_ENOENT);
    assert_int_equal(diag.line, 0);
}

static void test_platform(void **state)
{
    (void)state;
    qv__platform *p;
    qv_diag diag;
    assert_int_equal(qv__platform_load(path_of("boards/platforms/"
                                               "workstation.yaml"),
                                       &p, &diag),
                     0);
    assert_string_equal(p->name, "workstation");
    assert_int_equal(p->nres, 3);
    assert_int_equal(p->res[0].cls, QV_CLASS_CPU);
    assert_int_equal(p->res[0].units, 16);
    assert_true(p->res[1].bandwidth_gbs == 12.0);
    assert_non_null(p->res[2].board);
    assert_true(p->res[2].cost_per_hour == 1.65);
    assert_true(p->res[2].latency_us == 10);
    qv__platform_free(p);
}

static int load_str(const char *text, qv__ydoc **doc, qv_diag *diag)
{
    return qv__ydoc_load_mem("mem.yaml", text, strlen(text), doc, diag);
}

static void test_yaml_layer(void **state)
{
    (void)state;
    qv__ydoc *doc;
    qv_diag diag;
    /* Too large: refused before parsing. */
    char *big = malloc(QV__YAML_MAX_BYTES + 2);
    assert_non_null(big);
    memset(big, ' ', QV__YAML_MAX_BYTES + 1);
    big[QV__YAML_MAX_BYTES + 1] = 0;
    assert_int_equal(
        qv__ydoc_load_mem("big.yaml", big, QV__YAML_MAX_BYTES + 1, &doc, &diag),
        QV_EFORMAT);
    assert_null(doc);
    free(big);
    /* Aliases are shared, and count in full against the node limit. */
    assert_int_equal(load_str("a: &x [1, 2]\nb: *x\n", &doc, &diag), 0);
    assert_ptr_equal(qv__ymap_get(doc->root, "a"), qv__ymap_get(doc->root, "b"));
    qv__ydoc_free(doc);
    /* An alias inside its own anchor would make a cycle. */
    assert_int_equal(load_str("a: &x [*x]\n", &doc, &diag), QV_EFORMAT);
    /* A string with a NUL byte is not a valid name. */
    assert_int_equal(load_str("name: \"a\\0b\"\n", &doc, &diag), 0);
    const char *s;
    assert_int_equal(
        qv__yget_str(doc, qv__ymap_get(doc->root, "name"), "name", &s, &diag),
        QV_EFORMAT);
    qv__ydoc_free(doc);
    /* Numbers: no octal, hex floats, inf or nan by accident. */
    assert_int_equal(
        load_str("a: 010\nb: .inf\nc: 0x1p3\nd: \"5\"\ne: 16 GB\n", &doc, &diag), 0);
    int64_t i;
    double x;
    uint64_t u;
    assert_int_equal(
        qv__yget_int(doc, qv__ymap_get(doc->root, "a"), "a", 0, 100, &i, &diag),
        QV_EFORMAT);
    assert_int_equal(
        qv__yget_double(doc, qv__ymap_get(doc->root, "b"), "b", 0, 1e300, &x, &diag),
        QV_EFORMAT);
    assert_int_equal(
        qv__yget_double(doc, qv__ymap_get(doc->root, "c"), "c", 0, 1e300, &x, &diag),
        QV_EFORMAT);
    assert_int_equal(
        qv__yget_int(doc, qv__ymap_get(doc->root, "d"), "d", 0, 100, &i, &diag),
        QV_EFORMAT);
    assert_int_equal(qv__yget_bytes(doc, qv__ymap_get(doc->root, "e"), "e", &u, &diag),
                     0);
    assert_int_equal(u, UINT64_C(16000000000));
    qv__ydoc_free(doc);
    const char *cands[] = {"platform", "kind", "memory", NULL};
    assert_string_equal(qv__did_you_mean("platfrom", cands), "platform");
    assert_string_equal(qv__did_you_mean("memroy", cands), "memory");
    assert_null(qv__did_you_mean("colour", cands));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),      cmocka_unit_test(test_shipped_files),
        cmocka_unit_test(test_emulated_twins), cmocka_unit_test(test_board_figures),
        cmocka_unit_test(test_good_catalog),   cmocka_unit_test(test_expressions),
        cmocka_unit_test(test_policy),         cmocka_unit_test(test_platform),
        cmocka_unit_test(test_yaml_layer),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
