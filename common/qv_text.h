/*
 * qv_text.h - small text checks and decoders that the readers and tools of
 * libquiver, libqvpart and the `quiver` CLI share (header-only, as they must
 * not depend on each other): C identifiers and keywords, hex digits, the %XX
 * escapes of the text formats that write names and paths on one line
 * (performance models, raw profiles), plain decimal numbers (options,
 * environment variables), numbers in the C locale, real numbers of options
 * read strictly, and the host of a tcp:// endpoint.
 */
#ifndef QV_COMMON_TEXT_H
#define QV_COMMON_TEXT_H

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The C locale's numbers (LC_NUMERIC), made once per file that uses it;
 * (locale_t)0 where it cannot be. */
static inline locale_t qv__c_numeric(void)
{
    static _Atomic(locale_t) c;
    locale_t l = atomic_load(&c);
    if (!l && (l = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0)) != (locale_t)0) {
        locale_t none = (locale_t)0;
        if (!atomic_compare_exchange_strong(&c, &none, l)) { /* another thread's */
            freelocale(l);
            l = none;
        }
    }
    return l;
}

/* strtod in the C locale, whatever the program's: the formats write
 * "1.75", and under a locale with a decimal comma strtod read it as 1
 * (adversarial testing: a graph's costs, silently); strtod's where the
 * locale cannot be made. */
static inline double qv__strtod_c(const char *s, char **end)
{
    locale_t l = qv__c_numeric();
    return l ? strtod_l(s, end, l) : strtod(s, end);
}

/* The calling thread writes numbers in the C locale until
 * qv__c_numbers_end(the value returned): the writers of files that other
 * programs read (JSON, traces, models, profiles). Under a program's
 * setlocale(LC_ALL, "") with a decimal comma, printf wrote "0,5", which
 * made a graph's JSON invalid and the performance models unreadable, so
 * lost at the next run (adversarial testing). */
static inline locale_t qv__c_numbers_begin(void)
{
    locale_t l = qv__c_numeric();
    return l ? uselocale(l) : (locale_t)0;
}

static inline void qv__c_numbers_end(locale_t old)
{
    if (old)
        uselocale(old);
}

/* s as a decimal number from 0 to max: digits only, no sign, space or
 * suffix (strtoul reads "-1" as a huge number and "12x" as 12). */
static inline bool qv__parse_dec(const char *s, unsigned long max, unsigned long *out)
{
    if (!s || s[0] < '0' || s[0] > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* s as a real number, the whole of s: decimal digits with an optional
 * sign, '.' and exponent, read in the C locale; no blank before or after
 * (strtod skips leading ones: ' 0.5' was taken), no hex, inf or nan. 0;
 * -1 for no such number; -2 for one a double cannot hold: too large
 * (1e999), or so small that strtod makes it 0 (1e-400 is refused, as the
 * YAML reader refuses it, not taken as 0, which an option may read as
 * "none"). A subnormal (1e-310) is taken. */
static inline int qv__parse_real(const char *s, double *out)
{
    if (!s || !*s || s[strspn(s, "0123456789.eE+-")])
        return -1;
    char *end;
    errno = 0;
    double v = qv__strtod_c(s, &end);
    if (end == s || *end)
        return -1;
    if (!isfinite(v) || (errno == ERANGE && v == 0))
        return -2;
    *out = v;
    return 0;
}

/* Why qv__parse_real refused (rc, -1 or -2): for a message that names the
 * option and what it expects. */
static inline const char *qv__real_why(int rc)
{
    return rc == -2
               ? "out of a double's range (too large, or too small to tell from 0)"
               : "not a decimal number (digits, a sign, '.', an exponent; no blanks)";
}

/* Whether s (NULL: no) is a C identifier: a letter or '_', then letters,
 * digits and '_'. ASCII only, whatever the locale. */
static inline bool qv__is_c_ident(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* Whether s is a C11 keyword (C11 6.4.1). A name that becomes a C function
 * or parameter (a kernel's entry, its arguments) cannot be one: the
 * generated code would not compile. */
static inline bool qv__is_c_keyword(const char *s)
{
    static const char *const kw[] = {
        "auto",       "break",     "case",           "char",
        "const",      "continue",  "default",        "do",
        "double",     "else",      "enum",           "extern",
        "float",      "for",       "goto",           "if",
        "inline",     "int",       "long",           "register",
        "restrict",   "return",    "short",          "signed",
        "sizeof",     "static",    "struct",         "switch",
        "typedef",    "union",     "unsigned",       "void",
        "volatile",   "while",     "_Alignas",       "_Alignof",
        "_Atomic",    "_Bool",     "_Complex",       "_Generic",
        "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local",
    };
    for (size_t i = 0; s && i < sizeof kw / sizeof kw[0]; i++)
        if (!strcmp(s, kw[i]))
            return true;
    return false;
}

/* The value of hex digit c; -1 for anything else. */
static inline int qv__hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX escapes in s in place; -1 (s partly decoded) when a '%' is
 * not followed by two hex digits, or stands for a NUL. */
static inline int qv__pct_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%') {
            int hi = qv__hex_digit(p[1]), lo = hi < 0 ? -1 : qv__hex_digit(p[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return 0;
}

/* The host of a tcp://HOST:PORT endpoint into host (n bytes), an IPv6
 * address without its brackets (*v6 then true). false when ep is not
 * tcp://, names no host, has an unclosed bracket, or a longer host. */
static inline bool qv__tcp_host(const char *ep, char *host, size_t n, bool *v6)
{
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    const char *h = ep + 6, *colon = strrchr(h, ':');
    size_t hl = colon ? (size_t)(colon - h) : 0;
    *v6 = hl && h[0] == '[';
    if (*v6) {
        if (hl < 3 || h[hl - 1] != ']')
            return false;
        h++;
        hl -= 2;
    }
    if (!hl || hl >= n)
        return false;
    memcpy(host, h, hl);
    host[hl] = 0;
    return true;
}

#endif
