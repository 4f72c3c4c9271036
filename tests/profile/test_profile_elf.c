/*
 * test_profile_elf.c - the ELF symbol-table reader
 * (host/src/profile/elfsym.c): work.c's builds (PIE without -rdynamic,
 * fixed-address, stripped, not instrumented, without a build-id), their
 * build-ids, and the fuzz corpus's broken files, each refused with its
 * message.
 */
#include "helper.h"

#include <errno.h>

#include "profile/elfsym.h"

static qv__elf_syms *load(const char *path)
{
    qv__elf_syms *s = NULL;
    qv_diag d = { 0 };
    if (qv__elf_syms_load(path, &s, &d))
        fail_msg("%s: %s", path, d.message);
    return s;
}

static const qv__elf_sym *named(const qv__elf_syms *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->syms[i].name, name))
            return &s->syms[i];
    return NULL;
}

static void test_builds(void **state)
{
    (void)state;
    qv__elf_syms *pie = load(QV_WORK), *fixed = load(QV_WORK_NOPIE);
    qv__elf_syms *stripped = load(QV_WORK_STRIPPED), *plain = load(QV_WORK_PLAIN);
    assert_true(pie->pie && pie->has_symtab && pie->cyg_ref);
    assert_true(!fixed->pie && fixed->has_symtab && fixed->cyg_ref);
    assert_true(!stripped->has_symtab && stripped->cyg_ref);
    assert_true(plain->has_symtab && !plain->cyg_ref);
    /* static functions are in .symtab; find() by start and inside */
    const qv__elf_sym *h = named(pie, "hidden"), *m = named(fixed, "main");
    assert_non_null(h);
    assert_non_null(m);
    assert_ptr_equal(qv__elf_syms_find(pie, h->addr), h);
    if (h->size > 1)
        assert_ptr_equal(qv__elf_syms_find(pie, h->addr + 1), h);
    assert_true(m->addr >= 0x400000); /* a fixed-address program's */
    assert_null(named(stripped, "spin_a"));
    assert_null(qv__elf_syms_find(pie, 0));
    qv__elf_syms_free(pie);
    qv__elf_syms_free(fixed);
    qv__elf_syms_free(stripped);
    qv__elf_syms_free(plain);
}

static void bad(const char *file, const char *msg)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/elf/corpus/%s", getenv("QV_SOURCE_DIR"), file);
    qv__elf_syms *s = (qv__elf_syms *)1;
    qv_diag d = { 0 };
    assert_int_equal(qv__elf_syms_load(path, &s, &d), QV_EFORMAT);
    assert_null(s);
    if (!strstr(d.message, msg))
        fail_msg("%s: got '%s', expected '%s'", file, d.message, msg);
}

static void test_bad(void **state)
{
    (void)state;
    bad("not-elf.txt", "offset 0: not an ELF file (no \\177ELF magic)");
    bad("truncated-so.elf", "offset 0x28: section headers at ");
    bad("shoff-past-end-so.elf", "run past the end of the file");
    bad("elf32-so.elf", "offset 0x4: a 32-bit ELF file; only 64-bit files are read");
    bad("big-endian-so.elf", "offset 0x5: a big-endian ELF file");
    bad("bad-strtab-link-o.elf", "string table (section 0) is not a string table");
    bad("bad-name-o.elf", "symbol 2's name at 2147483647 is past its string table");
    bad("symtab-past-end-o.elf", "runs past the end of the file");
    bad("bad-entsize-o.elf", "symbol table entries of 3 bytes; expected 24");
    /* Its .symtab's header 200 times more: refused, not read 200 times. */
    bad("symtab-named-again-o.elf", "more than the file (14664): they overlap");
    qv__elf_syms *s;
    qv_diag d = { 0 };
    assert_int_equal(qv__elf_syms_load("/nonexistent", &s, &d), -ENOENT);
}

static void test_small(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/elf/corpus/tiny-o.elf", getenv("QV_SOURCE_DIR"));
    qv__elf_syms *o = load(path);
    assert_non_null(named(o, "h")); /* f is at 0 in .text: not an address */
    qv__elf_syms_free(o);
    snprintf(path, sizeof path, "%s/tests/fuzz/elf/corpus/tiny-stripped-so.elf",
             getenv("QV_SOURCE_DIR"));
    qv__elf_syms *s = load(path);
    assert_false(s->has_symtab);
    assert_non_null(named(s, "h")); /* exported: in .dynsym */
    qv__elf_syms_free(s);
}

/* The GNU build-id from the note section, kept by strip; none without
 * one, or when the note runs past its section (the symbols still read). */
static void test_build_id(void **state)
{
    (void)state;
    static const uint8_t want[] = {0xc2, 0x4c, 0x7b, 0x4e, 0xac, 0x2c, 0xaf,
                                   0x8e, 0x8f, 0x02, 0xa4, 0x6e, 0xc9, 0x82,
                                   0x55, 0x12, 0x17, 0x55, 0x0c, 0x94};
    const char *files[] = {"tiny-so.elf", "tiny-stripped-so.elf",
                           "note-past-section-so.elf", "tiny-o.elf"};
    for (int i = 0; i < 4; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/fuzz/elf/corpus/%s",
                 getenv("QV_SOURCE_DIR"), files[i]);
        qv__elf_syms *s = load(path);
        if (i < 2) {
            assert_int_equal(s->build_id_len, sizeof want);
            assert_memory_equal(s->build_id, want, sizeof want);
        } else {
            assert_int_equal(s->build_id_len, 0);
        }
        assert_non_null(named(s, "h"));
        qv__elf_syms_free(s);
    }
    qv__elf_syms *a = load(QV_WORK), *b = load(QV_WORK_STRIPPED), *c = load(QV_WORK_NOID);
    assert_int_equal(a->build_id_len, 20); /* GNU ld's default, sha1 */
    assert_int_equal(b->build_id_len, 20);
    assert_memory_not_equal(a->build_id, b->build_id, 20); /* linked with -s */
    assert_int_equal(c->build_id_len, 0);                  /* --build-id=none */
    qv__elf_syms_free(a);
    qv__elf_syms_free(b);
    qv__elf_syms_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builds),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_build_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
