/*
 * Every refusal against a real ketend: each gets its stable code and a
 * sentence, nothing is recorded, and the broker keeps serving. Also: an
 * unknown CURVE key can neither submit nor read, and only an auditor may
 * replay the log, which it gets whole, in order and without content.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "../check.h"
#include "chain.h"
#include "config.h"
#include "harness.h"
#include "raw.h"

static struct harness h;
static uint64_t head; /* the log's length before each refusal */

/* Sends frame as `as`, expects error `code` whose sentence has `needle`. */
static void
expect_refusal(const char *as, const uint8_t *frame, size_t len, int code,
               const char *needle)
{
	struct raw r;
	struct reply rep;

	raw_connect(&r, &h, as);
	CHECK_INT(raw_call1(&r, &rep, frame, len, 10000), 0);
	CHECK_INT(rep.kind, WIRE_REP_ERROR);
	CHECK_INT(rep.error.code, code);
	if (rep.kind == WIRE_REP_ERROR) {
		CHECK(strlen(rep.error.message) > 10);
		CHECK_STR_HAS(rep.error.message, needle);
	}
	wire_reply_clear(&rep);
	raw_close(&r);
	/* Nothing recorded; still serving. */
	CHECK_INT(harness_head(&h, "lt-almere"), head);
}

static void
craft_and_expect(const struct craft *c, const char *as, int code,
                 const char *needle)
{
	size_t len;
	uint8_t *f = craft_submit(&len, &h, c);

	expect_refusal(as, f, len, code, needle);
	free(f);
}

static void
accepted(const struct craft *c, const char *as)
{
	struct raw r;
	struct reply rep;
	size_t len;
	uint8_t *f = craft_submit(&len, &h, c);

	raw_connect(&r, &h, as);
	CHECK_INT(raw_call1(&r, &rep, f, len, 10000), 0);
	CHECK_INT(rep.kind, WIRE_REP_RECEIPT);
	CHECK_INT(rep.request_id, 7);
	wire_reply_clear(&rep);
	raw_close(&r);
	free(f);
	head++;
	CHECK_INT(harness_head(&h, "lt-almere"), head);
}

static void
frame_errors(void)
{
	struct craft c;
	uint8_t junk[64], *f, *big;
	size_t len;

	/* Not protobuf at all. */
	memset(junk, 0xff, sizeof(junk));
	expect_refusal("lt-almere", junk, sizeof(junk), KETEN_E_MALFORMED,
	               "not a valid protobuf Request");
	/* A valid request cut short. */
	craft_init(&c, "lt-almere", "vt-flevoland");
	f = craft_submit(&len, &h, &c);
	expect_refusal("lt-almere", f, len / 2, KETEN_E_MALFORMED, "truncated");
	free(f);
	/* One byte over the limit (1 MiB in this region). */
	big = calloc(1, (1 << 20) + 1);
	expect_refusal("lt-almere", big, (1 << 20) + 1, KETEN_E_TOO_BIG,
	               "at most 1048576");
	free(big);
	/* A request naming no operation. */
	expect_refusal("lt-almere", (const uint8_t *)"\x08\x05", 2,
	               KETEN_E_UNKNOWN_TYPE, "no known operation");
	/* Two frames where one is the protocol. */
	{
		struct raw r;
		struct reply rep;
		const uint8_t *frames[2] = {junk, junk};
		size_t lens[2] = {4, 4};
		raw_connect(&r, &h, "lt-almere");
		CHECK_INT(raw_call(&r, &rep, frames, lens, 2, 10000), 0);
		CHECK_INT(rep.error.code, KETEN_E_MALFORMED);
		wire_reply_clear(&rep);
		raw_close(&r);
	}
}

/* A read that would wait must be small and wait at most 60 s. */
static void
waiting_read_errors(void)
{
	struct request rq = {.request_id = 7, .kind = WIRE_REQ_FETCH};
	uint8_t *f, *big;
	size_t len;

	rq.wait_ms = 60001;
	CHECK_INT(wire_request_encode(&f, &len, &rq), KETEN_OK);
	expect_refusal("vt-flevoland", f, len, KETEN_E_FIELD, "at most 60000");
	free(f);
	/* Padded with an unknown field (number 99, 300 bytes): a waiting
	 * read is held in the broker's memory, so it may not be big. */
	rq.wait_ms = 1000;
	rq.fetch_after = UINT64_C(1) << 40; /* nothing there: it would wait */
	CHECK_INT(wire_request_encode(&f, &len, &rq), KETEN_OK);
	big = calloc(1, len + 4 + 300);
	memcpy(big, f, len);
	big[len] = 0x9a; /* field 99, length-delimited */
	big[len + 1] = 0x06;
	big[len + 2] = 0xac; /* 300 */
	big[len + 3] = 0x02;
	expect_refusal("vt-flevoland", big, len + 4 + 300, KETEN_E_FIELD,
	               "a waiting read is at most 256 bytes");
	free(big);
	free(f);
}

static void
envelope_errors(void)
{
	struct craft c;

	craft_init(&c, "lt-almere", "vt-flevoland");
	c.env_type = 99;
	craft_and_expect(&c, "lt-almere", KETEN_E_UNKNOWN_TYPE, "type 99");

	craft_init(&c, "lt-almere", "vt-flevoland");
	c.version = 2;
	craft_and_expect(&c, "lt-almere", KETEN_E_VERSION, "version 2");

	craft_init(&c, "lt-almere", "vt-flevoland");
	c.flip_sig = 1;
	craft_and_expect(&c, "lt-almere", KETEN_E_BADSIG, "does not verify");

	/* Validly signed by Lelystad, sent on Almere's connection. */
	craft_init(&c, "lt-lelystad", "vt-flevoland");
	craft_and_expect(&c, "lt-almere", KETEN_E_SIGNER,
	                 "authenticated as 'lt-almere'");

	/* Signed by Almere's key but claiming to be Lelystad's. */
	craft_init(&c, "lt-almere", "vt-flevoland");
	c.signer = c.sender = "lt-lelystad";
	craft_and_expect(&c, "lt-almere", KETEN_E_SIGNER, "lt-lelystad");

	/* The header says someone else sent it. */
	craft_init(&c, "lt-almere", "vt-flevoland");
	c.sender = "lt-urk";
	craft_and_expect(&c, "lt-almere", KETEN_E_SIGNER, "header.sender");

	craft_init(&c, "lt-almere", "vt-nowhere");
	craft_and_expect(&c, "lt-almere", KETEN_E_RECIPIENT, "vt-nowhere");

	craft_init(&c, "lt-almere", "vt-flevoland");
	c.flip_sealed = 1;
	craft_and_expect(&c, "lt-almere", KETEN_E_CONTENT_HASH, "content_hash");

	craft_init(&c, "lt-almere", "vt-flevoland");
	c.no_sealed = 1;
	craft_and_expect(&c, "lt-almere", KETEN_E_FIELD, "sealed content");

	/* All zeros is no case id (the access log's "no case"). */
	{
		static const uint8_t zero[KETEN_CASE_ID_LEN];
		craft_init(&c, "lt-almere", "vt-flevoland");
		c.case_id = zero;
		craft_and_expect(&c, "lt-almere", KETEN_E_FIELD,
		                 "case_id cannot be used");
	}

	/* A local team may not refer straight to a GI. */
	craft_init(&c, "lt-almere", "gi-save");
	craft_and_expect(&c, "lt-almere", KETEN_E_ROUTE,
	                 "lt-almere -> gi-save");

	/* An auditor can never submit. */
	craft_init(&c, "audit-inspectie", "vt-flevoland");
	craft_and_expect(&c, "audit-inspectie", KETEN_E_FORBIDDEN,
	                 "may not submit");

	/* A message id reused for a different message. */
	craft_init(&c, "lt-almere", "vt-flevoland");
	accepted(&c, "lt-almere");
	c.same_id_as_last = 1;
	c.marker = "different content";
	craft_and_expect(&c, "lt-almere", KETEN_E_ID_REUSED, "new message id");
}

static void
ack_errors(void)
{
	uint8_t *f;
	size_t len;

	/* Record 1 went to vt-flevoland, never to lt-urk. */
	f = craft_request(&len, WIRE_REQ_ACK, 1);
	expect_refusal("lt-urk", f, len, KETEN_E_BAD_ACK, "not addressed");
	free(f);
	f = craft_request(&len, WIRE_REQ_ACK, 1000);
	expect_refusal("vt-flevoland", f, len, KETEN_E_BAD_ACK,
	               "not addressed");
	free(f);
	f = craft_request(&len, WIRE_REQ_ACK, 0);
	expect_refusal("vt-flevoland", f, len, KETEN_E_BAD_ACK, "1 or more");
	free(f);
}

/* Refusals of frames the broker could not decode still reach the call
 * that sent them: the library reports the refusal, not a timeout. */
static void
refusals_reach_the_caller(void)
{
	struct keten_client *c = harness_client(&h, "lt-almere");
	struct keten_referral_content ct = harness_content("too big");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt rc;
	struct keten_error err;
	struct craft cr;
	struct raw r;
	struct reply rep;
	char *notes = malloc((1 << 20) + 100);
	uint8_t *f;
	size_t len;

	memset(notes, 'n', (1 << 20) + 99);
	notes[(1 << 20) + 99] = '\0';
	ct.notes = notes;
	keten_client_set_timeout(c, 5000);
	CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err),
	          KETEN_E_TOO_BIG);
	CHECK_STR_HAS(err.message, "at most 1048576");
	keten_client_destroy(&c);
	free(notes);
	CHECK_INT(harness_head(&h, "lt-almere"), head);

	/* A truncated frame that still starts with its request id. */
	craft_init(&cr, "lt-almere", "vt-flevoland");
	f = craft_submit(&len, &h, &cr);
	raw_connect(&r, &h, "lt-almere");
	CHECK_INT(raw_call1(&r, &rep, f, len - 10, 10000), 0);
	CHECK_INT(rep.error.code, KETEN_E_MALFORMED);
	CHECK_INT(rep.request_id, 7);
	wire_reply_clear(&rep);
	raw_close(&r);
	free(f);
}

/* A transport key not in the region gets past nothing. */
static void
unknown_key(void)
{
	uint8_t pk[32], sk[32], *f;
	struct craft c;
	struct raw r;
	struct reply rep;
	size_t len;

	crypto_box_keypair(pk, sk);
	raw_connect_keys(&r, &h, pk, sk);
	f = craft_request(&len, WIRE_REQ_FETCH, 0);
	CHECK_INT(raw_call1(&r, &rep, f, len, 1500), -1);
	free(f);
	craft_init(&c, "lt-almere", "vt-flevoland");
	f = craft_submit(&len, &h, &c);
	CHECK_INT(raw_call1(&r, &rep, f, len, 1500), -1);
	free(f);
	raw_close(&r);
	CHECK(harness_log_has(&h, "event=auth_refused"));
	CHECK_INT(harness_head(&h, "lt-almere"), head);

	/* The library names the cause. */
	{
		FILE *cf;
		char cfg[400], key[400];
		struct keten_client *cl;
		struct keten_error err;
		struct keten_public_keys pub;
		uint64_t hs;
		snprintf(key, sizeof(key), "%s/rogue.key", h.dir);
		snprintf(cfg, sizeof(cfg), "%s/rogue.yaml", h.dir);
		CHECK_INT(keten_keygen(&pub, key, "lt-rogue", &err), KETEN_OK);
		/* The rogue's own copy of the config lists it; the broker's
		 * does not. */
		cf = fopen(cfg, "w");
		FILE *orig = fopen(h.config, "r");
		char line[512];
		while (fgets(line, sizeof(line), orig))
			fputs(line, cf);
		fclose(orig);
		fprintf(cf,
		        "  - id: lt-rogue\n    name: Rogue\n    kind: "
		        "local_team\n    sign_key: %s\n    box_key: %s\n"
		        "    transport_key: %s\n",
		        pub.sign_key, pub.box_key, pub.transport_key);
		fclose(cf);
		CHECK_INT(keten_client_new(&cl, cfg, key, &err), KETEN_OK);
		keten_client_set_timeout(cl, 3000);
		CHECK_INT(keten_ping(cl, &hs, &err), KETEN_E_CONNECT);
		CHECK_STR_HAS(err.message, "refused lt-rogue's transport key");
		keten_client_destroy(&cl);
	}
}

/* An encoded Request{replay}, which raw.c does not craft; malloc'd. */
static uint8_t *
craft_replay(size_t *len, uint64_t from_seq, uint32_t max_records)
{
	struct request req = {.kind = WIRE_REQ_REPLAY,
	                      .request_id = 9,
	                      .from_seq = from_seq,
	                      .replay_max = max_records};
	uint8_t *out;

	if (wire_request_encode(&out, len, &req) != 0) {
		fprintf(stderr,
		        "test_errors: cannot encode a replay request\n");
		exit(99);
	}
	return out;
}

/* Replays as the auditor; clear rep with wire_reply_clear. */
static void
replay(struct reply *rep, uint64_t from_seq, uint32_t max_records)
{
	struct raw r;
	size_t len;
	uint8_t *f = craft_replay(&len, from_seq, max_records);

	memset(rep, 0, sizeof(*rep));
	raw_connect(&r, &h, "audit-inspectie");
	CHECK_INT(raw_call1(&r, rep, f, len, 10000), 0);
	CHECK_INT(rep->kind, WIRE_REP_REPLAY);
	CHECK_INT(rep->request_id, 9);
	raw_close(&r);
	free(f);
	if (rep->kind != WIRE_REP_REPLAY) { /* the checks above said why */
		wire_reply_clear(rep);
		memset(rep, 0, sizeof(*rep));
	}
}

static void
genesis(uint8_t out[32])
{
	struct config *c;
	struct keten_error err;

	if (config_load(&c, h.config, &err) != KETEN_OK) {
		fprintf(stderr, "test_errors: %s\n", err.message);
		exit(99);
	}
	chain_genesis(out, c->region);
	config_destroy(&c);
}

/* The record hash of seq in hashes, the whole log's hashes in order. */
#define HASH(seq) (hashes + 32 * ((seq)-1))

/* rep's records are the log's records from seq first on: consecutive, each
 * hash recomputed from its fields, each linked to the record before it
 * (to prev for the first, unless prev is NULL), never with content, and
 * each the record hashes holds (unless it is NULL). */
static void
check_records(const struct reply *rep, uint64_t first, const uint8_t *prev,
              const uint8_t *hashes)
{
	for (size_t i = 0; i < rep->replay.n; i++) {
		const struct delivered *d = &rep->replay.records[i];
		struct record r = {.seq = d->seq,
		                   .received_at_us = d->received_at_us,
		                   .envelope = d->envelope,
		                   .envelope_len = d->envelope_len};
		uint8_t hash[32];

		CHECK_INT(d->seq, first + i);
		memcpy(r.prev_hash, d->prev_hash, 32);
		chain_record_hash_of(hash, &r);
		CHECK(memcmp(hash, d->record_hash, 32) == 0);
		if (prev != NULL)
			CHECK(memcmp(d->prev_hash, prev, 32) == 0);
		CHECK_INT(d->sealed_len, 0);
		CHECK(d->envelope_len > 0);
		if (hashes != NULL && d->seq >= 1 && d->seq <= head)
			CHECK(memcmp(d->record_hash, HASH(d->seq), 32) == 0);
		prev = d->record_hash;
	}
}

/* Before any agency message: the log holds only the roster record the
 * start wrote, linked to genesis and signed by the broker; the head is
 * that record, and a replay past it returns nothing. */
static void
replay_roster_only(void)
{
	struct reply rep;
	uint8_t g[32], roster[32] = {0};

	genesis(g);
	for (uint64_t from = 0; from <= 2; from++) {
		replay(&rep, from, 0);
		CHECK_INT(rep.replay.n, from < 2 ? 1 : 0);
		CHECK(!rep.replay.more);
		CHECK_INT(rep.replay.head_seq, 1);
		check_records(&rep, 1, g, NULL);
		if (from == 0 && rep.replay.n == 1) {
			const struct delivered *d = &rep.replay.records[0];
			struct envelope e;
			struct keten_error err;
			memcpy(roster, d->record_hash, 32);
			CHECK_INT(wire_envelope_decode(&e, d->envelope,
			                               d->envelope_len, &err),
			          0);
			CHECK_INT(e.type, KETEN_MSG_ROSTER);
			CHECK(strcmp(e.signer, "broker") == 0);
			wire_envelope_clear(&e);
		}
		CHECK(memcmp(rep.replay.head_hash, roster, 32) == 0);
		wire_reply_clear(&rep);
	}
}

/* Only an auditor replays the log; anyone else is refused, and nothing
 * changes. */
static void
replay_forbidden(void)
{
	static const char *const sentences[][2] = {
	    {"lt-almere", "lt-almere is a local_team and may not replay the "
	                  "log"},
	    {"vt-flevoland", "vt-flevoland is a veilig_thuis and may not "
	                     "replay the log"},
	    {"gi-save", "gi-save is a gi and may not replay the log"},
	    {"raad-midden-nederland", "raad-midden-nederland is a raad and "
	                              "may not replay the log"},
	};
	size_t len;
	uint8_t *f = craft_replay(&len, 1, 10);

	for (size_t i = 0; i < sizeof(sentences) / sizeof(sentences[0]); i++)
		expect_refusal(sentences[i][0], f, len, KETEN_E_FORBIDDEN,
		               sentences[i][1]);
	free(f);
	f = craft_replay(&len, 0, 0);
	expect_refusal("lt-urk", f, len, KETEN_E_FORBIDDEN,
	               "may not replay the log");
	free(f);
	CHECK(harness_log_has(&h, "event=refused agency=lt-urk code=110"));
}

static void
replay_log(void)
{
	struct reply rep, all;
	uint8_t g[32], *hashes;
	uint64_t mid = head / 2 + 1, next;
	struct raw r;
	size_t len, with_content = 0;
	uint8_t *f;

	CHECK(head >= 4);
	genesis(g);
	/* From 0: the whole log, from genesis to the head. */
	replay(&all, 0, 0);
	CHECK_INT(all.replay.n, head);
	CHECK(!all.replay.more);
	CHECK_INT(all.replay.head_seq, head);
	CHECK_INT(all.replay.head_seq, harness_head(&h, "lt-almere"));
	check_records(&all, 1, g, NULL);
	if (all.replay.n != head) {
		wire_reply_clear(&all);
		return;
	}
	CHECK(memcmp(all.replay.head_hash,
	             all.replay.records[head - 1].record_hash, 32) == 0);
	if ((hashes = calloc(head, 32)) == NULL)
		exit(99);
	for (uint64_t i = 0; i < head; i++)
		memcpy(hashes + 32 * i, all.replay.records[i].record_hash, 32);

	/* From 1: the same. Above the limit of 4096: all there is. */
	replay(&rep, 1, 0);
	CHECK_INT(rep.replay.n, head);
	CHECK(!rep.replay.more);
	check_records(&rep, 1, g, hashes);
	wire_reply_clear(&rep);
	replay(&rep, 1, UINT32_MAX);
	CHECK_INT(rep.replay.n, head);
	check_records(&rep, 1, g, hashes);
	wire_reply_clear(&rep);

	/* From the middle: linked into the record before it. */
	replay(&rep, mid, 0);
	CHECK_INT(rep.replay.n, head - mid + 1);
	CHECK(!rep.replay.more);
	CHECK_INT(rep.replay.head_seq, head);
	CHECK(memcmp(rep.replay.head_hash, HASH(head), 32) == 0);
	check_records(&rep, mid, HASH(mid - 1), hashes);
	wire_reply_clear(&rep);

	/* Pages of two, each from the last seq + 1, chain across pages. */
	next = 1;
	for (int pages = 0; next <= head && pages < 100; pages++) {
		replay(&rep, next, 2);
		CHECK_INT(rep.replay.n, next + 1 <= head ? 2 : 1);
		CHECK_INT(rep.replay.more, next + 2 <= head);
		CHECK_INT(rep.replay.head_seq, head);
		check_records(&rep, next, next == 1 ? g : HASH(next - 1),
		              hashes);
		next += rep.replay.n ? rep.replay.n : head;
		wire_reply_clear(&rep);
	}
	CHECK_INT(next, head + 1);

	/* The head alone; then past the head: nothing, and no more. */
	replay(&rep, head, 0);
	CHECK_INT(rep.replay.n, 1);
	CHECK(!rep.replay.more);
	check_records(&rep, head, HASH(head - 1), hashes);
	wire_reply_clear(&rep);
	for (int i = 0; i < 2; i++) {
		replay(&rep, i == 0 ? head + 1 : UINT64_MAX, 0);
		CHECK_INT(rep.replay.n, 0);
		CHECK(!rep.replay.more);
		CHECK_INT(rep.replay.head_seq, head);
		CHECK(memcmp(rep.replay.head_hash, HASH(head), 32) == 0);
		wire_reply_clear(&rep);
	}

	/* The records carry content for their recipient (fetch) but the
	 * replay never does. */
	f = craft_request(&len, WIRE_REQ_FETCH, 0);
	raw_connect(&r, &h, "vt-flevoland");
	memset(&rep, 0, sizeof(rep));
	CHECK_INT(raw_call1(&r, &rep, f, len, 10000), 0);
	CHECK_INT(rep.kind, WIRE_REP_FETCH);
	for (size_t i = 0; rep.kind == WIRE_REP_FETCH && i < rep.fetch.n; i++) {
		const struct delivered *d = &rep.fetch.items[i];
		const struct delivered *a = &all.replay.records[d->seq - 1];
		if (d->sealed_len > 0)
			with_content++;
		CHECK_INT(a->seq, d->seq);
		CHECK_INT(a->sealed_len, 0);
		CHECK_INT(a->envelope_len, d->envelope_len);
		CHECK(a->envelope_len == d->envelope_len &&
		      memcmp(a->envelope, d->envelope, d->envelope_len) == 0);
	}
	CHECK(with_content >= 2);
	wire_reply_clear(&rep);
	raw_close(&r);
	free(f);

	/* The refusals changed nothing: the same log, record for record. */
	replay_forbidden();
	replay(&rep, 0, 0);
	CHECK_INT(rep.replay.n, head);
	CHECK_INT(rep.replay.head_seq, head);
	check_records(&rep, 1, g, hashes);
	wire_reply_clear(&rep);

	if (getenv("KETEN_TEST_LOG_LEVEL") &&
	    strcmp(getenv("KETEN_TEST_LOG_LEVEL"), "debug") == 0)
		CHECK(harness_log_has(&h, "event=replay agency=audit-inspectie "
		                          "from=0 n="));
	free(hashes);
	wire_reply_clear(&all);
}

int
main(void)
{
	/* Debug, for the replay's log line, unless told otherwise. */
	setenv("KETEN_TEST_LOG_LEVEL", "debug", 0);
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	head = harness_head(&h, "lt-almere");
	/* A fresh log: only the roster record of the first start. */
	CHECK_INT(head, 1);
	replay_roster_only();
	{
		struct craft c;
		craft_init(&c, "lt-almere", "vt-flevoland");
		accepted(&c, "lt-almere");
	}
	frame_errors();
	waiting_read_errors();
	envelope_errors();
	ack_errors();
	refusals_reach_the_caller();
	unknown_key();
	/* A few more records to replay, to Veilig Thuis with content. */
	{
		static const char *const from[] = {"lt-lelystad", "lt-zeewolde",
		                                   "lt-urk",
		                                   "lt-noordoostpolder"};
		struct craft c;
		for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
			craft_init(&c, from[i], "vt-flevoland");
			accepted(&c, from[i]);
		}
	}
	replay_log();
	/* Still serving: an honest referral after all that. */
	{
		struct craft c;
		craft_init(&c, "lt-dronten", "vt-flevoland");
		accepted(&c, "lt-dronten");
	}
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
	return check_done("test_errors");
}
