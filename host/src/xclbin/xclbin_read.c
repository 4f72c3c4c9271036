/*
 * xclbin_read.c - the validating reader of xclbin.h. Every check happens
 * before a field is used: the file header (size, magic, length, section
 * count), every section's span (no overflow, inside the file, after the
 * section table, 8-byte aligned as the format requires and as XRT's struct
 * casts assume), then each decoded section's own counts and indices. Fields
 * are read with explicit little-endian loads from the byte buffer, never by
 * casting it to XRT's structs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quiver.h"
#include "qv_file.h"
#include "xclbin/layout.h"
#include "xclbin/meta.h"
#include "xclbin/xclbin.h"

static const char *const section_names[] = {"BITSTREAM",
                                            "CLEARING_BITSTREAM",
                                            "EMBEDDED_METADATA",
                                            "FIRMWARE",
                                            "DEBUG_DATA",
                                            "SCHED_FIRMWARE",
                                            "MEM_TOPOLOGY",
                                            "CONNECTIVITY",
                                            "IP_LAYOUT",
                                            "DEBUG_IP_LAYOUT",
                                            "DESIGN_CHECK_POINT",
                                            "CLOCK_FREQ_TOPOLOGY",
                                            "MCS",
                                            "BMC",
                                            "BUILD_METADATA",
                                            "KEYVALUE_METADATA",
                                            "USER_METADATA",
                                            "DNA_CERTIFICATE",
                                            "PDI",
                                            "BITSTREAM_PARTIAL_PDI",
                                            "PARTITION_METADATA",
                                            "EMULATION_DATA",
                                            "SYSTEM_METADATA",
                                            "SOFT_KERNEL",
                                            "ASK_FLASH",
                                            "AIE_METADATA",
                                            "ASK_GROUP_TOPOLOGY",
                                            "ASK_GROUP_CONNECTIVITY",
                                            "SMARTNIC",
                                            "AIE_RESOURCES",
                                            "OVERLAY",
                                            "VENDER_METADATA"};

static const char *const mode_names[] = {
    "XCLBIN_FLAT",          "XCLBIN_PR",
    "XCLBIN_TANDEM_STAGE2", "XCLBIN_TANDEM_STAGE2_WITH_PR",
    "XCLBIN_HW_EMU",        "XCLBIN_SW_EMU",
    "XCLBIN_HW_EMU_PR"};

static const char *const mem_names[] = {
    "DDR3", "DDR4",     "DRAM", "STREAMING", "PREALLOCATED_GLOB",
    "ARE",  "HBM",      "BRAM", "URAM",      "STREAMING_CONNECTION",
    "HOST", "PS_KERNEL"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *qv__xclbin_section_name(uint32_t kind)
{
    return kind < COUNT(section_names) ? section_names[kind] : NULL;
}

const char *qv__xclbin_mode_name(uint16_t mode)
{
    return mode < COUNT(mode_names) ? mode_names[mode] : NULL;
}

const char *qv__xclbin_mem_name(uint8_t type)
{
    return type < COUNT(mem_names) ? mem_names[type] : NULL;
}

int qv__xclbin_mem_parse(const char *name)
{
    for (size_t i = 0; i < COUNT(mem_names); i++)
        if (!strcasecmp(name, mem_names[i]))
            return (int)i;
    if (!strcasecmp(name, "DDR"))
        return QV__XMEM_DDR4;
    if (!strcasecmp(name, "PLRAM"))
        return QV__XMEM_DRAM;
    return -1;
}

bool qv__xclbin_c_scalar(const char *type, unsigned *bytes, bool *fp)
{
    static const struct {
        const char *name;
        unsigned bytes;
        bool fp;
    } known[] = {
        {"half", 2, true},          {"float", 4, true},
        {"double", 8, true},        {"char", 1, false},
        {"signed char", 1, false},  {"unsigned char", 1, false},
        {"bool", 1, false},         {"int8_t", 1, false},
        {"uint8_t", 1, false},      {"short", 2, false},
        {"unsigned short", 2, false}, {"int16_t", 2, false},
        {"uint16_t", 2, false},     {"int", 4, false},
        {"unsigned int", 4, false}, {"unsigned", 4, false},
        {"int32_t", 4, false},      {"uint32_t", 4, false},
        {"long", 8, false},         {"unsigned long", 8, false},
        {"long long", 8, false},    {"unsigned long long", 8, false},
        {"int64_t", 8, false},      {"uint64_t", 8, false},
        {"size_t", 8, false},
    };
    if (!strncmp(type, "const ", 6))
        type += 6;
    for (size_t i = 0; i < COUNT(known); i++)
        if (!strcmp(type, known[i].name)) {
            *bytes = known[i].bytes;
            *fp = known[i].fp;
            return true;
        }
    return false;
}

const qv__xclbin_kernel *qv__xclbin_kernel_find(const qv__xclbin *x, const char *name)
{
    for (size_t i = 0; i < x->nkernels; i++)
        if (!strcmp(x->kernels[i].name, name))
            return &x->kernels[i];
    return NULL;
}

const qv__xclbin_arg *qv__xclbin_arg_find(const qv__xclbin_kernel *k, const char *name)
{
    for (size_t i = 0; i < k->nargs; i++)
        if (!strcmp(k->args[i].name, name))
            return &k->args[i];
    return NULL;
}

void qv__xclbin_destroy(qv__xclbin *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->nkernels; i++)
        qv__xclbin_kernel_fini(&x->kernels[i]);
    free(x->kernels);
    free(x->sections);
    free(x->banks);
    free(x->ips);
    free(x->conns);
    free(x->project);
    free(x);
}

/* The section's entry count: a non-negative int32 at its start, at most
 * max, with count entries of esize bytes from data_off inside the section. */
static int section_count(const qv__xclbin_section *s, const uint8_t *d, size_t data_off,
                         size_t esize, const char *what, unsigned max, size_t *count,
                         qv__xclbin_error *err)
{
    const char *kind = qv__xclbin_section_name(s->kind);
    *count = 0;
    if (s->size < 4) {
        qv__xclbin_fail(err, s->offset, "%s: section of %llu bytes has no count", kind,
                        (unsigned long long)s->size);
        return QV_EFORMAT;
    }
    int32_t n = (int32_t)qv__le32(d + s->offset);
    if (n < 0) {
        qv__xclbin_fail(err, s->offset, "%s: negative count %d", kind, (int)n);
        return QV_EFORMAT;
    }
    if ((uint32_t)n > max) {
        qv__xclbin_fail(err, s->offset, "%s: %d %s; at most %u", kind, (int)n, what, max);
        return QV_EFORMAT;
    }
    /* n <= 2^20 and esize <= 80: no overflow. */
    uint64_t need = n ? data_off + (uint64_t)n * esize : 4;
    if (need > s->size) {
        qv__xclbin_fail(err, s->offset, "%s: %d %s need %llu bytes; the section has %llu",
                        kind, (int)n, what, (unsigned long long)need,
                        (unsigned long long)s->size);
        return QV_EFORMAT;
    }
    *count = (size_t)n;
    return 0;
}

/* Copies a fixed-size string field that must hold a NUL. */
static int fixed_string(const uint8_t *p, size_t len, char *out)
{
    const void *nul = memchr(p, '\0', len);
    if (!nul)
        return -1;
    memcpy(out, p, (size_t)((const uint8_t *)nul - p) + 1);
    return 0;
}

static int decode_mem(qv__xclbin *x, const qv__xclbin_section *s, const uint8_t *d,
                      qv__xclbin_error *err)
{
    size_t n;
    int rc = section_count(s, d, QV__MEMTOP_OFF_DATA, QV__XMEM_SIZE, "banks",
                           QV__XCLBIN_READ_MAX_BANKS, &n, err);
    if (rc)
        return rc;
    if (n && !(x->banks = calloc(n, sizeof *x->banks)))
        return QV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t off = s->offset + QV__MEMTOP_OFF_DATA + i * QV__XMEM_SIZE;
        const uint8_t *p = d + off;
        qv__xclbin_bank *b = &x->banks[i];
        b->type = p[QV__XMEM_OFF_TYPE];
        b->used = p[QV__XMEM_OFF_USED] != 0;
        uint64_t size = qv__le64(p + QV__XMEM_OFF_SIZE);
        b->base = qv__le64(p + QV__XMEM_OFF_BASE);
        if (!qv__xclbin_mem_name(b->type))
            return qv__xclbin_fail(err, off, "MEM_TOPOLOGY: bank %zu has unknown type %u",
                                   i, b->type);
        if (fixed_string(p + QV__XMEM_OFF_TAG, QV__XMEM_TAG_LEN, b->tag))
            return qv__xclbin_fail(
                err, off + QV__XMEM_OFF_TAG,
                "MEM_TOPOLOGY: the tag of bank %zu is not NUL-terminated", i);
        if (b->type == QV__XMEM_STREAMING || b->type == QV__XMEM_STREAMING_CONNECTION)
            b->size = size; /* a route id, not a size */
        else if (size > UINT64_MAX / 1024)
            return qv__xclbin_fail(err, off + QV__XMEM_OFF_SIZE,
                                   "MEM_TOPOLOGY: bank %zu size %llu KiB overflows", i,
                                   (unsigned long long)size);
        else
            b->size = size * 1024;
        x->nbanks++;
    }
    return 0;
}

static int decode_ips(qv__xclbin *x, const qv__xclbin_section *s, const uint8_t *d,
                      qv__xclbin_error *err)
{
    size_t n;
    int rc = section_count(s, d, QV__IPL_OFF_DATA, QV__IP_SIZE, "IPs",
                           QV__XCLBIN_READ_MAX_IPS, &n, err);
    if (rc)
        return rc;
    if (n && !(x->ips = calloc(n, sizeof *x->ips)))
        return QV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t off = s->offset + QV__IPL_OFF_DATA + i * QV__IP_SIZE;
        const uint8_t *p = d + off;
        qv__xclbin_ip *ip = &x->ips[i];
        ip->type = qv__le32(p + QV__IP_OFF_TYPE);
        ip->properties = qv__le32(p + QV__IP_OFF_PROPERTIES);
        ip->base = qv__le64(p + QV__IP_OFF_BASE);
        if (fixed_string(p + QV__IP_OFF_NAME, QV__IP_NAME_LEN, ip->name))
            return qv__xclbin_fail(err, off + QV__IP_OFF_NAME,
                                   "IP_LAYOUT: the name of IP %zu is not NUL-terminated",
                                   i);
        const char *colon = strchr(ip->name, ':');
        if (ip->type == QV__IP_KERNEL && (!colon || colon == ip->name || !colon[1]))
            return qv__xclbin_fail(err, off + QV__IP_OFF_NAME,
                                   "IP_LAYOUT: kernel IP %zu is named '%s'; expected "
                                   "'kernel:instance'",
                                   i, ip->name);
        x->nips++;
    }
    return 0;
}

static bool is_cu(const qv__xclbin_ip *ip)
{
    return ip->type == QV__IP_KERNEL || ip->type == QV__IP_PS_KERNEL;
}

/* Does IP name "kernel:instance" belong to kernel k? */
static bool ip_of(const qv__xclbin_ip *ip, const char *k)
{
    size_t n = strlen(k);
    return is_cu(ip) && !strncmp(ip->name, k, n) && ip->name[n] == ':';
}

static int decode_conns(qv__xclbin *x, const qv__xclbin_section *s, const uint8_t *d,
                        qv__xclbin_error *err)
{
    size_t n;
    int rc = section_count(s, d, QV__CONN_OFF_DATA, QV__CONN_SIZE, "connections",
                           QV__XCLBIN_READ_MAX_CONNS, &n, err);
    if (rc)
        return rc;
    if (n && !(x->conns = calloc(n, sizeof *x->conns)))
        return QV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t off = s->offset + QV__CONN_OFF_DATA + i * QV__CONN_SIZE;
        const uint8_t *p = d + off;
        int32_t arg = (int32_t)qv__le32(p + QV__CONN_OFF_ARG);
        int32_t ip = (int32_t)qv__le32(p + QV__CONN_OFF_IP);
        int32_t mem = (int32_t)qv__le32(p + QV__CONN_OFF_MEM);
        if (arg < 0)
            return qv__xclbin_fail(
                err, off, "CONNECTIVITY: connection %zu has arg index %d", i, (int)arg);
        if (ip < 0 || (size_t)ip >= x->nips)
            return qv__xclbin_fail(
                err, off + QV__CONN_OFF_IP,
                "CONNECTIVITY: connection %zu names IP %d; IP_LAYOUT has %zu", i, (int)ip,
                x->nips);
        if (!is_cu(&x->ips[ip]))
            return qv__xclbin_fail(
                err, off + QV__CONN_OFF_IP,
                "CONNECTIVITY: connection %zu names IP %d ('%s'), which is "
                "not a kernel",
                i, (int)ip, x->ips[ip].name);
        if (mem < 0 || (size_t)mem >= x->nbanks)
            return qv__xclbin_fail(
                err, off + QV__CONN_OFF_MEM,
                "CONNECTIVITY: connection %zu names bank %d; MEM_TOPOLOGY "
                "has %zu",
                i, (int)mem, x->nbanks);
        if (!x->banks[mem].used)
            return qv__xclbin_fail(
                err, off + QV__CONN_OFF_MEM,
                "CONNECTIVITY: connection %zu names bank %d ('%s'), which "
                "is unused",
                i, (int)mem, x->banks[mem].tag);
        x->conns[i] = (qv__xclbin_conn){(uint32_t)arg, (uint32_t)ip, (uint32_t)mem};
        x->nconns++;
    }
    return 0;
}

/* With an IP_LAYOUT, a kernel's CUs are its IPs (as XRT sees them); without
 * one (a sw_emu file may lack it), the XML's instances. Then every
 * connection is attached to its CU and checked against the kernel's args.
 * IP -> (kernel, CU) maps keep this linear in the connections; the limits
 * bound the kernels x IPs pass. */
static int resolve(qv__xclbin *x, uint64_t conn_off, bool have_ips, qv__xclbin_error *err)
{
    int rc = 0;
    size_t *ip_kernel = NULL, *ip_cu = NULL;
    if (x->nips && (!(ip_kernel = malloc(x->nips * sizeof *ip_kernel)) ||
                    !(ip_cu = malloc(x->nips * sizeof *ip_cu)))) {
        rc = QV_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < x->nips; i++)
        ip_kernel[i] = ip_cu[i] = SIZE_MAX;
    for (size_t ki = 0; ki < x->nkernels && have_ips; ki++) {
        qv__xclbin_kernel *k = &x->kernels[ki];
        for (size_t i = 0; i < k->ncus; i++) {
            free(k->cus[i].name);
            free(k->cus[i].arg_bank);
        }
        free(k->cus);
        k->cus = NULL;
        k->ncus = 0;
        size_t n = 0;
        for (size_t i = 0; i < x->nips; i++)
            if (ip_of(&x->ips[i], k->name)) {
                ip_kernel[i] = ki; /* kernel names are distinct: one match */
                n++;
            }
        if (!n)
            continue;
        if (!(k->cus = calloc(n, sizeof *k->cus))) {
            rc = QV_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < x->nips; i++) {
            const qv__xclbin_ip *ip = &x->ips[i];
            if (ip_kernel[i] != ki)
                continue;
            ip_cu[i] = k->ncus;
            qv__xclbin_cu *cu = &k->cus[k->ncus++];
            cu->ip = (uint32_t)i;
            cu->base = ip->base;
            cu->control = (ip->properties & QV__IP_CONTROL_MASK) >> QV__IP_CONTROL_SHIFT;
            if (!(cu->name = strdup(ip->name + strlen(k->name) + 1)) ||
                (k->nargs && !(cu->arg_bank = malloc(k->nargs * sizeof *cu->arg_bank)))) {
                rc = QV_ENOMEM;
                goto out;
            }
            for (size_t a = 0; a < k->nargs; a++)
                cu->arg_bank[a] = QV__XCLBIN_NONE;
        }
    }
    /* A connection names an IP (so have_ips); an IP the metadata does not
     * describe is kept in conns[] and otherwise ignored, as XRT does. */
    for (size_t c = 0; c < x->nconns; c++) {
        const qv__xclbin_conn *cn = &x->conns[c];
        size_t ki = ip_kernel[cn->ip];
        if (ki == SIZE_MAX)
            continue;
        qv__xclbin_kernel *k = &x->kernels[ki];
        if (cn->arg >= k->nargs) {
            qv__xclbin_fail(err, conn_off + QV__CONN_OFF_DATA + c * QV__CONN_SIZE,
                            "CONNECTIVITY: connection %zu names arg %u of kernel '%s', "
                            "which has %zu",
                            c, cn->arg, k->name, k->nargs);
            rc = QV_EFORMAT;
            goto out;
        }
        uint32_t *bank = &k->cus[ip_cu[cn->ip]].arg_bank[cn->arg];
        if (*bank == QV__XCLBIN_NONE)
            *bank = cn->bank;
    }
out:
    free(ip_kernel);
    free(ip_cu);
    return rc;
}

/* The first checks, on the first QV__AXLF_SIZE bytes at d of a file of size
 * bytes: shared by parse and by qv__xclbin_load_file, which makes them before
 * it reads the rest of the file. */
static int check_head(const uint8_t *d, uint64_t size, qv__xclbin_error *err)
{
    if (size < QV__AXLF_SIZE)
        return qv__xclbin_fail(err, 0,
                               "file of %llu bytes is shorter than an xclbin header (%u)",
                               (unsigned long long)size, QV__AXLF_SIZE);
    if (memcmp(d + QV__AXLF_OFF_MAGIC, QV__AXLF_MAGIC, 8))
        return qv__xclbin_fail(err, 0, "bad magic: not an xclbin2 file");
    uint64_t length = qv__le64(d + QV__AXLF_OFF_HEADER + QV__HDR_OFF_LENGTH);
    if (length != size)
        return qv__xclbin_fail(err, QV__AXLF_OFF_HEADER + QV__HDR_OFF_LENGTH,
                               "header length %llu does not match the file size %llu",
                               (unsigned long long)length, (unsigned long long)size);
    return 0;
}

static int parse(qv__xclbin *x, const uint8_t *d, size_t size, qv__xclbin_error *err)
{
    int hrc = check_head(d, size, err);
    if (hrc)
        return hrc;
    const uint8_t *h = d + QV__AXLF_OFF_HEADER;
    x->length = qv__le64(h + QV__HDR_OFF_LENGTH);
    x->timestamp = qv__le64(h + QV__HDR_OFF_TIMESTAMP);
    x->version_patch = qv__le16(h + QV__HDR_OFF_VERSION_PATCH);
    x->version_major = h[QV__HDR_OFF_VERSION_MAJOR];
    x->version_minor = h[QV__HDR_OFF_VERSION_MINOR];
    x->mode = qv__le16(h + QV__HDR_OFF_MODE);
    if (!qv__xclbin_mode_name(x->mode))
        return qv__xclbin_fail(err, QV__AXLF_OFF_HEADER + QV__HDR_OFF_MODE,
                               "unknown mode %u", x->mode);
    if (fixed_string(h + QV__HDR_OFF_VBNV, QV__VBNV_LEN, x->platform))
        return qv__xclbin_fail(err, QV__AXLF_OFF_HEADER + QV__HDR_OFF_VBNV,
                               "platform name is not NUL-terminated");
    memcpy(x->uuid, h + QV__HDR_OFF_UUID, 16);
    uint32_t n = qv__le32(h + QV__HDR_OFF_NUM_SECTIONS);
    if (n > QV__MAX_SECTIONS)
        return qv__xclbin_fail(err, QV__AXLF_OFF_HEADER + QV__HDR_OFF_NUM_SECTIONS,
                               "%u sections; at most %u", n, QV__MAX_SECTIONS);
    uint64_t table_end = QV__AXLF_OFF_SECTIONS + (uint64_t)n * QV__SEC_SIZE;
    if (table_end > size)
        return qv__xclbin_fail(
            err, QV__AXLF_OFF_HEADER + QV__HDR_OFF_NUM_SECTIONS,
            "%u section headers end at 0x%llx, past the end of the file "
            "(0x%zx)",
            n, (unsigned long long)table_end, size);
    if (n && !(x->sections = calloc(n, sizeof *x->sections)))
        return QV_ENOMEM;

    /* The one section of each decoded kind; a second is refused rather than
     * silently ignored (XRT would use the first). */
    enum { K_BIT, K_XML, K_MEM, K_CONN, K_IP, K_N };
    static const uint32_t kinds[K_N] = {QV__SECT_BITSTREAM, QV__SECT_EMBEDDED_METADATA,
                                        QV__SECT_MEM_TOPOLOGY, QV__SECT_CONNECTIVITY,
                                        QV__SECT_IP_LAYOUT};
    const qv__xclbin_section *found[K_N] = {0};
    for (uint32_t i = 0; i < n; i++) {
        uint64_t hoff = QV__AXLF_OFF_SECTIONS + (uint64_t)i * QV__SEC_SIZE;
        const uint8_t *p = d + hoff;
        qv__xclbin_section *s = &x->sections[i];
        s->kind = qv__le32(p + QV__SEC_OFF_KIND);
        memcpy(s->name, p + QV__SEC_OFF_NAME, QV__SEC_NAME_LEN);
        s->name[QV__SEC_NAME_LEN] = '\0';
        s->offset = qv__le64(p + QV__SEC_OFF_OFFSET);
        s->size = qv__le64(p + QV__SEC_OFF_SIZE);
        x->nsections++;
        const char *kn = qv__xclbin_section_name(s->kind);
        char kbuf[24];
        if (!kn) {
            snprintf(kbuf, sizeof kbuf, "kind %u", s->kind);
            kn = kbuf;
        }
        if (s->offset > size || s->size > size - s->offset)
            return qv__xclbin_fail(
                err, hoff + QV__SEC_OFF_OFFSET,
                "section %u (%s) at offset 0x%llx, size 0x%llx, is not "
                "inside the file (0x%zx bytes)",
                i, kn, (unsigned long long)s->offset, (unsigned long long)s->size, size);
        if (s->size && s->offset < table_end)
            return qv__xclbin_fail(
                err, hoff + QV__SEC_OFF_OFFSET,
                "section %u (%s) at offset 0x%llx overlaps the section "
                "headers (up to 0x%llx)",
                i, kn, (unsigned long long)s->offset, (unsigned long long)table_end);
        if (s->size && s->offset % 8)
            return qv__xclbin_fail(
                err, hoff + QV__SEC_OFF_OFFSET,
                "section %u (%s) at offset 0x%llx is not 8-byte aligned", i, kn,
                (unsigned long long)s->offset);
        for (int k = 0; k < K_N; k++)
            if (s->kind == kinds[k]) {
                if (found[k])
                    return qv__xclbin_fail(err, hoff, "section %u is a second %s section",
                                           i, kn);
                found[k] = s;
            }
    }
    int rc = 0;
    if (found[K_MEM] && (rc = decode_mem(x, found[K_MEM], d, err)))
        return rc;
    if (found[K_IP] && (rc = decode_ips(x, found[K_IP], d, err)))
        return rc;
    if (found[K_CONN] && (rc = decode_conns(x, found[K_CONN], d, err)))
        return rc;
    if (found[K_XML]) {
        if ((rc = qv__xclbin_meta_decode(x, (const char *)d + found[K_XML]->offset,
                                         (size_t)found[K_XML]->size, found[K_XML]->offset,
                                         err)))
            return rc;
    } else if (!(x->project = strdup("")))
        return QV_ENOMEM;
    if ((rc = resolve(x, found[K_CONN] ? found[K_CONN]->offset : 0, found[K_IP] != NULL,
                      err)))
        return rc;
    if (found[K_BIT]) {
        x->has_bitstream = true;
        x->bitstream_offset = found[K_BIT]->offset;
        x->bitstream_size = found[K_BIT]->size;
        x->bitstream = d + found[K_BIT]->offset;
    }
    return 0;
}

int qv__xclbin_parse(const void *data, size_t size, qv__xclbin **out,
                     qv__xclbin_error *err)
{
    *out = NULL;
    if (err) {
        err->offset = 0;
        err->msg[0] = '\0';
    }
    if (!data && size)
        return QV_EINVAL;
    qv__xclbin *x = calloc(1, sizeof *x);
    if (!x)
        return QV_ENOMEM;
    int rc = parse(x, data ? data : "", size, err);
    if (rc) {
        if (rc == QV_ENOMEM && err)
            snprintf(err->msg, sizeof err->msg, "out of memory");
        qv__xclbin_destroy(x);
        return rc;
    }
    *out = x;
    return 0;
}

int qv__xclbin_read_file(const char *path, size_t max_size, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    char *buf;
    size_t n;
    int rc = qv__file_load(path, max_size, &buf, &n, NULL);
    if (rc)
        return rc == -EFBIG ? QV_E2BIG : rc;
    *data = (uint8_t *)buf;
    *size = n;
    return 0;
}

int qv__xclbin_load_file(const char *path, size_t max_size, uint8_t **data, size_t *size,
                         qv__xclbin_error *err)
{
    *data = NULL;
    *size = 0;
    if (err) {
        err->offset = 0;
        err->msg[0] = '\0';
    }
    char why[QV__FILE_WHY];
    int fd;
    uint64_t fsize;
    int rc = qv__file_open(path, max_size, &fd, &fsize, why);
    if (rc) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "%s", why);
        return rc == -EFBIG ? QV_E2BIG : rc;
    }
    /* The header first: a file that is not an xclbin, or whose header does
     * not give its size, is refused before the rest of it is read. */
    uint8_t head[QV__AXLF_SIZE];
    size_t nhead = fsize < sizeof head ? (size_t)fsize : sizeof head;
    rc = qv__file_read(fd, head, nhead, why);
    if (!rc && (rc = check_head(head, fsize, err)) != 0) {
        close(fd);
        return rc;
    }
    uint8_t *buf = rc ? NULL : malloc((size_t)fsize);
    if (!rc && !buf) {
        snprintf(why, sizeof why, "out of memory");
        rc = QV_ENOMEM;
    }
    if (!rc) {
        memcpy(buf, head, nhead);
        rc = qv__file_read(fd, buf + nhead, (size_t)fsize - nhead, why);
    }
    close(fd);
    if (rc) {
        free(buf);
        if (err)
            snprintf(err->msg, sizeof err->msg, "%s", why);
        return rc;
    }
    *data = buf;
    *size = (size_t)fsize;
    return 0;
}
