/*
 * Against a real ketend: every transition of the case state machine
 * (docs/PROTOCOL.md, "Cases") and every forbidden one. Each refusal must
 * carry its code and a sentence naming the rule, and leave the chain head
 * where it was. The state after each step is read back as the auditor.
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <sodium.h>

#include "../check.h"
#include "bytes.h"
#include "case.h"
#include "harness.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"
#include "raw.h"

static struct harness H;
static struct keten_client *
client(const char *id)
{
	return harness_agency(&H, id);
}

static void
drop_clients(void)
{
	harness_drop_clients(&H);
}

static uint8_t *
refer(uint8_t case_id[16], const char *from, const char *to)
{
	struct keten_referral_content ct = harness_content("cases");
	struct keten_referral ref = {
	    .recipient = to, .urgency = KETEN_URGENCY_ROUTINE, .content = &ct};
	struct keten_receipt rc;
	struct keten_error err;

	CHECK_INT(keten_send_referral(&rc, case_id, client(from), &ref, &err),
	          KETEN_OK);
	return case_id;
}

/* The case as the auditor sees it; exits if it is not there. */
static struct keten_case
state(const uint8_t case_id[16])
{
	struct keten_case *all = NULL, found;
	struct keten_error err;
	size_t n = 0;
	int hit = 0;

	memset(&found, 0, sizeof(found));
	CHECK_INT(keten_cases(&all, &n, client("audit-inspectie"), 0, &err),
	          KETEN_OK);
	for (size_t i = 0; i < n; i++)
		if (memcmp(all[i].case_id, case_id, 16) == 0) {
			found = all[i];
			hit++;
		}
	free(all);
	CHECK_INT(hit, 1);
	return found;
}

static void
expect_state(int line, const uint8_t case_id[16], enum keten_case_status status,
             const char *holder, const char *offer_to)
{
	struct keten_case c = state(case_id);

	if (c.status != status || strcmp(c.holder, holder) != 0 ||
	    (offer_to && (!c.has_offer || strcmp(c.offer.to, offer_to))) ||
	    (!offer_to && c.has_offer)) {
		fprintf(stderr,
		        "line %d: case is %s held by %s (offer to %s); "
		        "expected %s held by %s (offer to %s)\n",
		        line, keten_case_status_name(c.status), c.holder,
		        c.has_offer ? c.offer.to : "-",
		        keten_case_status_name(status), holder,
		        offer_to ? offer_to : "-");
		check_failures++;
	}
	check_count++;
}
#define STATE(id, st, holder, to)                                              \
	expect_state(__LINE__, id, KETEN_CASE_##st, holder, to)

/*
 * Sends a step as `from` and expects `code` (KETEN_OK or a refusal whose
 * sentence contains `says`). A refusal must leave the head unchanged.
 */
static void
expect_step(int line, const char *from, struct keten_step *s, int code,
            const char *says)
{
	struct keten_receipt rc;
	struct keten_error err;
	uint64_t before = harness_head(&H, "audit-inspectie");
	int got = keten_send_step(&rc, client(from), s, &err);
	uint64_t after = harness_head(&H, "audit-inspectie");

	check_count++;
	if (got != code) {
		fprintf(stderr,
		        "line %d: %s %s by %s: got %d (%s), expected %d\n",
		        line, keten_message_type_name(s->type),
		        s->recipient ? s->recipient : "(resolved)", from, got,
		        got ? err.message : "recorded", code);
		check_failures++;
		return;
	}
	if (code == KETEN_OK) {
		CHECK_INT(after, before + 1);
		CHECK_INT(rc.seq, after);
		return;
	}
	CHECK_INT(after, before); /* nothing recorded */
	if (says)
		CHECK_STR_HAS(err.message, says);
}

static struct keten_step
mk(enum keten_message_type type, const uint8_t case_id[16], const char *to)
{
	static const struct keten_dossier dossier = {
	    .known = "what is known", .safety_conditions = "conditions"};
	struct keten_step s = {.type = type, .recipient = to};

	memcpy(s.case_id, case_id, 16);
	s.urgency = KETEN_URGENCY_URGENT;
	s.dossier = &dossier;
	s.reason = KETEN_DECLINE_NO_CAPACITY;
	s.outcome = KETEN_OUTCOME_COMPLETED;
	if (type == KETEN_MSG_INFO_REQUEST || type == KETEN_MSG_INFO_REPLY ||
	    type == KETEN_MSG_FEEDBACK)
		s.note = "a note";
	return s;
}

#define OK(from, type, id, to)                                                 \
	do {                                                                   \
		struct keten_step s_ = mk(KETEN_MSG_##type, id, to);           \
		expect_step(__LINE__, from, &s_, KETEN_OK, NULL);              \
	} while (0)
#define NO(from, type, id, to, code, says)                                     \
	do {                                                                   \
		struct keten_step s_ = mk(KETEN_MSG_##type, id, to);           \
		expect_step(__LINE__, from, &s_, KETEN_E_##code, says);        \
	} while (0)
/* With an explicit offer_id (NULL pointer means: a random one). */
#define NO_OFFER_ID(from, type, id, to, offer, code, says)                     \
	do {                                                                   \
		struct keten_step s_ = mk(KETEN_MSG_##type, id, to);           \
		uint8_t rnd_[16];                                              \
		randombytes_buf(rnd_, 16);                                     \
		const uint8_t *o_ = (offer);                                   \
		s_.offer_id = o_ ? o_ : rnd_;                                  \
		expect_step(__LINE__, from, &s_, KETEN_E_##code, says);        \
	} while (0)

#define LT  "lt-almere"
#define LT2 "lt-lelystad"
#define VT  "vt-flevoland"
#define GI  "gi-save"
#define RD  "raad-midden-nederland"

/* The open offer's message id, as the broker reports it. */
static void
offer_of(uint8_t out[16], const uint8_t case_id[16])
{
	struct keten_case c = state(case_id);

	CHECK(c.has_offer);
	memcpy(out, c.offer.message_id, 16);
}

static void
allowed_transitions(void)
{
	uint8_t id[16], old_offer[16];
	struct keten_case c;

	refer(id, LT, VT);
	STATE(id, OFFERED, LT, VT); /* the sender holds until accepted */
	c = state(id);
	CHECK_INT(c.offer.type, KETEN_MSG_REFERRAL);
	CHECK_INT(c.offer.acknowledged_at_us, 0);
	OK(VT, ACKNOWLEDGE, id, NULL);
	c = state(id);
	CHECK(c.offer.acknowledged_at_us >= c.offer.offered_at_us);
	CHECK(c.offer.decide_due_us > c.offer.acknowledged_at_us);
	OK(VT, INFO_REQUEST, id, NULL);
	OK(LT, INFO_REPLY, id, NULL);
	c = state(id);
	CHECK_INT(c.offer.questions, 1);
	STATE(id, OFFERED, LT, VT);
	OK(VT, ACCEPT, id, NULL);
	STATE(id, HELD, VT, NULL);
	c = state(id);
	CHECK_INT(c.n_parties, 2);
	CHECK(strcmp(c.parties[0].agency, LT) == 0 && c.parties[0].referred);
	CHECK(strcmp(c.parties[1].agency, VT) == 0 && !c.parties[1].referred);

	OK(VT, FEEDBACK, id, LT); /* terugkoppeling aan melder */
	STATE(id, HELD, VT, NULL);
	OK(VT, HANDOVER, id, GI);
	STATE(id, OFFERED, VT, GI);
	OK(VT, FEEDBACK, id, LT); /* feedback while an offer is open */
	offer_of(old_offer, id);
	OK(VT, WITHDRAW, id, NULL);
	STATE(id, HELD, VT, NULL);
	/* An answer naming the withdrawn offer is stale even once a new
	 * offer to the same agency is open. */
	OK(VT, HANDOVER, id, GI);
	NO_OFFER_ID(GI, ACCEPT, id, VT, old_offer, NO_OFFER, "offer_id");
	OK(GI, DECLINE, id, NULL);
	STATE(id, HELD, VT, NULL); /* back to the holder, never a void */
	OK(VT, HANDOVER, id, GI);
	OK(GI, ACKNOWLEDGE, id, NULL);
	OK(GI, ACCEPT, id, NULL);
	STATE(id, HELD, GI, NULL);
	OK(GI, FEEDBACK, id, VT);
	OK(GI, FEEDBACK, id, LT);
	OK(GI, HANDOVER, id, RD);
	OK(RD, DECLINE, id, NULL);
	STATE(id, HELD, GI, NULL);
	OK(GI, HANDOVER, id, RD);
	OK(RD, ACCEPT, id, NULL);
	STATE(id, HELD, RD, NULL);
	OK(RD, HANDOVER, id, GI); /* back down the chain */
	OK(GI, ACCEPT, id, NULL);
	STATE(id, HELD, GI, NULL);
	OK(GI, CLOSE, id, NULL);
	STATE(id, CLOSED, GI, NULL);
	c = state(id);
	CHECK_INT(c.outcome, KETEN_OUTCOME_COMPLETED);

	/* The close reached every other party's inbox, and not the
	 * closer's; an outsider's inbox has nothing of this case. */
	{
		const char *parties[] = {LT, VT, RD};
		struct keten_inbox *in;
		struct keten_error err;

		for (size_t i = 0; i < 3; i++) {
			int closes = 0;
			CHECK_INT(
			    keten_fetch(&in, client(parties[i]), 1024, &err),
			    KETEN_OK);
			for (size_t k = 0; k < in->n; k++)
				if (in->messages[k].type == KETEN_MSG_CLOSE &&
				    memcmp(in->messages[k].case_id, id, 16) ==
				        0) {
					closes++;
					CHECK_INT(in->messages[k].status,
					          KETEN_OK);
					CHECK_INT(in->messages[k].outcome,
					          KETEN_OUTCOME_COMPLETED);
				}
			CHECK_INT(closes, 1);
			keten_inbox_free(&in);
		}
		CHECK_INT(keten_fetch(&in, client(LT2), 1024, &err), KETEN_OK);
		for (size_t k = 0; k < in->n; k++)
			CHECK(memcmp(in->messages[k].case_id, id, 16) != 0);
		keten_inbox_free(&in);
	}

	/* The history, verified by the library, ends where the broker
	 * says, and one agency never part of it cannot read it. */
	{
		struct keten_case_history *hist;
		struct keten_error err;

		CHECK_INT(keten_case_history(&hist, client(LT), id, &err),
		          KETEN_OK);
		CHECK_INT(hist->n, c.messages);
		CHECK_INT(hist->events[0].type, KETEN_MSG_REFERRAL);
		CHECK(strcmp(hist->events[0].holder, LT) == 0);
		CHECK_INT(hist->events[hist->n - 1].type, KETEN_MSG_CLOSE);
		CHECK(strcmp(hist->events[hist->n - 1].holder, GI) == 0);
		for (size_t i = 1; i < hist->n; i++)
			CHECK(hist->events[i].seq > hist->events[i - 1].seq);
		keten_case_history_free(&hist);
		CHECK_INT(keten_case_history(&hist, client(LT2), id, &err),
		          KETEN_E_CASE_UNKNOWN);
		CHECK(hist == NULL || 1);
	}
}

static void
forbidden_transitions(void)
{
	uint8_t id[16], other[16], rnd[16], offer[16];
	struct keten_error err;

	randombytes_buf(rnd, 16);
	/* No case yet: only a referral opens one. */
	NO_OFFER_ID(VT, ACCEPT, rnd, LT, NULL, CASE_UNKNOWN, "no such case");
	NO(VT, HANDOVER, rnd, GI, CASE_UNKNOWN, "opened by a referral");
	NO(LT, FEEDBACK, rnd, VT, CASE_UNKNOWN, "no such case");

	refer(id, LT, VT);
	/* Routes are by kind. */
	{
		uint8_t x[16];
		struct keten_referral_content ct = harness_content("route");
		struct keten_referral ref = {.recipient = GI,
		                             .urgency = KETEN_URGENCY_ROUTINE,
		                             .content = &ct};
		struct keten_receipt rc;
		CHECK_INT(keten_send_referral(&rc, x, client(LT), &ref, &err),
		          KETEN_E_ROUTE);
		CHECK_STR_HAS(err.message, "may not send a referral");
	}
	/* Answers only from the offer's recipient, about the open offer,
	 * to the holder. */
	offer_of(offer, id);
	/* An agency not part of the case learns nothing of it, not even
	 * who holds it: the answer is the one for no case at all. */
	NO_OFFER_ID(LT2, ACCEPT, id, LT, offer, CASE_UNKNOWN,
	            "lt-lelystad is not a party to it");
	NO_OFFER_ID(GI, ACKNOWLEDGE, id, LT, offer, CASE_UNKNOWN,
	            "is unknown to gi-save");
	NO(GI, HANDOVER, id, RD, CASE_UNKNOWN, "no such case");
	NO(LT, DECLINE, id, VT, NOT_OFFEREE, "only vt-flevoland may answer");
	NO_OFFER_ID(VT, ACCEPT, id, LT, NULL, NO_OFFER, "offer_id");
	NO(VT, ACCEPT, id, LT2, WRONG_PARTY, "goes to lt-almere");
	/* One open offer; the holder's own steps. */
	NO(LT, HANDOVER, id, VT, OFFER_OPEN, "already has an open referral");
	NO(LT, CLOSE, id, NULL, OFFER_OPEN, "withdraw it before closing");
	NO(VT, WITHDRAW, id, LT, NOT_HOLDER, "held by lt-almere");
	NO(VT, INFO_REPLY, id, LT, NOT_HOLDER, "only the holder");
	NO(LT, INFO_REPLY, id, LT2, WRONG_PARTY, "open offer's recipient");
	NO(LT, FEEDBACK, id, VT, WRONG_PARTY, "never referred");
	OK(VT, ACKNOWLEDGE, id, NULL);
	NO(VT, ACKNOWLEDGE, id, NULL, ACKNOWLEDGED, "already acknowledged");
	OK(VT, ACCEPT, id, NULL);
	/* Held by Veilig Thuis now: the old holder may do nothing of the
	 * holder's any more. */
	NO(LT, HANDOVER, id, VT, NOT_HOLDER, "held by vt-flevoland");
	NO(LT, CLOSE, id, NULL, NOT_HOLDER, "only the holder");
	NO(LT, FEEDBACK, id, VT, NOT_HOLDER, "only the holder");
	/* No open offer to answer or withdraw. */
	NO(VT, ACCEPT, id, LT, NO_OFFER, "no open offer");
	NO(LT, ACCEPT, id, VT, NO_OFFER, "no open offer");
	NO(VT, WITHDRAW, id, GI, NO_OFFER, "no open offer");
	/* Not to itself, only along routes, feedback only to referrers. */
	NO(VT, HANDOVER, id, VT, ROUTE, NULL); /* vt -> vt: no route */
	NO(VT, FEEDBACK, id, VT, WRONG_PARTY, "to itself");
	NO(VT, HANDOVER, id, RD, ROUTE,
	   "veilig_thuis may not send a "
	   "handover to a raad");
	NO(VT, FEEDBACK, id, GI, WRONG_PARTY, "gi-save never referred");
	NO(VT, HANDOVER, id, "nobody-here", RECIPIENT,
	   "'nobody-here' has never been a member of region testregion");
	/* A referral may not reuse a case id; to a non-party the refusal
	 * is a reserved id's (test_id_refusal.c): no "exists", no record. */
	{
		struct raw r;
		struct craft cr;
		struct reply rep;
		uint8_t *frame;
		size_t len;

		craft_init(&cr, LT2, VT);
		cr.case_id = id;
		frame = craft_submit(&len, &H, &cr);
		raw_connect(&r, &H, LT2);
		CHECK_INT(raw_call1(&r, &rep, frame, len, 5000), 0);
		CHECK_INT(rep.kind, WIRE_REP_ERROR);
		CHECK_INT(rep.error.code, KETEN_E_FIELD);
		CHECK_STR_HAS(rep.error.message, "case_id cannot be used");
		wire_reply_clear(&rep);
		raw_close(&r);
		free(frame);
	}
	/* Nothing follows a close. */
	OK(VT, CLOSE, id, NULL);
	NO(VT, HANDOVER, id, GI, CASE_CLOSED, "nothing may follow a close");
	NO(VT, FEEDBACK, id, LT, CASE_CLOSED, NULL);
	NO(VT, CLOSE, id, NULL, CASE_CLOSED, NULL);
	NO_OFFER_ID(LT, ACCEPT, id, VT, NULL, CASE_CLOSED, NULL);
	/* A close carries no recipient: the library refuses to build one. */
	{
		struct keten_step s = mk(KETEN_MSG_CLOSE, id, LT);
		struct keten_receipt rc;
		CHECK_INT(keten_send_step(&rc, client(VT), &s, &err),
		          KETEN_E_USAGE);
	}
	/* A case no agency is party to stays invisible to it. */
	refer(other, LT2, VT);
	{
		struct keten_case *all;
		size_t n;
		CHECK_INT(keten_cases(&all, &n, client(LT), 0, &err), KETEN_OK);
		for (size_t i = 0; i < n; i++)
			CHECK(memcmp(all[i].case_id, other, 16) != 0);
		free(all);
	}
}

/* 16 agencies in one case at most: the 17th cannot be offered it. */
static void
case_full(void)
{
	static char names[18][32];
	const char *ag[19];
	uint8_t id[16];
	char prev[16];

	/* Local teams and Veilig Thuis offices alternate: lt -> vt and
	 * vt -> lt are both default routes. */
	for (int i = 0; i < 18; i++) {
		snprintf(names[i], sizeof(names[i]), "%s-%02d:%s",
		         i % 2 ? "vt" : "lt", i,
		         i % 2 ? "veilig_thuis" : "local_team");
		ag[i] = names[i];
	}
	ag[18] = "audit-inspectie:auditor";
	drop_clients();
	harness_region(&H, ag, 19, NULL);
	harness_start(&H);
	refer(id, "lt-00", "vt-01");
	OK("vt-01", ACCEPT, id, NULL);
	strcpy(prev, "vt-01");
	for (int i = 2; i < 16; i++) {
		char to[16];
		snprintf(to, sizeof(to), "%s-%02d", i % 2 ? "vt" : "lt", i);
		OK(prev, HANDOVER, id, to);
		OK(to, ACCEPT, id, NULL);
		strcpy(prev, to);
	}
	STATE(id, HELD, "vt-15", NULL); /* 16 parties: lt-00 .. vt-15 */
	NO("vt-15", HANDOVER, id, "lt-16", CASE_FULL, "16 agencies");
	/* An agency already in the case can still be offered it. */
	OK("vt-15", HANDOVER, id, "lt-00");
	CHECK_INT(harness_stop(&H), 0);
	drop_clients();
	harness_cleanup(&H);
}

/* A data directory from before the case rules has a log and no case
 * databases: the broker rebuilds them from the log when it starts. Made
 * here by dropping them (and the schema mark) from a stopped broker's
 * directory. */
static void
forget_cases(const char *data)
{
	const char *dbs[] = {LAYOUT_DB_CASES, LAYOUT_DB_CASEIDX,
	                     LAYOUT_DB_CASELOG};
	struct lmdb_edit e;
	MDB_val k = LAYOUT_KEY(LAYOUT_META_SCHEMA);

	lmdb_edit_begin(&e, data, 0, 1UL << 30, 0);
	for (size_t i = 0; i < 3; i++)
		CHECK_INT(mdb_drop(e.txn, lmdb_edit_db(&e, dbs[i]), 1), 0);
	CHECK_INT(mdb_del(e.txn, lmdb_edit_db(&e, LAYOUT_DB_META), &k, NULL),
	          0);
	lmdb_edit_commit(&e);
}

static void
upgrade(void)
{
	uint8_t a[16], b[16];
	struct keten_case *all;
	struct keten_error err;
	size_t n = 9;
	uint64_t head;
	char rebuilt[64];

	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	head = harness_first_seq(&H) + 2; /* after the roster record */
	refer(a, LT, VT);
	OK(VT, ACCEPT, a, NULL);
	refer(b, LT2, VT);
	CHECK_INT(harness_head(&H, LT), head);
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	forget_cases(H.data);
	harness_start(&H);
	/* Rebuilt over the whole log, the roster record too; the roster
	 * is found in the log, so the same config records nothing. */
	snprintf(rebuilt, sizeof(rebuilt), "event=cases_rebuilt records=%llu",
	         (unsigned long long)head);
	CHECK(harness_log_has(&H, rebuilt));
	CHECK_INT(harness_head(&H, H.ids[0]),
	          head); /* no second roster record */
	STATE(a, HELD, VT, NULL);
	STATE(b, OFFERED, LT2, VT);
	CHECK_INT(keten_cases(&all, &n, client(LT2), 0, &err), KETEN_OK);
	CHECK_INT(n, 1);
	free(all);
	/* The rebuilt state is enforced: no second accept. */
	NO(VT, ACCEPT, a, LT, NO_OFFER, "no open offer");
	OK(VT, ACCEPT, b, NULL);
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	/* Rebuilt once: a second start finds the schema mark (a rebuild
	 * over the stored states would refuse to start). */
	harness_start(&H);
	STATE(b, HELD, VT, NULL);
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	harness_cleanup(&H);
}

#define AUDITOR "audit-inspectie"

/* How many lines of the broker's log contain s. */
static int
log_count(const char *s)
{
	FILE *f = fopen(H.log, "r");
	char line[2048];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

/* How many lines of the broker's log contain s followed by n. */
static int
log_count_n(const char *s, uint64_t n)
{
	char line[128];

	snprintf(line, sizeof(line), "%s%llu", s, (unsigned long long)n);
	return log_count(line);
}

/* A referral opening the case the test names (refer() gets a random id),
 * so that opening order and case id order can be made to differ. */
/* Submits frame as agency `as`; the receipt in *rc. */
static void
submit_frame(struct receipt *rc, const char *as, const uint8_t *frame,
             size_t len)
{
	struct raw r;
	struct reply rep;

	memset(&rep, 0, sizeof(rep));
	raw_connect(&r, &H, as);
	CHECK_INT(raw_call1(&r, &rep, frame, len, 5000), 0);
	CHECK_INT(rep.kind, WIRE_REP_RECEIPT);
	if (rep.kind == WIRE_REP_ERROR)
		fprintf(stderr, "submit as %s: %d %s\n", as, rep.error.code,
		        rep.error.message ? rep.error.message : "");
	*rc = rep.receipt;
	wire_reply_clear(&rep);
	raw_close(&r);
}

/* A referral opening case_id; its frame in *keep (malloc'd) and receipt
 * in *rc if keep is not NULL. */
static void
refer_keep(const uint8_t case_id[16], const char *from, const char *to,
           uint8_t **keep, size_t *keep_len, struct receipt *rc)
{
	struct craft cr;
	struct receipt tmp;
	uint8_t *frame;
	size_t len;

	craft_init(&cr, from, to);
	cr.case_id = case_id;
	frame = craft_submit(&len, &H, &cr);
	submit_frame(rc ? rc : &tmp, from, frame, len);
	if (keep != NULL) {
		*keep = frame;
		*keep_len = len;
	} else {
		free(frame);
	}
}

static void
refer_id(const uint8_t case_id[16], const char *from, const char *to)
{
	refer_keep(case_id, from, to, NULL, NULL, NULL);
}

/*
 * One cases request over r as keten_cases makes it, but with the `after`
 * (NULL: none) and max_cases the test chooses: libketen has no way to
 * ask for either. The reply in rep (zeroed if none came).
 */
static void
cases_call(struct raw *r, struct reply *rep, const uint8_t *after, uint32_t max)
{
	struct request req = {
	    .kind = WIRE_REQ_CASES, .request_id = 11, .cases_max = max};
	uint8_t *frame = NULL;
	size_t len = 0;

	memset(rep, 0, sizeof(*rep));
	if (after) {
		req.has_case_id = true;
		memcpy(req.case_id, after, 16);
	}
	CHECK_INT(wire_request_encode(&frame, &len, &req), 0);
	CHECK_INT(raw_call1(r, rep, frame, len, 5000), 0);
	free(frame);
}

/* A listing for `as` continuing after case `after`: the error code (0 if
 * a page came), its sentence in msg. */
static int
cases_after(char msg[512], const char *as, const uint8_t after[16])
{
	struct raw r;
	struct reply rep;
	int code = -1;

	msg[0] = '\0';
	raw_connect(&r, &H, as);
	cases_call(&r, &rep, after, 0);
	if (rep.kind == WIRE_REP_CASES)
		code = 0;
	else if (rep.kind == WIRE_REP_ERROR) {
		code = rep.error.code;
		snprintf(msg, 512, "%s", rep.error.message);
	}
	wire_reply_clear(&rep);
	raw_close(&r);
	return code;
}

/*
 * Every case `as` may see, read over the wire in pages of max: each page
 * continues after the last case of the one before, is full when `more`
 * says another follows, and the last one ends the list. It must be the
 * list keten_cases gives (in the broker's pages of 256), case for case.
 */
static void
expect_paged(int line, const char *as, uint32_t max)
{
	struct keten_case *all = NULL;
	struct keten_error err;
	struct raw r;
	struct reply rep;
	uint8_t after[16];
	size_t n = 0, got = 0, pages = 0;
	const char *bad = NULL;
	bool more = true;

	CHECK_INT(keten_cases(&all, &n, client(as), 0, &err), KETEN_OK);
	raw_connect(&r, &H, as);
	while (more && bad == NULL) {
		cases_call(&r, &rep, pages ? after : NULL, max);
		pages++;
		if (rep.kind != WIRE_REP_CASES) {
			bad = "a page was refused";
			wire_reply_clear(&rep);
			break;
		}
		for (size_t i = 0; i < rep.cases.n && bad == NULL; i++, got++) {
			const struct case_state *st = &rep.cases.items[i].st;
			if (got >= n)
				bad = "more cases than keten_cases lists";
			else if (memcmp(st->id, all[got].case_id, 16) != 0 ||
			         st->opened_seq != all[got].opened_seq)
				bad = "not keten_cases' case at this place";
		}
		more = rep.cases.more;
		if (bad == NULL && rep.cases.n > max)
			bad = "a page longer than max_cases";
		else if (bad == NULL && more && rep.cases.n != max)
			bad = "more after a page that is not full";
		else if (bad == NULL && !more && got != n)
			bad = "no more before the last case";
		if (rep.cases.n > 0)
			memcpy(after, rep.cases.items[rep.cases.n - 1].st.id,
			       16);
		wire_reply_clear(&rep);
	}
	raw_close(&r);
	free(all);
	check_count++;
	if (bad) {
		fprintf(stderr,
		        "line %d: %s's cases in pages of %u: %s (page %zu, "
		        "%zu of %zu cases)\n",
		        line, as, max, bad, pages, got, n);
		check_failures++;
	}
}
#define PAGED(as, max) expect_paged(__LINE__, as, max)

static int
by_id(const void *x, const void *y)
{
	return memcmp(x, y, 16);
}

/*
 * More cases than a page holds, opened by several agencies in turn. Every
 * listing is complete, in opening order, each case once, whatever the
 * page size; a listing continues only after a case its agency may see.
 */
static void
paging(void)
{
	enum { FILL = 300, MORE = 5, TOTAL = FILL + 2 * MORE };
	const char *agencies[] = {LT, LT2, VT, GI};
	const size_t sizes[] = {FILL + MORE, MORE, TOTAL, 0};
	static uint8_t sorted[TOTAL][16];
	uint8_t other[16], mine[16], rnd[16];
	struct keten_case *all = NULL, *list;
	struct keten_error err;
	struct raw r;
	struct reply rep;
	char unknown[512], hidden[512], msg[512];
	size_t n = 0, m = 0;
	uint64_t first;
	int bad = 0;

	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	first = harness_first_seq(&H); /* after the roster record */
	randombytes_buf(rnd, 16);
	harness_fill(&H, FILL, "paging"); /* seq first .. first + FILL - 1 */
	for (int i = 0; i < MORE; i++) {
		refer(other, LT2, VT);
		refer(mine, LT, VT);
	}
	CHECK_INT(harness_head(&H, AUDITOR), first - 1 + TOTAL);

	/* Every message opened a case: the auditor's list is seq first ..
	 * first + TOTAL - 1, in that order (keten_cases reads it in pages of
	 * 256). */
	CHECK_INT(keten_cases(&all, &n, client(AUDITOR), 0, &err), KETEN_OK);
	CHECK_INT(n, TOTAL);
	if (n > TOTAL)
		n = TOTAL; /* already failed */
	for (size_t i = 0; i < n; i++) {
		bad += all[i].opened_seq != first + i;
		memcpy(sorted[i], all[i].case_id, 16);
	}
	qsort(sorted, n, 16, by_id);
	for (size_t i = 1; i < n; i++)
		bad += memcmp(sorted[i - 1], sorted[i], 16) == 0;
	CHECK_INT(bad, 0);
	/* Each agency's: the auditor's, less the cases it is not party to. */
	for (size_t a = 0; a < sizeof(agencies) / sizeof(agencies[0]); a++) {
		size_t k = 0;
		bad = 0;
		list = NULL;
		m = 0;
		CHECK_INT(keten_cases(&list, &m, client(agencies[a]), 0, &err),
		          KETEN_OK);
		CHECK_INT(m, sizes[a]);
		for (size_t i = 0; i < n; i++) {
			bool party = false;
			for (size_t p = 0; p < all[i].n_parties; p++)
				party |= strcmp(all[i].parties[p].agency,
				                agencies[a]) == 0;
			if (!party)
				continue;
			bad += k >= m ||
			       memcmp(list[k].case_id, all[i].case_id, 16) != 0;
			k++;
		}
		CHECK_INT(bad, 0);
		CHECK_INT(k, m);
		free(list);
	}

	/* The same lists in pages of any size. */
	PAGED(AUDITOR, 7);
	PAGED(AUDITOR, 1000);
	PAGED(LT, 7);
	PAGED(LT2, 2);
	PAGED(LT2, 5);
	PAGED(VT, 64);
	PAGED(GI, 3);
	raw_connect(&r, &H, AUDITOR);
	cases_call(&r, &rep, NULL, 0); /* 0: the broker's page of 256 */
	CHECK_INT(rep.kind, WIRE_REP_CASES);
	CHECK_INT(rep.cases.n, 256);
	CHECK(rep.cases.more);
	wire_reply_clear(&rep);
	/* After the last case: an empty page. */
	cases_call(&r, &rep, n ? all[n - 1].case_id : rnd, 0);
	CHECK_INT(rep.kind, WIRE_REP_CASES);
	CHECK_INT(rep.cases.n, 0);
	CHECK(!rep.cases.more);
	wire_reply_clear(&rep);
	raw_close(&r);

	/* A case to continue after that does not exist, and one the agency
	 * is not a party to, get the same answer, but for the case id. */
	CHECK_INT(cases_after(unknown, LT, rnd), KETEN_E_CASE_UNKNOWN);
	CHECK_INT(cases_after(hidden, LT, other), KETEN_E_CASE_UNKNOWN);
	CHECK_STR_HAS(unknown, "to continue after is unknown");
	CHECK_STR_HAS(hidden, "lt-almere is not a party to it");
	CHECK(strncmp(unknown, "case ", 5) == 0 &&
	      strncmp(hidden, "case ", 5) == 0 &&
	      strcmp(unknown + 37, hidden + 37) == 0); /* past the hex id */
	CHECK_INT(cases_after(msg, GI, mine), KETEN_E_CASE_UNKNOWN);
	CHECK_INT(cases_after(msg, AUDITOR, rnd), KETEN_E_CASE_UNKNOWN);
	CHECK_STR_HAS(msg, "to continue after is unknown");
	/* Its parties and the auditor may continue after it. */
	CHECK_INT(cases_after(msg, LT2, other), 0);
	CHECK_INT(cases_after(msg, VT, other), 0);
	CHECK_INT(cases_after(msg, AUDITOR, other), 0);
	CHECK_INT(cases_after(msg, LT, mine), 0);
	free(all);
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	harness_cleanup(&H);
}

/* The fields of two summaries of one case agree. */
static void
expect_same(int line, const struct keten_case *x, const struct keten_case *y)
{
	bool same =
	    memcmp(x->case_id, y->case_id, 16) == 0 && x->status == y->status &&
	    strcmp(x->holder, y->holder) == 0 &&
	    x->opened_seq == y->opened_seq && x->last_seq == y->last_seq &&
	    x->opened_at_us == y->opened_at_us &&
	    x->updated_at_us == y->updated_at_us &&
	    x->messages == y->messages && x->outcome == y->outcome &&
	    x->has_offer == y->has_offer && x->n_parties == y->n_parties;

	for (size_t i = 0; same && i < x->n_parties; i++)
		same =
		    strcmp(x->parties[i].agency, y->parties[i].agency) == 0 &&
		    x->parties[i].referred == y->parties[i].referred;
	if (same && x->has_offer)
		same =
		    memcmp(x->offer.message_id, y->offer.message_id, 16) == 0 &&
		    x->offer.seq == y->offer.seq &&
		    x->offer.type == y->offer.type &&
		    strcmp(x->offer.from, y->offer.from) == 0 &&
		    strcmp(x->offer.to, y->offer.to) == 0 &&
		    x->offer.offered_at_us == y->offer.offered_at_us &&
		    x->offer.acknowledged_at_us ==
		        y->offer.acknowledged_at_us &&
		    x->offer.respond_by_us == y->offer.respond_by_us &&
		    x->offer.questions == y->offer.questions;
	check_count++;
	if (!same) {
		fprintf(stderr, "line %d: case opened at %llu changed\n", line,
		        (unsigned long long)x->opened_seq);
		check_failures++;
	}
}

/* The upgrade test's cases, 'a' to 'e' in the order they are opened. */
static uint8_t ids[5][16];

/* `as` lists exactly the cases named (letters, in that order). */
static void
expect_list(int line, const char *as, const char *which)
{
	struct keten_case *all = NULL;
	struct keten_error err;
	size_t n = 0;
	bool same;

	CHECK_INT(keten_cases(&all, &n, client(as), 0, &err), KETEN_OK);
	same = n == strlen(which);
	for (size_t i = 0; same && i < n; i++)
		same = memcmp(all[i].case_id, ids[which[i] - 'a'], 16) == 0 &&
		       (i == 0 || all[i].opened_seq > all[i - 1].opened_seq);
	free(all);
	check_count++;
	if (!same) {
		fprintf(stderr, "line %d: %s does not list cases \"%s\"\n",
		        line, as, which);
		check_failures++;
	}
}
#define LIST(as, which) expect_list(__LINE__, as, which)

/* The case databases rekey turns back to schema 3. */
enum v3_db { V3_CASES, V3_CASEIDX, V3_CASELOG };

/*
 * Re-keys every entry of dbi, the case database `which`, from its schema
 * 4 key to its schema 3 one (ledger_layout.h): the case number becomes
 * the id of the case of that number, the case ids[i] opened at seq
 * opened[i].
 */
static void
rekey(MDB_txn *txn, MDB_dbi dbi, enum v3_db which, const uint64_t *opened,
      size_t n)
{
	static struct {
		uint8_t key[LAYOUT_V3_CASEIDX_KEY_MAX], val[CASE_ENCODED_MAX];
		MDB_val k;
		size_t vlen;
	} e[64];
	_Static_assert(LAYOUT_V3_CASEIDX_KEY_MAX >= LAYOUT_V3_CASELOG_KEY_LEN,
	               "a schema 3 caselog key must fit the key buffer");
	MDB_cursor *cur;
	MDB_val k, v;
	size_t ne = 0;
	int rc;

	CHECK_INT(mdb_cursor_open(txn, dbi, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char agency[KETEN_ID_MAX + 1];
		uint64_t no = 0, seq = 0;
		size_t i = 0;
		int bad = which == V3_CASES ? layout_be64_parse(&k, &no)
		          : which == V3_CASEIDX
		              ? layout_caseidx_parse(&k, agency, &no)
		              : layout_caselog_parse(&k, &no, &seq);
		CHECK(ne < 64 && bad == 0 && v.mv_size <= sizeof(e->val));
		if (ne == 64 || bad != 0 || v.mv_size > sizeof(e->val))
			break;
		while (i < n && opened[i] != no)
			i++;
		CHECK(i < n); /* the number of a case the test opened */
		if (i == n)
			continue;
		e[ne].k = which == V3_CASES ? layout_v3_cases_key(ids[i])
		          : which == V3_CASEIDX
		              ? layout_v3_caseidx_key(e[ne].key, agency, ids[i])
		              : layout_v3_caselog_key(e[ne].key, ids[i], seq);
		memcpy(e[ne].val, v.mv_data, v.mv_size);
		e[ne].vlen = v.mv_size;
		ne++;
	}
	mdb_cursor_close(cur);
	CHECK_INT(mdb_drop(txn, dbi, 0), 0);
	for (size_t i = 0; i < ne; i++) {
		v = layout_val(e[i].val, e[i].vlen);
		CHECK_INT(mdb_put(txn, dbi, &e[i].k, &v, MDB_NOOVERWRITE), 0);
	}
}

/*
 * A data directory of schema 3 keyed the case databases by case id:
 * cases (id -> state), caseidx (agency, NUL, id -> ""), caselog (id,
 * be64 seq -> "") and had no caseno. Made here from a stopped broker's
 * schema 4 directory holding the n cases ids[i] opened at opened[i], with
 * n_idx parties in all and n_log records, after checking the schema 4
 * layout (docs/PROTOCOL.md 13.2) against them.
 */
static void
to_schema3(const char *data, const uint64_t *opened, size_t n, size_t n_idx,
           size_t n_log)
{
	struct lmdb_edit e;
	MDB_txn *txn;
	MDB_dbi caseno, cases, caseidx, caselog, meta, msgid;
	MDB_cursor *cur;
	MDB_val k = LAYOUT_KEY(LAYOUT_META_SCHEMA), v;
	MDB_stat ms;
	uint8_t no[LAYOUT_SEQ_KEY_LEN], three = 3;

	lmdb_edit_begin(&e, data, 0, 1UL << 30, 0);
	txn = e.txn;
	caseno = lmdb_edit_db(&e, LAYOUT_DB_CASENO);
	cases = lmdb_edit_db(&e, LAYOUT_DB_CASES);
	caseidx = lmdb_edit_db(&e, LAYOUT_DB_CASEIDX);
	caselog = lmdb_edit_db(&e, LAYOUT_DB_CASELOG);
	meta = lmdb_edit_db(&e, LAYOUT_DB_META);
	msgid = lmdb_edit_db(&e, LAYOUT_DB_MSGID);

	/* Schema 4, as this broker wrote it. */
	CHECK(mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 1 &&
	      *(uint8_t *)v.mv_data == LAYOUT_SCHEMA_VERSION);
	CHECK_INT(mdb_stat(txn, caseno, &ms), 0);
	CHECK_INT(ms.ms_entries, n);
	CHECK_INT(mdb_stat(txn, cases, &ms), 0);
	CHECK_INT(ms.ms_entries, n);
	CHECK_INT(mdb_stat(txn, caseidx, &ms), 0);
	CHECK_INT(ms.ms_entries, n_idx);
	CHECK_INT(mdb_stat(txn, caselog, &ms), 0);
	CHECK_INT(ms.ms_entries, n_log);
	for (size_t i = 0; i < n; i++) {
		struct case_state st;
		uint64_t number;
		k = layout_caseno_key(ids[i]);
		CHECK(mdb_get(txn, caseno, &k, &v) == 0 &&
		      layout_be64_parse(&v, &number) == 0 &&
		      number == opened[i]);
		k = layout_seq_key(no, opened[i]);
		CHECK(mdb_get(txn, cases, &k, &v) == 0 &&
		      case_decode(&st, v.mv_data, v.mv_size) == 0 &&
		      memcmp(st.id, ids[i], 16) == 0 &&
		      st.opened_seq == opened[i]);
	}

	/* Back to schema 3. */
	rekey(txn, cases, V3_CASES, opened, n);
	rekey(txn, caseidx, V3_CASEIDX, opened, n);
	rekey(txn, caselog, V3_CASELOG, opened, n);
	CHECK_INT(mdb_drop(txn, caseno, 1), 0);
	/* msgid values were 120 bytes then: the seq, then receipt fields
	 * the broker no longer reads. Filled with junk here, so a broker
	 * that read them would answer a resubmission wrongly. */
	{
		uint8_t id[16][KETEN_MSG_ID_LEN],
		    old[16][LAYOUT_MSGID_VAL_LEN_OLD];
		size_t n_ids = 0;
		CHECK_INT(mdb_cursor_open(txn, msgid, &cur), 0);
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		     rc == 0 && n_ids < 16;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			CHECK_INT(k.mv_size, KETEN_MSG_ID_LEN);
			CHECK_INT(v.mv_size, LAYOUT_MSGID_VAL_LEN);
			memcpy(id[n_ids], k.mv_data, KETEN_MSG_ID_LEN);
			memset(old[n_ids], 0xa5, LAYOUT_MSGID_VAL_LEN_OLD);
			memcpy(old[n_ids], v.mv_data, LAYOUT_MSGID_VAL_LEN);
			n_ids++;
		}
		mdb_cursor_close(cur);
		CHECK_INT(n_ids, n_log);
		for (size_t i = 0; i < n_ids; i++) {
			k = layout_msgid_key(id[i]);
			v = layout_val(old[i], LAYOUT_MSGID_VAL_LEN_OLD);
			CHECK_INT(mdb_put(txn, msgid, &k, &v, 0), 0);
		}
	}
	k = LAYOUT_KEY(LAYOUT_META_SCHEMA);
	v = layout_val(&three, 1);
	CHECK_INT(mdb_put(txn, meta, &k, &v, 0), 0);
	lmdb_edit_commit(&e);
}

/* The stored schema mark and number of cases of a stopped broker's
 * directory; -1 if the mark is missing or not one byte. */
static int
stored_schema(const char *data, size_t *cases)
{
	struct lmdb_edit e;
	MDB_dbi meta, caseno;
	MDB_val k = LAYOUT_KEY(LAYOUT_META_SCHEMA), v;
	MDB_stat ms;
	int schema = -1;

	*cases = 0;
	lmdb_edit_begin(&e, data, LMDB_EDIT_READ_ONLY, 0, 0);
	meta = lmdb_edit_db(&e, LAYOUT_DB_META);
	caseno = lmdb_edit_db(&e, LAYOUT_DB_CASENO);
	if (mdb_get(e.txn, meta, &k, &v) == 0 && v.mv_size == 1)
		schema = *(uint8_t *)v.mv_data;
	CHECK_INT(mdb_stat(e.txn, caseno, &ms), 0);
	*cases = ms.ms_entries;
	lmdb_edit_abort(&e);
	return schema;
}

/*
 * A data directory of schema 3 has its case databases keyed by case id:
 * the broker rebuilds them, keyed by number, from the log when it starts,
 * once. The case ids fall in the reverse of the opening order, so a
 * listing still in case id order cannot pass for opening order.
 */
static void
upgrade_from_3(void)
{
	enum { A, B, C, D, E };
	/* Each case's messages, and the one that opened it, counted from
	 * 1 = the first after the start's roster record(s) (at base + 1). */
	static const uint64_t records[4][4] = {
	    {1, 2, 4}, {3}, {5, 6, 7, 8}, {9, 10}};
	static const char *const reader[4] = {GI, LT2, VT, LT};
	static const uint64_t nth_opened[4] = {1, 3, 5, 9};
	uint64_t opened[4], base;
	struct keten_case was[4], now;
	struct keten_case_history *hist;
	struct receipt first, again;
	uint8_t *first_frame = NULL;
	size_t first_len = 0;
	struct keten_error err;
	size_t cases;

	for (int i = 0; i < 5; i++) {
		randombytes_buf(ids[i], 16);
		ids[i][0] = (uint8_t)(0xc0 - 0x20 * i);
	}
	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	base = harness_first_seq(&H) - 1;
	for (int i = 0; i < 4; i++)
		opened[i] = base + nth_opened[i];
	refer_keep(ids[A], LT, VT, &first_frame, &first_len, &first);
	CHECK_INT(first.seq, base + 1);
	OK(VT, ACCEPT, ids[A], NULL);
	refer_id(ids[B], LT2, VT);
	OK(VT, HANDOVER, ids[A], GI);
	refer_id(ids[C], "lt-urk", VT);
	OK(VT, ACKNOWLEDGE, ids[C], NULL);
	OK(VT, ACCEPT, ids[C], NULL);
	OK(VT, CLOSE, ids[C], NULL);
	refer_id(ids[D], LT, VT);
	OK(VT, DECLINE, ids[D], NULL);
	CHECK_INT(harness_head(&H, AUDITOR), base + 10);
	for (int i = 0; i < 4; i++) {
		was[i] = state(ids[i]);
		CHECK_INT(was[i].opened_seq, opened[i]);
	}
	LIST(AUDITOR, "abcd");
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	/* 9 parties in all (a: 3, the others 2), 10 messages */
	to_schema3(H.data, opened, 4, 9, 10);

	harness_start(&H);
	/* The rebuilds read the whole log, the roster record too. */
	CHECK_INT(harness_head(&H, H.ids[0]),
	          base + 10); /* no second roster record */
	CHECK_INT(log_count_n("event=cases_rebuilt records=", base + 10), 1);
	CHECK_INT(log_count_n("event=schema_upgraded from=3 to=",
	                      LAYOUT_SCHEMA_VERSION),
	          1);
	/* schema 3 had a tree, but hashed with BLAKE2b: schema 5 rebuilds */
	CHECK_INT(log_count_n("event=tree_rebuilt records=", base + 10), 1);
	STATE(ids[A], OFFERED, VT, GI);
	STATE(ids[B], OFFERED, LT2, VT);
	STATE(ids[C], CLOSED, VT, NULL);
	STATE(ids[D], HELD, LT, NULL); /* a declined referral */
	for (int i = 0; i < 4; i++) {
		now = state(ids[i]);
		expect_same(__LINE__, &was[i], &now);
	}
	LIST(AUDITOR, "abcd");
	LIST(LT, "ad");
	LIST(LT2, "b");
	LIST("lt-urk", "c");
	LIST(VT, "abcd"); /* d too: it declined, and stays a party */
	LIST(GI, "a");
	LIST(RD, "");
	PAGED(AUDITOR, 1);
	PAGED(VT, 3);
	/* Each case's records, read by one of its parties. */
	for (int i = 0; i < 4; i++) {
		hist = NULL;
		CHECK_INT(
		    keten_case_history(&hist, client(reader[i]), ids[i], &err),
		    KETEN_OK);
		if (hist == NULL || hist->n == 0)
			continue;
		CHECK_INT(hist->n, was[i].messages);
		for (size_t k = 0; k < hist->n && k < 4; k++)
			CHECK_INT(hist->events[k].seq, base + records[i][k]);
		CHECK_INT(hist->events[0].type, KETEN_MSG_REFERRAL);
		keten_case_history_free(&hist);
	}
	CHECK_INT(keten_case_history(&hist, client(LT2), ids[A], &err),
	          KETEN_E_CASE_UNKNOWN);

	/* A resubmission found through an old 120-byte msgid entry: the
	 * same record, its fields read from the record, nothing added. */
	if (first_frame != NULL) {
		submit_frame(&again, LT, first_frame, first_len);
		CHECK_INT(again.seq, base + 1);
		CHECK(memcmp(again.record_hash, first.record_hash, 32) == 0);
		CHECK(memcmp(again.prev_hash, first.prev_hash, 32) == 0);
		CHECK(again.received_at_us == first.received_at_us);
		CHECK_INT(again.cp.size, base + 10);
		CHECK_INT(harness_head(&H, AUDITOR), base + 10);
		free(first_frame);
	}

	/* The rebuilt cases go on, and new ones open after them. */
	refer_id(ids[E], LT, VT);
	OK(GI, ACCEPT, ids[A], NULL);
	OK(VT, ACCEPT, ids[B], NULL);
	STATE(ids[A], HELD, GI, NULL);
	STATE(ids[B], HELD, VT, NULL);
	STATE(ids[E], OFFERED, LT, VT);
	CHECK_INT(state(ids[E]).opened_seq, base + 11);
	LIST(AUDITOR, "abcde");
	LIST(LT, "ade");
	LIST(GI, "a");
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	CHECK_INT(stored_schema(H.data, &cases), LAYOUT_SCHEMA_VERSION);
	CHECK_INT(cases, 5);

	/* Upgraded once: the second start finds the schema mark. */
	harness_start(&H);
	CHECK_INT(log_count("event=schema_upgraded"), 1);
	CHECK_INT(log_count("event=cases_rebuilt"), 1);
	STATE(ids[A], HELD, GI, NULL);
	STATE(ids[D], HELD, LT, NULL);
	OK(VT, ACCEPT, ids[E], NULL);
	STATE(ids[E], HELD, VT, NULL);
	LIST(AUDITOR, "abcde");
	LIST(VT, "abcde");
	PAGED(LT, 1);
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	/* The offline replay agrees, in the same order. */
	{
		struct keten_case *all = NULL;
		size_t n = 0;
		CHECK_INT(
		    keten_audit_cases(&all, &n, H.config, H.data, 0, &err),
		    KETEN_OK);
		CHECK_INT(n, 5);
		for (size_t i = 0; i < n && i < 5; i++)
			CHECK(memcmp(all[i].case_id, ids[i], 16) == 0);
		free(all);
	}
	harness_cleanup(&H);
}

/* Puts (no, seq) into caselog, as a stale or forged entry would be. */
static void
put_caselog(struct lmdb_edit *e, uint64_t no, uint64_t seq)
{
	uint8_t key[LAYOUT_CASELOG_KEY_LEN];
	MDB_val k = layout_caselog_key(key, no, seq), v = layout_val("", 0);

	CHECK_INT(
	    mdb_put(e->txn, lmdb_edit_db(e, LAYOUT_DB_CASELOG), &k, &v, 0), 0);
}

/* The seq before three_records' first message: the roster record(s). */
static uint64_t base3;

/* Fresh ids[0..n), in falling id order, and a broker's directory with
 * three messages after its roster record, at base3 + 1 .. 3: case a
 * referred by LT, case b referred by LT2 and accepted by VT. The broker
 * is stopped. */
static void
three_records(int n, int step)
{
	for (int i = 0; i < n; i++) {
		randombytes_buf(ids[i], 16);
		ids[i][0] = (uint8_t)(0xc0 - step * i);
	}
	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	base3 = harness_first_seq(&H) - 1;
	refer_id(ids[0], LT, VT);
	refer_id(ids[1], LT2, VT);
	OK(VT, ACCEPT, ids[1], NULL);
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
}

/*
 * A directory marked schema 4 whose `cases` is not keyed by number (an
 * upgrade cut short, or a hand-edited copy): the broker rebuilds the case
 * databases from the log instead of serving them wrong, once.
 */
static void
damaged_cases(void)
{
	struct lmdb_edit e;
	MDB_dbi cases;
	MDB_val k, v;
	uint8_t no[LAYOUT_SEQ_KEY_LEN], state[1024];
	size_t len = 0;

	three_records(2, 0x40);
	/* Case a (opened at base3 + 1) moved under its id, as in schema
	 * 3. */
	lmdb_edit_begin(&e, H.data, 0, 0, 0);
	cases = lmdb_edit_db(&e, LAYOUT_DB_CASES);
	k = layout_seq_key(no, base3 + 1);
	if (mdb_get(e.txn, cases, &k, &v) == 0 && v.mv_size <= sizeof(state)) {
		len = v.mv_size;
		memcpy(state, v.mv_data, len);
	}
	CHECK(len > 0);
	CHECK_INT(mdb_del(e.txn, cases, &k, NULL), 0);
	k = layout_caseno_key(ids[0]); /* schema 3 keyed cases by id */
	v = layout_val(state, len);
	CHECK_INT(mdb_put(e.txn, cases, &k, &v, 0), 0);
	lmdb_edit_commit(&e);

	harness_start(&H);
	CHECK_INT(log_count("event=cases_damaged action=rebuild"), 1);
	CHECK_INT(log_count_n("event=cases_rebuilt records=", base3 + 3), 1);
	STATE(ids[0], OFFERED, LT, VT);
	STATE(ids[1], HELD, VT, NULL);
	LIST(AUDITOR, "ab");
	LIST(VT, "ab");
	LIST(LT2, "b");
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	/* Rebuilt right: the next start finds nothing to mend. */
	harness_start(&H);
	CHECK_INT(log_count("event=cases_damaged"), 1);
	LIST(AUDITOR, "ab");
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	harness_cleanup(&H);
}

/*
 * Case databases that do not match the log in ways the first and last
 * entries of `cases` cannot show: a caselog entry above the head (which
 * would refuse every new case), case databases emptied, the head's case
 * lost. Each is rebuilt from the log at start. A log whose record is not
 * under its own seq is not mended: the broker refuses to start, and says
 * so.
 */
static void
stale_cases(void)
{
	static const char *const dbs[] = {LAYOUT_DB_CASENO, LAYOUT_DB_CASES,
	                                  LAYOUT_DB_CASEIDX, LAYOUT_DB_CASELOG};
	struct lmdb_edit e;
	uint8_t no[LAYOUT_SEQ_KEY_LEN];
	MDB_val k, v;

	three_records(4, 0x30);

	/* An entry above the head: a new case's append would collide. */
	lmdb_edit_begin(&e, H.data, 0, 0, 0);
	put_caselog(&e, 100, 100);
	lmdb_edit_commit(&e);
	harness_start(&H);
	CHECK_INT(log_count("event=cases_damaged action=rebuild"), 1);
	CHECK_INT(log_count_n("event=cases_rebuilt records=", base3 + 3), 1);
	refer_id(ids[2], LT, VT);
	STATE(ids[2], OFFERED, LT, VT);
	CHECK_INT(state(ids[2]).opened_seq, base3 + 4);
	LIST(AUDITOR, "abc");
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);

	/* All four emptied, the schema mark kept. */
	lmdb_edit_begin(&e, H.data, 0, 0, 0);
	for (size_t i = 0; i < 4; i++)
		CHECK_INT(mdb_drop(e.txn, lmdb_edit_db(&e, dbs[i]), 0), 0);
	lmdb_edit_commit(&e);
	harness_start(&H);
	CHECK_INT(log_count("event=cases_damaged action=rebuild"), 2);
	CHECK_INT(log_count_n("event=cases_rebuilt records=", base3 + 4), 1);
	STATE(ids[0], OFFERED, LT, VT);
	STATE(ids[1], HELD, VT, NULL);
	STATE(ids[2], OFFERED, LT, VT);
	LIST(AUDITOR, "abc");
	LIST(LT, "ac");
	refer_id(ids[3], LT2, VT);
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);

	/* The head's case lost, the cases before it intact. */
	lmdb_edit_begin(&e, H.data, 0, 0, 0);
	k = layout_caseno_key(ids[3]);
	CHECK_INT(mdb_del(e.txn, lmdb_edit_db(&e, LAYOUT_DB_CASENO), &k, NULL),
	          0);
	k = layout_seq_key(no, base3 + 5);
	CHECK_INT(mdb_del(e.txn, lmdb_edit_db(&e, LAYOUT_DB_CASES), &k, NULL),
	          0);
	lmdb_edit_commit(&e);
	harness_start(&H);
	CHECK_INT(log_count("event=cases_damaged action=rebuild"), 3);
	CHECK_INT(log_count_n("event=cases_rebuilt records=", base3 + 5), 1);
	STATE(ids[3], OFFERED, LT2, VT);
	LIST(AUDITOR, "abcd");
	LIST(LT2, "bd");
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	/* Nothing left to mend. */
	harness_start(&H);
	CHECK_INT(log_count("event=cases_damaged"), 3);
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);

	/* The third message's record under the second's key, and the
	 * cases to rebuild: the broker refuses, naming the damage, and
	 * leaves the log alone. */
	lmdb_edit_begin(&e, H.data, 0, 0, 0);
	{
		MDB_dbi log = lmdb_edit_db(&e, LAYOUT_DB_LOG);
		uint8_t key[LAYOUT_SEQ_KEY_LEN], rec[8192];
		size_t len = 0;
		k = layout_seq_key(key, base3 + 3);
		if (mdb_get(e.txn, log, &k, &v) == 0 &&
		    v.mv_size <= sizeof(rec)) {
			len = v.mv_size;
			memcpy(rec, v.mv_data, len);
		}
		CHECK(len > 0);
		k = layout_seq_key(key, base3 + 2);
		v = layout_val(rec, len);
		CHECK_INT(mdb_put(e.txn, log, &k, &v, 0), 0);
	}
	put_caselog(&e, 100, 100);
	lmdb_edit_commit(&e);
	CHECK(harness_start_refused(&H) > 0);
	CHECK_INT(log_count("cannot serve data directory"), 1);
	{
		char bad[64];
		snprintf(bad, sizeof(bad),
		         "record %llu: stored under the wrong sequence",
		         (unsigned long long)(base3 + 2));
		CHECK_INT(log_count(bad), 1);
	}
	CHECK_INT(log_count("event=cases_rebuilt"), 3);
	{
		size_t cases;
		CHECK_INT(stored_schema(H.data, &cases), LAYOUT_SCHEMA_VERSION);
		CHECK_INT(cases, 4); /* the rebuild's start was not kept */
	}
	harness_cleanup(&H);
}

/*
 * An upgrade or repair rebuilds the case databases in the start
 * transaction, which needs room beside the old ones: on a directory with
 * no room left the broker grows the map, as a commit would, and starts.
 */
static void
rebuild_grows_map(void)
{
	enum { N = 1500 };
	struct lmdb_edit e;
	uint64_t head;
	int grown;

	harness_region(&H, harness_flevoland, harness_flevoland_n,
	               "  map_size_mb: 1\n");
	harness_start(&H);
	head = harness_first_seq(&H) - 1 + N; /* after the roster record */
	harness_fill(&H, N, "vol");
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	grown = log_count("event=map_grown");

	lmdb_edit_begin(&e, H.data, 0, 0, 16);
	put_caselog(&e, head + 1, head + 1); /* above the head */
	lmdb_edit_commit(&e);
	harness_start(&H);
	CHECK_INT(log_count("event=cases_damaged action=rebuild"), 1);
	CHECK_INT(log_count_n("event=cases_rebuilt records=", head), 1);
	CHECK(log_count("event=map_grown") > grown);
	CHECK_INT(harness_head(&H, AUDITOR), head);
	refer_id(ids[0], LT, VT);
	CHECK_INT(state(ids[0]).opened_seq, head + 1);
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	harness_cleanup(&H);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	allowed_transitions();
	forbidden_transitions();
	/* The chain replays to the same states offline. */
	CHECK_INT(harness_stop(&H), 0);
	{
		struct keten_audit a;
		struct keten_error err;
		CHECK_INT(keten_audit_verify(&a, H.config, H.data, &err),
		          KETEN_OK);
		CHECK_INT(a.cases, 3);
	}
	drop_clients();
	harness_cleanup(&H);
	case_full();
	upgrade();
	paging();
	upgrade_from_3();
	damaged_cases();
	stale_cases();
	rebuild_grows_map();
	return check_done("test_cases");
}
