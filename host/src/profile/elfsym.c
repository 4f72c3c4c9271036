/*
 * elfsym.c - the ELF symbol-table reader (elfsym.h). Every field is decoded
 * explicitly (little-endian, no struct overlay) and every offset, size and
 * index checked against the file before it is used: section headers, the
 * symbol table and its string table (sh_link), each name's terminating NUL,
 * each note's name and descriptor against its section.
 */
#include "profile/elfsym.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/yaml_doc.h" /* qv__diag_set */
#include "quiver.h"
#include "qv_file.h"

#define ELF_MAX ((uint64_t)1 << 31) /* bytes */
#define SHT_SYMTAB_ 2
#define SHT_STRTAB_ 3
#define SHT_DYNSYM_ 11
#define SHT_NOTE_        7
#define SHT_NOBITS_ 8
#define NT_GNU_BUILD_ID_ 3
#define STT_FUNC_ 2
#define STT_IFUNC_ 10
#define SHN_UNDEF_ 0
#define SHN_LORESERVE_ 0xff00u

static uint16_t u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u64(const uint8_t *p)
{
    return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32;
}

static int bad(qv_diag *d, const char *fname, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(qv_diag *d, const char *fname, uint64_t off, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qv__diag_set(d, fname, 0, 0, QV_EFORMAT, "offset %#llx: %s", (unsigned long long)off,
                        msg);
}

/* Out of memory, said (an empty warning was all `quiver profile` gave). */
static int nomem(qv_diag *d, const char *fname, unsigned long long n)
{
    return qv__diag_set(d, fname, 0, 0, QV_ENOMEM, "out of memory for %llu symbols", n);
}

typedef struct shdr {
    uint32_t type, link;
    uint64_t off, size, align, entsize;
} shdr;

static int by_addr(const void *a, const void *b)
{
    const qv__elf_sym *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Adds the functions of symbol table sec (with string table str). */
static int read_table(const uint8_t *data, size_t len, const char *fname, const shdr *sec,
                      const shdr *str, uint64_t sec_at, qv__elf_syms *s, qv_diag *d)
{
    if (sec->entsize < 24)
        return bad(d, fname, sec_at, "symbol table entries of %llu bytes; expected 24",
                   (unsigned long long)sec->entsize);
    uint64_t n = sec->size / sec->entsize;
    if (s->n + n > (1u << 26)) /* (all tables together) */
        return bad(d, fname, sec_at, "%llu symbols: too many", (unsigned long long)n);
    qv__elf_sym *g = realloc(s->syms, (s->n + (size_t)n + 1) * sizeof *g);
    if (!g)
        return nomem(d, fname, (unsigned long long)(s->n + n));
    s->syms = g;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = data + sec->off + i * sec->entsize;
        uint32_t name = u32(e);
        uint8_t info = e[4];
        uint16_t shndx = u16(e + 6);
        uint64_t value = u64(e + 8), size = u64(e + 16);
        uint64_t at = sec->off + i * sec->entsize;
        if (name >= str->size)
            return bad(d, fname, at, "symbol %llu's name at %u is past its string table (%llu "
                                     "bytes)",
                       (unsigned long long)i, name, (unsigned long long)str->size);
        const char *nm = (const char *)data + str->off + name;
        size_t max = (size_t)(str->size - name);
        size_t nl = strnlen(nm, max);
        if (nl == max)
            return bad(d, fname, str->off + name, "symbol %llu's name has no terminating NUL",
                       (unsigned long long)i);
        if (shndx == SHN_UNDEF_) {
            /* "name@GLIBC_2.2.5" in a linked program's .symtab */
            static const char cyg[] = "__cyg_profile_func_enter";
            if (!strncmp(nm, cyg, sizeof cyg - 1) &&
                (nm[sizeof cyg - 1] == 0 || nm[sizeof cyg - 1] == '@'))
                s->cyg_ref = 1;
            continue;
        }
        int type = info & 0xf;
        if ((type != STT_FUNC_ && type != STT_IFUNC_) || !nl || value == 0)
            continue;
        (void)len;
        qv__elf_sym *y = &s->syms[s->n];
        if (!(y->name = strdup(nm)))
            return nomem(d, fname, (unsigned long long)(s->n + 1));
        y->addr = value;
        y->size = size;
        s->n++;
    }
    return 0;
}

/* The build-id among the notes of section sec (in the file), into s. A
 * note that runs past its section ends the section's notes: the symbols
 * are still read, and the file has no build-id but one found before. */
static void read_notes(const uint8_t *data, const shdr *sec, qv__elf_syms *s)
{
    uint64_t al = sec->align == 8 ? 8 : 4; /* (GNU property notes: 8) */
    uint64_t at = 0;
    while (sec->size - at >= 12) {
        const uint8_t *h = data + sec->off + at;
        uint64_t namesz = u32(h), descsz = u32(h + 4);
        uint32_t type = u32(h + 8);
        uint64_t name_at = at + 12;
        uint64_t desc_at = name_at + ((namesz + al - 1) & ~(al - 1));
        if (desc_at > sec->size || descsz > sec->size - desc_at)
            return;
        if (type == NT_GNU_BUILD_ID_ && namesz == 4 && !memcmp(h + 12, "GNU", 4) &&
            descsz >= 1 && descsz <= QV__BUILD_ID_MAX && !s->build_id_len) {
            memcpy(s->build_id, data + sec->off + desc_at, (size_t)descsz);
            s->build_id_len = (unsigned)descsz;
        }
        at = desc_at + ((descsz + al - 1) & ~(al - 1));
        if (at > sec->size)
            return;
    }
}

int qv__elf_syms_parse(const uint8_t *data, size_t len, const char *fname, qv__elf_syms **out,
                       qv_diag *d)
{
    *out = NULL;
    if (!fname)
        fname = "(elf)";
    if (len < 64 || memcmp(data, "\177ELF", 4))
        return bad(d, fname, 0, "not an ELF file (no \\177ELF magic)");
    if (data[4] != 2)
        return bad(d, fname, 4, "a 32-bit ELF file; only 64-bit files are read");
    if (data[5] != 1)
        return bad(d, fname, 5, "a big-endian ELF file; only little-endian files are read");
    uint16_t type = u16(data + 16);
    uint64_t shoff = u64(data + 40);
    uint16_t shentsize = u16(data + 58), shnum = u16(data + 60);
    if (shnum == 0 || shoff == 0)
        return bad(d, fname, 40, "no section headers");
    if (shentsize < 64)
        return bad(d, fname, 58, "section headers of %u bytes; expected 64", shentsize);
    if (shoff > len || (uint64_t)shnum * shentsize > len - shoff)
        return bad(d, fname, 40, "section headers at %#llx (%u of %u bytes) run past the end "
                                 "of the file (%zu bytes)",
                   (unsigned long long)shoff, shnum, shentsize, len);
    shdr *sh = calloc(shnum, sizeof *sh);
    qv__elf_syms *s = calloc(1, sizeof *s);
    if (!sh || !s) {
        free(sh);
        free(s);
        return nomem(d, fname, 0);
    }
    s->pie = type == 3;
    int rc = 0;
    for (unsigned i = 0; i < shnum && !rc; i++) {
        const uint8_t *h = data + shoff + (uint64_t)i * shentsize;
        sh[i].type = u32(h + 4);
        sh[i].off = u64(h + 24);
        sh[i].size = u64(h + 32);
        sh[i].link = u32(h + 40);
        sh[i].align = u64(h + 48);
        sh[i].entsize = u64(h + 56);
        if (sh[i].type != SHT_NOBITS_ && (sh[i].off > len || sh[i].size > len - sh[i].off))
            rc = bad(d, fname, shoff + (uint64_t)i * shentsize,
                     "section %u (offset %#llx, %llu bytes) runs past the end of the file "
                     "(%zu bytes)",
                     i, (unsigned long long)sh[i].off, (unsigned long long)sh[i].size, len);
    }
    for (unsigned i = 0; i < shnum && !rc; i++)
        if (sh[i].type == SHT_NOTE_)
            read_notes(data, &sh[i], s);
    /* .symtab names everything; without it (stripped) .dynsym's exports. */
    uint64_t tables = 0; /* bytes of the symbol tables read */
    for (int want = SHT_SYMTAB_; !rc; want = SHT_DYNSYM_) {
        for (unsigned i = 0; i < shnum && !rc; i++) {
            if (sh[i].type != (uint32_t)want)
                continue;
            uint64_t at = shoff + (uint64_t)i * shentsize;
            /* Tables that together are larger than the file overlap: a
             * table named again costs its symbols again (a 1 MB file
             * whose 1000 section headers named one table of 40 000 took
             * 3 GB). Bounded so, the symbols read are the file's. */
            tables += sh[i].size;
            if (tables > len) {
                rc = bad(d, fname, at + 24,
                         "section %u: the symbol tables so far hold %llu "
                         "bytes, more than the file (%zu): they overlap",
                         i, (unsigned long long)tables, len);
                break;
            }
            if (sh[i].link >= shnum || sh[i].link >= SHN_LORESERVE_ ||
                sh[i].type == SHT_NOBITS_ || sh[sh[i].link].type != SHT_STRTAB_)
                rc = bad(d, fname, at + 40, "section %u's string table (section %u) is not a "
                                            "string table",
                         i, sh[i].link);
            else
                rc = read_table(data, len, fname, &sh[i], &sh[sh[i].link], at, s, d);
            if (want == SHT_SYMTAB_ && !rc)
                s->has_symtab = 1;
        }
        if (want == SHT_DYNSYM_ || s->has_symtab)
            break;
    }
    free(sh);
    if (rc) {
        qv__elf_syms_free(s);
        return rc;
    }
    if (s->n) {
        qsort(s->syms, s->n, sizeof *s->syms, by_addr);
        size_t k = 0; /* one name per address: aliases after the first go */
        for (size_t i = 0; i < s->n; i++) {
            if (k && s->syms[k - 1].addr == s->syms[i].addr) {
                free(s->syms[i].name);
                continue;
            }
            s->syms[k++] = s->syms[i];
        }
        s->n = k;
    }
    *out = s;
    return 0;
}

int qv__elf_syms_load(const char *path, qv__elf_syms **out, qv_diag *diag)
{
    char *data, why[QV__FILE_WHY];
    size_t len;
    struct stat st;
    *out = NULL;
    int rc = qv__file_load_st(path, ELF_MAX, &data, &len, why, &st);
    if (rc)
        return qv__diag_set(diag, path, 0, 0, rc, "%s", why);
    rc = qv__elf_syms_parse((const uint8_t *)data, len, path, out, diag);
    free(data);
    if (!rc) {
        qv__elf_syms *s = *out;
        s->st_ok = 1;
        s->dev = (uint64_t)st.st_dev;
        s->ino = (uint64_t)st.st_ino;
        s->size = (uint64_t)st.st_size;
        s->mtime_ns =
            (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
    }
    return rc;
}

void qv__elf_syms_free(qv__elf_syms *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->syms[i].name);
    free(s->syms);
    free(s);
}

const qv__elf_sym *qv__elf_syms_find(const qv__elf_syms *s, uint64_t addr)
{
    if (!s || !s->n)
        return NULL;
    size_t lo = 0, hi = s->n; /* the last symbol at or below addr */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->syms[mid].addr <= addr)
            lo = mid;
        else
            hi = mid;
    }
    const qv__elf_sym *y = &s->syms[lo];
    if (y->addr == addr || (y->addr < addr && addr - y->addr < y->size))
        return y;
    return NULL;
}
