/*
 * Raw access for tests: a CURVE DEALER with any keys, and crafted submit
 * requests with chosen faults. Uses common/ directly, which no real client
 * does.
 */
#ifndef KETEN_RAW_H
#define KETEN_RAW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "harness.h"
#include "note.h"
#include "wire.h"

struct raw {
	void *ctx, *sock;
	struct note_key broker; /* the region's: reads checkpoint notes */
};

/* Connects as agency id (its key file). */
void raw_connect(struct raw *r, const struct harness *h, const char *id);
/* Connects as agency id, a peer that never reads: libzmq takes at most
 * one reply off the wire for it and the kernel buffers little more. */
void raw_connect_stalled(struct raw *r, const struct harness *h,
                         const char *id);
/* Connects with the given CURVE keypair (e.g. one not in the region). */
void raw_connect_keys(struct raw *r, const struct harness *h,
                      const uint8_t pk[32], const uint8_t sk[32]);
/* Sends frames (nframes >= 1) and waits for one reply; 0 if a reply was
 * decoded into rep (clear it with wire_reply_clear), -1 on timeout. */
int raw_call(struct raw *r, struct reply *rep, const uint8_t *const *frames,
             const size_t *lens, size_t nframes, int timeout_ms);
int raw_call1(struct raw *r, struct reply *rep, const uint8_t *frame,
              size_t len, int timeout_ms);
void raw_close(struct raw *r);

/*
 * A false broker: a CURVE ROUTER with the broker's transport secret key
 * on h's port, in a thread of its own, handing each request (its frames,
 * the last one the request) to fn(arg, sock, parts, n), which sends the
 * reply. raw_broker_start returns once it is bound.
 */
typedef void (*raw_answer_fn)(void *arg, void *sock, zmq_msg_t *parts, int n);
struct raw_broker {
	int port;
	uint8_t curve_sk[32];
	raw_answer_fn fn;
	void *arg;
	atomic_bool stop, ready;
	pthread_t th;
};
void raw_broker_start(struct raw_broker *rb, const struct harness *h,
                      const uint8_t curve_sk[32], raw_answer_fn fn, void *arg);
void raw_broker_stop(struct raw_broker *rb);

/*
 * A false broker's log: records 1..n of a stopped broker's directory (its
 * roster records as recorded), the envelopes of some messages altered,
 * chained anew, and a checkpoint of them signed with the broker's key.
 * raw_log_answer (a raw_answer_fn, arg the raw_log) serves it as ketend
 * would to agency: pings, the roster, fetches of its messages after the
 * acknowledged cursor, and acks, which it records.
 */
enum { RAW_LOG_MAX = 16 };
enum raw_forgery {
	RAW_KEEP = 0,      /* delivered as recorded */
	RAW_FORGE_URGENCY, /* a higher urgency than the sender signed */
	RAW_FORGE_STRANGER /* attributed to an agency the roster lacks */
};
struct raw_log {
	const char *agency; /* whom it serves */
	uint64_t n;
	uint8_t *env[RAW_LOG_MAX + 1], *sealed[RAW_LOG_MAX + 1];
	size_t env_len[RAW_LOG_MAX + 1], sealed_len[RAW_LOG_MAX + 1];
	int64_t at_us[RAW_LOG_MAX + 1];
	uint8_t hash[RAW_LOG_MAX + 1][32], prev[RAW_LOG_MAX + 1][32];
	uint8_t node[8][RAW_LOG_MAX][32];
	bool roster[RAW_LOG_MAX + 1];
	struct keten_checkpoint cp;
	struct note_key key;
	_Atomic uint64_t cursor; /* the highest seq acknowledged */
	_Atomic uint64_t acks;   /* how many acks it answered */
};
/* Reads records 1..n (n <= RAW_LOG_MAX) of h's stopped broker, record
 * seq altered as forge[seq] (forge has n + 1 entries; NULL: none), signs
 * the checkpoint with the broker key file's key; cursor: the agency's
 * acknowledged cursor to begin with. Exits the test on failure. */
void raw_log_make(struct raw_log *L, const struct harness *h,
                  const char *agency, uint64_t n, const enum raw_forgery *forge,
                  uint64_t cursor);
void raw_log_answer(void *arg, void *sock, zmq_msg_t *parts, int n);
void raw_log_free(struct raw_log *L);

struct craft {
	const char *signer;     /* envelope.signer */
	const char *sign_as;    /* whose secret key signs */
	const char *sender;     /* header.sender */
	const char *recipient;  /* header.recipient */
	uint32_t version;       /* envelope version */
	uint32_t env_type;      /* envelope type */
	uint32_t body_type;     /* body detail */
	int flip_sig;           /* corrupt the signature */
	int flip_sealed;        /* corrupt the sealed content after hashing */
	int no_sealed;          /* send no sealed content */
	int same_id_as_last;    /* reuse the previous crafted message id */
	const char *marker;     /* content child name */
	const uint8_t *case_id; /* NULL: a new random case id */
	const uint8_t *message_id; /* NULL: random, or same_id_as_last */
};

void craft_init(struct craft *c, const char *from, const char *to);
/* An encoded Request{submit}; malloc'd. */
uint8_t *craft_submit(size_t *len, const struct harness *h,
                      const struct craft *c);
/* An encoded Request of another kind (ping, fetch 0, ack seq). */
uint8_t *craft_request(size_t *len, enum wire_request_kind kind, uint64_t arg);

#endif
