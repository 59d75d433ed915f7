/*
 * The store's write path: the writer applies a batch of submissions, acks
 * and access entries in one durable transaction with one signed
 * checkpoint. Only the writer thread calls it; must never write outside
 * that one transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sodium.h>

#include "chain.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "store_impl.h"
#include "roster.h"

/* Whether record r (its stored bytes decoded) was signed by agency:
 * the signer is the sender (check 20). */
static bool
signed_by(const struct record *r, const char *agency)
{
	struct envelope e;
	struct keten_error why;
	bool same;

	if (wire_envelope_decode(&e, r->envelope, r->envelope_len, &why) !=
	    KETEN_OK)
		return false;
	same = strcmp(e.signer, agency) == 0;
	wire_envelope_clear(&e);
	return same;
}

/* A resubmitted message id: same envelope means the same record; a
 * different one is refused, in detail only to the id's own sender. */
static int
apply_duplicate(const struct store *s, MDB_txn *txn, struct store_item *it,
                const MDB_val *found)
{
	uint8_t key[LAYOUT_SEQ_KEY_LEN];
	uint64_t seq;
	MDB_val k, v;
	struct record r;
	int rc;

	if (layout_msgid_parse(found, &seq) != 0)
		return MDB_CORRUPTED;
	k = layout_seq_key(key, seq);
	if ((rc = mdb_get(txn, s->log, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	if (chain_record_decode(&r, v.mv_data, v.mv_size) != 0 || r.seq != seq)
		return MDB_CORRUPTED;
	/* The receipt fields, from the record itself. */
	it->receipt.seq = r.seq;
	chain_record_hash(it->receipt.record_hash, v.mv_data, v.mv_size);
	it->receipt.received_at_us = r.received_at_us;
	memcpy(it->receipt.prev_hash, r.prev_hash, 32);
	memcpy(it->receipt.message_id, it->message_id, KETEN_MSG_ID_LEN);
	if (r.envelope_len == it->envelope_len &&
	    memcmp(r.envelope, it->envelope, it->envelope_len) == 0) {
		it->duplicate = true;
		it->status = KETEN_OK;
	} else if (!signed_by(&r, it->msg.sender)) {
		memset(&it->receipt, 0, sizeof(it->receipt));
		it->status =
		    error_set(&it->err, KETEN_E_FIELD, WIRE_MSG_ID_UNUSABLE);
	} else {
		it->status = error_set(
		    &it->err, KETEN_E_ID_REUSED,
		    "message id is already recorded as record %llu with "
		    "different content; use a new message id",
		    (unsigned long long)it->receipt.seq);
	}
	return 0;
}

int
store_write_append(struct store_writer *w, MDB_txn *txn, const uint8_t *env,
                   size_t len, int64_t now_us, uint8_t record_hash[32])
{
	uint8_t key[LAYOUT_SEQ_KEY_LEN];
	struct record r;
	MDB_val k, v;
	int rc;

	r.seq = w->head_seq + 1;
	memcpy(r.prev_hash, w->head_hash, 32);
	r.received_at_us = now_us;
	r.envelope = env;
	r.envelope_len = len;
	k = layout_seq_key(key, r.seq);
	v.mv_size = CHAIN_RECORD_HEADER + len;
	/* MDB_RESERVE: encode straight into the page, no extra copy. */
	if ((rc = mdb_put(txn, w->s->log, &k, &v, MDB_RESERVE | MDB_APPEND)) !=
	    0)
		return rc;
	chain_record_encode(v.mv_data, &r);
	chain_record_hash(record_hash, v.mv_data, CHAIN_RECORD_HEADER + len);
	if ((rc = store_tree_append(w, txn, record_hash)) != 0)
		return rc;
	w->head_seq = r.seq;
	memcpy(w->head_hash, record_hash, 32);
	return 0;
}

/* KETEN_OK if the signer's keys in force are still those it->signer_pk
 * names and its recipient is still a member, else the refusal in it->err. */
static int
in_force(const struct store_writer *w, struct store_item *it)
{
	const struct roster *r = w->roster_next ? w->roster_next : w->s->roster;
	struct keten_error why;
	const struct agency *a;

	if (r == NULL || roster_last_seq(r) == 0)
		return KETEN_OK; /* a log from before the roster: the config's
		                  */
	a = roster_find(r, it->msg.sender, RECORD_SEQ_NOW, &why);
	if (a == NULL || memcmp(a->sign_pk, it->signer_pk, 32) != 0)
		return error_set(&it->err, KETEN_E_SIGNER,
		                 "%s's keys changed while this message was on "
		                 "its way (%s): sign it again with the keys in "
		                 "force",
		                 it->msg.sender,
		                 a == NULL ? why.message : "rotated");
	if (it->msg.recipient[0] != '\0' &&
	    roster_find(r, it->msg.recipient, RECORD_SEQ_NOW, &why) == NULL)
		return error_set(&it->err, KETEN_E_RECIPIENT,
		                 "the recipient is no longer in the region: %s",
		                 why.message);
	return KETEN_OK;
}

static int
apply_submit(struct store_writer *w, MDB_txn *txn, struct store_item *it,
             int64_t now_us)
{
	const struct store *s = w->s;
	uint8_t key[LAYOUT_SEQ_KEY_LEN], ibox[LAYOUT_INBOX_KEY_MAX];
	const char *to[CASE_PARTIES_MAX];
	struct case_state st;
	MDB_val k, v;
	size_t n_to, parties;
	int rc;

	k = layout_msgid_key(it->message_id);
	rc = mdb_get(txn, s->msgid, &k, &v);
	if (rc == 0)
		return apply_duplicate(s, txn, it, &v);
	if (rc != MDB_NOTFOUND)
		return rc;
	/* All zeros is reserved, like a case id's (check 11), so that a
	 * taken id's refusal is also an unused id's. After the lookup: a
	 * log from before the reservation may hold the id, and its
	 * sender's byte-identical retry still gets its receipt (10.4). */
	if (sodium_is_zero(it->message_id, KETEN_MSG_ID_LEN)) {
		it->status =
		    error_set(&it->err, KETEN_E_FIELD, WIRE_MSG_ID_UNUSABLE);
		return 0;
	}

	/* Checked by a worker against the config of its time: a roster
	 * record committed since may have rotated, revoked or removed its
	 * signer or its recipient, and a record must verify where it stands
	 * (PROTOCOL.md 22.4). */
	if ((it->status = in_force(w, it)) != KETEN_OK)
		return 0;
	/* The case rules, against the state this transaction sees: a
	 * refusal writes nothing. */
	if ((rc = store_casedb_get(s, txn, &st, it->msg.case_id)) != 0)
		return rc;
	parties = st.n_parties;
	it->msg.seq = w->head_seq + 1;
	it->msg.at_us = now_us;
	if ((it->status = case_step(&st, &it->msg, &it->err)) != KETEN_OK) {
		/* Where the case opened, only its parties may learn. */
		if (it->status == KETEN_E_CASE_EXISTS &&
		    !case_involves(&st, it->msg.sender))
			it->status = error_set(&it->err, KETEN_E_FIELD,
			                       WIRE_CASE_ID_UNUSABLE);
		return 0;
	}

	it->receipt.seq = w->head_seq + 1;
	memcpy(it->receipt.prev_hash, w->head_hash, 32);
	if ((rc = store_write_append(w, txn, it->envelope, it->envelope_len,
	                             now_us, it->receipt.record_hash)) != 0)
		return rc;
	layout_seq_key(key, it->receipt.seq);
	if (it->sealed_len > 0) {
		k = layout_val(key, LAYOUT_SEQ_KEY_LEN);
		v = layout_val(it->sealed, it->sealed_len);
		if ((rc = mdb_put(txn, s->content, &k, &v, MDB_APPEND)) != 0)
			return rc;
	}
	n_to = case_recipients(to, &st, &it->msg);
	it->n_to = n_to;
	for (size_t i = 0; i < n_to; i++) {
		k = layout_val(ibox,
		               layout_inbox_key(ibox, to[i], it->receipt.seq));
		v = layout_val("", 0);
		if ((rc = mdb_put(txn, s->inbox, &k, &v, 0)) != 0)
			return rc;
		snprintf(it->to[i], sizeof(it->to[i]), "%s", to[i]);
	}
	if ((rc = store_casedb_put(s, txn, &st, parties, key)) != 0)
		return rc;
	k = layout_msgid_key(it->message_id);
	v = layout_val(key, LAYOUT_MSGID_VAL_LEN); /* the seq */
	if ((rc = mdb_put(txn, s->msgid, &k, &v, 0)) != 0)
		return rc;

	it->receipt.received_at_us = now_us;
	memcpy(it->receipt.message_id, it->message_id, KETEN_MSG_ID_LEN);
	it->status = KETEN_OK;
	return 0;
}

static int
apply_ack(const struct store *s, MDB_txn *txn, struct store_item *it)
{
	uint8_t ibox[LAYOUT_INBOX_KEY_MAX], cur[LAYOUT_BE64_LEN];
	MDB_val k, v;
	uint64_t old = 0;
	int rc;

	k = layout_cursor_key(it->agency);
	rc = mdb_get(txn, s->cursor, &k, &v);
	if (rc == 0 && layout_be64_parse(&v, &old) != 0)
		return MDB_CORRUPTED;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	it->cursor = old;
	if (it->ack_seq <= old) { /* already acknowledged: idempotent */
		it->status = KETEN_OK;
		return 0;
	}
	k = layout_val(ibox, layout_inbox_key(ibox, it->agency, it->ack_seq));
	rc = mdb_get(txn, s->inbox, &k, &v);
	if (rc == MDB_NOTFOUND) {
		it->status = error_set(
		    &it->err, KETEN_E_BAD_ACK,
		    "record %llu is not addressed to %s; acknowledge the "
		    "sequence number of a message you received",
		    (unsigned long long)it->ack_seq, it->agency);
		return 0;
	}
	if (rc != 0)
		return rc;
	bytes_put_be64(cur, it->ack_seq);
	k = layout_cursor_key(it->agency);
	v = layout_val(cur, LAYOUT_BE64_LEN);
	if ((rc = mdb_put(txn, s->cursor, &k, &v, 0)) != 0)
		return rc;
	it->cursor = it->ack_seq;
	it->status = KETEN_OK;
	return 0;
}

/* Appends the read it->access describes to the access log. */
static int
apply_access(struct store_writer *w, MDB_txn *txn, struct store_item *it,
             int64_t now_us)
{
	const struct store *s = w->s;
	uint8_t key[LAYOUT_SEQ_KEY_LEN], buf[ACCESS_ENTRY_MAX];
	MDB_val k, v;
	size_t len;
	int rc;

	it->access.seq = w->access_seq + 1;
	it->access.at_us = now_us;
	memcpy(it->access.prev_hash, w->access_hash, 32);
	len = access_encode(buf, &it->access);
	k = layout_seq_key(key, it->access.seq);
	v = layout_val(buf, len);
	if ((rc = mdb_put(txn, s->access, &k, &v, MDB_APPEND)) != 0)
		return rc;
	w->access_seq = it->access.seq;
	access_hash(w->access_hash, buf, len);
	it->status = KETEN_OK;
	return 0;
}

/* Writes the heads and the batch's signed checkpoint into the metadata. */
static int
finish_batch(struct store_writer *w, MDB_txn *txn, int64_t now_us)
{
	const struct store *s = w->s;
	uint8_t hv[LAYOUT_HEAD_LEN];
	MDB_val k, v;
	int rc;

	k = LAYOUT_KEY(LAYOUT_META_HEAD);
	v = layout_head_val(hv, w->head_seq, w->head_hash);
	if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
		return rc;
	k = LAYOUT_KEY(LAYOUT_META_ACCESS_HEAD);
	v = layout_head_val(hv, w->access_seq, w->access_hash);
	if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
		return rc;
	/* Signed before the commit, stored in it: a checkpoint never
	 * describes a log that is not on disk, and a reader's snapshot
	 * always has the one for its head. */
	store_checkpoint_make(w, &w->cp, now_us);
	return store_checkpoint_put(s, txn, &w->cp);
}

/*
 * Why a batch could not be written, decided once for the client's
 * sentence and the operator's. LMDB reports a short write (the
 * filesystem took part of a page run, then had no room) as EIO, not
 * ENOSPC: below STORE_FULL_FREE bytes free, the EIO is the full disk's;
 * a failing disk with that much room is its own trouble. Free means
 * free to this process: f_bavail for a user, f_bfree for root, which
 * may also write the blocks the filesystem reserves for root.
 */
#define STORE_FULL_FREE (16u << 20)

enum store_cause {
	STORE_CAUSE_DISK,     /* no space left on the device */
	STORE_CAUSE_MAP,      /* the map at limits.map_max_mb */
	STORE_CAUSE_KEYEXIST, /* a record after the head it did not write */
	STORE_CAUSE_OTHER,
};

static enum store_cause
store_write_cause(const struct store_writer *w, int rc)
{
	struct statvfs st;
	uint64_t avail;

	if (rc == ENOSPC)
		return STORE_CAUSE_DISK;
	if (rc == MDB_MAP_FULL)
		return STORE_CAUSE_MAP;
	if (rc == MDB_KEYEXIST)
		return STORE_CAUSE_KEYEXIST;
	if (rc != EIO || fstatvfs(w->s->dir_fd, &st) != 0)
		return STORE_CAUSE_OTHER;
	avail = geteuid() == 0 ? (uint64_t)st.f_bfree : (uint64_t)st.f_bavail;
	return avail * st.f_frsize < STORE_FULL_FREE ? STORE_CAUSE_DISK
	                                             : STORE_CAUSE_OTHER;
}

/*
 * What a client is told when a batch could not be written, by cause:
 * the disk full, the map at its limit, another process writing to the log
 * (an append whose key exists: the directory's lock was bypassed), or
 * anything else. The sentence is the refusal's; the code, its number.
 */
static int
store_write_refusal(struct keten_error *err, const struct store_writer *w,
                    enum store_cause cause, int rc)
{
	switch (cause) {
	case STORE_CAUSE_DISK:
		return error_set(err, KETEN_E_STORAGE,
		                 "storage full (no space left on device): the "
		                 "broker's storage is full and recorded "
		                 "nothing; retry later");
	case STORE_CAUSE_MAP:
		return error_set(
		    err, KETEN_E_STORAGE,
		    "storage full (the store is at its size limit, %zu MiB, "
		    "limits.map_max_mb): the broker's storage is full and "
		    "recorded nothing; retry later",
		    w->map_size >> 20);
	case STORE_CAUSE_KEYEXIST:
		return error_set(
		    err, KETEN_E_UNAVAILABLE,
		    "the broker found a record after its head that "
		    "it did not write (another process is writing "
		    "to its data directory); nothing was recorded");
	case STORE_CAUSE_OTHER:
		break;
	}
	return error_set(err, KETEN_E_STORAGE,
	                 "the broker could not write to its storage (%s); "
	                 "nothing was recorded",
	                 mdb_strerror(rc));
}

/*
 * What the operator is told (store_apply's err, for the log): the same
 * cause, and what to do about it.
 */
static int
store_write_failure(struct keten_error *err, const struct store_writer *w,
                    enum store_cause cause, const struct keten_error *refusal)
{
	if (cause == STORE_CAUSE_DISK)
		return error_set(err, KETEN_E_STORAGE,
		                 "storage full (no space left on device) in "
		                 "data directory %s: free space on its "
		                 "filesystem; nothing was recorded",
		                 w->dir);
	if (cause == STORE_CAUSE_MAP)
		return error_set(
		    err, KETEN_E_STORAGE,
		    "storage full (the map of data directory %s is "
		    "at limits.map_max_mb, %zu MiB): raise "
		    "limits.map_max_mb and restart; nothing was "
		    "recorded",
		    w->dir, w->map_size >> 20);
	return error_set(err, refusal->code, "commit failed: %s",
	                 refusal->message);
}

/* One attempt at a batch: 0, or the LMDB error (nothing written). */
static int
apply_once(struct store_writer *w, struct store_item *items, size_t n,
           int64_t now_us)
{
	MDB_txn *txn;
	bool logged = false; /* a log or access log entry: sign anew */
	int rc;

	if ((rc = mdb_txn_begin(w->s->env, NULL, 0, &txn)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct store_item *it = &items[i];
		it->duplicate = false;
		it->n_to = 0;
		error_clear(&it->err);
		if (it->op == STORE_SUBMIT)
			rc = apply_submit(w, txn, it, now_us);
		else if (it->op == STORE_ACK)
			rc = apply_ack(w->s, txn, it);
		else if (it->op == STORE_COSIGN)
			rc = store_witness_apply(w->s, txn, it);
		else if (it->op == STORE_ROSTER)
			rc = store_roster_apply(w, txn, it, now_us);
		else if (!it->access_repeat)
			rc = apply_access(w, txn, it, now_us);
		else
			it->status = KETEN_OK; /* accounted a moment ago */
		if (rc != 0) {
			mdb_txn_abort(txn);
			return rc;
		}
		logged |= it->op != STORE_COSIGN;
	}
	/* A batch of cosignatures alone leaves the checkpoint as it was:
	 * the next witness then cosigns the very note the first did. */
	if (logged && (rc = finish_batch(w, txn, now_us)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

int
store_apply(struct store_writer *w, struct store_item *items, size_t n,
            int64_t now_us, struct keten_error *err)
{
	uint64_t old_seq = w->head_seq, old_aseq = w->access_seq;
	uint64_t old_roster = w->roster_seq;
	uint8_t old_hash[32], old_ahash[32];
	struct merkle_frontier old_tree = w->tree_f; /* 2 KiB */
	struct keten_checkpoint old_cp = w->cp;
	enum store_cause cause;
	int64_t t0 = clock_mono_us();
	int rc;

	memcpy(old_hash, w->head_hash, 32);
	memcpy(old_ahash, w->access_hash, 32);
	/* The batch's time never descends (PROTOCOL.md 9.1): a clock
	 * stepped back must not date a checkpoint, a record or an access
	 * entry before the last checkpoint, which clients hold it to. */
	if (now_us < w->cp.signed_at_us)
		now_us = w->cp.signed_at_us;
	while ((rc = apply_once(w, items, n, now_us)) != 0) {
		/* the aborted batch changed nothing */
		w->head_seq = old_seq;
		memcpy(w->head_hash, old_hash, 32);
		w->access_seq = old_aseq;
		memcpy(w->access_hash, old_ahash, 32);
		w->tree_f = old_tree;
		w->cp = old_cp;
		w->roster_seq = old_roster;
		store_roster_batch_end(w, false);
		store_tree_cache_drop(w);
		if (rc != MDB_MAP_FULL)
			goto fail;
		/* A dead reader's pages may be what fills it: freed, they
		 * serve the next try before the map grows. */
		if (store_readers_check(w, true) == 0 && store_grow_map(w) != 0)
			goto fail;
	}
	store_roster_batch_end(w, true);
	store_readers_check(w, false);
	metrics_commit(w->head_seq - old_seq, w->access_seq - old_aseq,
	               clock_mono_us() - t0);
	store_metrics(w);
	/* Durable: now each receipt gets the checkpoint and its proofs.
	 * The receipts of a batch mostly share a known_size: one
	 * consistency proof serves them all. */
	const struct store_item *same = NULL;
	for (size_t i = 0; i < n; i++) {
		struct store_item *it = &items[i];
		if (it->op != STORE_SUBMIT || it->status != KETEN_OK)
			continue;
		if (same != NULL && same->known_size == it->known_size) {
			it->consistency.n = same->consistency.n;
			memcpy(it->consistency.hash, same->consistency.hash,
			       same->consistency.n * KETEN_HASH_LEN);
			rc = store_tree_path(w, &it->receipt, NULL, 0);
		} else {
			rc = store_tree_path(w, &it->receipt, &it->consistency,
			                     it->known_size);
			same = it;
		}
		if (rc != 0)
			it->status = error_set(
			    &it->err, KETEN_E_STORAGE,
			    "recorded as record %llu, but its proof could not "
			    "be read (%s); resubmit the same bytes for the "
			    "receipt",
			    (unsigned long long)it->receipt.seq,
			    mdb_strerror(rc));
	}
	return KETEN_OK;
fail:
	cause = store_write_cause(w, rc);
	for (size_t i = 0; i < n; i++)
		items[i].status =
		    store_write_refusal(&items[i].err, w, cause, rc);
	log_err("event=commit_failed items=%zu reason=%s", n,
	        log_q(items[0].err.message));
	return store_write_failure(err, w, cause, &items[0].err);
}
