/*
 * version.c - the library's version at run time, from the QV_VERSION_*
 * macros of quiver.h (tests/unit/test_api.c checks that they are CMake's
 * project version).
 */
#include "quiver.h"

#define QV__STR_(x) #x
#define QV__STR(x) QV__STR_(x)

QV_API const char *qv_version(void)
{
    return QV__STR(QV_VERSION_MAJOR) "." QV__STR(QV_VERSION_MINOR) "." QV__STR(
        QV_VERSION_PATCH);
}

QV_API unsigned qv_version_number(void)
{
    return QV_VERSION_NUMBER;
}
