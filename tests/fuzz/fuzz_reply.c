/*
 * A client's decode path for one reply frame from the broker: the reply,
 * then each delivered envelope and its body, as the inbox reads them. A
 * client must survive a hostile or broken broker too.
 */
#include <string.h>

#include "fuzz.h"
#include "wire.h"

static void
same_receipt(const struct receipt *a, const struct receipt *b)
{
	FUZZ_CHECK(a->seq == b->seq && a->head_seq == b->head_seq);
	FUZZ_CHECK(a->received_at_us == b->received_at_us);
	FUZZ_CHECK(memcmp(a->record_hash, b->record_hash, KETEN_HASH_LEN) == 0);
	FUZZ_CHECK(memcmp(a->message_id, b->message_id, KETEN_MSG_ID_LEN) == 0);
	FUZZ_CHECK(memcmp(a->head_hash, b->head_hash, KETEN_HASH_LEN) == 0);
	FUZZ_CHECK(memcmp(a->signature, b->signature, WIRE_SIG_LEN) == 0);
	FUZZ_CHECK(memcmp(a->prev_hash, b->prev_hash, KETEN_HASH_LEN) == 0);
}

static int
same_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void
same_fetch(const struct reply *a, const struct reply *b)
{
	FUZZ_CHECK(a->fetch.n == b->fetch.n);
	FUZZ_CHECK(a->fetch.cursor == b->fetch.cursor);
	FUZZ_CHECK(a->fetch.more == b->fetch.more);
	for (size_t i = 0; i < a->fetch.n; i++) {
		const struct delivered *x = &a->fetch.items[i];
		const struct delivered *y = &b->fetch.items[i];
		FUZZ_CHECK(x->seq == y->seq);
		FUZZ_CHECK(x->received_at_us == y->received_at_us);
		FUZZ_CHECK(memcmp(x->record_hash, y->record_hash,
		                  KETEN_HASH_LEN) == 0);
		FUZZ_CHECK(memcmp(x->prev_hash, y->prev_hash, KETEN_HASH_LEN) ==
		           0);
		FUZZ_CHECK(same_bytes(x->envelope, x->envelope_len, y->envelope,
		                      y->envelope_len));
		FUZZ_CHECK(same_bytes(x->sealed, x->sealed_len, y->sealed,
		                      y->sealed_len));
	}
}

/* Encodes r as a broker would, decodes it again, compares. */
static void
round_trip(const struct reply *r)
{
	struct reply again;
	struct keten_error err;
	uint8_t *out = NULL;
	size_t len = 0;

	FUZZ_CHECK(wire_reply_encode(&out, &len, r) == KETEN_OK);
	FUZZ_CHECK(wire_reply_decode(&again, out, len, &err) == KETEN_OK);
	FUZZ_CHECK(again.request_id == r->request_id);
	FUZZ_CHECK(again.kind == r->kind);
	switch (r->kind) {
	case WIRE_REP_ERROR:
		FUZZ_CHECK(again.error.code == r->error.code);
		FUZZ_CHECK(strcmp(again.error.message, r->error.message) == 0);
		break;
	case WIRE_REP_RECEIPT:
		same_receipt(&again.receipt, &r->receipt);
		break;
	case WIRE_REP_FETCH:
		same_fetch(&again, r);
		break;
	case WIRE_REP_ACK:
		FUZZ_CHECK(again.ack_cursor == r->ack_cursor);
		break;
	case WIRE_REP_PING:
		FUZZ_CHECK(strcmp(again.ping.agency, r->ping.agency) == 0);
		FUZZ_CHECK(again.ping.head_seq == r->ping.head_seq);
		break;
	}
	wire_reply_clear(&again);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply r;
	struct keten_error err;
	int rc;

	error_clear(&err);
	if ((rc = wire_reply_decode(&r, data, size, &err)) != KETEN_OK) {
		fuzz_check_refusal(rc, &err);
		FUZZ_CHECK(r.pb == NULL && r.fetch.items == NULL);
		return 0;
	}
	FUZZ_CHECK(r.kind >= WIRE_REP_ERROR && r.kind <= WIRE_REP_PING);
	if (r.kind == WIRE_REP_ERROR) {
		/* What client_wait does with a refusal. */
		FUZZ_CHECK(r.error.message != NULL);
		FUZZ_CHECK(error_set(&err, r.error.code, "%s",
		                     r.error.message) == r.error.code);
		FUZZ_CHECK(keten_strerror(r.error.code) != NULL);
	}
	if (r.kind == WIRE_REP_PING)
		FUZZ_CHECK(r.ping.agency != NULL);
	if (r.kind == WIRE_REP_FETCH)
		FUZZ_CHECK(r.fetch.n == 0 || r.fetch.items != NULL);
	round_trip(&r);
	if (r.kind == WIRE_REP_FETCH)
		for (size_t i = 0; i < r.fetch.n; i++)
			fuzz_envelope_and_body(r.fetch.items[i].envelope,
			                       r.fetch.items[i].envelope_len);
	wire_reply_clear(&r);
	FUZZ_CHECK(r.pb == NULL && r.fetch.items == NULL);
	return 0;
}
