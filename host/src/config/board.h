/*
 * board.h - one board file (boards/NAME.yaml): what a card is, as its datasheet
 * says, for the planner's cost model, the emulator and discovery.
 *
 * Schema (docs/config/board.md has every key with its default):
 *   name: alveo-u250                     required, [A-Za-z0-9._-]+
 *   kind: fpga | gpu | cpu | remote      required
 *   vendor: AMD                          optional
 *   platform: xilinx_u250_gen3x16_xdma_4_1_202210_1   required for fpga
 *   emulation: false
 *   clock_mhz: 300                       kernel clock, 1..5000
 *   memory:                              required, at least one bank
 *     - {type: DDR4, size: 16 GiB, count: 4, bandwidth_gbs: 19.25}
 *   link: {pcie_gen: 3, pcie_lanes: 16, bandwidth_gbs: 12.0, latency_us: 10}
 *   fabric: {lut: .., ff: .., dsp: .., bram: .., uram: .., aie: ..}
 *   cost_per_hour: 0.0
 *   remote:                              required for kind remote only
 *     endpoint: tcp://host:5555          or ipc://PATH
 *     server_key: <40 Z85 chars>         the daemon's public key, or
 *     server_key_file: keys/server.pub   the same read from a key file
 *     client_key_file: keys/client.key   this host's SECRET key (its public
 *                                        key is derived from it)
 *     board: served-board.yaml
 */
#ifndef QV_CONFIG_BOARD_H
#define QV_CONFIG_BOARD_H

#include <stdint.h>

#include "config/yaml_doc.h"
#include "remote/auth.h"

typedef enum qv__memtype {
    QV__MEM_DDR3,
    QV__MEM_DDR4,
    QV__MEM_DDR5,
    QV__MEM_LPDDR4,
    QV__MEM_HBM2,
    QV__MEM_HBM2E,
    QV__MEM_HBM3,
    QV__MEM_GDDR6,
    QV__MEM_PLRAM,
    QV__MEM_HOST
} qv__memtype;

/* Names of qv__memtype, NULL-terminated, in enum order. */
extern const char *const qv__memtype_names[];

typedef struct qv__bank {
    qv__memtype type;
    uint64_t size;        /* bytes, per bank */
    unsigned count;       /* identical banks */
    double bandwidth_gbs; /* per bank; 0 = not given */
} qv__bank;

typedef struct qv__board {
    char *path; /* the file it came from */
    char *name;
    qv_class kind;
    char *vendor;   /* NULL when not given */
    char *platform; /* NULL when not given (non-FPGA) */
    int emulation;
    double clock_mhz; /* 0 = not given */
    qv__bank *banks;
    size_t nbanks;
    uint64_t memory; /* bytes, sum over banks except HOST */
    /* link to host memory */
    unsigned pcie_gen, pcie_lanes; /* 0 = not PCIe / not given */
    double bandwidth_gbs;          /* 0 = not given */
    double latency_us;
    /* fabric resources, 0 = not given */
    uint64_t lut, ff, dsp, bram, uram, aie;
    double cost_per_hour;
    /* remote boards */
    char *endpoint;
    char *server_key;      /* Z85, from server_key or server_key_file; NULL: none */
    char *client_key_file; /* resolved path; NULL when not given */
    /* From client_key_file: "" when not given. The secret is wiped by
     * qv__board_free; the backend passes both to qv__auth_client. */
    char client_public_key[QV__KEY_Z85 + 1];
    char client_secret_key[QV__KEY_Z85 + 1];
    struct qv__board *served; /* the board the daemon serves, or NULL */
} qv__board;

/* Loads and validates one board file. *out is NULL on error. */
int qv__board_load(const char *path, qv__board **out, qv_diag *diag);
/* The same from an already parsed document (used by qv_config_check). */
int qv__board_from_doc(const qv__ydoc *doc, qv__board **out, qv_diag *diag);
void qv__board_free(qv__board *b);

#endif
