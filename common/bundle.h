/*
 * The offline proof of one record (c2sp.org/tlog-proof@v1, docs/PROTOCOL.md
 * 10.7): built from a data directory the audit verified, and checked with
 * nothing but the region config, no data directory and no broker. Never
 * trusts a byte of a bundle it checks; writes no file.
 */
#ifndef KETEN_BUNDLE_H
#define KETEN_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "config.h"
#include "error.h"
#include "keten_public.h"

#define BUNDLE_COSIGNERS_MAX 16

/* What a bundle that checked proves. */
struct bundle_info {
	struct audit_info rec;      /* the record, its signature verified */
	struct keten_checkpoint cp; /* the broker-signed checkpoint it is in */
	/* The witnesses whose cosignature of cp verified with the config's
	 * keys: their names, pointing into the bundle checked. */
	size_t n_cosigners;
	const char *cosigner[BUNDLE_COSIGNERS_MAX];
	size_t cosigner_len[BUNDLE_COSIGNERS_MAX];
};

/*
 * The bundle of record seq under cp, the data directory's stored
 * checkpoint (its signature already verified, seq <= cp->size): the
 * record's stored bytes, its inclusion proof recomputed from the log, and
 * cp's note with the cosignatures the directory holds. The bundle is
 * checked with bundle_check before it is handed out. *out is malloc'd.
 * KETEN_OK; KETEN_E_CHAIN if the log does not hold cp's tree; the
 * ledger's codes.
 */
int bundle_build(char **out, size_t *len, const struct config *c,
                 const char *dir, const struct keten_checkpoint *cp,
                 uint64_t seq, struct keten_error *err) WUR;

/*
 * Checks a bundle against the region config c: it parses, its checkpoint
 * is a note signed by c's broker key, its record hashes up the inclusion
 * proof to the checkpoint's root at its index, and the record's envelope
 * opens (record_open: signature, signer, body). KETEN_OK with out filled,
 * KETEN_E_RECEIPT with a sentence naming what failed, KETEN_E_NOMEM.
 */
int bundle_check(struct bundle_info *out, const struct config *c,
                 const char *buf, size_t len, struct keten_error *err) WUR;

#endif
