/*
 * test_perfmodel.c - performance models: robust to spikes, bucketed by
 * size, persisted per host, and a damaged or foreign file is ignored with a
 * warning and rebuilt, never trusted and never fatal.
 */
#include <errno.h>
#include <sys/stat.h>

#include <pthread.h>

#include "helper.h"
#include "quiver.h"
#include "trace/perfmodel.h"

static qv_runtime *make_rt(const char *dir)
{
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = dir;
    qv_runtime *rt = NULL;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    return rt;
}

static void buckets(void **state)
{
    (void)state;
    assert_int_equal(qv__perf_bucket_of(0), 0);
    assert_int_equal(qv__perf_bucket_of(1), 1);
    assert_int_equal(qv__perf_bucket_of(4095), 12);
    assert_int_equal(qv__perf_bucket_of(4096), 13);
    assert_int_equal(qv__perf_bucket_of(SIZE_MAX), QV__PERF_BUCKETS - 1);
}

static void spikes_do_not_move_the_estimate(void **state)
{
    (void)state;
    qv_runtime *rt = make_rt("");
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "gemm", NULL, 0, &f), 0);
    double est;
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 4096, &est), QV_ENOENT);
    for (int i = 0; i < 40; i++)
        qv__perf_add(f, QV_CLASS_CPU, 4096, 190.0 + (i % 5));
    /* Three 100x spikes, as seen on real GPUs (starpu#50). */
    qv__perf_add(f, QV_CLASS_CPU, 4096, 19000.0);
    qv__perf_add(f, QV_CLASS_CPU, 4096, 25000.0);
    qv__perf_add(f, QV_CLASS_CPU, 4096, 70000.0);
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 4096, &est), 0);
    assert_true(est >= 190.0 && est <= 194.0);
    double med, mad;
    uint64_t n;
    assert_int_equal(qv__perf_get(f->perf[QV_CLASS_CPU], 4096, &med, &mad, &n), 0);
    assert_true(mad <= 2.0);
    assert_int_equal(n, 43);
    /* Another size is another bucket; another class knows nothing yet. */
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 1 << 20, &est), QV_ENOENT);
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_GPU, 4096, &est), QV_ENOENT);
    /* Garbage measurements are dropped. */
    qv__perf_add(f, QV_CLASS_GPU, 4096, -1.0);
    qv__perf_add(f, QV_CLASS_GPU, 4096, 0.0 / 0.0);
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_GPU, 4096, &est), QV_ENOENT);
    /* A lasting change does move it, once it is the majority. */
    for (int i = 0; i < 20; i++)
        qv__perf_add(f, QV_CLASS_CPU, 4096, 400.0);
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 4096, &est), 0);
    assert_true(est == 400.0);
    qv_runtime_destroy(rt);
}

static void persisted_per_host(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/models", qv_test_scratch());
    qv_runtime *rt = make_rt(dir);
    assert_non_null(strstr(qv_perfmodel_path(rt), "/models/perfmodel-"));
    qv_func *f, *g;
    assert_int_equal(qv_func_create(rt, "fir filter%", NULL, 0, &f), 0);
    assert_int_equal(qv_func_create(rt, "fft", NULL, 0, &g), 0);
    for (int i = 0; i < 10; i++) {
        qv__perf_add(f, QV_CLASS_CPU, 1000, 50.0);
        qv__perf_add(g, QV_CLASS_FPGA, 1 << 16, 12.5);
    }
    char path[512];
    snprintf(path, sizeof path, "%s", qv_perfmodel_path(rt));
    qv_runtime_destroy(rt);

    /* A second run that only registers fft keeps the fir model on disk. */
    rt = make_rt(dir);
    assert_int_equal(qv_func_create(rt, "fft", NULL, 0, &g), 0);
    double est;
    assert_int_equal(qv_perfmodel_estimate(g, QV_CLASS_FPGA, 1 << 16, &est), 0);
    assert_true(est == 12.5);
    qv_runtime_destroy(rt);

    rt = make_rt(dir);
    assert_int_equal(qv_func_create(rt, "fir filter%", NULL, 0, &f), 0);
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 1000, &est), 0);
    assert_true(est == 50.0);
    qv_runtime_destroy(rt);
    char *s = qv_test_slurp(path, NULL);
    assert_non_null(s);
    assert_non_null(strstr(s, "m fir%20filter%25 cpu 10 10 10 50 50"));
    free(s);
}

/* A name too long for the reader's line is not saved (the file once became
 * unreadable, and every model in it was lost), and two runtimes of one
 * process save at once without spoiling each other's file or losing each
 * other's models. */
static qv_runtime *saver_rt;
static void *save_many(void *p)
{
    (void)p;
    for (int i = 0; i < 20; i++)
        if (qv_perfmodel_save(saver_rt))
            return (void *)1;
    return NULL;
}

static void long_names_and_concurrent_saves(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/models-long", qv_test_scratch());
    qv_runtime *a = make_rt(dir), *b = make_rt(dir);
    static char name[5001];
    memset(name, 'x', sizeof name - 1);
    qv_func *f, *g, *h;
    assert_int_equal(qv_func_create(a, name, NULL, 0, &f), 0);
    assert_int_equal(qv_func_create(a, "good", NULL, 0, &g), 0);
    assert_int_equal(qv_func_create(b, "other", NULL, 0, &h), 0);
    for (int i = 0; i < 5; i++) {
        qv__perf_add(f, QV_CLASS_CPU, 1000, 10.0);
        qv__perf_add(g, QV_CLASS_CPU, 1000, 20.0);
        qv__perf_add(h, QV_CLASS_CPU, 1000, 30.0);
    }
    saver_rt = b;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, save_many, NULL), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(qv_perfmodel_save(a), 0);
    void *ret;
    pthread_join(th, &ret);
    assert_null(ret);
    qv_runtime_destroy(b);
    qv_runtime_destroy(a); /* the last save: a's */
    qv_runtime *c = make_rt(dir);
    assert_int_equal(qv_func_create(c, "good", NULL, 0, &g), 0);
    double est;
    assert_int_equal(qv_perfmodel_estimate(g, QV_CLASS_CPU, 1000, &est), 0);
    assert_true(est == 20.0);
    /* b's model too, though a saved last: each save merges the file as it
     * is (the last one once replaced it: adversarial testing) */
    assert_int_equal(qv_func_create(c, "other", NULL, 0, &h), 0);
    assert_int_equal(qv_perfmodel_estimate(h, QV_CLASS_CPU, 1000, &est), 0);
    assert_true(est == 30.0);
    qv_runtime_destroy(c);
}

/* Two runtimes load one model; one measures it anew and saves, the other
 * never runs it and saves last: the new measurement stays (the loaded
 * copy counted as the other's own and wrote the old figure back: code
 * review). */
static void a_loaded_model_does_not_overwrite_a_measured_one(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/models-stale", qv_test_scratch());
    qv_runtime *rt = make_rt(dir);
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "good", NULL, 0, &f), 0);
    for (int i = 0; i < 5; i++)
        qv__perf_add(f, QV_CLASS_CPU, 1000, 20.0);
    qv_runtime_destroy(rt);
    qv_runtime *a = make_rt(dir), *b = make_rt(dir);
    qv_func *fa, *fb;
    assert_int_equal(qv_func_create(a, "good", NULL, 0, &fa), 0);
    assert_int_equal(qv_func_create(b, "good", NULL, 0, &fb), 0);
    for (int i = 0; i < 40; i++)
        qv__perf_add(fa, QV_CLASS_CPU, 1000, 90.0);
    qv_runtime_destroy(a);
    qv_runtime_destroy(b); /* the last save: b never ran good */
    rt = make_rt(dir);
    assert_int_equal(qv_func_create(rt, "good", NULL, 0, &f), 0);
    double est;
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 1000, &est), 0);
    if (est != 90.0)
        fail_msg("good is %g after both saves, a measured 90", est);
    qv_runtime_destroy(rt);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A damaged or foreign file: the runtime starts, ignores it, rebuilds it. */
static void damaged_files_are_rebuilt(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/damaged", qv_test_scratch());
    qv_runtime *rt = make_rt(dir);
    char path[512];
    snprintf(path, sizeof path, "%s", qv_perfmodel_path(rt));
    qv_runtime_destroy(rt);
    const char *bad[] = {
        "\x7f" "ELF\x02\x01\x01 binary garbage\n",
        "quiver-perfmodel 1\nhost someone-else\nm f cpu 1 1 1 5\nend 1\n",
        "quiver-perfmodel 1\n", /* truncated */
        "quiver-perfmodel 2\nhost x\nend 0\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i]);
        rt = make_rt(dir);
        qv_func *f;
        assert_int_equal(qv_func_create(rt, "f", NULL, 0, &f), 0);
        double est;
        assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 1, &est), QV_ENOENT);
        qv__perf_add(f, QV_CLASS_CPU, 1, 7.0);
        qv_runtime_destroy(rt);
        char *s = qv_test_slurp(path, NULL);
        assert_non_null(s);
        assert_non_null(strstr(s, "quiver-perfmodel 1\nhost "));
        assert_non_null(strstr(s, "m f cpu 1 1 1 7\nend 1\n"));
        free(s);
    }
}

/* The file of a run, with extra records put before its end line (its
 * count raised by more): the host line stays this machine's. */
static void splice_records(const char *path, const char *extra, unsigned more)
{
    char *s = qv_test_slurp(path, NULL);
    assert_non_null(s);
    char *end = strstr(s, "end ");
    assert_non_null(end);
    unsigned n = (unsigned)strtoul(end + 4, NULL, 10);
    *end = 0;
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s%send %u\n", s, extra, n + more);
    fclose(f);
    free(s);
}

/* A count of samples at 2^64 - 1 saturates instead of wrapping: it wrapped
 * to 2 with 6 samples kept, a record the reader refuses, and the next run
 * threw away every model in the file (adversarial testing). A record that
 * does not read costs that model alone, and the next save drops it. */
static void a_huge_count_saturates(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/models-huge", qv_test_scratch());
    qv_runtime *rt = make_rt(dir);
    char path[512];
    snprintf(path, sizeof path, "%s", qv_perfmodel_path(rt));
    qv_func *f, *g;
    assert_int_equal(qv_func_create(rt, "other", NULL, 0, &g), 0);
    qv__perf_add(g, QV_CLASS_CPU, 1, 5.0);
    qv_runtime_destroy(rt);
    splice_records(path,
                   "m vadd cpu 16 18446744073709551615 3 1 2 3\n"
                   "m bad dsp 1 1 1 5\n",
                   2);

    rt = make_rt(dir);
    assert_int_equal(qv_func_create(rt, "vadd", NULL, 0, &f), 0);
    for (int i = 0; i < 3; i++)
        qv__perf_add(f, QV_CLASS_CPU, 40000, 4.0); /* bucket 16 */
    uint64_t n = 0;
    assert_int_equal(qv__perf_get(f->perf[QV_CLASS_CPU], 40000, NULL, NULL, &n), 0);
    assert_true(n == UINT64_MAX);
    qv_runtime_destroy(rt);
    char *s = qv_test_slurp(path, NULL);
    assert_non_null(s);
    if (!strstr(s, "m vadd cpu 16 18446744073709551615 6 1 2 3 4 4 4\n"))
        fail_msg("vadd's record: %s", s);
    assert_null(strstr(s, "m bad "));
    assert_non_null(strstr(s, "m other cpu 1 1 1 5\n"));
    free(s);

    rt = make_rt(dir);
    assert_int_equal(qv_func_create(rt, "vadd", NULL, 0, &f), 0);
    assert_int_equal(qv_func_create(rt, "other", NULL, 0, &g), 0);
    double est;
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 40000, &est), 0);
    assert_true(est == 3.5);
    assert_int_equal(qv_perfmodel_estimate(g, QV_CLASS_CPU, 1, &est), 0);
    assert_true(est == 5.0);
    qv_runtime_destroy(rt);
}

/* n functions named prefix0.. with a full window each, of many digits. */
static void add_models(qv_runtime *rt, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char name[32];
        qv_func *f;
        snprintf(name, sizeof name, "%s%d", prefix, i);
        assert_int_equal(qv_func_create(rt, name, NULL, 0, &f), 0);
        for (int k = 0; k < QV__PERF_WINDOW; k++)
            qv__perf_add(f, QV_CLASS_CPU, 4096, 12.345678 + k);
    }
}

/* A save stays within what the next run reads, leaving out the models
 * saved longest ago: past it, the next run refused the file whole and lost
 * every model (adversarial testing: a file grown to 64 MiB, the limit
 * here lowered to 64 KiB). */
static void a_save_stays_readable(void **state)
{
    (void)state;
    size_t max = qv__perf_file_max;
    qv__perf_file_max = 64 << 10;
    char dir[300], path[512];
    snprintf(dir, sizeof dir, "%s/models-full", qv_test_scratch());
    qv_runtime *rt = make_rt(dir);
    snprintf(path, sizeof path, "%s", qv_perfmodel_path(rt));
    add_models(rt, "old", 170);
    qv_runtime_destroy(rt);
    rt = make_rt(dir);
    add_models(rt, "new", 20);
    qv_runtime_destroy(rt);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if ((size_t)st.st_size > qv__perf_file_max)
        fail_msg("%lld bytes saved, the reader takes %zu", (long long)st.st_size,
                 qv__perf_file_max);
    rt = make_rt(dir);
    qv_func *f;
    double est = 0;
    assert_int_equal(qv_func_create(rt, "new19", NULL, 0, &f), 0);
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 4096, &est), 0);
    assert_int_equal(qv_func_create(rt, "old0", NULL, 0, &f), 0); /* kept */
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 4096, &est), 0);
    assert_int_equal(qv_func_create(rt, "old169", NULL, 0, &f), 0); /* left out */
    assert_int_not_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 4096, &est), 0);
    qv_runtime_destroy(rt);
    /* A third run: its models, then the second's, then the first's, the
     * end of which is left out. */
    rt = make_rt(dir);
    add_models(rt, "newer", 20);
    qv_runtime_destroy(rt);
    char *s = qv_test_slurp(path, NULL);
    assert_non_null(s);
    assert_true(strlen(s) <= qv__perf_file_max);
    const char *a = strstr(s, "m newer19 "), *b = strstr(s, "m new0 "),
               *c = strstr(s, "m old0 ");
    if (!a || !b || !c || !(a < b && b < c) || strstr(s, "m old160 "))
        fail_msg("not this run's, then the last's, then the first's:\n%.400s", s);
    free(s);
    qv__perf_file_max = max;
}

/* A time past what the reader takes (1e12 µs) is kept as that: saved as
 * 1e13, it made the file unreadable at the next run. */
static void a_long_time_reads_back(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/models-long-time", qv_test_scratch());
    qv_runtime *rt = make_rt(dir);
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "slow", NULL, 0, &f), 0);
    qv__perf_add(f, QV_CLASS_CPU, 1, 1e13);
    qv__perf_add(f, QV_CLASS_CPU, 1, 1e300);
    qv__perf_add(f, QV_CLASS_CPU, 1, 1e12);
    qv_runtime_destroy(rt);
    rt = make_rt(dir);
    assert_int_equal(qv_func_create(rt, "slow", NULL, 0, &f), 0);
    double est = 0;
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, 1, &est), 0);
    assert_true(est == (double)(float)QV__PERF_US_MAX);
    qv_runtime_destroy(rt);
}

static void parse_errors(void **state)
{
    (void)state;
    /* skipped: a record that does not read is left out, the others kept
     * (one once discarded the whole file); err names its line. */
    struct {
        const char *text, *err;
        unsigned skipped;
    } cases[] = {
#define H "quiver-perfmodel 1\nhost h\n"
        {H "end 0\n", NULL, 0},
        {H "m f cpu 3 4 2 1.5 2\nend 1\n", NULL, 0},
        {H "m f dsp 3 4 2 1.5 2\nend 1\n", "line 3: malformed", 1},
        {H "m f cpu 99 4 2 1.5 2\nend 1\n", "line 3: malformed", 1},
        {H "m f cpu 3 1 2 1.5 2\nend 1\n", "line 3: malformed", 1},
        {H "m f cpu 3 4 2 -1 2\nend 1\n", "line 3: malformed", 1},
        {H "m f cpu 3 4 2 nan 2\nend 1\n", "line 3: malformed", 1},
        {H "m f cpu 3 4 1 1e13\nend 1\n", "line 3: malformed", 1},
        {H "m f cpu 3 4 3 1 2\nend 1\n", "line 3: malformed", 1},
        {H "m f%zz cpu 3 4 1 1\nend 1\n", "line 3: malformed", 1},
        {H "m f%00 cpu 3 4 1 1\nend 1\n", "line 3: malformed", 1},
        {H "m f cpu 3 -4 1 1\nend 1\n", "line 3: malformed", 1},
        {H "m\nend 1\n", "line 3: malformed", 1},
        /* more tokens than a window holds */
        {H "m f cpu 3 99 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 "
           "1 1 "
           "1\nend 1\n",
         "line 3: malformed", 1},
        {H "end 2\n", "line 3: end line counts", 0},
        {H "m f dsp 3 4 1 1\nend 0\n", "line 4: end line counts", 0},
        {H "end 0\nmore\n", "line 4: text after", 0},
        {H "what\nend 0\n", "line 3: unknown record", 0},
        {"quiver-perfmodel 1\nhost other\nend 0\n", "line 2: models of host 'other'", 0},
        {H "end 0", "line 3: no newline", 0},
        {H, "no end line", 0},
        {"", "no end line", 0},
#undef H
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qv__perf_file pf;
        char err[256] = "";
        int rc = qv__perf_parse(cases[i].text, strlen(cases[i].text), "h", &pf, err,
                                sizeof err);
        if (!cases[i].err || cases[i].skipped) {
            if (rc != 0)
                fail_msg("case %zu: refused: %s", i, err);
            assert_int_equal(pf.skipped, cases[i].skipped);
        } else {
            assert_int_equal(rc, QV_EFORMAT);
        }
        if (cases[i].err && !strstr(err, cases[i].err))
            fail_msg("case %zu: '%s' does not contain '%s'", i, err, cases[i].err);
        assert_int_equal(pf.n, 0 + (!cases[i].err && strstr(cases[i].text, "\nm ")));
        qv__perf_file_clear(&pf);
    }
    /* The records around a bad one are kept, and only the first bad line is
     * named. */
    const char *mixed = "quiver-perfmodel 1\nhost h\nm f cpu 3 4 1 1\nm g dsp 3 4 1 1\n"
                        "m h cpu 3 4 1 1e99\nm k gpu 5 2 2 7 8\nend 4\n";
    qv__perf_file pf;
    char err[256];
    assert_int_equal(qv__perf_parse(mixed, strlen(mixed), "h", &pf, err, sizeof err), 0);
    assert_int_equal(pf.n, 2);
    assert_int_equal(pf.skipped, 2);
    assert_string_equal(pf.e[0].func, "f");
    assert_string_equal(pf.e[1].func, "k");
    assert_non_null(strstr(err, "line 4: malformed"));
    qv__perf_file_clear(&pf);
    /* A long line and an embedded NUL. */
    char big[6000];
    memset(big, 'x', sizeof big);
    assert_int_equal(qv__perf_parse(big, sizeof big, "h", &pf, err, sizeof err), QV_EFORMAT);
    assert_non_null(strstr(err, "longer than"));
    assert_int_equal(qv__perf_parse("quiver\0x\n", 9, "h", &pf, err, sizeof err), QV_EFORMAT);
    assert_non_null(strstr(err, "NUL"));
}

/* Under a program's locale with a decimal comma, the models are saved as
 * the reader reads them ("12,5" made the file unreadable, and every model
 * was rebuilt from nothing at the next run). Skipped where no such locale
 * can be had. */
static void saved_under_a_decimal_comma(void **state)
{
    (void)state;
    if (!qv_test_comma_locale())
        skip();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/models-comma", qv_test_scratch());
    qv_runtime *rt = make_rt(dir);
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "fft", NULL, 0, &f), 0);
    for (int i = 0; i < 10; i++)
        qv__perf_add(f, QV_CLASS_FPGA, 1 << 16, 12.5);
    qv_runtime_destroy(rt);
    rt = make_rt(dir);
    assert_int_equal(qv_func_create(rt, "fft", NULL, 0, &f), 0);
    double est = 0;
    int rc = qv_perfmodel_estimate(f, QV_CLASS_FPGA, 1 << 16, &est);
    qv_runtime_destroy(rt);
    assert_int_equal(localeconv()->decimal_point[0], ','); /* the program's, kept */
    setlocale(LC_NUMERIC, "C");
    assert_int_equal(rc, 0);
    assert_true(est == 12.5);
}

/* A cache directory of any length is taken whole (a 4 KiB buffer cut it,
 * and the models went to the directory named by what was left). */
static void long_cache_directory(void **state)
{
    (void)state;
    size_t n = 5000;
    char *xdg = malloc(n + 1);
    assert_non_null(xdg);
    int len = snprintf(xdg, n, "%s/", qv_test_scratch());
    for (size_t i = (size_t)len; i < n; i++)
        xdg[i] = i % 2 ? '/' : 'd';
    xdg[n] = 0;
    const char *old = getenv("XDG_CACHE_HOME");
    char *keep = old ? strdup(old) : NULL;
    setenv("XDG_CACHE_HOME", xdg, 1);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    qv_runtime *rt = NULL;
    int rc = qv_runtime_create(&o, &rt);
    if (keep)
        setenv("XDG_CACHE_HOME", keep, 1);
    else
        unsetenv("XDG_CACHE_HOME");
    free(keep);
    assert_int_equal(rc, 0);
    const char *path = qv_perfmodel_path(rt);
    assert_non_null(path);
    assert_true(strlen(path) > n);
    assert_memory_equal(path, xdg, n);
    assert_non_null(strstr(path + n, "/quiver/perfmodel-"));
    /* Its save fails, past PATH_MAX, and says so (it said 0, having
     * written nothing: review). */
    errno = 0;
    int save = qv_perfmodel_save(rt);
    assert_true(save < 0);
    assert_non_null(strstr(qv_last_error(), "cannot create"));
    qv_runtime_destroy(rt);
    free(xdg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buckets),
        cmocka_unit_test(spikes_do_not_move_the_estimate),
        cmocka_unit_test(persisted_per_host),
        cmocka_unit_test(long_names_and_concurrent_saves),
        cmocka_unit_test(a_loaded_model_does_not_overwrite_a_measured_one),
        cmocka_unit_test(damaged_files_are_rebuilt),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(a_huge_count_saturates),
        cmocka_unit_test(a_save_stays_readable),
        cmocka_unit_test(a_long_time_reads_back),
        cmocka_unit_test(saved_under_a_decimal_comma),
        cmocka_unit_test(long_cache_directory),
    };
    setenv("QV_LOG", "0", 1); /* the damaged files warn; keep the log quiet */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
