/* A board kernel whose output comes before its inputs: c[i] = a[i] +
 * b[i], in place when c is a (test_remote.c: such a call in a part). */
#include <stdint.h>

void wadd(float *c, const float *a, const float *b, uint32_t n);

void wadd(float *c, const float *a, const float *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        c[i] = a[i] + b[i];
}
