/*
 * xclbin_write.c - the writer of xclbin.h: from a kernel signature to a
 * complete xclbin, the way the Vitis linker lays one out, without Vitis.
 * The file is: the axlf header, the section table, then each section at an
 * 8-byte boundary (zero padding in between): MEM_TOPOLOGY, IP_LAYOUT (one
 * AP_CTRL_HS IP per CU, sorted by base address as XRT expects),
 * CONNECTIVITY (every global arg of every CU to one bank),
 * EMBEDDED_METADATA and an optional BITSTREAM. The header's uuid is a hash
 * of the content and the timestamp comes from the spec, so a build is
 * reproducible byte for byte.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quiver.h"
#include "qv_text.h"
#include "xclbin/layout.h"
#include "xclbin/meta.h"
#include "xclbin/xclbin.h"

/* The XRT release whose format this follows, written as the tool version. */
#define WRITER_VERSION_MAJOR 2
#define WRITER_VERSION_MINOR 13
#define WRITER_VERSION_PATCH 0
/* Where auto_base packs the banks (the first DDR bank of Alveo cards). */
#define AUTO_BASE 0x4000000000ull

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
bad(char *msg, size_t msglen, const char *fmt, ...)
{
    if (msg && msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return QV_EINVAL;
}

static bool is_printable(const char *s, size_t max)
{
    size_t n = 0;
    for (; *s; s++, n++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || n >= max)
            return false;
    return true;
}

static int check_spec(const qv__xclbin_spec *sp, char *msg, size_t msglen)
{
    if (!sp->platform || !*sp->platform || !is_printable(sp->platform, QV__VBNV_LEN - 1))
        return bad(msg, msglen, "platform name must be 1..%d printable ASCII characters",
                   QV__VBNV_LEN - 1);
    if (sp->project && (!*sp->project || !is_printable(sp->project, 128)))
        return bad(msg, msglen, "project name must be 1..128 printable ASCII characters");
    if (sp->mode != QV__XCLBIN_FLAT && sp->mode != QV__XCLBIN_SW_EMU &&
        sp->mode != QV__XCLBIN_HW_EMU)
        return bad(msg, msglen,
                   "mode %u: the writer makes FLAT (hw), SW_EMU or HW_EMU files",
                   sp->mode);
    if (sp->nbanks < 1 || sp->nbanks > QV__XCLBIN_MAX_BANKS || !sp->banks)
        return bad(msg, msglen, "%zu memory banks; expected 1..%u", sp->nbanks,
                   QV__XCLBIN_MAX_BANKS);
    for (size_t i = 0; i < sp->nbanks; i++) {
        const qv__xclbin_bank_spec *b = &sp->banks[i];
        if (!qv__xclbin_mem_name(b->type) || b->type == QV__XMEM_STREAMING ||
            b->type == QV__XMEM_STREAMING_CONNECTION)
            return bad(msg, msglen, "bank %zu: type %u is not a memory type", i, b->type);
        if (!b->size || b->size % 1024)
            return bad(msg, msglen,
                       "bank %zu: size %llu is not a positive multiple of 1024", i,
                       (unsigned long long)b->size);
        if (b->tag && (!*b->tag || !is_printable(b->tag, QV__XMEM_TAG_LEN - 1)))
            return bad(msg, msglen, "bank %zu: tag must be 1..%d printable characters", i,
                       QV__XMEM_TAG_LEN - 1);
    }
    if (sp->nkernels < 1 || sp->nkernels > QV__XCLBIN_MAX_KERNELS || !sp->kernels)
        return bad(msg, msglen, "%zu kernels; expected 1..%u", sp->nkernels,
                   QV__XCLBIN_MAX_KERNELS);
    /* What our reader (and the runtime) takes, all kernels together: 33
     * kernels of 128 CUs made a file that `xclbin info` refused
     * (adversarial testing). */
    size_t ips = 0, conns = 0;
    for (size_t ki = 0; ki < sp->nkernels; ki++) {
        ips += sp->kernels[ki].ncus;
        conns += (size_t)sp->kernels[ki].ncus * sp->kernels[ki].nargs;
    }
    if (ips > QV__XCLBIN_READ_MAX_IPS || ips > QV__XCLBIN_READ_MAX_INSTANCES)
        return bad(msg, msglen, "%zu compute units in all; at most %u", ips,
                   QV__XCLBIN_READ_MAX_IPS < QV__XCLBIN_READ_MAX_INSTANCES
                       ? QV__XCLBIN_READ_MAX_IPS
                       : QV__XCLBIN_READ_MAX_INSTANCES);
    if (conns > QV__XCLBIN_READ_MAX_CONNS)
        return bad(msg, msglen, "%zu argument connections in all; at most %u", conns,
                   QV__XCLBIN_READ_MAX_CONNS);
    for (size_t ki = 0; ki < sp->nkernels; ki++) {
        const qv__xclbin_kernel_spec *k = &sp->kernels[ki];
        if (!qv__is_c_ident(k->name))
            return bad(msg, msglen, "kernel %zu: name '%s' is not a C identifier", ki,
                       k->name ? k->name : "(null)");
        /* The IP name "k:k_<ncus>" must fit in 63 bytes. */
        if (2 * strlen(k->name) + 2 + 3 > QV__IP_NAME_LEN - 1)
            return bad(msg, msglen, "kernel '%s': name longer than %d characters",
                       k->name, (QV__IP_NAME_LEN - 1 - 5) / 2);
        for (size_t j = 0; j < ki; j++)
            if (!strcmp(sp->kernels[j].name, k->name))
                return bad(msg, msglen, "kernel '%s' is given twice", k->name);
        if (k->ncus < 1 || k->ncus > QV__XCLBIN_MAX_CUS)
            return bad(msg, msglen, "kernel '%s': %u compute units; expected 1..%u",
                       k->name, k->ncus, QV__XCLBIN_MAX_CUS);
        if (k->nargs > QV__XCLBIN_MAX_ARGS || (k->nargs && !k->args))
            return bad(msg, msglen, "kernel '%s': %zu arguments; at most %u", k->name,
                       k->nargs, QV__XCLBIN_MAX_ARGS);
        for (size_t a = 0; a < k->nargs; a++) {
            const qv__xclbin_arg_spec *arg = &k->args[a];
            if (!qv__is_c_ident(arg->name))
                return bad(msg, msglen,
                           "kernel '%s': argument %zu: name '%s' is not a C "
                           "identifier",
                           k->name, a, arg->name ? arg->name : "(null)");
            for (size_t j = 0; j < a; j++)
                if (!strcmp(k->args[j].name, arg->name))
                    return bad(msg, msglen, "kernel '%s': argument '%s' is given twice",
                               k->name, arg->name);
            if (!arg->type || !*arg->type || !is_printable(arg->type, 128))
                return bad(msg, msglen,
                           "kernel '%s': argument '%s': type must be 1..128 "
                           "printable characters",
                           k->name, arg->name);
            if (!arg->global && (arg->size < 1 || arg->size > 64))
                return bad(msg, msglen,
                           "kernel '%s': argument '%s': scalar size %u; "
                           "expected 1..64 bytes",
                           k->name, arg->name, arg->size);
            for (unsigned c = 0; arg->global && k->banks && c < k->ncus; c++)
                if (k->banks[c * k->nargs + a] >= sp->nbanks)
                    return bad(msg, msglen,
                               "kernel '%s': CU %u: argument '%s' connects to "
                               "bank %u; there are %zu",
                               k->name, c + 1, arg->name, k->banks[c * k->nargs + a],
                               sp->nbanks);
        }
    }
    if (sp->bitstream_size && !sp->bitstream)
        return bad(msg, msglen, "bitstream of %zu bytes without data",
                   sp->bitstream_size);
    return 0;
}

/* Two FNV-1a 64 streams with different bases, for 128 bits of content hash:
 * not cryptographic, only a stable identity for identical builds. */
static void content_uuid(const uint8_t *d, size_t n, uint8_t uuid[16])
{
    uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
    for (size_t i = 0; i < n; i++) {
        h1 = (h1 ^ d[i]) * 0x100000001b3ull;
        h2 = (h2 ^ d[i] ^ (uint8_t)i) * 0x100000001b3ull;
    }
    qv__put64(uuid, h1);
    qv__put64(uuid + 8, h2);
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x80); /* RFC 9562 version 8 */
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* variant 10 */
}

void qv__xclbin_bank_tag(const qv__xclbin_spec *sp, size_t i, char tag[16])
{
    const qv__xclbin_bank_spec *b = &sp->banks[i];
    if (b->tag) {
        snprintf(tag, QV__XMEM_TAG_LEN, "%s", b->tag);
        return;
    }
    /* "DDR[n]", "HBM[n]", "PLRAM[n]", ...: n counts banks of that family. */
    const char *family = b->type == QV__XMEM_DDR3 || b->type == QV__XMEM_DDR4 ? "DDR"
                         : b->type == QV__XMEM_DRAM                          ? "PLRAM"
                                                   : qv__xclbin_mem_name(b->type);
    unsigned n = 0;
    for (size_t j = 0; j < i; j++) {
        uint8_t t = sp->banks[j].type;
        bool same =
            t == b->type || ((t == QV__XMEM_DDR3 || t == QV__XMEM_DDR4) &&
                             (b->type == QV__XMEM_DDR3 || b->type == QV__XMEM_DDR4));
        n += same && !sp->banks[j].tag;
    }
    snprintf(tag, QV__XMEM_TAG_LEN, "%.8s[%u]", family, n);
}

typedef struct sect {
    uint32_t kind;
    const char *name;
    uint64_t offset, size;
} sect;

int qv__xclbin_write(const qv__xclbin_spec *sp, uint8_t **out, size_t *size, char *msg,
                     size_t msglen)
{
    *out = NULL;
    *size = 0;
    int rc = check_spec(sp, msg, msglen);
    if (rc)
        return rc;
    char *xml = NULL;
    size_t xml_len = 0;
    if ((rc = qv__xclbin_meta_encode(sp, &xml, &xml_len)))
        return bad(msg, msglen, "out of memory"), rc;

    size_t nips = 0, nconns = 0;
    for (size_t ki = 0; ki < sp->nkernels; ki++) {
        const qv__xclbin_kernel_spec *k = &sp->kernels[ki];
        nips += k->ncus;
        for (size_t a = 0; a < k->nargs; a++)
            nconns += k->args[a].global ? k->ncus : 0;
    }
    sect s[5] = {
        {QV__SECT_MEM_TOPOLOGY, "mem_topology", 0,
         QV__MEMTOP_OFF_DATA + sp->nbanks * QV__XMEM_SIZE},
        {QV__SECT_IP_LAYOUT, "ip_layout", 0, QV__IPL_OFF_DATA + nips * QV__IP_SIZE},
        {QV__SECT_CONNECTIVITY, "connectivity", 0,
         QV__CONN_OFF_DATA + nconns * QV__CONN_SIZE},
        {QV__SECT_EMBEDDED_METADATA, "metadata", 0, xml_len},
        {QV__SECT_BITSTREAM, "bitstream", 0, sp->bitstream_size},
    };
    size_t nsect = sp->bitstream ? 5 : 4;
    uint64_t pos = QV__AXLF_OFF_SECTIONS + nsect * QV__SEC_SIZE;
    for (size_t i = 0; i < nsect; i++) {
        pos = (pos + 7) & ~(uint64_t)7;
        s[i].offset = pos;
        pos += s[i].size;
    }
    if (pos > SIZE_MAX) {
        free(xml);
        return bad(msg, msglen, "file would exceed the address space");
    }
    uint8_t *d = calloc(1, (size_t)pos);
    if (!d) {
        free(xml);
        return bad(msg, msglen, "out of memory"), QV_ENOMEM;
    }

    /* struct axlf and its header. */
    memcpy(d + QV__AXLF_OFF_MAGIC, QV__AXLF_MAGIC, 8);
    qv__put32(d + QV__AXLF_OFF_SIGLEN, UINT32_MAX); /* -1: not signed */
    memset(d + QV__AXLF_OFF_RESERVED, 0xff, 28);
    memset(d + QV__AXLF_OFF_KEYBLOCK, 0xff, 256);
    uint8_t *h = d + QV__AXLF_OFF_HEADER;
    qv__put64(h + QV__HDR_OFF_LENGTH, pos);
    qv__put64(h + QV__HDR_OFF_TIMESTAMP, sp->timestamp);
    qv__put16(h + QV__HDR_OFF_VERSION_PATCH, WRITER_VERSION_PATCH);
    h[QV__HDR_OFF_VERSION_MAJOR] = WRITER_VERSION_MAJOR;
    h[QV__HDR_OFF_VERSION_MINOR] = WRITER_VERSION_MINOR;
    qv__put16(h + QV__HDR_OFF_MODE, sp->mode);
    memcpy(h + QV__HDR_OFF_VBNV, sp->platform, strlen(sp->platform));
    qv__put32(h + QV__HDR_OFF_NUM_SECTIONS, (uint32_t)nsect);
    for (size_t i = 0; i < nsect; i++) {
        uint8_t *p = d + QV__AXLF_OFF_SECTIONS + i * QV__SEC_SIZE;
        qv__put32(p + QV__SEC_OFF_KIND, s[i].kind);
        memcpy(p + QV__SEC_OFF_NAME, s[i].name, strlen(s[i].name));
        qv__put64(p + QV__SEC_OFF_OFFSET, s[i].offset);
        qv__put64(p + QV__SEC_OFF_SIZE, s[i].size);
    }

    /* MEM_TOPOLOGY. */
    uint8_t *p = d + s[0].offset;
    qv__put32(p, (uint32_t)sp->nbanks);
    uint64_t base = AUTO_BASE;
    for (size_t i = 0; i < sp->nbanks; i++) {
        uint8_t *m = p + QV__MEMTOP_OFF_DATA + i * QV__XMEM_SIZE;
        m[QV__XMEM_OFF_TYPE] = sp->banks[i].type;
        m[QV__XMEM_OFF_USED] = 1;
        qv__put64(m + QV__XMEM_OFF_SIZE, sp->banks[i].size / 1024);
        qv__put64(m + QV__XMEM_OFF_BASE, sp->auto_base ? base : sp->banks[i].base);
        base += sp->banks[i].size;
        char tag[QV__XMEM_TAG_LEN] = {0};
        qv__xclbin_bank_tag(sp, i, tag);
        memcpy(m + QV__XMEM_OFF_TAG, tag, sizeof tag);
    }

    /* IP_LAYOUT and CONNECTIVITY: CUs numbered over all kernels, in the
     * order of their (ascending) base addresses. */
    uint8_t *ipl = d + s[1].offset, *conn = d + s[2].offset;
    qv__put32(ipl, (uint32_t)nips);
    qv__put32(conn, (uint32_t)nconns);
    size_t ip = 0, c = 0;
    for (size_t ki = 0; ki < sp->nkernels; ki++) {
        const qv__xclbin_kernel_spec *k = &sp->kernels[ki];
        for (unsigned cu = 0; cu < k->ncus; cu++, ip++) {
            uint8_t *e = ipl + QV__IPL_OFF_DATA + ip * QV__IP_SIZE;
            qv__put32(e + QV__IP_OFF_TYPE, QV__IP_KERNEL);
            qv__put32(e + QV__IP_OFF_PROPERTIES,
                      (QV__AP_CTRL_HS << QV__IP_CONTROL_SHIFT) | QV__IP_INT_ENABLE);
            qv__put64(e + QV__IP_OFF_BASE,
                      QV__XCLBIN_CU_BASE + ip * QV__XCLBIN_CU_STRIDE);
            snprintf((char *)e + QV__IP_OFF_NAME, QV__IP_NAME_LEN, "%s:%s_%u", k->name,
                     k->name, cu + 1);
            for (size_t a = 0; a < k->nargs; a++) {
                if (!k->args[a].global)
                    continue;
                uint32_t bank =
                    k->banks ? k->banks[cu * k->nargs + a] : (uint32_t)(cu % sp->nbanks);
                uint8_t *x = conn + QV__CONN_OFF_DATA + c++ * QV__CONN_SIZE;
                qv__put32(x + QV__CONN_OFF_ARG, (uint32_t)a);
                qv__put32(x + QV__CONN_OFF_IP, (uint32_t)ip);
                qv__put32(x + QV__CONN_OFF_MEM, bank);
            }
        }
    }

    memcpy(d + s[3].offset, xml, xml_len);
    free(xml);
    if (nsect == 5 && sp->bitstream_size)
        memcpy(d + s[4].offset, sp->bitstream, sp->bitstream_size);

    uint8_t uuid[16];
    content_uuid(d, (size_t)pos, uuid);
    memcpy(h + QV__HDR_OFF_UUID, uuid, 16);
    memcpy(d + QV__AXLF_OFF_UNIQUEID, uuid, 8);
    *out = d;
    *size = (size_t)pos;
    return 0;
}
