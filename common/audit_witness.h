/*
 * The witnesses' cosignatures as an auditor checks them (docs/PROTOCOL.md
 * 10.5, 20.3): the witness database of a data directory held to the log
 * the audit walks, and the cosignature lines of a proof bundle. Reads the
 * directory only through ledger.c; trusts no stored byte.
 */
#ifndef KETEN_AUDIT_WITNESS_H
#define KETEN_AUDIT_WITNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "config.h"
#include "error.h"
#include "ledger.h"
#include "note.h"
#include "roster.h"

/*
 * Reads the witness database of l into res->cosigned (the entries of
 * witnesses c names, each parsed and its broker signature and
 * cosignature checked: state PENDING or one of the BAD states) and
 * res->n_unnamed. The broker key of an entry is the one in force at its
 * size in r (audit_witness_broker_key). A missing database has no
 * entries. KETEN_OK, or the ledger's errors; a bad entry is not an error
 * here (audit_witness_end reports it once the log verified).
 */
int audit_witness_load(struct audit_result *res, const struct config *c,
                       const struct roster *r, struct ledger *l,
                       struct keten_error *err) WUR;

/*
 * The broker's key to check the checkpoint note (len bytes) with: the
 * key of r's broker key history in force at the note's size
 * (docs/PROTOCOL.md 22.4), found by the signature line the note carries;
 * c's broker key if r is NULL, holds no roster record, or no key of its
 * history both signs a line of the note and is in force at its size
 * (the check then fails as it did before rosters).
 */
void audit_witness_broker_key(struct note_key *k, const struct config *c,
                              const struct roster *r, const char *note,
                              size_t len);

/* The smallest size of a PENDING entry, UINT64_MAX if none: the walk
 * calls audit_witness_reached when its tree has that many leaves. */
uint64_t audit_witness_next(const struct audit_result *res);

/* The walk's log has size records, record size's hash head and tree root
 * root: every PENDING entry of that size becomes HELD, or DIFFERS. */
void audit_witness_reached(struct audit_result *res, uint64_t size,
                           const uint8_t head[32], const uint8_t root[32]);

/*
 * Once the whole log of res->records verified: entries still PENDING are
 * BEYOND it; the first bad entry is KETEN_E_CHAIN with a sentence naming
 * the witness and both sizes (res->bad_seq set where a record is to
 * blame); else the quorum is computed under c's witness_quorum from the
 * HELD entries. skip_unverified: entries that prove nothing (BAD_NOTE,
 * BAD_BROKER, BAD_COSIG: a rotated witness key, a damaged entry) are not
 * errors, only left out; DIFFERS and BEYOND, evidence of a cut or a fork,
 * still are.
 */
int audit_witness_end(struct audit_result *res, const struct config *c,
                      bool skip_unverified, struct keten_error *err) WUR;

/* For an entry that proves nothing, a word for why ("note",
 * "broker_signature", "cosignature"); NULL for any other state. */
const char *audit_witness_unverified(enum audit_cosig_state state);

/*
 * Checks one stored entry of witness w, note (len bytes): it parses as a
 * checkpoint, broker's signature verifies, and so does w's cosignature
 * (audit_witness_cosig). Fills *e: state PENDING with cp and cosigned_at,
 * and *cs; or BAD_NOTE, BAD_BROKER or BAD_COSIG, which prove nothing.
 */
void audit_witness_entry(struct audit_cosigned *e, struct note_cosig *cs,
                         const struct note_key *broker, const struct witness *w,
                         const char *note, size_t len);

/*
 * The cosignature by witness w in the split note n that verifies with
 * w's cosign_key in the config: 0 with *cs and *line (the signature line,
 * pointing into n) filled, or -1.
 */
int audit_witness_cosig(struct note_cosig *cs, const struct note_sig **line,
                        const struct note *n, const struct witness *w) WUR;

/*
 * Appends to out (len bytes used of cap) the cosignature lines, checked
 * and re-encoded, of every witness entry in dir whose checkpoint note is
 * exactly note (note_len bytes, its broker signature line included), in
 * name order, the broker key as audit_witness_broker_key's with r. Returns the
 * new length; lines that do not fit are left out. The ledger's errors are not
 * fatal: without them the note is whole.
 */
size_t audit_witness_lines(char *out, size_t len, size_t cap,
                           const struct config *c, const struct roster *r,
                           const char *dir);

#endif
