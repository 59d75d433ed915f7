/*
 * The start's check of every derived database against the log (content,
 * msgid, inbox, tree, caseno, cases, caseidx, caselog): what disagrees is
 * rebuilt from the log, or refused with a sentence naming the database and
 * the record. Runs only inside store_open's transaction, after the chain
 * itself was verified; must never change the log.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "audit_witness.h"
#include "casebook.h"
#include "chain.h"
#include "envelope.h"
#include "log.h"
#include "store_impl.h"

/* The databases checked, in the order a fault is told. */
enum derived_db {
	DB_CONTENT,
	DB_MSGID,
	DB_INBOX,
	DB_TREE,
	DB_CASENO,
	DB_CASES,
	DB_CASEIDX,
	DB_CASELOG,
	DB_N
};

static const char *const db_name[DB_N] = {
    [DB_CONTENT] = LAYOUT_DB_CONTENT, [DB_MSGID] = LAYOUT_DB_MSGID,
    [DB_INBOX] = LAYOUT_DB_INBOX,     [DB_TREE] = LAYOUT_DB_TREE,
    [DB_CASENO] = LAYOUT_DB_CASENO,   [DB_CASES] = LAYOUT_DB_CASES,
    [DB_CASEIDX] = LAYOUT_DB_CASEIDX, [DB_CASELOG] = LAYOUT_DB_CASELOG,
};

/* One walk of the log: checks the databases, or (repair) writes msgid and
 * inbox afresh after they were emptied. */
struct derived {
	struct store_writer *w;
	MDB_txn *txn;
	bool repair;
	struct casebook *book;
	struct merkle_frontier tree;
	uint64_t records, want[DB_N]; /* the entries the log gives each */
	uint64_t roster;              /* the newest roster record's seq */
	/* The first fault found in each database: what and where. */
	bool bad[DB_N];
	char why[DB_N][160];
};

/* Notes the first fault of db; 0, so a check can go on. */
static int
fault(struct derived *d, enum derived_db db, const char *what, uint64_t seq)
{
	if (!d->bad[db])
		snprintf(d->why[db], sizeof(d->why[db]), "%s for record %llu",
		         what, (unsigned long long)seq);
	d->bad[db] = true;
	return 0;
}

/* Whether key k is in dbi (its value into v): 0, MDB_NOTFOUND or an LMDB
 * code. */
static int
get(struct derived *d, MDB_dbi dbi, MDB_val k, MDB_val *v)
{
	return mdb_get(d->txn, dbi, &k, v);
}

/* A tree node the recomputation completed, against the stored one
 * (merkle_done_fn). */
static int
tree_node(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
	struct derived *d = arg;
	uint8_t key[LAYOUT_TREE_KEY_LEN];
	MDB_val v;
	int rc = get(d, d->w->s->tree, layout_tree_key(key, level, index), &v);

	d->want[DB_TREE]++;
	if (rc == MDB_NOTFOUND ||
	    (rc == 0 && (v.mv_size != 32 || memcmp(v.mv_data, hash, 32) != 0)))
		return fault(d, DB_TREE,
		             level == 0 ? "the leaf is missing or differs"
		                        : "a subtree hash ending there is "
		                          "missing or differs",
		             ((index + 1) << level));
	return rc;
}

/* The content the record signs for: present and matching its hash. */
static int
check_content(struct derived *d, const struct body *b, const MDB_val *seqk,
              uint64_t seq)
{
	uint8_t h[KETEN_HASH_LEN];
	MDB_val v;
	int rc;

	if (!b->has_content)
		return 0;
	d->want[DB_CONTENT]++;
	if ((rc = get(d, d->w->s->content, *seqk, &v)) == MDB_NOTFOUND)
		return fault(d, DB_CONTENT, "the sealed content is missing",
		             seq);
	if (rc != 0)
		return rc;
	envelope_content_hash(h, v.mv_data, v.mv_size);
	if (memcmp(h, b->content_hash, KETEN_HASH_LEN) != 0)
		return fault(d, DB_CONTENT,
		             "the sealed content does not match the "
		             "content_hash its sender signed",
		             seq);
	return 0;
}

/* The message id's entry: the record's seq. */
static int
check_msgid(struct derived *d, const struct body *b, const MDB_val *seqk,
            uint64_t seq)
{
	MDB_val k = layout_msgid_key(b->h.message_id), v;
	uint64_t at;
	int rc;

	d->want[DB_MSGID]++;
	if (d->repair) {
		v = layout_val(seqk->mv_data, LAYOUT_MSGID_VAL_LEN);
		return mdb_put(d->txn, d->w->s->msgid, &k, &v, 0);
	}
	if ((rc = get(d, d->w->s->msgid, k, &v)) != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (rc != 0 || layout_msgid_parse(&v, &at) != 0 || at != seq)
		return fault(d, DB_MSGID,
		             "the message id's entry is missing or names "
		             "another record",
		             seq);
	return 0;
}

/* A record's case work: its state after the record, and the entries of
 * inbox, caseno, caseidx and caselog that it made. */
static int
check_case(struct derived *d, const struct body *b, const struct record *r,
           uint64_t seq)
{
	const struct store *s = d->w->s;
	const char *to[CASE_PARTIES_MAX];
	uint8_t key[LAYOUT_CASEIDX_KEY_MAX], no[LAYOUT_SEQ_KEY_LEN];
	struct case_state st;
	struct case_msg m;
	struct keten_error tmp;
	size_t at, parties, n_to;
	MDB_val v;
	int rc;

	casebook_get(d->book, b->h.case_id, &st, &at);
	parties = st.n_parties;
	case_msg_of(&m, b, seq, r->received_at_us);
	if (case_step(&st, &m, &tmp) != KETEN_OK)
		return MDB_CORRUPTED; /* the chain check replayed it: a bug */
	n_to = case_recipients(to, &st, &m);
	for (size_t i = 0; i < n_to; i++) {
		MDB_val k = layout_val(key, layout_inbox_key(key, to[i], seq));
		d->want[DB_INBOX]++;
		v = layout_val("", 0);
		if (d->repair) {
			if ((rc = mdb_put(d->txn, s->inbox, &k, &v, 0)) != 0)
				return rc;
		} else if ((rc = get(d, s->inbox, k, &v)) == MDB_NOTFOUND) {
			fault(d, DB_INBOX, "an inbox entry is missing", seq);
		} else if (rc != 0) {
			return rc;
		}
	}
	if (casebook_put(d->book, at, &st) != 0)
		return ENOMEM;
	if (d->repair)
		return 0;
	d->want[DB_CASELOG]++;
	rc =
	    get(d, s->caselog, layout_caselog_key(key, st.opened_seq, seq), &v);
	if (rc == MDB_NOTFOUND)
		fault(d, DB_CASELOG, "the case's entry is missing", seq);
	else if (rc != 0)
		return rc;
	if (parties == 0) { /* it opened the case */
		d->want[DB_CASENO]++;
		rc = store_casedb_number(s, d->txn, no, b->h.case_id);
		if (rc == MDB_NOTFOUND || rc == MDB_CORRUPTED ||
		    (rc == 0 && bytes_get_be64(no) != seq))
			fault(d, DB_CASENO,
			      "the case id's number is missing or wrong", seq);
		else if (rc != 0)
			return rc;
	}
	for (size_t i = parties; i < st.n_parties; i++) {
		d->want[DB_CASEIDX]++;
		rc = get(
		    d, s->caseidx,
		    layout_caseidx_key(key, st.parties[i].id, st.opened_seq),
		    &v);
		if (rc == MDB_NOTFOUND)
			fault(d, DB_CASEIDX,
			      "an agency's entry for the case is missing", seq);
		else if (rc != 0)
			return rc;
	}
	return 0;
}

/* One record (k, v) of the log. */
static int
check_record(struct derived *d, const MDB_val *k, const MDB_val *v)
{
	struct record r;
	struct body b;
	uint8_t h[32], leaf[32];
	uint64_t seq = d->records + 1;
	int rc;

	if (store_upgrade_body(&r, &b, k, v) != 0 || r.seq != seq)
		return MDB_CORRUPTED; /* the chain check read it: a bug */
	if (!d->repair) {
		if (b.type != KETEN_MSG_ROSTER &&
		    (rc = check_content(d, &b, k, seq)) != 0)
			return rc;
		chain_record_hash(h, v->mv_data, v->mv_size);
		merkle_leaf(leaf, h);
		if ((rc = merkle_frontier_push(&d->tree, leaf, tree_node, d)) !=
		    0)
			return rc;
	}
	if (b.type == KETEN_MSG_ROSTER) { /* no message id, case or inbox */
		d->roster = seq;
		d->records = seq;
		return 0;
	}
	if ((rc = check_msgid(d, &b, k, seq)) != 0 ||
	    (rc = check_case(d, &b, &r, seq)) != 0)
		return rc;
	d->records = seq;
	return 0;
}

/* The stored case states against the replayed ones: cases are numbered by
 * their opening seq, so both are in opening order. */
static int
check_cases(struct derived *d)
{
	uint8_t buf[CASE_ENCODED_MAX], no[LAYOUT_SEQ_KEY_LEN];
	struct case_state st;
	size_t n = casebook_count(d->book);
	MDB_val v;
	int rc;

	d->want[DB_CASES] = n;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		casebook_case(d->book, i, &st);
		len = case_encode(buf, &st);
		rc = get(d, d->w->s->cases, layout_seq_key(no, st.opened_seq),
		         &v);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
		if (rc != 0 || v.mv_size != len ||
		    memcmp(v.mv_data, buf, len) != 0)
			return fault(d, DB_CASES,
			             "the state of the case opened is missing "
			             "or not the one its records give",
			             st.opened_seq);
	}
	return 0;
}

/* Entries beyond those the log gives: the sets are equal when every
 * expected key was found and the counts agree. */
static int
check_counts(struct derived *d)
{
	const struct store *s = d->w->s;
	const MDB_dbi dbi[DB_N] = {
	    [DB_CONTENT] = s->content, [DB_MSGID] = s->msgid,
	    [DB_INBOX] = s->inbox,     [DB_TREE] = s->tree,
	    [DB_CASENO] = s->caseno,   [DB_CASES] = s->cases,
	    [DB_CASEIDX] = s->caseidx, [DB_CASELOG] = s->caselog,
	};
	MDB_stat st;
	int rc;

	for (int i = 0; i < DB_N; i++) {
		if ((rc = mdb_stat(d->txn, dbi[i], &st)) != 0)
			return rc;
		if (d->bad[i] || st.ms_entries == d->want[i])
			continue;
		d->bad[i] = true;
		snprintf(d->why[i], sizeof(d->why[i]),
		         "it holds %zu entries where the log gives %llu",
		         st.ms_entries, (unsigned long long)d->want[i]);
	}
	return 0;
}

/* Walks the log through check_record: an LMDB code. */
static int
walk(struct derived *d)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((d->book = casebook_new()) == NULL)
		return ENOMEM;
	merkle_frontier_init(&d->tree);
	memset(d->want, 0, sizeof(d->want));
	d->records = 0;
	d->roster = 0;
	if ((rc = mdb_cursor_open(d->txn, d->w->s->log, &cur)) != 0)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((rc = check_record(d, &k, &v)) != 0)
			break;
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = d->records == d->w->head_seq ? 0 : MDB_CORRUPTED;
	if (rc == 0 && !d->repair && (rc = check_cases(d)) == 0)
		rc = check_counts(d);
out:
	casebook_free(&d->book);
	return rc;
}

/* msgid and inbox, emptied and written afresh from the log. */
static int
rebuild_indexes(struct store_writer *w, MDB_txn *txn, bool msgid, bool inbox)
{
	struct derived d = {.w = w, .txn = txn, .repair = true};
	int rc;

	if ((msgid && (rc = mdb_drop(txn, w->s->msgid, 0)) != 0) ||
	    (inbox && (rc = mdb_drop(txn, w->s->inbox, 0)) != 0))
		return rc;
	/* The one not damaged is written over with the same entries. */
	return walk(&d);
}

/* meta "roster" is derived: the walk found the newest roster record at
 * seq (0: none); a missing or other value is written afresh. */
static int
check_roster_meta(struct store_writer *w, MDB_txn *txn, uint64_t seq)
{
	MDB_val k = LAYOUT_KEY(LAYOUT_META_ROSTER), v;
	uint64_t stored = 0;
	int rc = mdb_get(txn, w->s->meta, &k, &v);
	int shape = rc == 0 ? layout_be64_parse(&v, &stored) : -1;

	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (rc == 0 && shape == 0 && stored == seq)
		return 0;
	log_warn("event=derived_damaged db=meta action=rebuild "
	         "reason=\"meta roster is %s where the log's newest roster "
	         "record is %llu\"",
	         rc != 0      ? "missing"
	         : shape != 0 ? "not a seq"
	                      : "another seq",
	         (unsigned long long)seq);
	return store_roster_meta_put(w->s, txn, seq);
}

int
store_verify_derived(struct store_writer *w, MDB_txn *txn,
                     struct keten_error *why)
{
	struct derived d = {.w = w, .txn = txn};
	MDB_val k = LAYOUT_KEY(LAYOUT_META_SCHEMA), v;
	bool cases = false;
	char reason[200];
	int rc = mdb_get(txn, w->s->meta, &k, &v);

	/* An older schema's databases are the upgrade's to rebuild. */
	if (rc == MDB_NOTFOUND ||
	    (rc == 0 && (v.mv_size != 1 ||
	                 *(const uint8_t *)v.mv_data != LAYOUT_SCHEMA_VERSION)))
		return 0;
	if (rc != 0 || (rc = walk(&d)) != 0 ||
	    (rc = check_roster_meta(w, txn, d.roster)) != 0)
		return rc;
	if (d.bad[DB_CONTENT]) {
		error_set(why, KETEN_E_CHAIN,
		          "the content database disagrees with the log: %s; "
		          "sealed content is kept only there, so restore "
		          "data.mdb from a backup",
		          d.why[DB_CONTENT]);
		return -1;
	}
	/* The case databases are rebuilt together: one line for them; and
	 * once, if the map grows and the start transaction runs again. */
	for (int i = 0; i < DB_N; i++) {
		if (!d.bad[i] || (i >= DB_CASENO && cases))
			continue;
		if (w->told_damaged) {
			cases = cases || i >= DB_CASENO;
			continue;
		}
		snprintf(reason, sizeof(reason), "%s: %s", db_name[i],
		         d.why[i]);
		if (i < DB_CASENO) {
			log_warn("event=derived_damaged db=%s action=rebuild "
			         "reason=%s",
			         db_name[i], log_q(reason));
			continue;
		}
		cases = true;
		log_warn("event=cases_damaged action=rebuild db=%s reason=%s",
		         db_name[i], log_q(reason));
	}
	for (int i = 0; i < DB_N; i++)
		w->told_damaged = w->told_damaged || d.bad[i];
	if ((d.bad[DB_MSGID] || d.bad[DB_INBOX]) &&
	    (rc = rebuild_indexes(w, txn, d.bad[DB_MSGID], d.bad[DB_INBOX])) !=
	        0)
		return rc;
	if (cases && (rc = store_upgrade_rebuild_cases(w, txn, why)) != 0)
		return rc;
	if (d.bad[DB_TREE] && (rc = store_upgrade_rebuild_tree(w, txn)) != 0)
		return rc;
	return 0;
}

int
store_verify_chain(void *arg, const char *dir, struct keten_error *err)
{
	const struct config *c = arg;
	struct audit_result res;
	struct keten_error why;
	struct timespec t0, t1;
	char path[4096];
	struct stat st;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/data.mdb", dir) >=
	        sizeof(path) ||
	    stat(path, &st) != 0)
		return KETEN_OK; /* a new directory: nothing to verify */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = audit_verify_dir_start(&res, c, dir, &why);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Entries that prove nothing (a witness's key rotated, an entry
	 * damaged) do not stop the broker; a cut or a fork does. */
	for (size_t i = 0; rc == KETEN_OK && i < res.n_cosigned; i++) {
		const char *why_bad =
		    audit_witness_unverified(res.cosigned[i].state);
		if (why_bad != NULL)
			log_warn("event=witness_entry_unverified witness=%s "
			         "reason=%s",
			         res.cosigned[i].witness, why_bad);
	}
	if (rc == KETEN_OK)
		log_info("event=start_verified records=%llu cases=%zu ms=%.0f",
		         (unsigned long long)res.records, res.n_cases,
		         (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		             (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	audit_result_free(&res);
	if (rc == KETEN_E_CHAIN)
		return error_set(
		    err, KETEN_E_CHAIN,
		    "cannot serve data directory %s: %s; it is not "
		    "served until it verifies (restore it from a "
		    "backup)",
		    dir, why.message);
	if (rc != KETEN_OK)
		return error_set(err, rc, "cannot verify data directory %s: %s",
		                 dir, why.message);
	return KETEN_OK;
}
