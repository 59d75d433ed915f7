/*
 * The auditor's offline check of a data directory: recomputes the chain,
 * checks every signature against the region's keys and the metadata head.
 * Trusts nothing in the data directory.
 */
#ifndef KETEN_AUDIT_H
#define KETEN_AUDIT_H

#include <stdint.h>

#include "case.h"
#include "config.h"
#include "error.h"

struct audit_result {
	uint64_t records;
	uint64_t head_seq;
	uint8_t head_hash[32];
	uint64_t bad_seq; /* first bad sequence number, 0 if none */
	/* Every case, replayed from the records alone, sorted by case id. */
	struct case_state *cases;
	size_t n_cases;
};

/* Also replays the case state machine: a record it refuses is a broken
 * chain too (the broker recorded what it should have refused). Free res
 * with audit_result_free, whatever the result.
 * KETEN_OK if the whole log verifies; KETEN_E_CHAIN with res->bad_seq and a
 * sentence in err if not; other codes if the directory cannot be read. */
int audit_verify_dir(struct audit_result *res, const struct config *c,
                     const char *dir, struct keten_error *err) WUR;

void audit_result_free(struct audit_result *res);

#endif
