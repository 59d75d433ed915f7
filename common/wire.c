/*
 * protobuf-c <-> plain structs. Must never trust a length or an id it has
 * not checked, and never hand out a protobuf-c type.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keten.pb-c.h"
#include "text.h"
#include "wire.h"

static int
pack(uint8_t **out, size_t *len, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	/* malloc(0) may return NULL; an empty message is one byte short of it.
	 */
	if ((*out = malloc(n ? n : 1)) == NULL)
		return KETEN_E_NOMEM;
	*len = protobuf_c_message_pack(m, *out);
	return KETEN_OK;
}

static int
copy_fixed(uint8_t *dst, size_t n, ProtobufCBinaryData src)
{
	if (src.len != n)
		return -1;
	memcpy(dst, src.data, n);
	return 0;
}

/* Ids are bytes on the wire: the exact length is known, so an embedded
 * NUL cannot make "lt-x\0y" read as "lt-x". */
static int
copy_id(char dst[KETEN_ID_MAX + 1], ProtobufCBinaryData src)
{
	if (src.len == 0 || src.len > KETEN_ID_MAX ||
	    memchr(src.data, 0, src.len) != NULL)
		return -1;
	memcpy(dst, src.data, src.len);
	dst[src.len] = '\0';
	return text_valid_id(dst) ? 0 : -1;
}

static ProtobufCBinaryData
id_bin(const char *id)
{
	ProtobufCBinaryData b = {.len = strlen(id),
	                         .data = (uint8_t *)(uintptr_t)id};
	return b;
}

static ProtobufCBinaryData
bin(const uint8_t *p, size_t n)
{
	ProtobufCBinaryData b = {.len = n, .data = (uint8_t *)(uintptr_t)p};
	return b;
}

static const char *const type_names[] = {
    [WIRE_TYPE_REFERRAL] = "referral",
    [WIRE_TYPE_ACKNOWLEDGE] = "acknowledge",
    [WIRE_TYPE_ACCEPT] = "accept",
    [WIRE_TYPE_DECLINE] = "decline",
    [WIRE_TYPE_HANDOVER] = "handover",
    [WIRE_TYPE_WITHDRAW] = "withdraw",
    [WIRE_TYPE_INFO_REQUEST] = "info_request",
    [WIRE_TYPE_INFO_REPLY] = "info_reply",
    [WIRE_TYPE_FEEDBACK] = "feedback",
    [WIRE_TYPE_CLOSE] = "close",
};

const char *
wire_type_name(uint32_t type)
{
	return type >= 1 && type <= WIRE_TYPE_MAX ? type_names[type] : "?";
}

uint32_t
wire_type_parse(const char *word)
{
	for (uint32_t t = 1; t <= WIRE_TYPE_MAX; t++)
		if (strcmp(type_names[t], word) == 0)
			return t;
	return 0;
}

/* ---- envelope ---- */

int
wire_envelope_encode(uint8_t **out, size_t *len, const struct envelope *e)
{
	Keten__Envelope m = KETEN__ENVELOPE__INIT;

	m.version = e->version;
	m.type = (Keten__MessageType)e->type;
	m.signer = id_bin(e->signer);
	m.body = bin(e->body, e->body_len);
	m.signature = bin(e->signature, WIRE_SIG_LEN);
	return pack(out, len, &m.base);
}

int
wire_envelope_decode(struct envelope *e, const uint8_t *buf, size_t len,
                     struct keten_error *err)
{
	Keten__Envelope *m;

	memset(e, 0, sizeof(*e));
	m = keten__envelope__unpack(NULL, len, buf);
	if (m == NULL)
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the envelope is not a valid protobuf Envelope");
	e->pb = m;
	if (m->version != WIRE_VERSION) {
		uint32_t v = m->version;
		wire_envelope_clear(e);
		return error_set(
		    err, KETEN_E_VERSION,
		    "envelope version %u is not supported; this broker speaks "
		    "version %d",
		    v, WIRE_VERSION);
	}
	if ((int)m->type < 1 || (int)m->type > (int)WIRE_TYPE_MAX) {
		int t = (int)m->type;
		wire_envelope_clear(e);
		return error_set(err, KETEN_E_UNKNOWN_TYPE,
		                 "envelope message type %d is unknown", t);
	}
	if (copy_id(e->signer, m->signer) != 0) {
		wire_envelope_clear(e);
		return error_set(err, KETEN_E_FIELD,
		                 "envelope signer is not a valid agency id");
	}
	if (copy_fixed(e->signature, WIRE_SIG_LEN, m->signature) != 0) {
		wire_envelope_clear(e);
		return error_set(err, KETEN_E_BADSIG,
		                 "envelope signature must be 64 bytes");
	}
	e->version = m->version;
	e->type = (uint32_t)m->type;
	e->body = m->body.data;
	e->body_len = m->body.len;
	return KETEN_OK;
}

void
wire_envelope_clear(struct envelope *e)
{
	if (e->pb != NULL)
		keten__envelope__free_unpacked(e->pb, NULL);
	memset(e, 0, sizeof(*e));
}

/* ---- body ---- */

int
wire_type_content(uint32_t type)
{
	switch (type) {
	case WIRE_TYPE_REFERRAL:
	case WIRE_TYPE_HANDOVER:
	case WIRE_TYPE_INFO_REQUEST:
	case WIRE_TYPE_INFO_REPLY:
	case WIRE_TYPE_FEEDBACK:
		return 1;
	case WIRE_TYPE_CLOSE:
		return -1; /* addressed to no one: nothing to seal to */
	default:
		return 0;
	}
}

bool
wire_type_needs_offer(uint32_t type)
{
	switch (type) {
	case WIRE_TYPE_ACKNOWLEDGE:
	case WIRE_TYPE_ACCEPT:
	case WIRE_TYPE_DECLINE:
	case WIRE_TYPE_WITHDRAW:
	case WIRE_TYPE_INFO_REQUEST:
	case WIRE_TYPE_INFO_REPLY:
		return true;
	default:
		return false;
	}
}

/* The detail a body of this type carries, or 0 for none. */
static Keten__Body__DetailCase
detail_of(uint32_t type)
{
	switch (type) {
	case WIRE_TYPE_REFERRAL:
		return KETEN__BODY__DETAIL_REFERRAL;
	case WIRE_TYPE_HANDOVER:
		return KETEN__BODY__DETAIL_HANDOVER;
	case WIRE_TYPE_DECLINE:
		return KETEN__BODY__DETAIL_DECLINE;
	case WIRE_TYPE_CLOSE:
		return KETEN__BODY__DETAIL_CLOSE;
	default:
		return KETEN__BODY__DETAIL__NOT_SET;
	}
}

int
wire_body_encode(uint8_t **out, size_t *len, const struct body *b)
{
	Keten__Body m = KETEN__BODY__INIT;
	Keten__Header h = KETEN__HEADER__INIT;
	Keten__OfferInfo oi = KETEN__OFFER_INFO__INIT;
	Keten__DeclineInfo di = KETEN__DECLINE_INFO__INIT;
	Keten__CloseInfo ci = KETEN__CLOSE_INFO__INIT;

	if (b->type < 1 || b->type > WIRE_TYPE_MAX)
		return KETEN_E_INTERNAL;
	h.message_id = bin(b->h.message_id, KETEN_MSG_ID_LEN);
	h.sender = id_bin(b->h.sender);
	h.recipient = id_bin(b->h.recipient);
	h.case_id = bin(b->h.case_id, KETEN_CASE_ID_LEN);
	h.sent_at_us = b->h.sent_at_us;
	m.header = &h;
	if (b->has_content)
		m.content_hash = bin(b->content_hash, KETEN_HASH_LEN);
	if (b->has_offer_id)
		m.offer_id = bin(b->offer_id, KETEN_MSG_ID_LEN);
	m.detail_case = detail_of(b->type);
	switch (m.detail_case) {
	case KETEN__BODY__DETAIL_REFERRAL:
	case KETEN__BODY__DETAIL_HANDOVER:
		oi.urgency = (Keten__Urgency)b->u.offer.urgency;
		oi.respond_by_us = b->u.offer.respond_by_us;
		if (m.detail_case == KETEN__BODY__DETAIL_REFERRAL)
			m.referral = &oi;
		else
			m.handover = &oi;
		break;
	case KETEN__BODY__DETAIL_DECLINE:
		di.reason = (Keten__DeclineReason)b->u.decline_reason;
		m.decline = &di;
		break;
	case KETEN__BODY__DETAIL_CLOSE:
		ci.outcome = (Keten__Outcome)b->u.outcome;
		m.close = &ci;
		break;
	default:
		break;
	}
	return pack(out, len, &m.base);
}

static int
decode_header(struct body *b, const Keten__Header *h, struct keten_error *err)
{
	if (h == NULL)
		return error_set(err, KETEN_E_FIELD, "the body has no header");
	if (copy_fixed(b->h.message_id, KETEN_MSG_ID_LEN, h->message_id))
		return error_set(err, KETEN_E_FIELD,
		                 "header.message_id must be %d bytes",
		                 KETEN_MSG_ID_LEN);
	if (copy_fixed(b->h.case_id, KETEN_CASE_ID_LEN, h->case_id))
		return error_set(err, KETEN_E_FIELD,
		                 "header.case_id must be %d bytes",
		                 KETEN_CASE_ID_LEN);
	/* Case ids are random; all zeros is what "no case" looks like in
	 * fixed layouts (the access log), so no case may have it. */
	if (sodium_is_zero(b->h.case_id, KETEN_CASE_ID_LEN))
		return error_set(err, KETEN_E_FIELD,
		                 "header.case_id is all zeros; a case id is "
		                 "16 random bytes");
	if (copy_id(b->h.sender, h->sender))
		return error_set(err, KETEN_E_FIELD,
		                 "header.sender is not a valid agency id");
	if (b->type == WIRE_TYPE_CLOSE) {
		if (h->recipient.len != 0)
			return error_set(err, KETEN_E_FIELD,
			                 "a close has no recipient (it goes to "
			                 "every agency in the case); leave "
			                 "header.recipient empty");
	} else if (copy_id(b->h.recipient, h->recipient)) {
		return error_set(err, KETEN_E_RECIPIENT,
		                 "header.recipient is not a valid agency id");
	}
	b->h.sent_at_us = h->sent_at_us;
	return KETEN_OK;
}

/* The parts of a body that depend on its type. */
static int
decode_detail(struct body *b, const Keten__Body *m, struct keten_error *err)
{
	const char *name = wire_type_name(b->type);
	int content = wire_type_content(b->type);

	if (m->detail_case != detail_of(b->type))
		return error_set(
		    err, KETEN_E_FIELD,
		    "the body's detail does not fit its type, %s (field "
		    "%d set)",
		    name, (int)m->detail_case);
	if (m->content_hash.len != 0 &&
	    copy_fixed(b->content_hash, KETEN_HASH_LEN, m->content_hash))
		return error_set(err, KETEN_E_FIELD,
		                 "content_hash must be %d bytes or empty",
		                 KETEN_HASH_LEN);
	b->has_content = m->content_hash.len != 0;
	if (content > 0 && !b->has_content)
		return error_set(err, KETEN_E_FIELD,
		                 "this %s must carry sealed content and its "
		                 "content_hash",
		                 name);
	if (content < 0 && b->has_content)
		return error_set(err, KETEN_E_FIELD,
		                 "this %s carries no sealed content; leave "
		                 "content_hash empty",
		                 name);
	if (wire_type_needs_offer(b->type) != (m->offer_id.len != 0))
		return error_set(
		    err, KETEN_E_FIELD,
		    wire_type_needs_offer(b->type)
		        ? "this %s must name the offer it answers in "
		          "offer_id"
		        : "this %s answers no offer; leave offer_id "
		          "empty",
		    name);
	if (m->offer_id.len != 0 &&
	    copy_fixed(b->offer_id, KETEN_MSG_ID_LEN, m->offer_id))
		return error_set(err, KETEN_E_FIELD,
		                 "offer_id must be %d bytes", KETEN_MSG_ID_LEN);
	b->has_offer_id = m->offer_id.len != 0;
	switch (m->detail_case) {
	case KETEN__BODY__DETAIL_REFERRAL:
	case KETEN__BODY__DETAIL_HANDOVER: {
		const Keten__OfferInfo *o =
		    m->referral ? m->referral : m->handover;
		b->u.offer.urgency = (int)o->urgency;
		b->u.offer.respond_by_us = o->respond_by_us;
		if (b->u.offer.urgency < KETEN_URGENCY_ROUTINE ||
		    b->u.offer.urgency > KETEN_URGENCY_IMMEDIATE)
			return error_set(err, KETEN_E_FIELD,
			                 "%s.urgency %d is not routine (1), "
			                 "urgent (2) or immediate (3)",
			                 name, (int)o->urgency);
		if (o->respond_by_us < 0)
			return error_set(err, KETEN_E_FIELD,
			                 "%s.respond_by_us is negative", name);
		break;
	}
	case KETEN__BODY__DETAIL_DECLINE:
		b->u.decline_reason = (uint32_t)m->decline->reason;
		if (b->u.decline_reason < 1 ||
		    b->u.decline_reason > WIRE_DECLINE_MAX)
			return error_set(err, KETEN_E_FIELD,
			                 "decline.reason %u is not a known "
			                 "reason (1-%d)",
			                 b->u.decline_reason, WIRE_DECLINE_MAX);
		break;
	case KETEN__BODY__DETAIL_CLOSE:
		b->u.outcome = (uint32_t)m->close->outcome;
		if (b->u.outcome < 1 || b->u.outcome > WIRE_OUTCOME_MAX)
			return error_set(err, KETEN_E_FIELD,
			                 "close.outcome %u is not a known "
			                 "outcome (1-%d)",
			                 b->u.outcome, WIRE_OUTCOME_MAX);
		break;
	default:
		break;
	}
	return KETEN_OK;
}

int
wire_body_decode(struct body *b, uint32_t type, const uint8_t *buf, size_t len,
                 struct keten_error *err)
{
	Keten__Body *m;
	int rc;

	memset(b, 0, sizeof(*b));
	if (type < 1 || type > WIRE_TYPE_MAX)
		return error_set(err, KETEN_E_UNKNOWN_TYPE,
		                 "message type %u is unknown", type);
	if ((m = keten__body__unpack(NULL, len, buf)) == NULL)
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the envelope body is not a valid protobuf Body");
	b->type = type;
	if ((rc = decode_header(b, m->header, err)) == KETEN_OK)
		rc = decode_detail(b, m, err);
	keten__body__free_unpacked(m, NULL);
	return rc;
}

/* ---- request ---- */

int
wire_request_encode(uint8_t **out, size_t *len, const struct request *r)
{
	Keten__Request m = KETEN__REQUEST__INIT;
	Keten__SubmitRequest s = KETEN__SUBMIT_REQUEST__INIT;
	Keten__FetchRequest f = KETEN__FETCH_REQUEST__INIT;
	Keten__AckRequest a = KETEN__ACK_REQUEST__INIT;
	Keten__PingRequest p = KETEN__PING_REQUEST__INIT;
	Keten__CasesRequest cs = KETEN__CASES_REQUEST__INIT;
	Keten__CaseRequest c1 = KETEN__CASE_REQUEST__INIT;
	Keten__ReplayRequest rp = KETEN__REPLAY_REQUEST__INIT;

	m.request_id = r->request_id;
	switch (r->kind) {
	case WIRE_REQ_SUBMIT:
		s.envelope = bin(r->envelope, r->envelope_len);
		s.sealed_content = bin(r->sealed, r->sealed_len);
		m.kind_case = KETEN__REQUEST__KIND_SUBMIT;
		m.submit = &s;
		break;
	case WIRE_REQ_FETCH:
		f.max_messages = r->fetch_max;
		f.after_seq = r->fetch_after;
		f.wait_ms = r->wait_ms;
		m.kind_case = KETEN__REQUEST__KIND_FETCH;
		m.fetch = &f;
		break;
	case WIRE_REQ_ACK:
		a.seq = r->ack_seq;
		m.kind_case = KETEN__REQUEST__KIND_ACK;
		m.ack = &a;
		break;
	case WIRE_REQ_PING:
		m.kind_case = KETEN__REQUEST__KIND_PING;
		m.ping = &p;
		break;
	case WIRE_REQ_CASES:
		if (r->has_case_id)
			cs.after = bin(r->case_id, KETEN_CASE_ID_LEN);
		cs.max_cases = r->cases_max;
		m.kind_case = KETEN__REQUEST__KIND_CASES;
		m.cases = &cs;
		break;
	case WIRE_REQ_CASE:
		c1.case_id = bin(r->case_id, KETEN_CASE_ID_LEN);
		c1.after_seq = r->after_seq;
		m.kind_case = KETEN__REQUEST__KIND_CASE;
		m.case_ = &c1;
		break;
	case WIRE_REQ_REPLAY:
		rp.from_seq = r->from_seq;
		rp.max_records = r->replay_max;
		rp.wait_ms = r->wait_ms;
		m.kind_case = KETEN__REQUEST__KIND_REPLAY;
		m.replay = &rp;
		break;
	}
	return pack(out, len, &m.base);
}

uint64_t
wire_request_peek_id(const uint8_t *buf, size_t len)
{
	uint64_t v = 0;

	/* protobuf-c writes fields in number order: request_id (field 1,
	 * varint, tag byte 0x08) comes first when it is not zero. */
	if (len < 2 || buf[0] != 0x08)
		return 0;
	for (size_t i = 1; i < len && i <= 10; i++) {
		v |= (uint64_t)(buf[i] & 0x7f) << (7 * (i - 1));
		if ((buf[i] & 0x80) == 0)
			return v;
	}
	return 0;
}

/* A refusal of a decoded request: frees it but keeps its request_id, so
 * the refusal reaches its sender. */
static int
refuse_request(struct request *r, struct keten_error *err, const char *why)
{
	uint64_t id = r->request_id;

	wire_request_clear(r);
	r->request_id = id;
	return error_set(err, KETEN_E_FIELD, "%s", why);
}

int
wire_request_decode(struct request *r, const uint8_t *buf, size_t len,
                    struct keten_error *err)
{
	Keten__Request *m;

	memset(r, 0, sizeof(*r));
	if ((m = keten__request__unpack(NULL, len, buf)) == NULL)
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the frame is not a valid protobuf Request (%zu bytes; "
		    "truncated or not keten)",
		    len);
	r->pb = m;
	r->request_id = m->request_id;
	switch (m->kind_case) {
	case KETEN__REQUEST__KIND_SUBMIT:
		r->kind = WIRE_REQ_SUBMIT;
		r->envelope = m->submit->envelope.data;
		r->envelope_len = m->submit->envelope.len;
		r->sealed = m->submit->sealed_content.data;
		r->sealed_len = m->submit->sealed_content.len;
		break;
	case KETEN__REQUEST__KIND_FETCH:
		r->kind = WIRE_REQ_FETCH;
		r->fetch_max = m->fetch->max_messages;
		r->fetch_after = m->fetch->after_seq;
		r->wait_ms = m->fetch->wait_ms;
		break;
	case KETEN__REQUEST__KIND_ACK:
		r->kind = WIRE_REQ_ACK;
		r->ack_seq = m->ack->seq;
		break;
	case KETEN__REQUEST__KIND_PING:
		r->kind = WIRE_REQ_PING;
		break;
	case KETEN__REQUEST__KIND_CASES:
		r->kind = WIRE_REQ_CASES;
		r->cases_max = m->cases->max_cases;
		r->has_case_id = m->cases->after.len != 0;
		if (r->has_case_id && copy_fixed(r->case_id, KETEN_CASE_ID_LEN,
		                                 m->cases->after) != 0)
			return refuse_request(r, err,
			                      "cases.after must be a 16-byte "
			                      "case id or empty");
		break;
	case KETEN__REQUEST__KIND_CASE:
		r->kind = WIRE_REQ_CASE;
		r->has_case_id = true;
		r->after_seq = m->case_->after_seq;
		if (copy_fixed(r->case_id, KETEN_CASE_ID_LEN,
		               m->case_->case_id) != 0)
			return refuse_request(r, err,
			                      "case.case_id must be 16 bytes");
		break;
	case KETEN__REQUEST__KIND_REPLAY:
		r->kind = WIRE_REQ_REPLAY;
		r->from_seq = m->replay->from_seq;
		r->replay_max = m->replay->max_records;
		r->wait_ms = m->replay->wait_ms;
		break;
	default: {
		uint64_t id = r->request_id;
		wire_request_clear(r);
		r->request_id = id; /* so the refusal reaches its sender */
		return error_set(
		    err, KETEN_E_UNKNOWN_TYPE,
		    "the request names no known operation (submit, fetch, ack, "
		    "ping, cases, case or replay)");
	}
	}
	return KETEN_OK;
}

void
wire_request_clear(struct request *r)
{
	if (r->pb != NULL)
		keten__request__free_unpacked(r->pb, NULL);
	memset(r, 0, sizeof(*r));
}

/* ---- reply ---- */

/* Room for one case summary's protobuf-c structs. */
struct pb_case {
	Keten__CaseSummary cs;
	Keten__Offer o;
	Keten__Party party[CASE_PARTIES_MAX];
	Keten__Party *pp[CASE_PARTIES_MAX];
};

static void
case_to_pb(struct pb_case *p, const struct wire_case *wc)
{
	const struct case_state *st = &wc->st;

	keten__case_summary__init(&p->cs);
	p->cs.case_id = bin(st->id, KETEN_CASE_ID_LEN);
	p->cs.status = (Keten__CaseStatus)st->status;
	p->cs.holder = id_bin(st->parties[st->holder].id);
	p->cs.opened_seq = st->opened_seq;
	p->cs.opened_at_us = st->opened_at_us;
	p->cs.last_seq = st->last_seq;
	p->cs.updated_at_us = st->updated_at_us;
	p->cs.messages = st->messages;
	p->cs.outcome = (Keten__Outcome)st->outcome;
	for (int i = 0; i < st->n_parties; i++) {
		keten__party__init(&p->party[i]);
		p->party[i].agency = id_bin(st->parties[i].id);
		p->party[i].referred = st->parties[i].referred;
		p->pp[i] = &p->party[i];
	}
	p->cs.n_parties = st->n_parties;
	p->cs.parties = p->pp;
	if (st->status != CASE_OFFERED)
		return;
	keten__offer__init(&p->o);
	p->o.message_id = bin(st->offer.message_id, KETEN_MSG_ID_LEN);
	p->o.seq = st->offer.seq;
	p->o.type = (Keten__MessageType)st->offer.type;
	p->o.from = p->cs.holder;
	p->o.to = id_bin(st->parties[st->offer.to].id);
	p->o.offered_at_us = st->offer.at_us;
	p->o.acknowledged_at_us = st->offer.acked_us;
	p->o.respond_by_us = st->offer.respond_by_us;
	p->o.acknowledge_due_us = wc->ack_due_us;
	p->o.decide_due_us = wc->decide_due_us;
	p->o.questions = st->offer.questions;
	p->cs.offer = &p->o;
}

static int
same_id(const char *id, ProtobufCBinaryData b)
{
	return b.len == strlen(id) && memcmp(id, b.data, b.len) == 0;
}

/* The index of the party named b, or -1. */
static int
party_index(const struct case_state *st, ProtobufCBinaryData b)
{
	for (int i = 0; i < st->n_parties; i++)
		if (same_id(st->parties[i].id, b))
			return i;
	return -1;
}

static int
case_from_pb(struct wire_case *wc, const Keten__CaseSummary *cs)
{
	struct case_state *st = &wc->st;
	int i;

	memset(wc, 0, sizeof(*wc));
	if (cs == NULL || cs->n_parties == 0 ||
	    cs->n_parties > CASE_PARTIES_MAX ||
	    copy_fixed(st->id, KETEN_CASE_ID_LEN, cs->case_id) != 0 ||
	    cs->status < KETEN__CASE_STATUS__CASE_STATUS_OFFERED ||
	    cs->status > KETEN__CASE_STATUS__CASE_STATUS_CLOSED)
		return -1;
	st->status = (enum case_status)cs->status;
	st->n_parties = (uint8_t)cs->n_parties;
	for (size_t k = 0; k < cs->n_parties; k++) {
		if (copy_id(st->parties[k].id, cs->parties[k]->agency) != 0)
			return -1;
		st->parties[k].referred = cs->parties[k]->referred;
	}
	if ((i = party_index(st, cs->holder)) < 0)
		return -1;
	st->holder = (uint8_t)i;
	st->opened_seq = cs->opened_seq;
	st->opened_at_us = cs->opened_at_us;
	st->last_seq = cs->last_seq;
	st->updated_at_us = cs->updated_at_us;
	st->messages = cs->messages;
	st->outcome = (uint32_t)cs->outcome;
	if (st->status != CASE_OFFERED)
		return 0;
	if (cs->offer == NULL ||
	    copy_fixed(st->offer.message_id, KETEN_MSG_ID_LEN,
	               cs->offer->message_id) != 0 ||
	    (i = party_index(st, cs->offer->to)) < 0 ||
	    !same_id(st->parties[st->holder].id, cs->offer->from))
		return -1;
	st->offer.to = (uint8_t)i;
	st->offer.seq = cs->offer->seq;
	st->offer.type = (uint32_t)cs->offer->type;
	st->offer.at_us = cs->offer->offered_at_us;
	st->offer.acked_us = cs->offer->acknowledged_at_us;
	st->offer.respond_by_us = cs->offer->respond_by_us;
	st->offer.questions = cs->offer->questions;
	wc->ack_due_us = cs->offer->acknowledge_due_us;
	wc->decide_due_us = cs->offer->decide_due_us;
	return 0;
}

static void
cp_to_pb(Keten__Checkpoint *pc, const struct checkpoint *c)
{
	keten__checkpoint__init(pc);
	pc->size = c->size;
	pc->head_hash = bin(c->head_hash, KETEN_HASH_LEN);
	pc->root = bin(c->root, KETEN_HASH_LEN);
	pc->access_size = c->access_size;
	pc->access_head = bin(c->access_head, KETEN_HASH_LEN);
	pc->signed_at_us = c->signed_at_us;
	pc->signature = bin(c->signature, WIRE_SIG_LEN);
}

/* 0, or -1 if absent or a field has the wrong size. */
static int
cp_from_pb(struct checkpoint *c, const Keten__Checkpoint *pc)
{
	if (pc == NULL)
		return -1;
	c->size = pc->size;
	c->access_size = pc->access_size;
	c->signed_at_us = pc->signed_at_us;
	return copy_fixed(c->head_hash, KETEN_HASH_LEN, pc->head_hash) ||
	               copy_fixed(c->root, KETEN_HASH_LEN, pc->root) ||
	               copy_fixed(c->access_head, KETEN_HASH_LEN,
	                          pc->access_head) ||
	               copy_fixed(c->signature, WIRE_SIG_LEN, pc->signature)
	           ? -1
	           : 0;
}

/* protobuf-c views of n delivered records and their proofs, in calloc'd
 * arrays; free with pb_delivered_free. */
struct pb_delivered {
	Keten__Delivered *items, **ptrs;
	ProtobufCBinaryData *path;
};

static void
pb_delivered_free(struct pb_delivered *p)
{
	free(p->items);
	free(p->ptrs);
	free(p->path);
}

static int
delivered_to_pb(struct pb_delivered *p, const struct delivered *d, size_t n)
{
	size_t n_path = 0, k = 0;

	memset(p, 0, sizeof(*p));
	if (n == 0)
		return KETEN_OK;
	for (size_t i = 0; i < n; i++) {
		if (d[i].n_path > WIRE_PATH_MAX)
			return KETEN_E_MALFORMED;
		n_path += d[i].n_path;
	}
	p->items = calloc(n, sizeof(*p->items));
	p->ptrs = calloc(n, sizeof(*p->ptrs));
	p->path = n_path ? calloc(n_path, sizeof(*p->path)) : NULL;
	if (p->items == NULL || p->ptrs == NULL ||
	    (n_path > 0 && p->path == NULL)) {
		pb_delivered_free(p);
		return KETEN_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		Keten__Delivered *x = &p->items[i];
		keten__delivered__init(x);
		x->seq = d[i].seq;
		x->received_at_us = d[i].received_at_us;
		x->record_hash = bin(d[i].record_hash, KETEN_HASH_LEN);
		x->prev_hash = bin(d[i].prev_hash, KETEN_HASH_LEN);
		x->envelope = bin(d[i].envelope, d[i].envelope_len);
		x->sealed_content = bin(d[i].sealed, d[i].sealed_len);
		x->n_path = d[i].n_path;
		x->path = d[i].n_path ? &p->path[k] : NULL;
		for (size_t j = 0; j < d[i].n_path; j++)
			p->path[k++] =
			    bin(d[i].path + j * KETEN_HASH_LEN, KETEN_HASH_LEN);
		p->ptrs[i] = x;
	}
	return KETEN_OK;
}

/* Views of n protobuf-c records, pointing into them, and their proofs
 * copied into one block (*paths, malloc'd); 0 or -1. */
static int
delivered_from_pb(struct delivered **out, uint8_t **paths,
                  Keten__Delivered **in, size_t n)
{
	size_t n_path = 0, k = 0;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((*out = calloc(n, sizeof(**out))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (in[i]->n_path > WIRE_PATH_MAX)
			return -1;
		n_path += in[i]->n_path;
	}
	if (n_path > 0 && (*paths = malloc(n_path * KETEN_HASH_LEN)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct delivered *d = &(*out)[i];
		d->seq = in[i]->seq;
		d->received_at_us = in[i]->received_at_us;
		if (copy_fixed(d->record_hash, KETEN_HASH_LEN,
		               in[i]->record_hash) ||
		    copy_fixed(d->prev_hash, KETEN_HASH_LEN, in[i]->prev_hash))
			return -1;
		d->envelope = in[i]->envelope.data;
		d->envelope_len = in[i]->envelope.len;
		d->sealed = in[i]->sealed_content.data;
		d->sealed_len = in[i]->sealed_content.len;
		d->n_path = in[i]->n_path;
		d->path = d->n_path ? *paths + k * KETEN_HASH_LEN : NULL;
		for (size_t j = 0; j < d->n_path; j++, k++)
			if (copy_fixed(*paths + k * KETEN_HASH_LEN,
			               KETEN_HASH_LEN, in[i]->path[j]))
				return -1;
	}
	return 0;
}

int
wire_reply_encode(uint8_t **out, size_t *len, const struct reply *r)
{
	Keten__Reply m = KETEN__REPLY__INIT;
	Keten__Error e = KETEN__ERROR__INIT;
	Keten__Receipt rc = KETEN__RECEIPT__INIT;
	Keten__FetchReply f = KETEN__FETCH_REPLY__INIT;
	Keten__AckReply a = KETEN__ACK_REPLY__INIT;
	Keten__PingReply p = KETEN__PING_REPLY__INIT;
	Keten__CasesReply cs = KETEN__CASES_REPLY__INIT;
	Keten__CaseReply c1 = KETEN__CASE_REPLY__INIT;
	Keten__ReplayReply rp = KETEN__REPLAY_REPLY__INIT;
	Keten__Checkpoint cpb;
	ProtobufCBinaryData path[WIRE_PATH_MAX];
	struct pb_delivered dv = {0};
	struct pb_case *pc = NULL;
	Keten__CaseSummary **cps = NULL;
	int ret;

	m.request_id = r->request_id;
	switch (r->kind) {
	case WIRE_REP_ERROR:
		e.code = (uint32_t)r->error.code;
		e.message = (char *)(uintptr_t)r->error.message;
		m.kind_case = KETEN__REPLY__KIND_ERROR;
		m.error = &e;
		break;
	case WIRE_REP_RECEIPT:
		rc.seq = r->receipt.seq;
		rc.record_hash = bin(r->receipt.record_hash, KETEN_HASH_LEN);
		rc.message_id = bin(r->receipt.message_id, KETEN_MSG_ID_LEN);
		rc.received_at_us = r->receipt.received_at_us;
		rc.prev_hash = bin(r->receipt.prev_hash, KETEN_HASH_LEN);
		cp_to_pb(&cpb, &r->receipt.cp);
		rc.checkpoint = &cpb;
		if (r->receipt.n_path > WIRE_PATH_MAX)
			return KETEN_E_MALFORMED;
		for (size_t i = 0; i < r->receipt.n_path; i++)
			path[i] = bin(r->receipt.path[i], KETEN_HASH_LEN);
		rc.n_path = r->receipt.n_path;
		rc.path = path;
		m.kind_case = KETEN__REPLY__KIND_RECEIPT;
		m.receipt = &rc;
		break;
	case WIRE_REP_FETCH:
		if ((ret = delivered_to_pb(&dv, r->fetch.items, r->fetch.n)) !=
		    KETEN_OK)
			return ret;
		f.n_messages = r->fetch.n;
		f.messages = dv.ptrs;
		f.cursor = r->fetch.cursor;
		f.more = r->fetch.more;
		if (r->fetch.has_cp) {
			cp_to_pb(&cpb, &r->fetch.cp);
			f.checkpoint = &cpb;
		}
		m.kind_case = KETEN__REPLY__KIND_FETCH;
		m.fetch = &f;
		break;
	case WIRE_REP_ACK:
		a.cursor = r->ack_cursor;
		m.kind_case = KETEN__REPLY__KIND_ACK;
		m.ack = &a;
		break;
	case WIRE_REP_PING:
		p.agency =
		    (char *)(uintptr_t)(r->ping.agency ? r->ping.agency : "");
		p.head_seq = r->ping.head_seq;
		m.kind_case = KETEN__REPLY__KIND_PING;
		m.ping = &p;
		break;
	case WIRE_REP_CASES:
		if (r->cases.n > 0) {
			pc = calloc(r->cases.n, sizeof(*pc));
			cps = calloc(r->cases.n, sizeof(*cps));
			if (pc == NULL || cps == NULL) {
				free(pc);
				free(cps);
				return KETEN_E_NOMEM;
			}
		}
		for (size_t i = 0; i < r->cases.n; i++) {
			case_to_pb(&pc[i], &r->cases.items[i]);
			cps[i] = &pc[i].cs;
		}
		cs.n_cases = r->cases.n;
		cs.cases = cps;
		cs.more = r->cases.more;
		cs.now_us = r->cases.now_us;
		m.kind_case = KETEN__REPLY__KIND_CASES;
		m.cases = &cs;
		break;
	case WIRE_REP_CASE:
		if ((pc = calloc(1, sizeof(*pc))) == NULL ||
		    delivered_to_pb(&dv, r->kase.records, r->kase.n) !=
		        KETEN_OK) {
			free(pc);
			return KETEN_E_NOMEM;
		}
		case_to_pb(pc, &r->kase.summary);
		c1.summary = &pc->cs;
		c1.n_records = r->kase.n;
		c1.records = dv.ptrs;
		c1.more = r->kase.more;
		c1.now_us = r->kase.now_us;
		m.kind_case = KETEN__REPLY__KIND_CASE;
		m.case_ = &c1;
		break;
	case WIRE_REP_REPLAY:
		if ((ret = delivered_to_pb(&dv, r->replay.records,
		                           r->replay.n)) != KETEN_OK)
			return ret;
		rp.n_records = r->replay.n;
		rp.records = dv.ptrs;
		if (r->replay.has_cp) {
			cp_to_pb(&cpb, &r->replay.cp);
			rp.checkpoint = &cpb;
		}
		rp.more = r->replay.more;
		rp.head_seq = r->replay.head_seq;
		rp.head_hash = bin(r->replay.head_hash, KETEN_HASH_LEN);
		m.kind_case = KETEN__REPLY__KIND_REPLAY;
		m.replay = &rp;
		break;
	}
	ret = pack(out, len, &m.base);
	pb_delivered_free(&dv);
	free(pc);
	free(cps);
	return ret;
}

int
wire_reply_decode(struct reply *r, const uint8_t *buf, size_t len,
                  struct keten_error *err)
{
	Keten__Reply *m;
	int bad = 0;

	memset(r, 0, sizeof(*r));
	if ((m = keten__reply__unpack(NULL, len, buf)) == NULL)
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the broker's reply is not a valid protobuf Reply");
	r->pb = m;
	r->request_id = m->request_id;
	switch (m->kind_case) {
	case KETEN__REPLY__KIND_ERROR:
		r->kind = WIRE_REP_ERROR;
		r->error.code = (int)m->error->code;
		r->error.message = m->error->message ? m->error->message : "";
		break;
	case KETEN__REPLY__KIND_RECEIPT: {
		Keten__Receipt *rc = m->receipt;
		r->kind = WIRE_REP_RECEIPT;
		r->receipt.seq = rc->seq;
		r->receipt.received_at_us = rc->received_at_us;
		bad = copy_fixed(r->receipt.record_hash, KETEN_HASH_LEN,
		                 rc->record_hash) ||
		      copy_fixed(r->receipt.message_id, KETEN_MSG_ID_LEN,
		                 rc->message_id) ||
		      copy_fixed(r->receipt.prev_hash, KETEN_HASH_LEN,
		                 rc->prev_hash) ||
		      cp_from_pb(&r->receipt.cp, rc->checkpoint) ||
		      rc->n_path > WIRE_PATH_MAX;
		for (size_t i = 0; !bad && i < rc->n_path; i++)
			bad = copy_fixed(r->receipt.path[i], KETEN_HASH_LEN,
			                 rc->path[i]);
		r->receipt.n_path = bad ? 0 : rc->n_path;
		break;
	}
	case KETEN__REPLY__KIND_FETCH:
		r->kind = WIRE_REP_FETCH;
		r->fetch.cursor = m->fetch->cursor;
		r->fetch.more = m->fetch->more;
		r->fetch.n = m->fetch->n_messages;
		bad =
		    delivered_from_pb(&r->fetch.items, &r->paths,
		                      m->fetch->messages, m->fetch->n_messages);
		r->fetch.has_cp = m->fetch->checkpoint != NULL;
		if (!bad && r->fetch.has_cp)
			bad = cp_from_pb(&r->fetch.cp, m->fetch->checkpoint);
		break;
	case KETEN__REPLY__KIND_ACK:
		r->kind = WIRE_REP_ACK;
		r->ack_cursor = m->ack->cursor;
		break;
	case KETEN__REPLY__KIND_PING:
		r->kind = WIRE_REP_PING;
		r->ping.agency = m->ping->agency ? m->ping->agency : "";
		r->ping.head_seq = m->ping->head_seq;
		break;
	case KETEN__REPLY__KIND_CASES:
		r->kind = WIRE_REP_CASES;
		r->cases.more = m->cases->more;
		r->cases.now_us = m->cases->now_us;
		r->cases.n = m->cases->n_cases;
		if (r->cases.n > 0 &&
		    (r->cases.items =
		         calloc(r->cases.n, sizeof(*r->cases.items))) == NULL)
			bad = 1;
		for (size_t i = 0; i < r->cases.n && !bad; i++)
			bad = case_from_pb(&r->cases.items[i],
			                   m->cases->cases[i]);
		break;
	case KETEN__REPLY__KIND_CASE:
		r->kind = WIRE_REP_CASE;
		r->kase.more = m->case_->more;
		r->kase.now_us = m->case_->now_us;
		r->kase.n = m->case_->n_records;
		bad = case_from_pb(&r->kase.summary, m->case_->summary) ||
		      delivered_from_pb(&r->kase.records, &r->paths,
		                        m->case_->records, m->case_->n_records);
		break;
	case KETEN__REPLY__KIND_REPLAY:
		r->kind = WIRE_REP_REPLAY;
		r->replay.more = m->replay->more;
		r->replay.head_seq = m->replay->head_seq;
		r->replay.n = m->replay->n_records;
		bad =
		    copy_fixed(r->replay.head_hash, KETEN_HASH_LEN,
		               m->replay->head_hash) ||
		    delivered_from_pb(&r->replay.records, &r->paths,
		                      m->replay->records, m->replay->n_records);
		r->replay.has_cp = m->replay->checkpoint != NULL;
		if (!bad && r->replay.has_cp)
			bad = cp_from_pb(&r->replay.cp, m->replay->checkpoint);
		break;
	default:
		bad = 1;
	}
	if (bad) {
		wire_reply_clear(r);
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the broker's reply has a field of the wrong size or kind");
	}
	return KETEN_OK;
}

void
wire_reply_clear(struct reply *r)
{
	if (r->pb != NULL)
		keten__reply__free_unpacked(r->pb, NULL);
	free(r->fetch.items);
	free(r->cases.items);
	free(r->kase.records);
	free(r->replay.records);
	free(r->paths);
	memset(r, 0, sizeof(*r));
}

/* ---- sealed content ---- */

static char *
str(const char *s)
{
	return (char *)(uintptr_t)(s ? s : "");
}

static void
person_to_pb(Keten__Person *p, const struct keten_person *in)
{
	keten__person__init(p);
	p->name = str(in->name);
	p->date_of_birth = str(in->date_of_birth);
	p->bsn = str(in->bsn);
}

int
wire_content_encode(uint8_t **out, size_t *len,
                    const struct keten_referral_content *c)
{
	Keten__ReferralContent m = KETEN__REFERRAL_CONTENT__INIT;
	Keten__Person child, *hh = NULL, **hp = NULL;
	int rc;

	person_to_pb(&child, &c->child);
	m.child = &child;
	if (c->n_household > 0) {
		hh = calloc(c->n_household, sizeof(*hh));
		hp = calloc(c->n_household, sizeof(*hp));
		if (hh == NULL || hp == NULL) {
			free(hh);
			free(hp);
			return KETEN_E_NOMEM;
		}
		for (size_t i = 0; i < c->n_household; i++) {
			person_to_pb(&hh[i], &c->household[i]);
			hp[i] = &hh[i];
		}
	}
	m.n_household = c->n_household;
	m.household = hp;
	m.parental_authority = str(c->parental_authority);
	m.n_concerns = c->n_concerns;
	m.concerns = (char **)(uintptr_t)c->concerns;
	m.safety_assessment = str(c->safety_assessment);
	m.request = str(c->request);
	m.legal_basis = str(c->legal_basis);
	m.family_informed = c->family_informed;
	m.family_consented = c->family_consented;
	m.notes = str(c->notes);
	rc = pack(out, len, &m.base);
	free(hh);
	free(hp);
	return rc;
}

static void
person_from_pb(struct keten_person *p, const Keten__Person *in)
{
	p->name = in ? in->name : "";
	p->date_of_birth = in ? in->date_of_birth : "";
	p->bsn = in ? in->bsn : "";
}

int
wire_dossier_encode(uint8_t **out, size_t *len, const struct keten_dossier *d)
{
	Keten__Dossier m = KETEN__DOSSIER__INIT;

	m.known = str(d->known);
	m.safety_conditions = str(d->safety_conditions);
	m.monitoring_plan = str(d->monitoring_plan);
	m.family_informed = d->family_informed;
	m.notes = str(d->notes);
	return pack(out, len, &m.base);
}

int
wire_note_encode(uint8_t **out, size_t *len, const char *text)
{
	Keten__Note m = KETEN__NOTE__INIT;

	m.text = str(text);
	return pack(out, len, &m.base);
}

static int
referral_decode(struct content *c, const uint8_t *buf, size_t len,
                struct keten_error *err)
{
	Keten__ReferralContent *m;
	struct keten_person *hh = NULL;

	if ((m = keten__referral_content__unpack(NULL, len, buf)) == NULL)
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the sealed content is not a valid ReferralContent");
	if (m->n_household > 0 &&
	    (hh = calloc(m->n_household, sizeof(*hh))) == NULL) {
		keten__referral_content__free_unpacked(m, NULL);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n_household; i++)
		person_from_pb(&hh[i], m->household[i]);
	c->pb = m;
	c->arrays = hh;
	person_from_pb(&c->referral.child, m->child);
	c->referral.household = hh;
	c->referral.n_household = m->n_household;
	c->referral.parental_authority = m->parental_authority;
	c->referral.concerns = (const char *const *)m->concerns;
	c->referral.n_concerns = m->n_concerns;
	c->referral.safety_assessment = m->safety_assessment;
	c->referral.request = m->request;
	c->referral.legal_basis = m->legal_basis;
	c->referral.family_informed = m->family_informed;
	c->referral.family_consented = m->family_consented;
	c->referral.notes = m->notes;
	return KETEN_OK;
}

int
wire_content_decode(struct content *c, uint32_t type, const uint8_t *buf,
                    size_t len, struct keten_error *err)
{
	memset(c, 0, sizeof(*c));
	c->type = type;
	if (type == WIRE_TYPE_REFERRAL)
		return referral_decode(c, buf, len, err);
	if (type == WIRE_TYPE_HANDOVER) {
		Keten__Dossier *m = keten__dossier__unpack(NULL, len, buf);
		if (m == NULL)
			return error_set(
			    err, KETEN_E_MALFORMED,
			    "the sealed content is not a valid Dossier");
		c->pb = m;
		c->dossier.known = m->known;
		c->dossier.safety_conditions = m->safety_conditions;
		c->dossier.monitoring_plan = m->monitoring_plan;
		c->dossier.family_informed = m->family_informed;
		c->dossier.notes = m->notes;
		return KETEN_OK;
	}
	{
		Keten__Note *m = keten__note__unpack(NULL, len, buf);
		if (m == NULL)
			return error_set(
			    err, KETEN_E_MALFORMED,
			    "the sealed content is not a valid Note");
		c->pb = m;
		c->note = m->text;
	}
	return KETEN_OK;
}

void
wire_content_clear(struct content *c)
{
	/* Every kind is freed through its own descriptor's free. */
	if (c->pb != NULL)
		protobuf_c_message_free_unpacked(c->pb, NULL);
	free(c->arrays);
	memset(c, 0, sizeof(*c));
}
