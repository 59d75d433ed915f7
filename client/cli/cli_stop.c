/* Stopping a verb that follows the broker (keten watch, keten audit replay
 * --follow) on SIGINT or SIGTERM: never in the middle of writing a message
 * out or acknowledging it. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t stop_asked;
static volatile sig_atomic_t busy;

/*
 * Idle means waiting for the broker with everything written out flushed
 * and acknowledged, so ending here loses nothing: what was delivered but
 * not shown was not acknowledged either, and comes again. _exit is
 * async-signal-safe; the client's keys are not wiped, but they are in
 * sodium_malloc memory, which is never dumped and goes with the process.
 * libzmq's threads block every signal, so this runs on the main thread.
 */
static void
on_stop(int sig)
{
	(void)sig;
	stop_asked = 1;
	if (!busy)
		_exit(EXIT_OK);
}

void
cli_stop_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGTERM);
	/* SA_RESTART: a write to a full pipe or a slow terminal, interrupted
	 * by the signal, goes on instead of failing with EINTR (stdio would
	 * take that for a write error). A backoff sleep ends early all the
	 * same: nanosleep is never restarted. The library's waits retry
	 * after EINTR either way, hence the exit while idle. SA_RESETHAND:
	 * a second signal ends the process at once. */
	sa.sa_flags = SA_RESTART | SA_RESETHAND;
	if (sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0) {
		perror("keten: sigaction"); /* cannot happen for these */
		exit(EXIT_USAGE);
	}
}

int
cli_stop_asked(void)
{
	return stop_asked != 0;
}

void
cli_stop_busy(int on)
{
	/* Keep the compiler from moving output or an acknowledgement
	 * across the change. */
	atomic_signal_fence(memory_order_seq_cst);
	busy = on != 0;
	atomic_signal_fence(memory_order_seq_cst);
}
