/*
 * Steps on a case (everything after the referral) and reading cases back.
 * A case history is trusted only after every record verifies and the
 * state machine, replayed from the first record, ends where the broker
 * says it stands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "case.h"
#include "chain.h"
#include "client.h"
#include "roster.h"
#include "clock.h"
#include "content_check.h"
#include "envelope.h"
#include "record.h"
#include "text.h"

int
keten_case_id_parse(uint8_t out[KETEN_CASE_ID_LEN], const char *hex)
{
	if (hex == NULL || strlen(hex) != 2 * KETEN_CASE_ID_LEN ||
	    text_unhex(out, KETEN_CASE_ID_LEN, hex) != 0)
		return KETEN_E_USAGE;
	return KETEN_OK;
}

void
client_case_public(struct keten_case *out, const struct wire_case *wc,
                   int64_t at_us)
{
	const struct case_state *st = &wc->st;

	memset(out, 0, sizeof(*out));
	memcpy(out->case_id, st->id, KETEN_CASE_ID_LEN);
	out->status = st->status;
	snprintf(out->holder, sizeof(out->holder), "%s", case_holder(st));
	out->opened_seq = st->opened_seq;
	out->last_seq = st->last_seq;
	out->opened_at_us = st->opened_at_us;
	out->updated_at_us = st->updated_at_us;
	out->messages = st->messages;
	out->outcome = st->outcome;
	out->n_parties = st->n_parties;
	for (size_t i = 0; i < st->n_parties; i++) {
		snprintf(out->parties[i].agency, sizeof(out->parties[i].agency),
		         "%s", st->parties[i].id);
		out->parties[i].referred = st->parties[i].referred;
	}
	if (st->status != KETEN_CASE_OFFERED)
		return;
	out->has_offer = true;
	memcpy(out->offer.message_id, st->offer.message_id, KETEN_MSG_ID_LEN);
	out->offer.seq = st->offer.seq;
	out->offer.type = st->offer.type;
	snprintf(out->offer.from, sizeof(out->offer.from), "%s",
	         case_holder(st));
	snprintf(out->offer.to, sizeof(out->offer.to), "%s",
	         st->parties[st->offer.to].id);
	out->offer.offered_at_us = st->offer.at_us;
	out->offer.acknowledged_at_us = st->offer.acked_us;
	out->offer.respond_by_us = st->offer.respond_by_us;
	out->offer.acknowledge_due_us = wc->ack_due_us;
	out->offer.decide_due_us = wc->decide_due_us;
	out->offer.questions = st->offer.questions;
	out->overdue = (st->offer.acked_us == 0 && at_us > wc->ack_due_us) ||
	               (wc->decide_due_us != 0 && at_us > wc->decide_due_us);
}

/* ---- steps ---- */

/* What a step needs filled in from the case, if the caller left it. */
static int
resolve(struct keten_step *s, uint8_t offer_id[KETEN_MSG_ID_LEN],
        char recipient[KETEN_ID_MAX + 1], struct keten_client *c,
        struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_CASE, .has_case_id = true};
	const struct case_state *st;
	struct reply r;
	char hex[2 * KETEN_CASE_ID_LEN + 1];
	bool need_offer = wire_type_needs_offer(s->type);
	bool need_to = s->recipient == NULL && s->type != KETEN_MSG_CLOSE;
	int rc = KETEN_OK;

	if (!(need_offer && s->offer_id == NULL) && !need_to)
		return KETEN_OK;
	memcpy(req.case_id, s->case_id, KETEN_CASE_ID_LEN);
	req.after_seq = UINT64_MAX - 1; /* the summary only */
	if ((rc = client_call(c, &r, &req, err)) != KETEN_OK)
		return rc;
	if (r.kind != WIRE_REP_CASE) {
		wire_reply_clear(&r);
		return error_set(err, KETEN_E_MALFORMED,
		                 "the broker answered a case request with "
		                 "something else");
	}
	st = &r.kase.summary.st;
	text_hex(hex, s->case_id, KETEN_CASE_ID_LEN);
	if (st->status != KETEN_CASE_OFFERED && need_offer) {
		rc = error_set(err, KETEN_E_NO_OFFER,
		               "case %s has no open offer (state %s, holder "
		               "%s)",
		               hex, keten_case_status_name(st->status),
		               case_holder(st));
	} else {
		if (need_offer && s->offer_id == NULL) {
			memcpy(offer_id, st->offer.message_id,
			       KETEN_MSG_ID_LEN);
			s->offer_id = offer_id;
		}
		if (need_to) {
			/* Answers go to the holder; the holder's own offer
			 * steps to the offer's recipient. */
			bool from_holder = s->type == KETEN_MSG_WITHDRAW ||
			                   s->type == KETEN_MSG_INFO_REPLY;
			snprintf(recipient, KETEN_ID_MAX + 1, "%s",
			         from_holder && st->status == KETEN_CASE_OFFERED
			             ? st->parties[st->offer.to].id
			             : case_holder(st));
			s->recipient = recipient;
		}
	}
	wire_reply_clear(&r);
	return rc;
}

static int
check_step(const struct keten_step *s, struct keten_error *err)
{
	const char *name = keten_message_type_name(s->type);
	int content = wire_type_content(s->type);

	if (s->type <= KETEN_MSG_REFERRAL || s->type > KETEN_MSG_CLOSE)
		return error_set(err, KETEN_E_USAGE,
		                 "a step is any message type but a referral "
		                 "(use keten_prepare_referral)");
	if ((s->type == KETEN_MSG_HANDOVER || s->type == KETEN_MSG_FEEDBACK) &&
	    s->recipient == NULL)
		return error_set(err, KETEN_E_USAGE,
		                 "this %s needs a recipient", name);
	if (s->type == KETEN_MSG_CLOSE && (s->recipient || s->note))
		return error_set(err, KETEN_E_USAGE,
		                 "a close goes to every agency in the case "
		                 "and carries no note; leave recipient and "
		                 "note NULL");
	if (s->type == KETEN_MSG_HANDOVER && (s->dossier == NULL || s->note))
		return error_set(err, KETEN_E_USAGE,
		                 "a handover carries a dossier and no note "
		                 "(put notes in the dossier)");
	if (s->type != KETEN_MSG_HANDOVER && content > 0 && s->note == NULL)
		return error_set(err, KETEN_E_USAGE, "this %s needs a note",
		                 name);
	if (s->type == KETEN_MSG_HANDOVER &&
	    (s->urgency < KETEN_URGENCY_ROUTINE ||
	     s->urgency > KETEN_URGENCY_IMMEDIATE))
		return error_set(
		    err, KETEN_E_USAGE,
		    "urgency must be routine, urgent or immediate");
	if (s->type == KETEN_MSG_DECLINE &&
	    (s->reason < 1 || s->reason > KETEN_DECLINE_MAX))
		return error_set(err, KETEN_E_USAGE,
		                 "a decline needs a reason");
	if (s->type == KETEN_MSG_CLOSE &&
	    (s->outcome < 1 || s->outcome > KETEN_OUTCOME_MAX))
		return error_set(err, KETEN_E_USAGE,
		                 "a close needs an outcome");
	return KETEN_OK;
}

int
keten_step_check(const struct keten_step *s, struct keten_error *err)
{
	int rc;

	error_clear(err);
	if ((rc = check_step(s, err)) != KETEN_OK)
		return rc;
	if (s->type == KETEN_MSG_HANDOVER)
		return content_check_respond_by(s->respond_by_us,
		                                clock_now_us(), err);
	return KETEN_OK;
}

int
keten_prepare_step(struct keten_prepared **out, struct keten_client *c,
                   const struct keten_step *step, struct keten_error *err)
{
	struct keten_step s = *step;
	uint8_t offer_id[KETEN_MSG_ID_LEN];
	char recipient[KETEN_ID_MAX + 1];
	const struct agency *to = NULL;
	struct keten_prepared *p;
	struct body b;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	int rc;

	if ((rc = keten_step_check(&s, err)) != KETEN_OK ||
	    (rc = resolve(&s, offer_id, recipient, c, err)) != KETEN_OK)
		return rc;
	/* Sealed to the recipient's box key in force (PROTOCOL.md 22.6). */
	if (s.recipient != NULL &&
	    (to = client_roster_now(c, s.recipient, "recipient", err)) == NULL)
		return err->code;
	memset(&b, 0, sizeof(b));
	b.type = s.type;
	randombytes_buf(b.h.message_id, KETEN_MSG_ID_LEN);
	memcpy(b.h.case_id, s.case_id, KETEN_CASE_ID_LEN);
	snprintf(b.h.sender, sizeof(b.h.sender), "%s", c->me->id);
	if (to != NULL)
		snprintf(b.h.recipient, sizeof(b.h.recipient), "%s", to->id);
	b.h.sent_at_us = clock_now_us();
	if (wire_type_needs_offer(b.type)) {
		b.has_offer_id = true;
		memcpy(b.offer_id, s.offer_id, KETEN_MSG_ID_LEN);
	}
	if (s.type == KETEN_MSG_HANDOVER) {
		b.u.offer.urgency = (int)s.urgency;
		b.u.offer.respond_by_us = s.respond_by_us;
		rc = wire_dossier_encode(&plain, &plain_len, s.dossier);
	} else if (s.type == KETEN_MSG_DECLINE) {
		b.u.decline_reason = s.reason;
	} else if (s.type == KETEN_MSG_CLOSE) {
		b.u.outcome = s.outcome;
	}
	if (rc == KETEN_OK && s.note != NULL)
		rc = wire_note_encode(&plain, &plain_len, s.note);
	if (rc != KETEN_OK)
		return error_set(err, KETEN_E_NOMEM, "cannot encode content");
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		rc = error_set(err, KETEN_E_NOMEM, "out of memory");
	} else {
		rc = client_finish_prepare(p, c, &b, plain, plain_len, to, err);
		if (rc != KETEN_OK)
			keten_prepared_free(&p);
	}
	if (plain != NULL) {
		sodium_memzero(plain, plain_len);
		free(plain);
	}
	if (rc == KETEN_OK)
		*out = p;
	return rc;
}

int
keten_send_step(struct keten_receipt *receipt, struct keten_client *c,
                const struct keten_step *s, struct keten_error *err)
{
	struct keten_prepared *p;
	int rc;

	if ((rc = keten_prepare_step(&p, c, s, err)) != KETEN_OK)
		return rc;
	rc = keten_submit(receipt, c, p, err);
	keten_prepared_free(&p);
	return rc;
}

static int
send_simple(struct keten_receipt *receipt, struct keten_client *c,
            const uint8_t case_id[KETEN_CASE_ID_LEN],
            enum keten_message_type type, const char *note,
            struct keten_error *err)
{
	struct keten_step s = {.type = type, .note = note};

	memcpy(s.case_id, case_id, KETEN_CASE_ID_LEN);
	return keten_send_step(receipt, c, &s, err);
}

int
keten_acknowledge(struct keten_receipt *receipt, struct keten_client *c,
                  const uint8_t case_id[KETEN_CASE_ID_LEN],
                  struct keten_error *err)
{
	return send_simple(receipt, c, case_id, KETEN_MSG_ACKNOWLEDGE, NULL,
	                   err);
}

int
keten_accept(struct keten_receipt *receipt, struct keten_client *c,
             const uint8_t case_id[KETEN_CASE_ID_LEN], const char *note,
             struct keten_error *err)
{
	return send_simple(receipt, c, case_id, KETEN_MSG_ACCEPT, note, err);
}

int
keten_decline(struct keten_receipt *receipt, struct keten_client *c,
              const uint8_t case_id[KETEN_CASE_ID_LEN],
              enum keten_decline_reason reason, const char *note,
              struct keten_error *err)
{
	struct keten_step s = {
	    .type = KETEN_MSG_DECLINE, .reason = reason, .note = note};

	memcpy(s.case_id, case_id, KETEN_CASE_ID_LEN);
	return keten_send_step(receipt, c, &s, err);
}

int
keten_handover(struct keten_receipt *receipt, struct keten_client *c,
               const uint8_t case_id[KETEN_CASE_ID_LEN], const char *recipient,
               enum keten_urgency urgency, int64_t respond_by_us,
               const struct keten_dossier *dossier, struct keten_error *err)
{
	struct keten_step s = {.type = KETEN_MSG_HANDOVER,
	                       .recipient = recipient,
	                       .urgency = urgency,
	                       .respond_by_us = respond_by_us,
	                       .dossier = dossier};

	memcpy(s.case_id, case_id, KETEN_CASE_ID_LEN);
	return keten_send_step(receipt, c, &s, err);
}

int
keten_withdraw(struct keten_receipt *receipt, struct keten_client *c,
               const uint8_t case_id[KETEN_CASE_ID_LEN], const char *note,
               struct keten_error *err)
{
	return send_simple(receipt, c, case_id, KETEN_MSG_WITHDRAW, note, err);
}

int
keten_info_request(struct keten_receipt *receipt, struct keten_client *c,
                   const uint8_t case_id[KETEN_CASE_ID_LEN],
                   const char *questions, struct keten_error *err)
{
	return send_simple(receipt, c, case_id, KETEN_MSG_INFO_REQUEST,
	                   questions, err);
}

int
keten_info_reply(struct keten_receipt *receipt, struct keten_client *c,
                 const uint8_t case_id[KETEN_CASE_ID_LEN], const char *answers,
                 struct keten_error *err)
{
	return send_simple(receipt, c, case_id, KETEN_MSG_INFO_REPLY, answers,
	                   err);
}

int
keten_feedback(struct keten_receipt *receipt, struct keten_client *c,
               const uint8_t case_id[KETEN_CASE_ID_LEN], const char *recipient,
               const char *text, struct keten_error *err)
{
	struct keten_step s = {
	    .type = KETEN_MSG_FEEDBACK, .recipient = recipient, .note = text};

	memcpy(s.case_id, case_id, KETEN_CASE_ID_LEN);
	return keten_send_step(receipt, c, &s, err);
}

int
keten_close(struct keten_receipt *receipt, struct keten_client *c,
            const uint8_t case_id[KETEN_CASE_ID_LEN],
            enum keten_outcome outcome, struct keten_error *err)
{
	struct keten_step s = {.type = KETEN_MSG_CLOSE, .outcome = outcome};

	memcpy(s.case_id, case_id, KETEN_CASE_ID_LEN);
	return keten_send_step(receipt, c, &s, err);
}

/* ---- reading cases ---- */

int
keten_cases(struct keten_case **out, size_t *n, struct keten_client *c,
            int64_t at_us, struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_CASES};
	struct keten_case *all = NULL;
	size_t cap = 0, have = 0;
	bool more = true;
	int rc = KETEN_OK;

	error_clear(err);
	if (at_us == 0)
		at_us = clock_now_us();
	while (more && rc == KETEN_OK) {
		struct reply r;
		if ((rc = client_call(c, &r, &req, err)) != KETEN_OK)
			break;
		if (r.kind != WIRE_REP_CASES) {
			wire_reply_clear(&r);
			rc = error_set(err, KETEN_E_MALFORMED,
			               "the broker answered a cases request "
			               "with something else");
			break;
		}
		if (have + r.cases.n > cap) {
			size_t ncap = (have + r.cases.n) * 2;
			struct keten_case *p = realloc(all, ncap * sizeof(*p));
			if (p == NULL) {
				wire_reply_clear(&r);
				rc = error_set(err, KETEN_E_NOMEM,
				               "out of memory");
				break;
			}
			all = p;
			cap = ncap;
		}
		for (size_t i = 0; i < r.cases.n && rc == KETEN_OK; i++) {
			/* Pages come in opening order: anything else could
			 * repeat cases, or never end. */
			if (have > 0 && r.cases.items[i].st.opened_seq <=
			                    all[have - 1].opened_seq)
				rc = error_set(err, KETEN_E_MALFORMED,
				               "the broker listed cases out of "
				               "order");
			else
				client_case_public(&all[have++],
				                   &r.cases.items[i], at_us);
		}
		more = r.cases.more && r.cases.n > 0;
		if (r.cases.n > 0 && rc == KETEN_OK) {
			req.has_case_id = true;
			memcpy(req.case_id, r.cases.items[r.cases.n - 1].st.id,
			       KETEN_CASE_ID_LEN);
		}
		wire_reply_clear(&r);
	}
	if (rc != KETEN_OK) {
		free(all);
		return rc;
	}
	*out = all;
	*n = have;
	return KETEN_OK;
}

void
keten_case_history_free(struct keten_case_history **h)
{
	if (h == NULL || *h == NULL)
		return;
	free((*h)->events);
	free(*h);
	*h = NULL;
}

/* Verifies one record of the case and replays it onto st. */
static int
replay_one(struct keten_case_event *ev, struct case_state *st,
           struct keten_client *c, const struct delivered *d,
           const uint8_t case_id[KETEN_CASE_ID_LEN], struct keten_error *err)
{
	struct record rec = {.seq = d->seq,
	                     .received_at_us = d->received_at_us,
	                     .envelope = d->envelope,
	                     .envelope_len = d->envelope_len};
	struct signed_record o;
	struct record_roster roster;
	const struct body *b = &o.body;
	struct case_msg m;
	struct keten_error why;
	uint8_t hash[32];
	int64_t offered = st->offer.at_us;
	int rc;

	memcpy(rec.prev_hash, d->prev_hash, 32);
	chain_record_hash_of(hash, &rec);
	if (sodium_memcmp(hash, d->record_hash, 32) != 0)
		return error_set(err, KETEN_E_CHAIN,
		                 "record %llu's hash does not match its "
		                 "envelope",
		                 (unsigned long long)d->seq);
	/* Against the roster in force at its seq (PROTOCOL.md 22.4); a
	 * signer or key we do not know may be one recorded since we
	 * fetched the roster: judged again once after a fetch. */
	if ((rc = client_roster_sync(c, err)) != KETEN_OK)
		return rc;
	roster = roster_record_roster(c->roster);
	rc = record_open(&o, &roster, d->seq, d->envelope, d->envelope_len,
	                 RECORD_SIG_CHECK, &why);
	if ((o.fault == RECORD_UNKNOWN_SIGNER || o.fault == RECORD_BADSIG) &&
	    client_roster_newer(c)) {
		roster = roster_record_roster(c->roster);
		rc = record_open(&o, &roster, d->seq, d->envelope,
		                 d->envelope_len, RECORD_SIG_CHECK, &why);
	}
	if (o.fault == RECORD_UNDECODABLE)
		return error_set(
		    err, KETEN_E_CHAIN,
		    "record %llu: the envelope does not decode: %s",
		    (unsigned long long)d->seq, why.message);
	if (o.fault == RECORD_UNKNOWN_SIGNER || o.fault == RECORD_BADSIG)
		return error_set(
		    err, KETEN_E_CHAIN,
		    "record %llu: the signature of '%s' does not "
		    "verify with its key in the region's roster: %s",
		    (unsigned long long)d->seq, o.signer, why.message);
	if (rc != KETEN_OK ||
	    memcmp(b->h.case_id, case_id, KETEN_CASE_ID_LEN) != 0)
		return error_set(err, KETEN_E_CHAIN,
		                 "record %llu: the body is invalid or belongs "
		                 "to another case",
		                 (unsigned long long)d->seq);
	case_msg_of(&m, b, d->seq, d->received_at_us);
	if (case_step(st, &m, &why) != KETEN_OK)
		return error_set(err, KETEN_E_CHAIN,
		                 "record %llu breaks the case rules, so the "
		                 "broker should have refused it: %s",
		                 (unsigned long long)d->seq, why.message);
	memset(ev, 0, sizeof(*ev));
	ev->seq = d->seq;
	ev->received_at_us = d->received_at_us;
	ev->sent_at_us = b->h.sent_at_us;
	ev->type = b->type;
	snprintf(ev->sender, sizeof(ev->sender), "%s", b->h.sender);
	snprintf(ev->recipient, sizeof(ev->recipient), "%s", b->h.recipient);
	memcpy(ev->message_id, b->h.message_id, KETEN_MSG_ID_LEN);
	if (b->type == KETEN_MSG_REFERRAL || b->type == KETEN_MSG_HANDOVER) {
		ev->urgency = (enum keten_urgency)b->u.offer.urgency;
		ev->respond_by_us = b->u.offer.respond_by_us;
	}
	if (b->type == KETEN_MSG_DECLINE)
		ev->reason = b->u.decline_reason;
	if (b->type == KETEN_MSG_CLOSE)
		ev->outcome = b->u.outcome;
	if (b->has_offer_id)
		ev->offer_age_us = d->received_at_us - offered;
	snprintf(ev->holder, sizeof(ev->holder), "%s", case_holder(st));
	return KETEN_OK;
}

/* The replayed state must be the one the broker reports, field for field
 * (an offer's fields count only while it is open). */
static int
compare(const struct case_state *mine, const struct case_state *theirs,
        struct keten_error *err)
{
	struct case_state a = *mine, b = *theirs;
	uint8_t ea[CASE_ENCODED_MAX], eb[CASE_ENCODED_MAX];
	size_t na, nb;

	if (a.status != KETEN_CASE_OFFERED)
		memset(&a.offer, 0, sizeof(a.offer));
	if (b.status != KETEN_CASE_OFFERED)
		memset(&b.offer, 0, sizeof(b.offer));
	na = case_encode(ea, &a);
	nb = case_encode(eb, &b);
	if (na == nb && memcmp(ea, eb, na) == 0)
		return KETEN_OK;
	return error_set(err, KETEN_E_CHAIN,
	                 "the broker's summary of the case differs from what "
	                 "its own records give (holder %s by the records, %s "
	                 "by the broker; %u messages by the records, %u by "
	                 "the broker)",
	                 case_holder(mine),
	                 theirs->n_parties ? case_holder(theirs) : "-",
	                 mine->messages, theirs->messages);
}

/* A record may appear once, and broker time does not run backwards. */
static int
check_new(const struct keten_case_history *h, const struct delivered *d,
          uint64_t after_seq, struct keten_error *err)
{
	if (d->seq <= after_seq)
		return error_set(err, KETEN_E_CHAIN,
		                 "the broker sent the case's records out of "
		                 "order");
	if (h->n > 0 && d->received_at_us < h->events[h->n - 1].received_at_us)
		return error_set(err, KETEN_E_CHAIN,
		                 "record %llu is older than the record before "
		                 "it",
		                 (unsigned long long)d->seq);
	return KETEN_OK;
}

static int
check_unique(const struct keten_case_history *h, struct keten_error *err)
{
	const struct keten_case_event *ev = &h->events[h->n - 1];

	for (size_t i = 0; i + 1 < h->n; i++)
		if (memcmp(h->events[i].message_id, ev->message_id,
		           KETEN_MSG_ID_LEN) == 0)
			return error_set(err, KETEN_E_CHAIN,
			                 "record %llu repeats the message of "
			                 "record %llu",
			                 (unsigned long long)ev->seq,
			                 (unsigned long long)h->events[i].seq);
	return KETEN_OK;
}

int
keten_case_history(struct keten_case_history **out, struct keten_client *c,
                   const uint8_t case_id[KETEN_CASE_ID_LEN],
                   struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_CASE, .has_case_id = true};
	struct keten_case_history *h;
	struct case_state st, last;
	struct wire_case mine;
	size_t cap = 0, limit = 0;
	bool more = true;
	int64_t now_us = 0;
	int rc = KETEN_OK;

	error_clear(err);
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	memset(&st, 0, sizeof(st));
	memcpy(req.case_id, case_id, KETEN_CASE_ID_LEN);
	while (more && rc == KETEN_OK) {
		struct reply r;
		if ((rc = client_call(c, &r, &req, err)) != KETEN_OK)
			break;
		if (r.kind != WIRE_REP_CASE) {
			wire_reply_clear(&r);
			rc = error_set(err, KETEN_E_MALFORMED,
			               "the broker answered a case request "
			               "with something else");
			break;
		}
		last = r.kase.summary.st;
		now_us = r.kase.now_us;
		/* The first page says how many records there are; more
		 * pages than that is a broker that never stops. */
		if (limit == 0)
			limit = last.messages;
		if (h->n + r.kase.n > limit) {
			wire_reply_clear(&r);
			rc = error_set(err, KETEN_E_CHAIN,
			               "the broker sent more records than the "
			               "case has (%zu)",
			               limit);
			break;
		}
		if (h->n + r.kase.n > cap) {
			size_t ncap = (h->n + r.kase.n) * 2;
			struct keten_case_event *p =
			    realloc(h->events, ncap * sizeof(*p));
			if (p == NULL) {
				wire_reply_clear(&r);
				rc = error_set(err, KETEN_E_NOMEM,
				               "out of memory");
				break;
			}
			h->events = p;
			cap = ncap;
		}
		for (size_t i = 0; i < r.kase.n && rc == KETEN_OK; i++) {
			const struct delivered *d = &r.kase.records[i];
			if ((rc = check_new(h, d, req.after_seq, err)) ==
			        KETEN_OK &&
			    (rc = replay_one(&h->events[h->n++], &st, c, d,
			                     case_id, err)) == KETEN_OK)
				rc = check_unique(h, err);
			req.after_seq = d->seq;
		}
		more = r.kase.more && r.kase.n > 0;
		wire_reply_clear(&r);
	}
	if (rc == KETEN_OK)
		rc = compare(&st, &last, err);
	if (rc != KETEN_OK) {
		keten_case_history_free(&h);
		return rc;
	}
	/* What the records give, with due times under this region's
	 * deadlines: not the broker's word. */
	mine.st = st;
	case_offer_due(&mine.ack_due_us, &mine.decide_due_us, &st, c->cfg);
	client_case_public(&h->summary, &mine, now_us);
	*out = h;
	return KETEN_OK;
}
