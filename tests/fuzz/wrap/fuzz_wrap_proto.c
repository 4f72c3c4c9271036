/*
 * fuzz_wrap_proto.c - the reader of `quiver wrap --prototype`
 * (host/tools/quiver/cmd_wrap_proto.c) on arbitrary text: it returns 0 or
 * QV_EFORMAT with a column inside the text (or just past it), never
 * crashes; what it accepts, the type checks take without crashing.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_wrap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    qv_wrap_proto p;
    qv_diag d;
    memset(&d, 0, sizeof d);
    int rc = qv__wrap_proto_parse(text, "fuzz", &p, &d);
    if (rc) {
        assert(rc == QV_EFORMAT);
        assert(d.line == 1 && d.column >= 1 && d.column <= strlen(text) + 1);
        assert(d.message[0]);
    } else {
        assert(p.name[0] && p.nparams <= QV_MAX_ARGS);
        for (unsigned i = 0; i < p.nparams; i++) {
            assert(p.p[i].base[0]);
            (void)qv__wrap_type_match(p.p[i].base, "uint32");
            (void)qv__wrap_type_class(p.p[i].base);
        }
    }
    free(text);
    return 0;
}
