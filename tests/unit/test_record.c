/*
 * record: the one door that opens a signed record. Each refusal is
 * provoked with real Ed25519 keys, in the order the checks are made; a
 * record must never open with a body its signer did not sign.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "envelope.h"
#include "record.h"
#include "wire.h"

/* Two agencies of a region; "lt-nowhere" signs too, but is not in it. */
static struct agency agencies[2];
static struct config cfg = {
    .region = "flevoland", .n_agencies = 2, .agencies = agencies};
static uint8_t sk_almere[64], sk_vt[64], sk_nowhere[64];

static const uint8_t mid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
static const uint8_t cid[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

/* How test_envelope spoils what it makes. */
enum spoil { FINE, SENDER_VT, BODY_GARBAGE, SIG_FLIPPED };

/*
 * A referral from lt-almere to vt-flevoland, signed as `signer` with sk
 * and spoiled as asked: the envelope's bytes, malloc'd.
 */
static uint8_t *
make_envelope(size_t *len, const char *signer, const uint8_t sk[64],
              enum spoil spoil)
{
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff};
	struct body b;
	struct envelope e;
	uint8_t *body = NULL, *out = NULL;
	size_t body_len = 0;

	memset(&b, 0, sizeof(b));
	memcpy(b.h.message_id, mid, 16);
	strcpy(b.h.sender, spoil == SENDER_VT ? "vt-flevoland" : "lt-almere");
	strcpy(b.h.recipient, "vt-flevoland");
	memcpy(b.h.case_id, cid, 16);
	b.h.sent_at_us = 1700000000000000LL;
	b.type = KETEN_MSG_REFERRAL;
	b.has_content = true;
	memset(b.content_hash, 0x42, sizeof(b.content_hash));
	b.u.offer.urgency = KETEN_URGENCY_URGENT;
	b.u.offer.respond_by_us = 1700000999000000LL;
	CHECK_INT(wire_body_encode(&body, &body_len, &b), KETEN_OK);

	memset(&e, 0, sizeof(e));
	e.version = WIRE_VERSION;
	e.type = KETEN_MSG_REFERRAL;
	strcpy(e.signer, signer);
	e.body = spoil == BODY_GARBAGE ? garbage : body;
	e.body_len = spoil == BODY_GARBAGE ? sizeof(garbage) : body_len;
	CHECK_INT(envelope_sign(e.signature, e.version, e.type, e.body,
	                        e.body_len, sk),
	          KETEN_OK);
	if (spoil == SIG_FLIPPED)
		e.signature[7] ^= 0x01;
	CHECK_INT(wire_envelope_encode(&out, len, &e), KETEN_OK);
	free(body);
	return out;
}

/* Opens bytes with the region config's roster, checking that the
 * refusal is the one expected, with its code and a sentence. */
static void
expect(const uint8_t *env, size_t len, enum record_sig sig,
       enum record_fault fault, int code, const char *signer, const char *says)
{
	const struct record_roster roster = record_roster_config(&cfg);
	struct signed_record o;
	struct keten_error err;

	memset(&err, 0, sizeof(err));
	CHECK_INT(record_open(&o, &roster, 1, env, len, sig, &err), code);
	CHECK_INT(o.fault, fault);
	CHECK(strcmp(o.signer, signer) == 0);
	CHECK_INT(err.code, code);
	if (says != NULL)
		CHECK_STR_HAS(err.message, says);
	/* Without an error struct the result is the same. */
	CHECK_INT(record_open(&o, &roster, 1, env, len, sig, NULL), code);
	CHECK_INT(o.fault, fault);
}

static void
test_opens(void)
{
	const struct record_roster roster = record_roster_config(&cfg);
	struct signed_record o;
	struct keten_error err;
	size_t len;
	uint8_t *env = make_envelope(&len, "lt-almere", sk_almere, FINE);

	CHECK_INT(record_open(&o, &roster, 1, env, len, RECORD_SIG_CHECK, &err),
	          KETEN_OK);
	CHECK_INT(o.fault, RECORD_OK);
	CHECK(strcmp(o.signer, "lt-almere") == 0);
	CHECK(o.agency == &agencies[0]);
	CHECK_INT(o.type, KETEN_MSG_REFERRAL);
	CHECK_INT(o.body.type, KETEN_MSG_REFERRAL);
	CHECK(strcmp(o.body.h.sender, "lt-almere") == 0);
	CHECK(strcmp(o.body.h.recipient, "vt-flevoland") == 0);
	CHECK(memcmp(o.body.h.message_id, mid, 16) == 0);
	CHECK(memcmp(o.body.h.case_id, cid, 16) == 0);
	CHECK_INT(o.body.u.offer.urgency, KETEN_URGENCY_URGENT);
	CHECK_INT(record_verify(&roster, 1, env, len), RECORD_SIG_GOOD);
	/* Told the signature was checked, it opens the same. */
	CHECK_INT(record_open(&o, &roster, 1, env, len, RECORD_SIG_GOOD, &err),
	          KETEN_OK);
	/* Told it was bad, it refuses a good one: the result is believed. */
	expect(env, len, RECORD_SIG_BAD, RECORD_BADSIG, KETEN_E_BADSIG,
	       "lt-almere", "lt-almere's signing key");
	free(env);
}

static void
test_refusals(void)
{
	const struct record_roster roster = record_roster_config(&cfg);
	static const uint8_t junk[] = {0x0a, 0xff, 0xff};
	size_t len;
	uint8_t *env;

	/* The envelope does not decode: the wire's own code and sentence. */
	expect(junk, sizeof(junk), RECORD_SIG_CHECK, RECORD_UNDECODABLE,
	       KETEN_E_MALFORMED, "", "not a valid protobuf Envelope");
	CHECK_INT(record_verify(&roster, 1, junk, sizeof(junk)),
	          RECORD_SIG_CHECK);

	/* A signer the region does not know, however well it signs; told
	 * the signature is good, it is still refused, and for this. */
	env = make_envelope(&len, "lt-nowhere", sk_nowhere, FINE);
	expect(env, len, RECORD_SIG_CHECK, RECORD_UNKNOWN_SIGNER,
	       KETEN_E_SIGNER, "lt-nowhere",
	       "signer 'lt-nowhere' is not an agency in the region config");
	expect(env, len, RECORD_SIG_GOOD, RECORD_UNKNOWN_SIGNER, KETEN_E_SIGNER,
	       "lt-nowhere", NULL);
	CHECK_INT(record_verify(&roster, 1, env, len), RECORD_SIG_CHECK);
	free(env);

	/* Signed as lt-almere with another agency's key. */
	env = make_envelope(&len, "lt-almere", sk_vt, FINE);
	expect(env, len, RECORD_SIG_CHECK, RECORD_BADSIG, KETEN_E_BADSIG,
	       "lt-almere",
	       "the envelope signature does not verify with lt-almere's "
	       "signing key in the region config");
	CHECK_INT(record_verify(&roster, 1, env, len), RECORD_SIG_BAD);
	free(env);

	/* One bit of the signature changed. */
	env = make_envelope(&len, "lt-almere", sk_almere, SIG_FLIPPED);
	expect(env, len, RECORD_SIG_CHECK, RECORD_BADSIG, KETEN_E_BADSIG,
	       "lt-almere", NULL);
	CHECK_INT(record_verify(&roster, 1, env, len), RECORD_SIG_BAD);
	free(env);

	/* A signed body that is not a Body: the wire's refusal. */
	env = make_envelope(&len, "lt-almere", sk_almere, BODY_GARBAGE);
	expect(env, len, RECORD_SIG_CHECK, RECORD_BADBODY, KETEN_E_MALFORMED,
	       "lt-almere", "not a valid protobuf Body");
	CHECK_INT(record_verify(&roster, 1, env, len), RECORD_SIG_GOOD);
	free(env);

	/* lt-almere signs a body that says vt-flevoland sent it. */
	env = make_envelope(&len, "lt-almere", sk_almere, SENDER_VT);
	expect(env, len, RECORD_SIG_CHECK, RECORD_NOT_SENDER, KETEN_E_SIGNER,
	       "lt-almere",
	       "header.sender 'vt-flevoland' is not the signer 'lt-almere'");
	free(env);
}

/* A roster of its own: the door asks it once, and its refusal is the
 * door's. */
static int asked;
static uint64_t asked_seq; /* the seq the door passed on */

static const struct agency *
only_vt(const void *arg, const char *signer, uint64_t seq,
        struct keten_error *err)
{
	const struct agency *a = arg;

	asked++;
	asked_seq = seq;
	if (strcmp(signer, a->id) == 0)
		return a;
	error_set(err, KETEN_E_FORBIDDEN, "only %s may sign here", a->id);
	return NULL;
}

static void
test_roster(void)
{
	const struct record_roster roster = {.find = only_vt,
	                                     .arg = &agencies[1]};
	struct signed_record o;
	struct keten_error err;
	size_t len;
	uint8_t *env = make_envelope(&len, "lt-almere", sk_almere, FINE);

	asked = 0;
	CHECK_INT(
	    record_open(&o, &roster, 42, env, len, RECORD_SIG_CHECK, &err),
	    KETEN_E_FORBIDDEN);
	CHECK_INT(asked, 1);
	CHECK(asked_seq == 42);
	CHECK_INT(o.fault, RECORD_UNKNOWN_SIGNER);
	CHECK(strcmp(err.message, "only vt-flevoland may sign here") == 0);
	CHECK_INT(record_verify(&roster, RECORD_SEQ_NOW, env, len),
	          RECORD_SIG_CHECK);
	CHECK_INT(asked, 2);
	CHECK(asked_seq == RECORD_SEQ_NOW);
	free(env);
}

/* A roster with a bug: it gives another agency's key, or refuses with
 * no sentence. The door must refuse either way, never pass. */
static const struct agency *
vt_for_anyone(const void *arg, const char *signer, uint64_t seq,
              struct keten_error *err)
{
	(void)signer;
	(void)seq;
	(void)err;
	return arg;
}

static const struct agency *
silent_refusal(const void *arg, const char *signer, uint64_t seq,
               struct keten_error *err)
{
	(void)arg;
	(void)signer;
	(void)seq;
	(void)err;
	return NULL;
}

static void
test_roster_bugs(void)
{
	const struct record_roster wrong = {.find = vt_for_anyone,
	                                    .arg = &agencies[1]};
	const struct record_roster silent = {.find = silent_refusal};
	struct signed_record o;
	struct keten_error err;
	size_t len;
	/* Signed by vt-flevoland's key, but naming lt-almere as signer. */
	uint8_t *env = make_envelope(&len, "lt-almere", sk_vt, FINE);

	CHECK_INT(record_open(&o, &wrong, 1, env, len, RECORD_SIG_CHECK, &err),
	          KETEN_E_SIGNER);
	CHECK_INT(o.fault, RECORD_UNKNOWN_SIGNER);
	CHECK(o.agency == NULL);
	CHECK(strstr(err.message, "vt-flevoland's key for signer "
	                          "'lt-almere'") != NULL);
	CHECK_INT(record_verify(&wrong, 1, env, len), RECORD_SIG_CHECK);
	CHECK_INT(record_open(&o, &silent, 1, env, len, RECORD_SIG_CHECK, &err),
	          KETEN_E_INTERNAL);
	CHECK_INT(o.fault, RECORD_UNKNOWN_SIGNER);
	CHECK_INT(record_open(&o, &silent, 1, env, len, RECORD_SIG_CHECK, NULL),
	          KETEN_E_INTERNAL);
	free(env);
}

int
main(void)
{
	uint8_t seed[32];

	if (sodium_init() < 0)
		return 1;
	strcpy(agencies[0].id, "lt-almere");
	agencies[0].kind = KETEN_KIND_LOCAL_TEAM;
	strcpy(agencies[1].id, "vt-flevoland");
	agencies[1].kind = KETEN_KIND_VEILIG_THUIS;
	memset(seed, 1, sizeof(seed));
	if (crypto_sign_seed_keypair(agencies[0].sign_pk, sk_almere, seed) != 0)
		return 1;
	memset(seed, 2, sizeof(seed));
	if (crypto_sign_seed_keypair(agencies[1].sign_pk, sk_vt, seed) != 0)
		return 1;
	{
		uint8_t pk[32];
		memset(seed, 3, sizeof(seed));
		if (crypto_sign_seed_keypair(pk, sk_nowhere, seed) != 0)
			return 1;
	}
	test_opens();
	test_refusals();
	test_roster();
	test_roster_bugs();
	sodium_memzero(sk_almere, sizeof(sk_almere));
	sodium_memzero(sk_vt, sizeof(sk_vt));
	sodium_memzero(sk_nowhere, sizeof(sk_nowhere));
	return check_done("test_record");
}
