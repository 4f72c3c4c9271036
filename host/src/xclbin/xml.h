/*
 * xml.h - a small, strict XML reader for the EMBEDDED_METADATA of xclbins:
 * elements, attributes, character references and the five predefined
 * entities, comments and processing instructions. No DOCTYPE (so no entity
 * expansion), no CDATA, ASCII names. Text content is checked and dropped:
 * the metadata carries everything in attributes.
 *
 * It exists because that section is untrusted input: the limits below bound
 * memory and time on any input, the parser is iterative (no recursion on
 * the input's depth) and every error names the byte offset.
 */
#ifndef QV_XCLBIN_XML_H
#define QV_XCLBIN_XML_H

#include <stddef.h>

#define QV__XML_MAX_INPUT (16u << 20) /* bytes */
#define QV__XML_MAX_DEPTH 32
#define QV__XML_MAX_NODES 100000
#define QV__XML_MAX_ATTRS 64  /* per element */
#define QV__XML_MAX_NAME  128 /* bytes */

typedef struct qv__xml_attr {
    char *name;
    char *value; /* references decoded, UTF-8, no NUL inside */
} qv__xml_attr;

typedef struct qv__xml_node {
    char *name;
    size_t offset; /* bytes: where its '<' is in the input */
    size_t nattrs;
    qv__xml_attr *attrs;
    struct qv__xml_node *parent;
    struct qv__xml_node *child; /* first child element */
    struct qv__xml_node *next;  /* next sibling element */
    struct qv__xml_node *last;  /* last child, while building */
} qv__xml_node;

/*
 * Parses text[0..len) (trailing NUL bytes and whitespace after the root are
 * allowed). Returns 0 and the root element in *root (free with
 * qv__xml_free), QV_EFORMAT with *err_offset and a message in msg (msglen
 * bytes), or QV_ENOMEM.
 */
int qv__xml_parse(const char *text, size_t len, qv__xml_node **root, size_t *err_offset,
                  char *msg, size_t msglen);

/* Frees a tree; NULL is fine. */
void qv__xml_free(qv__xml_node *root);

/* The value of attribute name of n, or NULL. */
const char *qv__xml_attr_get(const qv__xml_node *n, const char *name);

/* The first child element of n named name, or NULL. */
qv__xml_node *qv__xml_child(const qv__xml_node *n, const char *name);

#endif
