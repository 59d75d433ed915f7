/*
 * Schema upgrades of a data directory: the schema mark, the rebuilds of
 * the case databases and the tree from the log, and the shape checks that
 * find damaged case databases. Runs only inside store_open's transaction;
 * must never change the log itself.
 */
#include <string.h>

#include "chain.h"
#include "log.h"
#include "store_impl.h"

/* The record stored under key k, and its body: 0 or MDB_CORRUPTED, also if
 * the key is not the record's own seq. A roster record's body is not an
 * agency's: b then has its type, KETEN_MSG_ROSTER, and nothing else (it
 * has no case, message id or content). */
static int
record_body(struct record *r, struct body *b, const MDB_val *k,
            const MDB_val *v)
{
	struct envelope e;
	struct keten_error tmp;
	uint64_t seq;
	int rc;

	if (layout_be64_parse(k, &seq) != 0 ||
	    chain_record_decode(r, v->mv_data, v->mv_size) != 0 ||
	    r->seq != seq ||
	    wire_envelope_decode(&e, r->envelope, r->envelope_len, &tmp) !=
	        KETEN_OK)
		return MDB_CORRUPTED;
	if (e.type == KETEN_MSG_ROSTER) {
		memset(b, 0, sizeof(*b));
		b->type = KETEN_MSG_ROSTER;
		wire_envelope_clear(&e);
		return 0;
	}
	rc = wire_body_decode(b, e.type, e.body, e.body_len, &tmp);
	wire_envelope_clear(&e);
	return rc == KETEN_OK ? 0 : MDB_CORRUPTED;
}

/* One record of a rebuild, n its seq (k and v are LMDB's until the step
 * writes): 0, an LMDB code, or -1 with why set. */
typedef int (*rebuild_step)(struct store_writer *w, MDB_txn *txn, uint64_t n,
                            const MDB_val *k, const MDB_val *v,
                            struct keten_error *why);

/*
 * Walks the log in order, from seq 1 with no gap, through step; the log
 * must end at the head. Logs `event=EVENT records=N` if there were any.
 * Returns what rebuild_step does.
 */
static int
rebuild(struct store_writer *w, MDB_txn *txn, rebuild_step step,
        const char *event, struct keten_error *why)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t n = 0, seq;
	int rc;

	if ((rc = mdb_cursor_open(txn, w->s->log, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (layout_be64_parse(&k, &seq) != 0 || seq != n + 1) {
			rc = MDB_CORRUPTED;
			break;
		}
		if ((rc = step(w, txn, seq, &k, &v, why)) != 0)
			break;
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (n != w->head_seq)
		return MDB_CORRUPTED;
	if (n > 0)
		log_info("event=%s records=%llu", event, (unsigned long long)n);
	return 0;
}

/* A record's case step (rebuild_step). Gaps matter here too: a case's
 * number is its opening record's seq. */
static int
cases_step(struct store_writer *w, MDB_txn *txn, uint64_t n, const MDB_val *k,
           const MDB_val *v, struct keten_error *why)
{
	const struct store *s = w->s;
	struct record r;
	struct body b;
	struct case_msg m;
	struct case_state st;
	struct keten_error tmp;
	uint8_t key[LAYOUT_SEQ_KEY_LEN];
	size_t parties;
	int rc;

	if (record_body(&r, &b, k, v) != 0)
		return MDB_CORRUPTED;
	if (b.type == KETEN_MSG_ROSTER)
		return 0; /* no case */
	case_msg_of(&m, &b, r.seq, r.received_at_us);
	if ((rc = store_casedb_get(s, txn, &st, b.h.case_id)) != 0)
		return rc;
	parties = st.n_parties;
	if (case_step(&st, &m, &tmp) != KETEN_OK) {
		error_set(why, KETEN_E_CHAIN,
		          "record %llu breaks the case rules (%s); this "
		          "log cannot be given case states",
		          (unsigned long long)r.seq, tmp.message);
		return -1;
	}
	layout_seq_key(key, n); /* k is not ours past a put */
	return store_casedb_put(s, txn, &st, parties, key);
}

/*
 * The case databases came with the case rules (schema 2) and were keyed by
 * case number from schema 4 on. A data directory recorded before has a log
 * but no cases, or cases keyed by id: (re)build them from the log, in
 * order, through the same rules. Returns an LMDB code, or -1 with why set
 * if a record breaks the rules (then the broker must not start).
 */
static int
cases_rebuild(struct store_writer *w, MDB_txn *txn, struct keten_error *why)
{
	const struct store *s = w->s;
	int rc;

	if ((rc = mdb_drop(txn, s->caseno, 0)) != 0 ||
	    (rc = mdb_drop(txn, s->cases, 0)) != 0 ||
	    (rc = mdb_drop(txn, s->caseidx, 0)) != 0 ||
	    (rc = mdb_drop(txn, s->caselog, 0)) != 0)
		return rc;
	return rebuild(w, txn, cases_step, "cases_rebuilt", why);
}

/* A record's leaf (rebuild_step). */
static int
tree_step(struct store_writer *w, MDB_txn *txn, uint64_t n, const MDB_val *k,
          const MDB_val *v, struct keten_error *why)
{
	uint8_t h[KETEN_HASH_LEN];

	(void)n;
	(void)k;
	(void)why;
	chain_record_hash(h, v->mv_data, v->mv_size);
	return store_tree_append(w, txn, h);
}

/*
 * The Merkle tree came with checkpoints (schema 3): build it from the log,
 * in order. An LMDB code.
 */
static int
tree_rebuild(struct store_writer *w, MDB_txn *txn)
{
	int rc;

	merkle_frontier_init(&w->tree_f);
	if ((rc = mdb_drop(txn, w->s->tree, 0)) != 0)
		return rc;
	return rebuild(w, txn, tree_step, "tree_rebuilt", NULL);
}

/*
 * Before schema 5 the checkpoint was binary and its tree BLAKE2b. Its
 * heads must still be the log's: then it is dropped, for
 * store_checkpoint_ensure to sign the note afresh over the SHA-256 tree.
 * An LMDB code; MDB_CORRUPTED if it signed another log.
 */
static int
checkpoint_v4_drop(struct store_writer *w, MDB_txn *txn)
{
	MDB_val k = LAYOUT_KEY(LAYOUT_META_CHECKPOINT), v;
	const uint8_t *p;
	int rc = mdb_get(txn, w->s->meta, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	/* A note already (a lost schema mark; no note is this short):
	 * checked at start like any stored checkpoint. */
	if (v.mv_size != LAYOUT_V4_CHECKPOINT_LEN)
		return 0;
	p = v.mv_data;
	if (bytes_get_be64(p) != w->head_seq ||
	    memcmp(p + 8, w->head_hash, 32) != 0 ||
	    bytes_get_be64(p + 72) != w->access_seq ||
	    memcmp(p + 80, w->access_hash, 32) != 0)
		return MDB_CORRUPTED; /* signed, but not this log: altered */
	return mdb_del(txn, w->s->meta, &k, NULL);
}

/* The newest record that belongs to a case (roster records do not), its
 * stored record and body: *seq 0 if there is none. An LMDB code. */
static int
case_head(struct store_writer *w, MDB_txn *txn, uint64_t *seq, struct record *r,
          struct body *b)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	*seq = 0;
	if ((rc = mdb_cursor_open(txn, w->s->log, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		if ((rc = record_body(r, b, &k, &v)) != 0)
			break;
		if (b->type != KETEN_MSG_ROSTER) {
			*seq = r->seq;
			break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Whether the newest entry of `caselog` is a (case number, seq) pair of
 * this log, head its newest case record: 0, -1 if not, or an LMDB code.
 * One above the head would make every later case's append fail. */
static int
caselog_shape(struct store_writer *w, MDB_txn *txn, uint64_t head)
{
	const struct store *s = w->s;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, s->caselog, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0) {
		uint64_t no, seq;
		if (layout_caselog_parse(&k, &no, &seq) != 0 || no == 0 ||
		    seq < no || seq > w->head_seq)
			rc = -1;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return head == 0 ? 0 : -1;
	return rc;
}

/* Whether the case of the newest case record (head, read into b) has it
 * as its last: 0, -1 if not, or an LMDB code. Catches case databases
 * emptied, or left behind the log (every record but a roster record
 * belongs to a case). */
static int
head_case_shape(struct store_writer *w, MDB_txn *txn, uint64_t head,
                const struct body *b)
{
	struct case_state st;
	int rc;

	if (head == 0)
		return 0;
	rc = store_casedb_get(w->s, txn, &st, b->h.case_id);
	if (rc == MDB_CORRUPTED)
		return -1;
	if (rc != 0)
		return rc;
	return st.opened_seq != 0 && st.last_seq == head ? 0 : -1;
}

/* Whether the case databases have this schema's shape, judged by the
 * first and last entries of `cases` and `caselog`, the first of `caseno`
 * and the head record's case: 0, -1 if not, or an LMDB code. They are
 * derived from the log, so a directory whose upgrade was cut short, or
 * that was tampered with, is rebuilt rather than served wrong. A damaged
 * log is not mended here: the audit finds that. */
static int
cases_shape(struct store_writer *w, MDB_txn *txn)
{
	const struct store *s = w->s;
	static const MDB_cursor_op ops[] = {MDB_FIRST, MDB_LAST};
	MDB_cursor *cur;
	MDB_val k, v;
	struct record r;
	struct body b;
	uint64_t head;
	int rc = 0;

	if ((rc = mdb_cursor_open(txn, s->cases, &cur)) != 0)
		return rc;
	for (size_t i = 0; i < 2 && rc == 0; i++) {
		struct case_state st;
		uint64_t no;
		if ((rc = mdb_cursor_get(cur, &k, &v, ops[i])) != 0)
			break;
		if (layout_be64_parse(&k, &no) != 0 ||
		    case_decode(&st, v.mv_data, v.mv_size) != 0 ||
		    st.opened_seq != no || st.opened_seq > w->head_seq)
			rc = -1;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->caseno, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 &&
	    (k.mv_size != KETEN_CASE_ID_LEN || v.mv_size != LAYOUT_BE64_LEN))
		rc = -1;
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if ((rc = case_head(w, txn, &head, &r, &b)) != 0 ||
	    (rc = caselog_shape(w, txn, head)) != 0)
		return rc;
	return head_case_shape(w, txn, head, &b);
}

/* The seq of the log's newest roster record in *seq (0: none): 0 or an
 * LMDB code. A log from before schema 6 has none; a directory whose
 * schema mark was lost may, and meta "roster" must name it, not 0. */
static int
newest_roster(const struct store *s, MDB_txn *txn, uint64_t *seq)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, is = 0;

	*seq = 0;
	if ((rc = mdb_cursor_open(txn, s->log, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	while (rc == 0 && (is = store_roster_is(&k, &v)) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	mdb_cursor_close(cur);
	if (is == 1)
		return layout_be64_parse(&k, seq) == 0 ? 0 : MDB_CORRUPTED;
	if (is != 0)
		return is;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Brings an older data directory up to this schema, and loads the tree's
 * frontier. */
int
store_upgrade(struct store_writer *w, MDB_txn *txn, struct keten_error *why)
{
	const struct store *s = w->s;
	MDB_val k = LAYOUT_KEY(LAYOUT_META_SCHEMA), v;
	uint8_t ver = LAYOUT_SCHEMA_VERSION, was = 1; /* schema 1 did not say */
	uint64_t roster;
	int rc = mdb_get(txn, s->meta, &k, &v);

	if (rc == 0 && v.mv_size == 1)
		was = *(uint8_t *)v.mv_data;
	else if (rc != MDB_NOTFOUND)
		was = 0;
	if (was == ver) {
		if ((rc = cases_shape(w, txn)) == -1) {
			if (!w->told_damaged) /* once, if the map grows */
				log_warn(
				    "event=cases_damaged action=rebuild "
				    "reason=\"the case databases do not match "
				    "schema %u or the log\"",
				    ver);
			w->told_damaged = true;
			rc = cases_rebuild(w, txn, why);
		}
		if (rc != 0)
			return rc;
		return store_tree_load(w, txn, w->head_seq);
	}
	if (was < 1 || was > ver) {
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
		/* a newer broker's directory, or damage */
		error_set(why, KETEN_E_CONFIG,
		          "its schema is not version %d; use the keten version "
		          "that wrote it",
		          LAYOUT_SCHEMA_VERSION);
		return -1;
	}
	if (was < 4 && (rc = cases_rebuild(w, txn, why)) != 0)
		return rc;
	/* Schema 5: the tree is SHA-256 (c2sp.org/merkle-tree), the
	 * checkpoint a signed note. */
	if (was < 5 && ((rc = checkpoint_v4_drop(w, txn)) != 0 ||
	                (rc = tree_rebuild(w, txn)) != 0))
		return rc;
	if (was == 5 && (rc = store_tree_load(w, txn, w->head_seq)) != 0)
		return rc;
	/* Schema 6: the roster is in the log (PROTOCOL.md 22); a log from
	 * before has no roster record yet, and the start appends the
	 * first. meta "roster" is derived from the log like the rest. */
	if ((rc = newest_roster(s, txn, &roster)) != 0 ||
	    (rc = store_roster_meta_put(s, txn, roster)) != 0)
		return rc;
	if (w->head_seq > 0)
		log_info("event=schema_upgraded from=%u to=%u", was, ver);
	v = layout_val(&ver, 1);
	return mdb_put(txn, s->meta, &k, &v, 0);
}

int
store_upgrade_rebuild_cases(struct store_writer *w, MDB_txn *txn,
                            struct keten_error *why)
{
	return cases_rebuild(w, txn, why);
}

int
store_upgrade_rebuild_tree(struct store_writer *w, MDB_txn *txn)
{
	return tree_rebuild(w, txn);
}

int
store_upgrade_body(struct record *r, struct body *b, const MDB_val *k,
                   const MDB_val *v)
{
	return record_body(r, b, k, v);
}
