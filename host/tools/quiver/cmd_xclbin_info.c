/*
 * cmd_xclbin_info.c - `quiver xclbin info [--json] FILE`: validates an xclbin
 * (header, sections, metadata) before it prints anything, then prints its
 * mode, platform, sections, memory banks, kernels with their arguments and
 * compute units, and which bank each argument of each CU uses; as text,
 * with strings from the file escaped, or as JSON. FILE '-' is standard
 * input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_xclbin.h"
#include "xclbin/layout.h"
#include "quiver.h"
#include "qv_escape.h"

#define PROG "quiver xclbin info"

static const char *uuid_str(const uint8_t u[16], char buf[37])
{
    char *p = buf;
    for (int i = 0; i < 16; i++) {
        p += sprintf(p, "%02x", u[i]);
        if (i == 3 || i == 5 || i == 7 || i == 9)
            *p++ = '-';
    }
    *p = '\0';
    return buf;
}

static const char *human(uint64_t bytes, char *buf, size_t size)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

static const char *kind_name(uint32_t kind, char *buf, size_t size)
{
    const char *n = qv__xclbin_section_name(kind);
    if (n)
        return n;
    snprintf(buf, size, "KIND_%u", kind);
    return buf;
}

static const char *control_name(uint32_t c)
{
    static const char *const n[] = {"ap_ctrl_hs", "ap_ctrl_chain", "ap_ctrl_none",
                                    "ap_ctrl_me", "accel_adapter", "fast_adapter"};
    return c < sizeof n / sizeof n[0] ? n[c] : "unknown";
}

static const char *bank_tag(const qv__xclbin *x, uint32_t b)
{
    return b == QV__XCLBIN_NONE ? "-" : x->banks[b].tag;
}

/* A string from the file, escaped for the terminal (common/qv_escape.h);
 * eight rotating buffers, enough for one printf. */
static const char *esc(const char *s)
{
    static char buf[8][1024];
    static unsigned k;
    k = (k + 1) % 8;
    return qv__escape(s, buf[k], sizeof buf[k]);
}

static void print_text(const char *path, const qv__xclbin *x)
{
    char ub[37], hb[32], kb[24];
    printf("file:      %s (%llu bytes)\n", esc(path), (unsigned long long)x->length);
    printf("mode:      %s\n", qv__xclbin_mode_name(x->mode));
    printf("platform:  %s\n", esc(x->platform));
    printf("uuid:      %s\n", uuid_str(x->uuid, ub));
    printf("project:   %s\n", esc(x->project));
    printf("version:   %u.%u.%u\n", x->version_major, x->version_minor, x->version_patch);
    printf("sections:  %zu\n", x->nsections);
    for (size_t i = 0; i < x->nsections; i++) {
        const qv__xclbin_section *s = &x->sections[i];
        printf("  %-22s %-16s offset 0x%-8llx size %llu\n",
               kind_name(s->kind, kb, sizeof kb), esc(s->name), (unsigned long long)s->offset,
               (unsigned long long)s->size);
    }
    printf("memory banks: %zu\n", x->nbanks);
    for (size_t i = 0; i < x->nbanks; i++) {
        const qv__xclbin_bank *b = &x->banks[i];
        printf("  [%zu] %-10s %-9s %10s at 0x%llx%s\n", i, esc(b->tag),
               qv__xclbin_mem_name(b->type), human(b->size, hb, sizeof hb),
               (unsigned long long)b->base, b->used ? "" : " (unused)");
    }
    printf("kernels:   %zu\n", x->nkernels);
    for (size_t i = 0; i < x->nkernels; i++) {
        const qv__xclbin_kernel *k = &x->kernels[i];
        printf("  %s (control range 0x%llx)\n", esc(k->name),
               (unsigned long long)k->address_range);
        for (size_t a = 0; a < k->nargs; a++) {
            const qv__xclbin_arg *g = &k->args[a];
            static const char *const q[] = {"scalar", "global", "constant", "local",
                                            "stream"};
            printf("    arg %u %-12s %-16s %-8s offset 0x%llx size %llu port %s\n", g->id,
                   esc(g->name), esc(g->type), q[g->addrq], (unsigned long long)g->offset,
                   (unsigned long long)g->size, *g->port ? esc(g->port) : "-");
        }
        for (size_t c = 0; c < k->ncus; c++) {
            const qv__xclbin_cu *cu = &k->cus[c];
            printf("    cu %s:%s base 0x%llx %s", esc(k->name), esc(cu->name),
                   (unsigned long long)cu->base, control_name(cu->control));
            for (size_t a = 0; a < k->nargs; a++)
                if (cu->arg_bank[a] != QV__XCLBIN_NONE)
                    printf(" %s->%s", esc(k->args[a].name),
                           esc(bank_tag(x, cu->arg_bank[a])));
            printf("\n");
        }
    }
    if (x->has_bitstream)
        printf("bitstream: %llu bytes at offset 0x%llx\n",
               (unsigned long long)x->bitstream_size,
               (unsigned long long)x->bitstream_offset);
    else
        printf("bitstream: none\n");
}

static void print_json(const char *path, const qv__xclbin *x)
{
    char ub[37], kb[24];
    printf("{\"file\": ");
    qv__json_fputs(stdout, path);
    printf(", \"size\": %llu, \"mode\": \"%s\", \"platform\": ",
           (unsigned long long)x->length, qv__xclbin_mode_name(x->mode));
    qv__json_fputs(stdout, x->platform);
    printf(", \"uuid\": \"%s\", \"project\": ", uuid_str(x->uuid, ub));
    qv__json_fputs(stdout, x->project);
    printf(", \"version\": \"%u.%u.%u\",\n \"sections\": [", x->version_major,
           x->version_minor, x->version_patch);
    for (size_t i = 0; i < x->nsections; i++) {
        const qv__xclbin_section *s = &x->sections[i];
        printf("%s\n  {\"kind\": \"%s\", \"name\": ", i ? "," : "",
               kind_name(s->kind, kb, sizeof kb));
        qv__json_fputs(stdout, s->name);
        printf(", \"offset\": %llu, \"size\": %llu}", (unsigned long long)s->offset,
               (unsigned long long)s->size);
    }
    printf("],\n \"banks\": [");
    for (size_t i = 0; i < x->nbanks; i++) {
        const qv__xclbin_bank *b = &x->banks[i];
        printf("%s\n  {\"index\": %zu, \"tag\": ", i ? "," : "", i);
        qv__json_fputs(stdout, b->tag);
        printf(", \"type\": \"%s\", \"size\": %llu, \"base\": %llu, \"used\": %s}",
               qv__xclbin_mem_name(b->type), (unsigned long long)b->size,
               (unsigned long long)b->base, b->used ? "true" : "false");
    }
    printf("],\n \"kernels\": [");
    for (size_t i = 0; i < x->nkernels; i++) {
        const qv__xclbin_kernel *k = &x->kernels[i];
        printf("%s\n  {\"name\": ", i ? "," : "");
        qv__json_fputs(stdout, k->name);
        printf(", \"address_range\": %llu, \"args\": [",
               (unsigned long long)k->address_range);
        for (size_t a = 0; a < k->nargs; a++) {
            const qv__xclbin_arg *g = &k->args[a];
            printf("%s\n    {\"id\": %u, \"name\": ", a ? "," : "", g->id);
            qv__json_fputs(stdout, g->name);
            printf(", \"type\": ");
            qv__json_fputs(stdout, g->type);
            printf(", \"address_qualifier\": %u, \"offset\": %llu, \"size\": %llu, "
                   "\"host_size\": %llu, \"port\": ",
                   g->addrq, (unsigned long long)g->offset, (unsigned long long)g->size,
                   (unsigned long long)g->host_size);
            qv__json_fputs(stdout, g->port);
            printf("}");
        }
        printf("],\n   \"cus\": [");
        for (size_t c = 0; c < k->ncus; c++) {
            const qv__xclbin_cu *cu = &k->cus[c];
            printf("%s\n    {\"name\": ", c ? "," : "");
            qv__json_fputs(stdout, cu->name);
            printf(", \"base\": %llu, \"control\": \"%s\", \"banks\": [",
                   (unsigned long long)cu->base, control_name(cu->control));
            for (size_t a = 0; a < k->nargs; a++) {
                if (cu->arg_bank[a] == QV__XCLBIN_NONE)
                    printf("%snull", a ? ", " : "");
                else
                    printf("%s%u", a ? ", " : "", cu->arg_bank[a]);
            }
            printf("]}");
        }
        printf("]}");
    }
    printf("],\n \"bitstream\": ");
    if (x->has_bitstream)
        printf("{\"offset\": %llu, \"size\": %llu}",
               (unsigned long long)x->bitstream_offset,
               (unsigned long long)x->bitstream_size);
    else
        printf("null");
    printf("}\n");
}

/* Reads standard input whole, up to max bytes: 0, QV_E2BIG, QV_EIO or
 * QV_ENOMEM; QV_EFORMAT (err says why) as soon as the first 8 bytes are not
 * xclbin2's magic, as a file is checked before the rest is read. */
static int read_stdin(size_t max, uint8_t **data, size_t *size, qv__xclbin_error *err)
{
    size_t n = 0, cap = 1 << 16, got;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return QV_ENOMEM;
    while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n >= 8 && n - got < 8 && memcmp(buf, "xclbin2", 8)) {
            free(buf);
            snprintf(err->msg, sizeof err->msg, "not an xclbin file (no xclbin2 magic)");
            return QV_EFORMAT;
        }
        if (n > max) {
            free(buf);
            return QV_E2BIG;
        }
        /* The header says how long the file is: a stream longer than that
         * is not an xclbin, whatever follows (an adversarial finding: a
         * valid file and then /dev/zero was read to 4 GiB first). */
        enum { AT = QV__AXLF_OFF_HEADER + QV__HDR_OFF_LENGTH };
        uint64_t length = n >= AT + 8 ? qv__le64(buf + AT) : UINT64_MAX;
        if (length != UINT64_MAX && n > length) {
            free(buf);
            snprintf(err->msg, sizeof err->msg,
                     "more bytes than the header's length of %llu: not one xclbin",
                     (unsigned long long)length);
            return QV_EFORMAT;
        }
        if (n == cap) {
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return QV_ENOMEM;
            }
            buf = nb;
            cap = ncap;
        }
    }
    if (ferror(stdin)) {
        free(buf);
        return QV_EIO;
    }
    *data = buf;
    *size = n;
    return 0;
}

int qv_cmd_xclbin_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int c;
    while ((c = qv_cli_getopt(argc, argv, PROG, "h", longopts)) != -1) {
        if (c == 'j') {
            json = true;
        } else if (c == 'h') {
            qv_xclbin_usage(stdout);
            return 0;
        } else {
            return QV_CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        if (optind < argc - 1)
        {
            char e1[512], e2[512];
            fprintf(stderr, PROG ": one FILE, not '%s' and '%s'\n",
                    qv__escape(argv[optind], e1, sizeof e1),
                    qv__escape(argv[optind + 1], e2, sizeof e2));
        }
        else
            fprintf(stderr, PROG ": no FILE given\n");
        fprintf(stderr, "Try '" PROG " --help'.\n");
        return QV_CLI_USAGE;
    }
    const char *path = argv[optind];
    bool in = !strcmp(path, "-");
    char e[1024]; /* a file's name as printed: escaped, as every name from a user */
    const char *name = in ? "<stdin>" : qv__escape(path, e, sizeof e);
    uint8_t *data = NULL;
    size_t size;
    qv__xclbin_error err;
    memset(&err, 0, sizeof err);
    int rc = in ? read_stdin(QV_XCLBIN_MAX_FILE, &data, &size, &err)
                : qv__xclbin_load_file(path, QV_XCLBIN_MAX_FILE, &data, &size, &err);
    if (rc) {
        fprintf(stderr, "%s: error: %s\n", name,
                err.msg[0] ? err.msg : rc == QV_E2BIG ? "file larger than 4 GiB"
                                                      : qv_strerror(rc));
        return 1;
    }
    qv__xclbin *x;
    rc = qv__xclbin_parse(data, size, &x, &err);
    if (rc) {
        fprintf(stderr, "%s: error: %s\n", name, err.msg[0] ? err.msg : qv_strerror(rc));
        free(data);
        return 1;
    }
    if (json)
        print_json(in ? "<stdin>" : path, x);
    else
        print_text(in ? "<stdin>" : path, x);
    qv__xclbin_destroy(x);
    free(data);
    return 0;
}
