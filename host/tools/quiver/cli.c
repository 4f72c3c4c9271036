/*
 * cli.c - what every subcommand of the quiver tool shares: option parsing
 * with GNU long options and one style of usage error, and output paths where
 * "-" is standard output (commands.h lists the conventions).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "quiver/config.h"

int qv_cli_getopt(int argc, char **argv, const char *prog, const char *shortopts,
                  const struct option *longopts)
{
    static char **seen;
    if (argv != seen) {
        seen = argv;
        optind = 0; /* GNU: start over, permuting operands to the end */
        opterr = 1; /* getopt_long prints "prog: unrecognized option..." */
        argv[0] = (char *)prog;
    }
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (c == '?' || c == ':') {
        fprintf(stderr, "Try '%s --help'.\n", prog);
        return '?';
    }
    return c;
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
    if (!d->file[0])
        snprintf(d->file, sizeof d->file, "%s", name ? name : "");
    if (!d->message[0])
        snprintf(d->message, sizeof d->message, "%s", qv_strerror(rc));
    qv_diag_format(d, line, sizeof line);
    fprintf(stderr, "%s: %s\n", prog, line);
}
