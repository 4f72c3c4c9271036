/*
 * test_xclbin_xrt.c - proves that XRT's own parser accepts what our writer
 * produces: files from qv__xclbin_write are loaded by XRT 2.13 through its
 * noop shim (no card needed), their kernels are opened by name and by
 * compute unit, and the memory bank XRT assigns each argument is the bank
 * our CONNECTIVITY section says; so do the valid files of the fuzz corpus. XRT is never
 * linked, only dlopen'ed (the research note explains the traps); without it the test
 * exits 77.
 *
 * Order matters: the noop shim is loaded before anything else of XRT (XRT
 * aborts otherwise), and every handle is closed before exit (an open handle
 * crashes XRT's static destructors).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quiver.h"
#include "xclbin/xclbin.h"

static struct {
    void *(*dev_open)(unsigned);
    int (*dev_close)(void *);
    int (*load)(void *, const void *);
    int (*load_file)(void *, const char *);
    void *(*kernel_open)(void *, const unsigned char *, const char *);
    int (*kernel_close)(void *);
    int (*group_id)(void *, int);
} xrt;

static int failures;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

static int load_xrt(void)
{
    if (!dlopen("libxrt_noop.so.2", RTLD_NOW | RTLD_GLOBAL))
        return -1;
    void *lib = dlopen("libxrt_coreutil.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (!lib)
        return -1;
    *(void **)&xrt.dev_open = dlsym(lib, "xrtDeviceOpen");
    *(void **)&xrt.dev_close = dlsym(lib, "xrtDeviceClose");
    *(void **)&xrt.load = dlsym(lib, "xrtDeviceLoadXclbin");
    *(void **)&xrt.load_file = dlsym(lib, "xrtDeviceLoadXclbinFile");
    *(void **)&xrt.kernel_open = dlsym(lib, "xrtPLKernelOpen");
    *(void **)&xrt.kernel_close = dlsym(lib, "xrtKernelClose");
    *(void **)&xrt.group_id = dlsym(lib, "xrtKernelArgGroupId");
    return xrt.dev_open && xrt.dev_close && xrt.load && xrt.load_file &&
                   xrt.kernel_open && xrt.kernel_close && xrt.group_id
               ? 0
               : -1;
}

/* Opens kernel name (possibly "k:{cu}") and checks the group id XRT gives
 * each argument against want[] (-1: do not check, e.g. scalars). */
static void check_kernel(void *dev, const uint8_t *uuid, const char *name,
                         const int *want, int nargs)
{
    void *k = xrt.kernel_open(dev, uuid, name);
    CHECK(k != NULL);
    if (!k)
        return;
    for (int a = 0; a < nargs; a++) {
        if (want[a] < 0)
            continue;
        int g = xrt.group_id(k, a);
        if (g != want[a])
            fprintf(stderr, "%s arg %d: XRT group %d, expected %d\n", name, a, g,
                    want[a]);
        CHECK(g == want[a]);
    }
    CHECK(xrt.kernel_close(k) == 0);
}

static void run(void *dev, uint16_t mode, bool with_bitstream)
{
    static const qv__xclbin_arg_spec vadd_args[] = {{"a", "const int*", true, 0},
                                                    {"b", "const int*", true, 0},
                                                    {"out", "int*", true, 0},
                                                    {"n", "int", false, 4}};
    static const qv__xclbin_arg_spec scale_args[] = {{"factor", "double", false, 8},
                                                     {"inout", "float*", true, 0}};
    /* vadd_1 on bank 0, vadd_2 on bank 1; scale_1 on bank 1. */
    static const uint32_t scale_banks[] = {0, 1};
    /* Registers beyond the default 4 KiB, and a type that needs escaping. */
    qv__xclbin_arg_spec wide_args[100];
    char names[100][8];
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof names[i], "w%d", i);
        wide_args[i] = (qv__xclbin_arg_spec){names[i], "ap_uint<512>", false, 64};
    }
    qv__xclbin_kernel_spec kernels[] = {
        {"vadd", vadd_args, 4, 2, NULL},
        {"scale", scale_args, 2, 1, scale_banks},
        {"wide", wide_args, 100, 1, NULL},
    };
    qv__xclbin_bank_spec banks[] = {{QV__XMEM_DDR4, 1ull << 30, 0, NULL},
                                    {QV__XMEM_DDR4, 1ull << 30, 0, NULL}};
    static const char payload[] = "not a real bitstream";
    qv__xclbin_spec spec = {.platform = "xilinx_u250_gen3x16_xdma_4_1_202210_1",
                            .mode = mode,
                            .banks = banks,
                            .nbanks = 2,
                            .auto_base = true,
                            .kernels = kernels,
                            .nkernels = 3,
                            .bitstream = with_bitstream ? payload : NULL,
                            .bitstream_size = with_bitstream ? sizeof payload : 0};
    uint8_t *file;
    size_t size;
    char msg[256];
    int rc = qv__xclbin_write(&spec, &file, &size, msg, sizeof msg);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "write: %s\n", msg);
        return;
    }
    qv__xclbin *x;
    qv__xclbin_error err;
    CHECK(qv__xclbin_parse(file, size, &x, &err) == 0);

    /* From memory, then from a file. */
    CHECK(xrt.load(dev, file) == 0);
    check_kernel(dev, x->uuid, "vadd:{vadd_1}", (const int[]){0, 0, 0, -1}, 4);
    check_kernel(dev, x->uuid, "vadd:{vadd_2}", (const int[]){1, 1, 1, -1}, 4);
    check_kernel(dev, x->uuid, "scale", (const int[]){-1, 1}, 2);
    check_kernel(dev, x->uuid, "wide", (const int[]){-1}, 1);
    /* A kernel the file lacks: XRT says so and returns NULL. */
    void *none = xrt.kernel_open(dev, x->uuid, "nosuch");
    CHECK(none == NULL);
    if (none)
        xrt.kernel_close(none);

    char path[] = "/tmp/qv_xclbin_xrt_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, file, size) == (ssize_t)size);
        close(fd);
        CHECK(xrt.load_file(dev, path) == 0);
        check_kernel(dev, x->uuid, "vadd", (const int[]){-1, -1, -1, -1}, 4);
        unlink(path);
    }
    qv__xclbin_destroy(x);
    free(file);
}

/* Every valid .xclbin of the fuzz corpus (several shapes from `quiver
 * xclbin build`, and one with only metadata) loads, and every kernel that
 * has compute units in IP_LAYOUT opens. */
static void run_corpus(void *dev)
{
    const char *src = getenv("QV_SOURCE_DIR");
    if (!src)
        return;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/xclbin/corpus", src);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    unsigned loaded = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (!strncmp(e->d_name, "bad-", 4) || len < 7 ||
            strcmp(e->d_name + len - 7, ".xclbin"))
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        uint8_t *data;
        size_t n;
        qv__xclbin *x = NULL;
        CHECK(qv__xclbin_read_file(path, 1 << 20, &data, &n) == 0);
        CHECK(qv__xclbin_parse(data, n, &x, NULL) == 0);
        if (!x) {
            free(data);
            continue;
        }
        int rc = xrt.load(dev, data);
        if (rc)
            fprintf(stderr, "%s: XRT refused it (%d)\n", e->d_name, rc);
        CHECK(rc == 0);
        loaded += rc == 0;
        for (size_t k = 0; k < x->nkernels && rc == 0; k++)
            if (x->kernels[k].ncus && x->kernels[k].cus[0].ip != QV__XCLBIN_NONE)
                check_kernel(dev, x->uuid, x->kernels[k].name, (const int[]){-1}, 1);
        qv__xclbin_destroy(x);
        free(data);
    }
    closedir(d);
    CHECK(loaded >= 4);
}

int main(void)
{
    if (load_xrt()) {
        printf("XRT (libxrt_noop.so.2, libxrt_coreutil.so.2) not found: skipped\n");
        return 77;
    }
    void *dev = xrt.dev_open(0);
    if (!dev) {
        fprintf(stderr, "the noop shim opened no device\n");
        return 1;
    }
    run(dev, QV__XCLBIN_FLAT, false);
    run(dev, QV__XCLBIN_SW_EMU, true);
    run_corpus(dev);
    CHECK(xrt.dev_close(dev) == 0);
    printf("%s\n", failures ? "FAILED" : "ok: XRT accepted every file");
    return failures ? 1 : 0;
}
