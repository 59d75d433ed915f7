/*
 * The wire: the only code that calls protobuf-c's pack and unpack. Decoders
 * check every length and id before anything else sees the data, so each one
 * is a fuzz target. Layouts are specified in docs/PROTOCOL.md.
 */
#ifndef KETEN_WIRE_H
#define KETEN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define WIRE_VERSION 1
#define WIRE_SIG_LEN 64

enum wire_type { WIRE_TYPE_REFERRAL = 1 };
#define WIRE_TYPE_MAX WIRE_TYPE_REFERRAL

/* A decoded envelope; body points into decoder-owned memory. */
struct envelope {
	uint32_t version;
	uint32_t type;
	char signer[KETEN_ID_MAX + 1];
	const uint8_t *body;
	size_t body_len;
	uint8_t signature[WIRE_SIG_LEN];
	void *pb;
};

struct header {
	uint8_t message_id[KETEN_MSG_ID_LEN];
	char sender[KETEN_ID_MAX + 1];
	char recipient[KETEN_ID_MAX + 1];
	uint8_t case_id[KETEN_CASE_ID_LEN];
	int64_t sent_at_us;
};

/* A decoded body: a plain copy, nothing to free. */
struct body {
	struct header h;
	uint8_t content_hash[KETEN_HASH_LEN];
	uint32_t type; /* which detail is set: an enum wire_type */
	union {
		struct {
			int urgency;
			int64_t respond_by_us;
		} referral;
	} u;
};

enum wire_request_kind {
	WIRE_REQ_SUBMIT = 1,
	WIRE_REQ_FETCH,
	WIRE_REQ_ACK,
	WIRE_REQ_PING
};

struct request {
	uint64_t request_id;
	enum wire_request_kind kind;
	const uint8_t *envelope; /* submit: the envelope bytes as sent */
	size_t envelope_len;
	const uint8_t *sealed;
	size_t sealed_len;
	uint32_t fetch_max;
	uint64_t ack_seq;
	void *pb;
};

struct receipt {
	uint64_t seq;
	uint8_t record_hash[KETEN_HASH_LEN];
	uint8_t message_id[KETEN_MSG_ID_LEN];
	int64_t received_at_us;
	uint64_t head_seq;
	uint8_t head_hash[KETEN_HASH_LEN];
	uint8_t signature[WIRE_SIG_LEN];
	uint8_t
	    prev_hash[KETEN_HASH_LEN]; /* not signed: checked by recomputing */
};

struct delivered {
	uint64_t seq;
	int64_t received_at_us;
	uint8_t record_hash[KETEN_HASH_LEN];
	uint8_t prev_hash[KETEN_HASH_LEN];
	const uint8_t *envelope;
	size_t envelope_len;
	const uint8_t *sealed;
	size_t sealed_len;
};

enum wire_reply_kind {
	WIRE_REP_ERROR = 1,
	WIRE_REP_RECEIPT,
	WIRE_REP_FETCH,
	WIRE_REP_ACK,
	WIRE_REP_PING
};

struct reply {
	uint64_t request_id;
	enum wire_reply_kind kind;
	struct {
		int code;
		const char *message;
	} error;
	struct receipt receipt;
	struct {
		struct delivered *items;
		size_t n;
		uint64_t cursor;
		bool more;
	} fetch;
	uint64_t ack_cursor;
	struct {
		const char *agency;
		uint64_t head_seq;
	} ping;
	void *pb;
};

/* Encoders return malloc'd bytes in *out; the caller frees them. */
int wire_envelope_encode(uint8_t **out, size_t *len,
                         const struct envelope *e) WUR;
int wire_envelope_decode(struct envelope *e, const uint8_t *buf, size_t len,
                         struct keten_error *err) WUR;
void wire_envelope_clear(struct envelope *e);

int wire_body_encode(uint8_t **out, size_t *len, const struct body *b) WUR;
int wire_body_decode(struct body *b, const uint8_t *buf, size_t len,
                     struct keten_error *err) WUR;

int wire_request_encode(uint8_t **out, size_t *len,
                        const struct request *r) WUR;
/* The request_id of a frame that may not decode (too big, truncated): the
 * leading field-1 varint if the frame starts with one, else 0. Lets every
 * refusal echo the id its sender is waiting for. */
uint64_t wire_request_peek_id(const uint8_t *buf, size_t len);
int wire_request_decode(struct request *r, const uint8_t *buf, size_t len,
                        struct keten_error *err) WUR;
void wire_request_clear(struct request *r);

int wire_reply_encode(uint8_t **out, size_t *len, const struct reply *r) WUR;
int wire_reply_decode(struct reply *r, const uint8_t *buf, size_t len,
                      struct keten_error *err) WUR;
void wire_reply_clear(struct reply *r);

/* Decoded sealed content; strings point into memory freed by _clear. */
struct content {
	struct keten_referral_content referral;
	void *pb;
	void *arrays;
};
int wire_content_encode(uint8_t **out, size_t *len,
                        const struct keten_referral_content *c) WUR;
int wire_content_decode(struct content *c, const uint8_t *buf, size_t len,
                        struct keten_error *err) WUR;
void wire_content_clear(struct content *c);

#endif
