/*
 * fuzz_key.c - fuzz target for the key-file format (qv__auth_key_parse,
 * what qv__auth_key_read applies to a file's bytes): any input gives a key
 * or a reason, never a crash; a key it gives is a valid Z85 key made of the
 * input's first 40 bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char key[QV__KEY_Z85 + 1], err[256];
    if (qv__auth_key_parse((const char *)data, size, key, err, sizeof err) == 0) {
        if (!qv__auth_key_valid(key) || memcmp(key, data, QV__KEY_Z85))
            abort();
    } else if (!err[0] || key[0]) {
        abort();
    }
    return 0;
}
