/*
 * main.c - quiverd, the daemon that serves FPGA boards to remote hosts over
 * the wire protocol (host/src/remote/wire.h, docs/formats.md "Wire
 * protocol"): its options, its log, and the libquiver runtime it drives
 * through the public API: a policy written for it names the --board files
 * and the --catalog, and each catalog kernel with a build for a served
 * board becomes one function restricted to the FPGA class.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "config/catalog.h"
#include "config/yaml_doc.h" /* qv__same_file */
#include "devices/device.h"  /* qv__fault_set: --fail-launch */
#include "quiver.h"
#include "quiver/config.h"
#include "quiverd.h"
#include "qv_escape.h"
#include "qv_text.h"

atomic_int qd_stop, qd_reload;

static FILE *log_file;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

int qd_log_open(const char *path)
{
    if (!path)
        return 0;
    /* Non-blocking open: a FIFO with no reader fails at once (ENXIO); the
     * daemon hung in open() before it bound, silent (adversarial testing). */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd >= 0) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        if (!(log_file = fdopen(fd, "a")))
            close(fd);
    }
    if (!log_file) {
        char e[1024];
        fprintf(stderr, "quiverd: --log %s: %s%s\n", qv__escape(path, e, sizeof e),
                strerror(errno), errno == ENXIO ? " (a FIFO that no process reads)" : "");
        return -1;
    }
    setvbuf(log_file, NULL, _IOLBF, 0);
    return 0;
}

void qd_log(const char *fmt, ...)
{
    FILE *out = log_file ? log_file : stderr;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[1024], esc[4 * sizeof line];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One message, one line, no raw control characters: names in it may
     * come from a client or a file (as the runtime's log, error.c). */
    const char *msg = qv__escape_needed(line) ? qv__escape(line, esc, sizeof esc) : line;
    pthread_mutex_lock(&log_mu);
    fprintf(out, "%s.%03ldZ quiverd: %s\n", when, ts.tv_nsec / 1000000, msg);
    pthread_mutex_unlock(&log_mu);
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: quiverd --board FILE [--board FILE...] --catalog FILE --listen ENDPOINT\n"
        "               [--keys DIR | --allow-plain] [--log FILE] [--delay-us N]\n"
        "               [--fail-launch N] [--spin-us N] [--max-tasks N]\n"
        "               [--max-memory BYTES] [--cpu N|none]\n"
        "\n"
        "Serves the FPGA boards of the board files (emulated, XRT) with the kernels\n"
        "of the catalog to Quiver hosts over ZeroMQ (docs/remote.md).\n"
        "\n"
        "  --board FILE     a board file to serve (up to %d)\n"
        "  --catalog FILE   the kernel catalog; its kernels with a build for a served\n"
        "                   board are served\n"
        "  --listen EP      the endpoint to bind: tcp://ADDRESS:PORT or ipc://PATH\n"
        "                   (PORT * picks a free port; the log names it)\n"
        "  --keys DIR       CURVE keys from `quiver keygen DIR`: the daemon's\n"
        "                   DIR/server.key, and the clients it accepts,\n"
        "                   DIR/authorized/*.pub (re-read on SIGHUP, which cuts off\n"
        "                   connected clients whose key is no longer there)\n"
        "  --allow-plain    serve without authentication or encryption; only on\n"
        "                   tcp://127.0.0.1, tcp://localhost, tcp://[::1] or ipc://\n"
        "                   endpoints\n"
        "  --log FILE       append the log to FILE instead of stderr\n"
        "  --delay-us N     delay every reply by N microseconds (tests: network\n"
        "                   latency)\n"
        "  --fail-launch N  the N-th kernel launch on a served board fails, as a\n"
        "                   board fault would (tests: runs that fail on the daemon)\n"
        "  --spin-us N      how long the runtime's threads spin before they sleep\n"
        "                   (microseconds); default: 50 when the machine has a core\n"
        "                   for each of them and for the socket's two threads, else 0\n"
        "  --max-tasks N    the tasks in flight the daemon takes, of all its\n"
        "                   clients (each copy and each task of a run is one);\n"
        "                   past it a request is refused with QV_EBUSY (default %d)\n"
        "  --max-memory B   the bytes the buffers of all clients may take together\n"
        "                   (a number, or with K, M, G or T: KiB to TiB); past it an\n"
        "                   alloc is refused with QV_ENOMEM (default: half the\n"
        "                   machine's memory)\n"
        "  --cpu N|none     keep the socket's thread and ZeroMQ's I/O thread, which\n"
        "                   hand every message to each other, on CPU N (default:\n"
        "                   none, any CPU)\n"
        "  --help           this text\n"
        "\n"
        "SIGTERM or SIGINT: stop reading requests, finish the runs in flight, send\n"
        "their replies, exit 0.\n",
        QD_MAX_BOARDS, QD_MAX_TASKS);
}

/* Checks --listen's form, where libzmq would take more than it should:
 * "tcp://SOURCE;ADDRESS" binds ADDRESS (past the loopback check below); a
 * port past 65535 is cut to 16 bits; a bind's host is an interface name
 * or address, so tcp://localhost:PORT is rewritten to 127.0.0.1. 0 or a
 * message in err. */
static int listen_form(const char **ep, char *err, size_t errlen)
{
    static char local[600];
    const char *s = *ep;
    if (strchr(s, ';')) {
        snprintf(err, errlen, "--listen %s: a source address (\"SOURCE;ADDRESS\") is not "
                 "for binding", s);
        return -1;
    }
    if (strncmp(s, "ipc://", 6) == 0)
        return s[6] ? 0 : (snprintf(err, errlen, "--listen %s: no path", s), -1);
    if (strncmp(s, "tcp://", 6) != 0) {
        snprintf(err, errlen, "--listen %s: expected tcp://ADDRESS:PORT or ipc://PATH", s);
        return -1;
    }
    const char *colon = strrchr(s + 6, ':');
    const char *port = colon ? colon + 1 : "";
    size_t nd = strspn(port, "0123456789");
    if (!colon || colon == s + 6 ||
        !(strcmp(port, "*") == 0 || (nd && nd <= 5 && !port[nd] && atol(port) <= 65535))) {
        snprintf(err, errlen, "--listen %s: expected tcp://ADDRESS:PORT, PORT a number "
                 "from 0 to 65535 or *", s);
        return -1;
    }
    if (strncmp(s, "tcp://localhost:", 16) == 0) {
        snprintf(local, sizeof local, "tcp://127.0.0.1:%s", port);
        *ep = local;
    }
    return 0;
}

/* Plain mode is for endpoints no other machine reaches. */
static int loopback_endpoint(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0)
        return 1;
    static const char *const hosts[] = {
        "tcp://127.0.0.1:", "tcp://localhost:", "tcp://[::1]:"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        if (strncmp(ep, hosts[i], strlen(hosts[i])) == 0)
            return 1;
    return 0;
}

/* A numeric option's value, lo to hi; 0, or 2 having said what was
 * expected. */
static int parse_uint(const char *opt, const char *arg, unsigned long lo, unsigned long hi,
                      const char *what, unsigned *out)
{
    unsigned long v;
    if (!qv__parse_dec(arg, hi, &v) || v < lo) {
        fprintf(stderr, "quiverd: %s %s: expected %s, %lu to %lu\n", opt,
                qv__escape_tmp(arg), what, lo, hi);
        return 2;
    }
    *out = (unsigned)v;
    return 0;
}

/* --max-memory's value: decimal digits and an optional K, M, G or T
 * (binary units), 1 MiB to 2^50 bytes; 0, or 2 having said what was
 * expected. */
static int parse_bytes(const char *arg, uint64_t *out)
{
    const uint64_t lo = (uint64_t)1 << 20, hi = (uint64_t)1 << 50;
    char digits[32];
    size_t len = strlen(arg), shift = 0;
    const char *units = "KMGT", *u = len ? strchr(units, arg[len - 1]) : NULL;
    if (u) {
        shift = 10 * (size_t)(u - units + 1);
        len--;
    }
    unsigned long v = 0;
    bool ok = len > 0 && len < sizeof digits;
    if (ok) {
        memcpy(digits, arg, len);
        digits[len] = '\0';
        /* Capped by what an unsigned long holds (32 bits on some
         * machines): a larger number there needs a suffix. */
        uint64_t max = hi >> shift;
        unsigned long cap = max < ULONG_MAX ? (unsigned long)max : ULONG_MAX;
        ok = qv__parse_dec(digits, cap, &v) && ((uint64_t)v << shift) >= lo;
    }
    if (!ok) {
        fprintf(stderr,
                "quiverd: --max-memory %s: expected bytes, a number with an optional K, "
                "M, G or T (KiB to TiB), 1M to 1024T\n",
                qv__escape_tmp(arg));
        return 2;
    }
    *out = (uint64_t)v << shift;
    return 0;
}

/* Whether --log names a file the daemon reads (a board file, the catalog,
 * a key of --keys, or a file in its authorized/, which a reload would
 * read as a key): said, as `quiver plan` refuses an output that is one of
 * its inputs. Appended to, the catalog no longer parsed at the next start
 * and server.key held log lines (adversarial testing). */
static bool log_reads(const qd_options *o)
{
    const char *what = NULL;
    for (unsigned i = 0; !what && i < o->nboards; i++)
        if (qv__same_file(o->log, o->boards[i]))
            what = "a --board file";
    if (!what && o->catalog && qv__same_file(o->log, o->catalog))
        what = "the --catalog";
    static const char *const keys[] = {"server.key", "server.pub", "client.key",
                                       "client.pub"};
    char p[PATH_MAX + 32];
    for (size_t i = 0; !what && o->keys && i < sizeof keys / sizeof keys[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", o->keys, keys[i]);
        if (qv__same_file(o->log, p))
            what = "a key of --keys";
    }
    if (!what && o->keys) { /* in authorized/: its directory is that one */
        char dir[PATH_MAX], auth[PATH_MAX];
        const char *slash = strrchr(o->log, '/');
        int n = !slash ? snprintf(p, sizeof p, ".")
                : slash == o->log
                    ? snprintf(p, sizeof p, "/")
                    : snprintf(p, sizeof p, "%.*s", (int)(slash - o->log), o->log);
        char ap[PATH_MAX + 32];
        snprintf(ap, sizeof ap, "%s/authorized", o->keys);
        if (n > 0 && (size_t)n < sizeof p && realpath(p, dir) && realpath(ap, auth) &&
            !strcmp(dir, auth))
            what = "a file in the authorized/ directory of --keys";
    }
    if (what)
        fprintf(stderr,
                "quiverd: --log %s names %s, which the daemon reads: the log "
                "would be written into it\n",
                qv__escape_tmp(o->log), what);
    return what != NULL;
}

static int parse_args(int argc, char **argv, qd_options *o)
{
    /* Values past any character: a wrong short option ("-b") is told
     * from a wrong use of a long one by optopt alone. */
    enum {
        O_BOARD = 256,
        O_CATALOG,
        O_LISTEN,
        O_KEYS,
        O_PLAIN,
        O_LOG,
        O_DELAY,
        O_FAIL,
        O_SPIN,
        O_MAXT,
        O_MAXM,
        O_CPU,
        O_HELP
    };
    static const struct option longopts[] = {
        {"board", required_argument, NULL, O_BOARD},
        {"catalog", required_argument, NULL, O_CATALOG},
        {"listen", required_argument, NULL, O_LISTEN},
        {"keys", required_argument, NULL, O_KEYS},
        {"allow-plain", no_argument, NULL, O_PLAIN},
        {"log", required_argument, NULL, O_LOG},
        {"delay-us", required_argument, NULL, O_DELAY},
        {"fail-launch", required_argument, NULL, O_FAIL},
        {"spin-us", required_argument, NULL, O_SPIN},
        {"max-tasks", required_argument, NULL, O_MAXT},
        {"max-memory", required_argument, NULL, O_MAXM},
        {"cpu", required_argument, NULL, O_CPU},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    /* ':' first: a missing value is ':', anything else wrong is '?'. */
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case O_BOARD:
            if (o->nboards == QD_MAX_BOARDS) {
                fprintf(stderr, "quiverd: more than %d --board options\n", QD_MAX_BOARDS);
                return 2;
            }
            o->boards[o->nboards++] = optarg;
            break;
        case O_CATALOG:
            o->catalog = optarg;
            break;
        case O_LISTEN:
            o->listen = optarg;
            break;
        case O_KEYS:
            o->keys = optarg;
            break;
        case O_PLAIN:
            o->allow_plain = 1;
            break;
        case O_LOG:
            o->log = optarg;
            break;
        case O_DELAY:
            if (parse_uint("--delay-us", optarg, 0, 10000000, "microseconds", &o->delay_us))
                return 2;
            break;
        case O_FAIL:
            if (parse_uint("--fail-launch", optarg, 1, 1000000000, "a launch's number",
                           &o->fail_launch))
                return 2;
            break;
        case O_SPIN: {
            unsigned us;
            if (parse_uint("--spin-us", optarg, 0, 1000000, "microseconds", &us))
                return 2;
            o->spin_us = (int)us;
            break;
        }
        case O_MAXT:
            if (parse_uint("--max-tasks", optarg, 1, 1u << 23, "a number of tasks",
                           &o->max_tasks))
                return 2;
            break;
        case O_MAXM:
            if (parse_bytes(optarg, &o->max_memory))
                return 2;
            break;
        case O_CPU: {
            unsigned cpu;
            if (strcmp(optarg, "none") == 0)
                o->cpu = QD_CPU_NONE;
            else if (parse_uint("--cpu", optarg, 0, CPU_SETSIZE - 1,
                                "a CPU's number or none", &cpu))
                return 2;
            else
                o->cpu = (int)cpu;
            break;
        }
        case O_HELP:
            usage(stdout);
            return 1;
        default: {
            /* Named from the table, not from argv: after "-xy" optind has
             * not moved on, and argv[optind - 1] was the argument before
             * (read 2 bytes in, past the end of a 1-byte one). */
            const char *name = NULL;
            for (const struct option *l = longopts; l->name && optopt; l++)
                if (l->val == optopt)
                    name = l->name;
            if (c == ':' && name)
                fprintf(stderr, "quiverd: option --%s needs a value\n", name);
            else if (name)
                fprintf(stderr, "quiverd: option --%s takes no value\n", name);
            else if (optopt != 0) /* a short one (a byte past 0x7f is negative) */
                fprintf(stderr, "quiverd: unknown option -%s\n",
                        qv__escape_tmp((char[2]){(char)optopt}));
            else
                fprintf(stderr, "quiverd: unknown option %s\n",
                        qv__escape_tmp(argv[optind - 1]));
            fprintf(stderr, "Try 'quiverd --help'.\n");
            return 2;
        }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "quiverd: unexpected argument '%s'\nTry 'quiverd --help'.\n",
                qv__escape_tmp(argv[optind]));
        return 2;
    }
    const char *missing = !o->nboards   ? "--board FILE"
                          : !o->catalog ? "--catalog FILE"
                          : !o->listen  ? "--listen ENDPOINT"
                                        : NULL;
    if (missing) {
        fprintf(stderr, "quiverd: %s is required\nTry 'quiverd --help'.\n", missing);
        return 2;
    }
    if (o->keys && !*o->keys) { /* it read /server.key and /authorized */
        fprintf(stderr, "quiverd: --keys: expected a directory, got an empty string\n");
        return 2;
    }
    if (o->keys && o->allow_plain) {
        fprintf(stderr, "quiverd: --keys and --allow-plain exclude each other\n");
        return 2;
    }
    if (!o->keys && !o->allow_plain) {
        fprintf(stderr, "quiverd: --keys DIR is required (or --allow-plain on a "
                        "loopback or ipc:// endpoint)\n");
        return 2;
    }
    if (o->log && log_reads(o)) /* said why */
        return 2;
    char err[700];
    if (listen_form(&o->listen, err, sizeof err)) {
        fprintf(stderr, "quiverd: %s\n",
                qv__escape_tmp(err)); /* it quotes the endpoint */
        return 2;
    }
    if (o->allow_plain && !loopback_endpoint(o->listen)) {
        fprintf(stderr,
                "quiverd: --allow-plain: %s is not a loopback endpoint; plain "
                "mode serves only tcp://127.0.0.1:PORT, tcp://localhost:PORT, "
                "tcp://[::1]:PORT or ipc://PATH (use --keys DIR for others)\n",
                qv__escape_tmp(o->listen));
        return 2;
    }
    return 0;
}

/* Writes a YAML double-quoted string. */
/* s as a YAML double-quoted scalar: control characters escaped (a newline
 * in a path was folded into a space). */
static void yaml_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* Whether s is valid UTF-8, which a YAML file must be: a path that is not
 * cannot be named in the runtime's policy. */
static bool utf8_ok(const char *s)
{
    unsigned long cp;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = qv__utf8_seq(p, &cp);
        if (!n)
            return false;
        p += n;
    }
    return true;
}

/* How long the runtime's threads spin before they sleep: --spin-us, or
 * spin (the runtime's default) when the cores quiverd may use number at
 * least its spinning threads (the CPU workers, per board its driver, and
 * XRT's thread for a card, and a waiter of a run's tasks) and
 * the two that carry each request (the socket's, and ZeroMQ's I/O
 * thread); 0 otherwise. The cores are its CPU affinity: a container's
 * CPU quota is not seen (--spin-us says it there). On a
 * 2-core machine, threads spinning after each run took the cores the
 * replies needed: a 64-byte run's round trip from a host on loopback was
 * 60-70 us longer than with no spin (bench/remote --rtt). */
static unsigned spin_choice(const qd_options *o, const qd_daemon *d, int ncpu, unsigned spin)
{
    const char *env = getenv("QV_SPIN_US");
    if (env && *env) { /* the runtime takes it over any option */
        qd_log("runtime threads spin as QV_SPIN_US=%s says", env);
        return spin;
    }
    if (o->spin_us >= 0) {
        qd_log("runtime threads spin %d us before they sleep (--spin-us)", o->spin_us);
        return (unsigned)o->spin_us;
    }
    cpu_set_t set;
    int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                            : (int)sysconf(_SC_NPROCESSORS_ONLN);
    int spinners = ncpu + 1;
    for (unsigned i = 0; i < d->nboards; i++) /* an emulated board runs on its driver */
        spinners += d->boards[i]->emulation ? 1 : 2;
    unsigned us = cores >= spinners + 2 ? spin : 0;
    qd_log("runtime threads spin %u us before they sleep (cores: %d; threads that spin: %d, "
           "and the socket's two; --spin-us sets it)", us, cores, spinners);
    return us;
}

/* The runtime: a policy naming the catalog and the boards, on the CPU (the
 * daemon's own copy tasks) and the FPGA class. */
static int make_runtime(qd_daemon *d)
{
    const qd_options *o = d->opt;
    char policy[] = "/tmp/quiverd-policy.XXXXXX";
    int fd = mkstemp(policy);
    if (fd < 0) {
        qd_log("cannot write the runtime policy: %s", strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(policy);
        return -1;
    }
    int real = 0;
    unsigned emulated = 0;
    for (unsigned i = 0; i < d->nboards; i++) {
        real |= !d->boards[i]->emulation;
        emulated += d->boards[i]->emulation != 0;
    }
    /* The boards', then the catalog's, absolute paths. */
    static char paths[QD_MAX_BOARDS + 1][PATH_MAX];
    for (unsigned i = 0; i <= d->nboards; i++) {
        const char *p = i < d->nboards ? o->boards[i] : o->catalog;
        if (!realpath(p, paths[i]))
            snprintf(paths[i], sizeof paths[i], "%s", p);
    }
    const char *cat = paths[d->nboards];
    for (unsigned i = 0; i <= d->nboards; i++) {
        if (utf8_ok(paths[i]))
            continue;
        qd_log("%s: the path is not UTF-8, which quiverd's runtime policy (YAML) "
               "cannot name; rename it", paths[i]);
        fclose(f);
        unlink(policy);
        return -1;
    }
    fprintf(f, "# quiverd's runtime\ncatalog: ");
    yaml_quoted(f, cat);
    /* The runtime's warnings (a board's fault and why a run ran nowhere)
     * into the daemon's log: they went to stderr only, and the log said
     * "no device can run this task" (adversarial testing). */
    char logpath[PATH_MAX];
    if (o->log && realpath(o->log, logpath) && utf8_ok(logpath)) {
        fprintf(f, "\nlog:\n  file: ");
        yaml_quoted(f, logpath);
    }
    fprintf(f,
            /* Above what the socket thread lets in (serve_run.c, qd_room_for): a
             * submission never waits for the runtime's backpressure there,
             * which stopped the heartbeats of every client (review). */
            "\nmax_inflight: %u\n"
            "scheduler: eager\nimplicit_regions: false\ndevices: [cpu, fpga]\n"
            "discovery:\n  rescan_interval_ms: 0\n  hwloc: true\n  opencl: false\n"
            "  xrt: %s\n  boards:%s\n",
            o->max_tasks + 64, real ? "true" : "false",
            emulated ? "" : " []"); /* real cards: found by XRT */
    for (unsigned i = 0; i < d->nboards; i++) {
        if (!d->boards[i]->emulation)
            continue;
        fprintf(f, "    - ");
        yaml_quoted(f, paths[i]);
        fputc('\n', f);
    }
    fclose(f);
    qv_options opts;
    qv_options_init(&opts);
    opts.ncpu = o->ncpu ? o->ncpu : 2;
    opts.pin = 0;
    opts.record = 1; /* a run's reply takes each task's time from its node */
    opts.config = policy;
    opts.perfmodel_dir = "";
    opts.opencl = 0;
    opts.spin_us = spin_choice(o, d, opts.ncpu, opts.spin_us);
    int rc = qv_runtime_create(&opts, &d->rt);
    unlink(policy);
    if (rc) {
        qd_log("cannot start the runtime: %s: %s", qv_strerror(rc), qv_last_error());
        return -1;
    }
    unsigned fpgas = 0;
    d->nworkers = (unsigned)opts.ncpu;
    for (unsigned i = 0; i < QD_MAX_DEVICES; i++)
        d->dev_board[i] = QV_WIRE_NO_BOARD;
    for (unsigned i = 0; i < qv_device_count(d->rt); i++) {
        qv_device_info di;
        if (qv_device_get(d->rt, i, &di) == 0 && di.cls == QV_CLASS_FPGA) {
            qd_log("device %u: %s (%s), %u units", i, di.name, di.backend, di.units);
            fpgas++;
            /* Which board it is, by name: a run's reply says where each
             * task ran (it said "unknown" whenever two boards were
             * served: adversarial testing). */
            for (unsigned k = 0; k < d->nboards && i < QD_MAX_DEVICES; k++)
                if (!strcmp(d->boards[k]->name, di.name) || d->nboards == 1)
                    d->dev_board[i] = (uint16_t)k;
        }
    }
    if (!fpgas) {
        /* Why, as `quiver devices` says it: XRT's discovery (it said
         * nothing of it: adversarial testing). */
        char why[300] = "";
        bool cards = false;
        for (unsigned k = 0; k < d->nboards; k++)
            cards |= !d->boards[k]->emulation;
        qv_pool_options po;
        qv_pool_options_init(&po);
        po.hwloc = po.opencl = 0;
        qv_pool *pool = NULL;
        qv_backend_report br;
        if (cards && qv_pool_create(&po, &pool, NULL) == 0) {
            for (size_t k = 0; qv_pool_backend(pool, k, &br) == 0; k++)
                if (!strcmp(br.name, "xrt") && br.why[0])
                    snprintf(why, sizeof why, ": %s", br.why);
            qv_pool_destroy(pool);
        }
        qd_log("no FPGA board could be opened (of %u board files)%s", d->nboards, why);
        return -1;
    }
    if (o->fail_launch) {
        qv_device_info di = {0};
        for (unsigned i = 0; i < qv_device_count(d->rt) && di.cls != QV_CLASS_FPGA; i++)
            qv_device_get(d->rt, i, &di);
        qv__fault_set(di.backend, QV_FAULT_LAUNCH, o->fail_launch - 1, QV_EIO);
        qd_log("--fail-launch %u: launch %u on the %s boards fails", o->fail_launch,
               o->fail_launch, di.backend);
    }
    return 0;
}

static qv_mode kdir_mode(qv__kdir dir)
{
    return dir == QV__KDIR_IN ? QV_R : dir == QV__KDIR_OUT ? QV_W : QV_RW;
}

/* One function per kernel with a build for a served board, and HELLO's
 * description of each board. */
static int make_funcs(qd_daemon *d, const qv__catalog *cat)
{
    d->funcs = calloc(cat->nkernels ? cat->nkernels : 1, sizeof *d->funcs);
    d->wkernels =
        calloc((cat->nkernels ? cat->nkernels : 1) * d->nboards, sizeof *d->wkernels);
    /* Whether kernel k's build for board b opened and holds the kernel as
     * the catalog says (quiver check's test): a build that does not was
     * served all the same, each run of it bound to fail (adversarial). */
    bool *ok = calloc((cat->nkernels ? cat->nkernels : 1) * d->nboards, sizeof *ok);
    if (!d->funcs || !d->wkernels || !ok) {
        free(ok);
        return -1;
    }
    for (size_t k = 0; k < cat->nkernels; k++) {
        const qv__kernel *kn = &cat->kernels[k];
        int built = 0;
        for (unsigned b = 0; b < d->nboards; b++) {
            const qv__kbuild *kb = qv__kernel_build(kn, d->boards[b]->name,
                                                    d->boards[b]->platform,
                                                    d->boards[b]->emulation);
            if (!kb)
                continue;
            if (qv__xclbin_check_build(kn, d->boards[b], kb->xclbin) != 0) {
                char e[1024];
                qd_log("kernel %s: not served on %s: %s: %s", kn->name, d->boards[b]->name,
                       qv__escape(kb->xclbin, e, sizeof e), qv_last_error());
                continue;
            }
            ok[k * d->nboards + b] = true;
            built = 1;
        }
        if (!built)
            continue;
        if (kn->nargs > QV_MAX_ARGS) {
            qd_log("kernel %s: not served (more than %d arguments)", kn->name, QV_MAX_ARGS);
            continue;
        }
        qd_func *sf = &d->funcs[d->nfuncs];
        /* A fused chain's kernel is a function of its own name: the host
         * runs it in place of the chain, with the kernel's arguments. */
        sf->name = kn->nfuncs == 1 ? kn->funcs[0] : kn->name;
        sf->kernel = kn->name;
        sf->nargs = (unsigned)kn->nargs;
        for (size_t a = 0; a < kn->nargs; a++) {
            const qv__karg *ka = &kn->args[a];
            sf->args[a] = ka->dir == QV__KDIR_SCALAR
                              ? (qv_arg_desc){ka->name, 0, QV_R, ka->elem}
                              : (qv_arg_desc){ka->name, 1, kdir_mode(ka->dir), 0};
        }
        if (qd_func_find(d, sf->name)) {
            qd_log("kernel %s: function %s is served already", kn->name, sf->name);
            continue;
        }
        int rc = qv_func_create(d->rt, sf->name, sf->args, sf->nargs, &sf->f);
        if (!rc)
            rc = qv_func_set_fpga(sf->f, kn->name);
        if (!rc)
            rc = qv_func_set_where(sf->f, 1u << QV_CLASS_FPGA);
        if (rc) {
            qd_log("kernel %s: %s: %s", kn->name, qv_strerror(rc), qv_last_error());
            continue;
        }
        qd_log("serving kernel %s as function %s", kn->name, sf->name);
        d->nfuncs++;
    }
    if (!d->nfuncs) {
        qd_log("the catalog %s has no kernel built for the served boards", cat->path);
        free(ok);
        return -1;
    }
    /* HELLO: each board with the served kernels it has a build of. */
    qv_wire_kernel *wk = d->wkernels;
    for (unsigned b = 0; b < d->nboards; b++) {
        const qv__board *bd = d->boards[b];
        qv_wire_board *w = &d->wboards[b];
        unsigned banks = 0;
        for (size_t i = 0; i < bd->nbanks; i++)
            banks += bd->banks[i].count;
        *w = (qv_wire_board){.name = bd->name,
                             .cls = QV_CLASS_FPGA,
                             .memory = bd->memory,
                             .banks = (uint16_t)banks,
                             .link_gbs = bd->bandwidth_gbs,
                             .link_latency_us = bd->latency_us,
                             .units = 1,
                             .kernels = wk};
        for (unsigned i = 0; i < qv_device_count(d->rt); i++) {
            qv_device_info di;
            if (qv_device_get(d->rt, i, &di) == 0 && di.cls == QV_CLASS_FPGA &&
                strstr(di.name, bd->name))
                w->units = di.units;
        }
        for (unsigned i = 0; i < d->nfuncs; i++) {
            const qd_func *sf = &d->funcs[i];
            size_t k = 0;
            while (k < cat->nkernels && strcmp(cat->kernels[k].name, sf->kernel) != 0)
                k++;
            if (k == cat->nkernels || !ok[k * d->nboards + b])
                continue;
            *wk = (qv_wire_kernel){
                .kernel = sf->kernel, .func = sf->name, .nargs = (uint8_t)sf->nargs};
            for (unsigned a = 0; a < sf->nargs; a++)
                wk->args[a] = (qv_wire_arg_info){
                    (uint8_t)sf->args[a].is_buf, (uint8_t)sf->args[a].mode,
                    sf->args[a].is_buf ? 0 : (uint32_t)sf->args[a].size};
            wk++;
            w->nkernels++;
        }
    }
    free(ok);
    return 0;
}

const qd_func *qd_func_find(const qd_daemon *d, const char *name)
{
    for (unsigned i = 0; i < d->nfuncs; i++)
        if (strcmp(d->funcs[i].name, name) == 0)
            return &d->funcs[i];
    return NULL;
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        qd_reload = 1;
    else
        qd_stop = 1;
}

int main(int argc, char **argv)
{
    /* A reload asked for while the daemon starts (a service manager's
     * ExecReload) is one more reload, not its death: the default action
     * of SIGHUP killed it in the first milliseconds (adversarial testing;
     * opening a card's xclbins makes them seconds; without SA_RESTART a
     * read it interrupted failed the start). SIGTERM and SIGINT keep
     * theirs until it serves: nothing to finish before. */
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    qd_pid_keep();
    qd_options o = {.spin_us = -1, .max_tasks = QD_MAX_TASKS, .cpu = QD_CPU_NONE};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (qd_log_open(o.log))
        return 1;
    qd_daemon d = {.opt = &o};
    qv__wire_limits_default(&d.limits);
    if (!o.max_memory) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        o.max_memory = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 2
                                             : d.limits.max_bytes;
    }
    qd_log("buffers of all clients: at most %" PRIu64 " MiB (--max-memory)",
           o.max_memory >> 20);
    if (getrandom(&d.instance, sizeof d.instance, 0) != sizeof d.instance)
        d.instance = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    int status = 1;
    qv__catalog *cat = NULL;
    for (unsigned i = 0; i < o.nboards; i++) {
        qv_diag diag;
        if (qv__board_load(o.boards[i], &d.boards[i], &diag)) {
            char msg[2200];
            qv_diag_format(&diag, msg, sizeof msg);
            qd_log("%s", msg);
            goto out;
        }
        d.nboards++;
        if (d.boards[i]->kind != QV_CLASS_FPGA) {
            qd_log("%s: board %s is of kind %s; quiverd serves FPGA boards", o.boards[i],
                   d.boards[i]->name, qv_class_name(d.boards[i]->kind));
            goto out;
        }
        /* One board twice, by one file or two: told as such (the runtime's
         * policy named a temporary file that was gone), and two boards of
         * one name, which a host could not tell apart, refused. */
        for (unsigned j = 0; j < i; j++) {
            struct stat a, b;
            bool same = stat(o.boards[i], &a) == 0 && stat(o.boards[j], &b) == 0 &&
                        a.st_dev == b.st_dev && a.st_ino == b.st_ino;
            if (same || !strcmp(d.boards[i]->name, d.boards[j]->name)) {
                char e1[1024], e2[1024], e3[512];
                qd_log(same ? "--board %s and --board %s name one file"
                            : "--board %s and --board %s both describe a board named '%s': "
                              "a host could not tell them apart",
                       qv__escape(o.boards[j], e1, sizeof e1),
                       qv__escape(o.boards[i], e2, sizeof e2),
                       qv__escape(d.boards[i]->name, e3, sizeof e3));
                goto out;
            }
        }
    }
    qv_diag diag;
    if (qv__catalog_load(o.catalog, &cat, &diag)) {
        char msg[2200];
        qv_diag_format(&diag, msg, sizeof msg);
        qd_log("%s", msg);
        goto out;
    }
    if (make_runtime(&d) || make_funcs(&d, cat))
        goto out;
    /* Without SA_RESTART, as before: a stop wakes what waits. (Waits in
     * poll end on any signal; a reload's restarted calls lost nothing.) */
    struct sigaction stop = {.sa_handler = on_signal};
    sigemptyset(&stop.sa_mask);
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    status = qd_serve(&d);
out:
    qv_runtime_destroy(d.rt);
    qv__catalog_free(cat);
    for (unsigned i = 0; i < d.nboards; i++)
        qv__board_free(d.boards[i]);
    free(d.funcs);
    free(d.wkernels);
    if (log_file)
        fclose(log_file);
    return status;
}
