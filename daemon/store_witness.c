/*
 * The witnesses' side of the store (docs/PROTOCOL.md 10.5): each witness's
 * newest cosigned checkpoint, and what a ping reads in one snapshot. Stores
 * only notes the verify workers checked; never signs, never trusts a stored
 * note further than its size line and its cosignature's time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* The size line of a stored note (its second line), or 0 if it has none:
 * a damaged entry is replaced by any cosignature. */
static uint64_t
stored_size(const MDB_val *v)
{
	const char *p = memchr(v->mv_data, '\n', v->mv_size);
	const char *end = (const char *)v->mv_data + v->mv_size;
	uint64_t size = 0;

	if (p == NULL)
		return 0;
	for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
		if (size > (UINT64_MAX - 9) / 10)
			return 0;
		size = size * 10 + (uint64_t)(*p - '0');
	}
	return p < end && *p == '\n' ? size : 0;
}

/* The time of a stored note's cosignature (its last signature line, as
 * verify.c stores it), or 0 if it has none: a damaged entry is replaced
 * by any cosignature of as many records. */
static uint64_t
stored_time(const MDB_val *v)
{
	struct note n;
	struct note_cosig cs;

	if (note_split(&n, v->mv_data, v->mv_size, NULL) != KETEN_OK ||
	    n.n_sigs == 0 || note_cosig_decode(&cs, &n.sigs[n.n_sigs - 1]) != 0)
		return 0;
	return cs.timestamp;
}

int
store_witness_apply(const struct store *s, MDB_txn *txn, struct store_item *it)
{
	MDB_val k = layout_val(it->witness, strlen(it->witness)), v;
	uint64_t have, when;
	int rc = mdb_get(txn, s->witness, &k, &v);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	have = rc == 0 ? stored_size(&v) : 0;
	if (rc == 0 && have > it->cosign_size) {
		it->cosigned = have;
		it->status = error_set(
		    &it->err, KETEN_E_FIELD,
		    "witness %s already cosigned a checkpoint of %llu records; "
		    "this one has %llu: a witness never goes back",
		    it->witness, (unsigned long long)have,
		    (unsigned long long)it->cosign_size);
		return 0;
	}
	/* Of as many records, the newer cosignature stays: a late copy of
	 * an older one must not replace it. */
	if (rc == 0 && have == it->cosign_size &&
	    (when = stored_time(&v)) > it->cosign_time) {
		it->cosigned = have;
		it->status = error_set(
		    &it->err, KETEN_E_FIELD,
		    "witness %s already cosigned a checkpoint of %llu records "
		    "at %llu; this cosignature is from %llu: a witness never "
		    "goes back",
		    it->witness, (unsigned long long)have,
		    (unsigned long long)when,
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
