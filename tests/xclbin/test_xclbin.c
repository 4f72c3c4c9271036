/*
 * test_xclbin.c - the xclbin reader and writer (host/src/xclbin): round
 * trips from writer to reader for several shapes, byte-for-byte
 * reproducibility, the writer's refusals, and every validation error of
 * the reader with its exact message. Malformed files are made two ways:
 * by corrupting one field of a file the writer made, and by laying out raw
 * sections with the small independent encoder below, so that the reader
 * is not only tested against its own writer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "helper.h"

#include "quiver.h"
#include "xclbin/layout.h"
#include "xclbin/meta.h"
#include "xclbin/xclbin.h"

#if defined(__has_include)
#if __has_include(<xrt/xclbin.h>) && __has_include(<uuid/uuid.h>)
#include <stddef.h>
#include <xrt/xclbin.h>
#define HAVE_XRT_HEADER 1
#endif
#endif

/* ---- helpers ------------------------------------------------------------- */

static const qv__xclbin_arg_spec vadd_args[] = {{"a", "const int*", true, 0},
                                                {"b", "const int*", true, 0},
                                                {"out", "int*", true, 0},
                                                {"n", "int", false, 4}};

/* The writer's file for vadd with 1 CU and one 1 GiB DDR4 bank. */
static uint8_t *vadd_file(size_t *size)
{
    qv__xclbin_kernel_spec k = {"vadd", vadd_args, 4, 1, NULL};
    qv__xclbin_bank_spec b = {QV__XMEM_DDR4, 1ull << 30, 0x4000000000ull, NULL};
    qv__xclbin_spec spec = {.platform = "xilinx_u250_gen3x16_xdma_4_1_202210_1",
                            .banks = &b,
                            .nbanks = 1,
                            .kernels = &k,
                            .nkernels = 1};
    uint8_t *f = NULL;
    char msg[256];
    assert_int_equal(qv__xclbin_write(&spec, &f, size, msg, sizeof msg), 0);
    return f;
}

static qv__xclbin *parse_ok(const uint8_t *d, size_t n)
{
    qv__xclbin *x = NULL;
    qv__xclbin_error err;
    int rc = qv__xclbin_parse(d, n, &x, &err);
    if (rc)
        fail_msg("parse failed: %s", err.msg);
    return x;
}

/* Parses a copy of exactly n bytes (so ASan sees reads past the end) and
 * expects QV_EFORMAT with message msg. */
static void expect_error(const uint8_t *d, size_t n, const char *msg)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, d, n);
    qv__xclbin *x = (qv__xclbin *)1;
    qv__xclbin_error err;
    int rc = qv__xclbin_parse(copy, n, &x, &err);
    free(copy);
    if (rc != QV_EFORMAT || strcmp(err.msg, msg))
        fail_msg("rc %d, message\n  got:      %s\n  expected: %s", rc, err.msg, msg);
    assert_null(x);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A section for raw_file. */
typedef struct raw {
    uint32_t kind;
    const void *data;
    size_t size;
} raw;

/* An independent encoder: a header, the section table, then each section
 * 8-byte aligned. */
static uint8_t *raw_file(const raw *s, size_t n, size_t *size)
{
    size_t pos = 456 + 40 * n;
    size_t offs[16];
    for (size_t i = 0; i < n; i++) {
        pos = (pos + 7) & ~(size_t)7;
        offs[i] = pos;
        pos += s[i].size;
    }
    if (pos < 496)
        pos = 496;
    uint8_t *d = calloc(1, pos);
    assert_non_null(d);
    memcpy(d, "xclbin2", 8);
    put64(d + 304, pos);
    d[304 + 28] = QV__XCLBIN_SW_EMU;
    memcpy(d + 304 + 48, "raw_platform", 12);
    put32(d + 304 + 144, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *h = d + 456 + 40 * i;
        put32(h, s[i].kind);
        put64(h + 24, offs[i]);
        put64(h + 32, s[i].size);
        if (s[i].size)
            memcpy(d + offs[i], s[i].data, s[i].size);
    }
    *size = pos;
    return d;
}

/* An xclbin whose only section is this XML. */
static void xml_error(const char *xml, const char *msg)
{
    raw s = {QV__SECT_EMBEDDED_METADATA, xml, strlen(xml)};
    size_t n;
    uint8_t *d = raw_file(&s, 1, &n);
    expect_error(d, n, msg);
    free(d);
}

#define XML_HEAD "<project name=\"p\"><platform><device><core>"
#define XML_TAIL "</core></device></platform></project>"
#define ARG(name, id, off, size, q)                                                      \
    "<arg name=\"" name "\" id=\"" id "\" offset=\"" off "\" size=\"" size               \
    "\" hostSize=\"" size "\" addressQualifier=\"" q                                     \
    "\" type=\"int*\" port=\"M_AXI_GMEM\"/>"

/* ---- layout against XRT's header ------------------------------------------ */

static void test_layout_matches_xrt(void **state)
{
    (void)state;
#ifdef HAVE_XRT_HEADER
    assert_int_equal(sizeof(struct axlf), QV__AXLF_SIZE);
    assert_int_equal(offsetof(struct axlf, m_magic), QV__AXLF_OFF_MAGIC);
    assert_int_equal(offsetof(struct axlf, m_signature_length), QV__AXLF_OFF_SIGLEN);
    assert_int_equal(offsetof(struct axlf, reserved), QV__AXLF_OFF_RESERVED);
    assert_int_equal(offsetof(struct axlf, m_keyBlock), QV__AXLF_OFF_KEYBLOCK);
    assert_int_equal(offsetof(struct axlf, m_uniqueId), QV__AXLF_OFF_UNIQUEID);
    assert_int_equal(offsetof(struct axlf, m_header), QV__AXLF_OFF_HEADER);
    assert_int_equal(offsetof(struct axlf, m_sections), QV__AXLF_OFF_SECTIONS);
    assert_int_equal(sizeof(struct axlf_header), QV__HDR_SIZE);
    assert_int_equal(offsetof(struct axlf_header, m_length), QV__HDR_OFF_LENGTH);
    assert_int_equal(offsetof(struct axlf_header, m_timeStamp), QV__HDR_OFF_TIMESTAMP);
    assert_int_equal(offsetof(struct axlf_header, m_featureRomTimeStamp),
                     QV__HDR_OFF_FEATUREROM_TS);
    assert_int_equal(offsetof(struct axlf_header, m_versionPatch),
                     QV__HDR_OFF_VERSION_PATCH);
    assert_int_equal(offsetof(struct axlf_header, m_versionMajor),
                     QV__HDR_OFF_VERSION_MAJOR);
    assert_int_equal(offsetof(struct axlf_header, m_versionMinor),
                     QV__HDR_OFF_VERSION_MINOR);
    assert_int_equal(offsetof(struct axlf_header, m_mode), QV__HDR_OFF_MODE);
    assert_int_equal(offsetof(struct axlf_header, m_actionMask), QV__HDR_OFF_ACTION_MASK);
    assert_int_equal(offsetof(struct axlf_header, rom_uuid), QV__HDR_OFF_ROM_UUID);
    assert_int_equal(offsetof(struct axlf_header, m_platformVBNV), QV__HDR_OFF_VBNV);
    assert_int_equal(offsetof(struct axlf_header, uuid), QV__HDR_OFF_UUID);
    assert_int_equal(offsetof(struct axlf_header, m_debug_bin), QV__HDR_OFF_DEBUG_BIN);
    assert_int_equal(offsetof(struct axlf_header, m_numSections),
                     QV__HDR_OFF_NUM_SECTIONS);
    assert_int_equal(sizeof(struct axlf_section_header), QV__SEC_SIZE);
    assert_int_equal(offsetof(struct axlf_section_header, m_sectionKind),
                     QV__SEC_OFF_KIND);
    assert_int_equal(offsetof(struct axlf_section_header, m_sectionName),
                     QV__SEC_OFF_NAME);
    assert_int_equal(offsetof(struct axlf_section_header, m_sectionOffset),
                     QV__SEC_OFF_OFFSET);
    assert_int_equal(offsetof(struct axlf_section_header, m_sectionSize),
                     QV__SEC_OFF_SIZE);
    assert_int_equal(offsetof(struct mem_topology, m_mem_data), QV__MEMTOP_OFF_DATA);
    assert_int_equal(sizeof(struct mem_data), QV__XMEM_SIZE);
    assert_int_equal(offsetof(struct mem_data, m_type), QV__XMEM_OFF_TYPE);
    assert_int_equal(offsetof(struct mem_data, m_used), QV__XMEM_OFF_USED);
    assert_int_equal(offsetof(struct mem_data, m_size), QV__XMEM_OFF_SIZE);
    assert_int_equal(offsetof(struct mem_data, m_base_address), QV__XMEM_OFF_BASE);
    assert_int_equal(offsetof(struct mem_data, m_tag), QV__XMEM_OFF_TAG);
    assert_int_equal(offsetof(struct connectivity, m_connection), QV__CONN_OFF_DATA);
    assert_int_equal(sizeof(struct connection), QV__CONN_SIZE);
    assert_int_equal(offsetof(struct connection, arg_index), QV__CONN_OFF_ARG);
    assert_int_equal(offsetof(struct connection, m_ip_layout_index), QV__CONN_OFF_IP);
    assert_int_equal(offsetof(struct connection, mem_data_index), QV__CONN_OFF_MEM);
    assert_int_equal(offsetof(struct ip_layout, m_ip_data), QV__IPL_OFF_DATA);
    assert_int_equal(sizeof(struct ip_data), QV__IP_SIZE);
    assert_int_equal(offsetof(struct ip_data, m_type), QV__IP_OFF_TYPE);
    assert_int_equal(offsetof(struct ip_data, properties), QV__IP_OFF_PROPERTIES);
    assert_int_equal(offsetof(struct ip_data, m_base_address), QV__IP_OFF_BASE);
    assert_int_equal(offsetof(struct ip_data, m_name), QV__IP_OFF_NAME);
    assert_int_equal(XCLBIN_MAX_NUM_SECTION, QV__MAX_SECTIONS);
    assert_int_equal(XCLBIN_SW_EMU, QV__XCLBIN_SW_EMU);
    assert_int_equal(XCLBIN_HW_EMU, QV__XCLBIN_HW_EMU);
    assert_int_equal(EMBEDDED_METADATA, QV__SECT_EMBEDDED_METADATA);
    assert_int_equal(MEM_TOPOLOGY, QV__SECT_MEM_TOPOLOGY);
    assert_int_equal(CONNECTIVITY, QV__SECT_CONNECTIVITY);
    assert_int_equal(IP_LAYOUT, QV__SECT_IP_LAYOUT);
    assert_int_equal(MEM_HBM, QV__XMEM_HBM);
    assert_int_equal(MEM_STREAMING_CONNECTION, QV__XMEM_STREAMING_CONNECTION);
    assert_int_equal(IP_PS_KERNEL, QV__IP_PS_KERNEL);
    assert_int_equal(AP_CTRL_NONE, QV__AP_CTRL_NONE);
#else
    skip();
#endif
}

/* ---- round trips ----------------------------------------------------------- */

static void test_roundtrip_vadd(void **state)
{
    (void)state;
    size_t n;
    uint8_t *f = vadd_file(&n);
    qv__xclbin *x = parse_ok(f, n);
    assert_int_equal(x->length, n);
    assert_int_equal(x->mode, QV__XCLBIN_FLAT);
    assert_string_equal(x->platform, "xilinx_u250_gen3x16_xdma_4_1_202210_1");
    assert_string_equal(x->project, "vadd");
    assert_int_equal(x->version_major, 2);
    assert_int_equal(x->version_minor, 13);
    assert_int_equal(x->timestamp, 0);
    assert_int_equal(x->nsections, 4);
    assert_int_equal(x->sections[0].kind, QV__SECT_MEM_TOPOLOGY);
    assert_int_equal(x->sections[0].offset, 616); /* right after 4 headers */
    assert_int_equal(x->sections[1].kind, QV__SECT_IP_LAYOUT);
    assert_int_equal(x->sections[2].kind, QV__SECT_CONNECTIVITY);
    assert_int_equal(x->sections[3].kind, QV__SECT_EMBEDDED_METADATA);
    for (size_t i = 0; i < x->nsections; i++)
        assert_int_equal(x->sections[i].offset % 8, 0);
    assert_int_equal(x->nbanks, 1);
    assert_int_equal(x->banks[0].type, QV__XMEM_DDR4);
    assert_true(x->banks[0].used);
    assert_int_equal(x->banks[0].size, 1ull << 30);
    assert_int_equal(x->banks[0].base, 0x4000000000ull);
    assert_string_equal(x->banks[0].tag, "DDR[0]");
    assert_int_equal(x->nips, 1);
    assert_string_equal(x->ips[0].name, "vadd:vadd_1");
    assert_int_equal(x->ips[0].type, QV__IP_KERNEL);
    assert_int_equal(x->ips[0].base, QV__XCLBIN_CU_BASE);
    assert_int_equal(x->ips[0].properties, (QV__AP_CTRL_HS << 8) | 1);
    assert_int_equal(x->nconns, 3);
    assert_int_equal(x->nkernels, 1);
    const qv__xclbin_kernel *k = qv__xclbin_kernel_find(x, "vadd");
    assert_non_null(k);
    assert_null(qv__xclbin_kernel_find(x, "vad"));
    assert_int_equal(k->nargs, 4);
    assert_int_equal(k->address_range, 0x1000);
    static const uint64_t offsets[] = {0x10, 0x1c, 0x28, 0x34};
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(k->args[i].id, i);
        assert_string_equal(k->args[i].name, vadd_args[i].name);
        assert_string_equal(k->args[i].type, vadd_args[i].type);
        assert_int_equal(k->args[i].offset, offsets[i]);
        assert_int_equal(k->args[i].addrq, i < 3 ? QV__ARG_GLOBAL : QV__ARG_SCALAR);
        assert_int_equal(k->args[i].size, i < 3 ? 8 : 4);
        assert_int_equal(k->args[i].host_size, i < 3 ? 8 : 4);
    }
    assert_string_equal(k->args[0].port, "M_AXI_GMEM0");
    assert_string_equal(k->args[3].port, "S_AXI_CONTROL");
    assert_ptr_equal(qv__xclbin_arg_find(k, "out"), &k->args[2]);
    assert_null(qv__xclbin_arg_find(k, "ou"));
    assert_int_equal(k->ncus, 1);
    assert_string_equal(k->cus[0].name, "vadd_1");
    assert_int_equal(k->cus[0].ip, 0);
    assert_int_equal(k->cus[0].base, QV__XCLBIN_CU_BASE);
    assert_int_equal(k->cus[0].control, QV__AP_CTRL_HS);
    for (int i = 0; i < 3; i++)
        assert_int_equal(k->cus[0].arg_bank[i], 0);
    assert_int_equal(k->cus[0].arg_bank[3], QV__XCLBIN_NONE);
    assert_false(x->has_bitstream);
    /* The uuid is a version-8 RFC 9562 uuid. */
    assert_int_equal(x->uuid[6] >> 4, 8);
    qv__xclbin_destroy(x);
    free(f);
}

/* Several kernels, CUs and banks, explicit connectivity, sw_emu with a
 * payload, a type that needs XML escaping, a kernel without arguments. */
static void test_roundtrip_multi(void **state)
{
    (void)state;
    static const qv__xclbin_arg_spec mm_args[] = {{"A", "const float*", true, 0},
                                                  {"B", "const float*", true, 0},
                                                  {"C", "float*", true, 0},
                                                  {"wide", "ap_uint<512>&", false, 64},
                                                  {"n", "uint8_t", false, 1}};
    /* mm CU 1: A,B on HBM[0], C on HBM[1]; CU 2: A,B,C on HBM[1]; CU 3: DDR. */
    static const uint32_t mm_banks[] = {0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 2, 2, 2, 0, 0};
    /* 100 scalars of 64 bytes need more than the default 4 KiB of registers. */
    qv__xclbin_arg_spec wide_args[100];
    char wide_names[100][8];
    for (int i = 0; i < 100; i++) {
        snprintf(wide_names[i], sizeof wide_names[i], "w%d", i);
        wide_args[i] = (qv__xclbin_arg_spec){wide_names[i], "struct \"q'\"", false, 64};
    }
    qv__xclbin_kernel_spec ks[] = {{"mm", mm_args, 5, 3, mm_banks},
                                   {"noargs", NULL, 0, 2, NULL},
                                   {"wide", wide_args, 100, 1, NULL}};
    qv__xclbin_bank_spec banks[] = {{QV__XMEM_HBM, 256u << 20, 0, NULL},
                                    {QV__XMEM_HBM, 256u << 20, 0, NULL},
                                    {QV__XMEM_DDR4, 16ull << 30, 0, NULL},
                                    {QV__XMEM_DRAM, 128u << 10, 0, "my&plram"}};
    uint8_t payload[3000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7);
    qv__xclbin_spec spec = {.platform = "xilinx_u55c_gen3x16_xdma_3_202210_1",
                            .project = "proj<&>\"'",
                            .mode = QV__XCLBIN_SW_EMU,
                            .timestamp = 1700000000,
                            .banks = banks,
                            .nbanks = 4,
                            .auto_base = true,
                            .kernels = ks,
                            .nkernels = 3,
                            .bitstream = payload,
                            .bitstream_size = 3001 - 1};
    uint8_t *f, *g;
    size_t n, m;
    char msg[256];
    assert_int_equal(qv__xclbin_write(&spec, &f, &n, msg, sizeof msg), 0);
    /* Reproducible: the same spec gives the same bytes. */
    assert_int_equal(qv__xclbin_write(&spec, &g, &m, msg, sizeof msg), 0);
    assert_int_equal(n, m);
    assert_memory_equal(f, g, n);
    free(g);
    qv__xclbin *x = parse_ok(f, n);
    assert_int_equal(x->mode, QV__XCLBIN_SW_EMU);
    assert_int_equal(x->timestamp, 1700000000);
    assert_string_equal(x->project, "proj<&>\"'");
    assert_int_equal(x->nsections, 5);
    assert_int_equal(x->nbanks, 4);
    assert_string_equal(x->banks[0].tag, "HBM[0]");
    assert_string_equal(x->banks[1].tag, "HBM[1]");
    assert_string_equal(x->banks[2].tag, "DDR[0]");
    assert_string_equal(x->banks[3].tag, "my&plram");
    assert_int_equal(x->banks[0].base, 0x4000000000ull);
    assert_int_equal(x->banks[1].base, 0x4000000000ull + (256u << 20));
    assert_int_equal(x->banks[3].size, 128u << 10);
    assert_int_equal(x->nkernels, 3);
    const qv__xclbin_kernel *k = &x->kernels[0];
    assert_string_equal(k->name, "mm");
    assert_string_equal(k->args[3].type, "ap_uint<512>&");
    assert_int_equal(k->args[3].size, 64);
    assert_int_equal(k->args[3].offset, 0x34);
    assert_int_equal(k->args[4].offset, 0x34 + 64 + 4);
    assert_int_equal(k->ncus, 3);
    for (unsigned c = 0; c < 3; c++) {
        char name[16];
        snprintf(name, sizeof name, "mm_%u", c + 1);
        assert_string_equal(k->cus[c].name, name);
        assert_int_equal(k->cus[c].base, QV__XCLBIN_CU_BASE + c * QV__XCLBIN_CU_STRIDE);
        for (unsigned a = 0; a < 5; a++)
            assert_int_equal(k->cus[c].arg_bank[a],
                             a < 3 ? mm_banks[c * 5 + a] : QV__XCLBIN_NONE);
    }
    const qv__xclbin_kernel *z = &x->kernels[1];
    assert_string_equal(z->name, "noargs");
    assert_int_equal(z->nargs, 0);
    assert_int_equal(z->ncus, 2);
    assert_int_equal(z->cus[1].base, QV__XCLBIN_CU_BASE + 4 * QV__XCLBIN_CU_STRIDE);
    const qv__xclbin_kernel *w = &x->kernels[2];
    assert_int_equal(w->nargs, 100);
    assert_int_equal(w->address_range, 0x2000);
    assert_int_equal(w->args[99].offset, 0x10 + 99 * 68);
    assert_string_equal(w->args[99].type, "struct \"q'\"");
    assert_int_equal(w->cus[0].base, QV__XCLBIN_CU_BASE + 5 * QV__XCLBIN_CU_STRIDE);
    uint64_t offs[100];
    assert_int_equal(qv__xclbin_arg_offsets(wide_args, 100, offs), 0x10 + 100 * 68);
    assert_int_equal(offs[1], 0x10 + 68);
    assert_true(x->has_bitstream);
    assert_int_equal(x->bitstream_size, 3000);
    assert_ptr_equal(x->bitstream, f + x->bitstream_offset);
    assert_memory_equal(x->bitstream, payload, 3000);
    qv__xclbin_destroy(x);
    free(f);
}

/* Default connectivity: CU i to bank i % nbanks; hw_emu mode. */
static void test_roundtrip_round_robin(void **state)
{
    (void)state;
    qv__xclbin_kernel_spec k = {"vadd", vadd_args, 4, 5, NULL};
    qv__xclbin_bank_spec b[] = {{QV__XMEM_DDR4, 1u << 30, 0x100000000ull, NULL},
                                {QV__XMEM_DDR4, 1u << 30, 0x200000000ull, "bank1"},
                                {QV__XMEM_DDR3, 1u << 30, 0x300000000ull, NULL}};
    qv__xclbin_spec spec = {.platform = "p",
                            .mode = QV__XCLBIN_HW_EMU,
                            .banks = b,
                            .nbanks = 3,
                            .kernels = &k,
                            .nkernels = 1};
    uint8_t *f;
    size_t n;
    assert_int_equal(qv__xclbin_write(&spec, &f, &n, NULL, 0), 0);
    qv__xclbin *x = parse_ok(f, n);
    assert_int_equal(x->mode, QV__XCLBIN_HW_EMU);
    assert_string_equal(x->banks[1].tag, "bank1");
    assert_string_equal(x->banks[2].tag, "DDR[1]"); /* the 2nd untagged DDR */
    assert_int_equal(x->banks[2].base, 0x300000000ull);
    for (unsigned c = 0; c < 5; c++)
        assert_int_equal(x->kernels[0].cus[c].arg_bank[0], c % 3);
    qv__xclbin_destroy(x);
    free(f);
}

/* XML the writer never makes but the reader must read as XRT does:
 * comments, processing instructions, single quotes, references, trailing
 * NULs, a multi-part argument merged by id, an argument without id. */
static void test_xml_features(void **state)
{
    (void)state;
    static const char xml[] =
        "\xef\xbb\xbf<?xml version='1.0'?>\n<!-- generated -->\n"
        "<project name='a&amp;b&#x41;&#66;'><platform><device><core>"
        "<kernel name='k' hwControlProtocol='ap_ctrl_chain'>"
        "<port name='S' mode='slave' range='0x100'/>"
        "<!-- a comment with <tags> & stuff -->"
        "<arg name='gs' id='0' offset='0x20' size='4' hostSize='4' addressQualifier='0'/>"
        "<arg name='gs_hi' id='0' offset='0x1c' size='4' hostSize='4' "
        "addressQualifier='0'/>"
        "<arg name='hidden' id='' offset='0x30' size='4' hostSize='4' "
        "addressQualifier='0'/>"
        "<arg name='p' id='1' offset='010' size='8' hostSize='8' addressQualifier='1' "
        "type='int &lt;x&gt;\t*'/>"
        "<instance name='k_1'><addrRemap base='0X1aF0'/></instance>"
        "text &lt; ok\n<?pi inside?>"
        "</kernel><kernelClocks/>"
        "<kernel name='rev'>"
        "<arg name='c' id='2' offset='0x28' size='4' hostSize='4' addressQualifier='0'/>"
        "<arg name='b' id='1' offset='0x1c' size='4' hostSize='4' addressQualifier='0'/>"
        "<arg name='a' id='0' offset='0x10' size='4' hostSize='4' addressQualifier='0'/>"
        "</kernel></core></device></platform></project>\n";
    raw s = {QV__SECT_EMBEDDED_METADATA, xml, sizeof xml + 2};
    char *buf = calloc(1, sizeof xml + 2); /* NUL padding after the XML */
    assert_non_null(buf);
    memcpy(buf, xml, sizeof xml);
    s.data = buf;
    size_t n;
    uint8_t *f = raw_file(&s, 1, &n);
    free(buf);
    qv__xclbin *x = parse_ok(f, n);
    assert_string_equal(x->project, "a&bAB");
    const qv__xclbin_kernel *k = &x->kernels[0];
    assert_int_equal(k->address_range, 0x100);
    assert_int_equal(k->nargs, 2);
    assert_string_equal(k->args[0].name, "gs");
    assert_int_equal(k->args[0].size, 8);
    assert_int_equal(k->args[0].host_size, 8);
    assert_int_equal(k->args[0].offset, 0x1c);
    assert_int_equal(k->args[1].offset, 8); /* octal, as std::stoul(s, 0, 0) */
    assert_string_equal(k->args[1].type, "int <x> *");
    assert_string_equal(k->args[1].port, "");
    /* No IP_LAYOUT: the CU comes from the XML instance. */
    assert_int_equal(k->ncus, 1);
    assert_string_equal(k->cus[0].name, "k_1");
    assert_int_equal(k->cus[0].base, 0x1af0);
    assert_int_equal(k->cus[0].ip, QV__XCLBIN_NONE);
    assert_int_equal(x->mode, QV__XCLBIN_SW_EMU);
    assert_string_equal(x->platform, "raw_platform");
    /* Arguments in reverse document order come out sorted by id. */
    assert_int_equal(x->nkernels, 2);
    const qv__xclbin_kernel *r = &x->kernels[1];
    assert_int_equal(r->nargs, 3);
    assert_string_equal(r->args[0].name, "a");
    assert_string_equal(r->args[1].name, "b");
    assert_string_equal(r->args[2].name, "c");
    assert_int_equal(r->args[2].offset, 0x28);
    assert_int_equal(r->ncus, 0);
    assert_int_equal(k->cus[0].control, QV__AP_CTRL_CHAIN);
    qv__xclbin_destroy(x);
    free(f);
}

/* ---- the writer's refusals -------------------------------------------------- */

static void expect_spec_error(const qv__xclbin_spec *spec, const char *msg)
{
    uint8_t *f = (uint8_t *)1;
    size_t n = 1;
    char got[256] = "";
    int rc = qv__xclbin_write(spec, &f, &n, got, sizeof got);
    if (rc != QV_EINVAL || strcmp(got, msg))
        fail_msg("rc %d\n  got:      %s\n  expected: %s", rc, got, msg);
    assert_null(f);
    assert_int_equal(n, 0);
}

static void test_writer_errors(void **state)
{
    (void)state;
    qv__xclbin_arg_spec args[2] = {{"a", "int*", true, 0}, {"n", "int", false, 4}};
    qv__xclbin_kernel_spec k = {"vadd", args, 2, 1, NULL};
    qv__xclbin_bank_spec b = {QV__XMEM_DDR4, 1u << 30, 0, NULL};
    qv__xclbin_spec base = {
        .platform = "p", .banks = &b, .nbanks = 1, .kernels = &k, .nkernels = 1};
    qv__xclbin_spec s = base;
    s.platform = "";
    expect_spec_error(&s, "platform name must be 1..63 printable ASCII characters");
    s.platform = "0123456789012345678901234567890123456789012345678901234567890123";
    expect_spec_error(&s, "platform name must be 1..63 printable ASCII characters");
    s = base;
    s.mode = QV__XCLBIN_PR;
    expect_spec_error(&s, "mode 1: the writer makes FLAT (hw), SW_EMU or HW_EMU files");
    s = base;
    s.nbanks = 0;
    expect_spec_error(&s, "0 memory banks; expected 1..128");
    s = base;
    b.size = 1000;
    expect_spec_error(&s, "bank 0: size 1000 is not a positive multiple of 1024");
    b.size = 1u << 30;
    b.type = QV__XMEM_STREAMING;
    expect_spec_error(&s, "bank 0: type 3 is not a memory type");
    b.type = QV__XMEM_DDR4;
    b.tag = "0123456789abcdef";
    expect_spec_error(&s, "bank 0: tag must be 1..15 printable characters");
    b.tag = NULL;
    k.name = "2x";
    expect_spec_error(&s, "kernel 0: name '2x' is not a C identifier");
    k.name = "a_kernel_name_that_is_far_too_long_for_ip";
    expect_spec_error(&s,
                      "kernel 'a_kernel_name_that_is_far_too_long_for_ip': name longer "
                      "than 29 characters");
    k.name = "vadd";
    k.ncus = 0;
    expect_spec_error(&s, "kernel 'vadd': 0 compute units; expected 1..128");
    k.ncus = 1;
    args[1].size = 0;
    expect_spec_error(&s,
                      "kernel 'vadd': argument 'n': scalar size 0; expected 1..64 bytes");
    args[1].size = 4;
    args[1].name = "a";
    expect_spec_error(&s, "kernel 'vadd': argument 'a' is given twice");
    args[1].name = "n";
    args[0].type = "int\n*";
    expect_spec_error(&s, "kernel 'vadd': argument 'a': type must be 1..128 printable "
                          "characters");
    args[0].type = "int*";
    const uint32_t banks[] = {1, 0};
    k.banks = banks;
    expect_spec_error(
        &s, "kernel 'vadd': CU 1: argument 'a' connects to bank 1; there are 1");
    k.banks = NULL;
    qv__xclbin_kernel_spec two[] = {k, k};
    s.kernels = two;
    s.nkernels = 2;
    expect_spec_error(&s, "kernel 'vadd' is given twice");
    s = base;
    s.nkernels = 0;
    expect_spec_error(&s, "0 kernels; expected 1..64");
    /* 33 kernels of 128 CUs: each within its bounds, more CUs than the
     * reader takes (the file was written, and refused by `xclbin info`). */
    static qv__xclbin_kernel_spec many[33];
    static char names[33][8];
    for (int i = 0; i < 33; i++) {
        many[i] = k;
        snprintf(names[i], sizeof names[i], "k%d", i);
        many[i].name = names[i];
        many[i].ncus = 128;
    }
    s = base;
    s.kernels = many;
    s.nkernels = 33;
    expect_spec_error(&s, "4224 compute units in all; at most 4096");
    s = base;
    s.project = "";
    expect_spec_error(&s, "project name must be 1..128 printable ASCII characters");
    s = base;
    k.name = "v-add";
    expect_spec_error(&s, "kernel 0: name 'v-add' is not a C identifier");
    k.name = "vadd";
    args[0].name = "a b";
    expect_spec_error(&s, "kernel 'vadd': argument 0: name 'a b' is not a C identifier");
    args[0].name = "a";
    k.nargs = QV__XCLBIN_MAX_ARGS + 1;
    expect_spec_error(&s, "kernel 'vadd': 257 arguments; at most 256");
    k.nargs = 2;
    s.bitstream_size = 10;
    expect_spec_error(&s, "bitstream of 10 bytes without data");
    s.bitstream_size = 0;
    /* After all the refusals, the base spec is still good. */
    uint8_t *f;
    size_t n;
    assert_int_equal(qv__xclbin_write(&s, &f, &n, NULL, 0), 0);
    free(f);
}

/* ---- the reader's refusals: header and section table ------------------------ */

static void test_header_errors(void **state)
{
    (void)state;
    size_t n;
    uint8_t *f = vadd_file(&n);
    expect_error(f, 0,
                 "offset 0x0: file of 0 bytes is shorter than an xclbin header (496)");
    expect_error(f, 495,
                 "offset 0x0: file of 495 bytes is shorter than an xclbin header (496)");

    uint8_t *c = malloc(n);
    assert_non_null(c);
    memcpy(c, f, n);
    c[6] = '1';
    expect_error(c, n, "offset 0x0: bad magic: not an xclbin2 file");
    memcpy(c, f, n);
    c[7] = 'x'; /* the magic includes its NUL */
    expect_error(c, n, "offset 0x0: bad magic: not an xclbin2 file");

    /* Truncated: the length field no longer matches. */
    char msg[256];
    snprintf(msg, sizeof msg,
             "offset 0x130: header length %zu does not match the file size %zu", n,
             n - 1);
    expect_error(f, n - 1, msg);
    memcpy(c, f, n);
    put64(c + 304, n + 8);
    snprintf(msg, sizeof msg,
             "offset 0x130: header length %zu does not match the file size %zu", n + 8,
             n);
    expect_error(c, n, msg);

    memcpy(c, f, n);
    c[304 + 28] = 7;
    expect_error(c, n, "offset 0x14c: unknown mode 7");

    memcpy(c, f, n);
    memset(c + 304 + 48, 'x', 64);
    expect_error(c, n, "offset 0x160: platform name is not NUL-terminated");

    memcpy(c, f, n);
    put32(c + 304 + 144, 0x10001);
    expect_error(c, n, "offset 0x1c0: 65537 sections; at most 65536");
    put32(c + 304 + 144, 0x10000);
    snprintf(msg, sizeof msg,
             "offset 0x1c0: 65536 section headers end at 0x2801c8, past the "
             "end of the file (0x%zx)",
             n);
    expect_error(c, n, msg);
    free(c);
    free(f);
}

/* Section headers: out of bounds, overflowing, misaligned, overlapping the
 * table, duplicated. Section 1 (IP_LAYOUT) is the victim; its header is at
 * 456 + 40 = 0x1f0, its offset field at 0x208. */
static void test_section_errors(void **state)
{
    (void)state;
    size_t n;
    uint8_t *f = vadd_file(&n);
    uint8_t *c = malloc(n);
    assert_non_null(c);
    char msg[256];
    uint64_t ip_off = 0x298;

    memcpy(c, f, n);
    put64(c + 0x210, n);
    snprintf(msg, sizeof msg,
             "offset 0x208: section 1 (IP_LAYOUT) at offset 0x298, size 0x%zx, "
             "is not inside the file (0x%zx bytes)",
             n, n);
    expect_error(c, n, msg);

    memcpy(c, f, n);
    put64(c + 0x208, UINT64_MAX - 7);
    put64(c + 0x210, 16); /* offset + size wraps around */
    snprintf(msg, sizeof msg,
             "offset 0x208: section 1 (IP_LAYOUT) at offset 0xfffffffffffffff8, "
             "size 0x10, is not inside the file (0x%zx bytes)",
             n);
    expect_error(c, n, msg);

    memcpy(c, f, n);
    put64(c + 0x208, n - 8);
    put64(c + 0x210, UINT64_MAX); /* size alone wraps */
    snprintf(msg, sizeof msg,
             "offset 0x208: section 1 (IP_LAYOUT) at offset 0x%zx, size "
             "0xffffffffffffffff, is not inside the file (0x%zx bytes)",
             n - 8, n);
    expect_error(c, n, msg);

    memcpy(c, f, n);
    put64(c + 0x208, ip_off + 4);
    expect_error(c, n,
                 "offset 0x208: section 1 (IP_LAYOUT) at offset 0x29c is not 8-byte "
                 "aligned");

    memcpy(c, f, n);
    put64(c + 0x208, 8);
    expect_error(c, n,
                 "offset 0x208: section 1 (IP_LAYOUT) at offset 0x8 overlaps the section "
                 "headers (up to 0x268)");

    memcpy(c, f, n);
    put32(c + 0x1f0, QV__SECT_MEM_TOPOLOGY);
    expect_error(c, n, "offset 0x1f0: section 1 is a second MEM_TOPOLOGY section");

    /* An unknown kind out of bounds is named by number. */
    memcpy(c, f, n);
    put32(c + 0x1f0, 999);
    put64(c + 0x210, n);
    snprintf(msg, sizeof msg,
             "offset 0x208: section 1 (kind 999) at offset 0x298, size 0x%zx, "
             "is not inside the file (0x%zx bytes)",
             n, n);
    expect_error(c, n, msg);

    /* Unknown kinds in bounds are listed and otherwise ignored: so this
     * file has no IP_LAYOUT, and its CONNECTIVITY names IPs that do not
     * exist. */
    memcpy(c, f, n);
    put32(c + 0x1f0, 999);
    expect_error(c, n,
                 "offset 0x2f8: CONNECTIVITY: connection 0 names IP 0; IP_LAYOUT has 0");
    put32(c + 0x218, 998); /* and no CONNECTIVITY either */
    qv__xclbin *x = parse_ok(c, n);
    assert_int_equal(x->sections[1].kind, 999);
    assert_int_equal(x->nips, 0);
    assert_int_equal(x->nconns, 0);
    /* The CU then comes from the XML's instance. */
    assert_int_equal(x->kernels[0].ncus, 1);
    assert_int_equal(x->kernels[0].cus[0].base, QV__XCLBIN_CU_BASE);
    assert_int_equal(x->kernels[0].cus[0].arg_bank[0], QV__XCLBIN_NONE);
    qv__xclbin_destroy(x);
    free(c);
    free(f);
}

/* ---- the reader's refusals: decoded sections -------------------------------- */

static void test_mem_ip_errors(void **state)
{
    (void)state;
    size_t n;
    uint8_t *f = vadd_file(&n);
    uint8_t *c = malloc(n);
    assert_non_null(c);
    /* MEM_TOPOLOGY at 0x268 (48 bytes), IP_LAYOUT at 0x298 (88 bytes). */
    memcpy(c, f, n);
    put32(c + 0x268, UINT32_MAX);
    expect_error(c, n, "offset 0x268: MEM_TOPOLOGY: negative count -1");
    put32(c + 0x268, 1000000);
    expect_error(c, n, "offset 0x268: MEM_TOPOLOGY: 1000000 banks; at most 1024");
    put32(c + 0x268, 0x7fffffff);
    expect_error(c, n, "offset 0x268: MEM_TOPOLOGY: 2147483647 banks; at most 1024");
    put32(c + 0x268, 2);
    expect_error(c, n,
                 "offset 0x268: MEM_TOPOLOGY: 2 banks need 88 bytes; the section has 48");
    memcpy(c, f, n);
    c[0x270] = 12;
    expect_error(c, n, "offset 0x270: MEM_TOPOLOGY: bank 0 has unknown type 12");
    memcpy(c, f, n);
    memset(c + 0x270 + 24, 'T', 16);
    expect_error(c, n,
                 "offset 0x288: MEM_TOPOLOGY: the tag of bank 0 is not NUL-terminated");
    memcpy(c, f, n);
    put64(c + 0x278, UINT64_MAX / 1024 + 1);
    expect_error(c, n,
                 "offset 0x278: MEM_TOPOLOGY: bank 0 size 18014398509481984 KiB "
                 "overflows");
    memcpy(c, f, n);
    put64(c + 0x1c8 + 32, 2); /* MEM_TOPOLOGY shrunk to 2 bytes */
    expect_error(c, n, "offset 0x268: MEM_TOPOLOGY: section of 2 bytes has no count");

    memcpy(c, f, n);
    put32(c + 0x298, 2);
    expect_error(c, n,
                 "offset 0x298: IP_LAYOUT: 2 IPs need 168 bytes; the section has 88");
    memcpy(c, f, n);
    memset(c + 0x2a0 + 16, 'x', 64);
    expect_error(c, n, "offset 0x2b0: IP_LAYOUT: the name of IP 0 is not NUL-terminated");
    memcpy(c, f, n);
    memcpy(c + 0x2a0 + 16, "vadd_1\0", 8);
    expect_error(c, n,
                 "offset 0x2b0: IP_LAYOUT: kernel IP 0 is named 'vadd_1'; expected "
                 "'kernel:instance'");
    memcpy(c + 0x2a0 + 16, "vadd:\0", 6);
    expect_error(c, n,
                 "offset 0x2b0: IP_LAYOUT: kernel IP 0 is named 'vadd:'; expected "
                 "'kernel:instance'");
    free(c);
    free(f);
}

static void test_connectivity_errors(void **state)
{
    (void)state;
    size_t n;
    uint8_t *f = vadd_file(&n);
    uint8_t *c = malloc(n);
    assert_non_null(c);
    /* CONNECTIVITY at 0x2f0: count, then 3 entries of 12 bytes from 0x2f4. */
    memcpy(c, f, n);
    put32(c + 0x2f0, 4);
    expect_error(c, n,
                 "offset 0x2f0: CONNECTIVITY: 4 connections need 52 bytes; the section "
                 "has 40");
    memcpy(c, f, n);
    put32(c + 0x2f4 + 12, UINT32_MAX);
    expect_error(c, n, "offset 0x300: CONNECTIVITY: connection 1 has arg index -1");
    memcpy(c, f, n);
    put32(c + 0x2f4 + 4, 1);
    expect_error(c, n,
                 "offset 0x2f8: CONNECTIVITY: connection 0 names IP 1; IP_LAYOUT has 1");
    put32(c + 0x2f4 + 4, UINT32_MAX);
    expect_error(c, n,
                 "offset 0x2f8: CONNECTIVITY: connection 0 names IP -1; IP_LAYOUT has 1");
    memcpy(c, f, n);
    put32(c + 0x2f4 + 24 + 8, 1);
    expect_error(c, n,
                 "offset 0x314: CONNECTIVITY: connection 2 names bank 1; MEM_TOPOLOGY "
                 "has 1");
    memcpy(c, f, n);
    put32(c + 0x2f4 + 8, 0x80000000u);
    expect_error(c, n,
                 "offset 0x2fc: CONNECTIVITY: connection 0 names bank -2147483648; "
                 "MEM_TOPOLOGY has 1");
    memcpy(c, f, n);
    c[0x270 + 1] = 0; /* bank 0 unused */
    expect_error(
        c, n,
        "offset 0x2fc: CONNECTIVITY: connection 0 names bank 0 ('DDR[0]'), which "
        "is unused");
    memcpy(c, f, n);
    put32(c + 0x2a0, 4); /* the IP is a DDR controller, not a kernel */
    expect_error(c, n,
                 "offset 0x2f8: CONNECTIVITY: connection 0 names IP 0 ('vadd:vadd_1'), "
                 "which is not a kernel");
    memcpy(c, f, n);
    put32(c + 0x2f4 + 12, 4); /* vadd has args 0..3 */
    expect_error(c, n,
                 "offset 0x300: CONNECTIVITY: connection 1 names arg 4 of kernel 'vadd', "
                 "which has 4");
    free(c);
    free(f);
}

/* ---- the reader's refusals: EMBEDDED_METADATA -------------------------------- */

static void test_xml_errors(void **state)
{
    (void)state;
    /* The XML starts at file offset 0x1f0 (one section header); the reader
     * (formats/xml.h, on expat) names line:column inside it too. */
    xml_error("", "offset 0x1f0: EMBEDDED_METADATA:1:1: no root element");
    xml_error("  \n", "offset 0x1f3: EMBEDDED_METADATA:2:1: no root element");
    xml_error("<project>",
              "offset 0x1f9: EMBEDDED_METADATA:1:10: the document ends inside <project>");
    xml_error("<project", "offset 0x1f0: EMBEDDED_METADATA:1:1: unclosed token");
    xml_error("<!DOCTYPE p [<!ENTITY a \"b\">]><project/>",
              "offset 0x1f0: EMBEDDED_METADATA:1:1: a DOCTYPE declaration is not "
              "accepted (no DTD, no entity declarations)");
    xml_error("\n  <!DOCTYPE p SYSTEM \"file:///etc/passwd\"><project/>",
              "offset 0x1f3: EMBEDDED_METADATA:2:3: a DOCTYPE declaration is not "
              "accepted (no DTD, no entity declarations)");
    /* CDATA is well-formed XML (and dropped, as all text is). */
    xml_error("<p><![CDATA[x]]></p>",
              "offset 0x1f0: EMBEDDED_METADATA: no <project><platform><device><core> "
              "element");
    xml_error("<a><b></a>",
              "offset 0x1f8: EMBEDDED_METADATA:1:9: mismatched tag: </b> expected");
    xml_error("<a x='1' x='2'/>",
              "offset 0x1f9: EMBEDDED_METADATA:1:10: duplicate attribute 'x' in <a>");
    xml_error("<a x='<'/>",
              "offset 0x1f6: EMBEDDED_METADATA:1:7: not well-formed (invalid token)");
    xml_error("<a x='&bogus;'/>",
              "offset 0x1f0: EMBEDDED_METADATA:1:1: undefined entity (only &lt; &gt; "
              "&amp; &quot; &apos; and character references are known)");
    xml_error(
        "<a x='&#0;'/>",
        "offset 0x1f6: EMBEDDED_METADATA:1:7: reference to invalid character number");
    xml_error(
        "<a x='&#99999999999;'/>",
        "offset 0x1f6: EMBEDDED_METADATA:1:7: reference to invalid character number");
    xml_error("<a x='&#x41'/>",
              "offset 0x1fb: EMBEDDED_METADATA:1:12: not well-formed (invalid token)");
    xml_error("<a x='&#;'/>",
              "offset 0x1f8: EMBEDDED_METADATA:1:9: not well-formed (invalid token)");
    xml_error("<a>&#65", "offset 0x1f3: EMBEDDED_METADATA:1:4: unclosed token");
    xml_error("<a x='\xff'/>",
              "offset 0x1f6: EMBEDDED_METADATA:1:7: invalid UTF-8 (byte 0xff)");
    xml_error("<a>\x01</a>", "offset 0x1f3: EMBEDDED_METADATA:1:4: control character "
                             "0x01 is not allowed in XML");
    /* Valid UTF-8, but the metadata is ASCII. */
    xml_error("<project>\n <a x='1' y='\xc3\xa9'/></project>",
              "offset 0x1fb: EMBEDDED_METADATA:2:2: attribute 'y' of <a> is not ASCII");
    xml_error("<a x='1'", "offset 0x1f0: EMBEDDED_METADATA:1:1: unclosed token");
    xml_error("<a x='1/>", "offset 0x1f0: EMBEDDED_METADATA:1:1: unclosed token");
    xml_error("<a x=1/>",
              "offset 0x1f5: EMBEDDED_METADATA:1:6: not well-formed (invalid token)");
    xml_error("<a x/>",
              "offset 0x1f4: EMBEDDED_METADATA:1:5: not well-formed (invalid token)");
    xml_error("<a x='1'y='2'/>",
              "offset 0x1f8: EMBEDDED_METADATA:1:9: not well-formed (invalid token)");
    xml_error("<1a/>",
              "offset 0x1f1: EMBEDDED_METADATA:1:2: not well-formed (invalid token)");
    xml_error("<a/><b/>",
              "offset 0x1f4: EMBEDDED_METADATA:1:5: content after the root element");
    xml_error("x<a/>",
              "offset 0x1f1: EMBEDDED_METADATA:1:2: not well-formed (invalid token)");
    xml_error("<a><!-- x </a>", "offset 0x1f3: EMBEDDED_METADATA:1:4: unclosed token");
    xml_error("<a>]]></a>",
              "offset 0x1f5: EMBEDDED_METADATA:1:6: not well-formed (invalid token)");

    /* Limits. */
    char *deep = malloc(40 * 7 + 1);
    assert_non_null(deep);
    deep[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(deep, "<a>");
    xml_error(deep,
              "offset 0x250: EMBEDDED_METADATA:1:97: elements nested deeper than 32");
    free(deep);
    char attrs[65 * 8 + 16] = "<a";
    for (int i = 0; i < 65; i++)
        snprintf(attrs + strlen(attrs), sizeof attrs - strlen(attrs), " a%d='1'", i);
    strcat(attrs, "/>");
    xml_error(attrs,
              "offset 0x1f0: EMBEDDED_METADATA:1:1: more than 64 attributes in <a>");
    size_t many = 100001;
    char *wide = malloc(many * 4 + 8);
    assert_non_null(wide);
    strcpy(wide, "<r>");
    for (size_t i = 0; i + 1 < many; i++)
        memcpy(wide + 3 + i * 4, "<a/>", 4);
    strcpy(wide + 3 + (many - 1) * 4, "</r>");
    xml_error(wide,
              "offset 0x61c6f: EMBEDDED_METADATA:1:400000: more than 100000 elements");
    free(wide);
    /* The size limit, checked before anything is read. */
    size_t big = ((size_t)16 << 20) + 1;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, ' ', big);
    text[big] = '\0';
    xml_error(text, "offset 0x1f0: EMBEDDED_METADATA: XML of 16777217 bytes, more than "
                    "16777216");
    free(text);
    /* More kernels or instances than the reader takes. */
    size_t cap = 1100 * 24 + 200;
    char *many_k = malloc(cap);
    assert_non_null(many_k);
    strcpy(many_k, XML_HEAD);
    for (int i = 0; i < 1025; i++)
        snprintf(many_k + strlen(many_k), cap - strlen(many_k), "<kernel name='k%d'/>",
                 i);
    strcat(many_k, XML_TAIL);
    xml_error(many_k, "offset 0x214: EMBEDDED_METADATA: 1025 kernels; at most 1024");
    free(many_k);
    size_t icap = 4097 * 20 + 200, len = 0;
    char *many_i = malloc(icap);
    assert_non_null(many_i);
    len += (size_t)snprintf(many_i, icap, "%s", XML_HEAD "<kernel name='k'>");
    for (int i = 0; i < 4097; i++)
        len += (size_t)snprintf(many_i + len, icap - len, "<instance name='i'/>");
    snprintf(many_i + len, icap - len, "%s", "</kernel>" XML_TAIL);
    xml_error(many_i, "offset 0x21a: EMBEDDED_METADATA: more than 4096 instances");
    free(many_i);
    /* The metadata model. */
    xml_error("<project/>", "offset 0x1f0: EMBEDDED_METADATA: no "
                            "<project><platform><device><core> element");
    xml_error(
        "<x><platform><device><core/></device></platform></x>",
        "offset 0x1f0: EMBEDDED_METADATA: no <project><platform><device><core> element");
    xml_error(XML_HEAD "<kernel/>" XML_TAIL,
              "offset 0x21a: EMBEDDED_METADATA: <kernel> lacks attribute 'name'");
    xml_error(XML_HEAD "<kernel name='k'/><kernel name='k'/>" XML_TAIL,
              "offset 0x22c: EMBEDDED_METADATA: kernel 'k' is described twice");
    xml_error(
        XML_HEAD "<kernel name='k'><port name='S'/></kernel>" XML_TAIL,
        "offset 0x22b: EMBEDDED_METADATA: <port> of a kernel lacks attribute 'mode'");
    xml_error(XML_HEAD "<kernel name='k'><port name='S' mode='slave'/></kernel>" XML_TAIL,
              "offset 0x22b: EMBEDDED_METADATA: <port> (slave) lacks attribute 'range'");
    xml_error(
        XML_HEAD "<kernel name='k'><arg name='x' id='0' offset='0x10' size='4' "
                 "hostSize='4'/></kernel>" XML_TAIL,
        "offset 0x22b: EMBEDDED_METADATA: <arg> 'x' lacks attribute 'addressQualifier'");
    xml_error(
        XML_HEAD "<kernel name='k'><arg name='x' id='0' offset='0x1g' size='4' "
                 "hostSize='4' addressQualifier='0'/></kernel>" XML_TAIL,
        "offset 0x22b: EMBEDDED_METADATA: <arg> 'x': offset='0x1g' is not a number");
    xml_error(XML_HEAD "<kernel name='k'><arg name='x' id='0' offset='0x' size='4' "
                       "hostSize='4' addressQualifier='0'/></kernel>" XML_TAIL,
              "offset 0x22b: EMBEDDED_METADATA: <arg> 'x': offset='0x' is not a number");
    xml_error(XML_HEAD "<kernel name='k'><arg name='x' id='0' offset='08' size='4' "
                       "hostSize='4' addressQualifier='0'/></kernel>" XML_TAIL,
              "offset 0x22b: EMBEDDED_METADATA: <arg> 'x': offset='08' is not a number");
    xml_error(XML_HEAD
              "<kernel name='k'><arg name='x' id='0' offset='99999999999999999999' "
              "size='4' hostSize='4' addressQualifier='0'/></kernel>" XML_TAIL,
              "offset 0x22b: EMBEDDED_METADATA: <arg> 'x': offset='99999999999999999999' "
              "is not "
              "a number");
    xml_error(
        XML_HEAD "<kernel name='k'><arg name='x' id='0' offset='0x10' size='4' "
                 "hostSize='4' addressQualifier='5'/></kernel>" XML_TAIL,
        "offset 0x22b: EMBEDDED_METADATA: arg 'x' of kernel 'k' has addressQualifier 5; "
        "expected 0..4");
    xml_error(
        XML_HEAD "<kernel name='k'><arg name='x' id='-1' offset='0x10' size='4' "
                 "hostSize='4' addressQualifier='0'/></kernel>" XML_TAIL,
        "offset 0x22b: EMBEDDED_METADATA: arg 'x' of kernel 'k' has id '-1'; expected "
        "0..255");
    xml_error(
        XML_HEAD "<kernel name='k'><arg name='x' id='256' offset='0x10' size='4' "
                 "hostSize='4' addressQualifier='0'/></kernel>" XML_TAIL,
        "offset 0x22b: EMBEDDED_METADATA: arg 'x' of kernel 'k' has id '256'; expected "
        "0..255");
    xml_error(
        XML_HEAD "<kernel name='k'>" ARG("a", "0", "0x10", "8", "1")
            ARG("b", "2", "0x1c", "8", "1") "</kernel>" XML_TAIL,
        "offset 0x21a: EMBEDDED_METADATA: kernel 'k' has no argument with id 1 (ids "
        "must be 0..n-1)");
    xml_error(
        XML_HEAD "<kernel name='k'><port name='S' mode='slave' range='0x20'/>" ARG(
            "a", "0", "0x1c", "8", "1") "</kernel>" XML_TAIL,
        "offset 0x255: EMBEDDED_METADATA: arg 'a' of kernel 'k' (offset 0x1c, size 0x8) "
        "exceeds the kernel's address range 0x20");
    xml_error(XML_HEAD "<kernel name='k'>" ARG("a", "0", "0xffffffffffffffff", "8",
                                               "1") "</kernel>" XML_TAIL,
              "offset 0x22b: EMBEDDED_METADATA: arg 'a' of kernel 'k' (offset "
              "0xffffffffffffffff, size 0x8) exceeds the kernel's address range 0x10000");
    /* Two parts of one argument whose sizes add up past 2^64 (they wrapped
     * to a 4-byte argument). */
    xml_error(
        XML_HEAD
        "<kernel name='k'><port name='S' mode='slave' range='0xffffffffffffffff'/>" ARG(
            "n", "0", "0x10", "0x8000000000000002", "0")
            ARG("n", "0", "0x14", "0x8000000000000002", "0") "</kernel>" XML_TAIL,
        "offset 0x21a: EMBEDDED_METADATA: the parts of arg 'n' (id 0) of kernel 'k' add "
        "up past the kernel's address range 0xffffffffffffffff (sizes) or past 2^64 "
        "(hostSize)");
    xml_error(
        XML_HEAD
        "<kernel name='k' hwControlProtocol='x'><instance name='i'/></kernel>" XML_TAIL,
        "offset 0x21a: EMBEDDED_METADATA: kernel 'k' has hwControlProtocol 'x'; expected "
        "ap_ctrl_hs, ap_ctrl_chain or ap_ctrl_none");
    xml_error(
        XML_HEAD "<kernel name='k'><instance/></kernel>" XML_TAIL,
        "offset 0x22b: EMBEDDED_METADATA: <instance> of a kernel lacks attribute 'name'");
    xml_error(XML_HEAD "<kernel name='k'><instance name='k_1'><addrRemap/></instance>"
                       "</kernel>" XML_TAIL,
              "offset 0x240: EMBEDDED_METADATA: <addrRemap> of instance 'k_1' lacks "
              "attribute 'base'");
}

/* Two sections with MEM, IP and CONNECTIVITY laid out by hand, to reach
 * states the writer never makes: connectivity to an IP the XML lacks,
 * a PS kernel, a streaming bank. */
static void test_raw_sections(void **state)
{
    (void)state;
    uint8_t mem[8 + 2 * 40] = {0};
    put32(mem, 2);
    mem[8] = QV__XMEM_STREAMING;
    mem[9] = 1;
    put64(mem + 8 + 8, 77); /* a route id, not KiB */
    memcpy(mem + 8 + 24, "stream0", 8);
    mem[48] = QV__XMEM_HBM;
    mem[49] = 1;
    put64(mem + 48 + 8, 4);
    memcpy(mem + 48 + 24, "HBM[0]", 7);
    uint8_t ip[8 + 2 * 80] = {0};
    put32(ip, 2);
    put32(ip + 8, QV__IP_KERNEL);
    put32(ip + 12, QV__AP_CTRL_CHAIN << 8);
    put64(ip + 16, 0x2000);
    memcpy(ip + 24, "other:o_1", 10);
    put32(ip + 88, QV__IP_PS_KERNEL);
    put64(ip + 96, UINT64_MAX);
    memcpy(ip + 104, "k:ps_1", 7);
    uint8_t conn[4 + 2 * 12] = {0};
    put32(conn, 2);
    put32(conn + 4, 9); /* arg 9 of 'other', which has no metadata */
    put32(conn + 8, 0);
    put32(conn + 12, 1);
    put32(conn + 16, 0); /* arg 0 of the PS kernel k */
    put32(conn + 20, 1);
    put32(conn + 24, 1);
    static const char xml[] = XML_HEAD "<kernel name='k'>" ARG(
        "p", "0", "0x10", "8", "1") "<instance name='x_1'/></kernel>" XML_TAIL;
    raw s[] = {{QV__SECT_MEM_TOPOLOGY, mem, sizeof mem},
               {QV__SECT_IP_LAYOUT, ip, sizeof ip},
               {QV__SECT_CONNECTIVITY, conn, sizeof conn},
               {QV__SECT_EMBEDDED_METADATA, xml, sizeof xml - 1},
               {QV__SECT_BITSTREAM, "", 0}};
    size_t n;
    uint8_t *f = raw_file(s, 5, &n);
    qv__xclbin *x = parse_ok(f, n);
    assert_int_equal(x->banks[0].size, 77);
    assert_int_equal(x->banks[1].size, 4096);
    const qv__xclbin_kernel *k = &x->kernels[0];
    /* IP_LAYOUT wins over the XML instances. */
    assert_int_equal(k->ncus, 1);
    assert_string_equal(k->cus[0].name, "ps_1");
    assert_int_equal(k->cus[0].ip, 1);
    assert_int_equal(k->cus[0].base, UINT64_MAX);
    assert_int_equal(k->cus[0].arg_bank[0], 1);
    assert_true(x->has_bitstream);
    assert_int_equal(x->bitstream_size, 0);
    assert_int_equal(x->nconns, 2);
    assert_int_equal(x->conns[0].arg, 9);
    qv__xclbin_destroy(x);
    free(f);

    /* XML with a (not ':'-named) IP_LAYOUT kernel entry is refused above;
     * here a CONNECTIVITY without IP_LAYOUT. */
    raw t[] = {{QV__SECT_MEM_TOPOLOGY, mem, sizeof mem},
               {QV__SECT_CONNECTIVITY, conn, sizeof conn}};
    f = raw_file(t, 2, &n);
    expect_error(f, n,
                 "offset 0x278: CONNECTIVITY: connection 0 names IP 0; IP_LAYOUT has 0");
    free(f);
}

/* Every strict prefix and many single-byte corruptions of a valid file are
 * refused or decoded without a crash (ASan and UBSan builds check the
 * "without a crash"). */
static void test_truncations_and_flips(void **state)
{
    (void)state;
    size_t n;
    uint8_t *f = vadd_file(&n);
    for (size_t len = 0; len < n; len++) {
        qv__xclbin *x;
        uint8_t *c = malloc(len ? len : 1);
        assert_non_null(c);
        memcpy(c, f, len);
        assert_int_equal(qv__xclbin_parse(c, len, &x, NULL), QV_EFORMAT);
        free(c);
    }
    uint8_t *c = malloc(n);
    assert_non_null(c);
    unsigned refused = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(c, f, n);
        c[i] ^= 0xa5;
        qv__xclbin *x = NULL;
        qv__xclbin_error err;
        int rc = qv__xclbin_parse(c, n, &x, &err);
        assert_true(rc == 0 || rc == QV_EFORMAT);
        if (rc) {
            assert_int_equal(strncmp(err.msg, "offset 0x", 9), 0);
            refused++;
        }
        qv__xclbin_destroy(x);
    }
    /* The header, tables and XML markup dominate: most flips are caught. */
    assert_true(refused > n / 4);
    free(c);
    free(f);
}

static void test_names_and_file(void **state)
{
    (void)state;
    assert_string_equal(qv__xclbin_mode_name(QV__XCLBIN_SW_EMU), "XCLBIN_SW_EMU");
    assert_null(qv__xclbin_mode_name(7));
    assert_string_equal(qv__xclbin_section_name(31), "VENDER_METADATA");
    assert_null(qv__xclbin_section_name(32));
    assert_string_equal(qv__xclbin_mem_name(QV__XMEM_HBM), "HBM");
    assert_null(qv__xclbin_mem_name(12));
    assert_int_equal(qv__xclbin_mem_parse("ddr4"), QV__XMEM_DDR4);
    assert_int_equal(qv__xclbin_mem_parse("DDR"), QV__XMEM_DDR4);
    assert_int_equal(qv__xclbin_mem_parse("PLRAM"), QV__XMEM_DRAM);
    assert_int_equal(qv__xclbin_mem_parse("SRAM"), -1);

    size_t n;
    uint8_t *f = vadd_file(&n);
    char path[512];
    snprintf(path, sizeof path, "%s/vadd.xclbin", qv_test_scratch());
    FILE *o = fopen(path, "wb");
    assert_non_null(o);
    assert_int_equal(fwrite(f, 1, n, o), n);
    fclose(o);
    uint8_t *d;
    size_t m;
    assert_int_equal(qv__xclbin_read_file(path, 1 << 20, &d, &m), 0);
    assert_int_equal(m, n);
    assert_memory_equal(d, f, n);
    free(d);
    assert_int_equal(qv__xclbin_read_file(path, n - 1, &d, &m), QV_E2BIG);
    assert_null(d);
    assert_int_equal(qv__xclbin_read_file(qv_test_scratch(), 1 << 20, &d, &m), -EISDIR);
    snprintf(path, sizeof path, "%s/none.xclbin", qv_test_scratch());
    assert_int_equal(qv__xclbin_read_file(path, 1 << 20, &d, &m), -ENOENT);
    qv__xclbin *x;
    assert_int_equal(qv__xclbin_parse(NULL, 5, &x, NULL), QV_EINVAL);
    free(f);
}

/* The shipped seed corpus of the fuzz target: every "bad-*.xclbin" file is
 * refused and every other .xclbin accepted with at least one kernel (so the corpus
 * keeps reaching the deep decoders). */
static void test_corpus(void **state)
{
    (void)state;
    const char *src = getenv("QV_SOURCE_DIR");
    if (!src)
        skip();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/xclbin/corpus", src);
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned good = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 7 || strcmp(e->d_name + len - 7, ".xclbin"))
            continue; /* the *.xml seeds are bare metadata, for the fuzzer */
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        uint8_t *data;
        size_t n;
        assert_int_equal(qv__xclbin_read_file(path, 1 << 20, &data, &n), 0);
        qv__xclbin *x = NULL;
        qv__xclbin_error err;
        int rc = qv__xclbin_parse(data, n, &x, &err);
        if (!strncmp(e->d_name, "bad-", 4)) {
            if (rc != QV_EFORMAT)
                fail_msg("%s: accepted", e->d_name);
            bad++;
        } else {
            if (rc)
                fail_msg("%s: %s", e->d_name, err.msg);
            assert_true(x->nkernels >= 1);
            good++;
        }
        qv__xclbin_destroy(x);
        free(data);
    }
    closedir(d);
    assert_true(good >= 4);
    assert_true(bad >= 10);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A FIFO (or any non-regular file) is refused at once, never waited on; an
 * xclbin's header is checked before the rest of the file is read: a 3 GB
 * file that is not an xclbin is refused without reading 3 GB. */
static void test_special_and_huge_files(void **state)
{
    (void)state;
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/fifo.xclbin", qv_test_scratch());
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(20); /* a regression hangs: make it fail instead */
    uint8_t *d;
    size_t n;
    qv__xclbin_error err;
    assert_int_equal(qv__xclbin_read_file(fifo, 1 << 20, &d, &n), QV_EINVAL);
    assert_int_equal(qv__xclbin_load_file(fifo, 1 << 20, &d, &n, &err), QV_EINVAL);
    assert_string_equal(err.msg, "not a regular file");
    assert_int_equal(qv__xclbin_load_file("/dev/zero", 1 << 20, &d, &n, &err), QV_EINVAL);
    alarm(0);
    unlink(fifo);

    /* 3 GB, sparse, of zeros: not an xclbin. */
    char big[512];
    snprintf(big, sizeof big, "%s/big.xclbin", qv_test_scratch());
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    if (ftruncate(fd, 3ll << 30) != 0) {
        close(fd);
        unlink(big);
        skip(); /* no room for even a sparse file */
    }
    close(fd);
    double t0 = now_s();
    assert_int_equal(qv__xclbin_load_file(big, 4ull << 30, &d, &n, &err), QV_EFORMAT);
    assert_null(d);
    assert_string_equal(err.msg, "offset 0x0: bad magic: not an xclbin2 file");
    /* A valid header whose length is not the file's size: refused too. */
    size_t vn;
    uint8_t *v = vadd_file(&vn);
    fd = open(big, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, v, vn), (ssize_t)vn);
    close(fd);
    free(v);
    assert_int_equal(qv__xclbin_load_file(big, 4ull << 30, &d, &n, &err), QV_EFORMAT);
    assert_non_null(strstr(err.msg, "does not match the file size 3221225472"));
    /* Neither read the 3 GB (reading them takes seconds). */
    assert_true(now_s() - t0 < 1.0);
    /* Over the cap: refused before reading. */
    assert_int_equal(qv__xclbin_load_file(big, 1 << 20, &d, &n, &err), QV_E2BIG);
    unlink(big);

    /* A good file loads whole. */
    v = vadd_file(&vn);
    snprintf(big, sizeof big, "%s/good.xclbin", qv_test_scratch());
    FILE *f = fopen(big, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(v, 1, vn, f), vn);
    fclose(f);
    assert_int_equal(qv__xclbin_load_file(big, 1 << 20, &d, &n, &err), 0);
    assert_int_equal(n, vn);
    assert_memory_equal(d, v, vn);
    free(d);
    free(v);
    unlink(big);
}

/* Names from the file are escaped in error messages. */
static void test_error_escaping(void **state)
{
    (void)state;
    qv__xclbin_error err;
    assert_int_equal(qv__xclbin_fail(&err, 16, "kernel '%s'", "a\033[2Jb"), QV_EFORMAT);
    assert_string_equal(err.msg, "offset 0x10: kernel 'a\\x1B[2Jb'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_matches_xrt),
        cmocka_unit_test(test_roundtrip_vadd),
        cmocka_unit_test(test_roundtrip_multi),
        cmocka_unit_test(test_roundtrip_round_robin),
        cmocka_unit_test(test_xml_features),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_section_errors),
        cmocka_unit_test(test_mem_ip_errors),
        cmocka_unit_test(test_connectivity_errors),
        cmocka_unit_test(test_xml_errors),
        cmocka_unit_test(test_raw_sections),
        cmocka_unit_test(test_truncations_and_flips),
        cmocka_unit_test(test_names_and_file),
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_special_and_huge_files),
        cmocka_unit_test(test_error_escaping),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
