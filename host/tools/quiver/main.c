/*
 * main.c - the quiver command-line tool: a table of subcommands, each in its
 * own file (commands.h), and the options of the tool itself (--help,
 * --version).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "quiver.h"

static const qv_command commands[] = {
    { "version", "print the version", qv_cmd_version },
    { "plan", "plan a task graph on a platform", qv_cmd_plan },
    { "graph", "generate or import task graphs", qv_cmd_graph },
    { "check", "validate configuration files", qv_cmd_check },
    { "devices", "list the resources found", qv_cmd_devices },
    { "xclbin", "inspect or build .xclbin kernel containers", qv_cmd_xclbin },
    { "keygen", "write CURVE keys for remote boards", qv_cmd_keygen },
    { "profile", "profile a program and predict its offload", qv_cmd_profile },
    { "wrap", "write interposers that offload a program's calls", qv_cmd_wrap },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: quiver [--help] [--version] COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'quiver COMMAND --help' describes a command; docs/cli.md all of "
                 "them.\n");
}

/* `quiver version` and `quiver --version`: the library's version, which is
 * the tool's (one build). */
int qv_cmd_version(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = qv_cli_getopt(argc, argv, "quiver version", "h", longopts)) != -1) {
        if (c != 'h')
            return QV_CLI_USAGE;
        printf("usage: quiver version\n\nPrints the version of quiver, which is "
               "libquiver's (one build).\n");
        return 0;
    }
    if (optind < argc) {
        return qv_cli_unexpected("quiver version", argv[optind]);
    }
    printf("quiver %s\n", qv_version());
    return 0;
}

/* The exit status of a run that returned rc: 1 when standard output could
 * not be written (a full disk, a closed pipe's EIO) and nothing said so, so
 * that `quiver check --json *.yaml > out.json` on a full disk does not
 * pass with half an array. */
/* A failed write of standard output is said whatever the command's
 * status: `quiver check --json ... > /dev/full` exited 1 in silence, the
 * errors it wrote lost, and quiver profile's program status hid a lost
 * report (adversarial testing). The status stays the command's when it
 * has one. */
static int finish(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (!qv_cli_stdout_told())
            fprintf(stderr, "quiver: error writing standard output\n");
        return rc ? rc : 1;
    }
    return rc;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return QV_CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
        return qv_cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    if (argv[1][0] == '-')
        fprintf(stderr, "quiver: unknown option '%s'\n", qv_cli_esc(argv[1]));
    else
        fprintf(stderr, "quiver: unknown command '%s'\n", qv_cli_esc(argv[1]));
    fprintf(stderr, "Try 'quiver --help'.\n"); /* one line, as every command's */
    return QV_CLI_USAGE;
}

int main(int argc, char **argv)
{
    return finish(run(argc, argv));
}
