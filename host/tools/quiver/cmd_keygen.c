/*
 * cmd_keygen.c - `quiver keygen DIR`: writes the CURVE key pairs of a
 * remote board, one for the daemon and one for a host, and authorizes the
 * host's key (qv__auth_keygen in host/src/remote/auth.c; docs/remote.md
 * says where each file goes).
 */
#include <stdio.h>
#include <sys/stat.h>

#include "commands.h"
#include "qv_escape.h"
#include "remote/auth.h"

#define PROG "quiver keygen"

static void keygen_usage(FILE *out)
{
    fprintf(out,
            "usage: quiver keygen DIR\n\n"
            "Writes two new CURVE key pairs for remote boards (Z85 text):\n"
            "  DIR/server.key, DIR/server.pub   the daemon's pair\n"
            "  DIR/client.key, DIR/client.pub   a host's pair\n"
            "  DIR/authorized/client.pub        the host's key, which\n"
            "                                   `quiverd --keys DIR` accepts\n"
            "DIR is created (mode 0700) if missing; secret keys (.key) are\n"
            "created mode 0600. An existing key file, or a link in its place,\n"
            "is never overwritten: keygen then writes nothing and exits 1.\n\n"
            "A board file on the host names the daemon's public key and the\n"
            "host's secret key:\n"
            "  remote: {endpoint: tcp://HOST:PORT, server_key_file: server.pub,\n"
            "           client_key_file: client.key}\n"
            "More hosts: run keygen into another directory and copy its\n"
            "client.pub into the daemon's authorized/ as NAME.pub.\n\n"
            "  -h, --help   print this help\n");
}

int qv_cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = qv_cli_getopt(argc, argv, PROG, "h", longopts)) != -1) {
        if (c == 'h') {
            keygen_usage(stdout);
            return 0;
        }
        return QV_CLI_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "%s: missing operand DIR\nTry '%s --help'.\n", PROG, PROG);
        return QV_CLI_USAGE;
    }
    if (optind + 1 < argc) {
        return qv_cli_unexpected(PROG, argv[optind + 1]);
    }
    const char *dir = argv[optind];
    if (!*dir) { /* an unset variable in a script: a usage error, not a failed mkdir */
        fprintf(stderr, "%s: DIR is empty\nTry '%s --help'.\n", PROG, PROG);
        return QV_CLI_USAGE;
    }
    char err[4200], e[4200], d[1024];
    if (qv__auth_keygen(dir, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", PROG, qv__escape(err, e, sizeof e));
        return 1;
    }
    /* The directory as the user gave it, its control characters escaped
     * (a name from a script could drive the terminal). */
    qv__escape(dir, d, sizeof d);
    printf("%s/server.key, %s/server.pub: the daemon's keys (quiverd --keys %s)\n"
           "%s/client.key, %s/client.pub: a host's keys (client_key_file: "
           "client.key)\n"
           "%s/authorized/client.pub: the host's key, accepted by the daemon\n",
           d, d, d, d, d, d);
    /* An existing DIR keeps its mode: one that others may write is one
     * quiverd refuses (anyone could authorize a key there). */
    struct stat st;
    if (stat(dir, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)))
        fprintf(stderr,
                "%s: warning: %s is writable by its group or others (mode %04o); "
                "quiverd refuses such a directory: `chmod go-w %s`\n",
                PROG, d, (unsigned)(st.st_mode & 07777), d);
    return 0;
}
