/*
 * A case's stored state and its indexes (caseno, cases, caselog,
 * caseidx), inside the caller's transaction. Must never apply the case
 * rules itself: case_step decides, this only reads and writes.
 */
#include <string.h>

#include "store_impl.h"

/* The stored state of case number no (its opening record's seq). */
int
store_casedb_at(const struct store *s, MDB_txn *txn, struct case_state *st,
                const uint8_t no[LAYOUT_SEQ_KEY_LEN])
{
	MDB_val k = layout_val(no, LAYOUT_SEQ_KEY_LEN), v;
	int rc = mdb_get(txn, s->cases, &k, &v);

	if (rc != 0)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc; /* numbered */
	if (case_decode(st, v.mv_data, v.mv_size) != 0 ||
	    st->opened_seq != bytes_get_be64(no))
		return MDB_CORRUPTED;
	return 0;
}

/* The number of a case: 0, MDB_NOTFOUND or an LMDB code. */
int
store_casedb_number(const struct store *s, MDB_txn *txn,
                    uint8_t no[LAYOUT_SEQ_KEY_LEN],
                    const uint8_t id[KETEN_CASE_ID_LEN])
{
	MDB_val k = layout_caseno_key(id), v;
	int rc = mdb_get(txn, s->caseno, &k, &v);

	if (rc != 0)
		return rc;
	if (v.mv_size != LAYOUT_BE64_LEN)
		return MDB_CORRUPTED;
	memcpy(no, v.mv_data, LAYOUT_BE64_LEN);
	return 0;
}

/* The stored state of a case, or CASE_NONE (zeroed) if it has none. */
int
store_casedb_get(const struct store *s, MDB_txn *txn, struct case_state *st,
                 const uint8_t id[KETEN_CASE_ID_LEN])
{
	uint8_t no[LAYOUT_SEQ_KEY_LEN];
	int rc = store_casedb_number(s, txn, no, id);

	memset(st, 0, sizeof(*st));
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if ((rc = store_casedb_at(s, txn, st, no)) != 0)
		return rc;
	return memcmp(st->id, id, KETEN_CASE_ID_LEN) == 0 ? 0 : MDB_CORRUPTED;
}

/* The case's new state and its indexes after record seqkey; parties from
 * old_parties on joined with it (case_step only appends parties), and
 * none before means the record opened it. The case's number is its
 * opening seq, above every other: a new case's entries are appended. */
int
store_casedb_put(const struct store *s, MDB_txn *txn,
                 const struct case_state *st, size_t old_parties,
                 const uint8_t seqkey[LAYOUT_SEQ_KEY_LEN])
{
	/* key holds a caselog key, then each caseidx key. */
	_Static_assert(LAYOUT_CASEIDX_KEY_MAX >= LAYOUT_CASELOG_KEY_LEN,
	               "a caselog key must fit the caseidx key buffer");
	uint8_t buf[CASE_ENCODED_MAX], no[LAYOUT_SEQ_KEY_LEN];
	uint8_t key[LAYOUT_CASEIDX_KEY_MAX];
	unsigned fresh = old_parties == 0 ? MDB_APPEND : 0;
	MDB_val k, v;
	int rc;

	bytes_put_be64(no, st->opened_seq);
	if (fresh) {
		k = layout_caseno_key(st->id);
		v = layout_val(no, LAYOUT_BE64_LEN);
		if ((rc = mdb_put(txn, s->caseno, &k, &v, MDB_NOOVERWRITE)) !=
		    0)
			return rc == MDB_KEYEXIST ? MDB_CORRUPTED : rc;
	}
	k = layout_val(no, LAYOUT_SEQ_KEY_LEN);
	v = layout_val(buf, case_encode(buf, st));
	if ((rc = mdb_put(txn, s->cases, &k, &v, fresh)) != 0)
		return rc;
	k = layout_caselog_key(key, st->opened_seq, bytes_get_be64(seqkey));
	v = layout_val("", 0);
	if ((rc = mdb_put(txn, s->caselog, &k, &v, fresh)) != 0)
		return rc;
	for (size_t i = old_parties; i < st->n_parties; i++) {
		k = layout_caseidx_key(key, st->parties[i].id, st->opened_seq);
		v = layout_val("", 0);
		if ((rc = mdb_put(txn, s->caseidx, &k, &v, 0)) != 0)
			return rc;
	}
	return 0;
}
