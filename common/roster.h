/*
 * The roster: who belongs to a region and which keys speak for whom, as a
 * history folded from the chain's roster records (docs/PROTOCOL.md 22).
 * Pure: no I/O, no clock, no secret key (the broker's signs through a
 * callback). Every rule about a roster change lives in roster.c alone.
 */
#ifndef KETEN_ROSTER_H
#define KETEN_ROSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "record.h"
#include "wire.h"

/* struct roster_keys, struct roster_change and enum roster_action are the
 * wire's (wire.h): a change list is what a roster record carries. */

/* One key set an agency (or the broker) ever had, identified by its
 * signing key. Seqs are roster records' seqs. */
struct roster_keyset {
	struct roster_keys keys;
	uint64_t from_seq; /* the roster record that introduced it */
	uint64_t
	    until_seq; /* the roster record that replaced it; 0 = current */
	uint64_t revoked_seq;      /* the roster record that revoked it; 0 */
	int64_t compromised_at_us; /* REVOKE: since when it is not to be
	                            * trusted (the operator's word) */
	char reason[WIRE_ROSTER_REASON_MAX + 1];
};

/* One period of membership: joined at join_seq, left at leave_seq (0 = a
 * member still). A re-join opens a new period. */
struct roster_period {
	uint64_t join_seq, leave_seq;
};

/*
 * An agency as the roster has known it, under one id. `now` is its view at
 * the newest roster record: id, name, kind and the current key set's keys
 * (sign_pk = keys.sign, box_pk = keys.box, curve_pk = keys.transport).
 * keysets are in the order they were introduced; the last is current.
 * member is false once it left (its last period has a leave_seq).
 */
struct roster_member {
	struct agency now;
	bool member;
	struct roster_keyset *const *keysets;
	size_t n_keysets;
	struct roster_period *const *periods;
	size_t n_periods;
};

struct roster; /* opaque */

/* A new empty roster of region (a valid id). Free with roster_destroy. */
int roster_new(struct roster **out, const char *region,
               struct keten_error *err) WUR;
/* Frees *r and sets it to NULL; NULL or *r == NULL is a no-op. */
void roster_destroy(struct roster **r);

/*
 * Verifies the roster record env (the envelope bytes as recorded, len
 * bytes; borrowed) at seq, received at received_at_us by the broker,
 * against the rules of docs/PROTOCOL.md 22 and applies it. seq must be
 * above roster_last_seq. On any refusal nothing changes and err names the
 * record's seq, the change's index, the agency and the rule. Codes:
 * KETEN_E_UNKNOWN_TYPE (not a ROSTER envelope), KETEN_E_SIGNER (signer
 * not "broker"), KETEN_E_BADSIG (the record's or a statement's signature),
 * KETEN_E_FIELD (every other rule), KETEN_E_MALFORMED / KETEN_E_VERSION
 * (does not decode), KETEN_E_USAGE (seq not after the last), KETEN_E_NOMEM.
 * Not thread-safe against readers: the caller excludes them while it
 * applies (the daemon's writer; libketen's lock).
 */
int roster_apply(struct roster *r, uint64_t seq, int64_t received_at_us,
                 const uint8_t *env, size_t len, struct keten_error *err) WUR;

/*
 * The agency whose key is in force for a record at seq (the roster state
 * at seq: the fold of roster records < seq; for a seq at or before the
 * first roster record, the state right after it). seq UINT64_MAX means
 * now (a submission not yet recorded). The pointer is owned by r and
 * stays valid until roster_destroy (roster_apply never moves it).
 * NULL with err (KETEN_E_SIGNER) saying why: never a member, not yet
 * joined ("joins at record N"), left ("left at record N"), or its key set
 * revoked ("revoked at record N"). Thread-safe for concurrent readers.
 */
const struct agency *roster_find(const struct roster *r, const char *id,
                                 uint64_t seq, struct keten_error *err);

/* The key set ever recorded for id with signing key sign_pk, or NULL:
 * when it was introduced, replaced and revoked (for "lt-almere's key
 * rotated at record 31" and the audit's compromise listing). */
const struct roster_keyset *roster_keyset_of(const struct roster *r,
                                             const char *id,
                                             const uint8_t sign_pk[32]);

/* The region it was made for. */
const char *roster_region(const struct roster *r);
/* Members ever recorded (including those that left), in the order they
 * first joined: roster_member(r, i) for i < roster_members(r). */
size_t roster_members(const struct roster *r);
const struct roster_member *roster_member(const struct roster *r, size_t i);
/* The member with this id (also one that left), or NULL. */
const struct roster_member *roster_member_find(const struct roster *r,
                                               const char *id);
/* The broker's key history, oldest first (box always zero):
 * (*keysets)[i]->from_seq/until_seq say when each was in force. */
size_t roster_broker_keys(const struct roster *r,
                          struct roster_keyset *const **keysets);

/* The word of an action ("join", "rotate", ... "broker"), or "?". */
const char *roster_action_word(enum roster_action action);

/* The seq of the newest roster record applied; 0: none yet. */
uint64_t roster_last_seq(const struct roster *r);
/* Every roster record's seq, ascending, in *seqs (owned by r, valid until
 * the next roster_apply); returns how many. */
size_t roster_records(const struct roster *r, const uint64_t **seqs);

/* The broker signing key that signs a roster record at seq: the state
 * after every roster record <= seq (so a record's own BROKER change
 * counts; the first roster record's key for a seq before it). NULL before
 * any roster record. */
const uint8_t *roster_broker_key_at(const struct roster *r, uint64_t seq);
/* The key that signs a checkpoint of size: the same rule, the state after
 * every roster record <= size. */
const uint8_t *roster_broker_key_for_size(const struct roster *r,
                                          uint64_t size);
/* The same key as the note key (note.h) that signs a checkpoint of size,
 * in *out: r's key in force at that size, or *before if r is NULL or holds
 * no roster record (a log without roster records: the config's key;
 * before NULL: none). 0, or -1 if none makes a key. */
int roster_note_key_for_size(struct note_key *out, const struct roster *r,
                             uint64_t size, const struct note_key *before) WUR;
/* Whether pk is any key of the broker key history: a verifier trusts the
 * chain if its configured broker key is one of them. */
bool roster_broker_trusted(const struct roster *r, const uint8_t pk[32]);

/* The door's roster (record.h): find(arg, signer, seq, err) is
 * roster_find. r is borrowed and must outlive every use. */
struct record_roster roster_record_roster(const struct roster *r);

/*
 * A rotation statement: an envelope of type ROTATION, signer `agency` (or
 * "broker"), body a Rotation of (region, agency, new_keys, made_at_us),
 * signed by the OLD signing key old_sign_sk (borrowed; not kept). *out is
 * malloc'd, the caller frees it. new_keys->box is all zero for "broker".
 */
int roster_rotation_sign(uint8_t **out, size_t *len, const char *region,
                         const char *agency, const uint8_t old_sign_sk[64],
                         const struct roster_keys *new_keys, int64_t made_at_us,
                         struct keten_error *err) WUR;

/*
 * Whether st (len bytes) is a rotation statement of agency `who` (or
 * "broker") in r's region, signed by old_pk, endorsing exactly keys
 * (PROTOCOL.md 22.3): KETEN_OK, or a code and err's sentence. The rule a
 * ROTATE or BROKER change is held to; roster_diff asks it first, so
 * that a refusal names the config's line.
 */
int roster_rotation_verify(const struct roster *r, const char *who,
                           const uint8_t old_pk[32],
                           const struct roster_keys *keys, const uint8_t *st,
                           size_t len, struct keten_error *err) WUR;

/* Signs msg (mlen bytes) into sig with the broker's signing key: 0 or a
 * keten_err. The secret key stays with the caller (daemon/signer.c). */
typedef int (*roster_sign_fn)(void *arg, uint8_t sig[64], const uint8_t *msg,
                              size_t mlen);

/*
 * A roster record's envelope bytes: a Roster of (region, prev_seq,
 * changes[0..n)), signer "broker", type ROSTER, its PAE signed through
 * sign. *env is malloc'd, the caller frees it. Checks form only (1..
 * WIRE_ROSTER_CHANGES_MAX changes); roster_apply judges the rules: a
 * broker applies the record (nothing changes if refused) before it
 * writes it.
 */
int roster_record_encode(uint8_t **env, size_t *len, const char *region,
                         uint64_t prev_seq, const struct roster_change *c,
                         size_t n, roster_sign_fn sign, void *sign_arg,
                         struct keten_error *err) WUR;

#endif
