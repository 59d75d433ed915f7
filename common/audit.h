/*
 * The auditor's offline check of a data directory: recomputes the chain
 * and its Merkle tree, checks every signature against the region's keys,
 * the metadata head and the broker's signed checkpoint.
 * Trusts nothing in the data directory.
 */
#ifndef KETEN_AUDIT_H
#define KETEN_AUDIT_H

#include <stdint.h>

#include "case.h"
#include "casebook.h"
#include "config.h"
#include "error.h"
#include "roster.h"
#include "wire.h"

/* The log against an outside checkpoint: none given, an extension of it,
 * shorter than it, or of a different tree at its size. */
enum audit_anchor {
	AUDIT_ANCHOR_NONE = 0,
	AUDIT_ANCHOR_OK,
	AUDIT_ANCHOR_SHORTER,
	AUDIT_ANCHOR_DIFFERS
};

/* A witness's newest cosigned checkpoint, from the witness database
 * (audit_witness.h): how it stands once checked. */
enum audit_cosig_state {
	AUDIT_COSIG_PENDING = 0, /* verified; the walk has not reached it */
	AUDIT_COSIG_HELD,        /* the log has its head and root at its size */
	AUDIT_COSIG_BAD_NOTE,    /* not a checkpoint note of the region */
	AUDIT_COSIG_BAD_BROKER,  /* not signed by the config's broker key */
	AUDIT_COSIG_BAD_COSIG,   /* no cosignature that verifies */
	AUDIT_COSIG_DIFFERS,     /* another tree at its size: a fork */
	AUDIT_COSIG_BEYOND       /* more records than the log: a cut */
};

#define AUDIT_COSIGNED_MAX CONFIG_WITNESSES_MAX

struct audit_cosigned {
	char witness[CONFIG_WITNESS_NAME_MAX + 1];
	struct keten_checkpoint cp; /* size 0 if the note does not parse */
	uint64_t cosigned_at;       /* the cosignature's time, seconds */
	enum audit_cosig_state state;
};

/* A record signed with a key set that a later roster record revoked, at
 * or after the compromise time the revocation states (broker time): for a
 * person to review (docs/PROTOCOL.md 22.4). Not an error. */
struct audit_review {
	uint64_t seq;
	char signer[KETEN_ID_MAX + 1];
	int64_t received_at_us;
	uint64_t revoked_seq; /* the roster record that revoked the key */
	int64_t compromised_at_us;
	char reason[WIRE_ROSTER_REASON_MAX + 1];
};
#define AUDIT_REVIEW_MAX 1000 /* listed; more are only counted */

/* One change of one roster record, as recorded (rotation NULL). */
struct audit_roster_event {
	uint64_t seq;
	struct roster_change change;
};

struct audit_result {
	uint64_t records;
	uint64_t head_seq;
	uint8_t head_hash[32];
	uint64_t bad_seq; /* first bad sequence number, 0 if none */
	/* The stored checkpoint (signature verified) if there was one; the
	 * log must then match it at its size. */
	bool has_cp;
	struct keten_checkpoint cp;
	/* How the log stands to an outside checkpoint, if one was given to
	 * audit_verify_dir_from (its signature checked by the caller). */
	enum audit_anchor anchor;
	/* The witness database's entries of the witnesses the config names,
	 * in name order, each checked (a failure fails the audit once the
	 * log verified); entries of witnesses it does not name are counted,
	 * not checked. quorum_size: the most records of the log that at
	 * least the config's witness_quorum witnesses have cosigned (each
	 * cosigned at least that many), if any. */
	size_t n_cosigned;
	struct audit_cosigned cosigned[AUDIT_COSIGNED_MAX];
	size_t n_unnamed;
	bool has_quorum;
	uint64_t quorum_size;
	/* Every case, replayed from the records alone, in the order they
	 * were opened: read one with casebook_case. */
	struct casebook *cases;
	size_t n_cases;
	/* The roster the chain recorded (docs/PROTOCOL.md 22), built as the
	 * walk applied its roster records; NULL if the log has none.
	 * roster_events: every change of every roster record in log order
	 * (malloc'd). roster_none: the log has records but no roster record
	 * (schema 5, not yet upgraded): they were verified with the
	 * config's agencies and broker key. */
	struct roster *roster;
	struct audit_roster_event *roster_events;
	size_t n_roster_events;
	bool roster_none;
	/* Records signed with a since revoked key at or after its stated
	 * compromise, in log order: the first AUDIT_REVIEW_MAX, malloc'd;
	 * n_review_all counts them all. */
	struct audit_review *review;
	size_t n_review;
	uint64_t n_review_all;
};

/* Also replays the case state machine: a record it refuses is a broken
 * chain too (the broker recorded what it should have refused). Free res
 * with audit_result_free, whatever the result.
 * KETEN_OK if the whole log verifies; KETEN_E_CHAIN with res->bad_seq and a
 * sentence in err if not; other codes if the directory cannot be read. */
int audit_verify_dir(struct audit_result *res, const struct config *c,
                     const char *dir, struct keten_error *err) WUR;

/*
 * audit_verify_dir, and the log held to anchor (a checkpoint from outside
 * the directory, whose signature the caller verified; NULL: none): the
 * log must be at least anchor->size records long and its Merkle root at
 * that size anchor->root. If not, KETEN_E_CHAIN with res->anchor set and
 * a sentence naming both sizes; the checks above come first.
 */
int audit_verify_dir_from(struct audit_result *res, const struct config *c,
                          const char *dir,
                          const struct keten_checkpoint *anchor,
                          struct keten_error *err) WUR;

/* audit_verify_dir for ketend's start, before the upgrade: the config's
 * broker key need not be in the chain's broker key history (the start
 * may be about to record a rotation, which roster_apply judges); a stored
 * checkpoint of an older schema is not held against the log (the upgrade
 * checks its heads and signs a note), and a witness entry whose note,
 * broker signature or cosignature does not verify proves nothing, so it
 * is left in res->cosigned in its BAD state for the caller to report, not
 * an error (audit_witness_end); anything else as audit_verify_dir. */
int audit_verify_dir_start(struct audit_result *res, const struct config *c,
                           const char *dir, struct keten_error *err) WUR;

void audit_result_free(struct audit_result *res);

/* For the audits beside the chain's (the access log's, a checkpoint kept
 * outside the directory), which need the chain's keys without its walk. */
struct ledger;
/* The roster of every roster record in l, in *out (free with
 * roster_destroy), as the audit's pre-pass builds it: records are decoded,
 * not checked, and a fault stops it with the roster so far (the audit of
 * the chain says what is wrong). Empty for a log without roster records.
 * KETEN_OK or KETEN_E_NOMEM. */
int audit_prepass(struct roster **out, struct ledger *l, const char *region,
                  struct keten_error *err) WUR;
/* l's stored checkpoint, as the audit checks it: signed by the broker key
 * in force at its size in r (the config's if r holds no roster record),
 * and the config's broker key one of r's history. *has false if none is
 * stored. KETEN_E_CHAIN if it does not verify. */
int audit_checkpoint_load(struct keten_checkpoint *cp, bool *has,
                          struct ledger *l, const struct config *c,
                          const struct roster *r, struct keten_error *err) WUR;

/*
 * The same checks one record at a time, for a log streamed from the
 * broker. From record 1 the chain links from the region's genesis and the
 * case rules are replayed; from N > 1 the first record's link to N - 1 is
 * checked against the hash the caller gives, or taken on trust, and the
 * case rules are not checked (their state is not known). Either way a
 * message id may appear only once among the records seen.
 */
struct audit_stream;
struct audit_info { /* what a verified record says, for reports */
	uint64_t seq;
	int64_t received_at_us, sent_at_us;
	uint8_t record_hash[32], prev_hash[32];
	uint32_t type;
	char sender[KETEN_ID_MAX + 1];
	char recipient[KETEN_ID_MAX + 1]; /* "" for a close */
	uint8_t case_id[KETEN_CASE_ID_LEN];
	uint8_t message_id[KETEN_MSG_ID_LEN];
};
/* prev_hash: record from_seq - 1's hash if the caller knows it (from a
 * receipt or an earlier replay), else NULL: then the first link is taken
 * on trust. Ignored from record 1 (the genesis hash is known). */
int audit_stream_new(struct audit_stream **out, const struct config *c,
                     uint64_t from_seq, const uint8_t *prev_hash,
                     struct keten_error *err) WUR;
/* Checks the stored record bytes rec (chain_record_encode's form) under
 * seq, which must follow the last one; KETEN_E_CHAIN names the fault. */
int audit_stream_record(struct audit_stream *s, struct audit_info *info,
                        uint64_t seq, const uint8_t *rec, size_t len,
                        struct keten_error *err) WUR;
/*
 * The roster to verify records with where the stream cannot build it:
 * before the log's first roster record (a log upgraded from schema 5),
 * and from N > 1. r is borrowed, must outlive the stream and hold the
 * roster records up to the newest record the stream will see (a roster
 * record beyond it is refused: fetch the newer ones first). From record
 * 1 the stream builds its own roster as it meets roster records; without
 * a roster, records before any roster record are verified with the
 * config's agencies.
 */
void audit_stream_roster(struct audit_stream *s, const struct roster *r);
/* The stream has reached the log's head: the config's broker key must
 * be one of the broker keys the chain recorded (docs/PROTOCOL.md 22.5),
 * else KETEN_E_CHAIN. Until then a later key may still be recorded, so
 * nothing before this holds the config's key to the chain. */
int audit_stream_end(struct audit_stream *s, struct keten_error *err) WUR;
/* What the stream learnt so far (borrowed, valid until
 * audit_stream_free): records, bad_seq, and from record 1 the chain's
 * roster and roster_events; review, if audit_stream_roster gave a
 * roster that revokes a key (the head's, so it knows revocations the
 * stream has not reached). */
const struct audit_result *audit_stream_result(const struct audit_stream *s);
/* Checks cp's signature with the broker key in force at its size (the
 * config's before any roster record) once the stream knows it (when it
 * reaches cp->size, or now), and holds
 * the log to it when the stream reaches cp->size: the same head hash and,
 * for a stream from record 1, the same Merkle root (KETEN_E_CHAIN if
 * not). A checkpoint of fewer records than already verified has only its
 * signature checked. The newest pending checkpoint replaces an older. */
int audit_stream_checkpoint(struct audit_stream *s,
                            const struct keten_checkpoint *cp,
                            struct keten_error *err) WUR;
/* The last record verified (from_seq - 1 before any) and its hash. */
uint64_t audit_stream_last(const struct audit_stream *s, uint8_t hash[32]);
/* The record a KETEN_E_CHAIN refusal is about (0 if none). */
uint64_t audit_stream_bad(const struct audit_stream *s);
void audit_stream_free(struct audit_stream **s);

#endif
