/*
 * The broker's signed checkpoints of the log (docs/PROTOCOL.md 10.2): made
 * from the writer's heads and the tree's root, stored in meta as their
 * signed note, and checked
 * against the log at start. Signs only through the writer's sign
 * function (signer.c holds the key); never commits a transaction.
 */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "roster.h"
#include "store_impl.h"

/* The checkpoint of the writer's view, signed. */
void
store_checkpoint_make(struct store_writer *w, struct keten_checkpoint *cp,
                      int64_t now_us)
{
	memset(cp, 0, sizeof(*cp));
	cp->size = w->head_seq;
	memcpy(cp->head_hash, w->head_hash, 32);
	merkle_frontier_root(&w->tree_f, cp->root);
	cp->access_size = w->access_seq;
	memcpy(cp->access_head, w->access_hash, 32);
	cp->signed_at_us = now_us;
	cp->roster_seq = w->roster_seq; /* PROTOCOL.md 22.4 */
	w->sign(w->sign_arg, cp);
}

int
store_checkpoint_put(const struct store *s, MDB_txn *txn,
                     const struct keten_checkpoint *cp)
{
	char note[NOTE_CHECKPOINT_MAX];
	MDB_val k = LAYOUT_KEY(LAYOUT_META_CHECKPOINT), v;
	size_t n = note_checkpoint_format(note, sizeof(note), s->key, cp);

	if (n == 0)
		return EINVAL; /* cannot be: the buffer holds the longest */
	v = layout_val(note, n);
	return mdb_put(txn, s->meta, &k, &v, 0);
}

/* The stored checkpoint, if any: 0, MDB_NOTFOUND or an LMDB code. */
int
store_checkpoint_get(const struct store *s, MDB_txn *txn,
                     struct keten_checkpoint *cp)
{
	MDB_val k = LAYOUT_KEY(LAYOUT_META_CHECKPOINT), v;
	int rc = mdb_get(txn, s->meta, &k, &v);

	if (rc != 0)
		return rc;
	return note_checkpoint_parse(cp, v.mv_data, v.mv_size, s->key, NULL) ==
	               KETEN_OK
	           ? 0
	           : MDB_CORRUPTED;
}

/* Signs a checkpoint of the log as it is, unless the stored one signs a
 * different log (then MDB_CORRUPTED: the broker must not start). */
/* The stored checkpoint as signed by an earlier broker key of the
 * roster's history (before a rotation this start is about to record):
 * 0, or MDB_CORRUPTED if no key of the history signed it. */
static int
stored_by_earlier_key(const struct store_writer *w, MDB_txn *txn,
                      struct keten_checkpoint *cp)
{
	struct roster_keyset *const *ks;
	size_t n = w->s->roster ? roster_broker_keys(w->s->roster, &ks) : 0;
	MDB_val k = LAYOUT_KEY(LAYOUT_META_CHECKPOINT), v;
	struct note_key key;

	if (mdb_get(txn, w->s->meta, &k, &v) != 0)
		return MDB_CORRUPTED;
	for (size_t i = n; i-- > 0;)
		if (note_broker_key(&key, w->s->region, ks[i]->keys.sign) ==
		        0 &&
		    note_checkpoint_parse(cp, v.mv_data, v.mv_size, &key,
		                          NULL) == KETEN_OK &&
		    memcmp(roster_broker_key_for_size(w->s->roster, cp->size),
		           ks[i]->keys.sign, 32) == 0)
			return 0;
	return MDB_CORRUPTED;
}

int64_t
store_writer_time(const struct store_writer *w)
{
	return w->cp.signed_at_us;
}

int
store_checkpoint_ensure(struct store_writer *w, MDB_txn *txn)
{
	struct keten_checkpoint want;
	int64_t now_us;
	int rc = store_checkpoint_get(w->s, txn, &w->cp);
	bool earlier = false;

	/* Signed with the key in force at its size, which is not this
	 * broker's yet when this start is to record a rotation: kept as it
	 * is (PROTOCOL.md 22.4), never signed afresh with the new key at a
	 * size the old one covers. */
	if (rc == MDB_CORRUPTED && stored_by_earlier_key(w, txn, &w->cp) == 0) {
		rc = 0;
		earlier = true;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	/* Not dated before the stored one, whatever the clock says: its
	 * time never descends (PROTOCOL.md 9.1). Whether a clock that far
	 * behind may serve at all is main's to decide (ketend.md). */
	now_us = clock_now_us();
	if (rc == 0 && now_us < w->cp.signed_at_us)
		now_us = w->cp.signed_at_us;
	store_checkpoint_make(w, &want, now_us);
	if (rc == 0 && (w->cp.size != want.size ||
	                memcmp(w->cp.head_hash, want.head_hash, 32) != 0 ||
	                memcmp(w->cp.root, want.root, 32) != 0 ||
	                w->cp.access_size != want.access_size ||
	                memcmp(w->cp.access_head, want.access_head, 32) != 0 ||
	                w->cp.roster_seq != want.roster_seq))
		return MDB_CORRUPTED; /* signed, but not this log: altered */
	if (earlier)
		return 0; /* the rotation's record signs the next one */
	/* Signed afresh even when it matches: a log from before the
	 * roster (schema 5) may have changed broker key without a record
	 * of it; the first roster record then names this key. */
	w->cp = want;
	return store_checkpoint_put(w->s, txn, &want);
}
