/*
 * The auditor's offline check of a data directory: recomputes the chain,
 * checks every signature against the region's keys and the metadata head.
 * Trusts nothing in the data directory.
 */
#ifndef KETEN_AUDIT_H
#define KETEN_AUDIT_H

#include <stdint.h>

#include "config.h"
#include "error.h"

struct audit_result {
	uint64_t records;
	uint64_t head_seq;
	uint8_t head_hash[32];
	uint64_t bad_seq; /* first bad sequence number, 0 if none */
};

/* KETEN_OK if the whole log verifies; KETEN_E_CHAIN with res->bad_seq and a
 * sentence in err if not; other codes if the directory cannot be read. */
int audit_verify_dir(struct audit_result *res, const struct config *c,
                     const char *dir, struct keten_error *err) WUR;

#endif
