/*
 * fuzz_xclbin.c - fuzz target for the xclbin reader (host/src/xclbin),
 * the first code to touch an untrusted .xclbin. Any input must give either
 * QV_EFORMAT with a message naming an offset, or a description whose
 * invariants hold (checked here, so that a reader bug that lets a bad index
 * through is a crash, not a silent pass). Built with libFuzzer under
 * QV_FUZZ; otherwise tests/fuzz/replay_main.c replays the corpus in
 * tests/fuzz/xclbin/corpus as a ctest.
 *
 * Each input is also wrapped, as it is, into a well-formed container as its
 * only EMBEDDED_METADATA section: a mutation that inserts or deletes bytes
 * in a whole file only breaks the length check, so this is what lets the
 * fuzzer grow and shrink XML (the corpus's *.xml seeds) and reach the
 * metadata decoder and the XML reader (formats/xml.c) in depth.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quiver.h"
#include "xclbin/layout.h"
#include "xclbin/xclbin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const qv__xclbin *x, const uint8_t *data, size_t size)
{
    if (x->length != size || strlen(x->platform) > 63)
        abort();
    for (size_t i = 0; i < x->nsections; i++)
        if (x->sections[i].offset > size ||
            x->sections[i].size > size - x->sections[i].offset)
            abort();
    for (size_t i = 0; i < x->nconns; i++)
        if (x->conns[i].ip >= x->nips || x->conns[i].bank >= x->nbanks)
            abort();
    for (size_t k = 0; k < x->nkernels; k++) {
        const qv__xclbin_kernel *kn = &x->kernels[k];
        for (size_t a = 0; a < kn->nargs; a++)
            if (kn->args[a].id != a || kn->args[a].offset > kn->address_range ||
                kn->args[a].size > kn->address_range - kn->args[a].offset ||
                !kn->args[a].name || !kn->args[a].type || !kn->args[a].port)
                abort();
        for (size_t c = 0; c < kn->ncus; c++) {
            const qv__xclbin_cu *cu = &kn->cus[c];
            if (cu->ip != QV__XCLBIN_NONE && cu->ip >= x->nips)
                abort();
            for (size_t a = 0; a < kn->nargs; a++)
                if (cu->arg_bank[a] != QV__XCLBIN_NONE && cu->arg_bank[a] >= x->nbanks)
                    abort();
        }
    }
    if (x->has_bitstream && (x->bitstream != data + x->bitstream_offset ||
                             x->bitstream_offset + x->bitstream_size > size))
        abort();
}

static void parse_one(const uint8_t *data, size_t size)
{
    qv__xclbin *x = NULL;
    qv__xclbin_error err;
    int rc = qv__xclbin_parse(data, size, &x, &err);
    if (rc == 0)
        check(x, data, size);
    else if (rc != QV_EFORMAT && rc != QV_ENOMEM)
        abort();
    else if (rc == QV_EFORMAT && strncmp(err.msg, "offset 0x", 9) != 0)
        abort();
    qv__xclbin_destroy(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_one(data, size);
    if (size > (1u << 20))
        return 0;
    /* One section header, then the input at offset 496 (8-aligned). */
    size_t total = QV__AXLF_SIZE + size;
    uint8_t *f = calloc(1, total);
    if (!f)
        return 0;
    memcpy(f, QV__AXLF_MAGIC, 8);
    qv__put64(f + QV__AXLF_OFF_HEADER + QV__HDR_OFF_LENGTH, total);
    qv__put16(f + QV__AXLF_OFF_HEADER + QV__HDR_OFF_MODE, QV__XCLBIN_SW_EMU);
    qv__put32(f + QV__AXLF_OFF_HEADER + QV__HDR_OFF_NUM_SECTIONS, 1);
    qv__put32(f + QV__AXLF_OFF_SECTIONS + QV__SEC_OFF_KIND, QV__SECT_EMBEDDED_METADATA);
    qv__put64(f + QV__AXLF_OFF_SECTIONS + QV__SEC_OFF_OFFSET, QV__AXLF_SIZE);
    qv__put64(f + QV__AXLF_OFF_SECTIONS + QV__SEC_OFF_SIZE, size);
    if (size)
        memcpy(f + QV__AXLF_SIZE, data, size);
    parse_one(f, total);
    free(f);
    return 0;
}
