/*
 * commands.h - the subcommands of the quiver tool. Each lives in its own
 * file as `int qv_cmd_<name>(int argc, char **argv)`, where argv[0] is the
 * subcommand's name; it returns the process exit status (0 ok, 1 the input
 * was wrong, 2 usage).
 */
#ifndef QV_TOOLS_COMMANDS_H
#define QV_TOOLS_COMMANDS_H

typedef struct qv_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} qv_command;

int qv_cmd_version(int argc, char **argv);
int qv_cmd_plan(int argc, char **argv);
int qv_cmd_graph(int argc, char **argv);
int qv_cmd_check(int argc, char **argv);
int qv_cmd_devices(int argc, char **argv);
int qv_cmd_xclbin(int argc, char **argv);

#endif
