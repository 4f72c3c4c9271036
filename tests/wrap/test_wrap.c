/*
 * test_wrap.c - `quiver wrap` and its run-time support (quiver_wrap.h).
 *
 * The generator: each bad input gets its message (unknown function, bad
 * or mismatched --prototype, --defer with --record), and the generated files compile
 * warning-free, or fail to compile when the application's header declares
 * another prototype. The run: tests/wrap/app built unwrapped
 * (wrap_app_plain) and wrapped by quiver_wrap() (wrap_app) on the default
 * platform (CPU, PoCL, the emulated U250), each device class on its own,
 * gives the unwrapped output within a float tolerance, and
 * QUIVER_WRAP_STATS=1 says where each call went: in-place calls and
 * overlapping outputs to __real_, overlapping inputs to the runtime,
 * stack buffers, concurrent callers sharing an input, calls below the
 * threshold, no board, no runtime, QUIVER_WRAP=0, the record-only build.
 */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"
#include "quiver.h"
#include "quiver_wrap.h"

/* A scratch directory per test run. */
static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/wrap-test-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Reads a whole file (NUL-terminated); *len its bytes. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

/* Runs argv (NULL-terminated) with env (NAME=VALUE, or NAME= to unset;
 * NULL-terminated) added, its output to g_dir/log. Returns its exit
 * status; *log gets the output (the caller frees). */
static int run(const char *const *argv, const char *const *env, char **log)
{
    char path[512];
    snprintf(path, sizeof path, "%s/log", g_dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        for (int i = 0; env && env[i]; i++) {
            char kv[1024];
            snprintf(kv, sizeof kv, "%s", env[i]);
            char *eq = strchr(kv, '=');
            *eq = 0;
            if (eq[1])
                setenv(kv, eq + 1, 1);
            else if (!strcmp(kv, "QV_CONFIG"))
                setenv(kv, "", 1); /* QV_CONFIG= is "no policy" */
            else
                unsetenv(kv);
        }
        /* The thread that first builds an OpenCL program (PoCL's LLVM)
         * gets an alternate signal stack from malloc, which AddressSanitizer
         * tries to unmap when that thread exits: keep ASan's own off. */
        const char *asan = getenv("ASAN_OPTIONS");
        char opts[1024];
        snprintf(opts, sizeof opts, "%s%suse_sigaltstack=0", asan ? asan : "",
                 asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    /* A hung program is killed after 120 s, and fails its test: an alarm
     * of its own is not enough, since a process whose threads all block
     * SIGALRM never takes it. */
    int st = -1;
    for (int ms = 0; waitpid(pid, &st, WNOHANG) == 0; ms++) {
        if (ms == 120 * 1000) {
            fprintf(stderr, "%s %s: still running after 120 s: killed\n", argv[0],
                    argv[2] ? argv[2] : "");
            kill(pid, SIGKILL);
        }
        usleep(1000);
    }
    *log = slurp(path, NULL);
    if (!*log)
        *log = strdup("");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Each function's line of QUIVER_WRAP_STATS in log adds up: the calls to
 * __real_ are the sum of their reasons, and with those to the runtime and
 * those under way at exit (none unless going) they make all the calls.
 * Returns the lines. */
static int counts_add_up(const char *log, bool going_ok)
{
    int lines = 0;
    for (const char *p = log; (p = strstr(p, "quiver wrap: ")) != NULL; p++) {
        char name[64];
        unsigned long long n, rt, real, r[7], going = 0;
        if (sscanf(p,
                   "quiver wrap: %63[^:]: %llu calls: %llu to the runtime, %llu to "
                   "__real_%*s "
                   "(disabled %llu, below %llu, unsized %llu, overlap %llu, busy %llu, "
                   "failed %llu, nested %llu)",
                   name, &n, &rt, &real, &r[0], &r[1], &r[2], &r[3], &r[4], &r[5],
                   &r[6]) != 11)
            continue;
        const char *end = strchr(p, '\n'), *w = strstr(p, "; ");
        if (w && (!end || w < end))
            assert_int_equal(sscanf(w, "; %llu under way at exit", &going), 1);
        unsigned long long sum = 0;
        for (int k = 0; k < 7; k++)
            sum += r[k];
        if (sum != real || rt + real + going != n || (going && !going_ok))
            fail_msg("%s's counts do not add up: %.*s", name,
                     (int)(end ? end - p : (ptrdiff_t)strlen(p)), p);
        lines++;
    }
    return lines;
}

/* Runs argv with env and wants exit status want; its output on stderr
 * when not. */
static void run_expect(const char *const *argv, const char *const *env, int want)
{
    char *log;
    int rc = run(argv, env, &log);
    if (rc != want)
        fprintf(stderr, "%s: %d\n%s\n", argv[2], rc, log);
    counts_add_up(log, true);
    free(log);
    assert_int_equal(rc, want);
}

/* The default platform's policy (CPU, PoCL, the emulated U250). */
static const char *default_config(void)
{
    static char cfg[1024];
    snprintf(cfg, sizeof cfg, "QV_CONFIG=%s/share/quiver/quiver.yaml",
             getenv("QV_BINARY_DIR"));
    return cfg;
}

/* Runs wrap_app_plain and exe in `mode`, exe with env, compares the
 * outputs within a float tolerance (exactly when exact), and returns
 * exe's log (QUIVER_WRAP_STATS=1 is always set). */
static char *compare(const char *exe, const char *mode, int exact, ...)
{
    char ref[512], got[512];
    snprintf(ref, sizeof ref, "%s/ref-%s.bin", g_dir, mode);
    snprintf(got, sizeof got, "%s/got-%s.bin", g_dir, mode);
    char *log;
    const char *pargv[] = {QV_WRAP_APP_PLAIN, ref, mode, NULL};
    assert_int_equal(run(pargv, NULL, &log), 0);
    free(log);
    const char *env[16] = {"QUIVER_WRAP_STATS=1"};
    int ne = 1;
    va_list ap;
    va_start(ap, exact);
    for (const char *e; ne < 15 && (e = va_arg(ap, const char *));)
        env[ne++] = e;
    va_end(ap);
    env[ne] = NULL;
    const char *argv[] = {exe, got, mode, NULL};
    int rc = run(argv, env, &log);
    if (rc)
        fprintf(stderr, "%s %s exited %d:\n%s\n", exe, mode, rc, log);
    assert_int_equal(rc, 0);
    /* Every call ended before exit; a record-only build prints none. */
    if (!counts_add_up(log, false) && !strstr(exe, "record"))
        fail_msg("%s %s: no counts of QUIVER_WRAP_STATS=1:\n%s", exe, mode, log);
    size_t na, nb;
    char *a = slurp(ref, &na), *b = slurp(got, &nb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(na, nb);
    const float *fa = (const float *)(void *)a, *fb = (const float *)(void *)b;
    size_t bad = 0;
    for (size_t i = 0; i < na / sizeof(float); i++) {
        float d = fabsf(fa[i] - fb[i]);
        if (exact ? memcmp(&fa[i], &fb[i], sizeof(float)) != 0
                  : !(d <= 1e-4f * fmaxf(1.0f, fabsf(fa[i])))) {
            if (bad++ < 5)
                fprintf(stderr, "%s %s: value %zu: %.9g, expected %.9g\n", exe, mode, i,
                        (double)fb[i], (double)fa[i]);
        }
    }
    free(a);
    free(b);
    if (bad)
        fprintf(stderr, "%s", log);
    assert_int_equal(bad, 0);
    return log;
}

/* Asserts that log holds `text` (printing the log when not). */
static void has(const char *log, const char *text)
{
    if (!strstr(log, text))
        fprintf(stderr, "expected \"%s\" in:\n%s\n", text, log);
    assert_non_null(strstr(log, text));
}

/* The tasks the device of class cls ran, by the stats lines; -1 when the
 * platform has no such device. */
static long tasks_of(const char *log, const char *cls)
{
    char key[64];
    snprintf(key, sizeof key, "(%s, ", cls);
    long sum = -1;
    for (const char *p = log; (p = strstr(p, key)); p++) {
        const char *colon = strstr(p, "): ");
        if (!colon)
            break;
        sum = (sum < 0 ? 0 : sum) + strtol(colon + 3, NULL, 10);
    }
    return sum;
}

/* ---- the generator ------------------------------------------------------ */

static char *catalog(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/share/quiver/kernels.yaml", getenv("QV_BINARY_DIR"));
    return path;
}

/* quiver wrap with args (NULL-terminated); returns its exit status and its
 * output in *log. */
static int wrap(char **log, ...)
{
    const char *argv[32] = {QV_QUIVER, "wrap", "--catalog", catalog()};
    int n = 4;
    va_list ap;
    va_start(ap, log);
    for (const char *a; n < 31 && (a = va_arg(ap, const char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run(argv, NULL, log);
}

/* Compiles path as the application would (-Werror, pedantic). */
static int compile(const char *path, char **log)
{
    char inc[1024], obj[512];
    snprintf(inc, sizeof inc, "-I%s/host/include", getenv("QV_SOURCE_DIR"));
    snprintf(obj, sizeof obj, "%s/out.o", g_dir);
    const char *argv[] = {QV_CC,
                          "-std=c11",
                          "-Wall",
                          "-Wextra",
                          "-Wpedantic",
                          "-Wmissing-prototypes",
                          "-Wstrict-prototypes",
                          "-Wshadow",
                          "-Werror",
                          inc,
                          "-c",
                          path,
                          "-o",
                          obj,
                          NULL};
    return run(argv, NULL, log);
}

static void test_gen_errors(void **state)
{
    (void)state;
    char *log;
    assert_int_equal(wrap(&log, "--functions", "firr", NULL), 1);
    has(log, "no kernel implements 'firr'; did you mean 'fir'?");
    free(log);
    assert_int_equal(wrap(&log, "--functions", "mag", NULL), 1);
    has(log, "no kernel implements 'mag' alone (only fused chains do)");
    free(log);
    assert_int_equal(
        wrap(&log, "--functions", "fir", "--prototype", "void fir(float **x)", NULL), 1);
    has(log, "--prototype:1:17: error: expected a parameter name or ','");
    free(log);
    assert_int_equal(
        wrap(&log, "--functions", "fir", "--prototype",
             "void fir(const double *x, const float *h, float *y, int n, int t)", NULL),
        1);
    has(log, "parameter 1 (x) is 'const double *'; expected a pointer to the kernel's "
             "element type, as argument x of catalog kernel fir is in float");
    free(log);
    assert_int_equal(
        wrap(&log, "--functions", "fir", "--prototype",
             "void fir(const float *x, const float *h, const float *y, int n, "
             "int t)",
             NULL),
        1);
    has(log, "parameter 3 (y) is 'const float *'; expected a pointer to non-const data");
    free(log);
    assert_int_equal(
        wrap(&log, "--functions", "fir", "--prototype", "void fir(float *x)", NULL), 1);
    has(log,
        "--prototype of fir has 1 parameters; its catalog kernel fir has 5 arguments");
    free(log);
    assert_int_equal(wrap(&log, "--functions", "fir", "--defer", "--record", NULL), 2);
    has(log, "--defer is for runtime interposers, not --record");
    free(log);
    assert_int_equal(wrap(&log, "--functions", "fir,fir", NULL), 1);
    has(log, "--functions names 'fir' twice");
    free(log);
    assert_int_equal(
        wrap(&log, "--functions", "fir", "--prototype",
             "void fir(const float *x, const float *h, float *y, int n, int t)",
             "--prototype",
             "void fir(const float *x, const float *h, float *y, unsigned n, "
             "unsigned t)",
             NULL),
        1);
    has(log, "--prototype of 'fir' given twice");
    free(log);
    assert_int_equal(
        wrap(&log, "--functions", "fir", "--opencl", "fir=/nonexistent.cl", NULL), 1);
    has(log, "cannot read /nonexistent.cl");
    free(log);
    assert_int_equal(wrap(&log, "--functions", "fir", "--header", "/nonexistent.h", NULL),
                     1);
    has(log, "--header /nonexistent.h: no such file");
    free(log);
}

static void test_gen_compiles(void **state)
{
    (void)state;
    char out[512], *log;
    snprintf(out, sizeof out, "%s/wrap.c", g_dir);
    /* The catalog's prototypes, every kernel that implements one function. */
    assert_int_equal(
        wrap(&log, "--functions", "vadd,fir,fft,mmult,conv2d,histogram", "-o", out, NULL),
        0);
    free(log);
    int rc = compile(out, &log);
    if (rc)
        fprintf(stderr, "%s\n", log);
    assert_int_equal(rc, 0);
    free(log);
    /* The application's prototype: int scalars, a non-const input. */
    assert_int_equal(
        wrap(&log, "--functions", "fir", "-o", out, "--prototype",
             "void fir(float *x, const float h[], float *y, int n, long taps);", NULL),
        0);
    free(log);
    assert_int_equal(compile(out, &log), 0);
    free(log);
    char *src = slurp(out, NULL);
    has(src, "void __wrap_fir(float *p0, const float *p1, float *p2, int p3, long p4)");
    has(src, "int fits = (int)s3 == p3 && (s3 > 0) == (p3 > 0)");
    free(src);
    /* An OpenCL kernel that needs one work-group (@group): its range says so. */
    char cl[1024];
    snprintf(cl, sizeof cl, "fft=%s/hls/fft/fft.cl@group", getenv("QV_SOURCE_DIR"));
    assert_int_equal(wrap(&log, "--functions", "fft", "--opencl", cl, "-o", out, NULL), 0);
    free(log);
    assert_int_equal(compile(out, &log), 0);
    free(log);
    src = slurp(out, NULL);
    has(src, "l[0] = g[0];");
    free(src);
    /* Record-only. */
    assert_int_equal(wrap(&log, "--functions", "fir,vadd", "--record", "-o", out, NULL),
                     0);
    free(log);
    assert_int_equal(compile(out, &log), 0);
    free(log);
    src = slurp(out, NULL);
    has(src, "static const char *const names[2] = { \"n\", \"taps\" }");
    has(src, "qv_profile_note(\"fir\", 2, names, values);");
    free(src);
}

/* The generated file includes the application's header and stops the
 * compilation when it declares another prototype. */
static void test_gen_header_check(void **state)
{
    (void)state;
    char out[512], hdr[512], *log;
    snprintf(out, sizeof out, "%s/wrap.c", g_dir);
    snprintf(hdr, sizeof hdr, "%s/app.h", g_dir);
    FILE *f = fopen(hdr, "w");
    assert_non_null(f);
    fputs("void fir(const float *x, const float *h, float *y, int n, int taps);\n", f);
    fclose(f);
    assert_int_equal(wrap(&log, "--functions", "fir", "-o", out, "--header", hdr, NULL),
                     0);
    free(log);
    assert_int_not_equal(compile(out, &log), 0);
    has(log, "fir as the header of the application declares it differs");
    free(log);
    /* With the header's prototype, it compiles. */
    assert_int_equal(
        wrap(&log, "--functions", "fir", "-o", out, "--header", hdr, "--prototype",
             "void fir(const float *x, const float *h, float *y, int n, int taps)", NULL),
        0);
    free(log);
    int rc = compile(out, &log);
    if (rc)
        fprintf(stderr, "%s\n", log);
    assert_int_equal(rc, 0);
    free(log);
}

/* ---- the wrapped program ------------------------------------------------- */

/* The runtime decides; smooth2's two fir calls inside dsp.c are not
 * wrapped, so fir shows one call (main's). */
static void test_run_default(void **state)
{
    (void)state;
    char *log = compare(QV_WRAP_APP, "basic", 0, default_config(),
                        "QUIVER_WRAP_MIN_BYTES=0", NULL);
    has(log, "quiver wrap: fir: 1 calls: 1 to the runtime");
    has(log, "quiver wrap: vadd: 1 calls: 1 to the runtime");
    free(log);
}

/* Each device class on its own: the CPU, PoCL, the emulated board. */
static void test_run_each_class(void **state)
{
    (void)state;
    static const char *const cls[] = {"cpu", "gpu", "fpga"};
    int ran = 0;
    for (int c = 0; c < 3; c++) {
        char where[64];
        snprintf(where, sizeof where, "QUIVER_WRAP_WHERE=%s", cls[c]);
        char *log = compare(QV_WRAP_APP, "basic", 0, default_config(),
                            "QUIVER_WRAP_MIN_BYTES=0", where, NULL);
        long t = tasks_of(log, cls[c]);
        if (t < 0) {
            fprintf(stderr, "no %s device on this platform: not checked\n", cls[c]);
        } else {
            if (t < 2 || !strstr(log, "fir: 1 calls: 1 to the runtime") ||
                !strstr(log, "vadd: 1 calls: 1 to the runtime"))
                fprintf(stderr, "%s: %ld tasks:\n%s\n", cls[c], t, log);
            assert_true(t >= 2);
            has(log, "fir: 1 calls: 1 to the runtime");
            has(log, "vadd: 1 calls: 1 to the runtime");
            ran++;
        }
        free(log);
    }
    assert_true(ran >= 2); /* the CPU and the emulated board at least */
}

static void test_run_inplace(void **state)
{
    (void)state;
    char *log = compare(QV_WRAP_APP, "inplace", 1, default_config(),
                        "QUIVER_WRAP_MIN_BYTES=0", NULL);
    has(log, "fir: 1 calls: 0 to the runtime, 1 to __real_fir (disabled 0, below 0, "
             "unsized 0, "
             "overlap 1");
    free(log);
}

static void test_run_overlapping_inputs(void **state)
{
    (void)state;
    char *log = compare(QV_WRAP_APP, "overlap", 0, default_config(),
                        "QUIVER_WRAP_MIN_BYTES=0", NULL);
    has(log, "vadd: 2 calls: 2 to the runtime");
    free(log);
}

static void test_run_stack(void **state)
{
    (void)state;
    char *log = compare(QV_WRAP_APP, "stack", 0, default_config(),
                        "QUIVER_WRAP_MIN_BYTES=0", NULL);
    has(log, "fir: 1 calls: 1 to the runtime");
    has(log, "vadd: 1 calls: 1 to the runtime");
    free(log);
}

/* A signal handler that calls a wrapped function while the thread it
 * interrupted is inside one (or inside the runtime's start): it runs the
 * original, as the unwrapped program would; it hung on the lock or wait
 * it interrupted. */
static void test_run_signal_handler(void **state)
{
    (void)state;
    char *log = compare(QV_WRAP_APP, "signal", 0, default_config(),
                        "QUIVER_WRAP_MIN_BYTES=0", NULL);
    /* Every call counted, the handler's too: those that interrupted a
     * wrapped call as nested (they were left out). */
    const char *h = strstr(log, "200 calls of vadd, and ");
    const char *v = strstr(log, "quiver wrap: vadd: ");
    unsigned long long by_handler, calls, rt, real;
    if (!h || sscanf(h, "200 calls of vadd, and %llu", &by_handler) != 1 || !v ||
        sscanf(v, "quiver wrap: vadd: %llu calls: %llu to the runtime, %llu to", &calls,
               &rt, &real) != 3)
        fail_msg("no counts in:\n%s", log);
    assert_int_equal(counts_add_up(log, false), 2); /* fir's and vadd's */
    if (calls != 200 + by_handler || rt + real != calls)
        fail_msg("%llu calls of vadd (%llu to the runtime, %llu to __real_), the program "
                 "made %llu:\n%s",
                 calls, rt, real, 200 + by_handler, log);
    free(log);
}

/* Four threads, one shared coefficient array (registered by one call, copied
 * by the others). */
static void test_run_threads(void **state)
{
    (void)state;
    char *log = compare(QV_WRAP_APP, "threads", 0, default_config(),
                        "QUIVER_WRAP_MIN_BYTES=0", NULL);
    has(log, "fir: 32 calls: 32 to the runtime");
    has(log, "vadd: 32 calls: 32 to the runtime");
    free(log);
}

/* exit() inside a wrapped function that a runtime worker runs (it hung:
 * the exit handler waited for the call that made it), and exit() from
 * main while other threads keep calling (it hung: the handler waited for
 * the lock those calls kept taking). The processes end as unwrapped. */
static void test_run_exits(void **state)
{
    (void)state;
    char out[512];
    snprintf(out, sizeof out, "%s/exit.bin", g_dir);
    const char *env[] = {"QUIVER_WRAP_STATS=1", default_config(), "QUIVER_WRAP_MIN_BYTES=0",
                         "QUIVER_WRAP_WHERE=cpu", NULL};
    const char *a1[] = {QV_WRAP_APP, out, "exitin", NULL};
    run_expect(a1, env, 3);
    const char *a2[] = {QV_WRAP_APP, out, "exitthreads", NULL};
    char *log;
    int rc = run(a2, env, &log);
    if (rc || counts_add_up(log, true) != 2) /* calls may be under way at exit */
        fail_msg("exitthreads exited %d:\n%s", rc, log);
    free(log);
}

/* fork() while another thread's calls run, the child exiting at once: the
 * child has no runtime, and its exit does not wait for the lock a thread
 * of the parent's held (each child took 10 s: adversarial testing). */
static void test_run_fork_exit(void **state)
{
    (void)state;
    char out[512];
    snprintf(out, sizeof out, "%s/forkexit.bin", g_dir);
    /* No leak check under ASan: in a child forked while threads run, it
     * finds their memory unreachable (the threads are not there) and
     * reports it, or hangs stopping them. */
    const char *env[] = {default_config(), "QUIVER_WRAP_MIN_BYTES=0",
                         "QUIVER_WRAP_WHERE=cpu", "ASAN_OPTIONS=detect_leaks=0", NULL};
    const char *a[] = {QV_WRAP_APP, out, "forkexit", NULL};
    run_expect(a, env, 0);
}

/* A child made by _Fork (no fork handlers) calls a wrapped function: it
 * runs __real_ there, with the right result; it hung on the runtime the
 * child has no threads of (adversarial testing). The deferred build's
 * case is in test_run_deferred's modes. */
static void test_run_raw_fork(void **state)
{
    (void)state;
    char *log =
        compare(QV_WRAP_APP, "rawfork", 1, default_config(), "QUIVER_WRAP_MIN_BYTES=0",
                "QUIVER_WRAP_WHERE=cpu", "ASAN_OPTIONS=detect_leaks=0", NULL);
    free(log);
}

/* main ends with pthread_exit while a thread still calls: the process
 * ends with that thread, its results right; the runtime's threads kept it
 * for ever (adversarial testing). */
static void test_run_main_exit(void **state)
{
    (void)state;
#ifdef __SANITIZE_THREAD__
    /* ThreadSanitizer's own thread outlives main: the unwrapped program
     * never ends under it either. */
    skip();
#endif
    char *log = compare(QV_WRAP_APP, "mainexit", 0, default_config(),
                        "QUIVER_WRAP_MIN_BYTES=0", NULL);
    /* The runtime went first, as at any exit: its counters were printed. */
    has(log, "quiver wrap: fir: 8 calls: 8 to the runtime");
    free(log);
    /* Deferred: the library's own threads (the fault handler's) are the
     * runtime's too. */
    log = compare(QV_WRAP_APP_DEFER, "mainexit", 0, default_config(),
                  "QUIVER_WRAP_MIN_BYTES=0", NULL);
    has(log, "quiver wrap: fir: 8 deferred");
    free(log);
}

/* compare() of mode on the wrapped build and the deferred one, with
 * QUIVER_WRAP_MIN_BYTES=0; each log must hold want (when not NULL). */
static void compare_builds(const char *mode, const char *want)
{
    const char *exe[] = {QV_WRAP_APP, QV_WRAP_APP_DEFER};
    for (int k = 0; k < 2; k++) {
        char *log = compare(exe[k], mode, 0, default_config(), "QUIVER_WRAP_MIN_BYTES=0",
                            NULL);
        if (want)
            has(log, want);
        free(log);
    }
}

/* main's own thread-specific value, whose destructor writes the results,
 * after main's pthread_exit: its destructor runs, as unwrapped; the
 * library's, made first, ran first and exited the process (adversarial
 * testing). */
static void test_run_main_exit_key(void **state)
{
    (void)state;
#ifdef __SANITIZE_THREAD__
    skip(); /* as test_run_main_exit */
#endif
    compare_builds("mainkey", NULL);
}

/* After main's pthread_exit, a SIGTERM goes to the thread that waits for
 * it (sigwait), which writes the results, as unwrapped; main's thread,
 * waiting for the program's last, took it and died of it (adversarial
 * testing). */
static void test_run_main_exit_sigwait(void **state)
{
    (void)state;
#ifdef __SANITIZE_THREAD__
    skip(); /* as test_run_main_exit */
#endif
    compare_builds("mainsig", NULL);
}

/* A call whose input cannot be read, left by the program's SIGSEGV
 * handler: the fault comes on the calling thread, before the library
 * holds anything, as unwrapped, and the program's later calls, from
 * other threads too, run (the runtime's worker took the fault, or, with
 * the call deferred, the program's other threads waited for ever for its
 * half-made outputs: adversarial testing). */
static void test_run_input_fault(void **state)
{
    (void)state;
    compare_builds("segvin", "fir: 9 calls: 9 to the runtime");
}

/* A call that goes to __real_ anyway (QUIVER_WRAP=0, below
 * QUIVER_WRAP_MIN_BYTES) reads nothing first: a fir whose h holds the 64
 * taps it reads, of the 2^20 its catalog size says, runs as unwrapped;
 * the wrapper's probe faulted on the page after h (adversarial testing). */
static void test_run_real_not_probed(void **state)
{
    (void)state;
    const char *exe[] = {QV_WRAP_APP, QV_WRAP_APP_DEFER};
    for (int k = 0; k < 2; k++) {
        char *log =
            compare(exe[k], "shorttaps", 1, default_config(), "QUIVER_WRAP=0", NULL);
        has(log, "fir: 1 calls: 0 to the runtime, 1 to __real_fir (disabled 1");
        free(log);
        log = compare(exe[k], "shorttaps", 1, default_config(),
                      "QUIVER_WRAP_MIN_BYTES=100000000", NULL);
        has(log, "fir: 1 calls: 0 to the runtime, 1 to __real_fir (disabled 0, below 1");
        free(log);
    }
}

/* 64 samples: below the default QUIVER_WRAP_MIN_BYTES. */
static void test_run_below_threshold(void **state)
{
    (void)state;
    char *log = compare(QV_WRAP_APP, "small", 1, default_config(),
                        "QUIVER_WRAP_MIN_BYTES=", NULL);
    has(log, "fir: 1 calls: 0 to the runtime, 1 to __real_fir (disabled 0, below 1");
    has(log, "vadd: 1 calls: 0 to the runtime, 1 to __real_vadd (disabled 0, below 1");
    free(log);
}

/* No policy: the CPU and OpenCL, no board; limited to the FPGA, every call
 * fails over to __real_ with the right result. */
static void test_run_no_board(void **state)
{
    (void)state;
    char *log =
        compare(QV_WRAP_APP, "basic", 0, "QV_CONFIG=", "QUIVER_WRAP_MIN_BYTES=0", NULL);
    has(log, "fir: 1 calls: 1 to the runtime");
    assert_true(tasks_of(log, "fpga") < 0);
    free(log);
    log = compare(QV_WRAP_APP, "basic", 1, "QV_CONFIG=", "QUIVER_WRAP_MIN_BYTES=0",
                  "QUIVER_WRAP_WHERE=fpga", NULL);
    has(log, "fir: 1 calls: 0 to the runtime, 1 to __real_fir");
    has(log, "failed 1, nested 0)");
    free(log);
    /* Longer than any list of classes: said and ignored, not cut to its
     * first 127 characters ("fpga" and spaces; adversarial testing). */
    char where[200];
    snprintf(where, sizeof where, "QUIVER_WRAP_WHERE=fpga%*s,bogus", 130, "");
    log = compare(QV_WRAP_APP, "basic", 0, "QV_CONFIG=", "QUIVER_WRAP_MIN_BYTES=0", where,
                  NULL);
    has(log, "is not a device class");
    has(log, "fir: 1 calls: 1 to the runtime");
    free(log);
}

/* No runtime (a policy that cannot be read), and QUIVER_WRAP=0. */
static void test_run_no_runtime(void **state)
{
    (void)state;
    char *log = compare(QV_WRAP_APP, "basic", 1, "QV_CONFIG=/nonexistent/quiver.yaml",
                        "QUIVER_WRAP_MIN_BYTES=0", NULL);
    has(log, "fir: 1 calls: 0 to the runtime, 1 to __real_fir (disabled 1");
    has(log, "quiver wrap: no runtime:");
    free(log);
    log = compare(QV_WRAP_APP, "basic", 1, "QUIVER_WRAP=0", NULL);
    has(log, "vadd: 1 calls: 0 to the runtime, 1 to __real_vadd (disabled 1");
    has(log, "no runtime: QUIVER_WRAP=0");
    free(log);
    /* No call needed one (all below the size): said so, not "no runtime: ". */
    log = compare(QV_WRAP_APP, "basic", 1, default_config(),
                  "QUIVER_WRAP_MIN_BYTES=18446744073709551615", NULL);
    has(log, "no runtime: none made (no call had needed one yet)");
    free(log);
    /* Any other value is said and ignored (a user took "no" for off). */
    log = compare(QV_WRAP_APP, "basic", 0, "QUIVER_WRAP=no", default_config(),
                  "QUIVER_WRAP_MIN_BYTES=0", NULL);
    has(log, "QUIVER_WRAP=no is not 0 or 1: ignored");
    has(log, "fir: 1 calls: 1 to the runtime");
    free(log);
}

/* Record-only interposers run without the profile library. */
static void test_run_record(void **state)
{
    (void)state;
    char *log = compare(QV_WRAP_APP_RECORD, "basic", 1, NULL);
    free(log);
}

/* ---- the library, in this process ---------------------------------------- */

/* y[i] = i, over n / m elements. */
static void cpu_div(const qv_call *c)
{
    float *y = c->ptr[0];
    for (size_t i = 0; i < c->size[0] / sizeof *y; i++)
        y[i] = (float)i;
}

static const qv_wrap_arg div_args[] = {
    {"y", QV_W, 4, 0, "n / m"},
    {"n", 0, 4, QV_WRAP_UINT, NULL},
    {"m", 0, 4, QV_WRAP_SINT, NULL},
};
static qv_wrap_fn div_fn = {
    QV_WRAP_ABI, "wrap_test_div", NULL, div_args, 3, cpu_div, NULL, NULL, NULL, NULL, 0};

/* div_fn's CPU implementation calls nest_fn: from inside a task, the
 * nested call goes to __real_. */
static int g_nested_rc = -1;
static qv_wrap_fn nest_fn;

static void cpu_outer(const qv_call *c)
{
    uint32_t n = 1, m = 1;
    float y[1];
    void *argv[3] = {y, &n, &m};
    g_nested_rc = qv_wrap_call(&nest_fn, argv);
    cpu_div(c);
}

static qv_wrap_fn nest_fn = {
    QV_WRAP_ABI, "wrap_test_nested", NULL, div_args, 3, cpu_div, NULL, NULL, NULL, NULL, 0};
static qv_wrap_fn outer_fn = {
    QV_WRAP_ABI, "wrap_test_outer", NULL, div_args, 3, cpu_outer, NULL, NULL, NULL, NULL, 0};

/* Calls whose sizes cannot be had go to __real_ (1) and count as unsized;
 * a call of 64 KiB runs in the runtime and fills the caller's memory. */
static void test_lib_unsized(void **state)
{
    (void)state;
    qv_wrap_stats st;
    assert_int_equal(qv_wrap_stats_get("wrap_test_div", &st), QV_ENOENT);
    uint32_t n = 65536;
    int32_t m = 0;
    float *y = calloc(n, sizeof *y);
    assert_non_null(y);
    void *argv[3] = {y, &n, &m};
    assert_int_equal(qv_wrap_call(&div_fn, argv), 1); /* n / 0 */
    n = 0;
    m = 1;
    assert_int_equal(qv_wrap_call(&div_fn, argv), 1); /* an empty call */
    n = 65536;
    m = -1;
    assert_int_equal(qv_wrap_call(&div_fn, argv), 1); /* a negative scalar */
    m = 1;
    argv[0] = NULL;
    assert_int_equal(qv_wrap_call(&div_fn, argv), 1); /* NULL with a size */
    assert_int_equal(qv_wrap_call(&div_fn, NULL), 1); /* an unconvertible scalar */
    argv[0] = y;
    m = 4;
    assert_int_equal(qv_wrap_call(&div_fn, argv), 0);
    for (uint32_t i = 0; i < n / 4; i++)
        assert_true(y[i] == (float)i);
    assert_true(y[n / 4] == 0.0f); /* n / m elements, not bytes */
    assert_int_equal(qv_wrap_stats_get("wrap_test_div", &st), 0);
    assert_int_equal(st.calls, 6);
    assert_int_equal(st.runtime, 1);
    assert_int_equal(st.real, 5);
    assert_int_equal(st.unsized, 5);
    /* A wrapped call made by a task goes to __real_. */
    free(y);
    y = calloc(n, sizeof *y);
    assert_non_null(y);
    argv[0] = y;
    assert_int_equal(qv_wrap_call(&outer_fn, argv), 0);
    assert_int_equal(g_nested_rc, 1);
    assert_true(y[1] == 1.0f);
    assert_int_equal(qv_wrap_stats_get("wrap_test_nested", &st), 0);
    assert_int_equal(st.calls, 1);
    assert_int_equal(st.nested, 1);
    free(y);
    size_t size[3] = {400, 4, 4}, g[3] = {0}, l[3] = {0};
    void *ptr[3] = {NULL, NULL, NULL};
    qv_call call = {ptr, size, 3, 0};
    assert_int_equal(qv_wrap_range(&div_fn, &call, g, l), 1);
    assert_int_equal(g[0], 100);
}

/* A function a file written for QV_WRAP_ABI 1 registered: its program's
 * qv_wrap_stats ends before `deferred`, and qv_wrap_stats_get writes no
 * further (it wrote the ABI 2 struct whole, 24 bytes past the caller's). */
static qv_wrap_fn abi1_fn = {
    1, "wrap_test_abi1", NULL, div_args, 3, cpu_div, NULL, NULL, NULL, NULL, 0};

static void test_lib_abi1_stats(void **state)
{
    (void)state;
    uint32_t n = 65536;
    int32_t m = 1;
    float *y = calloc(n, sizeof *y);
    assert_non_null(y);
    void *argv[3] = {y, &n, &m};
    assert_int_equal(qv_wrap_call(&abi1_fn, argv), 0);
    union {
        qv_wrap_stats st;
        unsigned char b[sizeof(qv_wrap_stats)];
    } u;
    memset(&u, 0xab, sizeof u);
    assert_int_equal(qv_wrap_stats_get("wrap_test_abi1", &u.st), 0);
    assert_int_equal(u.st.calls, 1);
    assert_int_equal(u.st.runtime, 1);
    for (size_t i = offsetof(qv_wrap_stats, deferred); i < sizeof u; i++)
        if (u.b[i] != 0xab)
            fail_msg("byte %zu of qv_wrap_stats written for an ABI 1 function", i);
    assert_true(y[n - 1] == (float)(n - 1));
    free(y);
    /* Sized by the caller: the whole struct of this header, counts of 0
     * past the ABI 1 fields (no call was deferred). */
    memset(&u, 0xab, sizeof u);
    assert_int_equal(qv_wrap_stats_get_sized("wrap_test_abi1", &u.st, sizeof u.st), 0);
    assert_int_equal(u.st.calls, 1);
    assert_int_equal(u.st.deferred + u.st.touches + u.st.lost, 0);
    /* A caller's shorter struct (an ABI 1 header) on an ABI 2 function. */
    memset(&u, 0xab, sizeof u);
    size_t v1 = offsetof(qv_wrap_stats, deferred);
    assert_int_equal(qv_wrap_stats_get_sized("wrap_test_div", &u.st, v1), 0);
    assert_int_equal(u.st.calls, 6);
    for (size_t i = v1; i < sizeof u; i++)
        assert_int_equal(u.b[i], 0xab);
    assert_int_equal(qv_wrap_stats_get_sized("wrap_test_div", &u.st, 0), QV_EINVAL);
}

/* ---- deferred calls (quiver_wrap(... DEFER)) ---------------------------- */

/* Every mode of the program, built with deferred interposers, gives the
 * unwrapped output: results read by the program's own loads, by the
 * kernel (fwrite), by a forked child, never read, in memory mapped over;
 * and the calls did return before their tasks ran where they could (the
 * counts: outputs in chunks malloc mapped on their own, or page-aligned),
 * ran synchronously where they could not (on the stack, a coroutine's
 * too, or sharing pages with other allocations: adjacent, and threads'
 * 64 KiB buffers), and
 * went to __real_ where the synchronous build sends them. */
static void test_run_deferred(void **state)
{
    (void)state;
    static const struct {
        const char *mode, *fir, *vadd;
    } want[] = {
        {"chain", "fir: 3 deferred", "vadd: 1 deferred"},
        {"frames", "fir: 16 deferred", "vadd: 16 deferred"},
        /* the first fir's output on the coroutine's stack runs now (else
         * the process hangs); the second's, an mmap of its own, is
         * deferred unless the kernel merged it with the stack's mapping */
        {"coro", "fir: 2 calls: 2 to the runtime", "vadd: 0 deferred"},
        {"basic", "fir: 1 deferred", "vadd: 1 deferred"},
        {"adjacent", "fir: 0 deferred", "fir: 1 calls: 1 to the runtime"},
        {"unmap", "fir: 1 deferred", "vadd: 1 deferred"},
        {"fork", "fir: 1 deferred", "vadd: 0 deferred"},
        /* the child's call (made after _Fork, no fork handlers) went to a
         * runtime with no threads: zeros (adversarial testing) */
        {"rawfork", "fir: 1 deferred", "vadd: 1 deferred"},
        {"threads", "fir: 0 deferred", "fir: 32 calls: 32 to the runtime"},
        {"stack", "fir: 0 deferred", "vadd: 0 deferred"},
        {"inplace", "fir: 0 deferred", "vadd: 0 deferred"},
        {"overlap", "vadd: 2 deferred", "vadd: 2 calls: 2 to the runtime"},
        {"small", "fir: 0 deferred", "fir: 1 calls: 0 to the runtime"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        /* inplace: __real_ in both, bit for bit (its values overflow) */
        int exact = !strcmp(want[i].mode, "inplace");
        char *log = compare(QV_WRAP_APP_DEFER, want[i].mode, exact, default_config(), NULL);
#ifdef QV_SANITIZED
        /* These modes' outputs come from malloc, which under a sanitizer
         * is not glibc's: deferred or not by its layout. */
        if (!strcmp(want[i].mode, "chain") || !strcmp(want[i].mode, "basic") ||
            !strcmp(want[i].mode, "overlap") || !strcmp(want[i].mode, "threads")) {
            free(log);
            continue;
        }
#endif
        has(log, want[i].fir);
        has(log, want[i].vadd);
        if (!strcmp(want[i].mode, "stack"))
            has(log, "fir: 1 calls: 1 to the runtime");
        if (!strcmp(want[i].mode, "frames")) {
            /* Each frame's two calls are one entry of a region, which the
             * runtime plans and replays. */
            has(log, "region wrap:deferred: 16 entries");
            const char *r = strstr(log, " recorded, ");
            assert_non_null(r);
            assert_true(strtol(r + 11, NULL, 10) >= 1);
        }
        free(log);
    }
    /* Kept to device classes: deferred where the CPU may take a task that
     * ran nowhere else (a deferred call cannot fall back to __real_
     * itself), synchronous on the GPU or the board alone. */
    static const struct {
        const char *where, *cls, *want;
    } cls[] = {
        {"cpu", "cpu", "fir: 16 deferred"},
        {"cpu,gpu", "gpu", "fir: 16 deferred"},
        {"cpu,fpga", "fpga", "fir: 16 deferred"},
        {"gpu", "gpu", "fir: 0 deferred"},
        {"fpga", "fpga", "fir: 0 deferred"},
    };
    for (size_t c = 0; c < sizeof cls / sizeof cls[0]; c++) {
        char where[64];
        snprintf(where, sizeof where, "QUIVER_WRAP_WHERE=%s", cls[c].where);
        char *log = compare(QV_WRAP_APP_DEFER, "frames", 0, default_config(), where, NULL);
        if (tasks_of(log, cls[c].cls) >= 0)
            has(log, cls[c].want);
        free(log);
    }
    char *log = compare(QV_WRAP_APP_DEFER, "frames", 0, default_config(),
                        "QUIVER_WRAP_DEFER=0", NULL);
    has(log, "fir: 16 calls: 16 to the runtime");
    has(log, "fir: 0 deferred");
    has(log, "calls are synchronous: QUIVER_WRAP_DEFER=0");
    free(log);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_errors),
        cmocka_unit_test(test_gen_compiles),
        cmocka_unit_test(test_gen_header_check),
        cmocka_unit_test(test_run_default),
        cmocka_unit_test(test_run_each_class),
        cmocka_unit_test(test_run_inplace),
        cmocka_unit_test(test_run_overlapping_inputs),
        cmocka_unit_test(test_run_stack),
        cmocka_unit_test(test_run_threads),
        cmocka_unit_test(test_run_signal_handler),
        cmocka_unit_test(test_run_below_threshold),
        cmocka_unit_test(test_run_exits),
        cmocka_unit_test(test_run_fork_exit),
        cmocka_unit_test(test_run_raw_fork),
        cmocka_unit_test(test_run_main_exit),
        cmocka_unit_test(test_run_main_exit_key),
        cmocka_unit_test(test_run_main_exit_sigwait),
        cmocka_unit_test(test_run_input_fault),
        cmocka_unit_test(test_run_real_not_probed),
        cmocka_unit_test(test_run_no_board),
        cmocka_unit_test(test_run_no_runtime),
        cmocka_unit_test(test_run_record),
        cmocka_unit_test(test_lib_unsized),
        cmocka_unit_test(test_lib_abi1_stats),
        cmocka_unit_test(test_run_deferred),
    };
    if (argc > 1) /* a name pattern: only those tests */
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
