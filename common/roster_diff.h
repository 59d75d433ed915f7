/*
 * What the region config says the roster should be, minus what the chain
 * recorded: the changes of the next roster record (docs/PROTOCOL.md 22.7).
 * Pure: no I/O, no clock, no secret; it never judges a statement's
 * signature (common/roster.c does, when the record is applied).
 */
#ifndef KETEN_ROSTER_DIFF_H
#define KETEN_ROSTER_DIFF_H

#include <stddef.h>

#include "config.h"
#include "error.h"
#include "roster.h"

/*
 * The changes that take the roster r (the chain's, at its head) to what
 * config c says, in the order of PROTOCOL.md 22.7. *out is malloc'd (free
 * with roster_changes_free); *n == 0 (and *out NULL) when nothing differs.
 *
 * - r with no roster record yet: the first roster record, a BROKER change
 *   with c's broker keys and no statement, then a JOIN for every agency in
 *   config order, then a REVOKE for each `revoked:` entry naming the key an
 *   agency joins with (a REVOKE needs a member, so here it follows the
 *   JOINs).
 * - Otherwise: BROKER (broker.sign_key differs from the broker key in
 *   force: needs broker.rotation; a new transport_key under the same
 *   sign_key is refused: a key set is known by its signing key, which is
 *   never used twice (roster.c), so the broker rotates all its keys, with
 *   a statement, as `keten keygen --rotate` makes them), REVOKE
 *   (each `revoked:` entry not yet recorded), LEAVE (each member the config
 *   no longer lists, in roster order), JOIN (each config agency that is not
 *   a member, in config order; also a former member re-joining), ROTATE or
 *   REKEY (the config's keys differ from the keys in force: REKEY when
 *   those are revoked, by the chain or by a REVOKE above, else ROTATE with
 *   the agency's `rotation:`), RENAME (the name differs).
 *
 * A statement (`rotation:`) whose keys are already in force is ignored;
 * one that is needed is copied as given: roster_apply verifies it. The
 * changes' rotation pointers borrow c's statements: c must outlive *out.
 * *n may exceed WIRE_ROSTER_CHANGES_MAX; the changes may then be recorded
 * in consecutive roster records, in order (each is valid on the state the
 * ones before it leave).
 *
 * Refusals, KETEN_E_CONFIG with FILE:LINE of the config entry, the agency
 * and what to do: a kind change (also on re-joining), changed keys without
 * `rotation:`, a new broker.sign_key without broker.rotation, a `revoked:`
 * entry naming a key its agency never had, new keys whose sign_key was
 * ever recorded (a re-join, a revoked key), a box or transport key that
 * changes without the sign_key. The broker section has no line of its
 * own: its refusals name the file (and broker.rotation's line if given).
 * KETEN_E_NOMEM.
 *
 * LEAVE needs one more rule this pure function cannot check: an agency
 * that holds a case not closed, or is the sender or recipient of an open
 * offer, may not leave (PROTOCOL.md 22.7). The caller (ketend, with its
 * store) checks every LEAVE change's agency before it records anything
 * and refuses the config if one of them still has such a case or offer.
 */
int roster_diff(struct roster_change **out, size_t *n, const struct roster *r,
                const struct config *c, struct keten_error *err) WUR;

/* Frees what roster_diff returned (not the statements it borrows); NULL
 * is a no-op. */
void roster_changes_free(struct roster_change *changes, size_t n);

#endif
