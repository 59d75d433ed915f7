/*
 * Requests, client to broker: encode, decode, and the request_id of a frame
 * too broken to decode. Must never trust a length it has not checked.
 */
#include <stdlib.h>
#include <string.h>

#include "wire_pb.h"

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
	Keten__CosignRequest co = KETEN__COSIGN_REQUEST__INIT;
	Keten__ConsistencyRequest cn = KETEN__CONSISTENCY_REQUEST__INIT;
	Keten__RosterRequest ro = KETEN__ROSTER_REQUEST__INIT;

	m.request_id = r->request_id;
	m.known_size = r->known_size;
	switch (r->kind) {
	case WIRE_REQ_SUBMIT:
		s.envelope = wire_bin(r->envelope, r->envelope_len);
		s.sealed_content = wire_bin(r->sealed, r->sealed_len);
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
			cs.after = wire_bin(r->case_id, KETEN_CASE_ID_LEN);
		cs.max_cases = r->cases_max;
		m.kind_case = KETEN__REQUEST__KIND_CASES;
		m.cases = &cs;
		break;
	case WIRE_REQ_CASE:
		c1.case_id = wire_bin(r->case_id, KETEN_CASE_ID_LEN);
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
	case WIRE_REQ_COSIGN:
		co.note = wire_bin((const uint8_t *)r->note, r->note_len);
		m.kind_case = KETEN__REQUEST__KIND_COSIGN;
		m.cosign = &co;
		break;
	case WIRE_REQ_CONSISTENCY:
		cn.from_size = r->from_size;
		cn.to_size = r->to_size;
		m.kind_case = KETEN__REQUEST__KIND_CONSISTENCY;
		m.consistency = &cn;
		break;
	case WIRE_REQ_ROSTER:
		ro.after_seq = r->after_seq;
		m.kind_case = KETEN__REQUEST__KIND_ROSTER;
		m.roster = &ro;
		break;
	}
	return wire_pack(out, len, &m.base);
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
	r->known_size = m->known_size;
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
		if (r->has_case_id &&
		    wire_copy_fixed(r->case_id, KETEN_CASE_ID_LEN,
		                    m->cases->after) != 0)
			return refuse_request(r, err,
			                      "cases.after must be a 16-byte "
			                      "case id or empty");
		break;
	case KETEN__REQUEST__KIND_CASE:
		r->kind = WIRE_REQ_CASE;
		r->has_case_id = true;
		r->after_seq = m->case_->after_seq;
		if (wire_copy_fixed(r->case_id, KETEN_CASE_ID_LEN,
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
	case KETEN__REQUEST__KIND_COSIGN:
		r->kind = WIRE_REQ_COSIGN;
		r->note = (const char *)m->cosign->note.data;
		r->note_len = m->cosign->note.len;
		break;
	case KETEN__REQUEST__KIND_CONSISTENCY:
		r->kind = WIRE_REQ_CONSISTENCY;
		r->from_size = m->consistency->from_size;
		r->to_size = m->consistency->to_size;
		break;
	case KETEN__REQUEST__KIND_ROSTER:
		r->kind = WIRE_REQ_ROSTER;
		r->after_seq = m->roster->after_seq;
		break;
	default: {
		uint64_t id = r->request_id;
		wire_request_clear(r);
		r->request_id = id; /* so the refusal reaches its sender */
		return error_set(
		    err, KETEN_E_UNKNOWN_TYPE,
		    "the request names no known operation (submit, fetch, ack, "
		    "ping, cases, case, replay, cosign, consistency or "
		    "roster)");
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
