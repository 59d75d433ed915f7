/*
 * The many-part abuser of abuse.c, a process of its own:
 *
 *   abuse_multipart CONFIG PORT ID KEYFILE once|repeat
 *
 * connects as ID (KEYFILE) to the broker of CONFIG on PORT and sends a
 * request of ABUSE_PARTS parts of 1 MiB: once, or again on a new
 * connection until SIGTERM. A process, not a thread of the test, because
 * libzmq 4.3.4 may assert in the sender (session_base.cpp clean_pipes,
 * EAGAIN) when the broker shuts the connection while the parts are still
 * being written, which is what the abuse is for. Its exit status is its
 * own affair; the test asserts what the broker does.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "abuse.h"

#define MIB (1024 * 1024)

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	static uint8_t part[MIB];
	struct sigaction sa = {.sa_handler = on_term};
	struct harness h = {0};
	int timeout = 20000;
	bool repeat;

	if (argc != 6 ||
	    (strcmp(argv[5], "once") != 0 && strcmp(argv[5], "repeat") != 0)) {
		fprintf(stderr,
		        "usage: %s CONFIG PORT ID KEYFILE once|repeat\n",
		        argv[0]);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "%s: libsodium does not start\n", argv[0]);
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	snprintf(h.config, sizeof(h.config), "%s", argv[1]);
	h.port = atoi(argv[2]);
	h.n = 1;
	snprintf(h.ids[0], sizeof(h.ids[0]), "%s", argv[3]);
	snprintf(h.keys[0], sizeof(h.keys[0]), "%s", argv[4]);
	repeat = strcmp(argv[5], "repeat") == 0;
	memset(part, 'x', sizeof(part));
	do {
		struct raw r;
		raw_connect(&r, &h, h.ids[0]);
		zmq_setsockopt(r.sock, ZMQ_SNDTIMEO, &timeout, sizeof(timeout));
		for (int i = 0; i < ABUSE_PARTS && !stop; i++) {
			zmq_msg_t m;
			/* One buffer for every part: 1 MiB here, not 400. */
			zmq_msg_init_data(&m, part, sizeof(part), NULL, NULL);
			if (zmq_msg_send(&m, r.sock,
			                 i + 1 < ABUSE_PARTS ? ZMQ_SNDMORE
			                                     : 0) < 0) {
				zmq_msg_close(&m);
				break;
			}
		}
		/* Until the broker has the parts, or has dropped us. */
		for (int i = 0; i < 50 && !stop; i++)
			abuse_sleep_ms(20);
		raw_close(&r);
	} while (repeat && !stop);
	return 0;
}
