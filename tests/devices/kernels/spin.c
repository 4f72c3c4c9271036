/* A board kernel that never ends for n == 7 (a bug a user's HLS C may
 * have): test_hang.c. Otherwise y[i] = 42 + i. */
#include <stdint.h>

void spin(float *y, uint32_t n);

void spin(float *y, uint32_t n)
{
    volatile int forever = 1;
    if (n == 7)
        while (forever)
            ;
    for (uint32_t i = 0; i < n; i++)
        y[i] = 42.0f + (float)i;
}
