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
#include "harness.h"
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
	struct keten_case *all, found;
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
	NO(VT, HANDOVER, id, "nobody-here", RECIPIENT, "not an agency");
	/* A referral may not reuse a case id. */
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
		CHECK_INT(rep.error.code, KETEN_E_CASE_EXISTS);
		CHECK_STR_HAS(rep.error.message, "already exists");
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
	const char *dbs[] = {"cases", "caseidx", "caselog"};
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {.mv_size = 6, .mv_data = "schema"};

	CHECK_INT(mdb_env_create(&env), 0);
	CHECK_INT(mdb_env_set_maxdbs(env, 16), 0);
	CHECK_INT(mdb_env_set_mapsize(env, 1UL << 30), 0);
	CHECK_INT(mdb_env_open(env, data, 0, 0600), 0);
	CHECK_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
	for (size_t i = 0; i < 3; i++) {
		CHECK_INT(mdb_dbi_open(txn, dbs[i], 0, &dbi), 0);
		CHECK_INT(mdb_drop(txn, dbi, 1), 0);
	}
	CHECK_INT(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	CHECK_INT(mdb_del(txn, dbi, &k, NULL), 0);
	CHECK_INT(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
upgrade(void)
{
	uint8_t a[16], b[16];
	struct keten_case *all;
	struct keten_error err;
	size_t n = 9;

	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	refer(a, LT, VT);
	OK(VT, ACCEPT, a, NULL);
	refer(b, LT2, VT);
	drop_clients();
	CHECK_INT(harness_stop(&H), 0);
	forget_cases(H.data);
	harness_start(&H);
	CHECK(harness_log_has(&H, "event=cases_rebuilt records=3"));
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
	return check_done("test_cases");
}
