/*
 * Opening a signed record: the only caller of envelope_verify. The roster
 * is asked for a signer's key in one place, record_signer, so a rule about
 * keys changes here alone. Must never hand out a body it has not verified.
 */
#include <string.h>

#include "envelope.h"
#include "record.h"

static const struct agency *
record_config_find(const void *arg, const char *signer, uint64_t seq,
                   struct keten_error *err)
{
	const struct agency *a = config_find(arg, signer);

	(void)seq; /* a config has one key per agency, for every record */

	if (a == NULL)
		error_set(err, KETEN_E_SIGNER,
		          "signer '%s' is not an agency in the region config",
		          signer);
	return a;
}

struct record_roster
record_roster_config(const struct config *c)
{
	struct record_roster r = {.find = record_config_find, .arg = c};

	return r;
}

/* The first two checks: decodes env into *e and asks the roster for its
 * signer's key, filling out's fault, signer, agency and type. *e is to be
 * cleared only if the fault is RECORD_OK. */
static enum record_fault
record_signer(struct signed_record *out, struct envelope *e,
              const struct record_roster *roster, uint64_t seq,
              const uint8_t *env, size_t len, struct keten_error *err)
{
	out->signer[0] = '\0';
	out->agency = NULL;
	out->type = 0;
	if (wire_envelope_decode(e, env, len, err) != KETEN_OK)
		return out->fault = RECORD_UNDECODABLE;
	memcpy(out->signer, e->signer, sizeof(out->signer));
	out->type = e->type;
	/* The broker's own statements are not messages: no agency key may
	 * open one, so an agency cannot submit one either. */
	if (e->type < 1 || e->type > KETEN_MSG_TYPE_MAX) {
		error_set(err, KETEN_E_UNKNOWN_TYPE,
		          "an envelope of type %s is the broker's roster "
		          "statement, not an agency's message; agencies "
		          "cannot send one",
		          e->type == KETEN_MSG_ROSTER ? "roster" : "rotation");
		wire_envelope_clear(e);
		return out->fault = RECORD_UNDECODABLE;
	}
	if ((out->agency = roster->find(roster->arg, e->signer, seq, err)) ==
	    NULL) {
		wire_envelope_clear(e);
		return out->fault = RECORD_UNKNOWN_SIGNER;
	}
	/* A key speaks only for its own agency, whatever a roster maps. */
	if (strcmp(out->agency->id, e->signer) != 0) {
		error_set(err, KETEN_E_SIGNER,
		          "the roster gave %s's key for signer '%s'",
		          out->agency->id, e->signer);
		out->agency = NULL;
		wire_envelope_clear(e);
		return out->fault = RECORD_UNKNOWN_SIGNER;
	}
	return out->fault = RECORD_OK;
}

static enum record_sig
record_check(const struct envelope *e, const struct agency *a)
{
	return envelope_verify(e->signature, e->version, e->type, e->body,
	                       e->body_len, a->sign_pk) == 0
	           ? RECORD_SIG_GOOD
	           : RECORD_SIG_BAD;
}

int
record_open(struct signed_record *out, const struct record_roster *roster,
            uint64_t seq, const uint8_t *env, size_t len, enum record_sig sig,
            struct keten_error *err)
{
	struct envelope e;
	struct keten_error tmp;
	int rc = KETEN_OK;

	if (err == NULL)
		err = &tmp;
	error_clear(err);
	if (record_signer(out, &e, roster, seq, env, len, err) != RECORD_OK)
		/* Never OK with a fault: a roster that refused without a
		 * sentence is a bug, not a pass. */
		return err->code != KETEN_OK
		           ? err->code
		           : error_set(err, KETEN_E_INTERNAL,
		                       "the roster refused signer '%s' without "
		                       "saying why",
		                       out->signer);
	if (sig == RECORD_SIG_CHECK)
		sig = record_check(&e, out->agency);
	if (sig != RECORD_SIG_GOOD) {
		out->fault = RECORD_BADSIG;
		rc = error_set(err, KETEN_E_BADSIG,
		               "the envelope signature does not verify with "
		               "%s's signing key in the region config",
		               out->agency->id);
	} else if ((rc = wire_body_decode(&out->body, e.type, e.body,
	                                  e.body_len, err)) != KETEN_OK) {
		out->fault = RECORD_BADBODY;
	} else if (strcmp(out->body.h.sender, out->signer) != 0) {
		out->fault = RECORD_NOT_SENDER;
		rc = error_set(err, KETEN_E_SIGNER,
		               "header.sender '%s' is not the signer '%s'",
		               out->body.h.sender, out->signer);
	}
	wire_envelope_clear(&e);
	return rc;
}

enum record_sig
record_verify(const struct record_roster *roster, uint64_t seq,
              const uint8_t *env, size_t len)
{
	struct envelope e;
	struct signed_record scratch;
	struct keten_error tmp;
	enum record_sig sig;

	if (record_signer(&scratch, &e, roster, seq, env, len, &tmp) !=
	    RECORD_OK)
		return RECORD_SIG_CHECK; /* record_open says why */
	sig = record_check(&e, scratch.agency);
	wire_envelope_clear(&e);
	return sig;
}

int
record_statement_verify(const struct envelope *e, const uint8_t pk[32],
                        const char *what, const char *whose,
                        struct keten_error *err)
{
	if (envelope_verify(e->signature, e->version, e->type, e->body,
	                    e->body_len, pk) != 0)
		return error_set(err, KETEN_E_BADSIG,
		                 "the signature of %s does not verify with %s",
		                 what, whose);
	return KETEN_OK;
}
