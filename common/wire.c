/*
 * protobuf-c <-> plain structs: what the wire's files share, and the signed
 * record (envelope and body). Must never trust a length or an id it has not
 * checked, and never hand out a protobuf-c type.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "text.h"
#include "wire_pb.h"

/* The public enums are the wire's numbers (docs/PROTOCOL.md): a value
 * crosses between them by a cast, which these make safe. */
#define WIRE_SAME(c, pb) _Static_assert((int)(c) == (int)(pb), #c " != " #pb)
WIRE_SAME(KETEN_MSG_REFERRAL, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_REFERRAL);
WIRE_SAME(KETEN_MSG_ACKNOWLEDGE, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_ACKNOWLEDGE);
WIRE_SAME(KETEN_MSG_ACCEPT, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_ACCEPT);
WIRE_SAME(KETEN_MSG_DECLINE, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_DECLINE);
WIRE_SAME(KETEN_MSG_HANDOVER, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_HANDOVER);
WIRE_SAME(KETEN_MSG_WITHDRAW, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_WITHDRAW);
WIRE_SAME(KETEN_MSG_INFO_REQUEST,
          KETEN__MESSAGE_TYPE__MESSAGE_TYPE_INFO_REQUEST);
WIRE_SAME(KETEN_MSG_INFO_REPLY, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_INFO_REPLY);
WIRE_SAME(KETEN_MSG_FEEDBACK, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_FEEDBACK);
WIRE_SAME(KETEN_MSG_CLOSE, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_CLOSE);
WIRE_SAME(KETEN_MSG_ROSTER, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_ROSTER);
WIRE_SAME(KETEN_MSG_ROTATION, KETEN__MESSAGE_TYPE__MESSAGE_TYPE_ROTATION);
WIRE_SAME(KETEN_KIND_LOCAL_TEAM, KETEN__AGENCY_KIND__AGENCY_KIND_LOCAL_TEAM);
WIRE_SAME(KETEN_KIND_VEILIG_THUIS,
          KETEN__AGENCY_KIND__AGENCY_KIND_VEILIG_THUIS);
WIRE_SAME(KETEN_KIND_GI, KETEN__AGENCY_KIND__AGENCY_KIND_GI);
WIRE_SAME(KETEN_KIND_RAAD, KETEN__AGENCY_KIND__AGENCY_KIND_RAAD);
WIRE_SAME(KETEN_KIND_AUDITOR, KETEN__AGENCY_KIND__AGENCY_KIND_AUDITOR);
WIRE_SAME(ROSTER_JOIN, KETEN__ROSTER_ACTION__ROSTER_ACTION_JOIN);
WIRE_SAME(ROSTER_ROTATE, KETEN__ROSTER_ACTION__ROSTER_ACTION_ROTATE);
WIRE_SAME(ROSTER_REVOKE, KETEN__ROSTER_ACTION__ROSTER_ACTION_REVOKE);
WIRE_SAME(ROSTER_REKEY, KETEN__ROSTER_ACTION__ROSTER_ACTION_REKEY);
WIRE_SAME(ROSTER_LEAVE, KETEN__ROSTER_ACTION__ROSTER_ACTION_LEAVE);
WIRE_SAME(ROSTER_RENAME, KETEN__ROSTER_ACTION__ROSTER_ACTION_RENAME);
WIRE_SAME(ROSTER_BROKER, KETEN__ROSTER_ACTION__ROSTER_ACTION_BROKER);
WIRE_SAME(KETEN_DECLINE_NOT_COMPETENT,
          KETEN__DECLINE_REASON__DECLINE_REASON_NOT_COMPETENT);
WIRE_SAME(KETEN_DECLINE_NO_CAPACITY,
          KETEN__DECLINE_REASON__DECLINE_REASON_NO_CAPACITY);
WIRE_SAME(KETEN_DECLINE_INSUFFICIENT_INFO,
          KETEN__DECLINE_REASON__DECLINE_REASON_INSUFFICIENT_INFO);
WIRE_SAME(KETEN_DECLINE_WRONG_REGION,
          KETEN__DECLINE_REASON__DECLINE_REASON_WRONG_REGION);
WIRE_SAME(KETEN_DECLINE_OTHER, KETEN__DECLINE_REASON__DECLINE_REASON_OTHER);
WIRE_SAME(KETEN_OUTCOME_COMPLETED, KETEN__OUTCOME__OUTCOME_COMPLETED);
WIRE_SAME(KETEN_OUTCOME_VOLUNTARY_CARE, KETEN__OUTCOME__OUTCOME_VOLUNTARY_CARE);
WIRE_SAME(KETEN_OUTCOME_NO_CONCERNS, KETEN__OUTCOME__OUTCOME_NO_CONCERNS);
WIRE_SAME(KETEN_OUTCOME_MOVED, KETEN__OUTCOME__OUTCOME_MOVED);
WIRE_SAME(KETEN_OUTCOME_OTHER, KETEN__OUTCOME__OUTCOME_OTHER);
WIRE_SAME(KETEN_URGENCY_ROUTINE, KETEN__URGENCY__URGENCY_ROUTINE);
WIRE_SAME(KETEN_URGENCY_URGENT, KETEN__URGENCY__URGENCY_URGENT);
WIRE_SAME(KETEN_URGENCY_IMMEDIATE, KETEN__URGENCY__URGENCY_IMMEDIATE);
WIRE_SAME(KETEN_CASE_OFFERED, KETEN__CASE_STATUS__CASE_STATUS_OFFERED);
WIRE_SAME(KETEN_CASE_HELD, KETEN__CASE_STATUS__CASE_STATUS_HELD);
WIRE_SAME(KETEN_CASE_CLOSED, KETEN__CASE_STATUS__CASE_STATUS_CLOSED);
int
wire_pack(uint8_t **out, size_t *len, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	/* malloc(0) may return NULL; an empty message is one byte short of it.
	 */
	if ((*out = malloc(n ? n : 1)) == NULL)
		return KETEN_E_NOMEM;
	*len = protobuf_c_message_pack(m, *out);
	return KETEN_OK;
}

int
wire_copy_fixed(uint8_t *dst, size_t n, ProtobufCBinaryData src)
{
	if (src.len != n)
		return -1;
	memcpy(dst, src.data, n);
	return 0;
}

/* Ids are bytes on the wire: the exact length is known, so an embedded
 * NUL cannot make "lt-x\0y" read as "lt-x". */
int
wire_copy_id(char dst[KETEN_ID_MAX + 1], ProtobufCBinaryData src)
{
	if (src.len == 0 || src.len > KETEN_ID_MAX ||
	    memchr(src.data, 0, src.len) != NULL)
		return -1;
	memcpy(dst, src.data, src.len);
	dst[src.len] = '\0';
	return text_valid_id(dst) ? 0 : -1;
}

/* ---- envelope ---- */

int
wire_envelope_encode(uint8_t **out, size_t *len, const struct envelope *e)
{
	Keten__Envelope m = KETEN__ENVELOPE__INIT;

	m.version = e->version;
	m.type = (Keten__MessageType)e->type;
	m.signer = wire_id_bin(e->signer);
	m.body = wire_bin(e->body, e->body_len);
	m.signature = wire_bin(e->signature, WIRE_SIG_LEN);
	return wire_pack(out, len, &m.base);
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
	if ((int)m->type < 1 || (int)m->type > (int)KETEN_MSG_ROTATION) {
		int t = (int)m->type;
		wire_envelope_clear(e);
		return error_set(err, KETEN_E_UNKNOWN_TYPE,
		                 "envelope message type %d is unknown", t);
	}
	if (wire_copy_id(e->signer, m->signer) != 0) {
		wire_envelope_clear(e);
		return error_set(err, KETEN_E_FIELD,
		                 "envelope signer is not a valid agency id");
	}
	if (wire_copy_fixed(e->signature, WIRE_SIG_LEN, m->signature) != 0) {
		wire_envelope_clear(e);
		return error_set(err, KETEN_E_BADSIG,
		                 "envelope signature must be 64 bytes");
	}
	e->version = m->version;
	e->type = (enum keten_message_type)m->type;
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
wire_type_content(enum keten_message_type type)
{
	switch (type) {
	case KETEN_MSG_REFERRAL:
	case KETEN_MSG_HANDOVER:
	case KETEN_MSG_INFO_REQUEST:
	case KETEN_MSG_INFO_REPLY:
	case KETEN_MSG_FEEDBACK:
		return 1;
	case KETEN_MSG_CLOSE:
		return -1; /* addressed to no one: nothing to seal to */
	default:
		return 0;
	}
}

bool
wire_type_needs_offer(enum keten_message_type type)
{
	switch (type) {
	case KETEN_MSG_ACKNOWLEDGE:
	case KETEN_MSG_ACCEPT:
	case KETEN_MSG_DECLINE:
	case KETEN_MSG_WITHDRAW:
	case KETEN_MSG_INFO_REQUEST:
	case KETEN_MSG_INFO_REPLY:
		return true;
	default:
		return false;
	}
}

/* The detail a body of this type carries, or 0 for none. */
static Keten__Body__DetailCase
detail_of(enum keten_message_type type)
{
	switch (type) {
	case KETEN_MSG_REFERRAL:
		return KETEN__BODY__DETAIL_REFERRAL;
	case KETEN_MSG_HANDOVER:
		return KETEN__BODY__DETAIL_HANDOVER;
	case KETEN_MSG_DECLINE:
		return KETEN__BODY__DETAIL_DECLINE;
	case KETEN_MSG_CLOSE:
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

	if (b->type < 1 || b->type > KETEN_MSG_TYPE_MAX)
		return KETEN_E_INTERNAL;
	h.message_id = wire_bin(b->h.message_id, KETEN_MSG_ID_LEN);
	h.sender = wire_id_bin(b->h.sender);
	h.recipient = wire_id_bin(b->h.recipient);
	h.case_id = wire_bin(b->h.case_id, KETEN_CASE_ID_LEN);
	h.sent_at_us = b->h.sent_at_us;
	m.header = &h;
	if (b->has_content)
		m.content_hash = wire_bin(b->content_hash, KETEN_HASH_LEN);
	if (b->has_offer_id)
		m.offer_id = wire_bin(b->offer_id, KETEN_MSG_ID_LEN);
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
	return wire_pack(out, len, &m.base);
}

static int
decode_header(struct body *b, const Keten__Header *h, struct keten_error *err)
{
	if (h == NULL)
		return error_set(err, KETEN_E_FIELD, "the body has no header");
	if (wire_copy_fixed(b->h.message_id, KETEN_MSG_ID_LEN, h->message_id))
		return error_set(err, KETEN_E_FIELD,
		                 "header.message_id must be %d bytes",
		                 KETEN_MSG_ID_LEN);
	if (wire_copy_fixed(b->h.case_id, KETEN_CASE_ID_LEN, h->case_id))
		return error_set(err, KETEN_E_FIELD,
		                 "header.case_id must be %d bytes",
		                 KETEN_CASE_ID_LEN);
	/* Case ids are random; all zeros is what "no case" looks like in
	 * fixed layouts (the access log), so no case may have it. */
	if (sodium_is_zero(b->h.case_id, KETEN_CASE_ID_LEN))
		return error_set(err, KETEN_E_FIELD, WIRE_CASE_ID_UNUSABLE);
	if (wire_copy_id(b->h.sender, h->sender))
		return error_set(err, KETEN_E_FIELD,
		                 "header.sender is not a valid agency id");
	if (b->type == KETEN_MSG_CLOSE) {
		if (h->recipient.len != 0)
			return error_set(err, KETEN_E_FIELD,
			                 "a close has no recipient (it goes to "
			                 "every agency in the case); leave "
			                 "header.recipient empty");
	} else if (wire_copy_id(b->h.recipient, h->recipient)) {
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
	const char *name = keten_message_type_name(b->type);
	int content = wire_type_content(b->type);

	if (m->detail_case != detail_of(b->type))
		return error_set(
		    err, KETEN_E_FIELD,
		    "the body's detail does not fit its type, %s (field "
		    "%d set)",
		    name, (int)m->detail_case);
	if (m->content_hash.len != 0 &&
	    wire_copy_fixed(b->content_hash, KETEN_HASH_LEN, m->content_hash))
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
	    wire_copy_fixed(b->offer_id, KETEN_MSG_ID_LEN, m->offer_id))
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
		b->u.decline_reason =
		    (enum keten_decline_reason)m->decline->reason;
		if (b->u.decline_reason < 1 ||
		    b->u.decline_reason > KETEN_DECLINE_MAX)
			return error_set(err, KETEN_E_FIELD,
			                 "decline.reason %u is not a known "
			                 "reason (1-%d)",
			                 b->u.decline_reason,
			                 KETEN_DECLINE_MAX);
		break;
	case KETEN__BODY__DETAIL_CLOSE:
		b->u.outcome = (enum keten_outcome)m->close->outcome;
		if (b->u.outcome < 1 || b->u.outcome > KETEN_OUTCOME_MAX)
			return error_set(err, KETEN_E_FIELD,
			                 "close.outcome %u is not a known "
			                 "outcome (1-%d)",
			                 b->u.outcome, KETEN_OUTCOME_MAX);
		break;
	default:
		break;
	}
	return KETEN_OK;
}

int
wire_body_decode(struct body *b, enum keten_message_type type,
                 const uint8_t *buf, size_t len, struct keten_error *err)
{
	Keten__Body *m;
	int rc;

	memset(b, 0, sizeof(*b));
	if (type < 1 || type > KETEN_MSG_TYPE_MAX)
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
