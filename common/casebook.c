/*
 * The audit's compact case store (see casebook.h). Two open-addressed
 * indexes, kept at most half full: case id to case number, and party id to
 * name number. Both keys come from agencies, so both are hashed with a
 * secret key: ids made to collide cannot make a replay quadratic.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "casebook.h"

#define HEAD_LEN offsetof(struct case_state, parties)
#define REFERRED 1u

/* A case: struct case_state's bytes up to its parties, as they are, then
 * each party as its name number << 1, | REFERRED if it referred. */
struct kept {
	unsigned char head[HEAD_LEN];
	uint32_t party[CASE_PARTIES_MAX];
};

enum table { CASES, NAMES };

struct casebook {
	struct kept *cases;
	size_t n, cap;
	uint32_t *slots; /* case number + 1, by case id; 0 is free */
	size_t n_slots;
	char (*names)[KETEN_ID_MAX + 1];
	size_t n_names, cap_names;
	uint32_t *name_slots; /* name number + 1, by party id */
	size_t n_name_slots;
	uint8_t key[crypto_shorthash_KEYBYTES];
};

static const void *
key_of(const struct casebook *b, enum table t, size_t i)
{
	return t == CASES ? b->cases[i].head + offsetof(struct case_state, id)
	                  : (const void *)b->names[i];
}

/* The slot of key in index s of n slots (a power of two): its own, or
 * the free one it would take. */
static size_t
slot(const struct casebook *b, enum table t, const uint32_t *s, size_t n,
     const void *key)
{
	/* A name compares with its NUL, so "vt" is not "vt-flevoland". */
	size_t len = t == CASES ? KETEN_CASE_ID_LEN : strlen(key) + 1;
	uint8_t h8[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(h8, key, len, b->key);
	memcpy(&h, h8, sizeof(h));
	for (h &= n - 1;
	     s[h] != 0 && memcmp(key_of(b, t, s[h] - 1), key, len) != 0;
	     h = (h + 1) & (n - 1))
		;
	return (size_t)h;
}

/* Room in table t's index for one more entry. */
static int
room(struct casebook *b, enum table t)
{
	uint32_t **s = t == CASES ? &b->slots : &b->name_slots;
	size_t *n_slots = t == CASES ? &b->n_slots : &b->n_name_slots;
	size_t used = t == CASES ? b->n : b->n_names;
	size_t n = *n_slots ? 2 * *n_slots : 64;
	uint32_t *grown;

	if (2 * (used + 1) <= *n_slots)
		return 0;
	/* Numbers fit a slot, and a name number a party's 31 bits. */
	if (used >= UINT32_MAX / 2 ||
	    (grown = calloc(n, sizeof(*grown))) == NULL)
		return -1;
	for (size_t i = 0; i < used; i++)
		grown[slot(b, t, grown, n, key_of(b, t, i))] =
		    (uint32_t)(i + 1);
	free(*s);
	*s = grown;
	*n_slots = n;
	return 0;
}

/* Party id's name number, added if new; -1 if out of memory. */
static int64_t
name_number(struct casebook *b, const char *id)
{
	size_t h;

	if (strlen(id) > KETEN_ID_MAX || room(b, NAMES) != 0)
		return -1;
	h = slot(b, NAMES, b->name_slots, b->n_name_slots, id);
	if (b->name_slots[h] != 0)
		return b->name_slots[h] - 1;
	if (b->n_names == b->cap_names) {
		size_t cap = b->cap_names ? 2 * b->cap_names : 32;
		char(*p)[KETEN_ID_MAX + 1] =
		    realloc(b->names, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		b->names = p;
		b->cap_names = cap;
	}
	memset(b->names[b->n_names], 0, sizeof(b->names[b->n_names]));
	strcpy(b->names[b->n_names], id);
	b->name_slots[h] = (uint32_t)++b->n_names;
	return (int64_t)b->n_names - 1;
}

static void
expand(const struct casebook *b, const struct kept *k, struct case_state *st)
{
	memset(st, 0, sizeof(*st));
	memcpy(st, k->head, HEAD_LEN);
	for (size_t i = 0; i < st->n_parties; i++) {
		memcpy(st->parties[i].id, b->names[k->party[i] >> 1],
		       sizeof(st->parties[i].id));
		st->parties[i].referred = (k->party[i] & REFERRED) != 0;
	}
}

struct casebook *
casebook_new(void)
{
	struct casebook *b = calloc(1, sizeof(*b));

	if (b != NULL)
		randombytes_buf(b->key, sizeof(b->key));
	return b;
}

void
casebook_free(struct casebook **b)
{
	if (b == NULL || *b == NULL)
		return;
	free((*b)->cases);
	free((*b)->slots);
	free((*b)->names);
	free((*b)->name_slots);
	free(*b);
	*b = NULL;
}

void
casebook_get(const struct casebook *b, const uint8_t *id, struct case_state *st,
             size_t *at)
{
	if (b->n_slots != 0) {
		size_t h = slot(b, CASES, b->slots, b->n_slots, id);
		if (b->slots[h] != 0) {
			*at = b->slots[h] - 1;
			expand(b, &b->cases[*at], st); /* zeroes st first */
			return;
		}
	}
	*at = SIZE_MAX;
	memset(st, 0, sizeof(*st));
}

int
casebook_put(struct casebook *b, size_t at, const struct case_state *st)
{
	struct kept k;
	size_t h;

	if (st->n_parties > CASE_PARTIES_MAX || (at != SIZE_MAX && at >= b->n))
		return -1;
	memset(&k, 0, sizeof(k));
	memcpy(k.head, st, HEAD_LEN);
	for (size_t i = 0; i < st->n_parties; i++) {
		int64_t nr = name_number(b, st->parties[i].id);
		if (nr < 0)
			return -1;
		k.party[i] = (uint32_t)nr << 1 |
		             (st->parties[i].referred ? REFERRED : 0);
	}
	if (at != SIZE_MAX) {
		b->cases[at] = k;
		return 0;
	}
	if (room(b, CASES) != 0)
		return -1;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 256;
		struct kept *p = realloc(b->cases, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		b->cases = p;
		b->cap = cap;
	}
	h = slot(b, CASES, b->slots, b->n_slots, st->id);
	if (b->slots[h] != 0) { /* not new after all: replace it */
		b->cases[b->slots[h] - 1] = k;
		return 0;
	}
	b->cases[b->n] = k;
	b->slots[h] = (uint32_t)++b->n;
	return 0;
}

size_t
casebook_count(const struct casebook *b)
{
	return b->n;
}

void
casebook_case(const struct casebook *b, size_t i, struct case_state *st)
{
	expand(b, &b->cases[i], st);
}
