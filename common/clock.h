/* Wall and monotonic time in microseconds; the only place that reads clocks. */
#ifndef KETEN_CLOCK_H
#define KETEN_CLOCK_H

#include <stdint.h>

int64_t clock_now_us(void);  /* microseconds since the Unix epoch */
int64_t clock_mono_us(void); /* monotonic, for measuring durations */

#endif
