/*
 * fuzz_elf.c - the ELF symbol-table reader (host/src/profile/elfsym.c) on
 * any bytes: it must refuse bad input with a diagnostic, never read outside
 * the image or crash.
 */
#include <stddef.h>
#include <stdint.h>

#include "profile/elfsym.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qv__elf_syms *s = NULL;
    qv_diag d = { 0 };
    if (qv__elf_syms_parse(data, size, "fuzz", &s, &d) == 0) {
        for (size_t i = 0; i < s->n; i++)
            (void)qv__elf_syms_find(s, s->syms[i].addr + 1);
        qv__elf_syms_free(s);
    }
    return 0;
}
