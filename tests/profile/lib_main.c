/*
 * lib_main.c - a program for test_profile that calls lib_spin of a shared
 * library (lib_spin.c):
 *
 *   lib_main            opens libprof_lib.so (found where the loader
 *                       finds it: LD_LIBRARY_PATH) and calls its lib_spin
 *                       3 times, 2 ms each
 *   lib_main DIR N      opens DIR/lib1.so .. DIR/libN.so (copies of the
 *                       library) and calls the last one's lib_spin once,
 *                       2 ms
 *
 *   lib_main DIR close  opens DIR/liba.so, calls its lib_spin (20 ms),
 *                       closes it, opens DIR/libb.so (a copy, mapped where
 *                       liba.so was unless liba.so stays) and calls its
 *                       lib_spin (5 ms)
 *
 * Opened, not linked: a program linked with the library had every copy's
 * lib_spin resolve to the linked one.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    void (*spin)(double) = NULL;
    if (argc < 3) {
        void *h = dlopen("libprof_lib.so", RTLD_NOW);
        if (!h || !(*(void **)&spin = dlsym(h, "lib_spin"))) {
            fprintf(stderr, "lib_main: %s\n", dlerror());
            return 1;
        }
        for (int i = 0; i < 3; i++)
            spin(2);
        return 0;
    }
    if (!strcmp(argv[2], "close")) {
        static const char *const libs[] = {"liba.so", "libb.so"};
        for (int i = 0; i < 2; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[1], libs[i]);
            void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (!h || !(*(void **)&spin = dlsym(h, "lib_spin"))) {
                fprintf(stderr, "lib_main: %s\n", dlerror());
                return 1;
            }
            spin(i ? 5 : 20);
            if (!i)
                dlclose(h);
        }
        return 0;
    }
    int n = atoi(argv[2]);
    for (int i = 1; i <= n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/lib%d.so", argv[1], i);
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "lib_main: %s\n", dlerror());
            return 1;
        }
        *(void **)&spin = dlsym(h, "lib_spin");
    }
    if (!spin)
        return 1;
    spin(2);
    return 0;
}
