/*
 * xclbin.h - Quiver's own reader and writer of Xilinx .xclbin containers
 * (XRT's "axlf" format), the files that carry an FPGA kernel's bitstream and
 * the metadata XRT needs to run it.
 *
 * Why our own: XRT trusts the file it is given (a 0-byte file segfaults it, a
 * truncated one is undefined behaviour), its packaged xclbinutil is broken on
 * Debian, and the emulated backend must read and write the same container
 * without XRT. So every xclbin is read here first: the reader validates the
 * whole file (header, section table, and the sections it decodes, each with
 * its own bounds) and only then returns a decoded description; the XRT
 * backend hands XRT a file this reader accepted. The writer builds the
 * metadata-complete files that XRT's parser accepts (checked against the
 * noop shim in tests/xclbin), with an optional BITSTREAM payload: a real
 * bitstream, or for sw_emu the kernel library compiled for the host.
 *
 * Sections decoded: MEM_TOPOLOGY, IP_LAYOUT, CONNECTIVITY, EMBEDDED_METADATA
 * (XML, read by formats/xml.h) and BITSTREAM (a span). Others are listed
 * in sections[] and otherwise ignored. Nothing here keeps global state; every
 * function may be called from any thread.
 */
#ifndef QV_XCLBIN_H
#define QV_XCLBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* enum XCLBIN_MODE. Hardware files are FLAT (or PR). */
enum {
    QV__XCLBIN_FLAT = 0,
    QV__XCLBIN_PR = 1,
    QV__XCLBIN_TANDEM_STAGE2 = 2,
    QV__XCLBIN_TANDEM_STAGE2_WITH_PR = 3,
    QV__XCLBIN_HW_EMU = 4,
    QV__XCLBIN_SW_EMU = 5,
    QV__XCLBIN_HW_EMU_PR = 6,
};

/* enum axlf_section_kind, the ones this code names. */
enum {
    QV__SECT_BITSTREAM = 0,
    QV__SECT_EMBEDDED_METADATA = 2,
    QV__SECT_MEM_TOPOLOGY = 6,
    QV__SECT_CONNECTIVITY = 7,
    QV__SECT_IP_LAYOUT = 8,
};

/* enum MEM_TYPE. */
enum {
    QV__XMEM_DDR3 = 0,
    QV__XMEM_DDR4 = 1,
    QV__XMEM_DRAM = 2,
    QV__XMEM_STREAMING = 3,
    QV__XMEM_PREALLOCATED_GLOB = 4,
    QV__XMEM_ARE = 5,
    QV__XMEM_HBM = 6,
    QV__XMEM_BRAM = 7,
    QV__XMEM_URAM = 8,
    QV__XMEM_STREAMING_CONNECTION = 9,
    QV__XMEM_HOST = 10,
    QV__XMEM_PS_KERNEL = 11,
};

/* enum IP_TYPE and enum IP_CONTROL, the ones this code names. */
enum { QV__IP_KERNEL = 1, QV__IP_PS_KERNEL = 7 };
enum { QV__AP_CTRL_HS = 0, QV__AP_CTRL_CHAIN = 1, QV__AP_CTRL_NONE = 2 };

/* The EMBEDDED_METADATA addressQualifier of an argument. */
enum {
    QV__ARG_SCALAR = 0,
    QV__ARG_GLOBAL = 1, /* a pointer into a memory bank */
    QV__ARG_CONSTANT = 2,
    QV__ARG_LOCAL = 3,
    QV__ARG_STREAM = 4,
};

/* No bank connected (qv__xclbin_cu.arg_bank) / no IP_LAYOUT entry. */
#define QV__XCLBIN_NONE UINT32_MAX

/* Why a file was refused: the byte offset in the file (for XML faults, of
 * the EMBEDDED_METADATA byte) and one line of text that already starts with
 * "offset 0x...: ". Filled by the reader on every error. */
typedef struct qv__xclbin_error {
    uint64_t offset;
    char msg[256];
} qv__xclbin_error;

typedef struct qv__xclbin_section {
    uint32_t kind;   /* axlf_section_kind */
    char name[17];   /* m_sectionName, NUL-terminated here */
    uint64_t offset; /* bytes from the start of the file */
    uint64_t size;   /* bytes */
} qv__xclbin_section;

typedef struct qv__xclbin_bank {
    uint8_t type;  /* QV__XMEM_* */
    bool used;     /* m_used: 0 means the bank is absent */
    uint64_t size; /* bytes (the file stores KiB); for streams: route id */
    uint64_t base; /* device address; for streams: flow id */
    char tag[16];  /* "DDR[0]", "HBM[3]", "bank0"...; NUL-terminated */
} qv__xclbin_bank;

/* One IP_LAYOUT entry, as in the file. */
typedef struct qv__xclbin_ip {
    uint32_t type;       /* QV__IP_* */
    uint32_t properties; /* IP_KERNEL: int enable, interrupt id, control */
    uint64_t base;       /* control base address; UINT64_MAX: none */
    char name[64];       /* "kernel:instance"; NUL-terminated */
} qv__xclbin_ip;

/* One CONNECTIVITY entry; every index was checked to be in range. */
typedef struct qv__xclbin_conn {
    uint32_t arg;  /* argument id of the kernel of ips[ip] */
    uint32_t ip;   /* index in ips[] */
    uint32_t bank; /* index in banks[] */
} qv__xclbin_conn;

typedef struct qv__xclbin_arg {
    char *name;
    char *type;         /* C type as written by the compiler: "int*" */
    char *port;         /* "S_AXI_CONTROL", "M_AXI_GMEM0"; "" if absent */
    uint32_t id;        /* argument index: args[i].id == i */
    uint32_t addrq;     /* QV__ARG_* */
    uint64_t offset;    /* bytes: register offset in the CU's control space */
    uint64_t size;      /* bytes in the register map (8 for pointers) */
    uint64_t host_size; /* bytes the host passes */
} qv__xclbin_arg;

typedef struct qv__xclbin_cu {
    char *name;         /* instance name: "vadd_1" (the IP is "vadd:vadd_1") */
    uint64_t base;      /* control base address; UINT64_MAX: none */
    uint32_t ip;        /* index in ips[], QV__XCLBIN_NONE when the file has
                         * no IP_LAYOUT (the CU then comes from the XML) */
    uint32_t control;   /* QV__AP_CTRL_* */
    uint32_t *arg_bank; /* nargs entries of the kernel (NULL if 0): the bank
                         * CONNECTIVITY gives for that arg, or
                         * QV__XCLBIN_NONE (scalars, unconnected args) */
} qv__xclbin_cu;

typedef struct qv__xclbin_kernel {
    char *name;
    uint64_t address_range; /* bytes of the control space (slave port) */
    size_t nargs;
    qv__xclbin_arg *args; /* sorted by id, ids 0..nargs-1 */
    size_t ncus;
    qv__xclbin_cu *cus; /* in file order */
} qv__xclbin_kernel;

/* A decoded, validated xclbin. Everything is owned by it, except the
 * bitstream pointer, which points into the caller's buffer. */
typedef struct qv__xclbin {
    uint64_t length;       /* bytes: the file size */
    uint64_t timestamp;    /* seconds since the epoch (0 if unknown) */
    uint8_t version_major; /* of the tool that wrote the file */
    uint8_t version_minor;
    uint16_t version_patch;
    uint16_t mode;     /* QV__XCLBIN_* */
    char platform[65]; /* m_platformVBNV */
    uint8_t uuid[16];
    char *project; /* <project name=...>, "" when absent */
    size_t nsections;
    qv__xclbin_section *sections;
    size_t nbanks;
    qv__xclbin_bank *banks;
    size_t nips;
    qv__xclbin_ip *ips;
    size_t nconns;
    qv__xclbin_conn *conns;
    size_t nkernels; /* from EMBEDDED_METADATA; 0 without it */
    qv__xclbin_kernel *kernels;
    bool has_bitstream;
    uint64_t bitstream_offset; /* bytes from the start of the file */
    uint64_t bitstream_size;   /* bytes */
    const uint8_t *bitstream;  /* borrowed: data + bitstream_offset */
} qv__xclbin;

/*
 * Validates and decodes the xclbin held in data[0..size). Returns 0 and a new
 * description in *out (free with qv__xclbin_destroy), QV_EFORMAT with err
 * filled when the file is malformed, QV_ENOMEM. data must outlive the
 * description only if the caller uses its bitstream pointer. err may be NULL.
 */
int qv__xclbin_parse(const void *data, size_t size, qv__xclbin **out,
                     qv__xclbin_error *err);

/* Frees a description; NULL is fine. */
void qv__xclbin_destroy(qv__xclbin *x);

/*
 * Reads a whole file into a new malloc'ed buffer: *data (the caller frees
 * it), *size. Files over max_size bytes are refused with QV_E2BIG, and
 * what is not a regular file (a FIFO, a device) with QV_EINVAL (-EISDIR for
 * a directory), without blocking. Returns 0, -errno, QV_ENOMEM.
 */
int qv__xclbin_read_file(const char *path, size_t max_size, uint8_t **data, size_t *size);

/*
 * Reads an xclbin file as qv__xclbin_read_file does (a FIFO, a device or a
 * directory is refused without blocking, the size is checked before any
 * read), but reads the header first: a file whose magic is not xclbin2's or
 * whose header length is not its size is refused (QV_EFORMAT, err says why)
 * before the rest of it is read. Other failures: -errno, QV_E2BIG,
 * QV_ENOMEM, with err->msg saying why. Parse the result with
 * qv__xclbin_parse.
 */
int qv__xclbin_load_file(const char *path, size_t max_size, uint8_t **data, size_t *size,
                         qv__xclbin_error *err);

/* Names, for messages and `quiver xclbin info`: static strings; NULL for
 * values this code does not know. */
const char *qv__xclbin_mode_name(uint16_t mode);
const char *qv__xclbin_section_name(uint32_t kind);
const char *qv__xclbin_mem_name(uint8_t type);
/* "DDR4" -> QV__XMEM_DDR4 (case-insensitive; also "DDR", "PLRAM"); -1. */
int qv__xclbin_mem_parse(const char *name);
/* A C scalar type as a kernel's arguments name it ("unsigned int", "const
 * float", "half", "uint64_t"): its bytes and whether it is a floating
 * type; false for a type not known (a struct, ap_int<N>). */
bool qv__xclbin_c_scalar(const char *type, unsigned *bytes, bool *fp);

/* The most the reader accepts of each (real files have far fewer); more is
 * refused as malformed, so that no file can make reading slow or large. */
#define QV__XCLBIN_READ_MAX_BANKS     1024
#define QV__XCLBIN_READ_MAX_IPS       4096
#define QV__XCLBIN_READ_MAX_CONNS     (1u << 20)
#define QV__XCLBIN_READ_MAX_KERNELS   1024
#define QV__XCLBIN_READ_MAX_INSTANCES 4096 /* XML <instance>s, all kernels */

/* Finds a kernel by name, an arg of a kernel by name; NULL if none. */
const qv__xclbin_kernel *qv__xclbin_kernel_find(const qv__xclbin *x, const char *name);
const qv__xclbin_arg *qv__xclbin_arg_find(const qv__xclbin_kernel *k, const char *name);

/* ---- writer -------------------------------------------------------------- */

typedef struct qv__xclbin_arg_spec {
    const char *name; /* a C identifier */
    const char *type; /* C type: "int*", "float", "uint64_t" */
    bool global;      /* a pointer to device memory (addressQualifier 1) */
    uint32_t size;    /* bytes: scalars 1..64; ignored for globals (8) */
} qv__xclbin_arg_spec;

typedef struct qv__xclbin_kernel_spec {
    const char *name; /* a C identifier; the IPs are "name:name_<i>" */
    const qv__xclbin_arg_spec *args;
    size_t nargs;  /* 0..QV__XCLBIN_MAX_ARGS */
    unsigned ncus; /* 1..QV__XCLBIN_MAX_CUS */
    /* ncus * nargs bank indices, [cu * nargs + arg], read for global args
     * only; NULL: CU i connects all its global args to bank i % nbanks. */
    const uint32_t *banks;
} qv__xclbin_kernel_spec;

typedef struct qv__xclbin_bank_spec {
    uint8_t type;    /* QV__XMEM_*; not streaming */
    uint64_t size;   /* bytes, a multiple of 1024 */
    uint64_t base;   /* device address; 0 with auto_base */
    const char *tag; /* up to 15 bytes; NULL: see qv__xclbin_bank_tag */
} qv__xclbin_bank_spec;

typedef struct qv__xclbin_spec {
    const char *platform; /* VBNV, up to 63 bytes */
    const char *project;  /* <project name>; NULL: the first kernel's name */
    uint16_t mode;        /* QV__XCLBIN_FLAT, _SW_EMU or _HW_EMU (the header
                           * only: XRT's own hw_emu needs a Vivado payload) */
    uint64_t timestamp;   /* seconds; 0 keeps builds reproducible */
    const qv__xclbin_bank_spec *banks;
    size_t nbanks;  /* 1..QV__XCLBIN_MAX_BANKS */
    bool auto_base; /* banks[i].base ignored: packed from 0x4000000000 */
    const qv__xclbin_kernel_spec *kernels;
    size_t nkernels;       /* 1..QV__XCLBIN_MAX_KERNELS */
    const void *bitstream; /* borrowed; NULL: no BITSTREAM section */
    size_t bitstream_size;
} qv__xclbin_spec;

#define QV__XCLBIN_MAX_ARGS    256
#define QV__XCLBIN_MAX_CUS     128
#define QV__XCLBIN_MAX_BANKS   128
#define QV__XCLBIN_MAX_KERNELS 64

/* Where the writer places the control space of the CUs: CU n (counted over
 * all kernels in order) at QV__XCLBIN_CU_BASE + n * QV__XCLBIN_CU_STRIDE. */
#define QV__XCLBIN_CU_BASE   0x1800000u
#define QV__XCLBIN_CU_STRIDE 0x10000u
/* The first argument's register offset (after ap_ctrl, GIE, IER, ISR);
 * each argument takes its size rounded up to 4 bytes, plus 4 reserved. */
#define QV__XCLBIN_ARG_BASE 0x10u

/*
 * Builds an xclbin from spec: sections MEM_TOPOLOGY, IP_LAYOUT, CONNECTIVITY
 * (every global arg of every CU to a bank), EMBEDDED_METADATA and, with a
 * payload, BITSTREAM. The uuid is a hash of the content, so equal specs give
 * equal files. Returns 0 with a new malloc'ed file in *out (the caller frees
 * it) and its size; QV_EINVAL with a sentence in msg (msglen bytes; may be
 * NULL) when the spec is wrong; QV_ENOMEM.
 */
int qv__xclbin_write(const qv__xclbin_spec *spec, uint8_t **out, size_t *size, char *msg,
                     size_t msglen);

/* The tag the writer gives bank i of spec: its own, or "DDR[n]", "HBM[n]",
 * "PLRAM[n]"... with n counting the untagged banks of that family. */
void qv__xclbin_bank_tag(const qv__xclbin_spec *spec, size_t i, char tag[16]);

/* Register layout the writer uses: fills offsets[nargs] (bytes; offsets may
 * be NULL) and returns the end of the last argument (bytes). Shared with the emu backend
 * so it can decode register writes the way the file describes them. */
uint64_t qv__xclbin_arg_offsets(const qv__xclbin_arg_spec *args, size_t nargs,
                                uint64_t *offsets);

#endif
