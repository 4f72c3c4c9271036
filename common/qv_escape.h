/*
 * qv__escape.h - makes a string from a file safe to print on a terminal:
 * control characters are escaped, so that a board's vendor, an xclbin's
 * platform or a name in a bad configuration file cannot move the cursor,
 * recolour the terminal or hide text. Header-only, shared by libquiver, the
 * quiver tool and libqvpart.
 *
 * Escaped: \n \r \t as such; other C0 controls and DEL as \xNN; C1 controls
 * (U+0080..U+009F), bidirectional marks, overrides and isolates (U+061C,
 * U+200E, U+200F, U+202A..U+202E, U+2066..U+2069: every bidi control
 * Unicode lists) and the line and paragraph separators
 * (U+2028, U+2029) as \uNNNN; bytes that are not valid UTF-8 as \xNN.
 * Everything else, including other UTF-8 text, is copied unchanged.
 * qv__json_fputs writes such a string as JSON, escaped the same way.
 */
#ifndef QV_COMMON_ESCAPE_H
#define QV_COMMON_ESCAPE_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4) with its code point in
 * *cp, or 0 when the bytes at s are not valid UTF-8. */
static inline size_t qv__utf8_seq(const unsigned char *s, unsigned long *cp)
{
    unsigned char c = s[0];
    size_t n;
    unsigned long v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1fu;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        v = c & 0x0fu;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0; /* also stops at the terminating NUL */
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Drops the UTF-8 sequence that a cut at a byte count (snprintf into a
 * fixed buffer) left incomplete at the end of s, so that a name cut to fit
 * ends at a whole character: the bytes left would be written as a stray
 * character (qv__json_fputs writes each as U+00NN) in JSON and text.
 * Anything else is kept, invalid bytes included. Returns s. */
static inline char *qv__utf8_trim(char *s)
{
    size_t n = strlen(s), lead = n, want;
    while (lead > 0 && n - lead < 3 && ((unsigned char)s[lead - 1] & 0xc0) == 0x80)
        lead--;
    if (lead == 0)
        return s;
    unsigned char c = (unsigned char)s[--lead];
    want = c >= 0xc2 && c <= 0xdf   ? 2
           : c >= 0xe0 && c <= 0xef ? 3
           : c >= 0xf0 && c <= 0xf4 ? 4
                                    : 0;
    if (want && n - lead < want)
        s[lead] = 0;
    return s;
}

static inline int qv__escape_cp(unsigned long cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0x2028 || cp == 0x2029;
}

/* Writes s, escaped, to buf (size bytes, size > 0), always NUL-terminated;
 * what does not fit is cut at a whole character or escape. Returns buf, so
 * that a call can be a printf argument. s NULL reads as "". */
static inline char *qv__escape(const char *s, char *buf, size_t size)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t o = 0;
    while (*p) {
        char tmp[8];
        size_t tn, adv;
        unsigned long cp = 0;
        size_t n = qv__utf8_seq(p, &cp);
        if (n == 0) {
            tn = (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", *p);
            adv = 1;
        } else if (cp == '\n' || cp == '\r' || cp == '\t') {
            tmp[0] = '\\';
            tmp[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
            tn = 2;
            adv = 1;
        } else if (cp < 0x20 || cp == 0x7f) {
            tn = (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", (unsigned)cp);
            adv = 1;
        } else if (qv__escape_cp(cp)) {
            tn = (size_t)snprintf(tmp, sizeof tmp, "\\u%04lX", cp);
            adv = n;
        } else {
            memcpy(tmp, p, n);
            tn = adv = n;
        }
        if (o + tn >= size)
            break;
        memcpy(buf + o, tmp, tn);
        o += tn;
        p += adv;
    }
    buf[o] = 0;
    return buf;
}

/* s escaped into one of eight static buffers, taken in turn: up to eight
 * in one printf. For the command-line tools' messages, which are made by
 * one thread (not for libquiver). */
static inline const char *qv__escape_tmp(const char *s)
{
    static char buf[8][1024];
    static unsigned next;
    return qv__escape(s, buf[next++ % 8], sizeof buf[0]);
}

/* Whether s holds anything qv__escape would change. */
static inline int qv__escape_needed(const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned long cp = 0;
        size_t n = qv__utf8_seq(p, &cp);
        if (!n || cp < 0x20 || cp == 0x7f || qv__escape_cp(cp))
            return 1;
        p += n;
    }
    return 0;
}

/* Whether s (NULL reads as "") is valid UTF-8 throughout. */
static inline int qv__utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    unsigned long cp;
    size_t n;
    while (*p && (n = qv__utf8_seq(p, &cp)) != 0)
        p += n;
    return !*p;
}

/* qv__json_fputs, and qv__json_fputs_x with bad_as_text set. */
static inline void qv__json_fputs_how(FILE *f, const char *s, int bad_as_text)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    fputc('"', f);
    while (*p) {
        unsigned long cp = 0;
        size_t n = qv__utf8_seq(p, &cp);
        if (n == 0) {
            fprintf(f, bad_as_text ? "\\\\x%02X" : "\\u%04X", *p);
            p++;
            continue;
        }
        if (cp == '"' || cp == '\\')
            fprintf(f, "\\%c", (int)cp);
        else if (cp == '\n')
            fputs("\\n", f);
        else if (cp == '\t')
            fputs("\\t", f);
        else if (cp < 0x20 || cp == 0x7f || qv__escape_cp(cp))
            fprintf(f, "\\u%04lX", cp);
        else
            fwrite(p, 1, n, f);
        p += n;
    }
    fputc('"', f);
}

/* Writes s (NULL reads as "") to f as a JSON string, quotes included: '"',
 * '\\' and the controls below 0x20 escaped as JSON requires, and, as
 * qv__escape does for text, DEL, C1 controls, bidirectional controls and
 * line separators as \uNNNN, so that the output is safe on a terminal too.
 * A byte that is not valid UTF-8 is written as the code point of its value
 * (\u00NN, as if Latin-1), so the output is always valid UTF-8 and JSON. */
static inline void qv__json_fputs(FILE *f, const char *s)
{
    qv__json_fputs_how(f, s, 0);
}

/* As qv__json_fputs, but a byte that is not valid UTF-8 is written as the
 * text \xNN, as qv__escape writes it: \u00FF is the JSON of another, valid
 * name (U+00FF). For names whose bytes matter (a path), next to their
 * bytes in hex (qv__json_hex) when qv__utf8_valid says no. */
static inline void qv__json_fputs_x(FILE *f, const char *s)
{
    qv__json_fputs_how(f, s, 1);
}

/* Writes the bytes of s (NULL reads as "") to f as a JSON string of
 * lowercase hex digits, two a byte. */
static inline void qv__json_hex(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        fprintf(f, "%02x", *p);
    fputc('"', f);
}

/* The most bytes of a name that a DOT string shows: Graphviz refuses a
 * file with a quoted string past 16384 bytes ("longer than 16384?"), and
 * a name written whole (a function named by generated code, a graph's
 * name) made the drawing unreadable to it. Escaped, 1024 bytes take at
 * most 5120. */
#define QV__DOT_TEXT_MAX 1024

/* Writes s (NULL reads as "") to f as the inside of a Graphviz DOT string
 * (the caller writes the quotes, and may add DOT's own escapes such as
 * \n around it): '"' and '\\' escaped, and what is not printable UTF-8
 * (controls, bidirectional controls, bytes that are not UTF-8) written as
 * the text \xNN or \uNNNN, as qv__escape writes it, so that the file is
 * valid UTF-8 that dot reads as it is. Past QV__DOT_TEXT_MAX bytes, cut
 * at a character's end and "..." written. */
static inline void qv__dot_fputs(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : ""), *start = p;
    while (*p) {
        unsigned long cp = 0;
        size_t n = qv__utf8_seq(p, &cp);
        if ((size_t)(p - start) + (n ? n : 1) > QV__DOT_TEXT_MAX) {
            fputs("...", f);
            return;
        }
        if (n == 0) {
            fprintf(f, "\\\\x%02X", *p);
            p++;
            continue;
        }
        if (cp == '"' || cp == '\\')
            fprintf(f, "\\%c", (int)cp);
        else if (cp < 0x20 || cp == 0x7f)
            fprintf(f, "\\\\x%02lX", cp);
        else if (qv__escape_cp(cp))
            fprintf(f, "\\\\u%04lX", cp);
        else
            fwrite(p, 1, n, f);
        p += n;
    }
}

#endif
