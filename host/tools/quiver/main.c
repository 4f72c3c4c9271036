/*
 * main.c - the quiver command-line tool: a table of subcommands, each in its
 * own file (commands.h).
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
};

static void usage(FILE *out)
{
    fprintf(out, "usage: quiver COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'quiver COMMAND --help' describes a command.\n");
}

int qv_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("quiver %d.%d.%d\n", QV_VERSION_MAJOR, QV_VERSION_MINOR,
           QV_VERSION_PATCH);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "quiver: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
