/*
 * The broker's decode path for one request frame, as transport and a verify
 * worker run it: the id peek, the request, then for a submit its envelope,
 * body and content hash; for cases and case the id a handler looks up; for
 * replay the sequence number and page size. Every field of another kind
 * than the decoded one must stay empty, as the handlers never clear them.
 * Everything decoded is cleared, so a leak is a finding.
 */
#include <string.h>

#include "envelope.h"
#include "fuzz.h"
#include "wire.h"

/* Encodes r, decodes it again and compares what a handler would read. */
static void
round_trip(const struct request *r)
{
	struct request again;
	struct keten_error err;
	uint8_t *out = NULL;
	size_t len = 0;

	FUZZ_CHECK(wire_request_encode(&out, &len, r) == KETEN_OK);
	/* A canonical frame leads with its id, so a refusal can echo it. */
	FUZZ_CHECK(wire_request_peek_id(out, len) == r->request_id);
	FUZZ_CHECK(wire_request_decode(&again, out, len, &err) == KETEN_OK);
	FUZZ_CHECK(again.request_id == r->request_id);
	FUZZ_CHECK(again.kind == r->kind);
	FUZZ_CHECK(again.envelope_len == r->envelope_len);
	FUZZ_CHECK(r->envelope_len == 0 ||
	           memcmp(again.envelope, r->envelope, r->envelope_len) == 0);
	FUZZ_CHECK(again.sealed_len == r->sealed_len);
	FUZZ_CHECK(r->sealed_len == 0 ||
	           memcmp(again.sealed, r->sealed, r->sealed_len) == 0);
	FUZZ_CHECK(again.fetch_max == r->fetch_max);
	FUZZ_CHECK(again.ack_seq == r->ack_seq);
	FUZZ_CHECK(again.has_case_id == r->has_case_id);
	FUZZ_CHECK(memcmp(again.case_id, r->case_id, KETEN_CASE_ID_LEN) == 0);
	FUZZ_CHECK(again.cases_max == r->cases_max);
	FUZZ_CHECK(again.after_seq == r->after_seq);
	FUZZ_CHECK(again.from_seq == r->from_seq);
	FUZZ_CHECK(again.replay_max == r->replay_max);
	wire_request_clear(&again);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request r;
	struct keten_error err;
	uint8_t hash[KETEN_HASH_LEN];
	int rc;

	/* Transport peeks at every frame before it is decoded. */
	(void)wire_request_peek_id(data, size);
	error_clear(&err);
	if ((rc = wire_request_decode(&r, data, size, &err)) != KETEN_OK) {
		fuzz_check_refusal(rc, &err);
		FUZZ_CHECK(r.pb == NULL);
		return 0;
	}
	FUZZ_CHECK(r.kind >= WIRE_REQ_SUBMIT && r.kind <= WIRE_REQ_ROSTER);
	round_trip(&r);
	if (r.kind == WIRE_REQ_SUBMIT) {
		fuzz_envelope_and_body(r.envelope, r.envelope_len);
		envelope_content_hash(hash, r.sealed, r.sealed_len);
	} else {
		FUZZ_CHECK(r.envelope_len == 0 && r.sealed_len == 0);
	}
	/* Only a case request must name a case; only cases and case may
	 * carry one, and only they (and roster's after_seq) read the paging
	 * fields. */
	if (r.kind == WIRE_REQ_CASE)
		FUZZ_CHECK(r.has_case_id);
	if (r.kind != WIRE_REQ_CASES && r.kind != WIRE_REQ_CASE)
		FUZZ_CHECK(!r.has_case_id && r.cases_max == 0);
	if (r.kind != WIRE_REQ_CASES)
		FUZZ_CHECK(r.cases_max == 0);
	if (r.kind != WIRE_REQ_CASE && r.kind != WIRE_REQ_ROSTER)
		FUZZ_CHECK(r.after_seq == 0);
	if (r.kind != WIRE_REQ_FETCH)
		FUZZ_CHECK(r.fetch_max == 0);
	if (r.kind != WIRE_REQ_ACK)
		FUZZ_CHECK(r.ack_seq == 0);
	if (r.kind != WIRE_REQ_REPLAY)
		FUZZ_CHECK(r.from_seq == 0 && r.replay_max == 0);
	wire_request_clear(&r);
	FUZZ_CHECK(r.pb == NULL);
	return 0;
}
