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

/* Which checkpoint bundle_pick chose (keten_proof_source's values). */
enum bundle_source {
	BUNDLE_QUORUM = 0, /* cosigned, as it is, by witness_quorum witnesses */
	BUNDLE_COSIGNED,   /* cosigned, short of the quorum */
	BUNDLE_STORED      /* the directory's stored checkpoint */
};

/*
 * The checkpoint to prove record seq against, from an audit res of the
 * directory that verified (every witness entry HELD): the newest one
 * that witness_quorum witnesses cosigned with identical note text and
 * that holds seq; else the newest cosigned one that holds seq; else
 * res->cp, the stored one (valid only if res->has_cp). Newest: the most
 * records, then the latest signing time.
 */
enum bundle_source bundle_pick(struct keten_checkpoint *cp,
                               const struct audit_result *res,
                               const struct config *c, uint64_t seq);

/*
 * The bundle of record seq under cp, a checkpoint of the log the audit
 * verified (the stored one or a witness's, its signature verified): the
 * record's stored bytes, its inclusion proof at cp's size recomputed from
 * the log, and cp's note with the cosignatures the directory holds of
 * exactly that note; and with r, the audit's roster of the chain (NULL:
 * the log has none), every roster record up to cp's size with its
 * inclusion proof, so a verifier can rebuild the key in force for the
 * record and the checkpoint (docs/PROTOCOL.md 10.7). The bundle is checked with
 * bundle_check before it is handed out. *out is malloc'd. KETEN_OK;
 * KETEN_E_USAGE if seq is not under cp; KETEN_E_CHAIN if the log does not hold
 * cp's tree; the ledger's codes.
 */
int bundle_build(char **out, size_t *len, const struct config *c,
                 const struct roster *r, const char *dir,
                 const struct keten_checkpoint *cp, uint64_t seq,
                 struct keten_error *err) WUR;

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
