/*
 * cmd_check.c - `quiver check FILE...`: validates board, catalog, policy and
 * platform files (each recognised by its content), printing one
 * `file:line:col: error: ...` line per bad file, as compilers do, so editors
 * can jump to it.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "quiver.h"
#include "quiver/config.h"

static void check_usage(FILE *out)
{
    fprintf(out, "usage: quiver check [-q] FILE...\n\n"
                 "Validates Quiver YAML files: boards, the kernel catalog, the\n"
                 "runtime policy and platforms, each recognised by its content.\n"
                 "Prints FILE:LINE:COL: error: ... for each bad file and exits 1\n"
                 "if any is bad.\n\n"
                 "  -q  print nothing for good files\n");
}

int qv_cmd_check(int argc, char **argv)
{
    int quiet = 0, nfiles = 0, bad = 0, opts = 1;
    for (int i = 1; i < argc; i++) {
        if (opts && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
            check_usage(stdout);
            return 0;
        }
        if (opts && !strcmp(argv[i], "-q")) {
            quiet = 1;
            continue;
        }
        if (opts && !strcmp(argv[i], "--")) {
            opts = 0;
            continue;
        }
        if (opts && argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "quiver check: unknown option '%s'\n", argv[i]);
            check_usage(stderr);
            return 2;
        }
        nfiles++;
        qv_config_kind kind;
        qv_diag diag;
        int rc = qv_config_check(argv[i], &kind, &diag);
        if (rc) {
            char line[2200];
            qv_diag_format(&diag, line, sizeof line);
            fprintf(stderr, "%s\n", line);
            bad++;
        } else if (!quiet) {
            printf("%s: ok (%s)\n", argv[i], qv_config_kind_name(kind));
        }
    }
    if (!nfiles) {
        check_usage(stderr);
        return 2;
    }
    return bad ? 1 : 0;
}
