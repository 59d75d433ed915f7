/*
 * The store's roster (docs/PROTOCOL.md 22, 13.2): built from the log's
 * roster records at open, extended by STORE_ROSTER items, and read by any
 * thread under the store's lock. Must never apply a roster record that is
 * not committed in the same step, nor hand out a pointer into the roster.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "log.h"
#include "roster.h"
#include "store_impl.h"

int
store_roster_meta_get(const struct store *s, MDB_txn *txn, uint64_t *seq)
{
	MDB_val k = LAYOUT_KEY(LAYOUT_META_ROSTER), v;
	int rc = mdb_get(txn, s->meta, &k, &v);

	*seq = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	return layout_be64_parse(&v, seq) == 0 ? 0 : MDB_CORRUPTED;
}

int
store_roster_meta_put(const struct store *s, MDB_txn *txn, uint64_t seq)
{
	uint8_t buf[LAYOUT_BE64_LEN];
	MDB_val k = LAYOUT_KEY(LAYOUT_META_ROSTER), v;

	v = layout_seq_key(buf, seq);
	return mdb_put(txn, s->meta, &k, &v, 0);
}

/* The envelope of the stored record v decoded into e (clear it): 0 or
 * MDB_CORRUPTED. r gets the record. */
static int
record_envelope(struct record *r, struct envelope *e, const MDB_val *v)
{
	struct keten_error tmp;

	if (chain_record_decode(r, v->mv_data, v->mv_size) != 0 ||
	    wire_envelope_decode(e, r->envelope, r->envelope_len, &tmp) !=
	        KETEN_OK)
		return MDB_CORRUPTED;
	return 0;
}

int
store_roster_is(const MDB_val *k, const MDB_val *v)
{
	struct record r;
	struct envelope e;
	uint64_t seq;
	int is;

	if (layout_be64_parse(k, &seq) != 0 || record_envelope(&r, &e, v) != 0)
		return MDB_CORRUPTED;
	is = e.type == KETEN_MSG_ROSTER;
	wire_envelope_clear(&e);
	return r.seq == seq ? is : MDB_CORRUPTED;
}

/* Record seq, which must be a roster record: its stored record in *r
 * (pointing into LMDB's page) and its Roster's prev_seq. 0, an LMDB code,
 * or -1 with why naming it. */
static int
roster_record_at(const struct store *s, MDB_txn *txn, uint64_t seq,
                 struct record *r, uint64_t *prev_seq, struct keten_error *why)
{
	uint8_t key[LAYOUT_SEQ_KEY_LEN];
	struct envelope e;
	struct wire_roster wr;
	struct keten_error tmp;
	MDB_val k = layout_seq_key(key, seq), v;
	int rc = mdb_get(txn, s->log, &k, &v);

	if (rc == MDB_NOTFOUND) {
		error_set(why, KETEN_E_CHAIN,
		          "the roster names record %llu as a roster record, "
		          "but the log has no such record",
		          (unsigned long long)seq);
		return -1;
	}
	if (rc != 0)
		return rc;
	if (record_envelope(r, &e, &v) != 0 || r->seq != seq)
		return MDB_CORRUPTED;
	rc = e.type == KETEN_MSG_ROSTER
	         ? wire_roster_decode(&wr, e.body, e.body_len, &tmp)
	         : error_set(&tmp, KETEN_E_UNKNOWN_TYPE,
	                     "it is not a roster record");
	wire_envelope_clear(&e);
	if (rc == KETEN_OK) {
		*prev_seq = wr.prev_seq;
		wire_roster_clear(&wr);
		if (*prev_seq < seq)
			return 0;
		error_set(&tmp, KETEN_E_CHAIN,
		          "its prev_seq %llu is not before it",
		          (unsigned long long)*prev_seq);
	}
	error_set(why, KETEN_E_CHAIN, "roster record %llu does not read: %s",
	          (unsigned long long)seq, tmp.message);
	return -1;
}

/*
 * The seqs of the roster records after `after`, from last back through
 * each one's prev_seq, ascending in *seqs (malloc'd: free it). 0, an LMDB
 * code, or -1 with why set.
 */
static int
roster_seqs(const struct store *s, MDB_txn *txn, uint64_t last, uint64_t after,
            uint64_t **seqs, size_t *n, struct keten_error *why)
{
	size_t cap = 0;
	struct record r;
	int rc = 0;

	*seqs = NULL;
	*n = 0;
	for (uint64_t seq = last, prev; seq > after; seq = prev) {
		if (*n == cap) {
			uint64_t *p;
			cap = cap ? 2 * cap : 16;
			if ((p = realloc(*seqs, cap * sizeof(*p))) == NULL) {
				rc = ENOMEM;
				break;
			}
			*seqs = p;
		}
		if ((rc = roster_record_at(s, txn, seq, &r, &prev, why)) != 0)
			break;
		(*seqs)[(*n)++] = seq;
	}
	if (rc != 0) {
		free(*seqs);
		*seqs = NULL;
		*n = 0;
		return rc;
	}
	for (size_t i = 0; i < *n / 2; i++) {
		uint64_t t = (*seqs)[i];
		(*seqs)[i] = (*seqs)[*n - 1 - i];
		(*seqs)[*n - 1 - i] = t;
	}
	return 0;
}

int
store_roster_load(const struct store *s, MDB_txn *txn, uint64_t last,
                  struct roster **out, struct keten_error *why)
{
	struct keten_error tmp;
	uint64_t *seqs, prev;
	struct record r;
	size_t n;
	int rc;

	if (roster_new(out, s->region, why) != KETEN_OK)
		return -1;
	if ((rc = roster_seqs(s, txn, last, 0, &seqs, &n, why)) != 0) {
		roster_destroy(out);
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = roster_record_at(s, txn, seqs[i], &r, &prev, why)) !=
		    0)
			break;
		if (roster_apply(*out, r.seq, r.received_at_us, r.envelope,
		                 r.envelope_len, &tmp) != KETEN_OK) {
			error_set(why, KETEN_E_CHAIN,
			          "roster record %llu does not apply to the "
			          "roster before it: %s",
			          (unsigned long long)r.seq, tmp.message);
			rc = -1;
		}
	}
	free(seqs);
	if (rc != 0)
		roster_destroy(out);
	return rc;
}

int
store_roster_open(struct store_writer *w, MDB_txn *txn, struct keten_error *why)
{
	struct store *s = w->s;
	struct roster *r;
	int rc;

	if ((rc = store_roster_meta_get(s, txn, &w->roster_seq)) != 0 ||
	    (rc = store_roster_load(s, txn, w->roster_seq, &r, why)) != 0)
		return rc;
	roster_destroy(&s->roster); /* a start transaction run again */
	s->roster = r;
	return 0;
}

int
store_roster_apply(struct store_writer *w, MDB_txn *txn, struct store_item *it,
                   int64_t now_us)
{
	const struct store *s = w->s;
	uint64_t seq = w->head_seq + 1;
	int rc;

	if (w->roster_next == NULL &&
	    (rc = store_roster_load(s, txn, w->roster_seq, &w->roster_next,
	                            &it->err)) != 0) {
		if (rc == -1)
			it->status = it->err.code;
		return rc == -1 ? 0 : rc;
	}
	/* On the working copy: a refused record changes nothing. */
	it->status = roster_apply(w->roster_next, seq, now_us, it->envelope,
	                          it->envelope_len, &it->err);
	if (it->status != KETEN_OK)
		return 0;
	it->receipt.seq = seq;
	it->receipt.received_at_us = now_us;
	memcpy(it->receipt.prev_hash, w->head_hash, 32);
	if ((rc = store_write_append(w, txn, it->envelope, it->envelope_len,
	                             now_us, it->receipt.record_hash)) != 0 ||
	    (rc = store_roster_meta_put(s, txn, seq)) != 0)
		return rc;
	w->roster_seq = seq;
	return 0;
}

void
store_roster_batch_end(struct store_writer *w, bool committed)
{
	struct store *s = w->s;
	struct roster *old;

	if (w->roster_next == NULL)
		return;
	if (!committed) {
		roster_destroy(&w->roster_next);
		return;
	}
	pthread_rwlock_wrlock(&s->remap);
	old = s->roster;
	s->roster = w->roster_next;
	pthread_rwlock_unlock(&s->remap);
	w->roster_next = NULL;
	roster_destroy(&old); /* roster_sync logs what was recorded */
}

int
store_roster_find(struct store *s, struct agency *out, const char *id,
                  uint64_t seq, struct keten_error *err)
{
	const struct agency *a;

	pthread_rwlock_rdlock(&s->remap);
	if ((a = roster_find(s->roster, id, seq, err)) != NULL)
		*out = *a;
	pthread_rwlock_unlock(&s->remap);
	if (a != NULL)
		return KETEN_OK;
	return err->code != KETEN_OK ? err->code
	                             : error_set(err, KETEN_E_INTERNAL,
	                                         "the roster found no answer");
}

/* record_roster.find over the store: a per-thread copy. */
static const struct agency *
store_roster_door_find(const void *arg, const char *signer, uint64_t seq,
                       struct keten_error *err)
{
	static _Thread_local struct agency found;
	struct store *s = (struct store *)(uintptr_t)arg;

	return store_roster_find(s, &found, signer, seq, err) == KETEN_OK
	           ? &found
	           : NULL;
}

struct record_roster
store_record_roster(struct store *s)
{
	struct record_roster rr = {.find = store_roster_door_find, .arg = s};

	return rr;
}

uint64_t
store_roster_last(struct store *s)
{
	uint64_t seq;

	pthread_rwlock_rdlock(&s->remap);
	seq = roster_last_seq(s->roster);
	pthread_rwlock_unlock(&s->remap);
	return seq;
}

const struct roster *
store_writer_roster(const struct store_writer *w)
{
	return w->s->roster;
}

int
store_roster_after(const struct store *s, MDB_txn *txn, uint64_t after_seq,
                   size_t max, uint64_t **seqs, size_t *n, bool *more)
{
	struct keten_error why;
	uint64_t last;
	int rc;

	if ((rc = store_roster_meta_get(s, txn, &last)) != 0)
		return rc;
	rc = roster_seqs(s, txn, last, after_seq, seqs, n, &why);
	if (rc == -1)
		return MDB_CORRUPTED;
	*more = rc == 0 && *n > max;
	if (*more)
		*n = max;
	return rc;
}
