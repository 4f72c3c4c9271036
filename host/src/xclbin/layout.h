/*
 * layout.h - the byte layout of XRT's xclbin container ("axlf", struct axlf
 * in XRT's xclbin.h), written out as offsets, so that the reader and the
 * writer encode and decode every field explicitly (little-endian, no struct
 * casts of untrusted memory) and Quiver builds where XRT's headers are
 * absent. tests/xclbin/test_xclbin.c checks every offset against XRT's own
 * header when it is installed.
 */
#ifndef QV_XCLBIN_LAYOUT_H
#define QV_XCLBIN_LAYOUT_H

#include <stdint.h>
#include <string.h>

/* struct axlf: the file header. Sizes and offsets in bytes. */
#define QV__AXLF_MAGIC        "xclbin2" /* 8 bytes with its NUL */
#define QV__AXLF_OFF_MAGIC    0
#define QV__AXLF_OFF_SIGLEN   8   /* int32, -1: unsigned */
#define QV__AXLF_OFF_RESERVED 12  /* 28 bytes of 0xff */
#define QV__AXLF_OFF_KEYBLOCK 40  /* 256 bytes of 0xff */
#define QV__AXLF_OFF_UNIQUEID 296 /* uint64 */
#define QV__AXLF_OFF_HEADER   304 /* struct axlf_header */
#define QV__AXLF_OFF_SECTIONS 456 /* struct axlf_section_header[] */
#define QV__AXLF_SIZE         496 /* sizeof(struct axlf): 1 section */

/* struct axlf_header, relative to QV__AXLF_OFF_HEADER. */
#define QV__HDR_OFF_LENGTH        0   /* uint64: file size */
#define QV__HDR_OFF_TIMESTAMP     8   /* uint64: seconds since epoch */
#define QV__HDR_OFF_FEATUREROM_TS 16  /* uint64 */
#define QV__HDR_OFF_VERSION_PATCH 24  /* uint16 */
#define QV__HDR_OFF_VERSION_MAJOR 26  /* uint8 */
#define QV__HDR_OFF_VERSION_MINOR 27  /* uint8 */
#define QV__HDR_OFF_MODE          28  /* uint16: XCLBIN_MODE */
#define QV__HDR_OFF_ACTION_MASK   30  /* uint16 */
#define QV__HDR_OFF_ROM_UUID      32  /* 16 bytes */
#define QV__HDR_OFF_VBNV          48  /* 64 bytes, NUL-terminated */
#define QV__HDR_OFF_UUID          112 /* 16 bytes */
#define QV__HDR_OFF_DEBUG_BIN     128 /* 16 bytes */
#define QV__HDR_OFF_NUM_SECTIONS  144 /* uint32 */
#define QV__HDR_SIZE              152
#define QV__VBNV_LEN              64

/* struct axlf_section_header. */
#define QV__SEC_OFF_KIND   0  /* uint32: axlf_section_kind */
#define QV__SEC_OFF_NAME   4  /* 16 bytes */
#define QV__SEC_OFF_OFFSET 24 /* uint64 */
#define QV__SEC_OFF_SIZE   32 /* uint64 */
#define QV__SEC_SIZE       40
#define QV__SEC_NAME_LEN   16
#define QV__MAX_SECTIONS   0x10000 /* XCLBIN_MAX_NUM_SECTION */

/* struct mem_topology { int32 m_count; struct mem_data m_mem_data[]; } */
#define QV__MEMTOP_OFF_DATA 8
#define QV__XMEM_OFF_TYPE    0  /* uint8: MEM_TYPE */
#define QV__XMEM_OFF_USED    1  /* uint8 */
#define QV__XMEM_OFF_SIZE    8  /* uint64: KiB */
#define QV__XMEM_OFF_BASE    16 /* uint64 */
#define QV__XMEM_OFF_TAG     24 /* 16 bytes, NUL-terminated */
#define QV__XMEM_SIZE        40
#define QV__XMEM_TAG_LEN     16

/* struct connectivity { int32 m_count; struct connection m_connection[]; } */
#define QV__CONN_OFF_DATA 4
#define QV__CONN_OFF_ARG  0 /* int32 */
#define QV__CONN_OFF_IP   4 /* int32 */
#define QV__CONN_OFF_MEM  8 /* int32 */
#define QV__CONN_SIZE     12

/* struct ip_layout { int32 m_count; struct ip_data m_ip_data[]; } */
#define QV__IPL_OFF_DATA      8
#define QV__IP_OFF_TYPE       0  /* uint32: IP_TYPE */
#define QV__IP_OFF_PROPERTIES 4  /* uint32 */
#define QV__IP_OFF_BASE       8  /* uint64 */
#define QV__IP_OFF_NAME       16 /* 64 bytes, NUL-terminated */
#define QV__IP_SIZE           80
#define QV__IP_NAME_LEN       64

/* ip_data.properties of an IP_KERNEL. */
#define QV__IP_INT_ENABLE    0x0001u
#define QV__IP_CONTROL_MASK  0xff00u
#define QV__IP_CONTROL_SHIFT 8

static inline uint16_t qv__le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t qv__le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t qv__le64(const uint8_t *p)
{
    return (uint64_t)qv__le32(p) | (uint64_t)qv__le32(p + 4) << 32;
}

static inline void qv__put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void qv__put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void qv__put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#endif
