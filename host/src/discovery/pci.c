/*
 * pci.c - the accelerator cards on PCI, counted from sysfs, so that the
 * other backends can say why they found nothing ("a Xilinx card is on the
 * bus but XRT sees none").
 *
 * Not from hwloc's PCI discovery: it reads each device's configuration
 * space, which a virtual machine traps. That took 15 of the 21 ms of
 * loading the topology on the 2-core VM of bench/, once in every process
 * that creates a runtime. The kernel keeps vendor and class as sysfs
 * attributes, read without touching the device.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/discovery.h"

#define PCI_VENDOR_XILINX 0x10ee

/* The hex number in file dir/dev/attr ("0x10ee\n"); false when unreadable. */
static bool read_hex(const char *dir, const char *dev, const char *attr, unsigned *out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", dir, dev, attr);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[32];
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    char *end;
    unsigned long v = ok ? strtoul(line, &end, 16) : 0;
    if (!ok || end == line || v > 0xffffffu)
        return false;
    *out = (unsigned)v;
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void qv__pci_count(qv__scan *s, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
            cap = ncap;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    /* Sorted, a card's functions (Alveo: management and user) come in a
     * row: "domain:bus:device.function", counted once per device. */
    if (n) /* names is NULL then, which qsort may not be given */
        qsort(names, n, sizeof *names, by_name);
    const char *last = NULL;
    size_t last_len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strrchr(names[i], '.');
        size_t len = dot ? (size_t)(dot - names[i]) : strlen(names[i]);
        unsigned vendor, cls;
        if ((last && len == last_len && !strncmp(names[i], last, len)) ||
            !read_hex(dir, names[i], "vendor", &vendor) ||
            !read_hex(dir, names[i], "class", &cls))
            continue;
        cls >>= 16; /* base class */
        if (vendor == PCI_VENDOR_XILINX)
            s->pci_xilinx++;
        else if (cls == 0x03 || cls == 0x12)
            s->pci_gpu++;
        else
            continue;
        last = names[i];
        last_len = len;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    s->pci_known = 1;
}
