/*
 * protobuf-c <-> plain structs. Must never trust a length or an id it has
 * not checked, and never hand out a protobuf-c type.
 */
#include <stdlib.h>
#include <string.h>

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
wire_body_encode(uint8_t **out, size_t *len, const struct body *b)
{
	Keten__Body m = KETEN__BODY__INIT;
	Keten__Header h = KETEN__HEADER__INIT;
	Keten__ReferralInfo ri = KETEN__REFERRAL_INFO__INIT;

	h.message_id = bin(b->h.message_id, KETEN_MSG_ID_LEN);
	h.sender = id_bin(b->h.sender);
	h.recipient = id_bin(b->h.recipient);
	h.case_id = bin(b->h.case_id, KETEN_CASE_ID_LEN);
	h.sent_at_us = b->h.sent_at_us;
	m.header = &h;
	m.content_hash = bin(b->content_hash, KETEN_HASH_LEN);
	switch (b->type) {
	case WIRE_TYPE_REFERRAL:
		ri.urgency = (Keten__Urgency)b->u.referral.urgency;
		ri.respond_by_us = b->u.referral.respond_by_us;
		m.detail_case = KETEN__BODY__DETAIL_REFERRAL;
		m.referral = &ri;
		break;
	default:
		return KETEN_E_INTERNAL;
	}
	return pack(out, len, &m.base);
}

int
wire_body_decode(struct body *b, const uint8_t *buf, size_t len,
                 struct keten_error *err)
{
	Keten__Body *m;
	Keten__Header *h;
	int rc = KETEN_OK;

	memset(b, 0, sizeof(*b));
	if ((m = keten__body__unpack(NULL, len, buf)) == NULL)
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the envelope body is not a valid protobuf Body");
	h = m->header;
	if (h == NULL)
		rc = error_set(err, KETEN_E_FIELD, "the body has no header");
	else if (copy_fixed(b->h.message_id, KETEN_MSG_ID_LEN, h->message_id))
		rc = error_set(err, KETEN_E_FIELD,
		               "header.message_id must be %d bytes",
		               KETEN_MSG_ID_LEN);
	else if (copy_fixed(b->h.case_id, KETEN_CASE_ID_LEN, h->case_id))
		rc = error_set(err, KETEN_E_FIELD,
		               "header.case_id must be %d bytes",
		               KETEN_CASE_ID_LEN);
	else if (copy_id(b->h.sender, h->sender))
		rc = error_set(err, KETEN_E_FIELD,
		               "header.sender is not a valid agency id");
	else if (copy_id(b->h.recipient, h->recipient))
		rc = error_set(err, KETEN_E_RECIPIENT,
		               "header.recipient is not a valid agency id");
	else if (copy_fixed(b->content_hash, KETEN_HASH_LEN, m->content_hash))
		rc = error_set(err, KETEN_E_FIELD,
		               "content_hash must be %d bytes", KETEN_HASH_LEN);
	if (rc != KETEN_OK)
		goto out;
	b->h.sent_at_us = h->sent_at_us;
	switch (m->detail_case) {
	case KETEN__BODY__DETAIL_REFERRAL:
		b->type = WIRE_TYPE_REFERRAL;
		b->u.referral.urgency = (int)m->referral->urgency;
		b->u.referral.respond_by_us = m->referral->respond_by_us;
		if (b->u.referral.urgency < KETEN_URGENCY_ROUTINE ||
		    b->u.referral.urgency > KETEN_URGENCY_IMMEDIATE)
			rc = error_set(err, KETEN_E_FIELD,
			               "referral.urgency %d is not routine "
			               "(1), urgent (2) "
			               "or immediate (3)",
			               b->u.referral.urgency);
		break;
	default:
		rc = error_set(err, KETEN_E_UNKNOWN_TYPE,
		               "the body carries no known message detail");
	}
out:
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
		break;
	case KETEN__REQUEST__KIND_ACK:
		r->kind = WIRE_REQ_ACK;
		r->ack_seq = m->ack->seq;
		break;
	case KETEN__REQUEST__KIND_PING:
		r->kind = WIRE_REQ_PING;
		break;
	default: {
		uint64_t id = r->request_id;
		wire_request_clear(r);
		r->request_id = id; /* so the refusal reaches its sender */
		return error_set(
		    err, KETEN_E_UNKNOWN_TYPE,
		    "the request names no known operation (submit, fetch, ack "
		    "or ping)");
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

int
wire_reply_encode(uint8_t **out, size_t *len, const struct reply *r)
{
	Keten__Reply m = KETEN__REPLY__INIT;
	Keten__Error e = KETEN__ERROR__INIT;
	Keten__Receipt rc = KETEN__RECEIPT__INIT;
	Keten__FetchReply f = KETEN__FETCH_REPLY__INIT;
	Keten__AckReply a = KETEN__ACK_REPLY__INIT;
	Keten__PingReply p = KETEN__PING_REPLY__INIT;
	Keten__Delivered *items = NULL, **ptrs = NULL;
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
		rc.head_seq = r->receipt.head_seq;
		rc.head_hash = bin(r->receipt.head_hash, KETEN_HASH_LEN);
		rc.signature = bin(r->receipt.signature, WIRE_SIG_LEN);
		rc.prev_hash = bin(r->receipt.prev_hash, KETEN_HASH_LEN);
		m.kind_case = KETEN__REPLY__KIND_RECEIPT;
		m.receipt = &rc;
		break;
	case WIRE_REP_FETCH:
		if (r->fetch.n > 0) {
			items = calloc(r->fetch.n, sizeof(*items));
			ptrs = calloc(r->fetch.n, sizeof(*ptrs));
			if (items == NULL || ptrs == NULL) {
				free(items);
				free(ptrs);
				return KETEN_E_NOMEM;
			}
		}
		for (size_t i = 0; i < r->fetch.n; i++) {
			const struct delivered *d = &r->fetch.items[i];
			keten__delivered__init(&items[i]);
			items[i].seq = d->seq;
			items[i].received_at_us = d->received_at_us;
			items[i].record_hash =
			    bin(d->record_hash, KETEN_HASH_LEN);
			items[i].prev_hash = bin(d->prev_hash, KETEN_HASH_LEN);
			items[i].envelope = bin(d->envelope, d->envelope_len);
			items[i].sealed_content = bin(d->sealed, d->sealed_len);
			ptrs[i] = &items[i];
		}
		f.n_messages = r->fetch.n;
		f.messages = ptrs;
		f.cursor = r->fetch.cursor;
		f.more = r->fetch.more;
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
	}
	ret = pack(out, len, &m.base);
	free(items);
	free(ptrs);
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
		r->receipt.head_seq = rc->head_seq;
		bad = copy_fixed(r->receipt.record_hash, KETEN_HASH_LEN,
		                 rc->record_hash) ||
		      copy_fixed(r->receipt.message_id, KETEN_MSG_ID_LEN,
		                 rc->message_id) ||
		      copy_fixed(r->receipt.head_hash, KETEN_HASH_LEN,
		                 rc->head_hash) ||
		      copy_fixed(r->receipt.signature, WIRE_SIG_LEN,
		                 rc->signature) ||
		      copy_fixed(r->receipt.prev_hash, KETEN_HASH_LEN,
		                 rc->prev_hash);
		break;
	}
	case KETEN__REPLY__KIND_FETCH: {
		Keten__FetchReply *f = m->fetch;
		r->kind = WIRE_REP_FETCH;
		r->fetch.cursor = f->cursor;
		r->fetch.more = f->more;
		r->fetch.n = f->n_messages;
		if (f->n_messages > 0 &&
		    (r->fetch.items = calloc(
		         f->n_messages, sizeof(*r->fetch.items))) == NULL) {
			wire_reply_clear(r);
			return error_set(err, KETEN_E_NOMEM, "out of memory");
		}
		for (size_t i = 0; i < f->n_messages && !bad; i++) {
			struct delivered *d = &r->fetch.items[i];
			d->seq = f->messages[i]->seq;
			d->received_at_us = f->messages[i]->received_at_us;
			bad = copy_fixed(d->record_hash, KETEN_HASH_LEN,
			                 f->messages[i]->record_hash) ||
			      copy_fixed(d->prev_hash, KETEN_HASH_LEN,
			                 f->messages[i]->prev_hash);
			d->envelope = f->messages[i]->envelope.data;
			d->envelope_len = f->messages[i]->envelope.len;
			d->sealed = f->messages[i]->sealed_content.data;
			d->sealed_len = f->messages[i]->sealed_content.len;
		}
		break;
	}
	case KETEN__REPLY__KIND_ACK:
		r->kind = WIRE_REP_ACK;
		r->ack_cursor = m->ack->cursor;
		break;
	case KETEN__REPLY__KIND_PING:
		r->kind = WIRE_REP_PING;
		r->ping.agency = m->ping->agency ? m->ping->agency : "";
		r->ping.head_seq = m->ping->head_seq;
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
wire_content_decode(struct content *c, const uint8_t *buf, size_t len,
                    struct keten_error *err)
{
	Keten__ReferralContent *m;
	struct keten_person *hh = NULL;

	memset(c, 0, sizeof(*c));
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

void
wire_content_clear(struct content *c)
{
	if (c->pb != NULL)
		keten__referral_content__free_unpacked(c->pb, NULL);
	free(c->arrays);
	memset(c, 0, sizeof(*c));
}
