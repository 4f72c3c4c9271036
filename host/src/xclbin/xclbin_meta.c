/*
 * xclbin_meta.c - the EMBEDDED_METADATA section: the XML in which the Vitis
 * linker describes each kernel's arguments (register offset, size, address
 * qualifier, port) and instances. XRT takes kernel arguments only from this
 * XML (xclbin_parser.cpp, get_kernel_arguments), so the writer emits what
 * that parser reads, in the shape v++ writes, and the reader applies the
 * same rules as XRT (plus bounds XRT lacks) so that a file we accept does
 * not make XRT throw.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/xml.h"
#include "quiver.h"
#include "qv_escape.h"
#include "xclbin/meta.h"

int qv__xclbin_fail(qv__xclbin_error *err, uint64_t offset, const char *fmt, ...)
{
    if (err) {
        err->offset = offset;
        int n = snprintf(err->msg, sizeof err->msg,
                         "offset 0x%llx: ", (unsigned long long)offset);
        /* Names in the message come from the file: escaped for printing. */
        char raw[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        if (n > 0 && (size_t)n < sizeof err->msg)
            qv__escape(raw, err->msg + n, sizeof err->msg - (size_t)n);
    }
    return QV_EFORMAT;
}

/* std::stoul(s, nullptr, 0) as XRT uses it ("" is 0, as in XRT's convert),
 * but the whole string must be the number and it must fit in 64 bits. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        if (!*s)
            return -1;
    } else if (s[0] == '0' && s[1])
        base = 8;
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (*s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a') + 10;
        else if (*s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A') + 10;
        else
            return -1;
        if (d >= base || v > (UINT64_MAX - d) / base)
            return -1;
        v = v * base + d;
    }
    *out = v;
    return 0;
}

static void free_arg(qv__xclbin_arg *a)
{
    free(a->name);
    free(a->type);
    free(a->port);
}

void qv__xclbin_kernel_fini(qv__xclbin_kernel *k)
{
    free(k->name);
    for (size_t i = 0; i < k->nargs; i++)
        free_arg(&k->args[i]);
    free(k->args);
    for (size_t i = 0; i < k->ncus; i++) {
        free(k->cus[i].name);
        free(k->cus[i].arg_bank);
    }
    free(k->cus);
    memset(k, 0, sizeof *k);
}

/* Bytes of a name quoted in the context of a message. */
#define NAME_SHOWN 128

typedef struct ctx {
    qv__xclbin_error *err;
    uint64_t base;    /* file offset of the XML */
    size_t instances; /* so far, over all kernels */
} ctx;

/* These return QV_EFORMAT themselves (not qv__xclbin_fail's value), so that
 * the static analyzer, which cannot see across files, knows *out is set
 * whenever they return 0. */
static int need(ctx *c, const qv__xml_node *n, const char *attr, const char *what,
                const char **out)
{
    *out = qv__xml_attr(n, attr);
    if (*out)
        return 0;
    qv__xclbin_fail(c->err, c->base + n->offset,
                    "EMBEDDED_METADATA: <%s>%s%s lacks attribute '%s'", n->name,
                    *what ? " " : "", what, attr);
    return QV_EFORMAT;
}

static int need_u64(ctx *c, const qv__xml_node *n, const char *attr, const char *what,
                    uint64_t *out)
{
    const char *s;
    if (need(c, n, attr, what, &s))
        return QV_EFORMAT;
    if (!parse_u64(s, out))
        return 0;
    qv__xclbin_fail(c->err, c->base + n->offset,
                    "EMBEDDED_METADATA: <%s>%s%s: %s='%s' is not a number", n->name,
                    *what ? " " : "", what, attr, s);
    return QV_EFORMAT;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* The kernel's slave control range, as XRT's get_address_range. */
static int address_range(ctx *c, const qv__xml_node *kn, uint64_t *range)
{
    *range = UINT64_C(64) * 1024; /* XRT's default */
    for (const qv__xml_node *p = kn->child; p; p = p->next) {
        if (strcmp(p->name, "port"))
            continue;
        const char *mode;
        int rc = need(c, p, "mode", "of a kernel", &mode);
        if (rc)
            return rc;
        if (!strcmp(mode, "slave"))
            return need_u64(c, p, "range", "(slave)", range);
    }
    return 0;
}

static int decode_args(ctx *c, const qv__xml_node *kn, qv__xclbin_kernel *k)
{
    size_t count = 0;
    for (const qv__xml_node *a = kn->child; a; a = a->next)
        count += !strcmp(a->name, "arg");
    if (!count)
        return 0;
    if (!(k->args = calloc(count, sizeof *k->args)))
        return QV_ENOMEM;
    int rc = 0;
    for (const qv__xml_node *a = kn->child; a && !rc; a = a->next) {
        if (strcmp(a->name, "arg"))
            continue;
        const char *name, *id;
        uint64_t offset, size, host_size, addrq, idv;
        if ((rc = need(c, a, "name", "of a kernel", &name)))
            break;
        char what[NAME_SHOWN + 8];
        snprintf(what, sizeof what, "'%.*s'", NAME_SHOWN, name);
        if ((rc = need(c, a, "id", what, &id)) ||
            (rc = need_u64(c, a, "offset", what, &offset)) ||
            (rc = need_u64(c, a, "size", what, &size)) ||
            (rc = need_u64(c, a, "hostSize", what, &host_size)) ||
            (rc = need_u64(c, a, "addressQualifier", what, &addrq)))
            break;
        if (!*id)
            continue; /* XRT: no index, an implicit argument; not ours */
        if (parse_u64(id, &idv) || idv >= QV__XCLBIN_MAX_ARGS) {
            rc =
                qv__xclbin_fail(c->err, c->base + a->offset,
                                "EMBEDDED_METADATA: arg '%s' of kernel '%s' has id '%s'; "
                                "expected 0..%u",
                                name, k->name, id, QV__XCLBIN_MAX_ARGS - 1);
            break;
        }
        if (addrq > QV__ARG_STREAM) {
            rc = qv__xclbin_fail(c->err, c->base + a->offset,
                                 "EMBEDDED_METADATA: arg '%s' of kernel '%s' has "
                                 "addressQualifier %llu; expected 0..4",
                                 name, k->name, (unsigned long long)addrq);
            break;
        }
        if (offset > k->address_range || size > k->address_range - offset) {
            rc = qv__xclbin_fail(
                c->err, c->base + a->offset,
                "EMBEDDED_METADATA: arg '%s' of kernel '%s' (offset 0x%llx, "
                "size 0x%llx) exceeds the kernel's address range 0x%llx",
                name, k->name, (unsigned long long)offset, (unsigned long long)size,
                (unsigned long long)k->address_range);
            break;
        }
        qv__xclbin_arg *arg = &k->args[k->nargs];
        k->nargs++;
        arg->id = (uint32_t)idv;
        arg->addrq = (uint32_t)addrq;
        arg->offset = offset;
        arg->size = size;
        arg->host_size = host_size;
        if (!(arg->name = strdup(name)) ||
            !(arg->type = dup_or_empty(qv__xml_attr(a, "type"))) ||
            !(arg->port = dup_or_empty(qv__xml_attr(a, "port"))))
            rc = QV_ENOMEM;
    }
    if (rc)
        return rc;
    /* Stable sort by id, as XRT's std::stable_sort, so that the components
     * of a multi-part argument stay in document order: a counting sort, as
     * ids are below QV__XCLBIN_MAX_ARGS (linear however hostile the order). */
    size_t start[QV__XCLBIN_MAX_ARGS + 1] = {0};
    for (size_t i = 0; i < k->nargs; i++)
        start[k->args[i].id + 1]++;
    for (size_t i = 1; i <= QV__XCLBIN_MAX_ARGS; i++)
        start[i] += start[i - 1];
    qv__xclbin_arg *sorted = malloc(k->nargs * sizeof *sorted);
    if (!sorted)
        return QV_ENOMEM;
    for (size_t i = 0; i < k->nargs; i++)
        sorted[start[k->args[i].id]++] = k->args[i];
    memcpy(k->args, sorted, k->nargs * sizeof *sorted);
    free(sorted);
    /* Merge components with equal ids into the first, as XRT's merge_args. */
    size_t out = 0;
    for (size_t i = 0; i < k->nargs; i++) {
        qv__xclbin_arg *a = &k->args[i];
        if (out && k->args[out - 1].id == a->id) {
            qv__xclbin_arg *m = &k->args[out - 1];
            /* The parts' sizes add up within the kernel's address range
             * (they wrapped: two parts of 2^63 + 2 made a 4-byte argument;
             * adversarial testing). */
            uint64_t off = a->offset < m->offset ? a->offset : m->offset;
            if (a->size > k->address_range - m->size ||
                m->size + a->size > k->address_range - off ||
                a->host_size > UINT64_MAX - m->host_size) {
                int bad = qv__xclbin_fail(
                    c->err, c->base + kn->offset,
                    "EMBEDDED_METADATA: the parts of arg '%s' (id %u) of kernel '%s' add "
                    "up past the kernel's address range 0x%llx (sizes) or past 2^64 "
                    "(hostSize)",
                    m->name, (unsigned)m->id, k->name,
                    (unsigned long long)k->address_range);
                for (size_t j = i; j < k->nargs; j++) /* not moved to out: ours */
                    free_arg(&k->args[j]);
                k->nargs = out;
                return bad;
            }
            m->size += a->size;
            m->host_size += a->host_size;
            m->offset = off;
            free_arg(a);
            continue;
        }
        k->args[out++] = *a;
    }
    k->nargs = out;
    /* Ids below QV__XCLBIN_MAX_ARGS and 0..n-1: so n <= QV__XCLBIN_MAX_ARGS. */
    for (size_t i = 0; i < k->nargs; i++)
        if (k->args[i].id != i)
            return qv__xclbin_fail(
                c->err, c->base + kn->offset,
                "EMBEDDED_METADATA: kernel '%s' has no argument with id %zu "
                "(ids must be 0..n-1)",
                k->name, i);
    return 0;
}

static int decode_instances(ctx *c, const qv__xml_node *kn, qv__xclbin_kernel *k)
{
    size_t count = 0;
    for (const qv__xml_node *i = kn->child; i; i = i->next)
        count += !strcmp(i->name, "instance");
    if (!count)
        return 0;
    /* Each instance gets nargs bank slots: bound the total. */
    c->instances += count;
    if (c->instances > QV__XCLBIN_READ_MAX_INSTANCES) {
        qv__xclbin_fail(c->err, c->base + kn->offset,
                        "EMBEDDED_METADATA: more than %u instances",
                        QV__XCLBIN_READ_MAX_INSTANCES);
        return QV_EFORMAT;
    }
    /* The control protocol of the XML's CUs (IP_LAYOUT's, when present,
     * replace these); v++ writes it on the kernel. */
    uint32_t control = QV__AP_CTRL_HS;
    const char *proto = qv__xml_attr(kn, "hwControlProtocol");
    if (proto && !strcmp(proto, "ap_ctrl_chain"))
        control = QV__AP_CTRL_CHAIN;
    else if (proto && !strcmp(proto, "ap_ctrl_none"))
        control = QV__AP_CTRL_NONE;
    else if (proto && strcmp(proto, "ap_ctrl_hs")) {
        qv__xclbin_fail(
            c->err, c->base + kn->offset,
            "EMBEDDED_METADATA: kernel '%s' has hwControlProtocol '%s'; expected "
            "ap_ctrl_hs, ap_ctrl_chain or ap_ctrl_none",
            k->name, proto);
        return QV_EFORMAT;
    }
    if (!(k->cus = calloc(count, sizeof *k->cus)))
        return QV_ENOMEM;
    for (const qv__xml_node *i = kn->child; i; i = i->next) {
        if (strcmp(i->name, "instance"))
            continue;
        const char *name;
        int rc = need(c, i, "name", "of a kernel", &name);
        if (rc)
            return rc;
        qv__xclbin_cu *cu = &k->cus[k->ncus++];
        cu->ip = QV__XCLBIN_NONE;
        cu->base = UINT64_MAX;
        cu->control = control;
        if (!(cu->name = strdup(name)))
            return QV_ENOMEM;
        if (k->nargs && !(cu->arg_bank = malloc(k->nargs * sizeof *cu->arg_bank)))
            return QV_ENOMEM;
        for (size_t a = 0; a < k->nargs; a++)
            cu->arg_bank[a] = QV__XCLBIN_NONE;
        const qv__xml_node *remap = qv__xml_child(i, "addrRemap");
        char what[NAME_SHOWN + 32];
        snprintf(what, sizeof what, "of instance '%.*s'", NAME_SHOWN, name);
        if (remap && (rc = need_u64(c, remap, "base", what, &cu->base)))
            return rc;
    }
    return 0;
}

/* The metadata is ASCII, as v++ writes it: every string taken from it is
 * then safe to print and to put in JSON byte by byte. */
static int check_ascii(ctx *c, const qv__xml_node *root)
{
    const qv__xml_node *n = root;
    while (n) {
        for (size_t i = 0; i < 2 * n->nattrs; i++)
            for (const char *s = n->attr[i]; *s; s++)
                if ((unsigned char)*s >= 0x80) {
                    qv__xclbin_fail(c->err, c->base + n->offset,
                                    "EMBEDDED_METADATA:%u:%u: attribute '%.*s' of <%.*s> "
                                    "is not ASCII",
                                    n->line, n->column, NAME_SHOWN,
                                    n->attr[i & ~(size_t)1], NAME_SHOWN, n->name);
                    return QV_EFORMAT;
                }
        if (n->child) {
            n = n->child;
            continue;
        }
        while (n && !n->next)
            n = n->parent;
        n = n ? n->next : NULL;
    }
    return 0;
}

int qv__xclbin_meta_decode(qv__xclbin *x, const char *xml, size_t len,
                           uint64_t sec_offset, qv__xclbin_error *err)
{
    ctx c = {.err = err, .base = sec_offset};
    /* Bounds on memory and time whatever the section holds. */
    static const qv__xml_limits lim = {.max_bytes = (size_t)16 << 20,
                                       .max_depth = 32,
                                       .max_elements = 100000,
                                       .max_attrs = 64};
    /* NUL padding after the XML is the container's, not the document's. */
    while (len && xml[len - 1] == '\0')
        len--;
    qv__xml_node *root = NULL;
    qv__xml_error xe;
    int rc = qv__xml_parse(xml, len, &lim, &root, &xe);
    if (rc == QV_EFORMAT && xe.line)
        return qv__xclbin_fail(err, sec_offset + xe.offset, "EMBEDDED_METADATA:%u:%u: %s",
                               xe.line, xe.column, xe.msg);
    if (rc == QV_EFORMAT)
        return qv__xclbin_fail(err, sec_offset, "EMBEDDED_METADATA: %s", xe.msg);
    if (rc)
        return rc;
    if ((rc = check_ascii(&c, root)))
        goto out;
    const qv__xml_node *core = NULL;
    if (!strcmp(root->name, "project")) {
        const qv__xml_node *pl = qv__xml_child(root, "platform");
        const qv__xml_node *dev = pl ? qv__xml_child(pl, "device") : NULL;
        core = dev ? qv__xml_child(dev, "core") : NULL;
    }
    if (!core) {
        rc = qv__xclbin_fail(
            err, sec_offset,
            "EMBEDDED_METADATA: no <project><platform><device><core> element");
        goto out;
    }
    if (!(x->project = dup_or_empty(qv__xml_attr(root, "name")))) {
        rc = QV_ENOMEM;
        goto out;
    }
    size_t count = 0;
    for (const qv__xml_node *k = core->child; k; k = k->next)
        count += !strcmp(k->name, "kernel");
    if (count > QV__XCLBIN_READ_MAX_KERNELS) {
        rc = qv__xclbin_fail(err, sec_offset + core->offset,
                             "EMBEDDED_METADATA: %zu kernels; at most %u", count,
                             QV__XCLBIN_READ_MAX_KERNELS);
        goto out;
    }
    if (count && !(x->kernels = calloc(count, sizeof *x->kernels))) {
        rc = QV_ENOMEM;
        goto out;
    }
    for (const qv__xml_node *kn = core->child; kn; kn = kn->next) {
        if (strcmp(kn->name, "kernel"))
            continue;
        const char *name;
        if ((rc = need(&c, kn, "name", "", &name)))
            goto out;
        for (size_t i = 0; i < x->nkernels; i++)
            if (!strcmp(x->kernels[i].name, name)) {
                rc = qv__xclbin_fail(err, sec_offset + kn->offset,
                                     "EMBEDDED_METADATA: kernel '%s' is described twice",
                                     name);
                goto out;
            }
        qv__xclbin_kernel *k = &x->kernels[x->nkernels++];
        if (!(k->name = strdup(name))) {
            rc = QV_ENOMEM;
            goto out;
        }
        if ((rc = address_range(&c, kn, &k->address_range)) ||
            (rc = decode_args(&c, kn, k)) || (rc = decode_instances(&c, kn, k)))
            goto out;
    }
out:
    qv__xml_free(root);
    return rc;
}

/* ---- writing ---------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n =
            vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* Appends s with the XML-special characters escaped. */
static void sb_esc(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            sb_printf(b, "&lt;");
            break;
        case '>':
            sb_printf(b, "&gt;");
            break;
        case '&':
            sb_printf(b, "&amp;");
            break;
        case '"':
            sb_printf(b, "&quot;");
            break;
        case '\'':
            sb_printf(b, "&apos;");
            break;
        default:
            sb_printf(b, "%c", *s);
        }
    }
}

uint64_t qv__xclbin_arg_offsets(const qv__xclbin_arg_spec *args, size_t nargs,
                                uint64_t *offsets)
{
    uint64_t off = QV__XCLBIN_ARG_BASE;
    for (size_t i = 0; i < nargs; i++) {
        uint64_t size = args[i].global ? 8 : args[i].size;
        if (offsets)
            offsets[i] = off;
        off += (size + 3) / 4 * 4 + 4;
    }
    return off;
}

/* The slave range a kernel's registers need: a power of two >= 4 KiB. */
static uint64_t control_range(const qv__xclbin_kernel_spec *k)
{
    uint64_t end = qv__xclbin_arg_offsets(k->args, k->nargs, NULL), r = 0x1000;
    while (r < end)
        r *= 2;
    return r;
}

int qv__xclbin_meta_encode(const qv__xclbin_spec *spec, char **xml, size_t *len)
{
    sbuf b = {0};
    const char *project = spec->project ? spec->project : spec->kernels[0].name;
    unsigned total_cus = 0;
    for (size_t i = 0; i < spec->nkernels; i++)
        total_cus += spec->kernels[i].ncus;
    sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<project name=\"");
    sb_esc(&b, project);
    sb_printf(&b, "\">\n  <platform vendor=\"xilinx\" boardid=\"");
    sb_esc(&b, spec->platform);
    sb_printf(&b, "\" name=\"");
    sb_esc(&b, spec->platform);
    sb_printf(&b,
              "\" featureRomTime=\"0\">\n"
              "    <version major=\"1\" minor=\"0\"/>\n"
              "    <description/>\n"
              "    <device name=\"fpga0\" fpgaDevice=\"\" addrWidth=\"64\">\n"
              "      <core name=\"OCL_REGION_0\" target=\"%s\" type=\"clc_region\" "
              "clockFreq=\"0MHz\" numComputeUnits=\"%u\">\n",
              spec->mode == QV__XCLBIN_SW_EMU   ? "csim"
              : spec->mode == QV__XCLBIN_HW_EMU ? "hw_em"
                                                : "bitstream",
              total_cus);
    uint64_t cu_base = QV__XCLBIN_CU_BASE;
    for (size_t ki = 0; ki < spec->nkernels && !b.oom; ki++) {
        const qv__xclbin_kernel_spec *k = &spec->kernels[ki];
        uint64_t range = control_range(k);
        uint64_t offs[QV__XCLBIN_MAX_ARGS];
        qv__xclbin_arg_offsets(k->args, k->nargs, offs);
        sb_printf(&b,
                  "        <kernel name=\"%s\" language=\"c\" vlnv=\"quiver:hls:%s:1.0\" "
                  "preferredWorkGroupSizeMultiple=\"0\" workGroupSize=\"1\" "
                  "interrupt=\"true\" hwControlProtocol=\"ap_ctrl_hs\">\n",
                  k->name, k->name);
        sb_printf(
            &b,
            "          <port name=\"S_AXI_CONTROL\" mode=\"slave\" range=\"0x%llx\" "
            "dataWidth=\"32\" portType=\"addressable\" base=\"0x0\"/>\n",
            (unsigned long long)range);
        unsigned g = 0;
        for (size_t a = 0; a < k->nargs; a++)
            if (k->args[a].global)
                sb_printf(&b,
                          "          <port name=\"M_AXI_GMEM%u\" mode=\"master\" "
                          "range=\"0xFFFFFFFFFFFFFFFF\" dataWidth=\"32\" "
                          "portType=\"addressable\" base=\"0x0\"/>\n",
                          g++);
        g = 0;
        for (size_t a = 0; a < k->nargs; a++) {
            const qv__xclbin_arg_spec *arg = &k->args[a];
            uint64_t off = offs[a];
            uint32_t size = arg->global ? 8 : arg->size;
            char port[32];
            if (arg->global)
                snprintf(port, sizeof port, "M_AXI_GMEM%u", g++);
            else
                snprintf(port, sizeof port, "S_AXI_CONTROL");
            sb_printf(&b,
                      "          <arg name=\"%s\" addressQualifier=\"%d\" id=\"%zu\" "
                      "port=\"%s\" size=\"0x%x\" offset=\"0x%llx\" hostOffset=\"0x0\" "
                      "hostSize=\"0x%x\" type=\"",
                      arg->name, arg->global ? QV__ARG_GLOBAL : QV__ARG_SCALAR, a, port,
                      size, (unsigned long long)off, size);
            sb_esc(&b, arg->type);
            sb_printf(&b, "\"/>\n");
        }
        sb_printf(&b, "          <compileWorkGroupSize x=\"1\" y=\"1\" z=\"1\"/>\n"
                      "          <maxWorkGroupSize x=\"1\" y=\"1\" z=\"1\"/>\n");
        for (unsigned i = 0; i < k->ncus; i++) {
            sb_printf(&b,
                      "          <instance name=\"%s_%u\">\n"
                      "            <addrRemap base=\"0x%llx\" range=\"0x%x\" "
                      "port=\"S_AXI_CONTROL\"/>\n"
                      "          </instance>\n",
                      k->name, i + 1, (unsigned long long)cu_base, QV__XCLBIN_CU_STRIDE);
            cu_base += QV__XCLBIN_CU_STRIDE;
        }
        sb_printf(&b, "        </kernel>\n");
    }
    sb_printf(&b, "      </core>\n    </device>\n  </platform>\n</project>\n");
    if (b.oom) {
        free(b.s);
        return QV_ENOMEM;
    }
    *xml = b.s;
    *len = b.len;
    return 0;
}
