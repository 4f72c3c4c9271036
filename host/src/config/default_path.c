/*
 * default_path.c - where the runtime finds its policy when the program names
 * none (default_path.h has the order). The installed default lies at a fixed
 * path relative to the library, so it is found from the library's own file
 * name (dladdr), not from a path compiled in: an installation that is moved
 * or copied elsewhere keeps working. The build system defines the relative
 * paths and the build tree (cmake/install.cmake).
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/default_path.h"
#include "quiver.h"

#ifndef QV_DATA_FROM_LIBDIR
#define QV_DATA_FROM_LIBDIR "../share/quiver"
#endif
#ifndef QV_DATA_FROM_BINDIR
#define QV_DATA_FROM_BINDIR "../share/quiver"
#endif
#ifndef QV_DATA_INSTALLED
#define QV_DATA_INSTALLED "/usr/local/share/quiver"
#endif
#ifndef QV_BUILD_TREE
#define QV_BUILD_TREE ""
#endif

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* out = dir + "/" + rel + "/quiver.yaml" if that is a file. */
static int try_dir(const char *dir, size_t dlen, const char *rel, char *out, size_t size)
{
    int n =
        snprintf(out, size, "%.*s%s%s/quiver.yaml", (int)dlen, dir, *rel ? "/" : "", rel);
    if (n > 0 && (size_t)n < size && is_file(out))
        return 1;
    if (size)
        out[0] = '\0';
    return 0;
}

int qv__config_default_find(const char *object, char *out, size_t size)
{
    if (size)
        out[0] = '\0';
    const char *slash = object ? strrchr(object, '/') : NULL;
    if (slash && object[0] == '/') {
        size_t dlen = (size_t)(slash - object);
        if (try_dir(object, dlen, QV_DATA_FROM_LIBDIR, out, size) ||
            try_dir(object, dlen, QV_DATA_FROM_BINDIR, out, size))
            return 0;
        /* `object` has its links resolved: so must the build tree. */
        char real[PATH_MAX];
        const char *tree =
            *QV_BUILD_TREE && realpath(QV_BUILD_TREE, real) ? real : QV_BUILD_TREE;
        size_t blen = strlen(tree);
        if (blen && !strncmp(object, tree, blen) && object[blen] == '/' &&
            try_dir(tree, blen, "share/quiver", out, size))
            return 0;
    }
    if (try_dir(QV_DATA_INSTALLED, strlen(QV_DATA_INSTALLED), "", out, size))
        return 0;
    return QV_ENOENT;
}

static char default_path[PATH_MAX + 32];
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

/* The file this code was loaded from: libquiver.so, or the program that
 * linked libquiver.a. Symbolic links resolved, so that a link to the library
 * or the program elsewhere still leads to its installation. */
static void find_default(void)
{
    char obj[PATH_MAX];
    obj[0] = '\0';
    Dl_info info;
    if (!dladdr(&default_once, &info) || !info.dli_fname || info.dli_fname[0] != '/' ||
        !realpath(info.dli_fname, obj)) {
        /* The main program: dladdr gives argv[0], which may be relative. */
        ssize_t n = readlink("/proc/thread-self/exe", obj, sizeof obj - 1);
        obj[n > 0 ? n : 0] = '\0';
    }
    qv__config_default_find(obj, default_path, sizeof default_path);
}

const char *qv__config_path(const char *given)
{
    if (given)
        return *given ? given : NULL; /* "" = no file, as QV_CONFIG="" */
    const char *env = getenv("QV_CONFIG");
    if (env)
        return *env ? env : NULL;
    pthread_once(&default_once, find_default);
    return default_path[0] ? default_path : NULL;
}
