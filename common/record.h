/*
 * The one door that opens a signed record: decode the envelope, find the
 * signer's key through the roster, verify the signature over the PAE,
 * decode the body, and hold its sender to the signer. The broker, the
 * library and the audit all come in here; nothing else verifies an
 * envelope signature. Never trusts a byte it is given, and keeps nothing.
 */
#ifndef KETEN_RECORD_H
#define KETEN_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "wire.h"

/* Which check refused a record, in the order they are made. */
enum record_fault {
	RECORD_OK = 0,
	RECORD_UNDECODABLE,    /* the envelope does not decode */
	RECORD_UNKNOWN_SIGNER, /* the roster has no key for the signer (or,
	                        * a roster's bug, another agency's) */
	RECORD_BADSIG,         /* the signature does not verify */
	RECORD_BADBODY,        /* the body does not decode or fit its type */
	RECORD_NOT_SENDER      /* the body's sender is not the signer */
};
#define RECORD_N_FAULTS (RECORD_NOT_SENDER + 1)

/* The seq a record not yet recorded is opened at: the roster as it
 * stands now (a submission). */
#define RECORD_SEQ_NOW UINT64_MAX

/*
 * The door's one point of contact with the roster: who holds which
 * signing key. find returns the agency whose key signs for `signer` in a
 * record at seq (RECORD_SEQ_NOW: now; its id must be `signer`: the door
 * refuses another agency's key with KETEN_E_SIGNER), or NULL with err set
 * (its code and sentence are the refusal's; a NULL without a code is
 * refused as KETEN_E_INTERNAL). It must be safe to call from several
 * threads at once (the audit's verify threads).
 */
struct record_roster {
	const struct agency *(*find)(const void *arg, const char *signer,
	                             uint64_t seq, struct keten_error *err);
	const void *arg;
};

/* The roster of a region config: every agency it lists, with its key,
 * whatever the seq. A signer it lacks is refused with KETEN_E_SIGNER. c
 * is borrowed. */
struct record_roster record_roster_config(const struct config *c);

/* A record that opened: plain copies, it owns nothing. signer is set as
 * soon as the envelope decodes, so a refusal after that can name it. */
struct signed_record {
	enum record_fault fault; /* RECORD_OK, or the check that refused */
	char signer[KETEN_ID_MAX + 1];
	const struct agency *agency;  /* the roster's entry; borrowed */
	enum keten_message_type type; /* the signed message type */
	struct body body;             /* decoded as type, sender == signer */
};

/* Whether record_open checks the signature, or was told the result of an
 * earlier record_verify of the same bytes (the audit's verify threads). */
enum record_sig { RECORD_SIG_CHECK = 0, RECORD_SIG_GOOD, RECORD_SIG_BAD };

/*
 * Opens the envelope bytes env (borrowed) of the record at seq
 * (RECORD_SEQ_NOW for a submission) as an agency's signed record.
 * KETEN_OK with out filled; or a code, out->fault naming the check that
 * refused and err the sentence: the wire's own for an envelope or body
 * that does not decode, KETEN_E_UNKNOWN_TYPE (RECORD_UNDECODABLE) for a
 * roster record or rotation statement (the broker's, opened by roster.c
 * through record_statement_verify), the roster's for an unknown signer,
 * KETEN_E_BADSIG for the signature and KETEN_E_SIGNER for a sender who is
 * not the signer. With RECORD_SIG_GOOD or _BAD the signature is not
 * checked again, but the checks keep their order. Thread-safe if the
 * roster is.
 */
int record_open(struct signed_record *out, const struct record_roster *roster,
                uint64_t seq, const uint8_t *env, size_t len,
                enum record_sig sig, struct keten_error *err) WUR;

/*
 * Only the first three checks (decode, signer, signature), for a thread
 * that verifies ahead of an in-order record_open: RECORD_SIG_GOOD,
 * RECORD_SIG_BAD, or RECORD_SIG_CHECK if the envelope does not decode or
 * its signer is unknown (record_open then says why). Thread-safe if the
 * roster is.
 */
enum record_sig record_verify(const struct record_roster *roster, uint64_t seq,
                              const uint8_t *env, size_t len);

/*
 * The signature of a statement that is not an agency's message (a roster
 * record, a rotation statement: docs/PROTOCOL.md 22), decoded in e, by
 * the key pk its rules chose: KETEN_OK, or KETEN_E_BADSIG with a sentence
 * naming what (e.g. "roster record 12") and whose key (e.g. "the broker
 * key in force"). The only other caller of envelope_verify's check, so
 * every signature is checked here.
 */
int record_statement_verify(const struct envelope *e, const uint8_t pk[32],
                            const char *what, const char *whose,
                            struct keten_error *err) WUR;

#endif
