/*
 * commands.h - the subcommands of the quiver tool and the conventions they
 * share. Each subcommand lives in its own file as
 * `int qv_cmd_<name>(int argc, char **argv)`, where argv[0] is the
 * subcommand's name; it returns the process exit status (0 ok, 1 the input
 * was wrong, 2 usage).
 *
 * Conventions (docs/cli.md), kept by the helpers of cli.c:
 * - GNU long options through qv_cli_getopt: `--graph=G` and `--graph G`,
 *   options and operands in any order, `--` ends the options, `--help` on
 *   every subcommand; an unknown option or a missing value prints one line
 *   and a hint, and the subcommand exits 2;
 * - `-` as a path that is written means standard output (qv_cli_out_open);
 * - strings from files are escaped before they are printed (qv_escape.h:
 *   qv__escape for text, qv__json_fputs for JSON).
 */
#ifndef QV_TOOLS_COMMANDS_H
#define QV_TOOLS_COMMANDS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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
int qv_cmd_keygen(int argc, char **argv);
int qv_cmd_profile(int argc, char **argv);
int qv_cmd_wrap(int argc, char **argv);

/* Exit status of a usage error (unknown option, missing value or operand). */
#define QV_CLI_USAGE 2

/* getopt_long for subcommand prog ("quiver plan"): returns the next option
 * as getopt_long does, -1 after the last one (the operands are then
 * argv[optind..argc-1], in their order, moved to the end), or '?' after
 * printing the error, as "prog: unrecognized option '--x'" (getopt_long's
 * words, what was typed escaped) and a hint to run `prog --help`; the
 * caller then returns QV_CLI_USAGE. Options and operands mix in any
 * order, POSIXLY_CORRECT or not; `--` ends the options. An empty value
 * (`--graph=`, `-o ''`) is a usage error too, except for --config (""
 * is no policy file, as QV_CONFIG=""). The first call with a new argv
 * starts over (optind = 0) and sets argv[0] to prog for the messages. A
 * long option is also accepted abbreviated when that is unambiguous, as
 * GNU tools do. */
int qv_cli_getopt(int argc, char **argv, const char *prog, const char *shortopts,
                  const struct option *longopts);

/* s escaped for a message (qv__escape), in one of eight static buffers:
 * up to eight in one printf. The arguments a user typed are printed so,
 * as strings from files are. */
const char *qv_cli_esc(const char *s);

/* Prints "prog: unexpected argument 'ARG'" (escaped) and the hint to run
 * `prog --help`; returns QV_CLI_USAGE. */
int qv_cli_unexpected(const char *prog, const char *arg);

/* Columns s takes on a terminal: one per character (UTF-8 continuation
 * bytes take none); s is text qv__escape wrote. */
int qv_cli_cols(const char *s);

/* Prints s to standard output in a column `width` columns wide,
 * left-aligned (left != 0) or right-aligned; a longer s is not cut. */
void qv_cli_put_col(const char *s, int width, int left);

/* Opens path for writing ("w" or "wb"); "-" is standard output. A regular
 * file (new, or one that a symbolic link names) is written under a
 * temporary name beside it and takes its place at qv_cli_out_close; a
 * device or a FIFO is written in place. NULL after printing "prog: cannot
 * write PATH: reason". */
FILE *qv_cli_out_open(const char *prog, const char *path, const char *mode);

/* Whether writing path a would overwrite path b: one name (a file to
 * make: its directory and name), or one regular file by two names (a
 * link, /dev/stdout and "-"; "-" is standard output). Two devices are
 * never one file: /dev/null twice is no loss. */
bool qv_cli_same_file(const char *a, const char *b);

/* Whether output out (of option outopt) is the file in that the command
 * reads (of option inopt, or the operand): then it prints "prog: OUTOPT
 * names the file INOPT reads (PATH): it would be overwritten" and the
 * caller exits QV_CLI_USAGE (`quiver wrap -o` over its catalog replaced
 * the catalog and exited 0: adversarial testing). NULL paths and "-"
 * (standard input or output) never match. */
bool qv_cli_overwrites(const char *prog, const char *outopt, const char *out,
                       const char *inopt, const char *in);

/* Closes what qv_cli_out_open opened (standard output is flushed, not
 * closed) and, when every write and the close went well and the caller's
 * writer did (failed == 0), puts the file in place; else the old file
 * stays as it was. Returns 0, or 1 after printing "prog: error writing
 * PATH" (with the reason when a write or the close failed), which a
 * failed < 0 leaves out unless a write failed: the caller said why. */
int qv_cli_out_close(const char *prog, FILE *f, const char *path, int failed);
/* Whether an output path is standard output: `-`, or a name of its
 * descriptor that qv_cli_out_open writes through (`/dev/stdout`). */
bool qv_cli_is_stdout(const char *path);
/* Whether qv_cli_out_close told of a failed write of standard output
 * (main's last check then says nothing more). */
bool qv_cli_stdout_told(void);

/* Prints a reader's diagnostic as every subcommand does, "prog:
 * file:line:col: error: message"; name stands in for a diag without a file
 * and qv_strerror(rc) for one without a message. */
struct qv_diag;
void qv_cli_diag(const char *prog, const char *name, int rc, struct qv_diag *d);

/* The machine as qv_runtime_create would open it: the policy at config
 * (NULL: $QV_CONFIG, else the installed default), its board files and
 * `boards`, scanned once into *pool; *cat (cat may be NULL) gets the
 * policy's kernel catalog or NULL, the caller's to free. 0, or 1 after
 * printing why (file:line:col for a bad file). machine.c. */
struct qv_pool;
struct qv__catalog;
int qv_cli_machine(const char *prog, const char *config, const char *const *boards,
                   size_t nboards, struct qv_pool **pool, struct qv__catalog **cat);

/* Whether out, the file of prog's option outopt, is one that planning
 * reads without the command line naming it, and if so says so: the board
 * files (and a board's client key file) of platform ppath's resources;
 * without ppath the policy as qv_cli_machine finds it (config,
 * $QV_CONFIG or the installed default), its catalog, and its board files
 * and theirs. A file that does not load is left to its reader to report.
 * machine.c. */
bool qv_cli_overwrites_read(const char *prog, const char *outopt, const char *out,
                            const char *config, const char *ppath);

#endif
