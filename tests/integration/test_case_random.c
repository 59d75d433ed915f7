/*
 * Against a real ketend: thousands of random steps, valid and invalid, from
 * many agencies on ~40 cases. The test keeps its own model of every case,
 * written from the rules in docs/PROTOCOL.md ("Cases") and not from
 * common/case.c, predicts for every step whether the broker records it or
 * refuses it and with which code, and checks that it did. Every case always
 * has exactly one holder: the broker's view (as the auditor and as each
 * agency), each party's verified history, and the offline replay of the
 * data directory must all equal the model.
 *
 *   KETEN_TEST_SEED=n  repeats a run (the seed is printed)
 *   KETEN_TEST_OPS=n   number of steps (default 3000)
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "harness.h"
#include "raw.h"

/* 17 agencies that send: one more than a case may involve, so that the
 * limit can be reached. */
static const char *const REGION[] = {
    "lt-01:local_team",   "lt-02:local_team",   "lt-03:local_team",
    "lt-04:local_team",   "lt-05:local_team",   "lt-06:local_team",
    "lt-07:local_team",   "lt-08:local_team",   "lt-09:local_team",
    "vt-01:veilig_thuis", "vt-02:veilig_thuis", "gi-01:gi",
    "gi-02:gi",           "gi-03:gi",           "gi-04:gi",
    "raad-01:raad",       "raad-02:raad",       "audit-01:auditor",
};
#define N_AG       (sizeof(REGION) / sizeof(REGION[0]))
#define AUDITOR    ((int)N_AG - 1)
#define R_NULL     (-1) /* recipient left NULL: the library resolves it */
#define R_UNKNOWN  (-2) /* an id not in the region */
#define UNKNOWN_ID "xx-nowhere"

#define MAX_CASES   400 /* case_cap: one case per 75 steps, at most this */
#define PARTIES_MAX 16  /* PROTOCOL.md: at most 16 agencies in one case */
#define STALE_MAX   8
#define CHECK_EVERY 200

enum kind { LT = 1, VT, GI, RAAD, AUD }; /* == enum keten_kind */

static struct harness H;
static struct keten_client *cl[N_AG];
static enum kind kinds[N_AG];
static char names[N_AG][KETEN_ID_MAX + 1];
static unsigned long long seed;

/* ---- the PRNG (splitmix64): one seed repeats the whole run ---- */

static uint64_t prng;

static uint64_t
next64(void)
{
	uint64_t z = (prng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int
rnd(int n)
{
	return (int)(next64() % (uint64_t)n);
}

static void
rnd_bytes(uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)next64();
}

static int
pick_of_kind(enum kind k)
{
	int idx[N_AG], n = 0;

	for (int i = 0; i < (int)N_AG; i++)
		if (kinds[i] == k)
			idx[n++] = i;
	return idx[rnd(n)];
}

/* Any agency but the auditor. */
static int
pick_sender(void)
{
	return rnd(AUDITOR);
}

/* ---- the model ---- */

/* The default route table (PROTOCOL.md 18.1), by kind. */
static bool
route_ok(int type, int from, int to)
{
	enum kind f = kinds[from], t = kinds[to];

	switch (type) {
	case KETEN_MSG_REFERRAL:
		return f == LT && t == VT;
	case KETEN_MSG_HANDOVER:
		return (f == LT && t == VT) || (f == VT && t == GI) ||
		       (f == GI && t == RAAD) || (f == VT && t == LT) ||
		       (f == RAAD && t == GI);
	case KETEN_MSG_FEEDBACK:
		return f != AUD && t != AUD;
	default:
		return true;
	}
}

struct mevent {
	uint64_t seq;
	int type, sender, recipient, holder; /* recipient R_NULL: close */
};

struct mcase {
	uint8_t id[KETEN_CASE_ID_LEN];
	enum keten_case_status status;
	int holder;
	int np;
	int party[PARTIES_MAX];
	bool referred[PARTIES_MAX];
	/* the open offer, when status is offered */
	int offer_to, offer_type;
	uint8_t offer_id[KETEN_MSG_ID_LEN];
	uint64_t offer_seq;
	bool acked;
	uint32_t questions;
	/* offers that were open once: answers naming them are stale */
	uint8_t stale[STALE_MAX][KETEN_MSG_ID_LEN];
	int n_stale;
	uint64_t opened_seq, last_seq;
	uint32_t messages;
	int outcome;
	struct mevent *ev;
	size_t nev, cap;
	bool tourist; /* hands over to new agencies first, to fill up */
};

static struct mcase cases[MAX_CASES];
static int n_cases, case_cap;
static uint64_t head; /* records the broker holds, by the model */

static int
party_of(const struct mcase *c, int agency)
{
	for (int i = 0; i < c->np; i++)
		if (c->party[i] == agency)
			return i;
	return -1;
}

static bool
needs_offer(int type)
{
	return type == KETEN_MSG_ACKNOWLEDGE || type == KETEN_MSG_ACCEPT ||
	       type == KETEN_MSG_DECLINE || type == KETEN_MSG_WITHDRAW ||
	       type == KETEN_MSG_INFO_REQUEST || type == KETEN_MSG_INFO_REPLY;
}

static bool
is_answer(int type)
{
	return type == KETEN_MSG_ACKNOWLEDGE || type == KETEN_MSG_ACCEPT ||
	       type == KETEN_MSG_DECLINE || type == KETEN_MSG_INFO_REQUEST;
}

enum offer_pick { O_NONE, O_NULL, O_CURRENT, O_STALE, O_OTHER, O_RANDOM };
static const char *const offer_words[] = {"-",     "NULL",  "current",
                                          "stale", "other", "random"};

struct op {
	int type;
	int sender;
	int recipient; /* agency index, R_NULL or R_UNKNOWN */
	int kase;      /* model case; -1 a new case, -2 an unknown id */
	uint8_t case_id[KETEN_CASE_ID_LEN];
	enum offer_pick offer_pick;
	uint8_t offer_id[KETEN_MSG_ID_LEN]; /* unless O_NULL / O_NONE */
	bool raw;                           /* referral reusing case_id */
	bool smart;
};

/* What the step becomes once the library filled in what was left NULL. */
struct resolved {
	int recipient;
	bool has_offer;
	uint8_t offer_id[KETEN_MSG_ID_LEN];
	bool local; /* refused by the library, never sent */
};

/*
 * The outcome the rules give: KETEN_OK or the refusal's code. In the
 * order things happen: the library resolves what was left NULL (reading
 * the case as the sender) and knows the region's agencies; the broker
 * checks who may submit, the recipient and the route, then the case.
 */
static int
predict(const struct op *o, struct resolved *r)
{
	const struct mcase *c = o->kase >= 0 ? &cases[o->kase] : NULL;
	int to = o->recipient, t = o->type, s = o->sender;
	bool need_to = to == R_NULL && t != KETEN_MSG_CLOSE;
	bool need_offer = needs_offer(t) && o->offer_pick == O_NULL;

	memset(r, 0, sizeof(*r));
	r->recipient = to;
	r->has_offer = needs_offer(t) && o->offer_pick != O_NULL;
	memcpy(r->offer_id, o->offer_id, KETEN_MSG_ID_LEN);
	r->local = true;
	if (t != KETEN_MSG_REFERRAL && (need_to || need_offer)) {
		/* A party (or the auditor) may read the case; no one
		 * else learns that it exists. */
		if (c == NULL || (s != AUDITOR && party_of(c, s) < 0))
			return KETEN_E_CASE_UNKNOWN;
		/* keten.h: a step about an offer, with none open, is
		 * refused here, whichever field was left NULL (even for a
		 * closed case, or a sender who is not the holder). */
		if (needs_offer(t) && c->status != KETEN_CASE_OFFERED)
			return KETEN_E_NO_OFFER;
		if (need_offer) {
			r->has_offer = true;
			memcpy(r->offer_id, c->offer_id, KETEN_MSG_ID_LEN);
		}
		if (need_to) {
			bool own = t == KETEN_MSG_WITHDRAW ||
			           t == KETEN_MSG_INFO_REPLY;
			to = own && c->status == KETEN_CASE_OFFERED
			         ? c->offer_to
			         : c->holder;
			r->recipient = to;
		}
	}
	if (to == R_UNKNOWN)
		return KETEN_E_RECIPIENT;
	r->local = false;
	if (s == AUDITOR)
		return KETEN_E_FORBIDDEN; /* an auditor submits nothing */
	if (t != KETEN_MSG_CLOSE && to == AUDITOR)
		return KETEN_E_RECIPIENT; /* nor receives anything */
	if ((t == KETEN_MSG_REFERRAL || t == KETEN_MSG_HANDOVER ||
	     t == KETEN_MSG_FEEDBACK) &&
	    !route_ok(t, s, to))
		return KETEN_E_ROUTE;

	/* PROTOCOL.md 17.3 rule 0: nothing is addressed to its sender. */
	if (t != KETEN_MSG_CLOSE && to == s)
		return KETEN_E_WRONG_PARTY;
	/* A taken case id: a reserved id's refusal to a non-party (14.1). */
	if (t == KETEN_MSG_REFERRAL)
		return c == NULL            ? KETEN_OK
		       : party_of(c, s) < 0 ? KETEN_E_FIELD
		                            : KETEN_E_CASE_EXISTS;
	/* A case the sender is not part of is as unknown as no case. */
	if (c == NULL || party_of(c, s) < 0)
		return KETEN_E_CASE_UNKNOWN;
	if (c->status == KETEN_CASE_CLOSED)
		return KETEN_E_CASE_CLOSED;
	if (is_answer(t)) {
		/* Only the offer's recipient answers the open offer, and
		 * the answer goes to the holder who made it. */
		if (c->status != KETEN_CASE_OFFERED)
			return KETEN_E_NO_OFFER;
		if (s != c->offer_to)
			return KETEN_E_NOT_OFFEREE;
		if (!r->has_offer ||
		    memcmp(r->offer_id, c->offer_id, KETEN_MSG_ID_LEN) != 0)
			return KETEN_E_NO_OFFER;
		if (to != c->holder)
			return KETEN_E_WRONG_PARTY;
		if (t == KETEN_MSG_ACKNOWLEDGE && c->acked)
			return KETEN_E_ACKNOWLEDGED;
		return KETEN_OK;
	}
	/* The holder's own steps. */
	if (s != c->holder)
		return KETEN_E_NOT_HOLDER;
	switch (t) {
	case KETEN_MSG_HANDOVER:
		if (c->status == KETEN_CASE_OFFERED)
			return KETEN_E_OFFER_OPEN;
		if (to == c->holder)
			return KETEN_E_WRONG_PARTY;
		if (party_of(c, to) < 0 && c->np == PARTIES_MAX)
			return KETEN_E_CASE_FULL;
		return KETEN_OK;
	case KETEN_MSG_CLOSE:
		return c->status == KETEN_CASE_OFFERED ? KETEN_E_OFFER_OPEN
		                                       : KETEN_OK;
	case KETEN_MSG_FEEDBACK:
		/* Only to an agency whose offer was accepted earlier. */
		return party_of(c, to) >= 0 && c->referred[party_of(c, to)]
		           ? KETEN_OK
		           : KETEN_E_WRONG_PARTY;
	default: /* withdraw, info_reply: about the open offer */
		if (c->status != KETEN_CASE_OFFERED)
			return KETEN_E_NO_OFFER;
		if (!r->has_offer ||
		    memcmp(r->offer_id, c->offer_id, KETEN_MSG_ID_LEN) != 0)
			return KETEN_E_NO_OFFER;
		if (to != c->offer_to)
			return KETEN_E_WRONG_PARTY;
		return KETEN_OK;
	}
}

static int
party_add(struct mcase *c, int agency)
{
	int i = party_of(c, agency);

	if (i >= 0)
		return i;
	c->party[c->np] = agency;
	c->referred[c->np] = false;
	return c->np++;
}

static void
offer_open(struct mcase *c, int type, int to, const struct keten_receipt *rc)
{
	party_add(c, to);
	c->status = KETEN_CASE_OFFERED;
	c->offer_to = to;
	c->offer_type = type;
	memcpy(c->offer_id, rc->message_id, KETEN_MSG_ID_LEN);
	c->offer_seq = rc->seq;
	c->acked = false;
	c->questions = 0;
}

static void
offer_ends(struct mcase *c)
{
	memmove(c->stale[1], c->stale[0],
	        (STALE_MAX - 1) * sizeof(c->stale[0]));
	memcpy(c->stale[0], c->offer_id, KETEN_MSG_ID_LEN);
	if (c->n_stale < STALE_MAX)
		c->n_stale++;
	c->status = KETEN_CASE_HELD;
}

/* The model after an accepted step. */
static void
apply(struct mcase *c, const struct op *o, const struct resolved *r,
      const struct keten_receipt *rc, int outcome)
{
	switch (o->type) {
	case KETEN_MSG_REFERRAL:
		memset(c, 0, sizeof(*c));
		memcpy(c->id, o->case_id, KETEN_CASE_ID_LEN);
		c->holder = o->sender;
		party_add(c, o->sender);
		offer_open(c, o->type, r->recipient, rc);
		c->opened_seq = rc->seq;
		c->tourist = (c - cases) % 4 == 0;
		break;
	case KETEN_MSG_ACKNOWLEDGE:
		c->acked = true;
		break;
	case KETEN_MSG_INFO_REQUEST:
		c->questions++;
		break;
	case KETEN_MSG_ACCEPT:
		c->referred[party_of(c, c->holder)] = true;
		c->holder = c->offer_to;
		offer_ends(c);
		break;
	case KETEN_MSG_DECLINE:
	case KETEN_MSG_WITHDRAW:
		offer_ends(c);
		break;
	case KETEN_MSG_HANDOVER:
		offer_open(c, o->type, r->recipient, rc);
		break;
	case KETEN_MSG_CLOSE:
		c->status = KETEN_CASE_CLOSED;
		c->outcome = outcome;
		break;
	default: /* feedback, info_reply: the state stays */
		break;
	}
	c->messages++;
	c->last_seq = rc->seq;
	if (c->nev == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->ev = realloc(c->ev, c->cap * sizeof(*c->ev));
		if (c->ev == NULL)
			exit(99);
	}
	c->ev[c->nev++] = (struct mevent){
	    rc->seq, o->type, o->sender,
	    o->type == KETEN_MSG_CLOSE ? R_NULL : r->recipient, c->holder};
}

/* ---- choosing a step ---- */

static int
pick_case(void)
{
	int pool[2 * MAX_CASES], n = 0;
	bool open_only = rnd(100) < 85;

	for (int i = 0; i < n_cases; i++) {
		if (open_only && cases[i].status == KETEN_CASE_CLOSED)
			continue;
		pool[n++] = i;
		if (cases[i].tourist)
			pool[n++] = i;
	}
	if (n == 0)
		return rnd(n_cases);
	return pool[rnd(n)];
}

/* A referred party other than the holder, or -1. */
static int
pick_referred(const struct mcase *c)
{
	int idx[PARTIES_MAX], n = 0;

	for (int i = 0; i < c->np; i++)
		if (c->referred[i] && c->party[i] != c->holder)
			idx[n++] = c->party[i];
	return n ? idx[rnd(n)] : -1;
}

/* A recipient the route table allows for a handover from the holder;
 * tourists prefer agencies new to the case, local teams and Veilig Thuis
 * first, so that their cases fill up. */
static int
pick_handover_to(const struct mcase *c)
{
	int all[N_AG], fresh[N_AG], near[N_AG], na = 0, nf = 0, nn = 0;

	for (int i = 0; i < AUDITOR; i++) {
		if (i == c->holder ||
		    !route_ok(KETEN_MSG_HANDOVER, c->holder, i))
			continue;
		all[na++] = i;
		if (party_of(c, i) < 0) {
			fresh[nf++] = i;
			if (kinds[i] == LT || kinds[i] == VT)
				near[nn++] = i;
		}
	}
	if (c->tourist && rnd(100) < 80) {
		if (nn > 0)
			return near[rnd(nn)];
		if (nf > 0)
			return fresh[rnd(nf)];
	}
	return all[rnd(na)];
}

static int
weighted(const int *w, int n)
{
	int total = 0, x;

	for (int i = 0; i < n; i++)
		total += w[i];
	x = rnd(total);
	for (int i = 0; i < n; i++)
		if ((x -= w[i]) < 0)
			return i;
	return n - 1;
}

/* A step someone who knows the case would send; some are still refused
 * (an offer already open, acknowledged twice, an offer not to be had). */
static void
smart_step(struct op *o, const struct mcase *c)
{
	static const int types[] = {
	    KETEN_MSG_ACKNOWLEDGE,  KETEN_MSG_ACCEPT,   KETEN_MSG_DECLINE,
	    KETEN_MSG_INFO_REQUEST, KETEN_MSG_WITHDRAW, KETEN_MSG_INFO_REPLY,
	    KETEN_MSG_FEEDBACK,     KETEN_MSG_HANDOVER, KETEN_MSG_CLOSE};
	int referred = pick_referred(c);
	int ack = c->acked ? 4 : 14, fb = referred >= 0 ? 6 : 0;
	/* Tourists close only once full: they are to fill up. */
	int shut = c->tourist && c->np < PARTIES_MAX ? 0 : 2;
	/* weights, in the order of types[] */
	int w_offered[] = {ack, 22, 12, 8, 9, 8, fb, 4, 3};
	int w_held[] = {3, 2, 2, 1, 2, 1, 2 * fb, 55, shut};

	o->type = types[weighted(
	    c->status == KETEN_CASE_OFFERED ? w_offered : w_held, 9)];
	o->sender = is_answer(o->type) && c->status == KETEN_CASE_OFFERED
	                ? c->offer_to
	                : c->holder;
	switch (o->type) {
	case KETEN_MSG_HANDOVER:
		o->recipient = pick_handover_to(c);
		break;
	case KETEN_MSG_FEEDBACK:
		o->recipient = referred >= 0 ? referred : c->holder;
		break;
	case KETEN_MSG_CLOSE:
		o->recipient = R_NULL;
		break;
	case KETEN_MSG_WITHDRAW:
	case KETEN_MSG_INFO_REPLY:
		o->recipient =
		    c->status == KETEN_CASE_OFFERED ? c->offer_to : c->holder;
		break;
	default:
		o->recipient = c->holder;
		break;
	}
	if (needs_offer(o->type) && rnd(100) < 10)
		o->recipient = R_NULL;
	o->offer_pick = !needs_offer(o->type) ? O_NONE
	                : rnd(100) < 10       ? O_NULL
	                : c->status == KETEN_CASE_OFFERED
	                    ? O_CURRENT
	                    : (c->n_stale ? O_STALE : O_RANDOM);
}

/* Anyone sends anything to anyone. */
static void
random_step(struct op *o, const struct mcase *c)
{
	int x;

	o->type = KETEN_MSG_ACKNOWLEDGE + rnd(9);
	if (rnd(100) < 3)
		o->sender = AUDITOR;
	else if (c != NULL && rnd(100) < 50)
		o->sender = c->party[rnd(c->np)];
	else
		o->sender = pick_sender();
	x = rnd(100);
	if (o->type == KETEN_MSG_CLOSE)
		o->recipient = R_NULL;
	else if (x < 4)
		o->recipient = R_UNKNOWN;
	else if (x < 7)
		o->recipient = AUDITOR;
	else if (x < 15 && o->type != KETEN_MSG_HANDOVER &&
	         o->type != KETEN_MSG_FEEDBACK)
		o->recipient = R_NULL;
	else if (c != NULL && x < 60)
		o->recipient = c->party[rnd(c->np)];
	else
		o->recipient = pick_sender();
	if (!needs_offer(o->type)) {
		o->offer_pick = O_NONE;
		return;
	}
	x = rnd(100);
	o->offer_pick = x < 15 ? O_NULL
	                : x < 50 && c && c->status == KETEN_CASE_OFFERED
	                    ? O_CURRENT
	                : x < 70 && c && c->n_stale ? O_STALE
	                : x < 80                    ? O_OTHER
	                                            : O_RANDOM;
}

static void
gen(struct op *o, int smart_pct)
{
	const struct mcase *c = NULL;
	int x;

	memset(o, 0, sizeof(*o));
	if (n_cases == 0 || rnd(100) < 6) {
		o->type = KETEN_MSG_REFERRAL;
		o->smart = rnd(100) < 60;
		o->sender = o->smart       ? pick_of_kind(LT)
		            : rnd(100) < 3 ? AUDITOR
		                           : pick_sender();
		x = rnd(100);
		o->recipient = o->smart ? pick_of_kind(VT)
		               : x < 4  ? R_UNKNOWN
		               : x < 8  ? AUDITOR
		                        : pick_sender();
		/* Past case_cap (and now and then before), a referral
		 * reuses an existing case id, through raw frames. */
		o->raw = n_cases == case_cap || (n_cases > 0 && rnd(100) < 10);
		if (o->raw) {
			if (o->recipient == R_UNKNOWN)
				o->recipient = pick_sender();
			o->kase = rnd(n_cases);
			memcpy(o->case_id, cases[o->kase].id,
			       KETEN_CASE_ID_LEN);
		} else {
			o->kase = -1;
		}
		o->offer_pick = O_NONE;
		return;
	}
	if (rnd(100) < 3) {
		o->kase = -2;
		rnd_bytes(o->case_id, KETEN_CASE_ID_LEN);
	} else {
		o->kase = pick_case();
		c = &cases[o->kase];
		memcpy(o->case_id, c->id, KETEN_CASE_ID_LEN);
	}
	o->smart =
	    c != NULL && c->status != KETEN_CASE_CLOSED && rnd(100) < smart_pct;
	if (o->smart)
		smart_step(o, c);
	else
		random_step(o, c);
	switch (o->offer_pick) {
	case O_CURRENT:
		memcpy(o->offer_id, c->offer_id, KETEN_MSG_ID_LEN);
		break;
	case O_STALE:
		memcpy(o->offer_id, c->stale[rnd(c->n_stale)],
		       KETEN_MSG_ID_LEN);
		break;
	case O_OTHER: /* another case's offer, open or not */
		x = rnd(n_cases);
		if (cases[x].status == KETEN_CASE_OFFERED)
			memcpy(o->offer_id, cases[x].offer_id,
			       KETEN_MSG_ID_LEN);
		else if (cases[x].n_stale)
			memcpy(o->offer_id, cases[x].stale[0],
			       KETEN_MSG_ID_LEN);
		else
			rnd_bytes(o->offer_id, KETEN_MSG_ID_LEN);
		break;
	case O_RANDOM:
		rnd_bytes(o->offer_id, KETEN_MSG_ID_LEN);
		break;
	default:
		break;
	}
}

/* ---- sending ---- */

static const char *
rname(int r)
{
	if (r >= 0 && r < (int)N_AG)
		return names[r];
	return r == R_UNKNOWN ? UNKNOWN_ID : NULL;
}

/* A referral that reuses o->case_id; the library cannot make one. */
static int
send_raw_referral(const struct op *o, struct keten_error *err)
{
	struct craft cr;
	struct raw r;
	struct reply rep;
	uint8_t *frame;
	size_t len;
	int rc;

	craft_init(&cr, names[o->sender], names[o->recipient]);
	cr.case_id = o->case_id;
	frame = craft_submit(&len, &H, &cr);
	raw_connect(&r, &H, names[o->sender]);
	if (raw_call1(&r, &rep, frame, len, 20000) != 0) {
		rc = err->code = KETEN_E_TIMEOUT;
		snprintf(err->message, sizeof(err->message), "no answer");
	} else if (rep.kind == WIRE_REP_ERROR) {
		rc = err->code = rep.error.code;
		snprintf(err->message, sizeof(err->message), "%s",
		         rep.error.message);
	} else {
		rc = err->code = KETEN_OK;
		snprintf(err->message, sizeof(err->message),
		         "recorded as %llu (reply kind %d)",
		         (unsigned long long)rep.receipt.seq, (int)rep.kind);
	}
	if (rc != KETEN_E_TIMEOUT)
		wire_reply_clear(&rep);
	raw_close(&r);
	free(frame);
	return rc;
}

/* Sends o as its sender. A referral's new case id lands in o->case_id. */
static int
perform(struct op *o, struct keten_receipt *rc, struct keten_error *err,
        int *outcome)
{
	static const struct keten_dossier dossier = {
	    .known = "random walk", .safety_conditions = "none yet"};
	struct keten_referral_content ct = harness_content("random");
	struct keten_referral ref = {.content = &ct};
	struct keten_step s;

	memset(rc, 0, sizeof(*rc));
	memset(err, 0, sizeof(*err));
	if (o->type == KETEN_MSG_REFERRAL && o->raw)
		return send_raw_referral(o, err);
	if (o->type == KETEN_MSG_REFERRAL) {
		ref.recipient = rname(o->recipient);
		ref.urgency = (enum keten_urgency)(1 + rnd(3));
		return keten_send_referral(rc, o->case_id, cl[o->sender], &ref,
		                           err);
	}
	memset(&s, 0, sizeof(s));
	s.type = o->type;
	memcpy(s.case_id, o->case_id, KETEN_CASE_ID_LEN);
	s.recipient = rname(o->recipient);
	if (o->offer_pick != O_NONE && o->offer_pick != O_NULL)
		s.offer_id = o->offer_id;
	s.urgency = (enum keten_urgency)(1 + rnd(3));
	s.dossier = &dossier;
	s.reason = (enum keten_decline_reason)(1 + rnd(5));
	*outcome = 1 + rnd(5);
	s.outcome = (enum keten_outcome) * outcome;
	/* A note is required with these three, optional with most. */
	if (o->type == KETEN_MSG_INFO_REQUEST ||
	    o->type == KETEN_MSG_INFO_REPLY || o->type == KETEN_MSG_FEEDBACK ||
	    (o->type != KETEN_MSG_CLOSE && o->type != KETEN_MSG_HANDOVER &&
	     rnd(2)))
		s.note = "a note";
	return keten_send_step(rc, cl[o->sender], &s, err);
}

static void
describe(char *out, size_t n, const struct op *o, const struct resolved *r)
{
	const struct mcase *c = o->kase >= 0 ? &cases[o->kase] : NULL;
	const char *to = r->recipient >= 0            ? names[r->recipient]
	                 : o->type == KETEN_MSG_CLOSE ? "(everyone)"
	                                              : rname(r->recipient);
	char hex[2 * KETEN_CASE_ID_LEN + 1];

	keten_hex(hex, o->case_id, KETEN_CASE_ID_LEN);
	snprintf(
	    out, n,
	    "%s %s%s -> %s%s, offer_id %s, case %s (#%d%s: %s, "
	    "holder %s, offer to %s%s, %d parties)",
	    names[o->sender], o->raw ? "raw " : "",
	    keten_message_type_name(o->type), to ? to : "?",
	    o->recipient == R_NULL ? " (resolved)" : "",
	    offer_words[o->offer_pick], hex, o->kase,
	    c && c->tourist ? ", tourist" : "",
	    c ? keten_case_status_name(c->status) : "unknown",
	    c ? names[c->holder] : "-",
	    c && c->status == KETEN_CASE_OFFERED ? names[c->offer_to] : "-",
	    c && c->status == KETEN_CASE_OFFERED && c->acked ? ", acknowledged"
	                                                     : "",
	    c ? c->np : 0);
}

/* ---- comparing the broker's view with the model ---- */

static int
case_no(const struct mcase *c)
{
	return c ? (int)(c - cases) : -1;
}

#define FIELD(cond, ...)                                                       \
	do {                                                                   \
		check_count++;                                                 \
		if (!(cond)) {                                                 \
			check_failures++;                                      \
			fprintf(stderr, "%s: case #%d: ", where, case_no(c));  \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
		}                                                              \
	} while (0)

static void
expect_case(const char *where, const struct keten_case *k,
            const struct mcase *c)
{
	int holders = 0;

	FIELD(k->status == c->status, "status %s, model %s",
	      keten_case_status_name(k->status),
	      keten_case_status_name(c->status));
	FIELD(strcmp(k->holder, names[c->holder]) == 0, "holder %s, model %s",
	      k->holder, names[c->holder]);
	FIELD(k->n_parties == (size_t)c->np, "%zu parties, model %d",
	      k->n_parties, c->np);
	for (size_t i = 0; i < k->n_parties && i < PARTIES_MAX; i++) {
		int a = -1;
		for (int j = 0; j < c->np; j++)
			if (strcmp(k->parties[i].agency, names[c->party[j]]) ==
			    0)
				a = j;
		holders += strcmp(k->parties[i].agency, k->holder) == 0;
		FIELD(a >= 0, "party %s is not in the model",
		      k->parties[i].agency);
		FIELD(a < 0 || k->parties[i].referred == c->referred[a],
		      "party %s referred %d, model %d", k->parties[i].agency,
		      k->parties[i].referred, a >= 0 && c->referred[a]);
	}
	FIELD(holders == 1, "holder %s appears %d times among the parties",
	      k->holder, holders);
	FIELD(k->messages == c->messages, "%u messages, model %u", k->messages,
	      c->messages);
	FIELD(
	    k->opened_seq == c->opened_seq && k->last_seq == c->last_seq,
	    "records %llu..%llu, model %llu..%llu",
	    (unsigned long long)k->opened_seq, (unsigned long long)k->last_seq,
	    (unsigned long long)c->opened_seq, (unsigned long long)c->last_seq);
	FIELD(k->has_offer == (c->status == KETEN_CASE_OFFERED),
	      "has_offer %d, model status %s", k->has_offer,
	      keten_case_status_name(c->status));
	if (k->has_offer && c->status == KETEN_CASE_OFFERED) {
		FIELD(strcmp(k->offer.to, names[c->offer_to]) == 0 &&
		          strcmp(k->offer.from, names[c->holder]) == 0,
		      "offer %s -> %s, model %s -> %s", k->offer.from,
		      k->offer.to, names[c->holder], names[c->offer_to]);
		FIELD(memcmp(k->offer.message_id, c->offer_id,
		             KETEN_MSG_ID_LEN) == 0 &&
		          k->offer.seq == c->offer_seq &&
		          (int)k->offer.type == c->offer_type,
		      "offer record %llu, model %llu",
		      (unsigned long long)k->offer.seq,
		      (unsigned long long)c->offer_seq);
		FIELD((k->offer.acknowledged_at_us != 0) == c->acked &&
		          k->offer.questions == c->questions,
		      "offer acknowledged %d with %u questions, model %d "
		      "with %u",
		      k->offer.acknowledged_at_us != 0, k->offer.questions,
		      c->acked, c->questions);
	}
	if (c->status == KETEN_CASE_CLOSED)
		FIELD((int)k->outcome == c->outcome, "outcome %d, model %d",
		      (int)k->outcome, c->outcome);
}

/* Two views of the same case (the broker's, the offline replay's). */
static void
expect_same(const char *where, const struct keten_case *a,
            const struct keten_case *b, const struct mcase *c)
{
	bool parties = a->n_parties == b->n_parties;

	for (size_t i = 0; parties && i < a->n_parties; i++)
		parties =
		    strcmp(a->parties[i].agency, b->parties[i].agency) == 0 &&
		    a->parties[i].referred == b->parties[i].referred;
	FIELD(memcmp(a->case_id, b->case_id, KETEN_CASE_ID_LEN) == 0,
	      "case ids differ");
	FIELD(a->status == b->status && strcmp(a->holder, b->holder) == 0,
	      "%s held by %s, replayed %s held by %s",
	      keten_case_status_name(a->status), a->holder,
	      keten_case_status_name(b->status), b->holder);
	FIELD(parties, "parties differ");
	FIELD(a->messages == b->messages && a->opened_seq == b->opened_seq &&
	          a->last_seq == b->last_seq &&
	          a->opened_at_us == b->opened_at_us &&
	          a->updated_at_us == b->updated_at_us &&
	          a->outcome == b->outcome,
	      "records or times differ");
	FIELD(
	    a->has_offer == b->has_offer &&
	        (!a->has_offer ||
	         (memcmp(a->offer.message_id, b->offer.message_id,
	                 KETEN_MSG_ID_LEN) == 0 &&
	          a->offer.seq == b->offer.seq &&
	          strcmp(a->offer.to, b->offer.to) == 0 &&
	          a->offer.offered_at_us == b->offer.offered_at_us &&
	          a->offer.acknowledged_at_us == b->offer.acknowledged_at_us &&
	          a->offer.acknowledge_due_us == b->offer.acknowledge_due_us &&
	          a->offer.decide_due_us == b->offer.decide_due_us &&
	          a->offer.questions == b->offer.questions)),
	    "open offers differ");
}

static const struct mcase *
model_case(const uint8_t id[KETEN_CASE_ID_LEN])
{
	for (int i = 0; i < n_cases; i++)
		if (memcmp(cases[i].id, id, KETEN_CASE_ID_LEN) == 0)
			return &cases[i];
	return NULL;
}

/*
 * Every case as the auditor sees it, and every agency's own list: exactly
 * the model's cases, in opening order, each with the model's one holder.
 * Hands the auditor's list back in *keep if asked.
 */
static void
verify_all(const char *where, struct keten_case **keep, size_t *keep_n)
{
	struct keten_case *all;
	struct keten_error err;
	size_t n = 0;

	for (int a = 0; a < (int)N_AG; a++) {
		int want = 0, seen = 0;
		if (keten_cases(&all, &n, cl[a], 0, &err) != KETEN_OK) {
			fprintf(stderr, "%s: keten_cases as %s: %s\n", where,
			        names[a], err.message);
			CHECK(0);
			continue;
		}
		for (int i = 0; i < n_cases; i++)
			want += a == AUDITOR || party_of(&cases[i], a) >= 0;
		for (size_t i = 0; i < n; i++) {
			const struct mcase *c = model_case(all[i].case_id);
			FIELD(c != NULL, "%s is listed a case the model lacks",
			      names[a]);
			FIELD(i == 0 ||
			          all[i - 1].opened_seq < all[i].opened_seq,
			      "%s's list is not in strict opening order",
			      names[a]);
			if (c == NULL)
				continue;
			FIELD(a == AUDITOR || party_of(c, a) >= 0,
			      "%s is listed a case it is no party to",
			      names[a]);
			seen++;
			expect_case(where, &all[i], c);
		}
		if (seen != want || n != (size_t)want) {
			fprintf(stderr,
			        "%s: %s is listed %zu cases (%d known to the "
			        "model); the model has %d for it\n",
			        where, names[a], n, seen, want);
			check_failures++;
		}
		check_count++;
		if (a == AUDITOR && keep != NULL) {
			*keep = all;
			*keep_n = n;
		} else {
			free(all);
		}
	}
}

/* A case's verified history, as one of its parties, is the model's. */
static void
expect_history(const struct mcase *c, int as)
{
	const char *where = "history";
	struct keten_case_history *h;
	struct keten_error err;
	int rc = keten_case_history(&h, cl[as], c->id, &err);

	FIELD(rc == KETEN_OK, "history as %s: %d %s", names[as], rc,
	      rc ? err.message : "");
	if (rc != KETEN_OK)
		return;
	FIELD(h->n == c->nev, "%zu events as %s, model %zu", h->n, names[as],
	      c->nev);
	for (size_t i = 0; i < h->n && i < c->nev; i++) {
		const struct keten_case_event *e = &h->events[i];
		const struct mevent *m = &c->ev[i];
		FIELD(e->seq == m->seq && (int)e->type == m->type &&
		          strcmp(e->sender, names[m->sender]) == 0 &&
		          strcmp(e->recipient, m->recipient >= 0
		                                   ? names[m->recipient]
		                                   : "") == 0 &&
		          strcmp(e->holder, names[m->holder]) == 0,
		      "event %zu: record %llu %s %s -> %s, holder %s; model "
		      "%llu %s %s -> %s, holder %s",
		      i, (unsigned long long)e->seq,
		      keten_message_type_name(e->type), e->sender, e->recipient,
		      e->holder, (unsigned long long)m->seq,
		      keten_message_type_name(m->type), names[m->sender],
		      m->recipient >= 0 ? names[m->recipient] : "",
		      names[m->holder]);
	}
	if (h->n > 0)
		FIELD(strcmp(h->events[h->n - 1].holder, h->summary.holder) ==
		          0,
		      "history ends held by %s, summary says %s",
		      h->events[h->n - 1].holder, h->summary.holder);
	expect_case("history summary", &h->summary, c);
	keten_case_history_free(&h);
}

#undef FIELD

static void
histories(void)
{
	struct keten_case_history *h;
	struct keten_error err;
	int done = 0;

	/* The tourists (the most parties), and every fifth case. */
	for (int i = 0; i < n_cases; i++) {
		const struct mcase *c = &cases[i];
		int outsider = -1;
		if (!c->tourist && i % 5 != 2)
			continue;
		expect_history(c, c->party[rnd(c->np)]);
		expect_history(c, AUDITOR);
		for (int a = 0; a < AUDITOR && outsider < 0; a++)
			if (party_of(c, a) < 0)
				outsider = a;
		if (outsider >= 0) /* nobody else learns it exists */
			CHECK_INT(
			    keten_case_history(&h, cl[outsider], c->id, &err),
			    KETEN_E_CASE_UNKNOWN);
		done++;
	}
	CHECK(done > 0 || n_cases == 0);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(void)
{
	const char *env_seed = getenv("KETEN_TEST_SEED");
	const char *env_ops = getenv("KETEN_TEST_OPS");
	int n_ops = env_ops ? atoi(env_ops) : 3000;
	int refused[200] = {0}, local[200] = {0}, accepted = 0, done = 0;
	bool diverged = false;
	struct keten_case *before = NULL, *after = NULL;
	size_t n_before = 0, n_after = 0;
	struct keten_audit audit;
	struct keten_error err;
	double t0 = now_s();
	char where[64];

	seed = env_seed ? strtoull(env_seed, NULL, 0)
	                : (unsigned long long)time(NULL) ^
	                      ((unsigned long long)getpid() << 20);
	prng = seed;
	case_cap = n_ops / 75 < 10          ? 10
	           : n_ops / 75 > MAX_CASES ? MAX_CASES
	                                    : n_ops / 75;
	printf("test_case_random: seed %llu (KETEN_TEST_SEED=%llu repeats "
	       "it), %d steps, up to %d cases\n",
	       seed, seed, n_ops, case_cap);
	fflush(stdout);
	for (size_t i = 0; i < N_AG; i++) {
		const char *colon = strchr(REGION[i], ':');
		static const char *const words[] = {
		    "", "local_team", "veilig_thuis", "gi", "raad", "auditor"};
		snprintf(names[i], sizeof(names[i]), "%.*s",
		         (int)(colon - REGION[i]), REGION[i]);
		for (int k = LT; k <= AUD; k++)
			if (strcmp(colon + 1, words[k]) == 0)
				kinds[i] = (enum kind)k;
	}
	harness_region(&H, REGION, N_AG, NULL);
	harness_start(&H);
	/* The log opens with the roster record(s): the model's count too. */
	head = harness_first_seq(&H) - 1;
	for (size_t i = 0; i < N_AG; i++)
		cl[i] = harness_client(&H, names[i]);

	for (int i = 0; i < n_ops; i++) {
		struct op o;
		struct resolved r;
		struct keten_receipt rc;
		char what[512];
		int outcome = 0, want, got;
		uint64_t h;

		gen(&o, 60);
		want = predict(&o, &r);
		got = perform(&o, &rc, &err, &outcome);
		check_count++;
		if (got != want) {
			describe(what, sizeof(what), &o, &r);
			fprintf(stderr,
			        "DISAGREEMENT at step %d (seed %llu): %s: the "
			        "model says %d (%s), the broker %d (%s)\n",
			        i + 1, seed, what, want, keten_strerror(want),
			        got, got ? err.message : "recorded");
			check_failures++;
			diverged = true;
			break;
		}
		done++;
		if (got == KETEN_OK) {
			CHECK_INT(rc.seq, head + 1);
			CHECK_INT(rc.proof.checkpoint.size, head + 1);
			head++;
			accepted++;
			if (o.type == KETEN_MSG_REFERRAL)
				o.kase = n_cases++;
			apply(&cases[o.kase], &o, &r, &rc, outcome);
		} else {
			/* Refused: a sentence, and nothing recorded. */
			CHECK_INT(err.code, got);
			CHECK(strlen(err.message) > 10);
			CHECK_INT(keten_ping(cl[AUDITOR], &h, &err), KETEN_OK);
			CHECK_INT(h, head);
			if (got >= 0 && got < 200) {
				refused[got]++;
				local[got] += r.local;
			}
		}
		if ((i + 1) % CHECK_EVERY == 0) {
			snprintf(where, sizeof(where), "after step %d", i + 1);
			verify_all(where, NULL, NULL);
		}
	}

	/* After a disagreement the model is behind the broker: compare
	 * only the broker with the chain. */
	if (!diverged) {
		verify_all("at the end", &before, &n_before);
		histories();
	} else {
		CHECK_INT(keten_cases(&before, &n_before, cl[AUDITOR], 0, &err),
		          KETEN_OK);
	}
	CHECK_INT(harness_stop(&H), 0);

	/* The chain alone, offline, gives the same cases. */
	CHECK_INT(keten_audit_verify(&audit, H.config, H.data, &err), KETEN_OK);
	CHECK_INT(audit.bad_seq, 0);
	CHECK_INT(audit.cases, n_before);
	CHECK_INT(
	    keten_audit_cases(&after, &n_after, H.config, H.data, 0, &err),
	    KETEN_OK);
	CHECK_INT(n_after, n_before);
	if (!diverged) {
		CHECK_INT(audit.records, head);
		CHECK_INT(audit.head_seq, head);
		CHECK_INT(n_after, n_cases);
	}
	for (size_t i = 0; i < n_after && i < n_before; i++) {
		const struct mcase *c = model_case(after[i].case_id);
		if (!diverged) {
			CHECK(c != NULL);
			if (c != NULL)
				expect_case("replayed offline", &after[i], c);
		}
		expect_same("broker vs replay", &before[i], &after[i], c);
	}
	free(before);
	free(after);

	/* The walk must reach every rule, or it proves little: in trials
	 * each of these came up at least a few times in every run (a full
	 * case, 123, only in most runs). */
	if (!diverged && done >= 3000) {
		static const int codes[] = {106, 108, 110, 115, 116, 117,
		                            118, 119, 120, 121, 122, 124};
		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			if (refused[codes[i]] == 0) {
				fprintf(stderr, "no step was refused with %d\n",
				        codes[i]);
				CHECK(0);
			}
	}

	int closed = 0, full = 0;
	for (int i = 0; i < n_cases; i++) {
		closed += cases[i].status == KETEN_CASE_CLOSED;
		full += cases[i].np == PARTIES_MAX;
		free(cases[i].ev);
	}
	printf("test_case_random: seed %llu: %d steps, %d recorded, %d "
	       "refused:",
	       seed, done, accepted, done - accepted);
	for (int code = 0; code < 200; code++)
		if (refused[code])
			printf(" %d:%d", code, refused[code]);
	printf(" (by the library: ");
	for (int code = 0, first = 1; code < 200; code++)
		if (local[code]) {
			printf("%s%d:%d", first ? "" : " ", code, local[code]);
			first = 0;
		}
	printf("); %d cases, %d closed, %d full; %.1f s\n", n_cases, closed,
	       full, now_s() - t0);
	for (size_t i = 0; i < N_AG; i++)
		keten_client_destroy(&cl[i]);
	harness_cleanup(&H);
	return check_done("test_case_random");
}
