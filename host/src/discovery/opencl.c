/*
 * opencl.c - every device of every OpenCL platform the ICD loader lists.
 *
 * One trap is avoided on purpose: XRT's ICD (libxilinxopencl) aborts the
 * whole process when XILINX_XRT is unset (research/xrt-feasibility.md, §5),
 * and the ICD loader would load it as soon as we ask for platforms. So when
 * a registered ICD names it and XILINX_XRT is unset, OpenCL discovery is
 * skipped and says why, instead of taking the application down.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sigkeep.h"
#include "core/fork.h"
#include "discovery/discovery.h"

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

/* The file of a registered ICD that loads XRT's OpenCL, or NULL. */
static int xilinx_icd(char *which, size_t size)
{
    const char *dirs[2] = {getenv("OCL_ICD_VENDORS"), "/etc/OpenCL/vendors"};
    for (int d = 0; d < 2; d++) {
        if (!dirs[d] || !*dirs[d])
            continue;
        DIR *dir = opendir(dirs[d]);
        if (!dir)
            continue;
        struct dirent *e;
        while ((e = readdir(dir))) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 4, ".icd"))
                continue;
            char path[1024], line[512] = "";
            snprintf(path, sizeof path, "%s/%s", dirs[d], e->d_name);
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            if (!fgets(line, sizeof line, f))
                line[0] = 0;
            fclose(f);
            if (strstr(line, "xilinxopencl")) {
                snprintf(which, size, "%s", path);
                closedir(dir);
                return 1;
            }
        }
        closedir(dir);
        if (d == 0)
            break; /* OCL_ICD_VENDORS replaces the system directory */
    }
    return 0;
}

int qv__opencl_unsafe(char *why, size_t size)
{
    char icd[1024];
    const char *xrt = getenv("XILINX_XRT");
    if ((!xrt || !*xrt) && xilinx_icd(icd, sizeof icd)) {
        snprintf(why, size,
                 "skipped: %.150s registers XRT's OpenCL, which aborts the "
                 "process without XILINX_XRT; set XILINX_XRT",
                 icd);
        return 1;
    }
    return 0;
}

static void info_str(cl_device_id d, cl_device_info what, char *buf, size_t size)
{
    if (clGetDeviceInfo(d, what, size, buf, NULL) != CL_SUCCESS)
        buf[0] = 0;
    buf[size - 1] = 0;
}

/* The class the runtime uses the device as: the OpenCL backend is the gpu
 * class whatever the device type (PoCL's CPU device is the test GPU);
 * FPGAs behind OpenCL belong to the XRT backend's class. */
static qv_class class_of(cl_device_type t)
{
    return t & CL_DEVICE_TYPE_ACCELERATOR ? QV_CLASS_FPGA : QV_CLASS_GPU;
}

static int disc_opencl(qv__scan *s, qv_backend_report *rep);

/* One listing at a time in the process: PoCL's first clGetDeviceIDs,
 * called from several threads at once (runtimes created concurrently),
 * answered CL_DEVICE_NOT_FOUND to all but one, and those runtimes came up
 * without their OpenCL device, silently. */
static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;

void qv__disc_fork_lock(bool lock)
{
    qv__fork_hold(&list_mu, lock);
}

int qv__disc_opencl(qv__scan *s, qv_backend_report *rep)
{
    snprintf(rep->name, sizeof rep->name, "opencl");
    rep->count = 0;
    if (qv__opencl_unsafe(rep->why, sizeof rep->why))
        return 0;
    pthread_mutex_lock(&list_mu);
    qv__sigkeep_enter(); /* PoCL's LLVM installs signal handlers here */
    int rc = disc_opencl(s, rep);
    qv__sigkeep_leave();
    pthread_mutex_unlock(&list_mu);
    return rc;
}

static int disc_opencl(qv__scan *s, qv_backend_report *rep)
{
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0)) {
        snprintf(rep->why, sizeof rep->why,
                 "no OpenCL platform: no ICD registered in "
                 "/etc/OpenCL/vendors (install e.g. pocl-opencl-icd)");
        return 0;
    }
    if (err != CL_SUCCESS) {
        snprintf(rep->why, sizeof rep->why, "clGetPlatformIDs failed (error %d)",
                 (int)err);
        return 0;
    }
    if (np > 64)
        np = 64;
    cl_platform_id plats[64];
    if (clGetPlatformIDs(np, plats, NULL) != CL_SUCCESS) {
        snprintf(rep->why, sizeof rep->why, "clGetPlatformIDs failed");
        return 0;
    }
    int rc = 0;
    for (cl_uint p = 0; p < np && !rc; p++) {
        char pname[128] = "";
        if (clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL) !=
            CL_SUCCESS)
            pname[0] = 0;
        pname[sizeof pname - 1] = 0;
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS ||
            nd == 0)
            continue;
        if (nd > 64)
            nd = 64;
        cl_device_id devs[64];
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL) != CL_SUCCESS)
            continue;
        for (cl_uint i = 0; i < nd && !rc; i++) {
            qv__found f;
            memset(&f, 0, sizeof f);
            qv_resource *r = &f.r;
            char vendor[96];
            cl_device_type type = 0;
            cl_uint cus = 0;
            cl_ulong gmem = 0, maxalloc = 0;
            info_str(devs[i], CL_DEVICE_NAME, r->name, sizeof r->name);
            info_str(devs[i], CL_DEVICE_VENDOR, vendor, sizeof vendor);
            clGetDeviceInfo(devs[i], CL_DEVICE_TYPE, sizeof type, &type, NULL);
            clGetDeviceInfo(devs[i], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
            clGetDeviceInfo(devs[i], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
            clGetDeviceInfo(devs[i], CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc,
                            &maxalloc, NULL);
            snprintf(f.key, sizeof f.key, "opencl:%s:%u:%.100s", pname, i, r->name);
            f.index = i;
            f.cl_dev = devs[i];
            r->type = class_of(type);
            r->on_host = (type & CL_DEVICE_TYPE_CPU) != 0;
            snprintf(r->backend, sizeof r->backend, "opencl");
            snprintf(r->detail, sizeof r->detail, "%s (%s)", pname, vendor);
            r->units = cus ? cus : 1;
            r->memory = gmem;
            /* OpenCL cannot say how much is free: the runtime tracks what
             * it allocates itself. */
            r->free_memory = gmem;
            r->max_alloc = maxalloc;
            if (r->type != QV_CLASS_CPU) {
                /* Until measured: a PCIe Gen3 x16 link. */
                r->link_bandwidth_gbs = 12.0;
                r->link_latency_us = 10.0;
            }
            rc = qv__scan_add(s, &f);
            if (!rc)
                rep->count++;
        }
    }
    if (rep->count)
        snprintf(rep->why, sizeof rep->why, "%u device%s on %u platform%s", rep->count,
                 rep->count == 1 ? "" : "s", (unsigned)np, np == 1 ? "" : "s");
    else
        snprintf(rep->why, sizeof rep->why, "%u OpenCL platform%s, but no device",
                 (unsigned)np, np == 1 ? "" : "s");
    return rc;
}
