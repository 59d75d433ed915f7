/*
 * What the broker's threads are given at start: read-only after start-up,
 * except the stop flag and the config in force (liveconf.h: each job
 * carries the generation it was made under). The threads share nothing else;
 * they talk over the inproc endpoints below.
 */
#ifndef KETEN_BROKER_H
#define KETEN_BROKER_H

#include <signal.h>
#include <stdatomic.h>

#include "config.h"
#include "liveconf.h"
#include "signer.h"
#include "store.h"

#define EP_VERIFY  "inproc://keten-verify"  /* I/O -> workers (PUSH/PULL) */
#define EP_WRITER  "inproc://keten-writer"  /* workers -> writer */
#define EP_REPLIES "inproc://keten-replies" /* workers, writer -> I/O */
#define EP_ZAP     "inproc://zeromq.zap.01" /* libzmq's ZAP endpoint */

#define FETCH_MAX_DEFAULT  64
#define FETCH_MAX_LIMIT    1024
#define CASES_MAX_DEFAULT  256
#define CASES_MAX_LIMIT    1024
#define REPLAY_MAX_DEFAULT 256
#define REPLAY_MAX_LIMIT   4096
#define WAIT_MAX_MS        60000 /* longest a subscription read may wait */
#define PARKED_MAX         65536 /* waiting reads held at once, in all */
#define PARKED_PER_AGENCY  256   /* ... and per agency */
#define WAIT_REQUEST_MAX   256   /* bytes: a waiting read's whole request */
/* Requests queued for the verify workers, on each side of the inproc pipe
 * (the I/O thread's SNDHWM, each worker's RCVHWM): short, so that the
 * rest wait in the ROUTER, which takes them from connections in turn and
 * one busy connection cannot queue thousands ahead of the others. */
#define VERIFY_QUEUE 16

struct broker {
	struct liveconf *live; /* swapped by the I/O thread on SIGHUP */
	struct store *store;
	struct signer *signer; /* signs checkpoints and roster records */
	void *zctx;
	atomic_bool
	    stopping; /* set by the I/O thread once it stops dispatching */
	atomic_uint workers_done;
	atomic_bool zap_ready;
};

void *verify_main(void *broker); /* a verify worker thread */
/* The single writer thread's start: the only holder of the store's writer
 * state, which no other thread is given. */
struct writer_start {
	struct broker *b;
	struct store_writer *w;
};
void *writer_main(void *start); /* the single writer thread */
void *zap_main(void *broker);   /* the ZAP handler thread */
/* Runs the I/O loop until SIGINT/SIGTERM/SIGQUIT, reloading the config on
 * SIGHUP; returns 0 on a clean stop. */
int transport_run(struct broker *b, const uint8_t curve_sk[32]);
/* The signals ketend handles (INT, TERM, QUIT, HUP, USR1): main blocks
 * them before any thread starts; transport_run reads them. */
void transport_signals(sigset_t *set);

#endif
