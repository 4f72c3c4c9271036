/* A board kernel that never ends for n == 7 (a bug a user's HLS C may
 * have; asleep, so that the tests beside it keep the cores), and that
 * ends only after 5 s for n == 9 (a run past test_hang's least deadline,
 * 2 s, that ends after all): test_hang.c. Otherwise y[i] = 42 + i. spin2
 * never ends for n == 7 either; otherwise y[i] += x[i] + 1. */
#include <stdint.h>
#include <time.h>

void spin(float *y, uint32_t n);
void spin2(float *y, const float *x, uint32_t n);

void spin(float *y, uint32_t n)
{
    volatile int forever = 1;
    if (n == 7)
        while (forever)
            nanosleep(&(struct timespec){ 1, 0 }, NULL);
    if (n == 9) /* asleep: the test's other threads keep the cores */
        nanosleep(&(struct timespec){5, 0}, NULL);
    for (uint32_t i = 0; i < n; i++)
        y[i] = 42.0f + (float)i;
}

void spin2(float *y, const float *x, uint32_t n)
{
    volatile int forever = 1;
    if (n == 7)
        while (forever)
            nanosleep(&(struct timespec){ 1, 0 }, NULL);
    for (uint32_t i = 0; i < n; i++)
        y[i] += x[i] + 1.0f;
}
