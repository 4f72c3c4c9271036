/*
 * qv_file.h - opening and reading a file that a user names, shared by
 * libquiver (configuration, xclbin, performance models) and libqvpart
 * (graphs, platforms), which must not depend on each other: header-only.
 *
 * A user may name anything: a FIFO or a terminal (a plain open() or read()
 * then waits forever for a writer), a device, a directory, or a huge file.
 * qv__file_open opens without blocking (O_NONBLOCK), refuses whatever is not
 * a regular file and checks the size against the caller's cap before a byte
 * is read; qv__file_load then reads the whole file, to its end (a
 * pseudo-file's size says nothing), never past the cap. Both return 0 or a
 * negative errno (-EISDIR: a directory, -EINVAL: another non-regular file,
 * -EFBIG: over the cap, -EIO: the file changed size while read) and write a
 * short reason ("not a regular file") to why, for the caller's message.
 */
#ifndef QV_COMMON_FILE_H
#define QV_COMMON_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QV__FILE_WHY 128 /* bytes: enough for every reason below */

/* Opens path for reading: *fd (the caller closes it) and *size (bytes).
 * max is the largest size accepted. why (QV__FILE_WHY bytes, may be NULL)
 * gets the reason on failure. */
static inline int qv__file_open(const char *path, uint64_t max, int *fd, uint64_t *size,
                                char *why)
{
    char scratch[QV__FILE_WHY];
    if (!why)
        why = scratch;
    *fd = -1;
    *size = 0;
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (f < 0) {
        int e = errno;
        snprintf(why, QV__FILE_WHY, "cannot open: %s", strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(f, &st) != 0) {
        int e = errno;
        close(f);
        snprintf(why, QV__FILE_WHY, "cannot stat: %s", strerror(e));
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        snprintf(why, QV__FILE_WHY, "%s",
                 S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > max) {
        close(f);
        snprintf(why, QV__FILE_WHY, "file is larger than %llu bytes",
                 (unsigned long long)max);
        return -EFBIG;
    }
    /* A regular file never blocks; reads are plain from here on. */
    int fl = fcntl(f, F_GETFL);
    if (fl >= 0)
        (void)fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    *fd = f;
    *size = (uint64_t)st.st_size;
    return 0;
}

/* Reads exactly n bytes from fd into buf (retrying interrupted and short
 * reads). A file that ends early has changed since it was opened: -EIO. */
static inline int qv__file_read(int fd, void *buf, size_t n, char *why)
{
    char scratch[QV__FILE_WHY];
    if (!why)
        why = scratch;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            snprintf(why, QV__FILE_WHY, "read error: %s", strerror(e));
            return -e;
        }
        if (r == 0) {
            snprintf(why, QV__FILE_WHY, "file shrank while being read");
            return -EIO;
        }
        got += (size_t)r;
    }
    return 0;
}

/* Reads the whole of path (at most max bytes) into a new malloc'ed buffer
 * *out (the caller frees it) of *len bytes, followed by a NUL that *len does
 * not count, so that text parsers may treat it as a string. st, when not
 * NULL: the file read, as fstat saw it (not a stat of the path before or
 * after, which another file may have taken meanwhile). */
static inline int qv__file_load_st(const char *path, uint64_t max, char **out,
                                   size_t *len, char *why, struct stat *st)
{
    char scratch[QV__FILE_WHY];
    if (!why)
        why = scratch;
    *out = NULL;
    *len = 0;
    int fd;
    uint64_t size;
    int rc = qv__file_open(path, max, &fd, &size, why);
    if (rc)
        return rc;
    if (st && fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        snprintf(why, QV__FILE_WHY, "cannot stat: %s", strerror(e));
        return -e;
    }
    if (size >= SIZE_MAX) {
        close(fd);
        snprintf(why, QV__FILE_WHY, "out of memory");
        return -ENOMEM;
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        close(fd);
        snprintf(why, QV__FILE_WHY, "out of memory");
        return -ENOMEM;
    }
    rc = qv__file_read(fd, buf, (size_t)size, why);
    /* Then to the end: a pseudo-file (/proc, /sys) says 0 bytes, or a page,
     * whatever it holds, and one that grew since the stat has more. They
     * read as empty, and /proc/self/status passed as a policy (adversarial
     * testing). Still no more than max. */
    while (!rc) {
        char more[4096];
        ssize_t r = read(fd, more, sizeof more);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            snprintf(why, QV__FILE_WHY, "read error: %s", strerror(e));
            rc = -e;
            break;
        }
        if (r == 0)
            break;
        if ((uint64_t)r > max - size) {
            snprintf(why, QV__FILE_WHY, "file is larger than %llu bytes",
                     (unsigned long long)max);
            rc = -EFBIG;
            break;
        }
        char *nb = realloc(buf, (size_t)size + (size_t)r + 1);
        if (!nb) {
            snprintf(why, QV__FILE_WHY, "out of memory");
            rc = -ENOMEM;
            break;
        }
        buf = nb;
        memcpy(buf + size, more, (size_t)r);
        size += (uint64_t)r;
    }
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[size] = 0;
    *out = buf;
    *len = (size_t)size;
    return 0;
}

static inline int qv__file_load(const char *path, uint64_t max, char **out, size_t *len,
                                char *why)
{
    return qv__file_load_st(path, max, out, len, why, NULL);
}

#endif
