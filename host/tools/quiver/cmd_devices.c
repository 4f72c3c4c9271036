/*
 * cmd_devices.c - `quiver devices`: runs discovery once and prints what it
 * found, and for each backend that found nothing, why (no ICD, no XRT, no
 * card), as a table or, with --json, for scripts. A remote board is probed:
 * its daemon is sent a hello, and the listing says whether it answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "devices/device.h"
#include "quiver.h"
#include "quiver/config.h"
#include "qv_escape.h"
#include "qv_text.h"

static void devices_usage(FILE *out)
{
    fprintf(out, "usage: quiver devices [--json] [--config=POLICY.yaml] "
                 "[--board=BOARD.yaml]... [--probe-ms=MS]\n\n"
                 "Lists the resources discovery finds (hwloc, OpenCL, XRT and\n"
                 "the board files of the policy or of --board), and why a backend\n"
                 "found none. The daemon of each remote board is sent a hello and\n"
                 "has --probe-ms (default 1000; 0: no probe) to answer: the board\n"
                 "is listed as reachable (with what it serves) or unreachable (why).\n"
                 "  --json              one JSON object instead of the table\n"
                 "  --config=POLICY     the runtime policy whose devices and boards\n"
                 "                      are listed (default: $QV_CONFIG, else the\n"
                 "                      installed default policy)\n"
                 "  --board=BOARD       a board file to list too (repeatable)\n"
                 "  --probe-ms=MS       how long each remote board's daemon has to\n"
                 "                      answer its hello (0: no probe; default 1000)\n"
                 "  -h, --help          this text\n");
}

/* What the probes of the remote boards said (probe_all): per pool entry,
 * 1 reachable, 0 not, -1 not probed (not remote, or --probe-ms 0), and
 * what it serves or why not. */
enum { INFO = 400 };
typedef struct probes {
    int *up;
    char *info; /* INFO bytes per entry */
    size_t n;
} probes;

/* Every remote board at once: one silent daemon costs --probe-ms, not one
 * each after another (adversarial testing: 12 s for twelve). */
static probes probe_all(qv_pool *pool, unsigned ms)
{
    probes p = {0};
    p.n = qv_pool_count(pool);
    p.up = calloc(p.n ? p.n : 1, sizeof *p.up);
    p.info = calloc(p.n ? p.n : 1, INFO);
    if (!p.up || !p.info) {
        free(p.up);
        free(p.info);
        return (probes){0};
    }
    for (size_t i = 0; i < p.n; i++)
        p.up[i] = -1;
    if (ms)
        qv__remote_probe_all(pool, ms, p.up, p.info, INFO, p.n);
    return p;
}

static int probe_remote(const probes *p, size_t i, const char **info)
{
    *info = i < p->n ? p->info + i * INFO : "";
    return i < p->n ? p->up[i] : -1;
}


static const char *human(uint64_t bytes, char *buf, size_t size)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

static void print_json(qv_pool *pool, const probes *pr)
{
    qv_resource r;
    qv_backend_report b;
    printf("{\"resources\": [");
    for (size_t i = 0; qv_pool_get(pool, i, &r) == 0; i++) {
        printf("%s\n  {\"id\": %u, \"type\": \"%s\", \"backend\": ", i ? "," : "", r.id,
               qv_class_name(r.type));
        qv__json_fputs(stdout, r.backend);
        printf(", \"name\": ");
        qv__json_fputs(stdout, r.name);
        printf(", \"detail\": ");
        qv__json_fputs(stdout, r.detail);
        printf(", \"units\": %u, \"memory\": %llu, \"free_memory\": %llu, "
               "\"max_alloc\": %llu, \"busy\": %.3f, \"cost_per_hour\": %g, "
               "\"link_bandwidth_gbs\": %g, \"link_latency_us\": %g, "
               "\"emulated\": %s, \"on_host\": %s",
               r.units, (unsigned long long)r.memory, (unsigned long long)r.free_memory,
               (unsigned long long)r.max_alloc, r.busy, r.cost_per_hour,
               r.link_bandwidth_gbs, r.link_latency_us, r.emulated ? "true" : "false",
               r.on_host ? "true" : "false");
        const char *info;
        int up = probe_remote(pr, i, &info);
        if (up >= 0) {
            printf(", \"reachable\": %s, \"probe\": ", up ? "true" : "false");
            qv__json_fputs(stdout, info);
        }
        printf("}");
    }
    printf("],\n \"backends\": [");
    for (size_t i = 0; qv_pool_backend(pool, i, &b) == 0; i++) {
        printf("%s\n  {\"name\": ", i ? "," : "");
        qv__json_fputs(stdout, b.name);
        printf(", \"count\": %u, \"why\": ", b.count);
        qv__json_fputs(stdout, b.why);
        printf("}");
    }
    printf("]}\n");
}

static void print_table(qv_pool *pool, const probes *pr)
{
    qv_resource r;
    qv_backend_report b;
    char m1[32], m2[32];
    /* Names and details come from board files, drivers and cards: escaped,
     * so that none can drive the terminal (4 bytes out per byte in at
     * most). A name is printed whole, as qv_device_get gives it: the column
     * fits the longest. */
    char e1[4 * sizeof r.backend], e2[4 * sizeof r.name], e3[4 * sizeof r.detail];
    char e4[4 * sizeof b.why];
    int wname = 4;
    for (size_t i = 0; qv_pool_get(pool, i, &r) == 0; i++) {
        int cols = qv_cli_cols(qv__escape(r.name, e2, sizeof e2));
        if (cols > wname)
            wname = cols;
    }
    printf("%-3s %-6s %-7s ", "ID", "TYPE", "BACKEND");
    qv_cli_put_col("NAME", wname, 1);
    printf(" %5s %10s %10s %5s %7s  %s\n", "UNITS", "MEMORY", "FREE", "BUSY", "COST/h",
           "DETAIL");
    for (size_t i = 0; qv_pool_get(pool, i, &r) == 0; i++) {
        printf("%-3u %-6s ", r.id, qv_class_name(r.type));
        qv_cli_put_col(qv__escape(r.backend, e1, sizeof e1), 7, 1);
        putchar(' ');
        qv_cli_put_col(qv__escape(r.name, e2, sizeof e2), wname, 1);
        printf(" %5u %10s %10s %4.0f%% %7.2f  %s", r.units,
               human(r.memory, m1, sizeof m1), human(r.free_memory, m2, sizeof m2),
               r.busy * 100, r.cost_per_hour, qv__escape(r.detail, e3, sizeof e3));
        const char *info;
        char e5[4 * INFO];
        if (probe_remote(pr, i, &info) >= 0)
            printf(" (%s)", qv__escape(info, e5, sizeof e5));
        putchar('\n');
    }
    printf("\n");
    for (size_t i = 0; qv_pool_backend(pool, i, &b) == 0; i++) {
        qv_cli_put_col(qv__escape(b.name, e1, sizeof e1), 7, 1);
        printf(" %2u found: %s\n", b.count, qv__escape(b.why, e4, sizeof e4));
    }
}

int qv_cmd_devices(int argc, char **argv)
{
    int json = 0;
    unsigned probe_ms = 1000;
    const char *config = NULL;
    const char **boards = calloc((size_t)argc + 1, sizeof *boards);
    size_t nboards = 0;
    if (!boards)
        return 1;
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"config", required_argument, NULL, 'c'},
        {"board", required_argument, NULL, 'b'},
        {"probe-ms", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = qv_cli_getopt(argc, argv, "quiver devices", "h", longopts)) != -1) {
        if (c == 'j') {
            json = 1;
        } else if (c == 'c') {
            config = optarg;
        } else if (c == 'b') {
            boards[nboards++] = optarg;
        } else if (c == 'p') {
            unsigned long v;
            if (!qv__parse_dec(optarg, 600000, &v)) { /* strtoul took ' 5' */
                fprintf(stderr,
                        "quiver devices: --probe-ms: expected milliseconds from 0 "
                        "to 600000, not '%s'\n",
                        qv_cli_esc(optarg));
                free(boards);
                return QV_CLI_USAGE;
            }
            probe_ms = (unsigned)v;
        } else {
            if (c == 'h')
                devices_usage(stdout);
            free(boards);
            return c == 'h' ? 0 : QV_CLI_USAGE;
        }
    }
    if (optind < argc) {
        free(boards);
        return qv_cli_unexpected("quiver devices", argv[optind]);
    }
    qv_pool *pool;
    int rc = qv_cli_machine("quiver devices", config, (const char *const *)boards, nboards,
                            &pool, NULL);
    free(boards);
    if (rc)
        return 1;
    probes pr = probe_all(pool, probe_ms);
    if (json)
        print_json(pool, &pr);
    else
        print_table(pool, &pr);
    free(pr.up);
    free(pr.info);
    qv_pool_destroy(pool);
    return 0;
}
