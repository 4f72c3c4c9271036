/*
 * cmd_wrap.h - what the three files of `quiver wrap` share: cmd_wrap.c (the
 * command: options, the catalog, the checks of a prototype against its
 * kernel), cmd_wrap_proto.c (the reader of --prototype) and cmd_wrap_gen.c
 * (the writer of the interposers).
 */
#ifndef QV_TOOLS_CMD_WRAP_H
#define QV_TOOLS_CMD_WRAP_H

#include <stdbool.h>
#include <stdio.h>

#include "config/catalog.h"
#include "quiver.h"
#include "quiver/config.h"

/* The subcommand (also in commands.h). */
int qv_cmd_wrap(int argc, char **argv);

/* One parameter of a C prototype, as --prototype gives it. */
typedef struct qv_wrap_param {
    char base[64];   /* the type without qualifiers or stars, its words
                      * joined by one space: "float", "unsigned int" */
    int ptr;         /* 1: a pointer (or an array parameter) */
    int is_const;    /* the pointee (or the value) is const */
    int is_volatile; /* the pointee is volatile */
    char name[64];   /* the parameter's name, or "" */
} qv_wrap_param;

/* A prototype: `void NAME(PARAM, ...)`. */
typedef struct qv_wrap_proto {
    char name[128];
    unsigned nparams;
    qv_wrap_param p[QV_MAX_ARGS];
} qv_wrap_proto;

/* Reads a C prototype such as "void fir(const float *x, const float *h,
 * float *y, uint32_t n, uint32_t taps);" into *out. Returns 0, or
 * QV_EFORMAT with diag naming `src` (the name of the text in messages),
 * line 1 and the column where something else was expected. Only void
 * functions of up to QV_MAX_ARGS object or single-pointer parameters are
 * read: no function pointers, no pointers to pointers, no variadics. */
int qv__wrap_proto_parse(const char *text, const char *src, qv_wrap_proto *out,
                         qv_diag *diag);

/* The C type of a catalog type name ("float" -> "float", "uint32" ->
 * "uint32_t", "half" -> "uint16_t"). */
const char *qv__wrap_ctype(const char *ktype);

/* 1 when the C type words `base` (as qv_wrap_param.base) name the catalog
 * type ktype on this machine ("unsigned int" and "uint32_t" for uint32),
 * 0 when they name another known type, -1 when base is not a type this
 * tool knows (a typedef of the application's). */
int qv__wrap_type_match(const char *base, const char *ktype);

/* 'i' when base names an integer type, 'f' a floating one, 'h' _Float16,
 * 0 an unknown one. */
int qv__wrap_type_class(const char *base);

/* One function to wrap. */
typedef struct qv_wrap_item {
    const char *name;         /* the function */
    const qv__kernel *kernel; /* its catalog kernel */
    qv_wrap_proto proto;      /* the application's prototype */
    const char *cl_source;    /* OpenCL C, or NULL */
    const char *cl_kernel;
    bool cl_group;            /* launched as one work-group (@group) */
} qv_wrap_item;

/* Writes the interposers of items[0..n-1] to out: runtime wrappers
 * (deferred ones with defer != 0), or record-only ones (record != 0) that
 * call qv_profile_note. headers are
 * #included and each function's prototype checked against them. catalog
 * names the catalog in the file's comment. */
void qv__wrap_generate(FILE *out, const qv_wrap_item *items, size_t n, int record,
                       int defer, const char *const *headers, size_t nheaders, const char *catalog);

#endif
