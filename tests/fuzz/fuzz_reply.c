/*
 * A client's decode path for one reply frame from the broker: the reply,
 * then each delivered envelope and its body, as the inbox reads them, each
 * case summary and case record, as `keten cases` and `keten case` read
 * them, and each replayed record, as an auditor's replay verifies it;
 * each checkpoint and inclusion proof as libketen checks them
 * (client/lib/proof.c). A client must survive a hostile or broken broker
 * too.
 */
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "chain.h"
#include "config.h"
#include "fuzz.h"
#include "note.h"
#include "text.h"
#include "wire.h"

/*
 * The region a replay is verified against: make_seeds' region, and its two
 * agencies with the key make_seeds signs every envelope with (the seed
 * 1, 2, ..., 32), so its replay seeds verify and mutations of them reach
 * the case rules. The broker's checkpoint key is the same key.
 */
static struct agency agencies[] = {
    {.id = "lt-almere", .kind = KETEN_KIND_LOCAL_TEAM},
    {.id = "vt-flevoland", .kind = KETEN_KIND_VEILIG_THUIS},
};
static struct config region = {
    .region = "flevoland", .agencies = agencies, .n_agencies = 2};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[32], pk[32], sk[64];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)(1 + i);
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0)
		abort();
	for (size_t i = 0; i < region.n_agencies; i++)
		memcpy(agencies[i].sign_pk, pk, sizeof(pk));
	memcpy(region.broker_sign_pk, pk, sizeof(pk));
	if (note_broker_key(&region.broker_key, region.region, pk) != 0)
		abort();
	sodium_memzero(sk, sizeof(sk));
	return 0;
}

static int
same_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void
same_cp(const struct keten_checkpoint *a, const struct keten_checkpoint *b)
{
	FUZZ_CHECK(a->size == b->size && a->access_size == b->access_size);
	FUZZ_CHECK(a->signed_at_us == b->signed_at_us);
	FUZZ_CHECK(memcmp(a->head_hash, b->head_hash, KETEN_HASH_LEN) == 0);
	FUZZ_CHECK(memcmp(a->root, b->root, KETEN_HASH_LEN) == 0);
	FUZZ_CHECK(memcmp(a->access_head, b->access_head, KETEN_HASH_LEN) == 0);
	FUZZ_CHECK(memcmp(a->signature, b->signature, WIRE_SIG_LEN) == 0);
}

static void
same_receipt(const struct receipt *a, const struct receipt *b)
{
	FUZZ_CHECK(a->seq == b->seq);
	FUZZ_CHECK(a->received_at_us == b->received_at_us);
	FUZZ_CHECK(memcmp(a->record_hash, b->record_hash, KETEN_HASH_LEN) == 0);
	FUZZ_CHECK(memcmp(a->message_id, b->message_id, KETEN_MSG_ID_LEN) == 0);
	FUZZ_CHECK(memcmp(a->prev_hash, b->prev_hash, KETEN_HASH_LEN) == 0);
	same_cp(&a->cp, &b->cp);
	FUZZ_CHECK(a->n_path == b->n_path);
	FUZZ_CHECK(a->n_path <= WIRE_PATH_MAX);
	FUZZ_CHECK(same_bytes(a->path[0], a->n_path * KETEN_HASH_LEN,
	                      b->path[0], b->n_path * KETEN_HASH_LEN));
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
		FUZZ_CHECK(x->n_path == y->n_path);
		FUZZ_CHECK(same_bytes(x->path, x->n_path * KETEN_HASH_LEN,
		                      y->path, y->n_path * KETEN_HASH_LEN));
	}
}

/*
 * What libketen does with a checkpoint (client_checkpoint): checks the
 * signature of its note; the note written again (as the broker stores
 * it) must parse back as the same checkpoint with the same verdict.
 * Returns whether it is signed.
 */
static int
check_cp(const struct keten_checkpoint *cp)
{
	const struct note_key *k = &region.broker_key;
	char note[NOTE_CHECKPOINT_MAX];
	struct keten_checkpoint again;
	struct keten_error err;
	int ok = note_checkpoint_verify(cp, k) == 0;
	size_t n = note_checkpoint_format(note, sizeof(note), k, cp);

	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(note_checkpoint_parse(&again, note, n, k, &err) == KETEN_OK);
	same_cp(&again, cp);
	FUZZ_CHECK((note_checkpoint_verify(&again, k) == 0) == ok);
	return ok;
}

/* And with a proof (client_proof): whatever the broker sent, a proof that
 * holds puts the record inside the checkpoint. */
static void
check_inclusion(uint64_t seq, const uint8_t record_hash[32],
                const struct keten_checkpoint *cp, const uint8_t *path,
                size_t n_path)
{
	FUZZ_CHECK(n_path <= WIRE_PATH_MAX);
	FUZZ_CHECK(n_path == 0 || path != NULL);
	if (chain_inclusion_verify(seq, record_hash, cp,
	                           (const uint8_t(*)[32])path, n_path) == 0)
		FUZZ_CHECK(seq >= 1 && seq <= cp->size);
}

/* Delivered records' proofs lie inside the reply's one block of them. */
static void
check_paths(const struct reply *r, const struct delivered *d, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(d[i].n_path <= WIRE_PATH_MAX);
		total += d[i].n_path;
	}
	FUZZ_CHECK((total == 0) == (r->paths == NULL));
	for (size_t i = 0; i < n; i++)
		if (d[i].n_path > 0)
			FUZZ_CHECK(d[i].path >= r->paths &&
			           d[i].path + d[i].n_path * KETEN_HASH_LEN <=
			               r->paths + total * KETEN_HASH_LEN);
}

/* What libketen reads of a decoded summary (client_case_public copies the
 * ids with strcpy and indexes parties with holder and offer.to). */
static void
check_case(const struct wire_case *wc)
{
	const struct case_state *st = &wc->st;

	FUZZ_CHECK(st->status >= KETEN_CASE_OFFERED &&
	           st->status <= KETEN_CASE_CLOSED);
	FUZZ_CHECK(st->n_parties >= 1 && st->n_parties <= CASE_PARTIES_MAX);
	FUZZ_CHECK(st->holder < st->n_parties);
	FUZZ_CHECK(st->offer.to < st->n_parties);
	for (size_t i = 0; i < st->n_parties; i++)
		FUZZ_CHECK(text_valid_id(st->parties[i].id));
	/* Nothing of an offer is kept unless one is open. */
	if (st->status != KETEN_CASE_OFFERED)
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

static int
zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* The decoder fills only the decoded kind's fields; every other kind's
 * stay as the memset left them. */
static void
only_kind(const struct reply *r)
{
	FUZZ_CHECK(r->kind == WIRE_REP_ERROR ||
	           zero(&r->error, sizeof(r->error)));
	FUZZ_CHECK(r->kind == WIRE_REP_RECEIPT ||
	           zero(&r->receipt, sizeof(r->receipt)));
	FUZZ_CHECK(r->kind == WIRE_REP_FETCH ||
	           zero(&r->fetch, sizeof(r->fetch)));
	FUZZ_CHECK(r->kind == WIRE_REP_ACK ||
	           zero(&r->ack_cursor, sizeof(r->ack_cursor)));
	FUZZ_CHECK(r->kind == WIRE_REP_PING || zero(&r->ping, sizeof(r->ping)));
	FUZZ_CHECK(r->kind == WIRE_REP_CASES ||
	           zero(&r->cases, sizeof(r->cases)));
	FUZZ_CHECK(r->kind == WIRE_REP_CASE || zero(&r->kase, sizeof(r->kase)));
	FUZZ_CHECK(r->kind == WIRE_REP_REPLAY ||
	           zero(&r->replay, sizeof(r->replay)));
	FUZZ_CHECK(r->kind == WIRE_REP_ROSTER ||
	           zero(&r->roster, sizeof(r->roster)));
}

/*
 * What keten_audit_replay does with a page (client/lib/replay.c): each
 * record rebuilt in its stored form and fed to an audit stream, here one
 * from the first record's seq as if the page answered that from_seq; a
 * verified record's report must be the record's, a refusal names a bad
 * record and leaves the stream at the last verified one. Stops at the
 * first refusal, as the client does.
 */
static void
audit_page(const struct reply *r)
{
	struct audit_stream *st;
	struct keten_error err;
	uint64_t from = r->replay.n > 0 ? r->replay.records[0].seq : 1;
	uint8_t last[32], hash[32];
	int rc = KETEN_OK;

	error_clear(&err);
	FUZZ_CHECK(audit_stream_new(&st, &region, from, NULL, &err) ==
	           KETEN_OK);
	for (size_t i = 0; i < r->replay.n && rc == KETEN_OK; i++) {
		const struct delivered *d = &r->replay.records[i];
		struct record rec = {.seq = d->seq,
		                     .received_at_us = d->received_at_us,
		                     .envelope = d->envelope,
		                     .envelope_len = d->envelope_len};
		size_t len = CHAIN_RECORD_HEADER + d->envelope_len;
		uint64_t before = audit_stream_last(st, last);
		struct audit_info info;
		uint8_t *buf;

		memcpy(rec.prev_hash, d->prev_hash, 32);
		FUZZ_CHECK((buf = malloc(len)) != NULL);
		chain_record_encode(buf, &rec);
		rc = audit_stream_record(st, &info, d->seq, buf, len, &err);
		if (rc == KETEN_OK) {
			chain_record_hash(hash, buf, len);
			FUZZ_CHECK(info.seq == d->seq);
			FUZZ_CHECK(info.received_at_us == d->received_at_us);
			FUZZ_CHECK(memcmp(info.prev_hash, d->prev_hash, 32) ==
			           0);
			FUZZ_CHECK(memcmp(info.record_hash, hash, 32) == 0);
			FUZZ_CHECK(info.type >= 1 &&
			           info.type <= KETEN_MSG_TYPE_MAX);
			FUZZ_CHECK(config_find(&region, info.sender) != NULL);
			FUZZ_CHECK(info.type == KETEN_MSG_CLOSE
			               ? info.recipient[0] == '\0'
			               : text_valid_id(info.recipient));
			FUZZ_CHECK(audit_stream_last(st, last) == d->seq);
			FUZZ_CHECK(memcmp(last, hash, 32) == 0);
			FUZZ_CHECK(audit_stream_bad(st) == 0);
		} else {
			fuzz_check_refusal(rc, &err);
			FUZZ_CHECK(rc == KETEN_E_CHAIN);
			FUZZ_CHECK(audit_stream_bad(st) != 0);
			FUZZ_CHECK(audit_stream_last(st, hash) == before);
			/* A stream from N > 1 takes the first record's link
			 * on trust before checking the rest of it. */
			FUZZ_CHECK((i == 0 && from > 1) ||
			           memcmp(last, hash, 32) == 0);
		}
		free(buf);
	}
	audit_stream_free(&st);
	FUZZ_CHECK(st == NULL);
}

/* Encodes r as a broker would, decodes it again, compares. */
static void
round_trip(const struct reply *r)
{
	struct reply again;
	struct keten_error err;
	uint8_t *out = NULL;
	size_t len = 0;

	FUZZ_CHECK(wire_reply_encode(&out, &len, r, &region.broker_key) ==
	           KETEN_OK);
	FUZZ_CHECK(wire_reply_decode(&again, out, len, &region.broker_key,
	                             &err) == KETEN_OK);
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
		FUZZ_CHECK(again.fetch.has_cp == r->fetch.has_cp);
		same_cp(&again.fetch.cp, &r->fetch.cp);
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
	case WIRE_REP_REPLAY:
		FUZZ_CHECK(again.replay.more == r->replay.more);
		FUZZ_CHECK(again.replay.head_seq == r->replay.head_seq);
		FUZZ_CHECK(memcmp(again.replay.head_hash, r->replay.head_hash,
		                  KETEN_HASH_LEN) == 0);
		FUZZ_CHECK(again.replay.has_cp == r->replay.has_cp);
		same_cp(&again.replay.cp, &r->replay.cp);
		same_delivered(again.replay.records, again.replay.n,
		               r->replay.records, r->replay.n);
		break;
	case WIRE_REP_COSIGN:
		FUZZ_CHECK(again.cosign_size == r->cosign_size);
		break;
	case WIRE_REP_CONSISTENCY:
		FUZZ_CHECK(again.link.from_size == r->link.from_size);
		FUZZ_CHECK(again.link.to_size == r->link.to_size);
		FUZZ_CHECK(again.link.proof.n == r->link.proof.n);
		FUZZ_CHECK(memcmp(again.link.proof.hash, r->link.proof.hash,
		                  r->link.proof.n * KETEN_HASH_LEN) == 0);
		FUZZ_CHECK(again.link.has_cp == r->link.has_cp);
		same_cp(&again.link.cp, &r->link.cp);
		break;
	case WIRE_REP_ROSTER:
		FUZZ_CHECK(again.roster.more == r->roster.more);
		FUZZ_CHECK(again.roster.has_cp == r->roster.has_cp);
		same_cp(&again.roster.cp, &r->roster.cp);
		same_delivered(again.roster.records, again.roster.n,
		               r->roster.records, r->roster.n);
		break;
	}
	only_kind(&again);
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
	if ((rc = wire_reply_decode(&r, data, size, &region.broker_key,
	                            &err)) != KETEN_OK) {
		fuzz_check_refusal(rc, &err);
		FUZZ_CHECK(zero(&r, sizeof(r))); /* nothing left to free */
		return 0;
	}
	FUZZ_CHECK(r.kind >= WIRE_REP_ERROR && r.kind <= WIRE_REP_ROSTER);
	FUZZ_CHECK(r.pb != NULL);
	only_kind(&r);
	if (r.kind == WIRE_REP_ERROR) {
		/* What client_wait does with a refusal. */
		FUZZ_CHECK(r.error.message != NULL);
		FUZZ_CHECK(error_set(&err, r.error.code, "%s",
		                     r.error.message) == r.error.code);
		FUZZ_CHECK(keten_strerror(r.error.code) != NULL);
	}
	if (r.kind == WIRE_REP_PING)
		FUZZ_CHECK(r.ping.agency != NULL);
	/* What a client checks of a receipt, and of a fetch's records. */
	if (r.kind == WIRE_REP_RECEIPT) {
		FUZZ_CHECK(r.paths == NULL);
		check_cp(&r.receipt.cp);
		check_inclusion(r.receipt.seq, r.receipt.record_hash,
		                &r.receipt.cp, r.receipt.path[0],
		                r.receipt.n_path);
	}
	if (r.kind == WIRE_REP_FETCH) {
		FUZZ_CHECK(r.fetch.n == 0 || r.fetch.items != NULL);
		check_paths(&r, r.fetch.items, r.fetch.n);
		if (r.fetch.has_cp) {
			check_cp(&r.fetch.cp);
			for (size_t i = 0; i < r.fetch.n; i++)
				check_inclusion(r.fetch.items[i].seq,
				                r.fetch.items[i].record_hash,
				                &r.fetch.cp,
				                r.fetch.items[i].path,
				                r.fetch.items[i].n_path);
		} else {
			FUZZ_CHECK(zero(&r.fetch.cp, sizeof(r.fetch.cp)));
		}
	}
	if (r.kind == WIRE_REP_CASES) {
		FUZZ_CHECK(r.cases.n == 0 || r.cases.items != NULL);
		for (size_t i = 0; i < r.cases.n; i++)
			check_case(&r.cases.items[i]);
	}
	if (r.kind == WIRE_REP_CASE) {
		FUZZ_CHECK(r.kase.n == 0 || r.kase.records != NULL);
		check_paths(&r, r.kase.records, r.kase.n);
		check_case(&r.kase.summary);
	}
	if (r.kind == WIRE_REP_REPLAY) {
		FUZZ_CHECK(r.replay.n == 0 || r.replay.records != NULL);
		check_paths(&r, r.replay.records, r.replay.n);
		if (r.replay.has_cp)
			check_cp(&r.replay.cp);
		else
			FUZZ_CHECK(zero(&r.replay.cp, sizeof(r.replay.cp)));
	}
	if (r.kind == WIRE_REP_ROSTER) {
		FUZZ_CHECK(r.roster.n <= WIRE_ROSTER_REPLY_MAX);
		FUZZ_CHECK(r.roster.n == 0 || r.roster.records != NULL);
		check_paths(&r, r.roster.records, r.roster.n);
		if (r.roster.has_cp)
			check_cp(&r.roster.cp);
		else
			FUZZ_CHECK(zero(&r.roster.cp, sizeof(r.roster.cp)));
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
	/* The log itself: an auditor verifies each record as it arrives. */
	if (r.kind == WIRE_REP_REPLAY) {
		for (size_t i = 0; i < r.replay.n; i++) {
			FUZZ_CHECK(r.replay.records[i].sealed_len == 0 ||
			           r.replay.records[i].sealed != NULL);
			fuzz_envelope_and_body(
			    r.replay.records[i].envelope,
			    r.replay.records[i].envelope_len);
		}
		audit_page(&r);
	}
	wire_reply_clear(&r);
	FUZZ_CHECK(zero(&r, sizeof(r)));
	return 0;
}
