/*
 * Abusive peers for test_abuse_memory (what must hold) and bench_abuse
 * (what it costs the others), each in a thread of its own (the first in a
 * process of its own, abuse_multipart.c): a request of many 1 MiB parts,
 * connections that pipeline fetches and never read, TCP connections that never
 * send a greeting, and ones that send a greeting and a huge handshake frame.
 * They assert nothing.
 */
#ifndef KETEN_ABUSE_H
#define KETEN_ABUSE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "raw.h"

#define ABUSE_PARTS   400  /* 1 MiB parts in one request */
#define ABUSE_STALLED 3    /* connections that never read */
#define ABUSE_IDLE    1100 /* TCP connections that say nothing */

struct abuse {
	struct harness *h;
	const char *id; /* the agency it connects as (not for idle) */
	bool repeat;    /* multipart: again on a new connection, until stopped;
	                 * stalled: fetches until stopped, not a fixed number */
	atomic_bool stop;
	atomic_ulong count; /* fetches (stalled), connections (idle,
	                     * handshake); not for multipart */
	int *fd;            /* idle, handshake: its connections */
	unsigned n;         /* handshake: connections */
	size_t size;        /* handshake: the declared frame size */
	struct raw *raw;    /* stalled: its connections */
	pid_t child;        /* multipart: the abuse_multipart process */
	pthread_t th;
};

/* Requests of ABUSE_PARTS parts of 1 MiB as id: one, or until stopped. */
void abuse_multipart_start(struct abuse *a, struct harness *h, const char *id,
                           bool repeat);
/* ABUSE_STALLED connections as id that send fetches of 1,024 (fetches of
 * each, or until stopped if 0) and never read a reply. */
void abuse_stalled_start(struct abuse *a, struct harness *h, const char *id,
                         unsigned fetches);
/* ABUSE_IDLE TCP connections to h's port that never send; one the broker
 * ends is opened again at once. */
void abuse_idle_start(struct abuse *a, struct harness *h);
/* n TCP connections that each send a ZMTP greeting (CURVE) and a
 * handshake command frame declaring size bytes, all of it but the last
 * byte; no key needed. count: connections opened. */
void abuse_handshake_start(struct abuse *a, struct harness *h, unsigned n,
                           size_t size);
/* Stops the thread and closes its connections. */
void abuse_stop(struct abuse *a);
/* Waits until the thread has done what it was asked (not repeat). */
void abuse_join(struct abuse *a);

/* A field of /proc/PID/status in KiB ("VmRSS", "VmHWM", "RssAnon"), -1 if
 * unreadable. */
long abuse_status_kib(pid_t pid, const char *field);
/* Starts a new peak (VmHWM) of pid from its resident set now. */
void abuse_reset_peak(pid_t pid);
void abuse_sleep_ms(long ms);

#endif
