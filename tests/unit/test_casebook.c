/*
 * casebook: the audit's compact case store gives back exactly the state it
 * was given, byte for byte, by case id and by number, through index growth,
 * updates and party ids that are prefixes of one another.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "casebook.h"

#define N_CASES 3000

/* Party ids: a few real ones, then "x", "xx", ... up to the longest
 * allowed, each a prefix of the next. */
static const char *const real[] = {"vt-flevoland", "vt", "lt-almere", "gi-save",
                                   "raad-midden-nederland"};
#define N_REAL  (sizeof(real) / sizeof(real[0]))
#define N_NAMES (N_REAL + KETEN_ID_MAX)
static char names[N_NAMES][KETEN_ID_MAX + 1];

static void
make_names(void)
{
	for (size_t k = 0; k < N_NAMES; k++) {
		if (k < N_REAL)
			snprintf(names[k], sizeof(names[k]), "%s", real[k]);
		else
			memset(names[k], 'x', k - N_REAL + 1);
	}
}

/* Case i's state: every field from i, i % 17 parties. */
static void
state_of(struct case_state *st, size_t i)
{
	memset(st, 0, sizeof(*st));
	memset(st->id, 0xA5, sizeof(st->id));
	memcpy(st->id, &i, sizeof(i));
	st->status = (enum keten_case_status)(1 + i % 3);
	st->n_parties = (uint8_t)(i % (CASE_PARTIES_MAX + 1));
	st->holder = st->n_parties ? (uint8_t)(i % st->n_parties) : 0;
	st->outcome = (uint32_t)i * 7;
	st->messages = (uint32_t)i + 1;
	st->opened_seq = i + 1;
	st->last_seq = 2 * i + 1;
	st->opened_at_us = (int64_t)i * 1000;
	st->updated_at_us = (int64_t)i * 2000;
	memset(st->offer.message_id, (int)(i & 0xff), KETEN_MSG_ID_LEN);
	st->offer.seq = i + 3;
	st->offer.type = 1 + (uint32_t)(i % 2);
	st->offer.to = st->holder;
	st->offer.respond_by_us = (int64_t)i * 3;
	st->offer.questions = (uint32_t)(i % 5);
	for (size_t p = 0; p < st->n_parties; p++) {
		snprintf(st->parties[p].id, sizeof(st->parties[p].id), "%s",
		         names[(7 * i + p) % N_NAMES]);
		st->parties[p].referred = (i + p) % 3 == 0;
	}
}

int
main(void)
{
	struct casebook *b;
	struct case_state st, want;
	size_t at;
	int same = 1;

	if (sodium_init() < 0 || (b = casebook_new()) == NULL)
		return 1;
	make_names();

	/* Empty: an unknown case is zeroed, with no number. */
	state_of(&want, 1);
	casebook_get(b, want.id, &st, &at);
	CHECK(at == SIZE_MAX);
	CHECK(st.status == CASE_NONE && st.n_parties == 0 && st.id[0] == 0);
	CHECK_INT(casebook_count(b), 0);

	/* Thousands of new cases, numbered in the order stored. */
	for (size_t i = 0; i < N_CASES; i++) {
		state_of(&want, i);
		casebook_get(b, want.id, &st, &at);
		same &= at == SIZE_MAX;
		same &= casebook_put(b, at, &want) == 0;
	}
	CHECK(same);
	CHECK_INT(casebook_count(b), N_CASES);
	for (size_t i = 0; i < N_CASES; i++) {
		state_of(&want, i);
		casebook_get(b, want.id, &st, &at);
		same &= at == i && memcmp(&st, &want, sizeof(st)) == 0;
		casebook_case(b, i, &st);
		same &= memcmp(&st, &want, sizeof(st)) == 0;
	}
	CHECK(same); /* every byte back, by id and by number */

	/* A case updated under its number: more parties, new holder. */
	state_of(&want, 5);
	want.n_parties = CASE_PARTIES_MAX;
	memset(want.parties, 0, sizeof(want.parties));
	for (size_t p = 0; p < CASE_PARTIES_MAX; p++)
		snprintf(want.parties[p].id, sizeof(want.parties[p].id),
		         "agency-%zu", p);
	want.holder = CASE_PARTIES_MAX - 1;
	want.status = KETEN_CASE_CLOSED;
	CHECK(casebook_put(b, 5, &want) == 0);
	casebook_get(b, want.id, &st, &at);
	CHECK_INT(at, 5);
	CHECK(memcmp(&st, &want, sizeof(st)) == 0);
	CHECK_INT(casebook_count(b), N_CASES);
	state_of(&want, 6); /* its neighbour untouched */
	casebook_case(b, 6, &st);
	CHECK(memcmp(&st, &want, sizeof(st)) == 0);

	/* A known id put as new replaces its case, not a second one. */
	state_of(&want, 7);
	want.messages = 99;
	CHECK(casebook_put(b, SIZE_MAX, &want) == 0);
	CHECK_INT(casebook_count(b), N_CASES);
	casebook_case(b, 7, &st);
	CHECK_INT(st.messages, 99);

	/* Refused, changing nothing: too many parties, a number not given. */
	state_of(&want, N_CASES);
	want.n_parties = CASE_PARTIES_MAX + 1;
	CHECK(casebook_put(b, SIZE_MAX, &want) == -1);
	state_of(&want, N_CASES);
	CHECK(casebook_put(b, N_CASES, &want) == -1);
	CHECK_INT(casebook_count(b), N_CASES);
	casebook_get(b, want.id, &st, &at);
	CHECK(at == SIZE_MAX);

	casebook_free(&b);
	CHECK(b == NULL);
	casebook_free(&b); /* twice is harmless */
	return check_done("test_casebook");
}
