/*
 * elfsym.h - the function symbols of an ELF file (.symtab, else .dynsym),
 * for naming the module + offset addresses of a raw profile offline:
 * static functions and programs linked without -rdynamic are named too,
 * which dladdr cannot do. The one reader of ELF files in Quiver; it reads
 * 64-bit little-endian files (x86-64, AArch64) and refuses anything else
 * with a message, never reading outside the file.
 */
#ifndef QV_PROFILE_ELFSYM_H
#define QV_PROFILE_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

#include "quiver/config.h"

typedef struct qv__elf_sym {
    uint64_t addr; /* st_value: the offset from the load bias */
    uint64_t size; /* bytes; 0 when the file does not say */
    char *name;
} qv__elf_sym;

#define QV__BUILD_ID_MAX 64 /* bytes (GNU ld writes 20, lld 8 to 20) */

typedef struct qv__elf_syms {
    qv__elf_sym *syms; /* by addr */
    size_t n;
    /* The GNU build-id (an NT_GNU_BUILD_ID note of a SHT_NOTE section);
     * build_id_len 0: none, or longer than QV__BUILD_ID_MAX. */
    uint8_t build_id[QV__BUILD_ID_MAX];
    unsigned build_id_len;
    int has_symtab; /* 0: stripped, only .dynsym's exported names */
    int pie;        /* ET_DYN: loads at a bias (PIE or shared object) */
    int cyg_ref;    /* refers to __cyg_profile_func_enter: instrumented */
    /* qv__elf_syms_load: the file read (its fstat), for quiver profile's
     * check that it is the one that ran; st_ok 0: not from a file. */
    int st_ok;
    uint64_t dev, ino, size, mtime_ns;
} qv__elf_syms;

/* Reads the symbols of the ELF image data[0..len) (fname names it in
 * messages). 0, or QV_EFORMAT with diag "fname: error: offset 0x..: what
 * is wrong"; QV_ENOMEM. *out is the caller's (qv__elf_syms_free). */
int qv__elf_syms_parse(const uint8_t *data, size_t len, const char *fname, qv__elf_syms **out,
                       qv_diag *diag);
/* The same from a file; -errno when it cannot be read. */
int qv__elf_syms_load(const char *path, qv__elf_syms **out, qv_diag *diag);
void qv__elf_syms_free(qv__elf_syms *s); /* NULL is fine */
/* The function at addr: the symbol that starts there, else the one whose
 * [addr, addr + size) holds it; NULL when none does. */
const qv__elf_sym *qv__elf_syms_find(const qv__elf_syms *s, uint64_t addr);

#endif
