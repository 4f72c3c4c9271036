/*
 * cli.c - what every subcommand of the quiver tool shares: option parsing
 * with GNU long options and one style of usage error, and output paths where
 * "-" is standard output (commands.h lists the conventions).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "qv_escape.h"
#include "quiver/config.h"

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
        opterr = 1; /* getopt_long prints "prog: unrecognized option..." */
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
            fprintf(stderr, "Try '%s --help'.\n", prog);
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

FILE *qv_cli_out_open(const char *prog, const char *path, const char *mode)
{
    if (!strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, mode);
    if (!f)
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
    return f;
}

int qv_cli_out_close(const char *prog, FILE *f, const char *path)
{
    int bad = ferror(f);
    if (f == stdout)
        bad |= fflush(f) != 0;
    else
        bad |= fclose(f) != 0;
    if (bad) {
        fprintf(stderr, "%s: error writing %s\n", prog,
                strcmp(path, "-") ? path : "standard output");
        return 1;
    }
    return 0;
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
