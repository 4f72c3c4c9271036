/*
 * cmd_xclbin_build.c - `quiver xclbin build`: writes an xclbin that XRT
 * accepts from kernel signatures (--kernel, cmd_xclbin_sig.c), memory banks
 * (--bank), the connectivity of compute units to banks (--sp) and an
 * optional payload (--bitstream: a bitstream, or for sw_emu the kernel
 * library built for the host). `-o -` writes to standard output.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_xclbin.h"
#include "quiver.h"
#include "qv_escape.h"
#include "qv_file.h"
#include "qv_text.h"

#define PROG "quiver xclbin build"

/* Everything build allocates, freed in one place. */
typedef struct build {
    qv_xsig sig;
    uint32_t *banks[QV__XCLBIN_MAX_KERNELS]; /* per kernel: CU x arg -> bank */
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
    for (size_t i = 0; i < b->sig.nkernels; i++)
        free(b->banks[i]);
    qv_xsig_fini(&b->sig);
    for (size_t i = 0; i < b->nbanks; i++)
        free(b->bank_strs[i]);
    free(b->bitstream);
}

/* A decimal number of seconds, whole (digits only: a tab or a newline
 * before them was taken). */
static int parse_seconds(const char *s, uint64_t *out)
{
    unsigned long v;
    if (!qv__parse_dec(s, ULONG_MAX, &v))
        return -1;
    *out = v;
    return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || !isdigit((unsigned char)*s)) /* ' 5K', '+5K' were taken */
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
        fprintf(stderr, PROG ": more than %u banks\n",
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
                PROG ": --bank '%s': expected TYPE:SIZE[:TAG], e.g. "
                     "DDR4:16G or HBM:256M:HBM[0]\n",
                qv_cli_esc(arg));
        return 2;
    }
    bk->type = (uint8_t)type;
    bk->tag = tag;
    return 0;
}

/* --sp names a bank by its tag: two banks with one tag (a TAG given twice,
 * or a TAG that is another bank's default such as DDR[0]) would leave it
 * naming whichever comes first, and XRT too finds banks by tag. */
static int check_tags(const qv__xclbin_spec *spec)
{
    for (size_t i = 1; i < spec->nbanks; i++)
        for (size_t j = 0; j < i; j++) {
            char a[16], t[16], e[64];
            qv__xclbin_bank_tag(spec, j, a);
            qv__xclbin_bank_tag(spec, i, t);
            if (!strcmp(a, t)) {
                fprintf(stderr,
                        PROG ": --bank: banks %zu and %zu are both tagged '%s'; "
                             "expected a TAG of its own for each bank\n",
                        j, i, qv__escape(t, e, sizeof e));
                return 2;
            }
        }
    return 0;
}

/* Applies one --sp CU.ARG:BANK. */
static int apply_sp(build *b, const char *sp, const qv__xclbin_spec *spec)
{
    const char *dot = strchr(sp, '.'), *colon = strrchr(sp, ':');
    if (!dot || !colon || colon < dot) {
        fprintf(stderr, PROG ": --sp '%s': expected CU.ARG:BANK\n", qv_cli_esc(sp));
        return 2;
    }
    for (size_t ki = 0; ki < b->sig.nkernels; ki++) {
        qv__xclbin_kernel_spec *k = &b->sig.kernels[ki];
        size_t kl = strlen(k->name);
        if ((size_t)(dot - sp) <= kl + 1 || strncmp(sp, k->name, kl) || sp[kl] != '_')
            continue;
        char *end;
        unsigned long cu = strtoul(sp + kl + 1, &end, 10);
        if (!isdigit((unsigned char)sp[kl + 1]) || end != dot || cu < 1 || cu > k->ncus)
            continue;
        for (size_t a = 0; a < k->nargs; a++) {
            size_t al = strlen(k->args[a].name);
            if ((size_t)(colon - dot - 1) != al || strncmp(dot + 1, k->args[a].name, al))
                continue;
            if (!k->args[a].global) {
                fprintf(stderr, PROG ": --sp '%s': '%s' is a scalar\n", qv_cli_esc(sp),
                        k->args[a].name);
                return 2;
            }
            const char *bank = colon + 1;
            char *end2;
            unsigned long idx = strtoul(bank, &end2, 10);
            for (size_t i = 0; i < spec->nbanks; i++) {
                char tag[16];
                qv__xclbin_bank_tag(spec, i, tag);
                if (!strcmp(tag, bank) ||
                    (isdigit((unsigned char)*bank) && !*end2 && idx == i)) {
                    b->banks[ki][(cu - 1) * k->nargs + a] = (uint32_t)i;
                    return 0;
                }
            }
            fprintf(stderr,
                    PROG ": --sp '%s': no bank '%s' (give a --bank "
                         "TAG or an index)\n",
                    qv_cli_esc(sp), qv_cli_esc(bank));
            return 2;
        }
    }
    fprintf(stderr, PROG ": --sp '%s': no such compute unit and argument\n",
            qv_cli_esc(sp));
    return 2;
}


/* Writes the file through a temporary and a rename, so that a reader never
 * sees half of it (qv_cli_out_open); "-" writes standard output, a FIFO or
 * a device is written through. Says what went wrong on stderr; 0 or 1. */
static int write_file(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = qv_cli_out_open(PROG, path, "wb");
    if (!f)
        return 1;
    int failed = fwrite(d, 1, n, f) != n;
    return qv_cli_out_close(PROG, f, path, failed);
}

enum { B_PLATFORM = 256, B_PROJECT, B_BITSTREAM, B_MODE, B_TIMESTAMP, B_KERNEL, B_CUS,
       B_BANK, B_SP };

static int build_run(build *b, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"platform", required_argument, NULL, B_PLATFORM},
        {"project", required_argument, NULL, B_PROJECT},
        {"bitstream", required_argument, NULL, B_BITSTREAM},
        {"mode", required_argument, NULL, B_MODE},
        {"timestamp", required_argument, NULL, B_TIMESTAMP},
        {"kernel", required_argument, NULL, B_KERNEL},
        {"cus", required_argument, NULL, B_CUS},
        {"bank", required_argument, NULL, B_BANK},
        {"sp", required_argument, NULL, B_SP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *platform = NULL, *project = NULL, *bitstream = NULL;
    uint16_t mode = QV__XCLBIN_FLAT;
    uint64_t timestamp = 0;
    bool stamped = false; /* --timestamp given: SOURCE_DATE_EPOCH not read */
    int c;
    size_t cus_of = SIZE_MAX; /* the kernel a --cus was given for */
    /* In order: --cus applies to the --kernel before it. */
    while ((c = qv_cli_getopt(argc, argv, PROG, "o:h", longopts)) != -1) {
        const char *v = optarg;
        int rc = 0;
        switch (c) {
        case 'h':
            qv_xclbin_usage(stdout);
            return 0;
        case 'o':
            out = v;
            break;
        case B_PLATFORM:
            platform = v;
            break;
        case B_PROJECT:
            project = v;
            break;
        case B_BITSTREAM:
            bitstream = v;
            break;
        case B_MODE:
            if (!strcmp(v, "hw")) {
                mode = QV__XCLBIN_FLAT;
            } else if (!strcmp(v, "sw_emu")) {
                mode = QV__XCLBIN_SW_EMU;
            } else if (!strcmp(v, "hw_emu")) {
                mode = QV__XCLBIN_HW_EMU;
            } else {
                fprintf(stderr, PROG ": --mode '%s': expected hw, sw_emu or hw_emu\n",
                        qv_cli_esc(v));
                return QV_CLI_USAGE;
            }
            break;
        case B_TIMESTAMP:
            if (parse_seconds(v, &timestamp)) {
                fprintf(stderr, PROG ": --timestamp '%s': expected seconds\n",
                        qv_cli_esc(v));
                return QV_CLI_USAGE;
            }
            stamped = true;
            break;
        case B_KERNEL:
            rc = qv_xsig_parse(&b->sig, PROG, v);
            break;
        case B_CUS: {
            unsigned long n;
            if (!b->sig.nkernels || !qv__parse_dec(v, QV__XCLBIN_MAX_CUS, &n) || n < 1) {
                fprintf(stderr, PROG ": --cus '%s': expected 1..%u after a --kernel\n",
                        qv_cli_esc(v), QV__XCLBIN_MAX_CUS);
                return QV_CLI_USAGE;
            }
            if (cus_of == b->sig.nkernels - 1) { /* the last one won, silently */
                fprintf(stderr, PROG ": --cus given twice for one --kernel\n");
                return QV_CLI_USAGE;
            }
            cus_of = b->sig.nkernels - 1;
            b->sig.kernels[b->sig.nkernels - 1].ncus = (unsigned)n;
            break;
        }
        case B_BANK:
            rc = parse_bank(b, v);
            break;
        case B_SP:
            if (b->nsps == sizeof b->sps / sizeof b->sps[0]) {
                fprintf(stderr, PROG ": too many --sp\n");
                return QV_CLI_USAGE;
            }
            b->sps[b->nsps++] = v;
            break;
        default:
            return QV_CLI_USAGE;
        }
        if (rc)
            return rc;
    }
    if (optind < argc) {
        return qv_cli_unexpected(PROG, argv[optind]);
    }
    if (!out || !platform || !b->sig.nkernels) {
        fprintf(stderr, PROG ": -o, --platform and --kernel are required\nTry '" PROG
                             " --help'.\n");
        return QV_CLI_USAGE;
    }
    /* A malformed SOURCE_DATE_EPOCH ends the build, as the
     * reproducible-builds specification asks (it was taken as 0); an
     * empty one is unset. */
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (!stamped && sde && *sde && parse_seconds(sde, &timestamp)) {
        fprintf(stderr,
                PROG ": SOURCE_DATE_EPOCH '%s': expected seconds since the epoch\n",
                qv_cli_esc(sde));
        return 1;
    }
    if (qv_cli_overwrites(PROG, "-o", out, "--bitstream", bitstream))
        return QV_CLI_USAGE;
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
                            .kernels = b->sig.kernels,
                            .nkernels = b->sig.nkernels};
    for (size_t ki = 0; ki < b->sig.nkernels && b->nsps; ki++) {
        qv__xclbin_kernel_spec *k = &b->sig.kernels[ki];
        if (!k->nargs)
            continue;
        if (!(b->banks[ki] = calloc((size_t)k->ncus * k->nargs, sizeof *b->banks[ki])))
            return 1;
        for (unsigned cu = 0; cu < k->ncus; cu++)
            for (size_t a = 0; a < k->nargs; a++)
                b->banks[ki][cu * k->nargs + a] = (uint32_t)(cu % b->nbanks);
        k->banks = b->banks[ki];
    }
    if (check_tags(&spec))
        return 2;
    for (size_t i = 0; i < b->nsps; i++) {
        int rc = apply_sp(b, b->sps[i], &spec);
        if (rc)
            return rc;
        /* One CU.ARG twice: the last one won, silently (adversarial). */
        size_t n = (size_t)(strrchr(b->sps[i], ':') - b->sps[i]);
        for (size_t j = 0; j < i; j++)
            if (!strncmp(b->sps[j], b->sps[i], n) && b->sps[j][n] == ':') {
                char cu[256];
                snprintf(cu, sizeof cu, "%.*s", (int)n, b->sps[i]);
                fprintf(stderr, PROG ": --sp gives %s twice ('%s' and '%s')\n",
                        qv_cli_esc(cu), qv_cli_esc(b->sps[j]), qv_cli_esc(b->sps[i]));
                return 2;
            }
    }
    if (bitstream) {
        /* The reader's own words: "no such entry" (qv_strerror) did not
         * say the file was missing (a user's reading of the docs). */
        char why[QV__FILE_WHY], *data;
        size_t n;
        int rc = qv__file_load(bitstream, QV_XCLBIN_MAX_FILE, &data, &n, why);
        if (rc) {
            fprintf(stderr, "%s: error: %s\n", qv_cli_esc(bitstream),
                    rc == -EFBIG ? "file larger than 4 GiB" : why);
            return 1;
        }
        b->bitstream = (uint8_t *)data;
        b->bitstream_size = n;
        spec.bitstream = b->bitstream;
        spec.bitstream_size = b->bitstream_size;
    }
    uint8_t *file;
    size_t size;
    char msg[256];
    int rc = qv__xclbin_write(&spec, &file, &size, msg, sizeof msg);
    if (rc) {
        fprintf(stderr, PROG ": %s\n", msg);
        return rc == QV_EINVAL ? 2 : 1;
    }
    rc = write_file(out, file, size);
    free(file);
    return rc;
}

int qv_cmd_xclbin_build(int argc, char **argv)
{
    build *b = calloc(1, sizeof *b);
    if (!b)
        return 1;
    int rc = build_run(b, argc, argv);
    build_fini(b);
    free(b);
    return rc;
}
