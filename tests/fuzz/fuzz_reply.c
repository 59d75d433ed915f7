/*
 * A client's decode path for one reply frame from the broker: the reply,
 * then each delivered envelope and its body, as the inbox reads them, and
 * each case summary and case record, as `keten cases` and `keten case`
 * read them. A client must survive a hostile or broken broker too.
 */
#include <string.h>

#include "fuzz.h"
#include "text.h"
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
same_delivered(const struct delivered *a, size_t na, const struct delivered *b,
               size_t nb)
{
	FUZZ_CHECK(na == nb);
	for (size_t i = 0; i < na; i++) {
		const struct delivered *x = &a[i], *y = &b[i];
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

/* What libketen reads of a decoded summary (client_case_public copies the
 * ids with strcpy and indexes parties with holder and offer.to). */
static void
check_case(const struct wire_case *wc)
{
	const struct case_state *st = &wc->st;

	FUZZ_CHECK(st->status >= CASE_OFFERED && st->status <= CASE_CLOSED);
	FUZZ_CHECK(st->n_parties >= 1 && st->n_parties <= CASE_PARTIES_MAX);
	FUZZ_CHECK(st->holder < st->n_parties);
	FUZZ_CHECK(st->offer.to < st->n_parties);
	for (size_t i = 0; i < st->n_parties; i++)
		FUZZ_CHECK(text_valid_id(st->parties[i].id));
	/* Nothing of an offer is kept unless one is open. */
	if (st->status != CASE_OFFERED)
		FUZZ_CHECK(st->offer.seq == 0 && st->offer.to == 0 &&
		           wc->ack_due_us == 0 && wc->decide_due_us == 0);
}

/* The summary as a client shows it: status, holder, parties, offer. */
static void
same_case(const struct wire_case *a, const struct wire_case *b)
{
	const struct case_state *x = &a->st, *y = &b->st;

	FUZZ_CHECK(memcmp(x->id, y->id, KETEN_CASE_ID_LEN) == 0);
	FUZZ_CHECK(x->status == y->status);
	FUZZ_CHECK(x->holder == y->holder);
	FUZZ_CHECK(strcmp(case_holder(x), case_holder(y)) == 0);
	FUZZ_CHECK(x->n_parties == y->n_parties);
	for (size_t i = 0; i < x->n_parties; i++) {
		FUZZ_CHECK(strcmp(x->parties[i].id, y->parties[i].id) == 0);
		FUZZ_CHECK(x->parties[i].referred == y->parties[i].referred);
	}
	FUZZ_CHECK(x->outcome == y->outcome && x->messages == y->messages);
	FUZZ_CHECK(x->opened_seq == y->opened_seq &&
	           x->last_seq == y->last_seq);
	FUZZ_CHECK(x->opened_at_us == y->opened_at_us &&
	           x->updated_at_us == y->updated_at_us);
	FUZZ_CHECK(memcmp(x->offer.message_id, y->offer.message_id,
	                  KETEN_MSG_ID_LEN) == 0);
	FUZZ_CHECK(x->offer.seq == y->offer.seq);
	FUZZ_CHECK(x->offer.type == y->offer.type);
	FUZZ_CHECK(x->offer.to == y->offer.to);
	FUZZ_CHECK(x->offer.at_us == y->offer.at_us);
	FUZZ_CHECK(x->offer.acked_us == y->offer.acked_us);
	FUZZ_CHECK(x->offer.respond_by_us == y->offer.respond_by_us);
	FUZZ_CHECK(x->offer.questions == y->offer.questions);
	FUZZ_CHECK(a->ack_due_us == b->ack_due_us);
	FUZZ_CHECK(a->decide_due_us == b->decide_due_us);
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
		FUZZ_CHECK(again.fetch.cursor == r->fetch.cursor);
		FUZZ_CHECK(again.fetch.more == r->fetch.more);
		same_delivered(again.fetch.items, again.fetch.n, r->fetch.items,
		               r->fetch.n);
		break;
	case WIRE_REP_ACK:
		FUZZ_CHECK(again.ack_cursor == r->ack_cursor);
		break;
	case WIRE_REP_PING:
		FUZZ_CHECK(strcmp(again.ping.agency, r->ping.agency) == 0);
		FUZZ_CHECK(again.ping.head_seq == r->ping.head_seq);
		break;
	case WIRE_REP_CASES:
		FUZZ_CHECK(again.cases.n == r->cases.n);
		FUZZ_CHECK(again.cases.more == r->cases.more);
		FUZZ_CHECK(again.cases.now_us == r->cases.now_us);
		for (size_t i = 0; i < r->cases.n; i++)
			same_case(&again.cases.items[i], &r->cases.items[i]);
		break;
	case WIRE_REP_CASE:
		same_case(&again.kase.summary, &r->kase.summary);
		FUZZ_CHECK(again.kase.more == r->kase.more);
		FUZZ_CHECK(again.kase.now_us == r->kase.now_us);
		same_delivered(again.kase.records, again.kase.n,
		               r->kase.records, r->kase.n);
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
		FUZZ_CHECK(r.pb == NULL && r.fetch.items == NULL &&
		           r.cases.items == NULL && r.kase.records == NULL);
		return 0;
	}
	FUZZ_CHECK(r.kind >= WIRE_REP_ERROR && r.kind <= WIRE_REP_CASE);
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
	if (r.kind == WIRE_REP_CASES) {
		FUZZ_CHECK(r.cases.n == 0 || r.cases.items != NULL);
		for (size_t i = 0; i < r.cases.n; i++)
			check_case(&r.cases.items[i]);
	}
	if (r.kind == WIRE_REP_CASE) {
		FUZZ_CHECK(r.kase.n == 0 || r.kase.records != NULL);
		check_case(&r.kase.summary);
	}
	round_trip(&r);
	if (r.kind == WIRE_REP_FETCH)
		for (size_t i = 0; i < r.fetch.n; i++)
			fuzz_envelope_and_body(r.fetch.items[i].envelope,
			                       r.fetch.items[i].envelope_len);
	/* A case's history: the client verifies and replays each record. */
	if (r.kind == WIRE_REP_CASE)
		for (size_t i = 0; i < r.kase.n; i++) {
			FUZZ_CHECK(r.kase.records[i].sealed_len == 0 ||
			           r.kase.records[i].sealed != NULL);
			fuzz_envelope_and_body(r.kase.records[i].envelope,
			                       r.kase.records[i].envelope_len);
		}
	wire_reply_clear(&r);
	FUZZ_CHECK(r.pb == NULL && r.fetch.items == NULL &&
	           r.cases.items == NULL && r.kase.records == NULL);
	return 0;
}
