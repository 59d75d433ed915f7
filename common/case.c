/*
 * The case state machine; its table is in docs/PROTOCOL.md, "Cases".
 * Pure: no clock, no I/O. A refusal leaves the state exactly as it was.
 */
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "case.h"
#include "clock.h"
#include "text.h"
#include "wire.h"

const char *
case_holder(const struct case_state *st)
{
	return st->parties[st->holder].id;
}

static int
party_find(const struct case_state *st, const char *id)
{
	for (int i = 0; i < st->n_parties; i++)
		if (strcmp(st->parties[i].id, id) == 0)
			return i;
	return -1;
}

bool
case_involves(const struct case_state *st, const char *agency)
{
	return party_find(st, agency) >= 0;
}

/* The party index of id, added if new; -1 if the case is full. */
static int
party_add(struct case_state *st, const char *id)
{
	int i = party_find(st, id);

	if (i >= 0 || st->n_parties == CASE_PARTIES_MAX)
		return i;
	snprintf(st->parties[st->n_parties].id,
	         sizeof(st->parties[st->n_parties].id), "%s", id);
	st->parties[st->n_parties].referred = false;
	return st->n_parties++;
}

static int
open_offer(struct case_state *st, const struct case_msg *m,
           struct keten_error *err, const char *hex)
{
	int to = party_add(st, m->recipient);

	if (to < 0)
		return error_set(err, KETEN_E_CASE_FULL,
		                 "case %s already involves %d agencies; "
		                 "it cannot be offered to another",
		                 hex, CASE_PARTIES_MAX);
	memset(&st->offer, 0, sizeof(st->offer));
	memcpy(st->offer.message_id, m->message_id, KETEN_MSG_ID_LEN);
	st->offer.seq = m->seq;
	st->offer.type = m->type;
	st->offer.to = (uint8_t)to;
	st->offer.at_us = m->at_us;
	st->offer.respond_by_us = m->respond_by_us;
	st->status = KETEN_CASE_OFFERED;
	return KETEN_OK;
}

/* The same sentence for a case that does not exist and one the sender is
 * not a party to: no one learns of a case they are not part of. */
static int
unknown(struct keten_error *err, const char *hex, const char *sender)
{
	return error_set(err, KETEN_E_CASE_UNKNOWN,
	                 "case %s is unknown to %s: there is no such case, "
	                 "or %s is not a party to it (a case is opened by a "
	                 "referral)",
	                 hex, sender, sender);
}

/* A referral: a new case, held by its sender, offered to its recipient. */
static int
step_open(struct case_state *st, const struct case_msg *m,
          struct keten_error *err, const char *hex)
{
	if (m->type != KETEN_MSG_REFERRAL)
		return unknown(err, hex, m->sender);
	memset(st, 0, sizeof(*st));
	memcpy(st->id, m->case_id, KETEN_CASE_ID_LEN);
	st->opened_seq = m->seq;
	st->opened_at_us = m->at_us;
	st->holder = (uint8_t)party_add(st, m->sender);
	return open_offer(st, m, err, hex);
}

/* Rules for the holder's own steps: handover, withdraw, info_reply,
 * feedback, close. */
static int
step_holder(struct case_state *st, const struct case_msg *m,
            struct keten_error *err, const char *hex)
{
	const char *holder = case_holder(st);
	const char *what = keten_message_type_name(m->type);
	int to;

	if (strcmp(m->sender, holder) != 0)
		return error_set(err, KETEN_E_NOT_HOLDER,
		                 "case %s is held by %s; only the holder may "
		                 "send this %s",
		                 hex, holder, what);
	switch (m->type) {
	case KETEN_MSG_HANDOVER:
		if (st->status == KETEN_CASE_OFFERED)
			return error_set(
			    err, KETEN_E_OFFER_OPEN,
			    "case %s already has an open %s to %s (record "
			    "%llu); withdraw it or wait for the answer first",
			    hex, keten_message_type_name(st->offer.type),
			    st->parties[st->offer.to].id,
			    (unsigned long long)st->offer.seq);
		return open_offer(st, m, err, hex);
	case KETEN_MSG_CLOSE:
		if (st->status == KETEN_CASE_OFFERED)
			return error_set(
			    err, KETEN_E_OFFER_OPEN,
			    "case %s has an open %s to %s; withdraw it before "
			    "closing the case",
			    hex, keten_message_type_name(st->offer.type),
			    st->parties[st->offer.to].id);
		st->status = KETEN_CASE_CLOSED;
		st->outcome = m->outcome;
		return KETEN_OK;
	case KETEN_MSG_FEEDBACK:
		to = party_find(st, m->recipient);
		if (to < 0 || !st->parties[to].referred)
			return error_set(
			    err, KETEN_E_WRONG_PARTY,
			    "%s never referred case %s (no offer of theirs "
			    "was accepted); feedback goes only to earlier "
			    "referrers",
			    m->recipient, hex);
		return KETEN_OK;
	default: /* withdraw, info_reply: about the open offer */
		if (st->status != KETEN_CASE_OFFERED)
			return error_set(err, KETEN_E_NO_OFFER,
			                 "case %s has no open offer to %s", hex,
			                 m->type == KETEN_MSG_WITHDRAW
			                     ? "withdraw"
			                     : "answer questions about");
		if (m->offer_id == NULL ||
		    memcmp(m->offer_id, st->offer.message_id,
		           KETEN_MSG_ID_LEN) != 0)
			return error_set(
			    err, KETEN_E_NO_OFFER,
			    "offer_id does not name case %s's open offer "
			    "(record %llu)",
			    hex, (unsigned long long)st->offer.seq);
		if (strcmp(m->recipient, st->parties[st->offer.to].id) != 0)
			return error_set(err, KETEN_E_WRONG_PARTY,
			                 "this %s goes to %s, the open offer's "
			                 "recipient, not to %s",
			                 what, st->parties[st->offer.to].id,
			                 m->recipient);
		if (m->type == KETEN_MSG_WITHDRAW)
			st->status = KETEN_CASE_HELD;
		return KETEN_OK;
	}
}

/* Rules for the offer recipient's answers: acknowledge, accept, decline,
 * info_request. */
static int
step_answer(struct case_state *st, const struct case_msg *m,
            struct keten_error *err, const char *hex)
{
	const char *what = keten_message_type_name(m->type);

	if (st->status != KETEN_CASE_OFFERED)
		return error_set(err, KETEN_E_NO_OFFER,
		                 "case %s has no open offer to %s; it is held "
		                 "by %s",
		                 hex, what, case_holder(st));
	if (strcmp(m->sender, st->parties[st->offer.to].id) != 0)
		return error_set(err, KETEN_E_NOT_OFFEREE,
		                 "case %s's open offer is addressed to %s; "
		                 "only %s may answer it (this %s)",
		                 hex, st->parties[st->offer.to].id,
		                 st->parties[st->offer.to].id, what);
	if (m->offer_id == NULL ||
	    memcmp(m->offer_id, st->offer.message_id, KETEN_MSG_ID_LEN) != 0)
		return error_set(err, KETEN_E_NO_OFFER,
		                 "offer_id does not name case %s's open offer "
		                 "(record %llu); it may have been withdrawn",
		                 hex, (unsigned long long)st->offer.seq);
	if (strcmp(m->recipient, case_holder(st)) != 0)
		return error_set(err, KETEN_E_WRONG_PARTY,
		                 "an answer to the offer goes to %s, who made "
		                 "it, not to %s",
		                 case_holder(st), m->recipient);
	switch (m->type) {
	case KETEN_MSG_ACKNOWLEDGE:
		if (st->offer.acked_us != 0)
			return error_set(err, KETEN_E_ACKNOWLEDGED,
			                 "the offer of case %s was already "
			                 "acknowledged",
			                 hex);
		st->offer.acked_us = m->at_us;
		break;
	case KETEN_MSG_INFO_REQUEST:
		st->offer.questions++;
		break;
	case KETEN_MSG_ACCEPT:
		/* Responsibility moves: the offerer becomes a referrer. */
		st->parties[st->holder].referred = true;
		st->holder = st->offer.to;
		st->status = KETEN_CASE_HELD;
		break;
	case KETEN_MSG_DECLINE:
		st->status =
		    KETEN_CASE_HELD; /* back to the holder, never a void */
		break;
	default: /* only answers reach here */
		break;
	}
	return KETEN_OK;
}

void
case_msg_of(struct case_msg *m, const struct body *b, uint64_t seq,
            int64_t at_us)
{
	memset(m, 0, sizeof(*m));
	m->type = b->type;
	m->sender = b->h.sender;
	m->recipient = b->h.recipient;
	m->message_id = b->h.message_id;
	m->case_id = b->h.case_id;
	m->offer_id = b->has_offer_id ? b->offer_id : NULL;
	m->seq = seq;
	m->at_us = at_us;
	if (b->type == KETEN_MSG_REFERRAL || b->type == KETEN_MSG_HANDOVER)
		m->respond_by_us = b->u.offer.respond_by_us;
	if (b->type == KETEN_MSG_CLOSE)
		m->outcome = b->u.outcome;
}

int
case_step(struct case_state *st, const struct case_msg *m,
          struct keten_error *err)
{
	struct case_state next = *st;
	char hex[2 * KETEN_CASE_ID_LEN + 1];
	int rc;

	text_hex(hex, m->case_id, KETEN_CASE_ID_LEN);
	if (strcmp(m->sender, m->recipient) == 0)
		return error_set(err, KETEN_E_WRONG_PARTY,
		                 "%s cannot send this %s to itself", m->sender,
		                 keten_message_type_name(m->type));
	if (st->status == CASE_NONE)
		rc = step_open(&next, m, err, hex);
	else if (m->type == KETEN_MSG_REFERRAL)
		rc =
		    error_set(err, KETEN_E_CASE_EXISTS,
		              "case %s already exists (opened at record %llu); "
		              "a referral opens a new case with a new id",
		              hex, (unsigned long long)st->opened_seq);
	else if (!case_involves(st, m->sender))
		rc = unknown(err, hex, m->sender);
	else if (st->status == KETEN_CASE_CLOSED)
		rc = error_set(err, KETEN_E_CASE_CLOSED,
		               "case %s was closed by %s at record %llu; "
		               "nothing may follow a close",
		               hex, case_holder(st),
		               (unsigned long long)st->last_seq);
	else if (m->type == KETEN_MSG_ACKNOWLEDGE ||
	         m->type == KETEN_MSG_ACCEPT || m->type == KETEN_MSG_DECLINE ||
	         m->type == KETEN_MSG_INFO_REQUEST)
		rc = step_answer(&next, m, err, hex);
	else
		rc = step_holder(&next, m, err, hex);
	if (rc != KETEN_OK)
		return rc;
	next.messages++;
	next.last_seq = m->seq;
	next.updated_at_us = m->at_us;
	*st = next;
	return KETEN_OK;
}

size_t
case_recipients(const char *out[CASE_PARTIES_MAX],
                const struct case_state *after, const struct case_msg *m)
{
	size_t n = 0;

	if (m->type != KETEN_MSG_CLOSE) {
		out[0] = m->recipient;
		return 1;
	}
	for (int i = 0; i < after->n_parties; i++)
		if (strcmp(after->parties[i].id, m->sender) != 0)
			out[n++] = after->parties[i].id;
	return n;
}

void
case_offer_due(int64_t *ack_due_us, int64_t *decide_due_us,
               const struct case_state *st, const struct config *c)
{
	const struct case_offer *o = &st->offer;
	const struct duration *decide = o->type == KETEN_MSG_HANDOVER
	                                    ? &c->deadline_handover
	                                    : &c->deadline_referral;

	*ack_due_us = *decide_due_us = 0;
	if (st->status != KETEN_CASE_OFFERED)
		return;
	*ack_due_us = clock_add(o->at_us, &c->deadline_acknowledge);
	/* The sender's own deadline wins; else the decision clock starts at
	 * the acknowledgement. */
	if (o->respond_by_us != 0)
		*decide_due_us = o->respond_by_us;
	else if (o->acked_us != 0)
		*decide_due_us = clock_add(o->acked_us, decide);
}

bool
case_overdue(const struct case_state *st, const struct config *c,
             int64_t now_us)
{
	int64_t ack_due, decide_due;

	if (st->status != KETEN_CASE_OFFERED)
		return false;
	case_offer_due(&ack_due, &decide_due, st, c);
	return (st->offer.acked_us == 0 && now_us > ack_due) ||
	       (decide_due != 0 && now_us > decide_due);
}

/*
 * Storage layout, all integers big-endian: version (1) | status | holder |
 * n_parties | outcome(4) | messages(4) | opened_seq(8) | last_seq(8) |
 * opened_at(8) | updated_at(8) | offer: message_id(16) seq(8) type(4) to(1)
 * at(8) acked(8) respond_by(8) questions(4) | id(16) | per party: referred
 * (1) len (1) id.
 */
#define CASE_FIXED_LEN (4 + 4 + 4 + 32 + 16 + 8 + 4 + 1 + 24 + 4 + 16)

size_t
case_encode(uint8_t out[CASE_ENCODED_MAX], const struct case_state *st)
{
	uint8_t *p = out;

	*p++ = 1;
	*p++ = (uint8_t)st->status;
	*p++ = st->holder;
	*p++ = st->n_parties;
	bytes_put_be32(p, st->outcome), p += 4;
	bytes_put_be32(p, st->messages), p += 4;
	bytes_put_be64(p, st->opened_seq), p += 8;
	bytes_put_be64(p, st->last_seq), p += 8;
	bytes_put_be64(p, (uint64_t)st->opened_at_us), p += 8;
	bytes_put_be64(p, (uint64_t)st->updated_at_us), p += 8;
	memcpy(p, st->offer.message_id, 16), p += 16;
	bytes_put_be64(p, st->offer.seq), p += 8;
	bytes_put_be32(p, st->offer.type), p += 4;
	*p++ = st->offer.to;
	bytes_put_be64(p, (uint64_t)st->offer.at_us), p += 8;
	bytes_put_be64(p, (uint64_t)st->offer.acked_us), p += 8;
	bytes_put_be64(p, (uint64_t)st->offer.respond_by_us), p += 8;
	bytes_put_be32(p, st->offer.questions), p += 4;
	memcpy(p, st->id, 16), p += 16;
	for (int i = 0; i < st->n_parties; i++) {
		size_t n = strlen(st->parties[i].id);
		*p++ = st->parties[i].referred;
		*p++ = (uint8_t)n;
		memcpy(p, st->parties[i].id, n), p += n;
	}
	return (size_t)(p - out);
}

int
case_decode(struct case_state *st, const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf, *end = buf + len;

	memset(st, 0, sizeof(*st));
	if (len < CASE_FIXED_LEN || p[0] != 1 || p[1] < KETEN_CASE_OFFERED ||
	    p[1] > KETEN_CASE_CLOSED || p[3] == 0 || p[3] > CASE_PARTIES_MAX ||
	    p[2] >= p[3])
		return -1;
	st->status = p[1];
	st->holder = p[2];
	st->n_parties = p[3];
	p += 4;
	st->outcome = bytes_get_be32(p), p += 4;
	st->messages = bytes_get_be32(p), p += 4;
	st->opened_seq = bytes_get_be64(p), p += 8;
	st->last_seq = bytes_get_be64(p), p += 8;
	st->opened_at_us = (int64_t)bytes_get_be64(p), p += 8;
	st->updated_at_us = (int64_t)bytes_get_be64(p), p += 8;
	memcpy(st->offer.message_id, p, 16), p += 16;
	st->offer.seq = bytes_get_be64(p), p += 8;
	st->offer.type = bytes_get_be32(p), p += 4;
	st->offer.to = *p++;
	st->offer.at_us = (int64_t)bytes_get_be64(p), p += 8;
	st->offer.acked_us = (int64_t)bytes_get_be64(p), p += 8;
	st->offer.respond_by_us = (int64_t)bytes_get_be64(p), p += 8;
	st->offer.questions = bytes_get_be32(p), p += 4;
	memcpy(st->id, p, 16), p += 16;
	if (st->offer.to >= st->n_parties)
		return -1;
	for (int i = 0; i < st->n_parties; i++) {
		size_t n;
		if (end - p < 2 || p[0] > 1 || p[1] == 0 ||
		    p[1] > KETEN_ID_MAX || (size_t)(end - p - 2) < p[1])
			return -1;
		st->parties[i].referred = p[0] != 0;
		n = p[1];
		memcpy(st->parties[i].id, p + 2, n);
		st->parties[i].id[n] = '\0';
		/* Exactly what case_encode writes: valid, distinct ids. */
		if (strlen(st->parties[i].id) != n ||
		    !text_valid_id(st->parties[i].id) ||
		    party_find(st, st->parties[i].id) != i)
			return -1;
		p += 2 + n;
	}
	return p == end ? 0 : -1;
}
