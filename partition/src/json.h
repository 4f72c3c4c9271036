/*
 * json.h - a small strict JSON reader (RFC 8259) for graph and workflow
 * files. It builds a tree whose values remember their line and column, so
 * that loaders can say where a wrong value is. Limits on depth, input size
 * and string length keep hostile input from exhausting the stack or memory.
 */
#ifndef QVPART_JSON_H
#define QVPART_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qvpart.h"

#define QV__JSON_MAX_DEPTH 64
/* Our formats have small objects; the bound keeps the duplicate-key check
 * linear in the input. */
#define QV__JSON_MAX_MEMBERS 256
#define QV__JSON_MAX_INPUT   QV_JSON_MAX_FILE /* bytes */

typedef enum qv__jtype {
    QV__JNULL,
    QV__JBOOL,
    QV__JNUM,
    QV__JSTR,
    QV__JARR,
    QV__JOBJ
} qv__jtype;

typedef struct qv__jval qv__jval;
typedef struct qv__jmem {
    char *key;
    qv__jval *val;
} qv__jmem;

struct qv__jval {
    qv__jtype type;
    int line, col;
    /* Numbers: whether num is exactly the value written (an integer
     * literal that fits int64, or at most 15 significant digits), and the
     * integer literal's value (u.inum, when isint). */
    bool exact, isint;
    bool owner; /* the root: qv__part_json_free releases the document */
    union {     /* 32 bytes a value: a graph holds millions */
        int b;
        struct {
            double num;
            int64_t inum;
        };
        struct {
            char *s;
            size_t len;
        } str; /* NUL-terminated too */
        struct {
            qv__jval **v;
            size_t n;
        } arr;
        struct {
            qv__jmem *m;
            size_t n;
        } obj;
    } u;
};

/* Parses text[0..len) into *out (free with qv__part_json_free); on error returns
 * -EINVAL with line:col and a message in diag. */
int qv__part_json_parse(const char *text, size_t len, const char *fname, qv__jval **out,
                        qv_diag *diag);

/* Whether a reader keeps the member `key` of an object whose enclosing
 * kept members are path[0..npath) (keys only: arrays add none; the
 * members of a graph's nodes have path {"nodes"}). */
typedef bool (*qv__jkeep)(void *arg, const char *const *path, int npath, const char *key);

/* As qv__part_json_parse, but the members keep refuses are read and
 * checked as strictly (syntax, depth, duplicate keys) and left out of
 * the tree: what a format ignores costs no memory. */
int qv__part_json_parse_keep(const char *text, size_t len, const char *fname,
                             qv__jkeep keep, void *arg, qv__jval **out, qv_diag *diag);
/* Releases the document whose root v is: the pointer the parse gave, not
 * a copy of it (the document is found beside it). The values of a
 * document live and die together: any other value is ignored. */
void qv__part_json_free(qv__jval *v);
/* The member `key` of object o, or NULL (also when o is not an object). */
const qv__jval *qv__part_json_get(const qv__jval *o, const char *key);
const char *qv__part_json_type_name(qv__jtype t);

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer. */
int qv__part_read_file(const char *path, size_t max, char **out, size_t *len,
                       qv_diag *diag);
/* Fills diag (if not NULL) with file, line, col and a formatted message. */
void qv__part_diag(qv_diag *diag, const char *file, int line, int col, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));

#endif
