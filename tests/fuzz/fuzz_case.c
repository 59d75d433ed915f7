/*
 * The case state machine (common/case.c), two ways; the first byte picks.
 *
 * 0x01 (the storage format's version byte): the input is a value of the
 *   broker's `cases` database, which the broker decodes from its own file
 *   before every step. case_decode must never crash, and what it accepts
 *   must be what case_encode writes, byte for byte. Then every kind of
 *   message, from and to each role, is applied to the decoded state: no
 *   crash, and a refusal changes nothing.
 *
 * Anything else: the rest is a sequence of messages for one case, four
 * bytes each, built as the verify workers would have decoded them and
 * applied with case_step from an unseen case. After every step the state
 * is checked against docs/PROTOCOL.md 17 (invariants, and a model of the
 * transition and refusal tables 17.2 and 17.3) and round-tripped through
 * its storage form.
 *
 * One message, four bytes:
 *   t: low nibble % 10 + 1 is the type; bits 4-5 pick offer_id (0, 1: the
 *      open offer's id, 2: the id of the message before, 3: an id never
 *      used); bits 6-7: seconds since the previous message (0: the same
 *      commit batch, so the same broker time)
 *   s: the sender, r: the recipient: bit 7 clear: agency (s & 0x7f) % 20;
 *      set: by role, bits 5-6: 0 the holder, 1 the offeree, 2 party
 *      (s & 0x1f) % parties, 3 the first referrer (the holder if none)
 *   d: urgency (d % 3 + 1), respond_by (bit 7: a deadline d days on, else
 *      0), decline reason and close outcome (d % 5 + 1)
 * A close's recipient is always empty: wire_body_decode refuses any other.
 */
#include <string.h>

#include "case.h"
#include "fuzz.h"
#include "text.h"
#include "wire.h"

#define N_AGENCIES 20 /* more than CASE_PARTIES_MAX, so a case fills up */
#define T0_US      INT64_C(1700000000000000)
#define DAY_US     (INT64_C(86400) * 1000000)

static char agencies[N_AGENCIES][8];
static bool trace;        /* FUZZ_CASE_TRACE=1: print each step of a sequence */
static struct config cfg; /* only its deadlines are read */
static const uint8_t case_id[KETEN_CASE_ID_LEN] = {
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	trace = getenv("FUZZ_CASE_TRACE") != NULL;
	for (int i = 0; i < N_AGENCIES; i++)
		snprintf(agencies[i], sizeof(agencies[i]), "ag-%02d", i);
	/* The region defaults: 5, 10 and 5 working days; one fixed length
	 * so that both kinds of arithmetic run. */
	cfg.deadline_acknowledge = (struct duration){.working_days = 5};
	cfg.deadline_referral = (struct duration){.working_days = 10};
	cfg.deadline_handover = (struct duration){.us = 36 * 3600 * 1000000LL};
	return 0;
}

/* ---- checks that hold for any state case_step may see ---- */

static size_t
encode(uint8_t out[CASE_ENCODED_MAX], const struct case_state *st)
{
	size_t n = case_encode(out, st);

	FUZZ_CHECK(n >= 117 && n <= CASE_ENCODED_MAX);
	return n;
}

/* The stored form of st decodes to a state that stores the same. */
static void
check_round_trip(const struct case_state *st)
{
	uint8_t a[CASE_ENCODED_MAX], b[CASE_ENCODED_MAX];
	struct case_state again;
	size_t na = encode(a, st), nb;

	FUZZ_CHECK(case_decode(&again, a, na) == 0);
	nb = encode(b, &again);
	FUZZ_CHECK(na == nb && memcmp(a, b, na) == 0);
}

static void
check_refusal_code(int rc, const struct keten_error *err)
{
	fuzz_check_refusal(rc, err);
	FUZZ_CHECK(rc >= KETEN_E_CASE_UNKNOWN && rc <= KETEN_E_ACKNOWLEDGED);
}

/* Applies m to *st; on a refusal st must be exactly as it was. */
static int
step(struct case_state *st, const struct case_msg *m)
{
	struct case_state before = *st;
	uint8_t a[CASE_ENCODED_MAX], b[CASE_ENCODED_MAX];
	struct keten_error err;
	size_t na = 0, nb;
	int rc;

	if (st->status != CASE_NONE)
		na = encode(a, st);
	error_clear(&err);
	if ((rc = case_step(st, m, &err)) == KETEN_OK)
		return rc;
	check_refusal_code(rc, &err);
	FUZZ_CHECK(memcmp(&before, st, sizeof(before)) == 0);
	if (before.status != CASE_NONE) {
		nb = encode(b, st);
		FUZZ_CHECK(na == nb && memcmp(a, b, na) == 0);
	}
	return rc;
}

/* ---- stored states ---- */

/* Every type from and to every role, each from the decoded state. */
static void
probe(const struct case_state *st)
{
	const char *outsider = "ag-outsider";
	uint8_t mid[KETEN_MSG_ID_LEN];
	const char *who[4];

	memset(mid, 0xee, sizeof(mid));
	who[0] = case_holder(st);
	who[1] = st->parties[st->offer.to].id;
	who[2] = st->parties[st->n_parties - 1].id;
	who[3] = outsider;
	for (uint32_t t = 1; t <= KETEN_MSG_TYPE_MAX; t++)
		for (int s = 0; s < 4; s++)
			for (int r = 0; r < 4; r++) {
				struct case_state copy = *st;
				struct case_msg m = {
				    .type = t,
				    .sender = who[s],
				    .recipient =
				        t == KETEN_MSG_CLOSE ? "" : who[r],
				    .message_id = mid,
				    .case_id = st->id,
				    .offer_id = wire_type_needs_offer(t)
				                    ? st->offer.message_id
				                    : NULL,
				    .seq = st->last_seq + 1,
				    .at_us = st->updated_at_us,
				    .outcome = 1};
				int64_t ack_due, decide_due;

				if (t == KETEN_MSG_CLOSE && r > 0)
					break;
				if (step(&copy, &m) != KETEN_OK)
					continue;
				FUZZ_CHECK(copy.holder < copy.n_parties);
				FUZZ_CHECK(copy.offer.to < copy.n_parties);
				/* What the broker stores next it can read. */
				check_round_trip(&copy);
				case_offer_due(&ack_due, &decide_due, &copy,
				               &cfg);
				(void)case_overdue(&copy, &cfg,
				                   copy.offer.at_us);
			}
}

static void
stored(const uint8_t *data, size_t size)
{
	struct case_state st;
	uint8_t out[CASE_ENCODED_MAX];
	size_t n;
	int64_t ack_due, decide_due;

	if (case_decode(&st, data, size) != 0)
		return;
	/* What the broker indexes with before anything else. */
	FUZZ_CHECK(st.status >= KETEN_CASE_OFFERED &&
	           st.status <= KETEN_CASE_CLOSED);
	FUZZ_CHECK(st.n_parties >= 1 && st.n_parties <= CASE_PARTIES_MAX);
	FUZZ_CHECK(st.holder < st.n_parties);
	FUZZ_CHECK(st.offer.to < st.n_parties);
	for (size_t i = 0; i < st.n_parties; i++)
		FUZZ_CHECK(strlen(st.parties[i].id) <= KETEN_ID_MAX);
	/* Accepted means canonical: the broker writes back exactly what it
	 * read, so a damaged value cannot pass as a different one. */
	n = encode(out, &st);
	FUZZ_CHECK(n == size && memcmp(out, data, size) == 0);
	case_offer_due(&ack_due, &decide_due, &st, &cfg);
	(void)case_overdue(&st, &cfg, st.updated_at_us);
	probe(&st);
}

/* ---- sequences ---- */

/* A party index by role, or -1 (no such party yet). */
static int
role(const struct case_state *st, uint8_t b)
{
	if (st->n_parties == 0)
		return -1;
	switch ((b >> 5) & 3) {
	case 0:
		return st->holder;
	case 1:
		return st->offer.to;
	case 2:
		return (b & 0x1f) % st->n_parties;
	default:
		for (int i = 0; i < st->n_parties; i++)
			if (st->parties[i].referred)
				return i;
		return st->holder;
	}
}

static const char *
agency(const struct case_state *st, uint8_t b)
{
	int i;

	if ((b & 0x80) && (i = role(st, b)) >= 0)
		return st->parties[i].id;
	return agencies[(b & 0x7f) % N_AGENCIES];
}

static int
find(const struct case_state *st, const char *id)
{
	for (int i = 0; i < st->n_parties; i++)
		if (strcmp(st->parties[i].id, id) == 0)
			return i;
	return -1;
}

static bool
is_answer(uint32_t t)
{
	return t == KETEN_MSG_ACKNOWLEDGE || t == KETEN_MSG_ACCEPT ||
	       t == KETEN_MSG_DECLINE || t == KETEN_MSG_INFO_REQUEST;
}

/*
 * The model: docs/PROTOCOL.md 17.2 and 17.3, written from the tables, not
 * from case.c. Returns the code case_step must answer and, for KETEN_OK,
 * leaves the state after m in *st. One deliberate difference from the
 * table's order: case_step refuses a message to its own sender (122)
 * before rules 1-4, whatever the state.
 */
static int
model(struct case_state *st, const struct case_msg *m)
{
	const char *holder = st->n_parties ? st->parties[st->holder].id : "";
	const char *offeree = st->n_parties ? st->parties[st->offer.to].id : "";
	bool right_offer =
	    m->offer_id != NULL &&
	    memcmp(m->offer_id, st->offer.message_id, KETEN_MSG_ID_LEN) == 0;
	int to;

	if (strcmp(m->sender, m->recipient) == 0)
		return KETEN_E_WRONG_PARTY;
	if (st->status == CASE_NONE && m->type != KETEN_MSG_REFERRAL)
		return KETEN_E_CASE_UNKNOWN; /* 1 */
	if (st->status != CASE_NONE && m->type == KETEN_MSG_REFERRAL)
		return KETEN_E_CASE_EXISTS; /* 2 */
	if (st->status != CASE_NONE && !case_involves(st, m->sender))
		return KETEN_E_CASE_UNKNOWN; /* 3: not a party */
	if (st->status == KETEN_CASE_CLOSED)
		return KETEN_E_CASE_CLOSED; /* 4 */
	if (st->status == CASE_NONE) {
		memset(st, 0, sizeof(*st));
		memcpy(st->id, m->case_id, KETEN_CASE_ID_LEN);
		strcpy(st->parties[0].id, m->sender);
		strcpy(st->parties[1].id, m->recipient);
		st->n_parties = 2;
		st->holder = 0;
		st->opened_seq = m->seq;
		st->opened_at_us = m->at_us;
		to = 1;
		goto offer;
	}
	if (is_answer(m->type)) {
		if (st->status != KETEN_CASE_OFFERED)
			return KETEN_E_NO_OFFER; /* 5 */
		if (strcmp(m->sender, offeree) != 0)
			return KETEN_E_NOT_OFFEREE; /* 6 */
		if (!right_offer)
			return KETEN_E_NO_OFFER; /* 7 */
		if (strcmp(m->recipient, holder) != 0)
			return KETEN_E_WRONG_PARTY; /* 8 */
		if (m->type == KETEN_MSG_ACKNOWLEDGE && st->offer.acked_us != 0)
			return KETEN_E_ACKNOWLEDGED; /* 9 */
		switch (m->type) {
		case KETEN_MSG_ACKNOWLEDGE:
			st->offer.acked_us = m->at_us;
			break;
		case KETEN_MSG_INFO_REQUEST:
			st->offer.questions++;
			break;
		case KETEN_MSG_ACCEPT:
			st->parties[st->holder].referred = true;
			st->holder = st->offer.to;
			st->status = KETEN_CASE_HELD;
			break;
		default:
			st->status = KETEN_CASE_HELD;
		}
		goto done;
	}
	if (strcmp(m->sender, holder) != 0)
		return KETEN_E_NOT_HOLDER; /* 10 */
	switch (m->type) {
	case KETEN_MSG_HANDOVER:
		if (st->status == KETEN_CASE_OFFERED)
			return KETEN_E_OFFER_OPEN; /* 11 */
		if (strcmp(m->recipient, holder) == 0)
			return KETEN_E_WRONG_PARTY; /* 12 */
		if ((to = find(st, m->recipient)) < 0) {
			if (st->n_parties == CASE_PARTIES_MAX)
				return KETEN_E_CASE_FULL; /* 13 */
			to = st->n_parties++;
			strcpy(st->parties[to].id, m->recipient);
		}
		goto offer;
	case KETEN_MSG_CLOSE:
		if (st->status == KETEN_CASE_OFFERED)
			return KETEN_E_OFFER_OPEN; /* 14 */
		st->status = KETEN_CASE_CLOSED;
		st->outcome = m->outcome;
		goto done;
	case KETEN_MSG_FEEDBACK:
		if ((to = find(st, m->recipient)) < 0 ||
		    !st->parties[to].referred)
			return KETEN_E_WRONG_PARTY; /* 15 */
		goto done;
	default: /* withdraw, info_reply */
		if (st->status != KETEN_CASE_OFFERED || !right_offer)
			return KETEN_E_NO_OFFER; /* 16, 17 */
		if (strcmp(m->recipient, offeree) != 0)
			return KETEN_E_WRONG_PARTY; /* 18 */
		if (m->type == KETEN_MSG_WITHDRAW)
			st->status = KETEN_CASE_HELD;
		goto done;
	}
offer:
	memset(&st->offer, 0, sizeof(st->offer));
	memcpy(st->offer.message_id, m->message_id, KETEN_MSG_ID_LEN);
	st->offer.seq = m->seq;
	st->offer.type = m->type;
	st->offer.to = (uint8_t)to;
	st->offer.at_us = m->at_us;
	st->offer.respond_by_us = m->respond_by_us;
	st->status = KETEN_CASE_OFFERED;
done:
	st->messages++;
	st->last_seq = m->seq;
	st->updated_at_us = m->at_us;
	return KETEN_OK;
}

/* 17.4 and the storage layout's promises, after every successful step. */
static void
check_state(const struct case_state *st, const struct case_state *before,
            const struct case_msg *m)
{
	const char *to[CASE_PARTIES_MAX];
	size_t n_to;
	int64_t ack_due, decide_due;

	FUZZ_CHECK(st->status >= KETEN_CASE_OFFERED &&
	           st->status <= KETEN_CASE_CLOSED);
	FUZZ_CHECK(memcmp(st->id, case_id, KETEN_CASE_ID_LEN) == 0);
	FUZZ_CHECK(st->n_parties >= 2 && st->n_parties <= CASE_PARTIES_MAX);
	FUZZ_CHECK(st->holder < st->n_parties);
	FUZZ_CHECK(st->offer.to < st->n_parties);
	/* Exactly one holder: every party is a distinct, valid id, so the
	 * holder's id names one party. */
	for (int i = 0; i < st->n_parties; i++) {
		FUZZ_CHECK(text_valid_id(st->parties[i].id));
		for (int j = 0; j < i; j++)
			FUZZ_CHECK(
			    strcmp(st->parties[i].id, st->parties[j].id) != 0);
	}
	FUZZ_CHECK(case_involves(st, case_holder(st)));
	/* An open offer goes from the holder to another agency. */
	if (st->status == KETEN_CASE_OFFERED)
		FUZZ_CHECK(st->offer.to != st->holder);
	/* Only an accept moves the holder, and only to the offeree. */
	if (before->status != CASE_NONE &&
	    strcmp(case_holder(st), case_holder(before)) != 0)
		FUZZ_CHECK(m->type == KETEN_MSG_ACCEPT &&
		           strcmp(case_holder(st),
		                  before->parties[before->offer.to].id) == 0);
	/* Parties only grow; the referred flag is never cleared. */
	FUZZ_CHECK(st->n_parties >= before->n_parties);
	for (int i = 0; i < before->n_parties; i++) {
		FUZZ_CHECK(strcmp(st->parties[i].id, before->parties[i].id) ==
		           0);
		FUZZ_CHECK(st->parties[i].referred ||
		           !before->parties[i].referred);
	}
	FUZZ_CHECK(st->messages == before->messages + 1);
	FUZZ_CHECK(st->last_seq == m->seq && st->updated_at_us == m->at_us);
	/* Both ends of a message are parties afterwards. */
	FUZZ_CHECK(case_involves(st, m->sender));
	if (m->type != KETEN_MSG_CLOSE)
		FUZZ_CHECK(case_involves(st, m->recipient));
	/* Delivery: the recipient, or for a close every other party. */
	n_to = case_recipients(to, st, m);
	if (m->type == KETEN_MSG_CLOSE) {
		FUZZ_CHECK(n_to == (size_t)st->n_parties - 1);
		for (size_t i = 0; i < n_to; i++)
			FUZZ_CHECK(strcmp(to[i], m->sender) != 0 &&
			           case_involves(st, to[i]));
	} else {
		FUZZ_CHECK(n_to == 1 && strcmp(to[0], m->recipient) == 0);
	}
	/* Deadlines: nothing unless offered; the offer's own wins. */
	case_offer_due(&ack_due, &decide_due, st, &cfg);
	if (st->status != KETEN_CASE_OFFERED) {
		FUZZ_CHECK(ack_due == 0 && decide_due == 0);
		FUZZ_CHECK(!case_overdue(st, &cfg, INT64_MAX));
	} else {
		FUZZ_CHECK(ack_due > st->offer.at_us);
		if (st->offer.respond_by_us != 0)
			FUZZ_CHECK(decide_due == st->offer.respond_by_us);
		else if (st->offer.acked_us == 0)
			FUZZ_CHECK(decide_due == 0);
		else
			FUZZ_CHECK(decide_due > st->offer.acked_us);
		FUZZ_CHECK(!case_overdue(st, &cfg, st->offer.at_us));
	}
	check_round_trip(st);
}

static void
sequence(const uint8_t *data, size_t size)
{
	struct case_state st, want;
	uint8_t ids[2][KETEN_MSG_ID_LEN], never[KETEN_MSG_ID_LEN];
	uint64_t seq = 100;
	int64_t at = T0_US;
	bool opened = false;

	memset(&st, 0, sizeof(st));
	memset(ids, 0, sizeof(ids));
	for (size_t k = 0; k + 4 <= size; k += 4) {
		const uint8_t *op = data + k;
		uint32_t type = (op[0] & 0x0f) % KETEN_MSG_TYPE_MAX + 1;
		struct case_state before = st;
		struct case_msg m = {.type = type, .case_id = case_id};
		uint8_t *mid = ids[(k / 4) & 1], *prev = ids[!((k / 4) & 1)];
		int rc, want_rc;

		/* Unique per message: "M", then the step number. */
		memset(mid, 0, KETEN_MSG_ID_LEN);
		mid[0] = 'M';
		memcpy(mid + 8, &k, sizeof(k));
		m.message_id = mid;
		m.sender = agency(&st, op[1]);
		m.recipient = type == KETEN_MSG_CLOSE ? "" : agency(&st, op[2]);
		if (wire_type_needs_offer(type)) {
			switch ((op[0] >> 4) & 3) {
			case 2:
				m.offer_id = prev;
				break;
			case 3:
				memset(never, 'R', sizeof(never));
				never[1] = op[3];
				m.offer_id = never;
				break;
			default:
				m.offer_id = st.offer.message_id;
			}
		}
		at += (op[0] >> 6) * 1000000;
		m.seq = ++seq;
		m.at_us = at;
		if (type == KETEN_MSG_REFERRAL || type == KETEN_MSG_HANDOVER)
			m.respond_by_us =
			    op[3] & 0x80 ? at + (op[3] & 0x7f) * DAY_US : 0;
		if (type == KETEN_MSG_CLOSE)
			m.outcome = op[3] % KETEN_OUTCOME_MAX + 1;

		want = st;
		want_rc = model(&want, &m);
		rc = step(&st, &m);
		if (trace || rc != want_rc)
			fprintf(stderr,
			        "step %zu: %s from %s to %s: case_step %d, the "
			        "tables %d; %s, held by %s, %d parties\n",
			        k / 4, keten_message_type_name(type), m.sender,
			        m.recipient, rc, want_rc,
			        keten_case_status_name(st.status),
			        st.n_parties ? case_holder(&st) : "-",
			        st.n_parties);
		FUZZ_CHECK(rc == want_rc);
		if (rc != KETEN_OK) {
			/* Nothing follows a close; 17.3's first rules win. */
			if (before.status == KETEN_CASE_CLOSED)
				FUZZ_CHECK(strcmp(m.sender, m.recipient) == 0
				               ? rc == KETEN_E_WRONG_PARTY
				           : type == KETEN_MSG_REFERRAL
				               ? rc == KETEN_E_CASE_EXISTS
				           : !case_involves(&before, m.sender)
				               ? rc == KETEN_E_CASE_UNKNOWN
				               : rc == KETEN_E_CASE_CLOSED);
			/* Once opened, never unopened. */
			FUZZ_CHECK(!opened || st.status != CASE_NONE);
			continue;
		}
		opened = true;
		check_state(&st, &before, &m);
		/* The model's state, byte for byte. */
		{
			uint8_t a[CASE_ENCODED_MAX], b[CASE_ENCODED_MAX];
			size_t na = encode(a, &st), nb = encode(b, &want);
			FUZZ_CHECK(na == nb && memcmp(a, b, na) == 0);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] == 1)
		stored(data, size);
	else
		sequence(data + 1, size - 1);
	return 0;
}
