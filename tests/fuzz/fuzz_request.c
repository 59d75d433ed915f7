/*
 * The broker's decode path for one request frame, as transport and a verify
 * worker run it: the id peek, the request, then for a submit its envelope,
 * body and content hash.
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
	FUZZ_CHECK(r.kind >= WIRE_REQ_SUBMIT && r.kind <= WIRE_REQ_PING);
	round_trip(&r);
	if (r.kind == WIRE_REQ_SUBMIT) {
		fuzz_envelope_and_body(r.envelope, r.envelope_len);
		envelope_content_hash(hash, r.sealed, r.sealed_len);
	} else {
		FUZZ_CHECK(r.envelope_len == 0 && r.sealed_len == 0);
	}
	wire_request_clear(&r);
	FUZZ_CHECK(r.pb == NULL);
	return 0;
}
