/*
 * A job: one request's journey I/O thread -> verify worker -> (writer) ->
 * I/O thread. Exactly one thread owns a job at a time; ownership moves with
 * its pointer over an inproc socket. No job is ever shared.
 */
#ifndef KETEN_JOB_H
#define KETEN_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include <zmq.h>

#include "config.h"
#include "liveconf.h"
#include "record.h"
#include "store.h"
#include "wire.h"

#define JOB_RID_MAX 256

struct job {
	uint8_t rid[JOB_RID_MAX]; /* ROUTER routing id of the peer */
	size_t rid_len;
	/* The config generation the job was made under (a reference,
	 * released by job_free): agency and witness point into it, and
	 * every thread reads that config, never another, for this job. */
	struct liveconf_gen *gen;
	/* authenticated by ZAP: an agency, or else a witness */
	const struct agency *agency;
	const struct witness *witness;
	zmq_msg_t frame; /* the request as received */
	uint64_t conn;   /* its connection (peers_conn), for the reply */
	struct request req;
	struct signed_record rec; /* a submit's; item.msg points into it */
	struct store_item item;
	int64_t t0_us;    /* when the I/O thread received it */
	uint64_t peek_id; /* request_id read before decoding, for refusals */
	uint8_t *out;     /* the encoded reply */
	size_t out_len;
	/* A read that found nothing and may wait (a subscription): the
	 * worker parks it with the I/O thread, which sends it back to the
	 * workers when a commit could have something for it, or at its
	 * deadline with no_wait set. */
	bool parked;
	bool no_wait;
	uint64_t park_head;    /* the head of the snapshot that found nothing */
	uint64_t park_after;   /* only a record above this can answer it */
	bool park_replay;      /* a replay (any commit) or a fetch (inbox) */
	int64_t wait_until_us; /* monotonic */
	uint64_t arrival;      /* the I/O thread's count: which read is newer */
	/* A notice from the writer (no request): the chain head after a
	 * commit, and a flag per config agency whose inbox got records. */
	bool notice;
	uint64_t notice_head;
	uint8_t *notice_woke; /* indexed as gen->cfg->agencies */
	/* A reload (I/O thread -> writer -> I/O thread): the generation to
	 * put in force if the writer agrees (item.status, item.err). */
	struct liveconf_gen *reload;
};

/* The ZAP User-Id of a witness: this prefix and its name (an agency id
 * never holds a ':'). */
#define JOB_WITNESS_PREFIX "witness:"
/* Who sent the job, for logs: the agency id or the witness's name. */
const char *job_peer(const struct job *j);

/* A zeroed job with an empty frame; NULL if out of memory. */
struct job *job_new(void);
/* Frees the job and everything it owns (its config references too); NULL
 * is a no-op. */
void job_free(struct job *j);
/* Encodes an error reply into j->out (replacing any). */
void job_reply_error(struct job *j, int code, const char *message);
/* Encodes r (request id set from the job) into j->out; a checkpoint in
 * it goes as the signed note of broker's key (NULL if it has none). */
struct note_key;
void job_reply(struct job *j, struct reply *r, const struct note_key *broker);

/* Pass a job pointer over an inproc socket; 0 or -1 (errno from zmq). */
int job_send(void *sock, struct job *j, int flags);
/* Receive a job pointer; 0 or -1. A NULL pointer is a sentinel. */
int job_recv(void *sock, struct job **j, int flags);

#endif
