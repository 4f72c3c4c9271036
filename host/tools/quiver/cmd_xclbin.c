/*
 * cmd_xclbin.c - `quiver xclbin info` and `quiver xclbin build`: the xclbin
 * reader and writer (host/src/xclbin) on the command line. `info` validates
 * a file completely before it prints anything; `build` makes an xclbin from
 * a kernel signature, with an optional payload (a bitstream, or for sw_emu
 * the kernel library built for the host). docs/xclbin.md has examples.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "quiver.h"
#include "xclbin/xclbin.h"
#include "qv_escape.h"

#define MAX_FILE (4ull << 30) /* bytes: larger files are refused */

static void xclbin_usage(FILE *out)
{
    fprintf(
        out,
        "usage: quiver xclbin info [--json] FILE\n"
        "       quiver xclbin entry --kernel 'NAME(ARG:TYPE, ...)' [--header FILE.h] -o OUT.c\n"
        "       quiver xclbin build -o OUT --platform NAME [--mode hw|sw_emu|hw_emu]\n"
        "                           [--project NAME] [--bank TYPE:SIZE[:TAG]]...\n"
        "                           [--bitstream FILE] [--timestamp SECONDS]\n"
        "                           --kernel 'NAME(ARG:TYPE, ...)' [--cus N]...\n"
        "                           [--sp CU.ARG:BANK]...\n"
        "\n"
        "info   validates FILE (header, sections, metadata) and prints its mode,\n"
        "       platform, sections, memory banks, kernels with their arguments\n"
        "       and compute units, and which bank each argument of each CU uses.\n"
        "       A malformed file gets one line naming the offset and the fault.\n"
        "\n"
        "build  writes an xclbin that XRT accepts: MEM_TOPOLOGY, IP_LAYOUT,\n"
        "       CONNECTIVITY, EMBEDDED_METADATA and, with --bitstream, BITSTREAM.\n"
        "  --kernel 'vadd(a:int*, b:const int*, n:int)'  one kernel (repeatable);\n"
        "         a TYPE ending in '*' is a global pointer into a bank, other\n"
        "         types are scalars of known size (char..double, [u]intN_t,\n"
        "         size_t) or NAME:TYPE@BYTES for any other scalar.\n"
        "  --cus N           compute units of the kernel before it (default 1),\n"
        "                    named NAME_1..NAME_N.\n"
        "  --bank TYPE:SIZE[:TAG]  a memory bank (repeatable; default DDR4:16G);\n"
        "                    TYPE DDR3, DDR4, DRAM (PLRAM), HBM, BRAM, URAM, HOST;\n"
        "                    SIZE in bytes with K, M, G or T; TAG defaults to\n"
        "                    DDR[n], HBM[n], PLRAM[n]...\n"
        "  --sp CU.ARG:BANK  connects argument ARG of compute unit CU (vadd_2)\n"
        "                    to BANK (a tag or an index); by default CU i uses\n"
        "                    bank (i-1) %% number of banks.\n"
        "  --mode            hw (XCLBIN_FLAT, default), sw_emu or hw_emu.\n"
        "  --timestamp       seconds since the epoch for the header (default\n"
        "                    $SOURCE_DATE_EPOCH, else 0: reproducible builds).\n");
}

/* ---- info ---------------------------------------------------------------- */

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

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
    json_str(path);
    printf(", \"size\": %llu, \"mode\": \"%s\", \"platform\": ",
           (unsigned long long)x->length, qv__xclbin_mode_name(x->mode));
    json_str(x->platform);
    printf(", \"uuid\": \"%s\", \"project\": ", uuid_str(x->uuid, ub));
    json_str(x->project);
    printf(", \"version\": \"%u.%u.%u\",\n \"sections\": [", x->version_major,
           x->version_minor, x->version_patch);
    for (size_t i = 0; i < x->nsections; i++) {
        const qv__xclbin_section *s = &x->sections[i];
        printf("%s\n  {\"kind\": \"%s\", \"name\": ", i ? "," : "",
               kind_name(s->kind, kb, sizeof kb));
        json_str(s->name);
        printf(", \"offset\": %llu, \"size\": %llu}", (unsigned long long)s->offset,
               (unsigned long long)s->size);
    }
    printf("],\n \"banks\": [");
    for (size_t i = 0; i < x->nbanks; i++) {
        const qv__xclbin_bank *b = &x->banks[i];
        printf("%s\n  {\"index\": %zu, \"tag\": ", i ? "," : "", i);
        json_str(b->tag);
        printf(", \"type\": \"%s\", \"size\": %llu, \"base\": %llu, \"used\": %s}",
               qv__xclbin_mem_name(b->type), (unsigned long long)b->size,
               (unsigned long long)b->base, b->used ? "true" : "false");
    }
    printf("],\n \"kernels\": [");
    for (size_t i = 0; i < x->nkernels; i++) {
        const qv__xclbin_kernel *k = &x->kernels[i];
        printf("%s\n  {\"name\": ", i ? "," : "");
        json_str(k->name);
        printf(", \"address_range\": %llu, \"args\": [",
               (unsigned long long)k->address_range);
        for (size_t a = 0; a < k->nargs; a++) {
            const qv__xclbin_arg *g = &k->args[a];
            printf("%s\n    {\"id\": %u, \"name\": ", a ? "," : "", g->id);
            json_str(g->name);
            printf(", \"type\": ");
            json_str(g->type);
            printf(", \"address_qualifier\": %u, \"offset\": %llu, \"size\": %llu, "
                   "\"host_size\": %llu, \"port\": ",
                   g->addrq, (unsigned long long)g->offset, (unsigned long long)g->size,
                   (unsigned long long)g->host_size);
            json_str(g->port);
            printf("}");
        }
        printf("],\n   \"cus\": [");
        for (size_t c = 0; c < k->ncus; c++) {
            const qv__xclbin_cu *cu = &k->cus[c];
            printf("%s\n    {\"name\": ", c ? "," : "");
            json_str(cu->name);
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

static int cmd_info(int argc, char **argv)
{
    bool json = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            xclbin_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "quiver xclbin info: unexpected '%s'\n", argv[i]);
            return 2;
        } else
            path = argv[i];
    }
    if (!path) {
        xclbin_usage(stderr);
        return 2;
    }
    uint8_t *data;
    size_t size;
    qv__xclbin_error err;
    int rc = qv__xclbin_load_file(path, MAX_FILE, &data, &size, &err);
    if (rc) {
        fprintf(stderr, "%s: error: %s\n", path, err.msg[0] ? err.msg : qv_strerror(rc));
        return 1;
    }
    qv__xclbin *x;
    rc = qv__xclbin_parse(data, size, &x, &err);
    if (rc) {
        fprintf(stderr, "%s: error: %s\n", path, err.msg[0] ? err.msg : qv_strerror(rc));
        free(data);
        return 1;
    }
    if (json)
        print_json(path, x);
    else
        print_text(path, x);
    qv__xclbin_destroy(x);
    free(data);
    return 0;
}

/* ---- build --------------------------------------------------------------- */

/* Everything build allocates, freed in one place. */
typedef struct build {
    qv__xclbin_kernel_spec kernels[QV__XCLBIN_MAX_KERNELS];
    qv__xclbin_arg_spec *args[QV__XCLBIN_MAX_KERNELS];
    char *sigs[QV__XCLBIN_MAX_KERNELS]; /* the signatures, cut in place */
    uint32_t *banks[QV__XCLBIN_MAX_KERNELS];
    size_t nkernels;
    qv__xclbin_bank_spec bank[QV__XCLBIN_MAX_BANKS];
    char *bank_strs[QV__XCLBIN_MAX_BANKS];
    size_t nbanks;
    const char *sps[256];
    size_t nsps;
    uint8_t *bitstream;
    size_t bitstream_size;
} build;

static void build_fini(build *b)
{
    for (size_t i = 0; i < b->nkernels; i++) {
        free(b->args[i]);
        free(b->sigs[i]);
        free(b->banks[i]);
    }
    for (size_t i = 0; i < b->nbanks; i++)
        free(b->bank_strs[i]);
    free(b->bitstream);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Byte sizes of the scalar types the signature syntax knows. */
static int scalar_size(const char *type)
{
    static const struct {
        const char *t;
        int size;
    } tab[] = {{"char", 1},          {"signed char", 1},
               {"unsigned char", 1}, {"bool", 1},
               {"int8_t", 1},        {"uint8_t", 1},
               {"short", 2},         {"unsigned short", 2},
               {"int16_t", 2},       {"uint16_t", 2},
               {"int", 4},           {"unsigned", 4},
               {"unsigned int", 4},  {"int32_t", 4},
               {"uint32_t", 4},      {"float", 4},
               {"long", 8},          {"unsigned long", 8},
               {"long long", 8},     {"unsigned long long", 8},
               {"int64_t", 8},       {"uint64_t", 8},
               {"size_t", 8},        {"double", 8}};
    if (!strncmp(type, "const ", 6))
        type += 6;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(type, tab[i].t))
            return tab[i].size;
    return -1;
}

/* Parses "NAME(ARG:TYPE, ...)" into b->kernels[b->nkernels]. */
static int parse_kernel(build *b, const char *sig)
{
    if (b->nkernels == QV__XCLBIN_MAX_KERNELS) {
        fprintf(stderr, "quiver xclbin build: more than %u kernels\n",
                QV__XCLBIN_MAX_KERNELS);
        return 2;
    }
    size_t ki = b->nkernels;
    char *s = strdup(sig);
    if (!s)
        return 1;
    b->sigs[ki] = s;
    b->nkernels++;
    qv__xclbin_kernel_spec *k = &b->kernels[ki];
    k->ncus = 1;
    char *open = strchr(s, '('), *close = strrchr(s, ')');
    if (!open || !close || close < open || trim(close + 1)[0]) {
        fprintf(stderr,
                "quiver xclbin build: --kernel '%s': expected NAME(ARG:TYPE, ...)\n",
                sig);
        return 2;
    }
    *open = '\0';
    *close = '\0';
    k->name = trim(s);
    char *list = trim(open + 1);
    size_t n = *list ? 1 : 0;
    for (char *p = list; *p; p++)
        n += *p == ',';
    if (n > QV__XCLBIN_MAX_ARGS) {
        fprintf(stderr, "quiver xclbin build: --kernel '%s': more than %u arguments\n",
                sig, QV__XCLBIN_MAX_ARGS);
        return 2;
    }
    if (n && !(b->args[ki] = calloc(n, sizeof *b->args[ki])))
        return 1;
    k->args = b->args[ki];
    char *save = NULL;
    for (char *tok = n ? strtok_r(list, ",", &save) : NULL; tok;
         tok = strtok_r(NULL, ",", &save)) {
        qv__xclbin_arg_spec *a = &b->args[ki][k->nargs++];
        char *colon = strchr(tok, ':');
        if (!colon) {
            fprintf(stderr,
                    "quiver xclbin build: --kernel '%s': argument '%s' lacks ':TYPE'\n",
                    sig, trim(tok));
            return 2;
        }
        *colon = '\0';
        a->name = trim(tok);
        char *type = trim(colon + 1), *at = strrchr(type, '@');
        if (at) {
            *at = '\0';
            char *end;
            unsigned long v = strtoul(at + 1, &end, 10);
            if (*end || end == at + 1 || v > 64 || v == 0) {
                fprintf(stderr,
                        "quiver xclbin build: --kernel '%s': size '@%s' of '%s' must "
                        "be 1..64 bytes\n",
                        sig, at + 1, a->name);
                return 2;
            }
            a->size = (uint32_t)v;
            type = trim(type);
        }
        a->type = type;
        size_t tl = strlen(type);
        a->global = tl && type[tl - 1] == '*';
        if (a->global)
            a->size = 8;
        else if (!at) {
            int size = scalar_size(type);
            if (size < 0) {
                fprintf(stderr,
                        "quiver xclbin build: --kernel '%s': unknown scalar type '%s' "
                        "of '%s'; write %s:%s@BYTES\n",
                        sig, type, a->name, a->name, type);
                return 2;
            }
            a->size = (uint32_t)size;
        }
    }
    if (k->nargs != n) {
        fprintf(stderr, "quiver xclbin build: --kernel '%s': empty argument\n", sig);
        return 2;
    }
    return 0;
}

/* A decimal number of seconds, whole. */
static int parse_seconds(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    *out = v;
    return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || *s == '-')
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'K':
    case 'k':
        shift = 10;
        end++;
        break;
    case 'M':
    case 'm':
        shift = 20;
        end++;
        break;
    case 'G':
    case 'g':
        shift = 30;
        end++;
        break;
    case 'T':
    case 't':
        shift = 40;
        end++;
        break;
    default:
        return -1;
    }
    if (*end == 'B' || *end == 'i')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_bank(build *b, const char *arg)
{
    if (b->nbanks == QV__XCLBIN_MAX_BANKS) {
        fprintf(stderr, "quiver xclbin build: more than %u banks\n",
                QV__XCLBIN_MAX_BANKS);
        return 2;
    }
    char *s = strdup(arg);
    if (!s)
        return 1;
    b->bank_strs[b->nbanks] = s;
    qv__xclbin_bank_spec *bk = &b->bank[b->nbanks++];
    char *size = strchr(s, ':');
    char *tag = size ? strchr(size + 1, ':') : NULL;
    if (size)
        *size++ = '\0';
    if (tag)
        *tag++ = '\0';
    int type = qv__xclbin_mem_parse(s);
    if (!size || type < 0 || type == QV__XMEM_STREAMING ||
        type == QV__XMEM_STREAMING_CONNECTION || parse_size(size, &bk->size)) {
        fprintf(stderr,
                "quiver xclbin build: --bank '%s': expected TYPE:SIZE[:TAG], e.g. "
                "DDR4:16G or HBM:256M:HBM[0]\n",
                arg);
        return 2;
    }
    bk->type = (uint8_t)type;
    bk->tag = tag;
    return 0;
}

/* Applies one --sp CU.ARG:BANK. */
static int apply_sp(build *b, const char *sp, const qv__xclbin_spec *spec)
{
    const char *dot = strchr(sp, '.'), *colon = strrchr(sp, ':');
    if (!dot || !colon || colon < dot) {
        fprintf(stderr, "quiver xclbin build: --sp '%s': expected CU.ARG:BANK\n", sp);
        return 2;
    }
    for (size_t ki = 0; ki < b->nkernels; ki++) {
        qv__xclbin_kernel_spec *k = &b->kernels[ki];
        size_t kl = strlen(k->name);
        if ((size_t)(dot - sp) <= kl + 1 || strncmp(sp, k->name, kl) || sp[kl] != '_')
            continue;
        char *end;
        unsigned long cu = strtoul(sp + kl + 1, &end, 10);
        if (end != dot || cu < 1 || cu > k->ncus)
            continue;
        for (size_t a = 0; a < k->nargs; a++) {
            size_t al = strlen(k->args[a].name);
            if ((size_t)(colon - dot - 1) != al || strncmp(dot + 1, k->args[a].name, al))
                continue;
            if (!k->args[a].global) {
                fprintf(stderr, "quiver xclbin build: --sp '%s': '%s' is a scalar\n", sp,
                        k->args[a].name);
                return 2;
            }
            const char *bank = colon + 1;
            char *end2;
            unsigned long idx = strtoul(bank, &end2, 10);
            for (size_t i = 0; i < spec->nbanks; i++) {
                char tag[16];
                qv__xclbin_bank_tag(spec, i, tag);
                if (!strcmp(tag, bank) || (end2 != bank && !*end2 && idx == i)) {
                    b->banks[ki][(cu - 1) * k->nargs + a] = (uint32_t)i;
                    return 0;
                }
            }
            fprintf(stderr,
                    "quiver xclbin build: --sp '%s': no bank '%s' (give a --bank "
                    "TAG or an index)\n",
                    sp, bank);
            return 2;
        }
    }
    fprintf(stderr, "quiver xclbin build: --sp '%s': no such compute unit and argument\n",
            sp);
    return 2;
}

static int write_file(const char *path, const uint8_t *d, size_t n)
{
    size_t len = strlen(path) + 8;
    char *tmp = malloc(len);
    if (!tmp)
        return QV_ENOMEM;
    snprintf(tmp, len, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f)
        rc = -errno;
    else {
        if (fwrite(d, 1, n, f) != n)
            rc = QV_EIO;
        if (fclose(f) != 0 && !rc)
            rc = -errno;
        if (!rc && rename(tmp, path) != 0)
            rc = -errno;
        if (rc)
            remove(tmp);
    }
    free(tmp);
    return rc;
}

static int build_run(build *b, int argc, char **argv)
{
    const char *out = NULL, *platform = NULL, *project = NULL, *bitstream = NULL;
    uint16_t mode = QV__XCLBIN_FLAT;
    uint64_t timestamp = 0;
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && parse_seconds(sde, &timestamp))
        timestamp = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            xclbin_usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "quiver xclbin build: '%s' %s\n", a,
                    a[0] == '-' ? "needs a value" : "is unexpected");
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            out = v;
        else if (!strcmp(a, "--platform"))
            platform = v;
        else if (!strcmp(a, "--project"))
            project = v;
        else if (!strcmp(a, "--bitstream"))
            bitstream = v;
        else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "hw"))
                mode = QV__XCLBIN_FLAT;
            else if (!strcmp(v, "sw_emu"))
                mode = QV__XCLBIN_SW_EMU;
            else if (!strcmp(v, "hw_emu"))
                mode = QV__XCLBIN_HW_EMU;
            else {
                fprintf(stderr,
                        "quiver xclbin build: --mode '%s': expected hw, sw_emu or "
                        "hw_emu\n",
                        v);
                return 2;
            }
        } else if (!strcmp(a, "--timestamp")) {
            if (parse_seconds(v, &timestamp)) {
                fprintf(stderr,
                        "quiver xclbin build: --timestamp '%s': expected seconds\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--kernel"))
            rc = parse_kernel(b, v);
        else if (!strcmp(a, "--cus")) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (!b->nkernels || *end || end == v || n < 1 || n > QV__XCLBIN_MAX_CUS) {
                fprintf(stderr,
                        "quiver xclbin build: --cus '%s': expected 1..%u after a "
                        "--kernel\n",
                        v, QV__XCLBIN_MAX_CUS);
                return 2;
            }
            b->kernels[b->nkernels - 1].ncus = (unsigned)n;
        } else if (!strcmp(a, "--bank"))
            rc = parse_bank(b, v);
        else if (!strcmp(a, "--sp")) {
            if (b->nsps == sizeof b->sps / sizeof b->sps[0]) {
                fprintf(stderr, "quiver xclbin build: too many --sp\n");
                return 2;
            }
            b->sps[b->nsps++] = v;
        } else {
            fprintf(stderr, "quiver xclbin build: unknown option '%s'\n", a);
            return 2;
        }
        if (rc)
            return rc;
    }
    if (!out || !platform || !b->nkernels) {
        fprintf(stderr,
                "quiver xclbin build: -o, --platform and --kernel are required\n");
        return 2;
    }
    if (!b->nbanks) {
        b->bank[0] = (qv__xclbin_bank_spec){.type = QV__XMEM_DDR4, .size = 16ull << 30};
        b->nbanks = 1;
    }
    qv__xclbin_spec spec = {.platform = platform,
                            .project = project,
                            .mode = mode,
                            .timestamp = timestamp,
                            .banks = b->bank,
                            .nbanks = b->nbanks,
                            .auto_base = true,
                            .kernels = b->kernels,
                            .nkernels = b->nkernels};
    for (size_t ki = 0; ki < b->nkernels && b->nsps; ki++) {
        qv__xclbin_kernel_spec *k = &b->kernels[ki];
        if (!k->nargs)
            continue;
        if (!(b->banks[ki] = calloc((size_t)k->ncus * k->nargs, sizeof *b->banks[ki])))
            return 1;
        for (unsigned c = 0; c < k->ncus; c++)
            for (size_t a = 0; a < k->nargs; a++)
                b->banks[ki][c * k->nargs + a] = (uint32_t)(c % b->nbanks);
        k->banks = b->banks[ki];
    }
    for (size_t i = 0; i < b->nsps; i++) {
        int rc = apply_sp(b, b->sps[i], &spec);
        if (rc)
            return rc;
    }
    if (bitstream) {
        int rc =
            qv__xclbin_read_file(bitstream, MAX_FILE, &b->bitstream, &b->bitstream_size);
        if (rc) {
            fprintf(stderr, "%s: error: %s\n", bitstream,
                    rc == QV_E2BIG  ? "file larger than 4 GiB"
                    : rc == -EISDIR ? "is a directory"
                    : rc == QV_EINVAL ? "not a regular file"
                                      : qv_strerror(rc));
            return 1;
        }
        spec.bitstream = b->bitstream;
        spec.bitstream_size = b->bitstream_size;
    }
    uint8_t *file;
    size_t size;
    char msg[256];
    int rc = qv__xclbin_write(&spec, &file, &size, msg, sizeof msg);
    if (rc) {
        fprintf(stderr, "quiver xclbin build: %s\n", msg);
        return rc == QV_EINVAL ? 2 : 1;
    }
    rc = write_file(out, file, size);
    free(file);
    if (rc) {
        fprintf(stderr, "%s: error: %s\n", out, qv_strerror(rc));
        return 1;
    }
    return 0;
}

/* ---- entry -------------------------------------------------------------- */

/*
 * `quiver xclbin entry`: writes the emulation entry of a kernel, the C
 * function `void NAME__emu(const uint64_t *args)` that the emulated board
 * calls with the arguments by id (device addresses for global pointers,
 * the value's bytes, little-endian, for scalars) and that calls the HLS top
 * function. Built with the kernel's C source into the library that travels
 * in an sw_emu xclbin's BITSTREAM (see devices/emu.c).
 */
static int cmd_entry(int argc, char **argv)
{
    const char *sig = NULL, *header = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--kernel") && i + 1 < argc)
            sig = argv[++i];
        else if (!strcmp(argv[i], "--header") && i + 1 < argc)
            header = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else {
            fprintf(stderr, "quiver xclbin entry: unexpected '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!sig || !out) {
        fprintf(stderr, "usage: quiver xclbin entry --kernel 'NAME(ARG:TYPE, ...)' "
                        "[--header FILE.h] -o OUT.c\n");
        return 2;
    }
    build *b = calloc(1, sizeof *b);
    if (!b)
        return 1;
    int rc = parse_kernel(b, sig);
    if (rc) {
        build_fini(b);
        free(b);
        return rc;
    }
    const qv__xclbin_kernel_spec *k = &b->kernels[0];
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "quiver xclbin entry: cannot write %s: %s\n", out, strerror(errno));
        build_fini(b);
        free(b);
        return 1;
    }
    fprintf(f, "/* Generated by `quiver xclbin entry`: the emulation entry of kernel %s.\n"
               " * Arguments come by id: global pointers as device addresses, scalars\n"
               " * as their value's bytes (little-endian). */\n"
               "#include <stdint.h>\n#include <string.h>\n",
            k->name);
    if (header) {
        fprintf(f, "#include \"%s\"\n", header);
    } else {
        fprintf(f, "\nvoid %s(", k->name);
        for (size_t i = 0; i < k->nargs; i++)
            fprintf(f, "%s%s %s", i ? ", " : "", k->args[i].type, k->args[i].name);
        fprintf(f, "%s);\n", k->nargs ? "" : "void");
    }
    fprintf(f, "\nvoid %s__emu(const uint64_t *args);\n\nvoid %s__emu(const uint64_t *args)\n{\n",
            k->name, k->name);
    if (!k->nargs)
        fprintf(f, "    (void)args;\n");
    for (size_t i = 0; i < k->nargs; i++) {
        const qv__xclbin_arg_spec *a = &k->args[i];
        if (a->global)
            fprintf(f, "    %s a%zu = (%s)(uintptr_t)args[%zu];\n", a->type, i, a->type, i);
        else
            fprintf(f, "    %s a%zu;\n    memcpy(&a%zu, &args[%zu], sizeof a%zu);\n", a->type, i,
                    i, i, i);
    }
    fprintf(f, "    %s(", k->name);
    for (size_t i = 0; i < k->nargs; i++)
        fprintf(f, "%sa%zu", i ? ", " : "", i);
    fprintf(f, ");\n}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "quiver xclbin entry: error writing %s\n", out);
        rc = 1;
    }
    build_fini(b);
    free(b);
    return rc;
}

int qv_cmd_xclbin(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        xclbin_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "info"))
        return cmd_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "entry"))
        return cmd_entry(argc - 1, argv + 1);
    if (!strcmp(argv[1], "build")) {
        build *b = calloc(1, sizeof *b);
        if (!b)
            return 1;
        int rc = build_run(b, argc - 1, argv + 1);
        build_fini(b);
        free(b);
        return rc;
    }
    fprintf(stderr, "quiver xclbin: unknown subcommand '%s'\n", argv[1]);
    xclbin_usage(stderr);
    return 2;
}
