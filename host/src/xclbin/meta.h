/*
 * meta.h - the EMBEDDED_METADATA XML of an xclbin, between xclbin_read.c /
 * xclbin_write.c and xclbin_meta.c. Internal to host/src/xclbin.
 */
#ifndef QV_XCLBIN_META_H
#define QV_XCLBIN_META_H

#include "xclbin/xclbin.h"

/*
 * Decodes the XML (len bytes, found at file offset sec_offset) into
 * x->project and x->kernels: their args, and one CU per <instance> with
 * ip = QV__XCLBIN_NONE and arg_bank all QV__XCLBIN_NONE. Follows XRT's
 * xclbin_parser.cpp: project/platform/device/core/kernel, required
 * attributes where XRT requires them, multi-part args merged by id, ids
 * 0..n-1, each arg inside the kernel's slave address range. Returns 0,
 * QV_EFORMAT with err filled, QV_ENOMEM.
 */
int qv__xclbin_meta_decode(qv__xclbin *x, const char *xml, size_t len,
                           uint64_t sec_offset, qv__xclbin_error *err);

/* Frees what qv__xclbin_meta_decode put in one kernel. */
void qv__xclbin_kernel_fini(qv__xclbin_kernel *k);

/* Writes the XML for a spec that qv__xclbin_write validated: a new
 * NUL-terminated malloc'ed string in *xml, its length in *len. QV_ENOMEM. */
int qv__xclbin_meta_encode(const qv__xclbin_spec *spec, char **xml, size_t *len);

/* Formats err: offset and "offset 0x...: " + the message. Returns
 * QV_EFORMAT. err may be NULL. */
int qv__xclbin_fail(qv__xclbin_error *err, uint64_t offset, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
