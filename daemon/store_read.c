/*
 * The store's read path: heads, inbox fetches, case listings, one case's
 * history and log replays, each in one read snapshot under the remap lock.
 * Any thread may call it; it must never write, and never hand out an
 * MDB_val: callers get copies.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "store_impl.h"
#include "text.h"

int
store_head(struct store *s, uint64_t *seq, uint8_t hash[32])
{
	MDB_txn *txn;
	int rc;

	pthread_rwlock_rdlock(&s->remap);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		pthread_rwlock_unlock(&s->remap);
		return KETEN_E_IO;
	}
	/* A damaged head is an error, not an empty log. */
	rc = store_head_get(s, txn, seq, hash);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->remap);
	return rc == 0 ? KETEN_OK : KETEN_E_IO;
}

/* Copies out the stored record v (record seq) without its content. */
static int
record_copy(struct delivered *d, uint64_t seq, const MDB_val *v)
{
	struct record r;
	uint8_t *buf;

	if (chain_record_decode(&r, v->mv_data, v->mv_size) != 0)
		return MDB_CORRUPTED;
	d->seq = seq;
	d->received_at_us = r.received_at_us;
	memcpy(d->prev_hash, r.prev_hash, 32);
	chain_record_hash(d->record_hash, v->mv_data, v->mv_size);
	if ((buf = malloc(r.envelope_len ? r.envelope_len : 1)) == NULL)
		return ENOMEM;
	memcpy(buf, r.envelope, r.envelope_len);
	d->envelope = buf;
	d->envelope_len = r.envelope_len;
	d->sealed = NULL;
	d->sealed_len = 0;
	return 0;
}

static int
log_get(const struct store *s, MDB_txn *txn, uint64_t seq, MDB_val *v)
{
	uint8_t key[LAYOUT_SEQ_KEY_LEN];
	MDB_val k;

	k = layout_seq_key(key, seq);
	return mdb_get(txn, s->log, &k, v);
}

/* Record seq with its sealed content, if it still has any. */
static int
copy_out(struct delivered *d, MDB_txn *txn, const struct store *s, uint64_t seq)
{
	uint8_t key[LAYOUT_SEQ_KEY_LEN];
	MDB_val k, v;
	uint8_t *buf;
	int rc;

	if ((rc = log_get(s, txn, seq, &v)) != 0 ||
	    (rc = record_copy(d, seq, &v)) != 0)
		return rc;
	k = layout_seq_key(key, seq);
	rc = mdb_get(txn, s->content, &k, &v);
	if (rc == MDB_NOTFOUND) /* none, or destroyed */
		return 0;
	if (rc != 0)
		return rc;
	if ((buf = malloc(v.mv_size ? v.mv_size : 1)) == NULL)
		return ENOMEM;
	memcpy(buf, v.mv_data, v.mv_size);
	d->sealed = buf;
	d->sealed_len = v.mv_size;
	return 0;
}

/* Appends the stored record v (record seq, no content) to a growing
 * array of at most limit (0: no limit). Counted before it is filled, so
 * records_free frees a partial copy. */
static int
take_record(struct delivered **recs, size_t *n, size_t *cap, size_t limit,
            uint64_t seq, const MDB_val *v)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		struct delivered *p;
		if (limit != 0 && ncap > limit)
			ncap = limit;
		if ((p = realloc(*recs, ncap * sizeof(*p))) == NULL)
			return ENOMEM;
		*recs = p;
		*cap = ncap;
	}
	memset(&(*recs)[*n], 0, sizeof(**recs));
	return record_copy(&(*recs)[(*n)++], seq, v);
}

static void
records_free(struct delivered *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((void *)(uintptr_t)recs[i].envelope);
		free((void *)(uintptr_t)recs[i].sealed);
		free((void *)(uintptr_t)recs[i].path);
	}
	free(recs);
}

/* A read transaction under the remap lock; end it with read_end. */
static int
read_begin(struct store *s, MDB_txn **txn)
{
	int rc;

	pthread_rwlock_rdlock(&s->remap);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn)) != 0)
		pthread_rwlock_unlock(&s->remap);
	return rc;
}

static void
read_end(struct store *s, MDB_txn *txn, MDB_cursor *cur)
{
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->remap);
}

int
store_fetch(struct store *s, struct store_fetch *out, const char *agency,
            uint64_t after_seq, size_t max_n, size_t max_bytes,
            uint64_t known_size, struct keten_error *err)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t ibox[LAYOUT_INBOX_KEY_MAX], hash[32];
	size_t bytes = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((out->items = calloc(max_n, sizeof(*out->items))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	k = layout_cursor_key(agency);
	rc = mdb_get(txn, s->cursor, &k, &v);
	if (rc == 0 && layout_be64_parse(&v, &out->cursor) != 0) {
		rc = MDB_CORRUPTED; /* not "Successful return" */
		goto fail_txn;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	if ((rc = store_head_get(s, txn, &out->head_seq, hash)) != 0 ||
	    (rc = mdb_cursor_open(txn, s->inbox, &cur)) != 0)
		goto fail_txn;
	if (after_seq < out->cursor)
		after_seq = out->cursor;
	/* Saturating, as in store_case: no record follows UINT64_MAX. */
	k = layout_val(ibox, layout_inbox_key(ibox, agency,
	                                      after_seq == UINT64_MAX
	                                          ? UINT64_MAX
	                                          : after_seq + 1));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct delivered *d;
		uint64_t seq;
		if (layout_agency_parse(&k, agency, &seq) != 0)
			break; /* past this agency's entries */
		if (out->n == max_n || bytes >= max_bytes) {
			out->more = true;
			break;
		}
		d = &out->items[out->n];
		if ((rc = copy_out(d, txn, s, seq)) != 0) {
			out->n++; /* so its partial copy is freed */
			goto fail_txn;
		}
		bytes += d->envelope_len + d->sealed_len;
		out->n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	if (out->n > 0 &&
	    ((rc = store_tree_prove(s, txn, out->items, out->n, &out->cp)) !=
	         0 ||
	     (rc = store_tree_consistency(s, txn, &out->consistency, known_size,
	                                  out->cp.size)) != 0))
		goto fail_txn;
	out->has_cp = out->n > 0;
	read_end(s, txn, cur);
	return KETEN_OK;
fail_txn:
	read_end(s, txn, cur);
fail:
	store_fetch_free(out);
	return error_set(err, KETEN_E_IO, "cannot read the inbox: %s",
	                 mdb_strerror(rc));
}

void
store_fetch_free(struct store_fetch *f)
{
	records_free(f->items, f->n);
	memset(f, 0, sizeof(*f));
}

/* The case number in a listing's key k: of cases (agency NULL) or of
 * agency's caseidx entries. 0 or -1. */
static int
listed_number(const MDB_val *k, const char *agency, uint64_t *no)
{
	return agency ? layout_agency_parse(k, agency, no)
	              : layout_be64_parse(k, no);
}

/* Steps cur to the next case for the listing, in number (opening) order:
 * every case (agency NULL, cur on cases), or the next of agency's index
 * entries (cur on caseidx); first: the first after number `after` (all
 * zero: from the start), with key (LAYOUT_CASEIDX_KEY_MAX) to build the
 * start's key in. no gets the case's number. */
static int
next_case(MDB_cursor *cur, const char *agency, uint8_t *key,
          const uint8_t after[LAYOUT_SEQ_KEY_LEN], bool first,
          uint8_t no[LAYOUT_SEQ_KEY_LEN])
{
	uint64_t from = bytes_get_be64(after), n;
	MDB_val k, v;
	int rc;

	if (first) {
		k = agency ? layout_caseidx_key(key, agency, from)
		           : layout_seq_key(key, from);
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		/* Skip the `after` entry itself. */
		if (rc == 0 && listed_number(&k, agency, &n) == 0 && n == from)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0)
		return rc;
	if (listed_number(&k, agency, &n) != 0)
		return agency ? MDB_NOTFOUND /* past this agency's entries */
		              : MDB_CORRUPTED;
	bytes_put_be64(no, n);
	return 0;
}

/* Where a listing continues: the number of case `after`, if agency (NULL:
 * anyone) may see it. 0, -1 if not, or an LMDB code. */
static int
listing_after(const struct store *s, MDB_txn *txn,
              uint8_t no[LAYOUT_SEQ_KEY_LEN], const char *agency,
              const uint8_t *after)
{
	struct case_state st;
	int rc;

	memset(no, 0, LAYOUT_SEQ_KEY_LEN);
	if (after == NULL)
		return 0;
	if ((rc = store_casedb_number(s, txn, no, after)) == MDB_NOTFOUND)
		return -1;
	if (rc != 0 || (rc = store_casedb_at(s, txn, &st, no)) != 0)
		return rc;
	return agency == NULL || case_involves(&st, agency) ? 0 : -1;
}

int
store_cases(struct store *s, struct store_cases *out, const char *agency,
            const uint8_t *after, size_t max_n, struct keten_error *err)
{
	uint8_t key[LAYOUT_CASEIDX_KEY_MAX], no[LAYOUT_SEQ_KEY_LEN];
	char hex[2 * KETEN_CASE_ID_LEN + 1];
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((out->items = calloc(max_n ? max_n : 1, sizeof(*out->items))) ==
	    NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	if ((rc = listing_after(s, txn, no, agency, after)) == -1) {
		read_end(s, txn, NULL);
		free(out->items);
		memset(out, 0, sizeof(*out));
		text_hex(hex, after, KETEN_CASE_ID_LEN);
		/* As for a case read: no one learns that a case they are
		 * not part of exists. */
		return error_set(err, KETEN_E_CASE_UNKNOWN,
		                 "case %s to continue after is unknown%s%s%s; "
		                 "continue after the last case of the "
		                 "previous page",
		                 hex, agency ? ", or " : "",
		                 agency ? agency : "",
		                 agency ? " is not a party to it" : "");
	}
	if (rc != 0)
		goto fail_txn;
	if ((rc = mdb_cursor_open(txn, agency ? s->caseidx : s->cases, &cur)) !=
	    0)
		goto fail_txn;
	for (rc = next_case(cur, agency, key, no, true, no); rc == 0;
	     rc = next_case(cur, agency, key, no, false, no)) {
		if (out->n == max_n) {
			out->more = true;
			break;
		}
		if ((rc = store_casedb_at(s, txn, &out->items[out->n], no)) !=
		    0)
			goto fail_txn;
		out->n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	read_end(s, txn, cur);
	return KETEN_OK;
fail_txn:
	read_end(s, txn, cur);
fail:
	free(out->items);
	memset(out, 0, sizeof(*out));
	return error_set(err, KETEN_E_IO, "cannot read the cases: %s",
	                 mdb_strerror(rc));
}

int
store_case(struct store *s, struct store_case *out, const char *agency,
           const uint8_t case_id[KETEN_CASE_ID_LEN], uint64_t after_seq,
           size_t max_bytes, struct keten_error *err)
{
	uint8_t key[LAYOUT_CASELOG_KEY_LEN];
	size_t cap = 0, bytes = 0;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	char hex[2 * KETEN_CASE_ID_LEN + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	if ((rc = store_casedb_get(s, txn, &out->st, case_id)) != 0)
		goto fail_txn;
	if (out->st.status == CASE_NONE ||
	    (agency != NULL && !case_involves(&out->st, agency))) {
		read_end(s, txn, NULL);
		text_hex(hex, case_id, KETEN_CASE_ID_LEN);
		/* The same answer either way: no one learns that a case
		 * they are not part of exists. */
		return error_set(err, KETEN_E_CASE_UNKNOWN,
		                 "case %s is unknown%s%s%s", hex,
		                 agency ? ", or " : "", agency ? agency : "",
		                 agency ? " is not a party to it" : "");
	}
	if ((rc = mdb_cursor_open(txn, s->caselog, &cur)) != 0)
		goto fail_txn;
	/* After the last possible record: the summary alone. */
	k = layout_caselog_key(key, out->st.opened_seq,
	                       after_seq == UINT64_MAX ? UINT64_MAX
	                                               : after_seq + 1);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t no, seq;
		if (layout_caselog_parse(&k, &no, &seq) != 0 ||
		    no != out->st.opened_seq)
			break;
		if (bytes >= max_bytes) {
			out->more = true;
			break;
		}
		if ((rc = log_get(s, txn, seq, &v)) != 0 ||
		    (rc = take_record(&out->records, &out->n, &cap, 0, seq,
		                      &v)) != 0)
			goto fail_txn;
		bytes += out->records[out->n - 1].envelope_len;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	read_end(s, txn, cur);
	return KETEN_OK;
fail_txn:
	read_end(s, txn, cur);
fail:
	store_case_free(out);
	return error_set(err, KETEN_E_IO, "cannot read the case: %s",
	                 mdb_strerror(rc));
}

void
store_case_free(struct store_case *c)
{
	records_free(c->records, c->n);
	memset(c, 0, sizeof(*c));
}

int
store_replay(struct store *s, struct store_replay *out, uint64_t from_seq,
             size_t max_n, size_t max_bytes, uint64_t known_size,
             struct keten_error *err)
{
	uint8_t key[LAYOUT_SEQ_KEY_LEN];
	size_t cap = 0, bytes = 0;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (max_n == 0)
		max_n = 1;
	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	/* From the same snapshot as the records: never behind them. */
	if ((rc = store_head_get(s, txn, &out->head_seq, out->head_hash)) != 0)
		goto fail_txn;
	if ((rc = store_checkpoint_get(s, txn, &out->cp)) == 0) {
		out->has_cp = true;
		rc = store_tree_consistency(s, txn, &out->consistency,
		                            known_size, out->cp.size);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	if ((rc = mdb_cursor_open(txn, s->log, &cur)) != 0)
		goto fail_txn;
	k = layout_seq_key(key, from_seq ? from_seq : 1);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t seq;
		if (layout_be64_parse(&k, &seq) != 0) {
			rc = MDB_CORRUPTED;
			goto fail_txn;
		}
		if (out->n == max_n || (out->n > 0 && bytes >= max_bytes)) {
			out->more = true;
			break;
		}
		/* The cursor holds the record: no second lookup. Grown as
		 * needed, so a replay past the head costs nothing. */
		if ((rc = take_record(&out->records, &out->n, &cap, max_n, seq,
		                      &v)) != 0)
			goto fail_txn;
		bytes += out->records[out->n - 1].envelope_len;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	read_end(s, txn, cur);
	return KETEN_OK;
fail_txn:
	read_end(s, txn, cur);
fail:
	store_replay_free(out);
	if (rc == ENOMEM)
		return error_set(err, KETEN_E_NOMEM,
		                 "out of memory replaying the log");
	return error_set(err, KETEN_E_IO, "cannot replay the log: %s",
	                 mdb_strerror(rc));
}

void
store_replay_free(struct store_replay *r)
{
	records_free(r->records, r->n);
	memset(r, 0, sizeof(*r));
}

int
store_consistency(struct store *s, struct store_consistency *out,
                  uint64_t from_size, uint64_t to_size, uint64_t known_size,
                  struct keten_error *err)
{
	MDB_txn *txn;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	if ((rc = store_checkpoint_get(s, txn, &out->cp)) == 0)
		out->has_cp = true;
	else if (rc != MDB_NOTFOUND)
		goto fail_txn;
	out->log_size = out->has_cp ? out->cp.size : 0;
	out->to_size = to_size ? to_size : out->log_size;
	rc = 0;
	if (from_size <= out->to_size && out->to_size <= out->log_size &&
	    out->has_cp &&
	    ((rc = store_tree_consistency(s, txn, &out->consistency, known_size,
	                                  out->cp.size)) != 0 ||
	     (rc = store_tree_consistency(s, txn, &out->proof, from_size,
	                                  out->to_size)) != 0))
		goto fail_txn;
	read_end(s, txn, NULL);
	if (from_size > out->to_size)
		return error_set(err, KETEN_E_FIELD,
		                 "consistency.from_size is %llu, above to_size "
		                 "%llu; a proof goes from the smaller size to "
		                 "the larger",
		                 (unsigned long long)from_size,
		                 (unsigned long long)out->to_size);
	if (out->to_size > out->log_size)
		return error_set(
		    err, KETEN_E_FIELD,
		    "consistency.to_size is %llu but this broker's "
		    "log has %llu records",
		    (unsigned long long)out->to_size,
		    (unsigned long long)out->log_size);
	return KETEN_OK;
fail_txn:
	read_end(s, txn, NULL);
fail:
	return error_set(err, KETEN_E_IO,
	                 "cannot read the consistency proof: %s",
	                 mdb_strerror(rc));
}

int
store_roster_records(struct store *s, struct store_roster_records *out,
                     uint64_t after_seq, uint64_t known_size,
                     struct keten_error *err)
{
	uint64_t *seqs = NULL;
	size_t n = 0, cap = 0;
	MDB_txn *txn;
	MDB_val v;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	if ((rc = store_roster_after(s, txn, after_seq, WIRE_ROSTER_REPLY_MAX,
	                             &seqs, &n, &out->more)) != 0)
		goto fail_txn;
	for (size_t i = 0; i < n; i++)
		if ((rc = log_get(s, txn, seqs[i], &v)) != 0 ||
		    (rc = take_record(&out->records, &out->n, &cap, n, seqs[i],
		                      &v)) != 0)
			goto fail_txn;
	/* The paths prove into the snapshot's checkpoint, sent along. */
	if (out->n > 0)
		rc = store_tree_prove(s, txn, out->records, out->n, &out->cp);
	else
		rc = store_checkpoint_get(s, txn, &out->cp);
	if (rc == 0)
		rc = store_tree_consistency(s, txn, &out->consistency,
		                            known_size, out->cp.size);
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	out->has_cp = rc == 0;
	read_end(s, txn, NULL);
	free(seqs);
	return KETEN_OK;
fail_txn:
	read_end(s, txn, NULL);
fail:
	free(seqs);
	store_roster_records_free(out);
	if (rc == ENOMEM)
		return error_set(err, KETEN_E_NOMEM,
		                 "out of memory reading the roster");
	return error_set(err, KETEN_E_IO, "cannot read the roster records: %s",
	                 mdb_strerror(rc));
}

void
store_roster_records_free(struct store_roster_records *r)
{
	records_free(r->records, r->n);
	memset(r, 0, sizeof(*r));
}

int
store_agency_settled(struct store *s, const char *agency,
                     struct keten_error *err)
{
	uint8_t key[LAYOUT_CASEIDX_KEY_MAX], no[LAYOUT_SEQ_KEY_LEN] = {0};
	char hex[2 * KETEN_CASE_ID_LEN + 1];
	struct case_state st;
	const char *why = NULL;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	int rc;

	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	if ((rc = mdb_cursor_open(txn, s->caseidx, &cur)) != 0)
		goto fail_txn;
	for (rc = next_case(cur, agency, key, no, true, no); rc == 0;
	     rc = next_case(cur, agency, key, no, false, no)) {
		if ((rc = store_casedb_at(s, txn, &st, no)) != 0)
			goto fail_txn;
		if (st.status == KETEN_CASE_CLOSED)
			continue;
		if (strcmp(st.parties[st.holder].id, agency) == 0)
			why = "holds case";
		else if (st.status == KETEN_CASE_OFFERED &&
		         strcmp(st.parties[st.offer.to].id, agency) == 0)
			why = "is the recipient of the open offer of case";
		if (why != NULL)
			break;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	read_end(s, txn, cur);
	if (why == NULL)
		return KETEN_OK;
	text_hex(hex, st.id, KETEN_CASE_ID_LEN);
	return error_set(err, KETEN_E_CONFIG,
	                 "%s cannot leave the region: it %s %s, which is not "
	                 "closed; hand the case on or close it (and let its "
	                 "open offer be answered or withdrawn) first",
	                 agency, why, hex);
fail_txn:
	read_end(s, txn, cur);
fail:
	return error_set(err, KETEN_E_IO, "cannot read %s's cases: %s", agency,
	                 mdb_strerror(rc));
}
