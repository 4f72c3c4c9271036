/*
 * cmd_check.c - `quiver check [-q] [--json] FILE...`: validates board,
 * catalog, policy and platform files (each recognised by its content),
 * printing one `file:line:col: error: ...` line per bad file, as compilers
 * do, so editors can jump to it; with --json, one verdict per file for
 * scripts.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "config/catalog.h"
#include "quiver.h"
#include "quiver/config.h"
#include "qv_escape.h"

#define PROG "quiver check"

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: quiver check [-q] [--json] FILE...\n\n"
            "Validates Quiver YAML files: boards, the kernel catalog, the\n"
            "runtime policy and platforms, each recognised by its content.\n"
            "Prints FILE:LINE:COL: error: ... for each bad file and exits 1\n"
            "if any is bad. A catalog's builds are opened too: each xclbin must\n"
            "hold its kernel with the catalog's arguments (names, kinds, types),\n"
            "be an emulation build exactly for an emulated board, and be built\n"
            "for its board's platform.\n\n"
            "  -q, --quiet  print nothing for good files\n"
            "  --json       print a JSON array on standard output, one object\n"
            "               per FILE: {\"path\", \"kind\", \"ok\", \"file\", \"line\",\n"
            "               \"column\", \"message\"}; file, line and column say\n"
            "               where the error is (another file when FILE names\n"
            "               it), null when there is none; a FILE that is not\n"
            "               UTF-8 also gets \"path_hex\", its bytes in hex\n"
            "  -h, --help   print this help\n\n"
            "Standard input ('-') is not read: a file names others relative to\n"
            "its own directory.\n");
}

static void print_json(int first, const char *path, qv_config_kind kind, int rc,
                       const qv_diag *d)
{
    /* A path that is not UTF-8 (a file name is bytes) cannot be a JSON
     * string: its bytes in path_hex, and \xNN text for them in path (as
     * U+00NN it was the JSON of another, valid name: adversarial
     * testing). */
    bool bytes = !qv__utf8_valid(path);
    printf("%s\n  {\"path\": ", first ? "" : ",");
    qv__json_fputs_x(stdout, path);
    if (bytes) {
        printf(", \"path_hex\": ");
        qv__json_hex(stdout, path);
    }
    printf(", \"kind\": \"%s\", \"ok\": %s, \"file\": ", qv_config_kind_name(kind),
           rc ? "false" : "true");
    /* The readers keep the file's name escaped for messages, cut to
     * sizeof d->file as qv__escape cuts it: when the error is in FILE
     * itself, print the argument, so that "file" equals "path" whatever
     * characters the name holds and however long it is; another file (a
     * policy's catalog) is named as the message names it. */
    char e[sizeof d->file];
    if (rc && d->file[0] && strcmp(d->file, qv__escape(path, e, sizeof e)))
        qv__json_fputs(stdout, d->file);
    else
        qv__json_fputs_x(stdout, path);
    if (rc && d->line)
        printf(", \"line\": %u, \"column\": %u", d->line, d->column);
    else
        printf(", \"line\": null, \"column\": null");
    printf(", \"message\": ");
    if (rc)
        qv__json_fputs(stdout, d->message[0] ? d->message : qv_strerror(rc));
    else
        printf("null");
    printf("}");
}

int qv_cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "quiet", no_argument, NULL, 'q' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int quiet = 0, json = 0, bad = 0, c;
    while ((c = qv_cli_getopt(argc, argv, PROG, "qh", longopts)) != -1) {
        switch (c) {
        case 'q':
            quiet = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            check_usage(stdout);
            return 0;
        default:
            return QV_CLI_USAGE;
        }
    }
    if (optind == argc) {
        fprintf(stderr, PROG ": no FILE given\nTry '" PROG " --help'.\n");
        return QV_CLI_USAGE;
    }
    for (int i = optind; i < argc; i++)
        if (!strcmp(argv[i], "-")) {
            fprintf(stderr, PROG ": standard input ('-') cannot be checked; give "
                            "the file's path\n");
            return QV_CLI_USAGE;
        } else if (!argv[i][0]) { /* as an option's '' (it said ": error: cannot open") */
            fprintf(stderr, PROG ": FILE '' names no file\nTry '" PROG " --help'.\n");
            return QV_CLI_USAGE;
        }
    int shown = 0;
    if (json)
        printf("[");
    for (int i = optind; i < argc; i++) {
        qv_config_kind kind;
        qv_diag diag;
        memset(&diag, 0, sizeof diag);
        int rc = qv__config_check(argv[i], &kind, &diag, true);
        bad += rc != 0;
        if (json) {
            if (!rc && quiet)
                continue;
            print_json(!shown++, argv[i], kind, rc, &diag);
        } else if (rc) {
            char line[2200];
            qv_diag_format(&diag, line, sizeof line);
            fprintf(stderr, "%s\n", line);
        } else if (!quiet) {
            /* An empty file is the default policy, which a board or a
             * catalog truncated to nothing also reads as: said so. */
            struct stat st;
            bool empty =
                kind == QV_CONFIG_POLICY && stat(argv[i], &st) == 0 && st.st_size == 0;
            char e[4096];
            printf("%s: ok (%s%s)\n", qv__escape(argv[i], e, sizeof e),
                   qv_config_kind_name(kind),
                   empty ? "; the file is empty: every setting at its default" : "");
        }
    }
    if (json)
        printf("%s]\n", shown ? "\n" : "");
    return bad ? 1 : 0;
}
