/*
 * raw_cl.c - the baseline of bench_devices' OpenCL rows: the same vadd
 * kernel on the same device, launched by hand through the OpenCL API, with
 * nothing of Quiver in between. Two ways a hand-written program would chain
 * launches: waiting for each before the next (what a chain of dependent
 * tasks costs at the least when the host resolves each dependency, as the
 * runtime does), and queueing them all on the in-order queue with one wait
 * at the end (what the device itself takes per launch).
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "raw_cl.h"

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The nth (from 0) OpenCL device named name (CL_DEVICE_NAME), in the ICD
 * loader's order, as the runtime lists them; or NULL. */
static cl_device_id find_device(const char *name, unsigned nth)
{
    cl_platform_id plats[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS)
        return NULL;
    for (cl_uint p = 0; p < np && p < 16; p++) {
        cl_device_id devs[16];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint i = 0; i < nd && i < 16; i++) {
            char dn[256] = "";
            clGetDeviceInfo(devs[i], CL_DEVICE_NAME, sizeof dn, dn, NULL);
            if (!strcmp(dn, name) && nth-- == 0)
                return devs[i];
        }
    }
    return NULL;
}

int raw_cl_launch_us(const char *name, unsigned nth, const char *src, int launches,
                     double *each_us, double *queued_us)
{
    cl_device_id dev = find_device(name, nth);
    if (!dev)
        return -1;
    int rc = -1;
    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    cl_command_queue q = ctx ? clCreateCommandQueue(ctx, dev, 0, &err) : NULL;
    cl_program prog = q ? clCreateProgramWithSource(ctx, 1, &src, NULL, &err) : NULL;
    cl_kernel k = NULL;
    cl_mem m[3] = {NULL, NULL, NULL};
    if (!prog || clBuildProgram(prog, 1, &dev, NULL, NULL, NULL) != CL_SUCCESS ||
        !(k = clCreateKernel(prog, "vadd", &err)))
        goto out;
    for (int i = 0; i < 3; i++)
        if (!(m[i] = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sizeof(float), NULL, &err)))
            goto out;
    cl_uint n = 1;
    size_t global = 1;
    for (cl_uint i = 0; i < 3; i++)
        clSetKernelArg(k, i, sizeof m[i], &m[i]);
    clSetKernelArg(k, 3, sizeof n, &n);
    /* Warm-up, as the runtime's rows have. */
    for (int i = 0; i < 5; i++)
        clEnqueueNDRangeKernel(q, k, 1, NULL, &global, NULL, 0, NULL, NULL);
    if (clFinish(q) != CL_SUCCESS)
        goto out;
    double t0 = seconds();
    for (int i = 0; i < launches; i++) {
        cl_event e;
        if (clEnqueueNDRangeKernel(q, k, 1, NULL, &global, NULL, 0, NULL, &e) !=
            CL_SUCCESS)
            goto out;
        err = clWaitForEvents(1, &e);
        clReleaseEvent(e);
        if (err != CL_SUCCESS)
            goto out;
    }
    *each_us = (seconds() - t0) / launches * 1e6;
    t0 = seconds();
    for (int i = 0; i < launches; i++)
        if (clEnqueueNDRangeKernel(q, k, 1, NULL, &global, NULL, 0, NULL, NULL) !=
            CL_SUCCESS)
            goto out;
    if (clFinish(q) != CL_SUCCESS)
        goto out;
    *queued_us = (seconds() - t0) / launches * 1e6;
    rc = 0;
out:
    for (int i = 0; i < 3; i++)
        if (m[i])
            clReleaseMemObject(m[i]);
    if (k)
        clReleaseKernel(k);
    if (prog)
        clReleaseProgram(prog);
    if (q)
        clReleaseCommandQueue(q);
    if (ctx)
        clReleaseContext(ctx);
    return rc;
}
