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
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/board.h"
#include "config/catalog.h"
#include "config/platform.h"
#include "config/policy.h"
#include "config/yaml_doc.h"
#include "helper.h"
#include "quiver.h"
#include "quiver/config.h"
#include "qv_escape.h"
#include "qv_file.h"
#include "qvpart.h"

static char src[1024];

static const char *path_of(const char *rel)
{
    static char buf[4][2048];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", src, rel);
    return buf[k];
}

/* The shipped policy and catalog where the build lays them out, next to the
 * boards and xclbins they name: <build>/share/quiver. */
static const char *data_of(const char *name)
{
    static char buf[2][2048];
    static int k;
    const char *b = getenv("QV_BINARY_DIR");
    k = (k + 1) % 2;
    snprintf(buf[k], sizeof buf[k], "%s/share/quiver/%s", b ? b : ".", name);
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
        line[strcspn(line, "\r\n")] = 0; /* a file of \r endings too */
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
    assert_int_equal(qv_config_check(data_of("quiver.yaml"), &kind, &diag), 0);
    assert_int_equal(kind, QV_CONFIG_POLICY);
    assert_int_equal(qv_config_check(data_of("kernels.yaml"), &kind, &diag), 0);
    assert_int_equal(kind, QV_CONFIG_CATALOG);
    /* An empty file, a comment alone or {} is the default policy, as the
     * runtime reads it (a user's finding: check refused it). */
    static const char *const empties[] = {"", "# nothing\n", "{}\n"};
    for (int i = 0; i < 3; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/empty%d.yaml", qv_test_scratch(), i);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(empties[i], f);
        fclose(f);
        memset(&diag, 0, sizeof diag);
        assert_int_equal(qv_config_check(path, &kind, &diag), 0);
        assert_int_equal(kind, QV_CONFIG_POLICY);
    }
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

/* A remote board whose keys are files: the daemon's public key as read,
 * this host's public key derived from its secret key. */
static void test_remote_keys(void **state)
{
    (void)state;
    qv__board *b = load_board("tests/config/good/boards/remote-keys.yaml");
    char *spub = qv_test_slurp(path_of("tests/config/good/keys/server.pub"), NULL);
    char *cpub = qv_test_slurp(path_of("tests/config/good/keys/client.pub"), NULL);
    char *csec = qv_test_slurp(path_of("tests/config/good/keys/client.key"), NULL);
    assert_non_null(spub);
    assert_non_null(cpub);
    assert_non_null(csec);
    spub[40] = cpub[40] = csec[40] = 0;
    assert_string_equal(b->server_key, spub);
    assert_string_equal(b->client_secret_key, csec);
    assert_string_equal(b->client_public_key, cpub);
    assert_non_null(strstr(b->client_key_file, "good/boards/../keys/client.key"));
    qv__board_free(b);
    free(spub);
    free(cpub);
    free(csec);
    /* The key given inline: no client key. */
    b = load_board("boards/remote-u250.yaml");
    assert_string_equal(b->server_key, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    assert_null(b->client_key_file);
    assert_string_equal(b->client_secret_key, "");
    qv__board_free(b);
    /* A relative socket path is the file's (ZeroMQ took the program's
     * working directory's). */
    b = load_board("tests/config/good/boards/remote-ipc.yaml");
    assert_true(!strncmp(b->endpoint, "ipc:///", 7));
    char want[1100];
    snprintf(want, sizeof want, "%s",
             path_of("tests/config/good/boards/../run/quiverd.sock"));
    if (!strstr(b->endpoint, "good/boards/../run/quiverd.sock"))
        fail_msg("endpoint %s, expected ipc://%s", b->endpoint, want);
    qv__board_free(b);
    /* Absolute even when the file is named relatively (the endpoint is
     * dialled again at each reconnection, from wherever the program is). */
    char here[4096], there[2048];
    assert_non_null(getcwd(here, sizeof here));
    snprintf(there, sizeof there, "%s", path_of("tests/config/good"));
    assert_int_equal(chdir(there), 0);
    qv_diag diag;
    int rc = qv__board_load("boards/remote-ipc.yaml", &b, &diag);
    assert_int_equal(chdir(here), 0);
    assert_int_equal(rc, 0);
    if (strncmp(b->endpoint, "ipc:///", 7) || !strstr(b->endpoint, "/run/quiverd.sock"))
        fail_msg("endpoint %s, expected an absolute path", b->endpoint);
    qv__board_free(b);
    /* An abstract socket has no path: as written. */
    b = load_board("tests/config/good/boards/remote-abstract.yaml");
    assert_string_equal(b->endpoint, "ipc://@quiverd-test");
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
    assert_int_equal(qv__policy_load(data_of("quiver.yaml"), &p, &diag), 0);
    assert_int_equal(p.scheduler, def.scheduler);
    assert_int_equal(p.hot_threshold, def.hot_threshold);
    assert_int_equal(p.devices, def.devices);
    assert_true(p.replan_drift == def.replan_drift);
    assert_int_equal(p.replan_min_interval_ms, def.replan_min_interval_ms);
    assert_int_equal(p.rescan_interval_ms, def.rescan_interval_ms);
    assert_int_equal(p.nboards, 1);
    assert_non_null(strstr(p.boards[0], "boards/emu/u250-emu.yaml"));
    assert_non_null(p.catalog);
    assert_non_null(strstr(p.catalog, "share/quiver/kernels.yaml"));
    assert_int_equal(p.log_level, def.log_level);
    assert_null(p.log_file);
    assert_null(p.perfmodel_dir);
    assert_int_equal(p.perfmodel_min_samples, def.perfmodel_min_samples);
    assert_true(p.objective == 0 && def.objective == 0); /* time */
    assert_true(p.deadline_ms == 0 && def.deadline_ms == 0);
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
    assert_true(p.objective == 0.25);
    assert_true(p.deadline_ms == 40);
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

/* One reader of platform files: the planner's qv_plat_load gives every bad
 * platform file the verdict, message and line:col that qv_config_check
 * (and so the runtime) gives, which test_bad_files pins. The table names
 * the disagreements of the planner's former reader: a quoted integer
 * (units-string), 2 x 4096 units (units-total) and the column of a
 * duplicate name (dup). A good file converts field by field. */
static void test_one_reader(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "units-string", "units-total", "dup",           "units",       "class",
        "cpu-link",     "nolink",      "board-missing", "unknown-key",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/config/bad/platform-%s.yaml", bad[i]);
        const char *path = path_of(rel);
        qv_diag a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        qv_config_kind kind;
        qv_plat *p = NULL;
        int ra = qv_config_check(path, &kind, &a);
        int rb = qv_plat_load(path, &p, &b);
        if (ra != rb || strcmp(a.message, b.message) || a.line != b.line ||
            a.column != b.column)
            fprintf(stderr, "%s:\n  check: %d %u:%u: %s\n  plan:  %d %u:%u: %s\n", rel,
                    ra, a.line, a.column, a.message, rb, b.line, b.column, b.message);
        assert_int_equal(kind, QV_CONFIG_PLATFORM);
        assert_int_equal(ra, QV_EFORMAT);
        assert_int_equal(rb, QV_EFORMAT);
        assert_null(p);
        assert_true(a.line > 0 && a.message[0]);
        assert_string_equal(a.file, b.file);
        assert_int_equal(a.line, b.line);
        assert_int_equal(a.column, b.column);
        assert_string_equal(a.message, b.message);
    }
    /* A file that cannot be read: the same error too. */
    qv_diag a, b;
    qv_plat *p = NULL;
    const char *none = path_of("tests/config/bad/no-such-platform.yaml");
    int ra = qv_config_check(none, NULL, &a);
    assert_int_equal(qv_plat_load(none, &p, &b), ra);
    assert_true(ra < 0);
    assert_string_equal(a.message, b.message);
    /* The shipped platform: the planner sees what the runtime reads. */
    const char *ws = path_of("boards/platforms/workstation.yaml");
    qv__platform *cp;
    assert_int_equal(qv__platform_load(ws, &cp, &a), 0);
    assert_int_equal(qv_plat_load(ws, &p, &b), 0);
    assert_string_equal(p->name, cp->name);
    assert_int_equal(p->nres, cp->nres);
    uint32_t units = 0;
    for (uint32_t r = 0; r < p->nres; r++) {
        const qv__pres *c = &cp->res[r];
        assert_string_equal(p->res[r].name, c->name);
        assert_string_equal(p->res[r].cls, qv_class_name(c->cls));
        assert_int_equal(p->res[r].units, c->units);
        assert_int_equal(p->res[r].first_unit, units);
        units += c->units;
        assert_true(p->res[r].speed == c->speed);
        assert_true(p->res[r].bandwidth_gbs == c->bandwidth_gbs);
        assert_true(p->res[r].latency_us == c->latency_us);
        assert_true(p->res[r].cost_per_hour == c->cost_per_hour);
        assert_int_equal(p->res[r].host_memory, c->cls == QV_CLASS_CPU);
        assert_string_equal(p->res[r].board_name, c->board ? c->board->name : "");
        assert_string_equal(p->res[r].board_platform,
                            c->board && c->board->platform ? c->board->platform : "");
        assert_int_equal(p->res[r].board_emulation, c->board ? c->board->emulation : 0);
    }
    assert_int_equal(p->nunits, units);
    assert_string_equal(p->res[2].board_name, "alveo-u250");
    qv__platform_free(cp);
    qv_plat_destroy(p);
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

/* Every value of the scalars, however absurd, evaluates or fails cleanly:
 * never a division by zero or a wrap-around. */
static void test_expressions_run_time(void **state)
{
    (void)state;
    const char *names[] = {"n", "m"};
    uint64_t v;
    const uint64_t zero[] = {0, 0}, big[] = {UINT64_MAX, UINT64_MAX},
                   mixed[] = {UINT64_MAX, 1};
    assert_int_equal(qv__expr_eval("n / m", names, zero, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("n / (m - 1)", names, mixed, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("n * m", names, big, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("n + m", names, big, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("n + 1", names, big, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("m - n", names, mixed, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("n - 1 - 1", names, zero, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("n / m", names, mixed, 2, &v), 0);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(qv__expr_eval("n * 0 / m", names, mixed, 2, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(qv__expr_eval("n", names, NULL, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval(NULL, names, zero, 2, &v), QV_EINVAL);
    assert_int_equal(qv__expr_eval("", names, zero, 2, &v), QV_EINVAL);
}

/* Loads a catalog whose vadd kernel has the given size expression and
 * scalar type; returns the loader's code, with the message in diag. */
static int load_catalog_expr(const char *size, const char *type, qv_diag *diag)
{
    char text[8192];
    snprintf(text, sizeof text,
             "boards: [%s/boards/emu]\n"
             "kernels:\n"
             "  - name: vadd\n"
             "    implements: vadd\n"
             "    args: [{name: a, dir: in, type: float, size: '%s'},\n"
             "           {name: n, dir: scalar, type: %s},\n"
             "           {name: m, dir: scalar, type: %s}]\n"
             "    builds: [{board: alveo-u250-emu, xclbin: %s}]\n"
             "    perf: {ii: 1, latency_cycles: 40, trip_count: n}\n",
             src, size, type, type, path_of("tests/config/good/catalog.yaml"));
    qv__ydoc *doc;
    int rc = qv__ydoc_load_mem("mem.yaml", text, strlen(text), &doc, diag);
    if (rc)
        return rc;
    qv__catalog *c;
    rc = qv__catalog_from_doc(doc, &c, diag);
    qv__catalog_free(c);
    qv__ydoc_free(doc);
    return rc;
}

/* At load, an expression that divides by zero or goes negative for some
 * values of its scalars (1 or more, up to the type's largest) is refused. */
static void test_expressions_load_time(void **state)
{
    (void)state;
    static const char *const good[] = {
        "n",
        "n + m - 1",
        "n - 1",
        "(n + 1023) / 1024",
        "n * m",
        "n / m",
        "2*n + 80*((n + 1023)/1024)",
        "n * (m - 1)",
        "0",
        NULL,
    };
    static const char *const bad[] = {
        "n / 0",
        "n / (m - 1)",
        "n - m",
        "n - 2",
        "1 - n",
        "n / (n / 1024)",
        "99999999999 * 99999999999",
        "n - (m + 1)",
        NULL,
    };
    qv_diag diag;
    for (size_t i = 0; good[i]; i++) {
        int rc = load_catalog_expr(good[i], "uint32", &diag);
        if (rc)
            fprintf(stderr, "%s: %s\n", good[i], diag.message);
        assert_int_equal(rc, 0);
    }
    for (size_t i = 0; bad[i]; i++) {
        int rc = load_catalog_expr(bad[i], "uint32", &diag);
        if (rc != QV_EFORMAT)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        assert_int_equal(rc, QV_EFORMAT);
        assert_int_equal(diag.line, 5);
        assert_non_null(strstr(diag.message, "args.size: "));
    }
    /* The type bounds the range: 300 - n cannot go negative for a uint8. */
    assert_int_equal(load_catalog_expr("300 - n", "uint8", &diag), 0);
    assert_int_equal(load_catalog_expr("300 - n", "uint16", &diag), QV_EFORMAT);
}

/* No reader blocks on a FIFO: the file is refused at once as "not a regular
 * file". The alarm turns a regression (a hang) into a failure. */
static void test_fifo_inputs(void **state)
{
    (void)state;
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/config.yaml", qv_test_scratch());
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(20);
    qv_diag diag;
    memset(&diag, 0, sizeof diag);
    assert_int_equal(qv_config_check(fifo, NULL, &diag), QV_EINVAL);
    assert_string_equal(diag.message, "not a regular file");
    char line[2200];
    qv_diag_format(&diag, line, sizeof line);
    char want[600];
    snprintf(want, sizeof want, "%s: error: not a regular file", fifo);
    assert_string_equal(line, want);
    qv__policy p;
    assert_int_equal(qv__policy_load(fifo, &p, &diag), QV_EINVAL);
    qv__board *b;
    assert_int_equal(qv__board_load(fifo, &b, &diag), QV_EINVAL);
    /* The shared helper refuses other special files too, and checks the
     * size before reading. */
    char *data, why[QV__FILE_WHY];
    size_t len;
    assert_int_equal(qv__file_load("/dev/null", 1 << 20, &data, &len, why), -EINVAL);
    assert_string_equal(why, "not a regular file");
    assert_int_equal(qv__file_load(qv_test_scratch(), 1 << 20, &data, &len, why),
                     -EISDIR);
    assert_int_equal(qv__file_load(path_of("boards/u250.yaml"), 16, &data, &len, why),
                     -EFBIG);
    assert_null(data);
    assert_int_equal(
        qv__file_load(path_of("boards/u250.yaml"), 1 << 20, &data, &len, why), 0);
    assert_int_equal(data[len], 0);
    free(data);

    /* A policy that names a FIFO as a board or a catalog. */
    char pol[512], text[1200];
    snprintf(pol, sizeof pol, "%s/policy.yaml", qv_test_scratch());
    FILE *f = fopen(pol, "w");
    assert_non_null(f);
    fprintf(f, "catalog: config.yaml\n");
    fclose(f);
    assert_int_equal(qv__policy_load(pol, &p, &diag), QV_EFORMAT);

    /* The performance-model file of the runtime. */
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !host[0])
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
    for (char *c = host; *c; c++)
        if (*c == '/' || *c == ' ' || (unsigned char)*c < 0x21 ||
            (unsigned char)*c > 0x7e)
            *c = '_';
    snprintf(text, sizeof text, "%s/models", qv_test_scratch());
    assert_int_equal(mkdir(text, 0700), 0);
    char model[1500];
    snprintf(model, sizeof model, "%s/perfmodel-%s.txt", text, host);
    assert_int_equal(mkfifo(model, 0600), 0);
    qv_options o;
    qv_options_init(&o);
    o.perfmodel_dir = text;
    o.ncpu = 1;
    o.opencl = 0;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_runtime_destroy(rt);
    alarm(0);
    unlink(model);
    unlink(fifo);
}

/* The same board under two spellings, or through a link, is one board. */
static void test_board_identity(void **state)
{
    (void)state;
    char link[512], pol[512];
    snprintf(link, sizeof link, "%s/u50-link.yaml", qv_test_scratch());
    assert_int_equal(symlink(path_of("boards/emu/u50-emu.yaml"), link), 0);
    snprintf(pol, sizeof pol, "%s/policy-link.yaml", qv_test_scratch());
    FILE *f = fopen(pol, "w");
    assert_non_null(f);
    fprintf(f, "discovery:\n  boards: [%s, u50-link.yaml]\n",
            path_of("boards/emu/u50-emu.yaml"));
    fclose(f);
    qv__policy p;
    qv_diag diag;
    assert_int_equal(qv__policy_load(pol, &p, &diag), QV_EFORMAT);
    assert_int_equal(diag.line, 2);
    assert_non_null(strstr(diag.message, "'u50-link.yaml' is the same file as"));
    assert_int_equal(qv_config_check(pol, NULL, &diag), QV_EFORMAT);

    /* Discovery (quiver devices --board) compares by identity too. */
    char dotted[2100];
    snprintf(dotted, sizeof dotted, "%s/boards/emu/./u50-emu.yaml", src);
    const char *boards[] = {path_of("boards/emu/u50-emu.yaml"), dotted};
    qv_pool_options o;
    qv_pool_options_init(&o);
    o.hwloc = o.opencl = o.xrt = 0;
    o.rescan_ms = 0;
    o.boards = boards;
    o.nboards = 2;
    qv_pool *pool;
    assert_int_equal(qv_pool_create(&o, &pool, &diag), QV_EEXIST);
    assert_non_null(strstr(diag.message, "board file listed twice"));
    boards[1] = link;
    assert_int_equal(qv_pool_create(&o, &pool, &diag), QV_EEXIST);
    o.nboards = 1;
    assert_int_equal(qv_pool_create(&o, &pool, &diag), 0);
    qv_resource r;
    size_t n = 0;
    while (qv_pool_get(pool, n, &r) == 0)
        n++;
    assert_int_equal(n, 1);
    qv_pool_destroy(pool);
    unlink(link);
}

/* What a policy names loads as the runtime loads it: the policy keeps the
 * loaded catalog, and a catalog the runtime would refuse fails the policy. */
static void test_policy_loads_catalog(void **state)
{
    (void)state;
    qv__policy p;
    qv_diag diag;
    assert_int_equal(qv__policy_load(data_of("quiver.yaml"), &p, &diag), 0);
    assert_non_null(p.cat);
    assert_true(p.cat->nkernels > 0);
    qv__policy_fini(&p);
    assert_null(p.cat);
    assert_int_equal(
        qv__policy_load(path_of("tests/config/bad/policy-catalog-board.yaml"), &p, &diag),
        QV_EFORMAT);
    assert_null(p.cat);
    /* The runtime refuses it with the same message. */
    qv_options o;
    qv_options_init(&o);
    o.config = path_of("tests/config/bad/policy-catalog-empty.yaml");
    o.perfmodel_dir = "";
    o.ncpu = 1;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), QV_EFORMAT);
    assert_non_null(strstr(qv_last_error(), "empty file; expected a kernel catalog"));
}

/* Strings from files are escaped wherever they are printed. */
static void test_escape(void **state)
{
    (void)state;
    char buf[128];
    assert_string_equal(qv__escape("plain text", buf, sizeof buf), "plain text");
    assert_string_equal(qv__escape("a\033[2Jb\n\t\r\x7f", buf, sizeof buf),
                        "a\\x1B[2Jb\\n\\t\\r\\x7F");
    assert_string_equal(qv__escape("caf\xc3\xa9", buf, sizeof buf), "caf\xc3\xa9");
    assert_string_equal(qv__escape("\xc2\x9b"
                                   "31m",
                                   buf, sizeof buf),
                        "\\u009B31m");
    assert_string_equal(qv__escape("x\xe2\x80\xaey", buf, sizeof buf), "x\\u202Ey");
    /* ALM (U+061C), the Arabic letter mark, is a bidi control as RLM is. */
    assert_string_equal(qv__escape("x\xd8\x9cy", buf, sizeof buf), "x\\u061Cy");
    /* JSON: the same characters, as \uNNNN; a byte that is not UTF-8 as the
     * code point of its value, so that the output stays valid UTF-8. */
    char *js = NULL;
    size_t jn = 0;
    FILE *jf = open_memstream(&js, &jn);
    assert_non_null(jf);
    qv__json_fputs(jf, "a\"\\\x7f\xc2\x85\xd8\x9c\xe2\x80\xae\xff\x1b\xc3\xa9");
    fclose(jf);
    assert_string_equal(
        js, "\"a\\\"\\\\\\u007F\\u0085\\u061C\\u202E\\u00FF\\u001B\xc3\xa9\"");
    free(js);
    assert_string_equal(qv__escape("\xff\xc3", buf, sizeof buf), "\\xFF\\xC3");
    assert_string_equal(qv__escape("\xed\xa0\x80", buf, sizeof buf), "\\xED\\xA0\\x80");
    assert_string_equal(qv__escape(NULL, buf, sizeof buf), "");
    /* Truncation keeps whole escapes. */
    assert_string_equal(qv__escape("ab\033", buf, 6), "ab");
    /* A name cut to a buffer (snprintf) loses the character it cut into,
     * only that: whole characters and bytes that are not UTF-8 stay. */
    static const struct {
        const char *in, *want;
    } trims[] = {
        {"caf\xc3", "caf"},     {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"x\xe2\x82", "x"},     {"x\xe2\x82\xac", "x\xe2\x82\xac"},
        {"x\xf0\x9f\x98", "x"}, {"x\xf0\x9f\x98\x80", "x\xf0\x9f\x98\x80"},
        {"\xc3", ""},           {"x\xff", "x\xff"},
        {"x\x80", "x\x80"},     {"", ""},
    };
    for (size_t i = 0; i < sizeof trims / sizeof trims[0]; i++) {
        snprintf(buf, sizeof buf, "%s", trims[i].in);
        assert_string_equal(qv__utf8_trim(buf), trims[i].want);
    }
    assert_int_equal(qv__escape_needed("ok"), 0);
    assert_int_equal(qv__escape_needed("\033"), 1);
    /* A value with control characters quoted in an error comes out escaped. */
    qv__ydoc *doc;
    qv_diag diag;
    const char *text = "name: \"a\\e[31mb\"\nkind: fpga\nmemory: []\n";
    assert_int_equal(load_str(text, &doc, &diag), 0);
    qv__board *b;
    assert_int_equal(qv__board_from_doc(doc, &b, &diag), QV_EFORMAT);
    assert_null(strchr(diag.message, '\033'));
    assert_non_null(strstr(diag.message, "a\\x1B[31mb"));
    qv__ydoc_free(doc);
}

/* Bad UTF-8 and control characters are reported at line and column, in
 * UTF-8 and in UTF-16 files. */
static void test_reader_positions(void **state)
{
    (void)state;
    qv__ydoc *doc;
    qv_diag diag;
    static const char utf8[] = "a: 1\r\nb: \xc3\xa9\xc3\xa9\xff\n";
    assert_int_equal(qv__ydoc_load_mem("m.yaml", utf8, sizeof utf8 - 1, &doc, &diag),
                     QV_EFORMAT);
    assert_int_equal(diag.line, 2);
    assert_int_equal(diag.column, 6);
    static const char bom[] = "\xef\xbb\xbf"
                              "a:\xff";
    assert_int_equal(qv__ydoc_load_mem("m.yaml", bom, sizeof bom - 1, &doc, &diag),
                     QV_EFORMAT);
    assert_int_equal(diag.line, 1);
    assert_int_equal(diag.column, 3);
    /* UTF-16LE: "a: 1\nb: \x07" */
    static const char u16[] = "\xff\xfe"
                              "a\0:\0 \0"
                              "1\0\n\0b\0:\0 \0\x07\0";
    assert_int_equal(qv__ydoc_load_mem("m.yaml", u16, sizeof u16 - 1, &doc, &diag),
                     QV_EFORMAT);
    assert_int_equal(diag.line, 2);
    assert_int_equal(diag.column, 4);
    assert_non_null(strstr(diag.message, "control characters"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_shipped_files),
        cmocka_unit_test(test_emulated_twins),
        cmocka_unit_test(test_board_figures),
        cmocka_unit_test(test_remote_keys),
        cmocka_unit_test(test_good_catalog),
        cmocka_unit_test(test_expressions),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_platform),
        cmocka_unit_test(test_one_reader),
        cmocka_unit_test(test_yaml_layer),
        cmocka_unit_test(test_expressions_run_time),
        cmocka_unit_test(test_expressions_load_time),
        cmocka_unit_test(test_fifo_inputs),
        cmocka_unit_test(test_board_identity),
        cmocka_unit_test(test_policy_loads_catalog),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_reader_positions),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    qv_test_scratch_remove();
    return rc;
}
