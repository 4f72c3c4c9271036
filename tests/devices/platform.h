/*
 * platform.h - what the device tests share: a runtime on the embedded
 * default platform (config/quiver.yaml: CPU, PoCL, the emulated U250) with
 * the device classes it found, and the vadd function of the catalog
 * (a: in, b: in, out: out, n: uint32) in C, for the CPU and for OpenCL.
 * Include after helper.h and quiver.h.
 */
#ifndef QV_TESTS_DEVICES_PLATFORM_H
#define QV_TESTS_DEVICES_PLATFORM_H

/* A runtime on config/quiver.yaml with 2 CPU workers and no model cache;
 * *classes gets a bit (1 << qv_class) per class present. NULL (with the
 * reason on stderr) when it cannot be created. _window: with that
 * qv_options.record_window; _spin: with that too and qv_options.spin_us. */
static inline qv_runtime *qv_test_default_runtime_spin(unsigned *classes,
                                                       uint64_t record_window,
                                                       unsigned spin_us)
{
    *classes = 0;
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s/share/quiver/quiver.yaml", getenv("QV_BINARY_DIR"));
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.config = cfg;
    o.perfmodel_dir = "";
    o.record_window = record_window;
    o.spin_us = spin_us;
    qv_runtime *rt;
    if (qv_runtime_create(&o, &rt)) {
        fprintf(stderr, "runtime: %s\n", qv_last_error());
        return NULL;
    }
    for (unsigned d = 0; d < qv_device_count(rt); d++) {
        qv_device_info di;
        qv_device_get(rt, d, &di);
        *classes |= 1u << di.cls;
    }
    return rt;
}

static inline qv_runtime *qv_test_default_runtime_window(unsigned *classes,
                                                         uint64_t record_window)
{
    qv_options o;
    qv_options_init(&o);
    return qv_test_default_runtime_spin(classes, record_window, o.spin_us);
}

static inline qv_runtime *qv_test_default_runtime(unsigned *classes)
{
    return qv_test_default_runtime_window(classes, QV_RECORD_WINDOW_DEFAULT);
}

/* The default runtime for a test that needs device class cls: fails the
 * test when no runtime is made, skips it (after destroying the runtime)
 * when the platform has no device of that class. _spin: its threads spin
 * spin_us. */
static inline qv_runtime *qv_test_runtime_with_spin(qv_class cls, unsigned spin_us)
{
    unsigned have;
    qv_runtime *rt = qv_test_default_runtime_spin(&have, QV_RECORD_WINDOW_DEFAULT, spin_us);
    assert_non_null(rt);
    if (!(have & (1u << cls))) {
        qv_runtime_destroy(rt);
        skip();
    }
    return rt;
}

static inline qv_runtime *qv_test_runtime_with(qv_class cls)
{
    qv_options o;
    qv_options_init(&o);
    return qv_test_runtime_with_spin(cls, o.spin_us);
}

/* The index of rt's first device of class cls (asserted to exist). */
static inline unsigned qv_test_device_of(qv_runtime *rt, qv_class cls)
{
    for (unsigned d = 1; d < qv_device_count(rt); d++) {
        qv_device_info di;
        assert_int_equal(qv_device_get(rt, d, &di), 0);
        if (di.cls == cls)
            return d;
    }
    fail_msg("no device of class %s", qv_class_name(cls));
    return 0;
}

/* vadd's signature, as the catalog's kernel declares it. */
static const qv_arg_desc qv_test_vadd_sig[] = { { "a", 1, QV_R, 0 },
                                                { "b", 1, QV_R, 0 },
                                                { "out", 1, QV_W, 0 },
                                                { "n", 0, QV_R, sizeof(uint32_t) } };

static inline void qv_test_cpu_vadd(const qv_call *c)
{
    const float *a = c->ptr[0], *b = c->ptr[1];
    float *o = c->ptr[2];
    uint32_t n = *(const uint32_t *)c->ptr[3];
    for (uint32_t i = 0; i < n; i++)
        o[i] = a[i] + b[i];
}

/* vadd in OpenCL C, for qv_opencl_impl.source (kernel "vadd"). */
static inline const char *qv_test_vadd_cl(void)
{
    return "__kernel void vadd(__global const float *a, __global const float *b,\n"
           "                   __global float *out, uint n) {\n"
           "    size_t i = get_global_id(0);\n"
           "    if (i < n) out[i] = a[i] + b[i];\n"
           "}\n";
}

/* The OpenCL work size of a vadd call: n work items. */
static inline unsigned qv_test_range_vadd(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = *(const uint32_t *)c->ptr[3];
    return 1;
}

/* The signal chain fir -> fft -> mag (the catalog's fused fir_fft_mag
 * implements it) registered under names[0..2] with the CPU implementations
 * given; fir and fft also with their catalog kernels, mag tied to the
 * fused kernel. */
static inline void qv_test_signal_funcs_named(qv_runtime *rt, const char *const *names,
                                              qv_cpu_fn fir_cpu, qv_cpu_fn fft_cpu,
                                              qv_cpu_fn mag_cpu, qv_func **fir,
                                              qv_func **fft, qv_func **mag)
{
    qv_arg_desc d_fir[] = {QV_ARG_BUF("x", QV_R), QV_ARG_BUF("h", QV_R),
                           QV_ARG_BUF("y", QV_W), QV_ARG_SCALAR("n", uint32_t),
                           QV_ARG_SCALAR("taps", uint32_t)};
    qv_arg_desc d_fft[] = {QV_ARG_BUF("in_re", QV_R), QV_ARG_BUF("in_im", QV_R),
                           QV_ARG_BUF("out_re", QV_W), QV_ARG_BUF("out_im", QV_W),
                           QV_ARG_SCALAR("n", uint32_t)};
    qv_arg_desc d_mag[] = {QV_ARG_BUF("re", QV_R), QV_ARG_BUF("im", QV_R),
                           QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("n", uint32_t)};
    assert_int_equal(qv_func_create(rt, names[0], d_fir, 5, fir), 0);
    assert_int_equal(qv_func_create(rt, names[1], d_fft, 5, fft), 0);
    assert_int_equal(qv_func_create(rt, names[2], d_mag, 4, mag), 0);
    assert_int_equal(qv_func_set_cpu(*fir, fir_cpu), 0);
    assert_int_equal(qv_func_set_cpu(*fft, fft_cpu), 0);
    assert_int_equal(qv_func_set_cpu(*mag, mag_cpu), 0);
    assert_int_equal(qv_func_set_fpga(*fir, "fir"), 0);
    assert_int_equal(qv_func_set_fpga(*fft, "fft"), 0);
    /* mag is the catalog's: fir_fft_mag may take over its calls */
    assert_int_equal(qv_func_set_fpga(*mag, "fir_fft_mag"), 0);
}

/* The same under the names fir, fft and mag. */
static inline void qv_test_signal_funcs(qv_runtime *rt, qv_cpu_fn fir_cpu,
                                        qv_cpu_fn fft_cpu, qv_cpu_fn mag_cpu,
                                        qv_func **fir, qv_func **fft, qv_func **mag)
{
    static const char *const names[3] = {"fir", "fft", "mag"};
    qv_test_signal_funcs_named(rt, names, fir_cpu, fft_cpu, mag_cpu, fir, fft, mag);
}

#endif
