/*
 * histogram, OpenCL C 1.2 variant: bins[b] = count of data[i] with
 * (data[i] * nbins) >> 32 == b, counts overwrite bins.
 * Work split: exactly ONE work-group; launch with global size == local size
 * (any size the device allows, e.g. 256). The group clears a histogram in
 * local memory, counts with local atomics (each item takes every
 * local-size-th value), then writes the counts out; one group is what makes a
 * kernel that both clears and fills bins possible without a global barrier.
 * nbins must be 1..4096 (16 KiB of local memory); otherwise nothing is
 * written, like the HLS kernel.
 */
#define HISTOGRAM_MAX_BINS 4096u

__kernel void histogram(__global const uint *data, __global uint *bins, const uint n,
                        const uint nbins)
{
    __local uint hist[HISTOGRAM_MAX_BINS];
    uint lid = (uint)get_local_id(0);
    uint lsz = (uint)get_local_size(0);
    if (nbins == 0 || nbins > HISTOGRAM_MAX_BINS)
        return;
    for (uint b = lid; b < nbins; b += lsz)
        hist[b] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint i = lid; i < n; i += lsz)
        atomic_inc(&hist[(uint)(((ulong)data[i] * nbins) >> 32)]);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint b = lid; b < nbins; b += lsz)
        bins[b] = hist[b];
}
