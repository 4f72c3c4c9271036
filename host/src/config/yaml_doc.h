/*
 * yaml_doc.h - a small strict layer over libyaml shared by the loaders.
 *
 * libyaml gives events; the loaders want a tree they can walk while still
 * knowing where each value came from, so that every error can say
 * file:line:col. qv__ydoc_load builds that tree and refuses what a config
 * file never needs and an attacker would use: more than one document, files
 * over QV__YAML_MAX_BYTES, nesting deeper than QV__YAML_MAX_DEPTH, duplicate
 * keys, non-scalar keys, merge keys, and aliases whose expansion would exceed
 * QV__YAML_MAX_NODES nodes (the "billion laughs"). Aliases are shared, not
 * copied, so the tree is a DAG owned by the document.
 *
 * The getters check a node's type and range and on failure fill a qv_diag
 * with the node's position and the expected form; they all return 0 or
 * QV_EFORMAT (QV_ENOMEM where they allocate).
 */
#ifndef QV_CONFIG_YAML_DOC_H
#define QV_CONFIG_YAML_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "quiver/config.h"

#define QV__YAML_MAX_BYTES (4u << 20) /* a config file is small */
#define QV__YAML_MAX_DEPTH 64
#define QV__YAML_MAX_NODES 100000u /* after alias expansion */

typedef enum qv__ykind { QV__Y_SCALAR, QV__Y_SEQ, QV__Y_MAP } qv__ykind;

typedef struct qv__ynode qv__ynode;
struct qv__ynode {
    qv__ykind kind;
    unsigned line, col; /* 1-based start of the node */
    char *str;          /* scalars: the value, NUL-terminated */
    size_t len;         /* scalars: bytes of str (may contain NUL) */
    int plain;          /* scalars: unquoted (so `null`, `~` are null) */
    qv__ynode **items;  /* seq: n items; map: keys and values, 2n */
    size_t n;           /* seq: items; map: pairs */
    size_t cap;
    uint64_t weight; /* nodes after alias expansion, saturating */
};

typedef struct qv__ydoc {
    char *path;      /* as given */
    char *dir;       /* directory of path, for relative paths */
    qv__ynode *root; /* NULL for an empty document */
    qv__ynode **all; /* every node, for freeing */
    size_t nall, capall;
} qv__ydoc;

/* Parses path (or, with data non-NULL, size bytes at data, reported as path)
 * into *out. On error *out is NULL and diag says why: every error has a
 * line and column (bad UTF-8 too) except those of the file itself. path
 * must be a regular file of at most QV__YAML_MAX_BYTES: a FIFO, a device or
 * a directory is refused without blocking, and the size is checked before
 * any byte is read. Messages are escaped for printing (common/qv_escape.h). */
int qv__ydoc_load(const char *path, qv__ydoc **out, qv_diag *diag);
int qv__ydoc_load_mem(const char *path, const void *data, size_t size, qv__ydoc **out,
                      qv_diag *diag);
void qv__ydoc_free(qv__ydoc *doc);

/* Fills diag at node n (or at the file when n is NULL); returns QV_EFORMAT. */
int qv__yerr(const qv__ydoc *doc, const qv__ynode *n, qv_diag *diag, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Describes what a node is, for "expected X, got Y" messages. */
const char *qv__ydesc(const qv__ynode *n);

/* A map's schema: the keys it may hold, and which of them must be there. */
typedef struct qv__ykey {
    const char *name;
    int required;
    const char *form; /* the expected form, for "missing key" messages */
} qv__ykey;

/* Checks that n is a mapping (what names it in the message), that every key
 * is in keys (a NULL-name-terminated table; an unknown key gets a "did you
 * mean" when one is close) and that every required key is present. */
int qv__ymap_check(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                   const qv__ykey *keys, qv_diag *diag);

/* The value under key, or NULL. n must be a mapping. */
const qv__ynode *qv__ymap_get(const qv__ynode *n, const char *key);
/* The key node under which key sits (for positions), or NULL. */
const qv__ynode *qv__ymap_key(const qv__ynode *n, const char *key);

int qv__yis_null(const qv__ynode *n);

/* Scalar getters; `what` names the value in messages ("board.clock_mhz"). */
int qv__yget_str(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                 const char **out, qv_diag *diag);
int qv__yget_int(const qv__ydoc *doc, const qv__ynode *n, const char *what, int64_t lo,
                 int64_t hi, int64_t *out, qv_diag *diag);
/* A number as written, for a message: s whole up to 40 bytes, else its
 * first 24 and last 12 around "..." in buf (a long 0.000...01 cut at 40
 * read as 0). */
const char *qv__ynum_text(const char *s, char *buf, size_t size);
int qv__yget_double(const qv__ydoc *doc, const qv__ynode *n, const char *what, double lo,
                    double hi, double *out, qv_diag *diag);
int qv__yget_bool(const qv__ydoc *doc, const qv__ynode *n, const char *what, int *out,
                  qv_diag *diag);
/* One of names (NULL-terminated); *out is its index. */
int qv__yget_enum(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                  const char *const *names, int *out, qv_diag *diag);
/* A byte size: an integer, or a number with a unit (B, KB, MB, GB, TB
 * = 10^3n; KiB, MiB, GiB, TiB = 2^10n), e.g. "16 GiB". */
int qv__yget_bytes(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                   uint64_t *out, qv_diag *diag);
/* A path, resolved against the directory of the file that names it, that
 * must exist (as a regular file, or a directory when dir is 1). *out is
 * malloc'ed. */
int qv__yget_path(const qv__ydoc *doc, const qv__ynode *n, const char *what, int dir,
                  char **out, qv_diag *diag);
/* The same resolution without the existence check. */
char *qv__path_resolve(const char *base_dir, const char *p);
/* 1 when paths a and b name the same file (device and inode, so that "x",
 * "./x" and a link to x are one file), else 0 (also when either is absent). */
int qv__same_file(const char *a, const char *b);

/* The closest of candidates (NULL-terminated) to word, or NULL when none is
 * close enough to suggest. */
const char *qv__did_you_mean(const char *word, const char *const *candidates);

/* Sets diag without a node (file-level errors). Returns err. */
int qv__diag_set(qv_diag *diag, const char *file, unsigned line, unsigned col, int err,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
