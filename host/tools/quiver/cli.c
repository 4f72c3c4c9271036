/*
 * cli.c - what every subcommand of the quiver tool shares: option parsing
 * with GNU long options and one style of usage error, and output paths where
 * "-" is standard output (commands.h lists the conventions).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "qv_escape.h"
#include "quiver/config.h"

const char *qv_cli_esc(const char *s)
{
    return qv__escape_tmp(s);
}

int qv_cli_unexpected(const char *prog, const char *arg)
{
    fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n", prog,
            qv_cli_esc(arg), prog);
    return QV_CLI_USAGE;
}

/* The long options that `--name` (cut at '=') names: the one spelt so, or
 * every one it abbreviates. Their count; the first in *first. */
static int long_matches(const struct option *longopts, const char *name, size_t len,
                        const struct option **first)
{
    int n = 0;
    *first = NULL;
    for (const struct option *l = longopts; l && l->name; l++) {
        if (strncmp(l->name, name, len) != 0)
            continue;
        if (strlen(l->name) == len) { /* spelt out */
            *first = l;
            return 1;
        }
        if (!n++)
            *first = l;
    }
    return n;
}

/* getopt_long's own messages, with opterr off: they printed what was
 * typed as it was, and a terminal took an option's escape sequences as
 * its own. cur is the argument getopt_long was reading. */
static void bad_option(const char *prog, const char *cur, const char *shortopts,
                       const struct option *longopts)
{
    if (cur && cur[0] == '-' && cur[1] == '-') {
        const char *name = cur + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct option *l;
        int n = long_matches(longopts, name, len, &l);
        /* getopt_long found it when optopt is set (to its val, never 0 in
         * our tables): then its value is what is wrong. */
        if (n && optopt) {
            for (const struct option *o = longopts; o->name; o++)
                if (o->val == optopt && !strncmp(o->name, name, len)) {
                    l = o;
                    break;
                }
            fprintf(stderr, "%s: option '--%s' %s\n", prog, l->name,
                    eq ? "doesn't allow an argument" : "requires an argument");
        } else if (n > 1) {
            char typed[256];
            snprintf(typed, sizeof typed, "%.*s", (int)len, name);
            fprintf(stderr, "%s: option '--%s' is ambiguous; possibilities:", prog,
                    qv_cli_esc(typed));
            for (const struct option *o = longopts; o->name; o++)
                if (!strncmp(o->name, name, len))
                    fprintf(stderr, " '--%s'", o->name);
            fputc('\n', stderr);
        } else {
            fprintf(stderr, "%s: unrecognized option '%s'\n", prog, qv_cli_esc(cur));
        }
    } else {
        char c[2] = {(char)optopt, 0};
        const char *in = optopt > 0 && optopt != ':' ? strchr(shortopts, optopt) : NULL;
        if (in)
            fprintf(stderr, "%s: option requires an argument -- '%s'\n", prog,
                    qv_cli_esc(c));
        else
            fprintf(stderr, "%s: invalid option -- '%s'\n", prog, qv_cli_esc(c));
    }
    fprintf(stderr, "Try '%s --help'.\n", prog);
}

int qv_cli_getopt(int argc, char **argv, const char *prog, const char *shortopts,
                  const struct option *longopts)
{
    static char **seen;
    static int nops; /* operands met so far, kept in argv[1..nops] */
    char opts[64];
    if (argv != seen) {
        seen = argv;
        nops = 0;
        optind = 0; /* start over */
        opterr = 0; /* bad_option says what is wrong, escaped */
        argv[0] = (char *)prog;
    }
    /* A leading '-' makes getopt_long hand back each operand in turn (as
     * option 1) instead of permuting or, under POSIXLY_CORRECT, stopping at
     * the first one: options and operands mix in any order whatever the
     * environment says. The operands are kept in the slots getopt_long has
     * already read and moved to the end when the options are done. */
    snprintf(opts, sizeof opts, "-%s", shortopts);
    for (;;) {
        int idx = -1;
        int at = optind ? optind : 1; /* the argument read now, for bad_option */
        const char *cur = at < argc ? argv[at] : NULL;
        int c = getopt_long(argc, argv, opts, longopts, &idx);
        if (c == 1) {
            argv[1 + nops++] = optarg; /* 1 + nops < optind: a slot already read */
            continue;
        }
        if (c == -1) {
            /* argv[optind..] holds what follows "--": the operands met
             * before it go just in front, in their order. */
            memmove(&argv[optind - nops], &argv[1], (size_t)nops * sizeof *argv);
            optind -= nops;
            nops = 0;
            return -1;
        }
        if (c == '?' || c == ':') {
            bad_option(prog, cur, shortopts, longopts);
            return '?';
        }
        /* `--graph=` or `-o ''` names no file: a usage error, except for
         * --config, where "" means no policy file (as QV_CONFIG=""). */
        if (optarg && !*optarg && !(idx >= 0 && !strcmp(longopts[idx].name, "config"))) {
            if (idx >= 0)
                fprintf(stderr, "%s: option '--%s' needs a value, not ''\n", prog,
                        longopts[idx].name);
            else
                fprintf(stderr, "%s: option '-%c' needs a value, not ''\n", prog, c);
            fprintf(stderr, "Try '%s --help'.\n", prog);
            return '?';
        }
        return c;
    }
}

int qv_cli_cols(const char *s)
{
    int cols = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        cols += (*c & 0xC0) != 0x80;
    return cols;
}

void qv_cli_put_col(const char *s, int width, int left)
{
    int cols = qv_cli_cols(s);
    if (left)
        fputs(s, stdout);
    for (int i = cols; i < width; i++)
        putchar(' ');
    if (!left)
        fputs(s, stdout);
}

/* The files qv_cli_out_open writes under a temporary name, renamed over
 * their path by qv_cli_out_close when every write went well: a full disk
 * or a failed writer leaves the old file as it was, not a truncated one
 * (adversarial testing: a plan's --json on a full tmpfs). The temporary
 * is a mkstemp name of our own in the file's directory, given the old
 * file's mode: a fixed PATH.tmp deleted any file of that name, and a name
 * made longer than the output's refused a valid one near NAME_MAX
 * (adversarial testing of xclbin build, whose writer this became). A
 * command writes a few files at most, from one thread. */
static struct {
    FILE *f;
    char tmp[PATH_MAX + 32];
    char dst[PATH_MAX];
} outs[8];

/* The slot of f, or -1 when f is written in place. */
static int out_slot(const FILE *f)
{
    for (int i = 0; i < (int)(sizeof outs / sizeof outs[0]); i++)
        if (outs[i].f && outs[i].f == f)
            return i;
    return -1;
}

/* path with its directory resolved (realpath), into buf; path itself when
 * the directory cannot be resolved. */
static const char *canon(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX], real[PATH_MAX];
    int n = slash ? snprintf(dir, sizeof dir, "%.*s", (int)(slash - path + 1), path)
                  : snprintf(dir, sizeof dir, ".");
    if (n < 0 || (size_t)n >= sizeof dir || !realpath(dir, real))
        return path;
    snprintf(buf, size, "%s/%s", real, slash ? slash + 1 : path);
    return buf;
}

bool qv_cli_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    bool ha = !strcmp(a, "-") ? fstat(STDOUT_FILENO, &sa) == 0 : stat(a, &sa) == 0;
    bool hb = !strcmp(b, "-") ? fstat(STDOUT_FILENO, &sb) == 0 : stat(b, &sb) == 0;
    if (!ha || !hb) { /* a file to make: one when its directory and name are */
        char ca[PATH_MAX + 256], cb[PATH_MAX + 256];
        return !strcmp(canon(a, ca, sizeof ca), canon(b, cb, sizeof cb));
    }
    return S_ISREG(sa.st_mode) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool qv_cli_overwrites(const char *prog, const char *outopt, const char *out,
                       const char *inopt, const char *in)
{
    if (!out || !in || !strcmp(in, "-") || !strcmp(out, "-") || !qv_cli_same_file(out, in))
        return false;
    char e[1024];
    fprintf(stderr, "%s: %s names the file %s reads (%s): it would be overwritten\n", prog,
            outopt, inopt, qv__escape(out, e, sizeof e));
    return true;
}

/* "prog: cannot write PATH: why", the path escaped as every name from a
 * user; NULL, for qv_cli_out_open to return. */
static FILE *cannot_write(const char *prog, const char *path, const char *why)
{
    fprintf(stderr, "%s: cannot write %s: %s\n", prog, qv_cli_esc(path), why);
    return NULL;
}

/* The file a dangling symbolic link at path names, through links to
 * links (at most 40, as the kernel follows), into out[n]: what a shell's
 * redirection creates. False when path is no link, or the chain cannot
 * be followed (a loop, a name too long). */
static bool dangling_target(const char *path, char *out, size_t n)
{
    char cur[PATH_MAX];
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur)
        return false;
    for (int hop = 0; hop < 40; hop++) {
        struct stat ls;
        if (lstat(cur, &ls) != 0 || !S_ISLNK(ls.st_mode))
            return hop > 0 && snprintf(out, n, "%s", cur) < (int)n;
        char to[PATH_MAX], next[PATH_MAX];
        ssize_t k = readlink(cur, to, sizeof to - 1);
        if (k < 0)
            return false;
        to[k] = 0;
        const char *slash = strrchr(cur, '/');
        /* A relative link is relative to its own directory. */
        int dlen = to[0] != '/' && slash ? (int)(slash - cur) + 1 : 0;
        if (snprintf(next, sizeof next, "%.*s%s", dlen, cur, to) >= (int)sizeof next)
            return false;
        memcpy(cur, next, sizeof cur);
    }
    return false;
}

/* The descriptor of this process that path names: /dev/stdout,
 * /dev/stderr, /dev/fd/N, /proc/self/fd/N, or a path to the very file
 * standard output or error is; -1 when none. */
static int open_fd_of(const char *path)
{
    static const char *const dirs[] = {"/dev/fd/", "/proc/self/fd/"};
    int fd = -1;
    if (!strcmp(path, "/dev/stdout"))
        fd = STDOUT_FILENO;
    else if (!strcmp(path, "/dev/stderr"))
        fd = STDERR_FILENO;
    for (size_t i = 0; fd < 0 && i < sizeof dirs / sizeof dirs[0]; i++) {
        size_t n = strlen(dirs[i]);
        const char *p = path + n;
        if (strncmp(path, dirs[i], n) || !*p || strspn(p, "0123456789") != strlen(p) ||
            strlen(p) > 6)
            continue;
        fd = atoi(p);
    }
    struct stat ps, fs;
    bool file = fd < 0 && stat(path, &ps) == 0 && S_ISREG(ps.st_mode);
    for (int std = STDOUT_FILENO; file && fd < 0 && std <= STDERR_FILENO; std++)
        if (fstat(std, &fs) == 0 && ps.st_dev == fs.st_dev && ps.st_ino == fs.st_ino)
            fd = std;
    return fd >= 0 && fcntl(fd, F_GETFD) != -1 ? fd : -1;
}

bool qv_cli_is_stdout(const char *path)
{
    return path && (!strcmp(path, "-") || open_fd_of(path) == STDOUT_FILENO);
}

FILE *qv_cli_out_open(const char *prog, const char *path, const char *mode)
{
    if (!strcmp(path, "-"))
        return stdout;
    /* One of our own descriptors (`-o /dev/stdout >> log`): written
     * through it, as `-` is. Resolved to the file behind it and renamed
     * over, it replaced what the shell appends to, and a file standard
     * output also went to lost one of the two (adversarial testing). */
    int own = open_fd_of(path);
    if (own == STDOUT_FILENO)
        return stdout;
    if (own >= 0) {
        int d = dup(own);
        FILE *f = d >= 0 ? fdopen(d, mode) : NULL;
        if (!f && d >= 0)
            close(d);
        return f ? f : cannot_write(prog, path, strerror(errno));
    }
    /* Where the bytes go: a symbolic link's target is replaced, not the
     * link. What is not a regular file (a device, a FIFO) is written in
     * place: renaming over it would put a file where /dev/null was. */
    char real[PATH_MAX];
    const char *dst = path;
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        FILE *f = fopen(path, mode);
        return f ? f : cannot_write(prog, path, strerror(errno));
    }
    if (exists && realpath(path, real))
        dst = real;
    /* A link to a file not there yet: that file is made, the link kept
     * (the link itself was replaced by a file: adversarial testing). */
    if (!exists && dangling_target(path, real, sizeof real))
        dst = real;
    int slot = -1;
    for (int i = 0; i < (int)(sizeof outs / sizeof outs[0]) && slot < 0; i++)
        if (!outs[i].f)
            slot = i;
    if (slot < 0 || strlen(dst) >= sizeof outs[0].dst)
        return cannot_write(prog, path,
                            slot < 0 ? "too many outputs" : strerror(ENAMETOOLONG));
    const char *slash = strrchr(dst, '/');
    int dlen = slash ? (int)(slash - dst) + 1 : 0;
    snprintf(outs[slot].tmp, sizeof outs[slot].tmp, "%.*s.quiver-out.XXXXXX", dlen, dst);
    int fd = mkstemp(outs[slot].tmp);
    if (fd < 0)
        return cannot_write(prog, path, strerror(errno));
    /* The old file's owner (root replaced a user's file with one of its
     * own, which the user could no longer read: adversarial testing) and
     * mode, or the mode a new file would get. Owner first: a change of
     * owner clears the set-id bits. */
    mode_t um = umask(0);
    umask(um);
    int own_rc = exists ? fchown(fd, st.st_uid, st.st_gid) : 0;
    int mode_rc = fchmod(fd, exists ? st.st_mode & 07777 : 0666 & ~um);
    (void)own_rc;  /* best effort (a user cannot give a file away): the */
    (void)mode_rc; /* bytes matter more */
    FILE *f = fdopen(fd, mode);
    if (!f) {
        int err = errno;
        close(fd);
        unlink(outs[slot].tmp);
        return cannot_write(prog, path, strerror(err));
    }
    outs[slot].f = f;
    snprintf(outs[slot].dst, sizeof outs[slot].dst, "%s", dst);
    return f;
}

static bool stdout_told;

bool qv_cli_stdout_told(void)
{
    return stdout_told;
}

int qv_cli_out_close(const char *prog, FILE *f, const char *path, int failed)
{
    int err = 0;
    bool bad = ferror(f) != 0;
    if (bad)
        err = errno; /* most likely the failed write's */
    if (fflush(f) != 0) {
        bad = true;
        err = errno;
    }
    int slot = out_slot(f);
    if (f != stdout && fclose(f) != 0 && !bad) {
        bad = true;
        err = errno;
    }
    if (slot >= 0) {
        outs[slot].f = NULL;
        if (!bad && !failed && rename(outs[slot].tmp, outs[slot].dst) != 0) {
            bad = true;
            err = errno;
        }
        if (bad || failed)
            unlink(outs[slot].tmp);
    }
    if (!bad && !failed)
        return 0;
    if (!bad && failed < 0) /* the caller said why */
        return 1;
    char e[1024];
    const char *what = strcmp(path, "-") ? qv__escape(path, e, sizeof e) : "standard output";
    stdout_told |= bad && f == stdout;
    if (bad && err)
        fprintf(stderr, "%s: error writing %s: %s\n", prog, what, strerror(err));
    else
        fprintf(stderr, "%s: error writing %s\n", prog, what);
    return 1;
}

void qv_cli_diag(const char *prog, const char *name, int rc, qv_diag *d)
{
    char line[2200];
    if (!d->file[0]) /* a path, or a graph's name from a file: escaped */
        qv__escape(name ? name : "", d->file, sizeof d->file);
    if (!d->message[0])
        snprintf(d->message, sizeof d->message, "%s", qv_strerror(rc));
    qv_diag_format(d, line, sizeof line);
    fprintf(stderr, "%s: %s\n", prog, line);
}
