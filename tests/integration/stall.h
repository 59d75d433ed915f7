/*
 * The slow-subscriber scenario (stall.c), shared by the functional test
 * and the benchmark. It measures and reports; the callers decide what must
 * hold. Exits the process on a failure of the scenario itself.
 */
#ifndef KETEN_STALL_H
#define KETEN_STALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stall_result {
	double rate;           /* messages per second delivered to the four */
	uint64_t peak_rss;     /* the broker's peak anonymous memory, bytes */
	uint64_t to_fast;      /* messages sent to the four */
	uint64_t delivered;    /* of those, delivered to the four */
	uint64_t slow_waiting; /* stopped runs: what the stopped inbox kept */
	int stop_status;       /* ketend's exit status (0: clean, no leaks) */
};

/* One run of n messages on a new broker; with stop, the fifth recipient's
 * subscriber is stopped before the first message. self is argv[0]: the
 * subscriber runs as `self --subscriber CONFIG KEY`. */
void stall_phase(struct stall_result *res, const char *self, size_t n,
                 bool stop);
/* Runs the subscriber if argv asks for it: it reads until killed, and
 * returns 2 only if it cannot connect. Else returns -1 at once. */
int stall_subscriber_main(int argc, char **argv);

#endif
