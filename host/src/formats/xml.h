/*
 * xml.h - the one XML reader of libquiver, on expat: it reads a document
 * into a tree of elements (name, attributes, position, children) that its
 * users walk: the Pegasus DAX importer (partition/src/import_dax.c) and the
 * EMBEDDED_METADATA of xclbins (host/src/xclbin/xclbin_meta.c).
 *
 * Its input is untrusted, so it refuses what XML lets a file do to its
 * reader: a DOCTYPE declaration (and so every entity declaration, internal
 * or external: they can only appear in one), nesting, elements, attributes
 * or bytes past the limits below. It never loads anything outside the input.
 * Text, comments and processing instructions are checked by expat and
 * dropped: neither user reads them.
 */
#ifndef QV_FORMATS_XML_H
#define QV_FORMATS_XML_H

#include <stddef.h>

/* Defaults of qv__xml_limits' fields (a zero field takes its default). */
#define QV__XML_MAX_BYTES    ((size_t)64 << 20)
#define QV__XML_MAX_DEPTH    64u /* the root element is at depth 1 */
#define QV__XML_MAX_ELEMENTS ((size_t)1 << 20)
#define QV__XML_MAX_ATTRS    256u /* per element */

typedef struct qv__xml_limits {
    size_t max_bytes;    /* of the input */
    unsigned max_depth;  /* levels of elements */
    size_t max_elements; /* in the whole document */
    unsigned max_attrs;  /* per element */
} qv__xml_limits;

typedef struct qv__xml_node qv__xml_node;
struct qv__xml_node {
    const char *name;        /* as written, prefix included; UTF-8 */
    const char *const *attr; /* name, value, name, value, ..., NULL */
    size_t nattrs;           /* pairs in attr; no name twice */
    unsigned line, column;   /* 1-based, of its '<'; column in characters */
    size_t offset;           /* bytes from the start of the input to its '<' */
    qv__xml_node *parent;
    qv__xml_node *child; /* first child element, in document order */
    qv__xml_node *next;  /* next sibling element */
    qv__xml_node *last;  /* last child element */
};

/* Where and why a document was refused. */
typedef struct qv__xml_error {
    unsigned line, column; /* 1-based; column in characters, as expat counts */
    size_t offset;         /* bytes from the start of the input */
    char msg[256];         /* may quote names from the input: escape to print */
} qv__xml_error;

/*
 * Reads text[0..len), UTF-8 whatever its declaration says (a BOM is fine).
 * lim may be NULL for the defaults. Returns 0 with the root element in *root
 * (free with qv__xml_free), or QV_EFORMAT or QV_ENOMEM with *root NULL and
 * err filled (err may be NULL). Any thread; no global state.
 */
int qv__xml_parse(const char *text, size_t len, const qv__xml_limits *lim,
                  qv__xml_node **root, qv__xml_error *err);

/* Frees a tree from qv__xml_parse; NULL is fine. */
void qv__xml_free(qv__xml_node *root);

/* The value of attribute name of n, or NULL. */
const char *qv__xml_attr(const qv__xml_node *n, const char *name);

/* The first child element of n named name, or NULL. */
const qv__xml_node *qv__xml_child(const qv__xml_node *n, const char *name);

#endif
