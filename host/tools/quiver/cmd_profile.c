/*
 * cmd_profile.c - `quiver profile [options] -- PROGRAM ARGS...`: runs a
 * program built with -finstrument-functions with libquiver-profile.so
 * preloaded, waits for it, reads the raw profiles its processes wrote
 * (profraw.h), names their module + offset addresses from the files'
 * symbol tables (elfsym.h), subtracts the measured probe cost and hands
 * one profile of named functions to the report (cmd_profile_report.c).
 * docs/profile.md, "Profiling", and docs/cli.md describe it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd_profile.h"
#include "commands.h"
#include "profile/elfsym.h"
#include "profile/profraw.h"
#include "quiver.h"
#include "qv_escape.h"
#include "qv_hash.h"
#include "qv_itab.h"
#include "qv_text.h"
#include "qvpart.h"

#define PROG "quiver profile"

#ifndef QV_PROFILE_BIN_TO_LIB
#define QV_PROFILE_BIN_TO_LIB "../lib"
#endif

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: quiver profile [--json] [--out DIR] [--catalog FILE] [--boards DIR]\n"
        "                      [--size NAME=VALUE]... [--top N] [--wait-children S]\n"
        "                      -- PROGRAM [ARGS...]\n"
        "\n"
        "Runs PROGRAM, built with -finstrument-functions, with libquiver-profile.so\n"
        "preloaded, and reports its hot functions (calls, inclusive and self time,\n"
        "share of the run, call paths), the catalog kernels that implement them, and\n"
        "for each board the predicted time of the program with them offloaded.\n"
        "\n"
        "  --json            the report as JSON on standard output (the program's\n"
        "                    standard output goes to standard error)\n"
        "  --out=DIR         where the raw profiles and the reports go: report.txt,\n"
        "                    report.json, callgraph.dot, offload.dot (default\n"
        "                    quiver-profile)\n"
        "  --catalog=FILE    the kernel catalog (default: the policy's, as the runtime)\n"
        "  --boards=DIR      predict for the board files in DIR (default: the\n"
        "                    catalog's boards)\n"
        "  --size=NAME=VALUE a scalar for sizing kernels (n=4096) where the program\n"
        "                    noted none (quiver wrap --record); repeatable\n"
        "  --top=N           functions shown in the text (default 15)\n"
        "  --wait-children=S how long processes the program started may outlive it\n"
        "                    and still join the report, in seconds (default 5)\n"
        "\n"
        "Exit status: the program's (128 + N when signal N ended it) once the report\n"
        "is written; 1 when no report could be made; 2 for a usage error.\n");
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
    return d;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
    return q;
}

/* libquiver-profile.so next to this program (the build tree), else in the
 * installation's library directory; 0 or 1 after printing why. */
static int find_lib(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) {
        fprintf(stderr, PROG ": cannot find this program's directory\n");
        return 1;
    }
    exe[k] = 0;
    char *slash = strrchr(exe, '/');
    *slash = 0;
    const char *cand[] = { "", "/" QV_PROFILE_BIN_TO_LIB };
    for (size_t i = 0; i < 2; i++) {
        int n = snprintf(out, size, "%.*s%s/libquiver-profile.so", PATH_MAX - 64, exe, cand[i]);
        if (n > 0 && (size_t)n < size && access(out, R_OK) == 0)
            return 0;
    }
    fprintf(stderr, PROG ": libquiver-profile.so is neither in %s nor in %s/%s\n", exe, exe,
            QV_PROFILE_BIN_TO_LIB);
    return 1;
}

/* Makes dir (one level) or accepts an existing directory, and removes the
 * raw profiles of an earlier run there. 0 or 1 after printing why. */
/* Whether name is a raw profile the library writes, qvprof.PID.txt, or
 * (tmp) one it had not finished, qvprof.PID.txt.tmp. Nothing else in --out
 * is ours: a user's qvprof.c there is left alone. */
static bool raw_name(const char *name, bool tmp)
{
    if (strncmp(name, "qvprof.", 7))
        return false;
    const char *p = name + 7, *d = p;
    while (*p >= '0' && *p <= '9')
        p++;
    return p > d && (!strcmp(p, ".txt") || (tmp && !strcmp(p, ".txt.tmp")));
}

static int prepare_out(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": cannot create --out %s: %s\n", qv_cli_esc(dir),
                strerror(errno));
        return 1;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, PROG ": --out %s: not a directory\n", qv_cli_esc(dir));
        return 1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, PROG ": cannot write into --out %s: %s\n", qv_cli_esc(dir),
                strerror(errno));
        return 1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, PROG ": cannot read --out %s: %s\n", qv_cli_esc(dir),
                strerror(errno));
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!raw_name(e->d_name, true))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    return 0;
}

/* A Ctrl-C while the processes the program started are waited for: the
 * wait ends, and the report is written. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* This process's pid as /proc numbers it (in another pid namespace than
 * /proc's, getpid() named unrelated processes); -1 if unknown. */
static long proc_self(void)
{
    char me[32] = "";
    ssize_t n = readlink("/proc/self", me, sizeof me - 1);
    return n > 0 ? strtol(me, NULL, 10) : -1;
}

/* Children this process had before the program started (a shell's `cmd &`
 * before it exec'd quiver): not the program's. */
typedef struct kids {
    long *pid;
    unsigned n;
} kids;

/* w ended: its pid is no longer one of k's (a process of the program's
 * may be given it). */
static void forget(kids *k, pid_t w)
{
    for (unsigned i = 0; i < k->n; i++)
        if (k->pid[i] == (long)w) {
            k->pid[i] = k->pid[--k->n];
            return;
        }
}

/* Waits for the program (pid) into *st, reaping the other children that
 * end meanwhile: orphans adopted while it runs (wait_descendants), which
 * stayed zombies until quiver exited (200 of them from a shell loop of
 * background jobs). 0, or -1 (errno) when it cannot be waited for. */
static int reap(pid_t pid, int *st, kids *given)
{
    for (;;) {
        int s;
        pid_t w = waitpid(-1, &s, 0);
        if (w == pid) {
            *st = s;
            return 0;
        }
        if (w > 0)
            forget(given, w);
        if (w < 0 && errno != EINTR)
            return -1;
    }
}

/* This process's running children but those in pre: their count, the
 * first cap of their pids into out. */
static unsigned children(const kids *pre, long *out, unsigned cap)
{
    long self = proc_self();
    DIR *d = self > 0 ? opendir("/proc") : NULL;
    struct dirent *e;
    unsigned n = 0;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[got] = 0;
        const char *rp = strrchr(buf, ')'); /* the name may hold anything */
        char state;
        long ppid, pid = strtol(e->d_name, NULL, 10);
        if (!rp || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2 || ppid != self ||
            state == 'Z')
            continue;
        bool old = false;
        for (unsigned k = 0; pre && k < pre->n && !old; k++)
            old = pre->pid[k] == pid;
        if (old)
            continue;
        if (n < cap)
            out[n] = pid;
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Reaps what ended among our children until none is left, only pre's
 * are, or `until` seconds since t0 (or an interrupt when stop_at_int).
 * Looks every 2 ms at first, then less often, up to every 50 ms (a wait
 * of a day woke 500 times a second); says once, past half a second, what
 * it waits for (when say: a program that leaves a daemon adds the whole
 * wait to every run). Whether children of the program's still run. */
static bool reap_until(kids *pre, const struct timespec *t0, double until,
                       bool stop_at_int, bool say)
{
    struct timespec nap = {0, 2000000};
    for (unsigned turn = 1;; turn++) {
        int st;
        pid_t w = waitpid(-1, &st, WNOHANG);
        if (w > 0)
            forget(pre, w);
        if (w > 0 || (w < 0 && errno == EINTR && !(stop_at_int && interrupted)))
            continue;
        if (w < 0 && errno != EINTR) /* ECHILD: none left */
            return false;
        double t = seconds_since(t0);
        if ((stop_at_int && interrupted) || t >= until)
            return true;
        if (pre->n && turn % 4 == 0 && !children(pre, NULL, 0))
            return false;
        if (say && t >= 0.5) {
            unsigned n = children(pre, NULL, 0);
            fprintf(stderr,
                    PROG ": waiting up to %g s more for %u process%s that the program "
                         "started (--wait-children; Ctrl-C ends the wait)\n",
                    round((until - t) * 10) / 10, n, n == 1 ? "" : "es");
            say = false;
        }
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 50000000)
            nap.tv_nsec = nap.tv_nsec * 2 < 50000000 ? nap.tv_nsec * 2 : 50000000;
    }
}

/* The processes the program started that outlive it: this process is
 * their subreaper (PR_SET_CHILD_SUBREAPER, set before the program runs),
 * so each becomes its child when its parent ends, and is waited for up to
 * o->wait_s seconds (or a Ctrl-C, unless SIGINT was ignored when quiver
 * started: a script's `quiver profile ... &`), its profile then joining
 * the report (a child that the program did not wait for, or a daemon's
 * double fork, wrote its profile after the report and was left out).
 * Those still running then are counted (o->left_running), named, and
 * left running. */
static void wait_descendants(pf_opts *o, kids *pre, bool int_ignored, bool quit_ignored)
{
    struct timespec t0;
    struct sigaction on = {.sa_handler = on_interrupt}, oint, oquit;
    sigemptyset(&on.sa_mask);
    interrupted = 0;
    if (!int_ignored)
        sigaction(SIGINT, &on, &oint);
    if (!quit_ignored)
        sigaction(SIGQUIT, &on, &oquit);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool running = reap_until(pre, &t0, o->wait_s, true, true);
    double waited = seconds_since(&t0);
    if (!int_ignored)
        sigaction(SIGINT, &oint, NULL);
    if (!quit_ignored)
        sigaction(SIGQUIT, &oquit, NULL);
    /* A Ctrl-C to the terminal's process group ends them too: those that
     * die of it are reaped first, not named (they were, half the time). */
    if (interrupted)
        running = reap_until(pre, &t0, waited + 0.2, false, false);
    long pid[8];
    unsigned n = children(pre, pid, 8);
    o->left_running = n;
    if (!n && running && proc_self() < 0)
        fprintf(stderr, PROG ": note: processes that the program started still run (no "
                             "/proc to name them): not in the report\n");
    /* --wait-children 0: not waiting was asked for; the report counts them. */
    if (!n || o->wait_s <= 0)
        return;
    char pids[128] = "";
    for (unsigned k = 0, used = 0; k < n && k < 8; k++)
        used += (unsigned)snprintf(pids + used, sizeof pids - used, "%s%ld",
                                   k ? ", " : "", pid[k]);
    /* As the namespace's init (a container's first process), our exit
     * ends them all. */
    fprintf(stderr,
            PROG
            ": note: %u process%s that the program started still run%s %g s after it "
            "ended%s (pid %s%s; and any they started): not in the report; %s "
            "(--wait-children S to wait longer, 0 not to wait for processes meant to "
            "outlive it)\n",
            n, n > 1 ? "es" : "", n > 1 ? "" : "s",
            interrupted ? round(waited * 100) / 100 : o->wait_s,
            interrupted ? ", at the interrupt" : "", pids, n > 8 ? ", ..." : "",
            proc_self() == 1 || getpid() == 1
                ? "they end with this process, the first of its pid namespace"
                : "each writes its profile into --out when it exits");
}

/* Runs o->argv with the library preloaded and waits for it, and for the
 * processes it started up to o->wait_s seconds more (wait_descendants);
 * *pid gets its process id, o->status its exit status (128 + signal). 0,
 * or 1 after printing why it could not run. */
static int run_program(pf_opts *o, const char *lib, long *pidout)
{
    char **argv = o->argv;
    const char *dir = o->out;
    char abs[PATH_MAX];
    if (!realpath(dir, abs)) {
        fprintf(stderr, PROG ": --out %s: %s\n", qv_cli_esc(dir), strerror(errno));
        return 1;
    }
    int pfd[2]; /* the child reports a failed exec through it */
    if (pipe(pfd) != 0) {
        fprintf(stderr, PROG ": %s\n", strerror(errno));
        return 1;
    }
    /* ld.so splits LD_PRELOAD at spaces and colons: a library whose path
     * has one (quiver installed under "/opt/my tools") was not preloaded,
     * and the program was blamed (adversarial testing). It goes through a
     * link in a directory of our own, whose path has neither. */
    char link_dir[] = "/tmp/quiver-preload.XXXXXX";
    char link_path[sizeof link_dir + sizeof "/libquiver-profile.so"] = "";
    if (strpbrk(lib, " :\t\n")) {
        if (!mkdtemp(link_dir)) {
            fprintf(stderr, PROG ": cannot make a directory in /tmp: %s\n", strerror(errno));
            close(pfd[0]);
            close(pfd[1]);
            return 1;
        }
        snprintf(link_path, sizeof link_path, "%s/libquiver-profile.so", link_dir);
        if (symlink(lib, link_path) != 0) {
            fprintf(stderr, PROG ": cannot link %s: %s\n", link_path, strerror(errno));
            rmdir(link_dir);
            close(pfd[0]);
            close(pfd[1]);
            return 1;
        }
        lib = link_path;
    }
    fflush(NULL);
    struct sigaction ign = {.sa_handler = SIG_IGN}, dfl = {.sa_handler = SIG_DFL}, oint,
                     oquit, ochld;
    sigemptyset(&ign.sa_mask);
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGINT, &ign, &oint); /* Ctrl-C ends the program, not the report */
    sigaction(SIGQUIT, &ign, &oquit);
    /* Children are waited for: with SIGCHLD ignored (inherited so from a
     * launcher) the kernel reaps them itself, and waitpid finds none. */
    sigaction(SIGCHLD, &dfl, &ochld);
    kids given = {NULL, children(NULL, NULL, 0)}; /* quiver's, before the program */
    if (given.n && !(given.pid = malloc(given.n * sizeof *given.pid)))
        given.n = 0;
    if (given.n) {
        unsigned now = children(NULL, given.pid, given.n);
        given.n = now < given.n ? now : given.n;
    }
    /* The program's orphans: ours (not inherited by it). */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        fprintf(stderr,
                PROG ": note: the processes the program starts and leaves running "
                     "are not waited for: %s\n",
                strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, PROG ": cannot fork: %s\n", strerror(errno));
        free(given.pid);
        if (link_path[0]) {
            unlink(link_path);
            rmdir(link_dir);
        }
        return 1;
    }
    if (pid == 0) {
        sigaction(SIGINT, &oint, NULL);
        sigaction(SIGQUIT, &oquit, NULL);
        sigaction(SIGCHLD, &ochld, NULL); /* the program's own, as it was given */
        close(pfd[0]);
        fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
        const char *old = getenv("LD_PRELOAD");
        size_t n = strlen(lib) + (old ? strlen(old) : 0) + 2;
        char *pre = malloc(n);
        if (pre) {
            snprintf(pre, n, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
            setenv("LD_PRELOAD", pre, 1);
        }
        setenv("QV_PROFILE_DIR", abs, 1);
        if (o->json)
            dup2(2, 1);
        execvp(argv[0], argv);
        int e = errno;
        if (write(pfd[1], &e, sizeof e) < 0)
            _exit(127);
        _exit(127);
    }
    close(pfd[1]);
    int e = 0;
    ssize_t got;
    while ((got = read(pfd[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(pfd[0]);
    int st = 0, lost = reap(pid, &st, &given); /* and the orphans meanwhile */
    if (!lost && got != (ssize_t)sizeof e)
        wait_descendants(o, &given, oint.sa_handler == SIG_IGN,
                         oquit.sa_handler == SIG_IGN);
    free(given.pid);
    sigaction(SIGINT, &oint, NULL);
    sigaction(SIGQUIT, &oquit, NULL);
    sigaction(SIGCHLD, &ochld, NULL);
    if (link_path[0]) {
        unlink(link_path);
        rmdir(link_dir);
    }
    char esc[512];
    if (got == (ssize_t)sizeof e) {
        struct stat ds;
        /* (a name without a slash is looked up on PATH: not this one) */
        bool is_dir = e == EACCES && strchr(argv[0], '/') && stat(argv[0], &ds) == 0 &&
                      S_ISDIR(ds.st_mode);
        fprintf(stderr, PROG ": cannot run %s: %s\n",
                qv__escape(argv[0], esc, sizeof esc),
                is_dir ? "it is a directory" : strerror(e));
        return 1;
    }
    if (lost) {
        fprintf(stderr, PROG ": lost the exit status of %s: %s\n",
                qv__escape(argv[0], esc, sizeof esc), strerror(errno));
        return 1;
    }
    *pidout = (long)pid;
    o->signaled = WIFSIGNALED(st);
    o->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

/* ---- merging the raw profiles ------------------------------------------ */

typedef struct symcache {
    char *path;
    qv__elf_syms *syms; /* NULL: unreadable */
    bool st_ok;         /* the file's stat when it was read: */
    uint64_t dev, ino, size, mtime_ns;
} symcache;

typedef struct merge {
    pf_prof *p;
    symcache *sc;
    size_t nsc;
    /* (module index in p->modules, offset) of each function */
    uint32_t *fmod;
    uint64_t *foff;
    size_t fcap, acap; /* of funcs (with fmod, foff) and of arcs */
    /* Tables (qv_itab.h): a program with 20 000 instrumented functions
     * took minutes to merge with linear lookups. */
    qv__itab by_addr, by_arc, by_name; /* functions, arcs, first function of a name */
    /* p->modules by path and whether the file there changed since the run
     * (mstale), sc by path: 60 000 modules took 24 s with linear lookups */
    qv__itab by_module, by_path;
    bool *mstale;
    size_t mcap, sccap; /* of p->modules (with mstale) and sc */
    uint32_t *rmod;     /* the profile being read's modules: p->modules index + 1 */
    double probe_in, probe_pair; /* of the last profile read */
} merge;

/* The keys of by_addr and by_arc; the table mixes them with its seed
 * (qv__itab_find), so they are not mixed here too. */
static uint64_t addr_hash(uint64_t mod, uint64_t off)
{
    return (mod << 48) ^ off ^ (off >> 48);
}

static uint64_t addr_key(const void *ctx, size_t i)
{
    const merge *m = ctx;
    return addr_hash(m->fmod[i], m->foff[i]);
}

static uint64_t arc_key(const pf_arc *a)
{
    return (uint64_t)a->caller << 32 | a->callee;
}

static uint64_t arc_key_at(const void *ctx, size_t i)
{
    const merge *m = ctx;
    return arc_key(&m->p->arcs[i]);
}

static uint64_t name_key_at(const void *ctx, size_t i)
{
    const merge *m = ctx;
    return qv__fnv1a(m->p->funcs[i].name, strlen(m->p->funcs[i].name));
}

static uint64_t module_key(const char *path, bool stale)
{
    return qv__fnv1a(path, strlen(path)) ^ (stale ? 0x9e3779b97f4a7c15ull : 0);
}

static uint64_t module_key_at(const void *ctx, size_t i)
{
    const merge *m = ctx;
    return module_key(m->p->modules[i], m->mstale[i]);
}

static uint64_t path_key_at(const void *ctx, size_t i)
{
    const merge *m = ctx;
    return qv__fnv1a(m->sc[i].path, strlen(m->sc[i].path));
}

/* Room in t for one more index, key its hash (qv__itab_room). */
static void room_in(qv__itab *t, const merge *m, uint64_t (*key)(const void *, size_t))
{
    if (qv__itab_room(t, key, m)) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
}

/* Lookups: the key sought, as the tables' comparisons see it. */
typedef struct seek {
    const merge *m;
    uint32_t mod, caller, callee;
    uint64_t off;
    const char *name;
    bool stale;
} seek;

static bool same_addr(const void *ctx, size_t i)
{
    const seek *k = ctx;
    return k->m->fmod[i] == k->mod && k->m->foff[i] == k->off;
}

static bool same_arc(const void *ctx, size_t i)
{
    const seek *k = ctx;
    const pf_arc *a = &k->m->p->arcs[i];
    return a->caller == k->caller && a->callee == k->callee;
}

static bool same_name(const void *ctx, size_t i)
{
    const seek *k = ctx;
    return !strcmp(k->m->p->funcs[i].name, k->name);
}

static bool same_module(const void *ctx, size_t i)
{
    const seek *k = ctx;
    return k->m->mstale[i] == k->stale && !strcmp(k->m->p->modules[i], k->name);
}

static bool same_path(const void *ctx, size_t i)
{
    const seek *k = ctx;
    return !strcmp(k->m->sc[i].path, k->name);
}

/* Room for one more item in an array of *cap items of size sz (doubled). */
static void *room(void *arr, size_t n, size_t *cap, size_t sz)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? *cap * 2 : 256;
    return xrealloc(arr, *cap * sz);
}

/* The index in p->modules of path; stale: as a file that changed since
 * the run, a module of its own (its offsets are not the file's now). */
static size_t module_index(merge *m, const char *path, bool stale)
{
    pf_prof *p = m->p;
    room_in(&m->by_module, m, module_key_at);
    seek k = {.m = m, .name = path, .stale = stale};
    size_t h = qv__itab_find(&m->by_module, module_key(path, stale), same_module, &k);
    if (m->by_module.slot[h])
        return m->by_module.slot[h] - 1u;
    size_t cap = m->mcap;
    p->modules = room(p->modules, p->nmodules, &cap, sizeof *p->modules);
    cap = m->mcap;
    m->mstale = room(m->mstale, p->nmodules, &cap, sizeof *m->mstale);
    m->mcap = cap;
    m->mstale[p->nmodules] = stale;
    p->modules[p->nmodules] = xstrdup(path);
    m->by_module.slot[h] = (uint32_t)p->nmodules + 1u;
    m->by_module.n++;
    return p->nmodules++;
}

/* The symbols of the file at path, read once, and its stat then. */
static const symcache *syms_of(merge *m, const char *path)
{
    room_in(&m->by_path, m, path_key_at);
    seek k = {.m = m, .name = path};
    size_t h = qv__itab_find(&m->by_path, qv__fnv1a(path, strlen(path)), same_path, &k);
    if (m->by_path.slot[h])
        return &m->sc[m->by_path.slot[h] - 1u];
    m->sc = room(m->sc, m->nsc, &m->sccap, sizeof *m->sc);
    m->by_path.slot[h] = (uint32_t)m->nsc + 1u;
    m->by_path.n++;
    symcache *c = &m->sc[m->nsc++];
    memset(c, 0, sizeof *c);
    c->path = xstrdup(path);
    qv_diag d = {0};
    if (path[0] != '/') {
        /* Relative to a directory the process was in, not ours: another
         * file of that name here would name the functions wrongly. The
         * library writes absolute paths; an older one may not have. */
        fprintf(stderr,
                PROG ": warning: cannot name functions of %s: not an absolute path (the "
                     "raw profile does not say where the process found it)\n",
                path);
    } else if (qv__elf_syms_load(path, &c->syms, &d)) {
        char buf[2200];
        qv_diag_format(&d, buf, sizeof buf);
        fprintf(stderr, PROG ": warning: cannot name functions of %s\n", buf);
    } else if (c->syms->st_ok) {
        /* The identity of the file read, not a stat of the path before
         * it: a file replaced between the two passed the check and was
         * named from (review). */
        c->st_ok = true;
        c->dev = c->syms->dev;
        c->ino = c->syms->ino;
        c->size = c->syms->size;
        c->mtime_ns = c->syms->mtime_ns;
    }
    return c;
}

static void hex(const uint8_t *b, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = 0;
}

/* Why the file now at rm's path is not the one that ran, as rm's
 * identity (its build-id, else its stat) says, into why (n bytes); ""
 * when it is, when the profile does not say (an older library's), or
 * when the file cannot be read (said, and named from nothing anyway). */
static void changed(const qv__prof_module *rm, const symcache *c, char *why, size_t n)
{
    why[0] = 0;
    if (rm->build_id_len) {
        const qv__elf_syms *s = c->syms;
        if (!s || (s->build_id_len == rm->build_id_len &&
                   !memcmp(s->build_id, rm->build_id, rm->build_id_len)))
            return;
        char was[2 * QV__PROF_BUILD_ID_MAX + 1], is[2 * QV__BUILD_ID_MAX + 1];
        hex(rm->build_id, rm->build_id_len, was);
        hex(s->build_id, s->build_id_len, is);
        snprintf(why, n, "its build-id was %s, %s%s now", was,
                 s->build_id_len ? "is " : "", s->build_id_len ? is : "it has none");
    } else if (rm->has_file && c->st_ok) {
        if (c->dev != rm->dev || c->ino != rm->ino)
            snprintf(why, n,
                     "another file is there: device %llu inode %llu at the run, "
                     "device %llu inode %llu now",
                     (unsigned long long)rm->dev, (unsigned long long)rm->ino,
                     (unsigned long long)c->dev, (unsigned long long)c->ino);
        else if (c->size != rm->size)
            snprintf(why, n, "its size was %llu bytes at the run, is %llu now",
                     (unsigned long long)rm->size, (unsigned long long)c->size);
        else if (c->mtime_ns != rm->mtime_ns) /* a rebuild of one size, or a touch */
            snprintf(
                why, n,
                "only its mtime differs, %llu.%09llu s at the run, %llu.%09llu now: a "
                "rebuild of the same size, or a touch or copy of the same file",
                (unsigned long long)(rm->mtime_ns / 1000000000u),
                (unsigned long long)(rm->mtime_ns % 1000000000u),
                (unsigned long long)(c->mtime_ns / 1000000000u),
                (unsigned long long)(c->mtime_ns % 1000000000u));
    }
}

/* The index in p->modules of module rm of the profile being read: the
 * file at its path is checked against the identity the profile recorded,
 * and one that changed since the run (a rebuild while the program ran or
 * before the report) is a module of its own, its functions not named from
 * that file, said once. */
static size_t raw_module(merge *m, const qv__prof_module *rm)
{
    char why[600] = "";
    const symcache *c = syms_of(m, rm->path);
    if (rm->build_id_len || rm->has_file)
        changed(rm, c, why, sizeof why);
    size_t n0 = m->p->nmodules, mi = module_index(m, rm->path, why[0] != 0);
    if (!why[0] && mi == n0 && c->syms && !c->syms->has_symtab) {
        /* Said of the file its functions are named from: not of one that
         * changed since the run, whose are not (review). */
        pf_prof *p = m->p;
        p->stripped = xrealloc(p->stripped, (p->nstripped + 1) * sizeof *p->stripped);
        p->stripped[p->nstripped++] = p->modules[mi];
    }
    if (why[0] && mi == n0) {
        const char *base = strrchr(rm->path, '/');
        char e1[1024], e2[512];
        fprintf(stderr,
                PROG ": warning: %s %s since the run (%s): its functions are not named "
                     "from it (shown as %s+0xOFFSET)\n",
                qv__escape(rm->path, e1, sizeof e1),
                strncmp(why, "only its mtime", 14) ? "changed" : "may have changed", why,
                qv__escape(base ? base + 1 : rm->path, e2, sizeof e2));
    }
    return mi;
}

/* The function at a raw address, added when new. */
static uint32_t func_of(merge *m, const qv__prof_raw *r, qv__prof_addr a)
{
    pf_prof *p = m->p;
    size_t mi;
    const qv__prof_module *rm = a.module >= 0 ? qv__prof_raw_find(r, a.module) : NULL;
    if (rm) { /* declared: the reader refuses an address of another module */
        size_t ri = (size_t)(rm - r->modules);
        if (!m->rmod[ri])
            m->rmod[ri] = (uint32_t)raw_module(m, rm) + 1u;
        mi = m->rmod[ri] - 1u;
    } else {
        mi = module_index(m, "?", false);
    }
    const char *path = p->modules[mi];
    room_in(&m->by_addr, m, addr_key);
    seek k = { .m = m, .mod = (uint32_t)mi, .off = a.off };
    size_t h = qv__itab_find(&m->by_addr, addr_hash(mi, a.off), same_addr, &k);
    if (m->by_addr.slot[h])
        return m->by_addr.slot[h] - 1u;
    size_t cap = m->fcap;
    p->funcs = room(p->funcs, p->nfuncs, &cap, sizeof *p->funcs);
    cap = m->fcap;
    m->fmod = room(m->fmod, p->nfuncs, &cap, sizeof *m->fmod);
    cap = m->fcap;
    m->foff = room(m->foff, p->nfuncs, &cap, sizeof *m->foff);
    m->fcap = cap;
    m->by_addr.slot[h] = (uint32_t)p->nfuncs + 1u;
    m->by_addr.n++;
    pf_func *f = &p->funcs[p->nfuncs];
    memset(f, 0, sizeof *f);
    m->fmod[p->nfuncs] = (uint32_t)mi;
    m->foff[p->nfuncs] = a.off;
    f->module = p->modules[mi];
    const qv__elf_syms *s =
        a.module >= 0 && !m->mstale[mi] ? syms_of(m, path)->syms : NULL;
    const qv__elf_sym *y = qv__elf_syms_find(s, a.off);
    char buf[PATH_MAX + 64];
    if (y) {
        f->name = xstrdup(y->name);
        f->named = 1;
    } else {
        const char *base = strrchr(path, '/');
        snprintf(buf, sizeof buf, "%s+%#llx", base ? base + 1 : path, (unsigned long long)a.off);
        f->name = xstrdup(buf);
    }
    uint32_t idx = (uint32_t)p->nfuncs++;
    /* By name, the first function of each (notes name functions). */
    room_in(&m->by_name, m, name_key_at);
    seek kn = { .m = m, .name = f->name };
    size_t hn =
        qv__itab_find(&m->by_name, qv__fnv1a(f->name, strlen(f->name)), same_name, &kn);
    if (!m->by_name.slot[hn]) {
        m->by_name.slot[hn] = idx + 1u;
        m->by_name.n++;
    }
    return idx;
}

static double pos(double x)
{
    return x > 0 ? x : 0;
}

/* Counters summed over processes: each file's are checked, not their sum;
 * held at the top rather than wrapped to small numbers. */
static void sat_add(uint64_t *a, uint64_t b)
{
    *a = *a > UINT64_MAX - b ? UINT64_MAX : *a + b;
}

/* f's value set noted as nt notes it, added (count 0) when f has none
 * such yet. */
static pf_sizes *set_of(pf_func *f, const qv__prof_note *nt)
{
    for (size_t j = 0; j < f->nsets; j++) {
        pf_sizes *s = &f->sets[j];
        bool same = s->n == nt->n;
        for (unsigned k = 0; same && k < nt->n; k++)
            same = !strcmp(s->names[k], nt->names[k]) && s->values[k] == nt->values[k];
        if (same)
            return s;
    }
    if (!(f->nsets & (f->nsets - 1))) /* 0, 1, 2, 4, ...: full */
        f->sets = xrealloc(f->sets, (f->nsets ? 2 * f->nsets : 1) * sizeof *f->sets);
    pf_sizes *s = &f->sets[f->nsets++];
    memset(s, 0, sizeof *s);
    s->n = nt->n;
    for (unsigned k = 0; k < nt->n; k++) {
        s->names[k] = xstrdup(nt->names[k]);
        s->values[k] = nt->values[k];
    }
    f->notes.kinds = (unsigned)f->nsets;
    return s;
}

static void add_raw(merge *m, const qv__prof_raw *r, int main_proc)
{
    pf_prof *p = m->p;
    /* A process that ran no instrumented code (a shell between quiver and
     * the program) adds nothing, not even its time. */
    if (r->narcs) {
        p->processes++;
        p->threads += (unsigned)r->nthreads;
        p->wall_ns += (double)r->wall_ns;
    }
    if (main_proc) {
        p->main_wall_ns = (double)r->wall_ns;
        p->probe_in_ns = r->probe_in_ns;
        p->probe_pair_ns = r->probe_pair_ns;
    }
    for (size_t i = 0; i < r->nthreads; i++) {
        sat_add(&p->open_at_exit, r->threads[i].open_at_exit);
        sat_add(&p->unpaired, r->threads[i].unpaired);
        sat_add(&p->skipped, r->threads[i].skipped);
        sat_add(&p->dropped, r->threads[i].dropped);
    }
    sat_add(&p->notes_dropped, r->notes_dropped);
    m->rmod = xrealloc(NULL, r->nmodules * sizeof *m->rmod);
    memset(m->rmod, 0, r->nmodules * sizeof *m->rmod);
    double in = r->probe_in_ns, pair = r->probe_pair_ns;
    m->probe_in = in;
    m->probe_pair = pair;
    for (size_t i = 0; i < r->nfns; i++) {
        const qv__prof_fn *f = &r->fns[i];
        uint32_t k = func_of(m, r, f->fn);
        sat_add(&p->funcs[k].outer, f->outer);
        p->funcs[k].incl_ns += pos(f->incl_ns - (double)f->outer * in - (double)f->desc * pair);
    }
    for (size_t i = 0; i < r->narcs; i++) {
        const qv__prof_arc *a = &r->arcs[i];
        uint32_t callee = func_of(m, r, a->callee);
        uint32_t caller = a->caller.module == QV__PROF_ROOT ? UINT32_MAX
                                                            : func_of(m, r, a->caller);
        pf_func *f = &p->funcs[callee];
        sat_add(&f->calls, a->calls);
        f->self_ns += pos(a->self_ns - (double)a->calls * in - (double)a->children * pair);
        room_in(&m->by_arc, m, arc_key_at);
        seek k = { .m = m, .caller = caller, .callee = callee };
        pf_arc want = { .caller = caller, .callee = callee };
        size_t h = qv__itab_find(&m->by_arc, arc_key(&want), same_arc, &k);
        size_t j = m->by_arc.slot[h] ? m->by_arc.slot[h] - 1u : p->narcs;
        if (j == p->narcs) {
            p->arcs = room(p->arcs, p->narcs, &m->acap, sizeof *p->arcs);
            p->arcs[j] = want;
            p->narcs++;
            m->by_arc.slot[h] = (uint32_t)j + 1u;
            m->by_arc.n++;
        }
        sat_add(&p->arcs[j].calls, a->calls);
        p->arcs[j].incl_ns += pos(a->incl_ns - (double)a->calls * in - (double)a->desc * pair);
    }
    /* Notes: per function every value set, with its calls (threads and
     * processes that noted one set added), and the one noted most often. */
    for (size_t i = 0; i < r->nnotes; i++) {
        const qv__prof_note *nt = &r->notes[i];
        if (!m->by_name.cap)
            continue; /* no function at all */
        seek want = { .m = m, .name = nt->fn };
        size_t h = qv__itab_find(&m->by_name, qv__fnv1a(nt->fn, strlen(nt->fn)),
                                 same_name, &want);
        if (!m->by_name.slot[h]) /* a wrapped function that is not instrumented */
            continue;
        pf_func *f = &p->funcs[m->by_name.slot[h] - 1u];
        sat_add(&f->notes.total, nt->count);
        pf_sizes *set = set_of(f, nt);
        sat_add(&set->count, nt->count);
        if (set->count <= f->notes.count)
            continue;
        for (unsigned k = 0; k < f->notes.n; k++)
            free(f->notes.names[k]);
        f->notes.n = set->n;
        f->notes.count = set->count;
        for (unsigned k = 0; k < set->n; k++) {
            f->notes.names[k] = xstrdup(set->names[k]);
            f->notes.values[k] = set->values[k];
        }
    }
    free(m->rmod);
    m->rmod = NULL;
}

/* PATH lookup as execvp does, for the message about an uninstrumented
 * program. */
static int program_path(const char *prog, char *out, size_t size)
{
    if (strchr(prog, '/')) {
        snprintf(out, size, "%s", prog);
        return access(out, R_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *c = strchr(path, ':');
        size_t n = c ? (size_t)(c - path) : strlen(path);
        snprintf(out, size, "%.*s/%s", (int)n, n ? path : ".", prog);
        if (access(out, X_OK) == 0)
            return 0;
        path = c ? c + 1 : NULL;
    }
    return -1;
}

static int by_incl(const void *a, const void *b)
{
    const pf_func *x = a, *y = b;
    if (x->incl_ns != y->incl_ns)
        return x->incl_ns > y->incl_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Reads every raw profile of dir into p. 0, or 1 after printing why. */
static int collect(const char *dir, long main_pid, const pf_opts *o, pf_prof *p)
{
    merge m = { .p = p };
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, PROG ": cannot read %s: %s\n", qv_cli_esc(dir), strerror(errno));
        return 1;
    }
    int ret = 0, have_main = 0;
    struct dirent *e;
    char esc[1024];
    while ((e = readdir(d)) && !ret) {
        if (!raw_name(e->d_name, false))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        qv__prof_raw *r;
        qv_diag dg = { 0 };
        int rc = qv__prof_raw_load(path, &r, &dg);
        if (rc) {
            qv_cli_diag(PROG, path, rc, &dg);
            ret = 1;
            break;
        }
        have_main |= r->pid == main_pid;
        add_raw(&m, r, r->pid == main_pid);
        qv__prof_raw_free(r);
    }
    closedir(d);
    if (!ret && !have_main && p->narcs) {
        /* A shell or launcher that ends with _exit: its children's profiles
         * are the program's. */
        qv__escape(o->argv[0], esc, sizeof esc);
        char why[64] = "it ended with _exit or exec, or was not instrumented";
        if (o->signaled)
            snprintf(why, sizeof why, "it was killed by signal %d", o->status - 128);
        fprintf(stderr,
                PROG ": note: %s wrote no profile of its own (%s); the report covers the "
                     "processes it started\n",
                esc, why);
        p->main_wall_ns = p->wall_ns;
        p->probe_in_ns = m.probe_in;
        p->probe_pair_ns = m.probe_pair;
    } else if (!ret && !have_main) {
        qv__escape(o->argv[0], esc, sizeof esc);
        if (o->signaled)
            fprintf(stderr, PROG ": %s was killed by signal %d before it wrote its profile\n",
                    esc, o->status - 128);
        else
            fprintf(stderr,
                    PROG
                    ": %s wrote no profile: it did not load libquiver-profile.so (a "
                    "statically linked program, or one that clears LD_PRELOAD), it "
                    "ended without exit (_exit, exec), or the library could not write "
                    "the profile at its exit (its message above: no file descriptor "
                    "left, a full disk)\n",
                    esc);
        ret = 1;
    }
    if (!ret && !p->narcs) {
        char path[PATH_MAX];
        qv__elf_syms *s = NULL;
        qv_diag dg = { 0 };
        int known = program_path(o->argv[0], path, sizeof path) == 0 &&
                    qv__elf_syms_load(path, &s, &dg) == 0;
        qv__escape(o->argv[0], esc, sizeof esc);
        if (known && s->cyg_ref) /* instrumented: its calls went unwritten */
            fprintf(stderr,
                    PROG
                    ": %s recorded no calls, though it is built with "
                    "-finstrument-functions: its processes ended without writing "
                    "them (an exec or _exit before exit, a crash), or made no call of "
                    "their instrumented functions\n",
                    esc);
        else
            fprintf(
                stderr,
                PROG ": %s recorded no calls: it is not built with "
                     "-finstrument-functions%s; rebuild it with -finstrument-functions "
                     "(gcc or clang) and profile it again\n",
                esc, known ? " (it has no reference to __cyg_profile_func_enter)" : "");
        qv__elf_syms_free(s);
        ret = 1;
    }
    for (size_t i = 0; i < m.nsc; i++) {
        free(m.sc[i].path);
        qv__elf_syms_free(m.sc[i].syms);
    }
    free(m.sc);
    free(m.fmod);
    free(m.foff);
    free(m.by_addr.slot);
    free(m.by_arc.slot);
    free(m.by_name.slot);
    free(m.by_module.slot);
    free(m.mstale);
    free(m.by_path.slot);
    if (ret)
        return ret;
    for (size_t i = 0; i < p->nfuncs; i++) {
        pf_func *f = &p->funcs[i];
        double per = f->outer ? f->incl_ns / (double)f->outer : 0;
        f->too_short = per < 10 * p->probe_pair_ns;
        /* Every activation lies within an outermost one: self time cannot
         * exceed inclusive time but for the probe correction's rounding
         * on calls too short to measure. */
        if (f->self_ns > f->incl_ns)
            f->self_ns = f->incl_ns;
    }
    /* Sort by inclusive time; arcs follow their functions' new places
     * (each function's old index rides along in order). */
    uint32_t *rank = xrealloc(NULL, (p->nfuncs ? p->nfuncs : 1) * sizeof *rank);
    for (size_t i = 0; i < p->nfuncs; i++)
        p->funcs[i].order = (uint32_t)i;
    qsort(p->funcs, p->nfuncs, sizeof *p->funcs, by_incl);
    for (size_t k = 0; k < p->nfuncs; k++)
        rank[p->funcs[k].order] = (uint32_t)k;
    for (size_t j = 0; j < p->narcs; j++) {
        p->arcs[j].callee = rank[p->arcs[j].callee];
        if (p->arcs[j].caller != UINT32_MAX)
            p->arcs[j].caller = rank[p->arcs[j].caller];
    }
    free(rank);
    return 0;
}

static void prof_free(pf_prof *p)
{
    for (size_t i = 0; i < p->nfuncs; i++) {
        free(p->funcs[i].name);
        for (unsigned k = 0; k < p->funcs[i].notes.n; k++)
            free(p->funcs[i].notes.names[k]);
        for (size_t j = 0; j < p->funcs[i].nsets; j++)
            for (unsigned k = 0; k < p->funcs[i].sets[j].n; k++)
                free(p->funcs[i].sets[j].names[k]);
        free(p->funcs[i].sets);
    }
    for (size_t i = 0; i < p->nmodules; i++)
        free(p->modules[i]);
    free(p->funcs);
    free(p->arcs);
    free(p->modules);
    free(p->stripped);
}

/* NAME=VALUE into s; 0 or -1. */
static int parse_size(const char *arg, pf_sizes *s)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || eq - arg > 63 || s->n == PF_SCALARS)
        return -1;
    for (const char *c = arg; c < eq; c++)
        if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (c > arg && *c >= '0' && *c <= '9')))
            return -1;
    /* Decimal, as every other number the tool reads ("010" was 8). */
    char *end;
    errno = 0;
    long long v = strtoll(eq + 1, &end, 10);
    if (errno || end == eq + 1 || *end || v < 1 || !isdigit((unsigned char)eq[1]))
        return -1;
    for (unsigned i = 0; i < s->n; i++) /* the last one won, silently */
        if (strlen(s->names[i]) == (size_t)(eq - arg) &&
            !strncmp(s->names[i], arg, (size_t)(eq - arg)))
            return -2;
    s->names[s->n] = strndup(arg, (size_t)(eq - arg));
    if (!s->names[s->n])
        return -1;
    s->values[s->n++] = v;
    return 0;
}

/* The catalog and the boards directory, checked before the program runs
 * (a long run is not wasted on a typo); the report reads them again. 0, or
 * 1 after printing why. */
static int check_inputs(const pf_opts *o)
{
    if (o->boards) {
        DIR *d = opendir(o->boards);
        if (!d) {
            fprintf(stderr, PROG ": --boards %s: %s\n", qv_cli_esc(o->boards),
                    strerror(errno));
            return 1;
        }
        closedir(d);
    }
    if (o->catalog) {
        qv_catalog *c;
        qv_diag d = { 0 };
        int rc = qv_catalog_load(o->catalog, &c, &d);
        if (rc) {
            qv_cli_diag(PROG, o->catalog, rc, &d);
            return 1;
        }
        qv_catalog_destroy(c);
    }
    return 0;
}

int qv_cmd_profile(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"out", required_argument, NULL, 'o'},
        {"catalog", required_argument, NULL, 'c'},
        {"boards", required_argument, NULL, 'b'},
        {"size", required_argument, NULL, 's'},
        {"top", required_argument, NULL, 't'},
        {"wait-children", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pf_opts o = {.out = "quiver-profile", .top = 15, .wait_s = 5};
    int c, rc, ret = QV_CLI_USAGE;
    while ((c = qv_cli_getopt(argc, argv, PROG, "o:h", longopts)) != -1) {
        switch (c) {
        case 'j': o.json = 1; break;
        case 'o': o.out = optarg; break;
        case 'c': o.catalog = optarg; break;
        case 'b': o.boards = optarg; break;
        case 's':
            if ((rc = parse_size(optarg, &o.size)) != 0) {
                char e[512];
                if (rc == -2)
                    fprintf(stderr, PROG ": --size %s: that name has a --size already\n",
                            qv__escape(optarg, e, sizeof e));
                else
                    fprintf(stderr, PROG ": --size %s: expected NAME=VALUE with VALUE >= 1 "
                                         "(n=4096), at most %d\n",
                            qv__escape(optarg, e, sizeof e), PF_SCALARS);
                goto out;
            }
            break;
        case 't': {
            unsigned long v;
            if (!qv__parse_dec(optarg, 100000, &v) || v < 1) { /* strtol took ' 5' */
                fprintf(stderr, PROG ": --top %s: expected a number from 1 to 100000\n",
                        qv_cli_esc(optarg));
                goto out;
            }
            o.top = (unsigned)v;
            break;
        }
        case 'w': {
            double v = -1;
            int bad = qv__parse_real(optarg, &v); /* strtod took ' 5' and hex */
            if (bad || !(v >= 0 && v <= 86400)) {
                fprintf(stderr,
                        PROG ": --wait-children %s: %s; expected seconds from 0 "
                             "to 86400\n",
                        qv_cli_esc(optarg), bad ? qv__real_why(bad) : "out of range");
                goto out;
            }
            o.wait_s = v;
            break;
        }
        case 'h': usage(stdout); ret = 0; goto out;
        default: goto out;
        }
    }
    if (optind >= argc || !argv[optind][0]) { /* '' names no program either */
        fprintf(stderr,
                PROG ": %s; usage: quiver profile [OPTIONS] -- PROGRAM "
                     "[ARGS...]\nTry 'quiver profile --help'.\n",
                optind >= argc ? "no program to run" : "an empty program name");
        goto out;
    }
    o.argv = argv + optind;
    char lib[PATH_MAX];
    ret = 1;
    if (find_lib(lib, sizeof lib) || check_inputs(&o) || prepare_out(o.out))
        goto out;
    long pid;
    if (run_program(&o, lib, &pid))
        goto out;
    pf_prof p = { 0 };
    if (collect(o.out, pid, &o, &p) == 0 && qv__profile_report(&o, &p) == 0)
        ret = o.status;
    prof_free(&p);
out:
    for (unsigned k = 0; k < o.size.n; k++)
        free(o.size.names[k]);
    return ret;
}
