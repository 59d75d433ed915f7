/*
 * Durations for callers of libketen (the keten command's spans from now):
 * a thin door to common's clock, so that keten has one duration grammar.
 * It must never parse or add a duration itself.
 */
#include "clock.h"
#include "error.h"
#include "keten.h"

int
keten_duration_add(int64_t *out_us, int64_t t_us, int sign,
                   const char *duration, struct keten_error *err)
{
	struct duration d;

	if (out_us == NULL || duration == NULL || (sign != 1 && sign != -1))
		return error_set(err, KETEN_E_USAGE,
		                 "keten_duration_add: NULL argument or a sign "
		                 "other than 1 or -1");
	if (clock_parse_duration(&d, duration) != 0)
		return error_set(err, KETEN_E_USAGE,
		                 "a duration is " CLOCK_DURATION_RULE
		                 "; not '%s'",
		                 duration);
	*out_us = sign > 0 ? clock_add(t_us, &d) : clock_sub(t_us, &d);
	return KETEN_OK;
}
