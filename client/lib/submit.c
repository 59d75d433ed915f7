/*
 * Building, sealing, signing and submitting messages, and checking the
 * broker's receipts. Plaintext content is wiped as soon as it is sealed.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chain.h"
#include "client.h"
#include "clock.h"
#include "content_check.h"
#include "envelope.h"

#define MAX_INFLIGHT 4096
/* Unlinked checkpoints a pipeline may hold before it must drain
 * (PROTOCOL.md 10.9): an honest broker's leaves a few, since those the
 * state passes are linked while it runs (link_start). */
#define LINK_PENDING_MAX 256

void
keten_prepared_free(struct keten_prepared **p)
{
	if (p == NULL || *p == NULL)
		return;
	free((*p)->envelope);
	free((*p)->sealed);
	free(*p);
	*p = NULL;
}

size_t
keten_prepared_size(const struct keten_prepared *p)
{
	return p->envelope_len + p->sealed_len;
}

void
keten_prepared_ids(uint8_t case_id[KETEN_CASE_ID_LEN],
                   uint8_t message_id[KETEN_MSG_ID_LEN],
                   const struct keten_prepared *p)
{
	if (case_id)
		memcpy(case_id, p->case_id, KETEN_CASE_ID_LEN);
	if (message_id)
		memcpy(message_id, p->message_id, KETEN_MSG_ID_LEN);
}

int
client_finish_prepare(struct keten_prepared *p, struct keten_client *c,
                      struct body *b, const uint8_t *plain, size_t plain_len,
                      const struct agency *to, struct keten_error *err)
{
	struct envelope e;
	uint8_t *body = NULL;
	size_t body_len;
	int rc;

	/* Signed only with the key the roster holds in force for us. */
	if ((rc = client_me_check(c, err)) != KETEN_OK)
		return rc;
	memcpy(p->message_id, b->h.message_id, KETEN_MSG_ID_LEN);
	memcpy(p->case_id, b->h.case_id, KETEN_CASE_ID_LEN);
	b->has_content = plain != NULL;
	if (plain != NULL) {
		if (envelope_seal(&p->sealed, &p->sealed_len, plain, plain_len,
		                  to->box_pk) != KETEN_OK)
			return error_set(err, KETEN_E_NOMEM,
			                 "cannot seal the content");
		envelope_content_hash(b->content_hash, p->sealed,
		                      p->sealed_len);
	}
	if (wire_body_encode(&body, &body_len, b) != KETEN_OK)
		return error_set(err, KETEN_E_NOMEM, "cannot encode the body");
	memset(&e, 0, sizeof(e));
	e.version = WIRE_VERSION;
	e.type = b->type;
	strcpy(e.signer, c->me->id);
	e.body = body;
	e.body_len = body_len;
	if ((rc = envelope_sign(e.signature, e.version, e.type, body, body_len,
	                        c->keys->sign_sk)) == KETEN_OK)
		rc = wire_envelope_encode(&p->envelope, &p->envelope_len, &e);
	free(body);
	if (rc != KETEN_OK)
		return error_set(err, rc, "cannot sign the message");
	return KETEN_OK;
}

int
keten_referral_check(const struct keten_referral *r, struct keten_error *err)
{
	int64_t now_us = clock_now_us();
	int rc;

	error_clear(err);
	if (r == NULL || r->recipient == NULL || r->content == NULL)
		return error_set(err, KETEN_E_USAGE,
		                 "a referral needs a recipient and content");
	if (r->urgency < KETEN_URGENCY_ROUTINE ||
	    r->urgency > KETEN_URGENCY_IMMEDIATE)
		return error_set(
		    err, KETEN_E_USAGE,
		    "urgency must be routine, urgent or immediate");
	if ((rc = content_check_referral(r->content, now_us, err)) != KETEN_OK)
		return rc;
	return content_check_respond_by(r->respond_by_us, now_us, err);
}

int
keten_prepare_referral(struct keten_prepared **out, struct keten_client *c,
                       const struct keten_referral *r, struct keten_error *err)
{
	struct keten_prepared *p;
	const struct agency *to;
	struct body b;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	int rc;

	/* Nothing is sealed that breaks a content rule (docs/API.md). */
	if ((rc = keten_referral_check(r, err)) != KETEN_OK)
		return rc;
	/* Sealed to the recipient's box key in force (PROTOCOL.md 22.6). */
	if ((to = client_roster_now(c, r->recipient, "recipient", err)) == NULL)
		return err->code;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	memset(&b, 0, sizeof(b));
	randombytes_buf(p->message_id, sizeof(p->message_id));
	randombytes_buf(p->case_id, sizeof(p->case_id));
	memcpy(b.h.message_id, p->message_id, KETEN_MSG_ID_LEN);
	memcpy(b.h.case_id, p->case_id, KETEN_CASE_ID_LEN);
	strcpy(b.h.sender, c->me->id);
	strcpy(b.h.recipient, to->id);
	b.h.sent_at_us = clock_now_us();
	b.type = KETEN_MSG_REFERRAL;
	b.u.offer.urgency = (int)r->urgency;
	b.u.offer.respond_by_us = r->respond_by_us; /* 0: region default */
	if (wire_content_encode(&plain, &plain_len, r->content) != KETEN_OK) {
		keten_prepared_free(&p);
		return error_set(err, KETEN_E_NOMEM, "cannot encode content");
	}
	rc = client_finish_prepare(p, c, &b, plain, plain_len, to, err);
	sodium_memzero(plain, plain_len);
	free(plain);
	if (rc != KETEN_OK) {
		keten_prepared_free(&p);
		return rc;
	}
	*out = p;
	return KETEN_OK;
}

/* Checks a receipt against the message it answers (PROTOCOL.md 10.3). */
static int
check_receipt(struct keten_receipt *out, const struct reply *rep,
              struct keten_client *c, const struct keten_prepared *p,
              const struct state_known *k, struct keten_error *err)
{
	const struct receipt *r = &rep->receipt;
	struct record rec;
	uint8_t hash[32];
	int rc;

	if (memcmp(r->message_id, p->message_id, KETEN_MSG_ID_LEN) != 0)
		return error_set(err, KETEN_E_RECEIPT,
		                 "the receipt names another message id");
	rec.seq = r->seq;
	memcpy(rec.prev_hash, r->prev_hash, 32);
	rec.received_at_us = r->received_at_us;
	rec.envelope = p->envelope;
	rec.envelope_len = p->envelope_len;
	chain_record_hash_of(hash, &rec);
	if (sodium_memcmp(hash, r->record_hash, 32) != 0)
		return error_set(err, KETEN_E_RECEIPT,
		                 "record %llu's hash does not match our "
		                 "envelope: the broker "
		                 "recorded something else",
		                 (unsigned long long)r->seq);
	if ((rc = client_proof(&out->proof, c, r->seq, r->record_hash, &r->cp,
	                       (const uint8_t(*)[32])r->path, r->n_path, k,
	                       &rep->consistency, err)) != KETEN_OK)
		return rc;
	out->seq = r->seq;
	memcpy(out->record_hash, r->record_hash, 32);
	memcpy(out->message_id, r->message_id, KETEN_MSG_ID_LEN);
	out->received_at_us = r->received_at_us;
	memcpy(out->prev_hash, r->prev_hash, 32);
	return KETEN_OK;
}

int
keten_submit(struct keten_receipt *receipt, struct keten_client *c,
             const struct keten_prepared *p, struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_SUBMIT};
	struct reply r;
	int rc;

	error_clear(err);
	req.envelope = p->envelope;
	req.envelope_len = p->envelope_len;
	req.sealed = p->sealed;
	req.sealed_len = p->sealed_len;
	if ((rc = client_call(c, &r, &req, err)) != KETEN_OK)
		return rc;
	if (r.kind != WIRE_REP_RECEIPT)
		rc = error_set(
		    err, KETEN_E_MALFORMED,
		    "the broker answered a submission without a receipt");
	else
		rc = check_receipt(receipt, &r, c, p, &c->sent, err);
	wire_reply_clear(&r);
	return rc;
}

/* After a finish with rc: once nothing is in flight, what the
 * pipeline's replies left unlinked is linked, whatever rc is; a fork
 * found there is the answer, any other linking error only if rc was
 * KETEN_OK (the rest stay held, linked before the next request). */
static int
drain(struct keten_client *c, int rc, struct keten_error *err)
{
	struct keten_error lerr;
	int lrc;

	if (c->n_inflight > 0 || c->n_pending == 0)
		return rc;
	error_clear(&lerr);
	lrc = link_all(c, &lerr);
	if (lrc == KETEN_E_FORKED || (lrc != KETEN_OK && rc == KETEN_OK)) {
		*err = lerr;
		return lrc;
	}
	return rc;
}

int
keten_submit_start(uint64_t *ticket, struct keten_client *c,
                   const struct keten_prepared *p, struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_SUBMIT};
	struct inflight *grown;
	int rc;

	error_clear(err);
	if (c->n_inflight >= MAX_INFLIGHT)
		return error_set(err, KETEN_E_USAGE,
		                 "%d submissions in flight; finish some first",
		                 MAX_INFLIGHT);
	/* Nothing in flight: the held ones are linked now. */
	if (c->n_pending >= LINK_PENDING_MAX && c->n_inflight == 0 &&
	    (rc = link_all(c, err)) != KETEN_OK)
		return rc;
	if (c->n_pending >= LINK_PENDING_MAX)
		return error_set(err, KETEN_E_USAGE,
		                 "%zu checkpoints of this pipeline await "
		                 "linking to the state; finish the submissions "
		                 "in flight first",
		                 c->n_pending);
	if ((c->n_inflight & (c->n_inflight - 1)) == 0) { /* 0, 1, 2, 4, ... */
		grown = realloc(c->inflight,
		                (c->n_inflight ? 2 * c->n_inflight : 16) *
		                    sizeof(*grown));
		if (grown == NULL)
			return error_set(err, KETEN_E_NOMEM, "out of memory");
		c->inflight = grown;
	}
	req.envelope = p->envelope;
	req.envelope_len = p->envelope_len;
	req.sealed = p->sealed;
	req.sealed_len = p->sealed_len;
	if ((rc = client_send(c, ticket, &req, err)) != KETEN_OK)
		return rc;
	c->inflight[c->n_inflight].ticket = *ticket;
	c->inflight[c->n_inflight].p = p;
	c->inflight[c->n_inflight].known = c->sent;
	c->n_inflight++;
	return KETEN_OK;
}

int
keten_submit_finish(struct keten_receipt *receipt, uint64_t *ticket,
                    struct keten_client *c, struct keten_error *err)
{
	struct reply r;
	size_t i;
	int rc;

	error_clear(err);
	*ticket = 0;
	if (c->n_inflight == 0)
		return error_set(err, KETEN_E_USAGE, "no submission in flight");
	if (c->forked) {
		/* No receipt from this broker is evidence any more: each
		 * finish gives up one submission, so loops still end. */
		*ticket = c->inflight[--c->n_inflight].ticket;
		*err = c->forked_err;
		return KETEN_E_FORKED;
	}
	/* A held checkpoint the state has passed is linked meanwhile. */
	link_start(c);
	for (;;) {
		rc = client_wait(c, &r, 0, err);
		if (r.pb == NULL) /* no reply at all: timeout or connection */
			return drain(c, rc, err);
		if (c->link_ticket != 0 && r.request_id == c->link_ticket) {
			rc = link_reply(c, &r, rc, err);
			wire_reply_clear(&r);
			if (rc != KETEN_OK) { /* forked: give one up */
				*ticket = c->inflight[--c->n_inflight].ticket;
				return rc;
			}
			continue;
		}
		for (i = 0; i < c->n_inflight; i++)
			if (c->inflight[i].ticket == r.request_id)
				break;
		if (i < c->n_inflight)
			break;
		wire_reply_clear(&r); /* not ours: a late answer */
	}
	*ticket = r.request_id;
	if (rc == KETEN_OK) {
		if (r.kind != WIRE_REP_RECEIPT)
			rc = error_set(
			    err, KETEN_E_MALFORMED,
			    "the broker answered a submission without a "
			    "receipt");
		else
			rc = check_receipt(receipt, &r, c, c->inflight[i].p,
			                   &c->inflight[i].known, err);
	}
	c->inflight[i] = c->inflight[--c->n_inflight];
	wire_reply_clear(&r);
	return drain(c, rc, err);
}

int
keten_send_referral(struct keten_receipt *receipt,
                    uint8_t case_id[KETEN_CASE_ID_LEN], struct keten_client *c,
                    const struct keten_referral *r, struct keten_error *err)
{
	struct keten_prepared *p;
	int rc;

	if ((rc = keten_prepare_referral(&p, c, r, err)) != KETEN_OK)
		return rc;
	if (case_id)
		memcpy(case_id, p->case_id, KETEN_CASE_ID_LEN);
	rc = keten_submit(receipt, c, p, err);
	keten_prepared_free(&p);
	return rc;
}
