/*
 * The witnesses' side of the store (docs/PROTOCOL.md 10.5): each witness's
 * newest cosigned checkpoint, and what a ping reads in one snapshot. Stores
 * only notes the verify workers checked; never signs, never trusts a stored
 * note that does not verify.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit_witness.h"
#include "log.h"
#include "store_impl.h"

/* What a stored entry of witness w proves, in e: only an entry that
 * verifies (audit_witness_entry, the auditor's check) holds a witness to
 * its size and time. A damaged one, or one of a rotated key, is replaced
 * by any cosignature the verify worker checked. */
static bool
stored_entry(struct audit_cosigned *e, const struct store *s,
             const struct witness *w, const MDB_val *v)
{
	struct note_cosig cs;

	audit_witness_entry(e, &cs, s->key, w, v->mv_data, v->mv_size);
	return e->state == AUDIT_COSIG_PENDING;
}

int
store_witness_apply(const struct store *s, MDB_txn *txn, struct store_item *it)
{
	const char *name = it->witness->name;
	MDB_val k = layout_val(name, strlen(name)), v;
	struct audit_cosigned e;
	uint64_t have;
	int rc = mdb_get(txn, s->witness, &k, &v);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (rc == 0 && !stored_entry(&e, s, it->witness, &v)) {
		log_warn("event=witness_entry_replaced witness=%s reason=%s",
		         name, audit_witness_unverified(e.state));
		rc = MDB_NOTFOUND;
	}
	have = rc == 0 ? e.cp.size : 0;
	if (rc == 0 && have > it->cosign_size) {
		it->cosigned = have;
		it->status = error_set(
		    &it->err, KETEN_E_FIELD,
		    "witness %s already cosigned a checkpoint of %llu records; "
		    "this one has %llu: a witness never goes back",
		    name, (unsigned long long)have,
		    (unsigned long long)it->cosign_size);
		return 0;
	}
	/* Of as many records, the newer cosignature stays: a late copy of
	 * an older one must not replace it. */
	if (rc == 0 && have == it->cosign_size &&
	    e.cosigned_at > it->cosign_time) {
		it->cosigned = have;
		it->status = error_set(
		    &it->err, KETEN_E_FIELD,
		    "witness %s already cosigned a checkpoint of %llu records "
		    "at %llu; this cosignature is from %llu: a witness never "
		    "goes back",
		    name, (unsigned long long)have,
		    (unsigned long long)e.cosigned_at,
		    (unsigned long long)it->cosign_time);
		return 0;
	}
	v = layout_val(it->note, it->note_len);
	if ((rc = mdb_put(txn, s->witness, &k, &v, 0)) != 0)
		return rc;
	it->cosigned = it->cosign_size;
	it->status = KETEN_OK;
	return 0;
}

int
store_witness_newest(struct store *s, const struct config *c, uint64_t *at)
{
	MDB_txn *txn;
	MDB_val k, v;
	struct audit_cosigned e;
	int rc;

	*at = 0;
	pthread_rwlock_rdlock(&s->remap);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) == 0) {
		for (size_t i = 0; rc == 0 && i < c->n_witnesses; i++) {
			const struct witness *w = &c->witnesses[i];
			k = layout_val(w->name, strlen(w->name));
			rc = mdb_get(txn, s->witness, &k, &v);
			if (rc == 0 && stored_entry(&e, s, w, &v) &&
			    e.cosigned_at > *at)
				*at = e.cosigned_at;
			if (rc == MDB_NOTFOUND)
				rc = 0;
		}
		mdb_txn_abort(txn);
	}
	pthread_rwlock_unlock(&s->remap);
	return rc == 0 ? KETEN_OK : KETEN_E_IO;
}

/* Copies every witness's note out of txn's snapshot. */
static int
read_cosigned(const struct store *s, MDB_txn *txn, struct store_ping *out)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, s->witness, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	     rc == 0 && out->n_cosigned < WIRE_COSIGNED_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char *copy = malloc(v.mv_size + 1);
		if (copy == NULL) {
			rc = ENOMEM;
			break;
		}
		memcpy(copy, v.mv_data, v.mv_size);
		out->cosigned[out->n_cosigned] = copy;
		out->cosigned_len[out->n_cosigned++] = v.mv_size;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

int
store_ping(struct store *s, struct store_ping *out, uint64_t known_size,
           struct keten_error *err)
{
	MDB_txn *txn;
	uint8_t hash[32];
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&s->remap);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0)
		goto out;
	if ((rc = store_head_get(s, txn, &out->head_seq, hash)) != 0)
		goto abort;
	rc = store_checkpoint_get(s, txn, &out->cp);
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto abort;
	out->has_cp = rc == 0;
	rc = 0;
	if (out->has_cp)
		rc = store_tree_consistency(s, txn, &out->consistency,
		                            known_size, out->cp.size);
	if (rc == 0)
		rc = read_cosigned(s, txn, out);
abort:
	mdb_txn_abort(txn);
out:
	pthread_rwlock_unlock(&s->remap);
	if (rc != 0) {
		store_ping_free(out);
		return error_set(err, KETEN_E_IO,
		                 "cannot read the checkpoint and its "
		                 "cosignatures: %s",
		                 mdb_strerror(rc));
	}
	return KETEN_OK;
}

void
store_ping_free(struct store_ping *p)
{
	for (size_t i = 0; i < p->n_cosigned; i++)
		free(p->cosigned[i]);
	p->n_cosigned = 0;
}

int
store_root_at(struct store *s, uint8_t root[KETEN_HASH_LEN], uint64_t *head,
              uint64_t size, struct keten_error *err)
{
	MDB_txn *txn;
	uint8_t hash[32];
	int rc;

	pthread_rwlock_rdlock(&s->remap);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) == 0) {
		rc = store_head_get(s, txn, head, hash);
		if (rc == 0 && size <= *head)
			rc = store_tree_root(s, txn, size, root);
		mdb_txn_abort(txn);
	}
	pthread_rwlock_unlock(&s->remap);
	if (rc != 0)
		return error_set(err, KETEN_E_IO, "cannot read the tree: %s",
		                 mdb_strerror(rc));
	if (size > *head)
		return error_set(err, KETEN_E_FIELD,
		                 "the checkpoint has %llu records but this "
		                 "broker's log has %llu",
		                 (unsigned long long)size,
		                 (unsigned long long)*head);
	return KETEN_OK;
}
