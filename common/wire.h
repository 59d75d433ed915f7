/*
 * The wire: the only code that calls protobuf-c's pack and unpack
 * (common/wire*.c, which alone include the private wire_pb.h). Decoders
 * check every length and id before anything else sees the data, so each one
 * is a fuzz target. Layouts are specified in docs/PROTOCOL.md.
 */
#ifndef KETEN_WIRE_H
#define KETEN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "case.h"
#include "error.h"

#define WIRE_VERSION 1
/* The protocol's version (docs/PROTOCOL.md's title): version 2 changed
 * only what proves the log, and an envelope's WIRE_VERSION stayed 1. */
#define WIRE_PROTOCOL_VERSION 2
#define WIRE_SIG_LEN          64

/* Message types, decline reasons, outcomes and case status are the public
 * enums of keten_public.h; common/wire.c asserts they equal the proto's. */

/*
 * The refusal (KETEN_E_FIELD) for an id an agency may not use, in words
 * that tell it nothing more (PROTOCOL.md 14.1): given for a reserved id
 * (all zeros), which was never used, and alike for an id taken by a case
 * the agency is not a party to or by a message another agency sent.
 */
#define WIRE_CASE_ID_UNUSABLE                                                  \
	"header.case_id cannot be used; a case id is 16 random bytes, new "    \
	"for every referral"
#define WIRE_MSG_ID_UNUSABLE                                                   \
	"header.message_id cannot be used; a message id is 16 random "         \
	"bytes, new for every message"

/* A decoded envelope; body points into decoder-owned memory. */
struct envelope {
	uint32_t version;
	enum keten_message_type type;
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
	struct header h;              /* h.recipient is "" only for a close */
	enum keten_message_type type; /* the type it was decoded as */
	bool has_content;
	uint8_t content_hash[KETEN_HASH_LEN];
	bool has_offer_id; /* answers, withdraw, info_reply */
	uint8_t offer_id[KETEN_MSG_ID_LEN];
	union {
		struct {
			int urgency;
			int64_t respond_by_us;
		} offer; /* referral, handover */
		enum keten_decline_reason decline_reason; /* decline */
		enum keten_outcome outcome;               /* close */
	} u;
};

/* Whether a message of this type must carry sealed content (1), may (0)
 * or must not (-1). */
int wire_type_content(enum keten_message_type type);
/* Whether this type answers an open offer, so carries its offer_id. */
bool wire_type_needs_offer(enum keten_message_type type);

enum wire_request_kind {
	WIRE_REQ_SUBMIT = 1,
	WIRE_REQ_FETCH,
	WIRE_REQ_ACK,
	WIRE_REQ_PING,
	WIRE_REQ_CASES,
	WIRE_REQ_CASE,
	WIRE_REQ_REPLAY,
	WIRE_REQ_COSIGN,
	WIRE_REQ_CONSISTENCY,
	WIRE_REQ_ROSTER /* after_seq: roster records after it */
};

struct request {
	uint64_t request_id;
	enum wire_request_kind kind;
	const uint8_t *envelope; /* submit: the envelope bytes as sent */
	size_t envelope_len;
	const uint8_t *sealed;
	size_t sealed_len;
	uint32_t fetch_max;
	uint64_t fetch_after; /* fetch: after max(this, the cursor) */
	uint32_t wait_ms;     /* fetch, replay: wait this long for a record */
	uint64_t ack_seq;
	/* cases: list after case_id (if has_case_id), at most cases_max;
	 * case: case_id's records after after_seq; roster: the roster
	 * records after after_seq */
	bool has_case_id;
	uint8_t case_id[KETEN_CASE_ID_LEN];
	uint32_t cases_max;
	uint64_t after_seq;
	/* replay: records from from_seq, at most replay_max */
	uint64_t from_seq;
	uint32_t replay_max;
	/* any: the size of the client's checkpoint, to prove consistency
	 * from */
	uint64_t known_size;
	/* consistency: the proof between these sizes (to_size 0: the
	 * reply checkpoint's) */
	uint64_t from_size, to_size;
	/* cosign: the cosigned checkpoint note, not NUL-terminated */
	const char *note;
	size_t note_len;
	void *pb;
};

/* A checkpoint is the public struct keten_checkpoint (keten_public.h). */

#define WIRE_PATH_MAX         64 /* MERKLE_PATH_MAX */
#define WIRE_COSIGNED_MAX     64 /* witnesses' notes in a ping reply */
#define WIRE_ROSTER_REPLY_MAX 64 /* roster records in one roster reply */

/* A consistency proof (RFC 9162 2.1.4) from a request's known_size to the
 * reply's checkpoint: n == 0 unless 0 < known_size < its size. */
struct consistency {
	size_t n;
	uint8_t hash[WIRE_PATH_MAX][KETEN_HASH_LEN];
};

struct receipt {
	uint64_t seq;
	uint8_t record_hash[KETEN_HASH_LEN];
	uint8_t message_id[KETEN_MSG_ID_LEN];
	int64_t received_at_us;
	uint8_t prev_hash[KETEN_HASH_LEN]; /* checked by recomputing */
	struct keten_checkpoint cp;        /* covers seq */
	size_t n_path;                     /* the inclusion proof of seq */
	uint8_t path[WIRE_PATH_MAX][KETEN_HASH_LEN];
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
	/* fetch: the inclusion proof in the reply's checkpoint, n_path
	 * hashes of KETEN_HASH_LEN bytes each */
	const uint8_t *path;
	size_t n_path;
};

enum wire_reply_kind {
	WIRE_REP_ERROR = 1,
	WIRE_REP_RECEIPT,
	WIRE_REP_FETCH,
	WIRE_REP_ACK,
	WIRE_REP_PING,
	WIRE_REP_CASES,
	WIRE_REP_CASE,
	WIRE_REP_REPLAY,
	WIRE_REP_COSIGN,
	WIRE_REP_CONSISTENCY,
	WIRE_REP_ROSTER
};

/* A case as the broker reports it: its state and the open offer's due
 * times under the broker's deadlines. */
struct wire_case {
	struct case_state st;
	int64_t ack_due_us, decide_due_us;
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
		bool has_cp;
		struct keten_checkpoint cp;
	} fetch;
	uint64_t ack_cursor;
	struct {
		const char *agency;
		uint64_t head_seq;
		bool has_cp;
		struct keten_checkpoint cp;
		size_t n_cosigned; /* witnesses' notes, not NUL-terminated */
		const char *cosigned[WIRE_COSIGNED_MAX];
		size_t cosigned_len[WIRE_COSIGNED_MAX];
	} ping;
	uint64_t cosign_size;
	struct {
		uint64_t from_size, to_size; /* to_size resolved */
		struct consistency proof;    /* from from_size to to_size */
		bool has_cp;
		struct keten_checkpoint cp;
	} link;
	struct {
		struct wire_case *items;
		size_t n;
		bool more;
		int64_t now_us;
	} cases;
	struct {
		struct wire_case summary;
		struct delivered *records; /* sealed always empty */
		size_t n;
		bool more;
		int64_t now_us;
	} kase;
	struct {
		struct delivered *records; /* sealed always empty */
		size_t n;
		bool more;
		uint64_t head_seq;
		uint8_t head_hash[KETEN_HASH_LEN];
		bool has_cp;
		struct keten_checkpoint cp;
	} replay;
	struct {
		struct delivered *records; /* roster records, seq order */
		size_t n;
		bool more;
		bool has_cp;
		struct keten_checkpoint cp; /* every path proves into it */
	} roster;
	/* receipt, fetch, replay, ping, link, roster: with their
	 * checkpoint */
	struct consistency consistency;
	uint8_t *paths; /* decoded proofs of delivered records */
	void *pb;
};

/* Encoders return malloc'd bytes in *out; the caller frees them. */
int wire_envelope_encode(uint8_t **out, size_t *len,
                         const struct envelope *e) WUR;
int wire_envelope_decode(struct envelope *e, const uint8_t *buf, size_t len,
                         struct keten_error *err) WUR;
void wire_envelope_clear(struct envelope *e);

int wire_body_encode(uint8_t **out, size_t *len, const struct body *b) WUR;
/* Decodes a body signed as message type `type` and checks that it fits
 * that type: the detail, recipient, content hash and offer_id it must or
 * must not have (docs/PROTOCOL.md, "Messages"). */
int wire_body_decode(struct body *b, enum keten_message_type type,
                     const uint8_t *buf, size_t len,
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

/* A reply's checkpoint travels as the signed note of broker's key: the
 * encoder writes it (KETEN_E_USAGE if a checkpoint comes without a key),
 * the decoder parses it strictly, refusing another origin or key ID. Its
 * signature is checked by the caller (note_checkpoint_verify). */
struct note_key;
int wire_reply_encode(uint8_t **out, size_t *len, const struct reply *r,
                      const struct note_key *broker) WUR;
int wire_reply_decode(struct reply *r, const uint8_t *buf, size_t len,
                      const struct note_key *broker,
                      struct keten_error *err) WUR;
void wire_reply_clear(struct reply *r);

/*
 * The roster's statements (docs/PROTOCOL.md 22): the body of a ROSTER
 * record and of a ROTATION statement. Plain structs; what a change means
 * and which fields it must carry is common/roster.c's, the wire checks
 * only form: every key 32 bytes (or absent), ids valid, names and reasons
 * bounded and free of control characters, 1..WIRE_ROSTER_CHANGES_MAX
 * changes.
 */
#define WIRE_ROSTER_CHANGES_MAX 256      /* changes in one roster record */
#define WIRE_ROSTER_NAME_MAX    127      /* bytes of an agency's display name */
#define WIRE_ROSTER_REASON_MAX  255      /* bytes of a revocation's reason */
#define WIRE_BROKER_ID          "broker" /* the roster's own signer */

enum roster_action {
	ROSTER_JOIN = 1,
	ROSTER_ROTATE = 2,
	ROSTER_REVOKE = 3,
	ROSTER_REKEY = 4,
	ROSTER_LEAVE = 5,
	ROSTER_RENAME = 6,
	ROSTER_BROKER = 7
};
#define ROSTER_ACTION_MAX ROSTER_BROKER

/* A key set; a key of all zero bytes is absent (an empty field on the
 * wire; the decoder refuses 32 zero bytes sent as a key). */
struct roster_keys {
	uint8_t sign[KETEN_KEY_LEN];      /* Ed25519 */
	uint8_t box[KETEN_KEY_LEN];       /* X25519, sealed content */
	uint8_t transport[KETEN_KEY_LEN]; /* CURVE */
};

struct roster_change {
	enum roster_action action;
	char agency[KETEN_ID_MAX + 1];       /* "" for ROSTER_BROKER */
	enum keten_kind kind;                /* JOIN; else KETEN_KIND_NONE */
	char name[WIRE_ROSTER_NAME_MAX + 1]; /* JOIN, RENAME; else "" */
	struct roster_keys keys;
	/* ROTATE, BROKER: a ROTATION envelope's bytes (borrowed when
	 * encoding; the decoder's memory when decoded), else NULL, 0 */
	const uint8_t *rotation;
	size_t rotation_len;
	int64_t compromised_at_us;               /* REVOKE */
	char reason[WIRE_ROSTER_REASON_MAX + 1]; /* REVOKE */
};

/* A decoded Roster: changes is malloc'd, freed by wire_roster_clear. */
struct wire_roster {
	char region[KETEN_ID_MAX + 1];
	uint64_t prev_seq;
	struct roster_change *changes;
	size_t n;
	void *pb;
};

struct wire_rotation {
	char region[KETEN_ID_MAX + 1];
	char agency[KETEN_ID_MAX + 1]; /* or WIRE_BROKER_ID */
	struct roster_keys keys;
	int64_t made_at_us;
};

int wire_roster_encode(uint8_t **out, size_t *len, const char *region,
                       uint64_t prev_seq, const struct roster_change *c,
                       size_t n) WUR;
int wire_roster_decode(struct wire_roster *r, const uint8_t *buf, size_t len,
                       struct keten_error *err) WUR;
void wire_roster_clear(struct wire_roster *r);
int wire_rotation_encode(uint8_t **out, size_t *len,
                         const struct wire_rotation *r) WUR;
int wire_rotation_decode(struct wire_rotation *r, const uint8_t *buf,
                         size_t len, struct keten_error *err) WUR;

/* Decoded sealed content; strings point into memory freed by _clear.
 * Which member is set follows the message type: a referral's content, a
 * handover's dossier, or any other message's note. */
struct content {
	enum keten_message_type type;
	struct keten_referral_content referral;
	struct keten_dossier dossier;
	const char *note;
	void *pb;
	void *arrays;
};
int wire_content_encode(uint8_t **out, size_t *len,
                        const struct keten_referral_content *c) WUR;
int wire_dossier_encode(uint8_t **out, size_t *len,
                        const struct keten_dossier *d) WUR;
int wire_note_encode(uint8_t **out, size_t *len, const char *text) WUR;
int wire_content_decode(struct content *c, enum keten_message_type type,
                        const uint8_t *buf, size_t len,
                        struct keten_error *err) WUR;
void wire_content_clear(struct content *c);

#endif
