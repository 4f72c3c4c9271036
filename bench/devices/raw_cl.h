/*
 * raw_cl.h - bench_devices' baseline for OpenCL devices (raw_cl.c).
 */
#ifndef QV_BENCH_RAW_CL_H
#define QV_BENCH_RAW_CL_H

/* Launches kernel "vadd" of src (a, b, out: 1 float each; n = 1) launches
 * times on the nth (from 0) OpenCL device whose CL_DEVICE_NAME is name:
 * *each_us gets the time per launch waited for one by one, *queued_us per
 * launch queued all together with one wait. 0, or -1 when there is no
 * such device or a call failed. */
int raw_cl_launch_us(const char *name, unsigned nth, const char *src, int launches,
                     double *each_us, double *queued_us);

#endif
