/*
 * Every refusal against a real ketend: each gets its stable code and a
 * sentence, nothing is recorded, and the broker keeps serving. Also: an
 * unknown CURVE key can neither submit nor read.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "../check.h"
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

int
main(void)
{
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	head = harness_head(&h, "lt-almere");
	CHECK_INT(head, 0);
	{
		struct craft c;
		craft_init(&c, "lt-almere", "vt-flevoland");
		accepted(&c, "lt-almere");
	}
	frame_errors();
	envelope_errors();
	ack_errors();
	refusals_reach_the_caller();
	unknown_key();
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
