/*
 * fuzz_wire.c - fuzz target for the wire decoder (host/src/remote/wire.h),
 * the code quiverd runs on every message it receives. The input is a list
 * of frames, each a little-endian u32 length then that many bytes (a length
 * past the end takes what is left), at most 8 frames. A message that
 * decodes must encode again, and its encoding must decode to the same
 * frames byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qv_wire_frame f[8];
    size_t n = 0;
    while (size >= 4 && n < 8) {
        size_t len = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
                     (size_t)data[3] << 24;
        data += 4;
        size -= 4;
        if (len > size)
            len = size;
        /* Each frame in its own allocation, so that ASan sees reads past it. */
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy)
            break;
        memcpy(copy, data, len);
        f[n++] = (qv_wire_frame){copy, len};
        data += len;
        size -= len;
    }
    qv_wire_limits lim;
    qv__wire_limits_default(&lim);
    lim.max_tasks = 1024;
    qv_wire_msg m;
    char err[256];
    if (qv__wire_decode(f, n, &lim, &m, err, sizeof err) == 0) {
        qv_wire_enc e;
        if (qv__wire_encode(&m, &e) != 0)
            abort(); /* what decodes must encode */
        qv_wire_frame g[3] = {
            {e.head, QV_WIRE_HEADER_SIZE}, {e.body, e.body_size}, e.data};
        size_t gn = e.has_data ? 3 : 2;
        if (gn != n || memcmp(g[0].data, f[0].data, QV_WIRE_HEADER_SIZE) != 0 ||
            g[1].size != f[1].size ||
            (g[1].size && memcmp(g[1].data, f[1].data, g[1].size) != 0))
            abort(); /* one encoding per message */
        qv__wire_enc_fini(&e);
        qv__wire_msg_fini(&m);
    } else if (!err[0]) {
        abort(); /* every refusal says why */
    }
    for (size_t i = 0; i < n; i++)
        free((void *)f[i].data);
    return 0;
}
