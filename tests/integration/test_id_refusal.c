/*
 * Ids and what a refusal discloses (PROTOCOL.md 14.1): to an agency that is
 * not a party, a taken case id or message id is refused in the very code and
 * words of a reserved id that was never used; the parties, and a message
 * id's own sender, still get the detail, and a byte-identical retry its
 * receipt. Must never assert on anything but the broker's replies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "harness.h"
#include "raw.h"

static struct harness h;

/* The reply to frame (freed here) sent as agency `as`. */
static struct reply
call(const char *as, uint8_t *frame, size_t len)
{
	struct reply rep;
	struct raw r;

	raw_connect(&r, &h, as);
	CHECK_INT(raw_call1(&r, &rep, frame, len, 10000), 0);
	raw_close(&r);
	free(frame);
	return rep;
}

static struct reply
submit(const struct craft *c, const char *as)
{
	size_t len;
	uint8_t *f = craft_submit(&len, &h, c);

	return call(as, f, len);
}

/* A refusal's code and words, for comparison. */
struct said {
	int code;
	char words[KETEN_ERROR_MAX];
};

static struct said
refused(const struct craft *c, const char *as)
{
	struct reply rep = submit(c, as);
	struct said s = {0, ""};

	CHECK_INT(rep.kind, WIRE_REP_ERROR);
	if (rep.kind == WIRE_REP_ERROR) {
		s.code = (int)rep.error.code;
		snprintf(s.words, sizeof(s.words), "%s", rep.error.message);
	}
	wire_reply_clear(&rep);
	return s;
}

static void
same(const struct said *a, const struct said *b)
{
	CHECK_INT(a->code, b->code);
	CHECK(strcmp(a->words, b->words) == 0);
	if (strcmp(a->words, b->words) != 0)
		fprintf(stderr, "  '%s'\n  '%s'\n", a->words, b->words);
}

int
main(void)
{
	static const uint8_t zero[KETEN_CASE_ID_LEN];
	uint8_t case_id[KETEN_CASE_ID_LEN], msg_id[KETEN_MSG_ID_LEN];
	struct said ref_case, ref_msg, s;
	struct craft c;
	struct reply rep, again;
	uint8_t *f;
	size_t len;

	if (sodium_init() < 0)
		return 99;
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	randombytes_buf(case_id, sizeof(case_id));
	randombytes_buf(msg_id, sizeof(msg_id));

	/* lt-almere opens a case; a retry of the same bytes gets the same
	 * record (10.4). */
	craft_init(&c, "lt-almere", "vt-flevoland");
	c.case_id = case_id;
	c.message_id = msg_id;
	f = craft_submit(&len, &h, &c);
	{
		uint8_t *copy = malloc(len);
		if (copy == NULL)
			return 99;
		memcpy(copy, f, len);
		rep = call("lt-almere", f, len);
		again = call("lt-almere", copy, len);
	}
	CHECK_INT(rep.kind, WIRE_REP_RECEIPT);
	CHECK_INT(again.kind, WIRE_REP_RECEIPT);
	CHECK_INT(again.receipt.seq, rep.receipt.seq);
	CHECK(memcmp(again.receipt.record_hash, rep.receipt.record_hash,
	             KETEN_HASH_LEN) == 0);
	wire_reply_clear(&rep);
	wire_reply_clear(&again);

	/* The references: reserved ids, never used by anyone. */
	craft_init(&c, "lt-urk", "vt-flevoland");
	c.case_id = zero;
	ref_case = refused(&c, "lt-urk");
	CHECK_INT(ref_case.code, KETEN_E_FIELD);
	CHECK_STR_HAS(ref_case.words, "header.case_id cannot be used");
	craft_init(&c, "lt-urk", "vt-flevoland");
	c.message_id = zero;
	ref_msg = refused(&c, "lt-urk");
	CHECK_INT(ref_msg.code, KETEN_E_FIELD);
	CHECK_STR_HAS(ref_msg.words, "header.message_id cannot be used");

	/* lt-urk, no party to the case, reuses its id: the same refusal,
	 * word for word; no record number, no "exists". */
	craft_init(&c, "lt-urk", "vt-flevoland");
	c.case_id = case_id;
	s = refused(&c, "lt-urk");
	same(&s, &ref_case);
	CHECK(strstr(s.words, "record") == NULL);
	/* ...and lt-almere's message id, in a referral of a new case. */
	craft_init(&c, "lt-urk", "vt-flevoland");
	c.message_id = msg_id;
	s = refused(&c, "lt-urk");
	same(&s, &ref_msg);
	CHECK(strstr(s.words, "record") == NULL);
	/* The case's party and the id's sender still get the detail. */
	craft_init(&c, "lt-almere", "vt-flevoland");
	c.case_id = case_id;
	s = refused(&c, "lt-almere");
	CHECK_INT(s.code, KETEN_E_CASE_EXISTS);
	CHECK_STR_HAS(s.words, "already exists (opened at record");
	craft_init(&c, "lt-almere", "vt-flevoland");
	c.message_id = msg_id;
	s = refused(&c, "lt-almere");
	CHECK_INT(s.code, KETEN_E_ID_REUSED);
	CHECK_STR_HAS(s.words, "already recorded as record");

	harness_cleanup(&h);
	return check_done("test_id_refusal");
}
