/*
 * The access log (NEN 7513): one entry per read that disclosed records or
 * case state to an agency or auditor, hash-chained like the message log
 * but in a chain of its own (docs/PROTOCOL.md, "The access log"). Pure:
 * layouts and hashes only; daemon/store_write.c writes entries, the offline
 * audit reads them.
 */
#ifndef KETEN_ACCESS_H
#define KETEN_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keten_public.h"

enum access_kind {
	ACCESS_FETCH = 1, /* inbox delivery (fetch or subscription) */
	ACCESS_REPLAY,    /* an auditor read the log */
	ACCESS_CASE,      /* a case and its records */
	ACCESS_CASES,     /* the list of cases */
};

struct access_entry {
	uint64_t seq;  /* position in the access log, from 1 */
	int64_t at_us; /* broker clock when it was committed */
	enum access_kind kind;
	char agency[KETEN_ID_MAX + 1]; /* who read */
	uint64_t first_seq, last_seq;  /* log records disclosed; 0 if none */
	uint32_t n;                    /* records (cases: case states) */
	bool has_case;
	uint8_t case_id[KETEN_CASE_ID_LEN]; /* ACCESS_CASE */
	uint8_t prev_hash[KETEN_HASH_LEN];  /* the entry before, or genesis */
};

#define ACCESS_HEADER    87
#define ACCESS_ENTRY_MAX (ACCESS_HEADER + KETEN_ID_MAX)

/* Stored form; returns its length (at most ACCESS_ENTRY_MAX). */
size_t access_encode(uint8_t *out, const struct access_entry *e);
/* 0, or -1 if buf is not exactly one well-formed entry. */
int access_decode(struct access_entry *e, const uint8_t *buf, size_t len);
/* The entry's hash: BLAKE2b-256 over a tag and its stored form. */
void access_hash(uint8_t out[KETEN_HASH_LEN], const uint8_t *stored,
                 size_t len);
/* What entry 1 links to: BLAKE2b-256 over a tag and the region id. */
void access_genesis(uint8_t out[KETEN_HASH_LEN], const char *region);
/* "fetch", "replay", "case", "cases", or "?" */
const char *access_kind_name(enum access_kind k);

#endif
