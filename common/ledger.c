/*
 * The auditor's read-only door into LMDB. Must never open a write
 * transaction, and MDB_vals never leave the read transaction.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "bytes.h"
#include "chain.h"
#include "ledger.h"
#include "ledger_layout.h"
#include "note.h"
#include "wire.h"

struct ledger {
	MDB_env *env;
};

int
ledger_env_open(MDB_env **env, const char *dir)
{
	int rc;

	if ((rc = mdb_env_create(env)) != 0)
		return rc;
	if ((rc = mdb_env_set_maxdbs(*env, LAYOUT_MAX_DBS)) == 0)
		rc = mdb_env_open(*env, dir, MDB_RDONLY, 0600);
	if (rc == EACCES || rc == EROFS) {
		/* A read-only copy: no lock file can be made; nobody writes. */
		mdb_env_close(*env);
		if ((rc = mdb_env_create(env)) != 0)
			return rc;
		if ((rc = mdb_env_set_maxdbs(*env, LAYOUT_MAX_DBS)) == 0)
			rc = mdb_env_open(*env, dir, MDB_RDONLY | MDB_NOLOCK,
			                  0600);
	}
	if (rc != 0) {
		mdb_env_close(*env);
		*env = NULL;
	}
	return rc;
}

int
ledger_open(struct ledger **out, const char *dir, struct keten_error *err)
{
	struct ledger *l;
	struct stat st;
	char path[4096];
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/data.mdb", dir) >=
	        sizeof(path) ||
	    stat(path, &st) != 0)
		return error_set(
		    err, KETEN_E_IO,
		    "%s is not a keten data directory (no data.mdb)", dir);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	if ((rc = ledger_env_open(&l->env, dir)) != 0) {
		free(l);
		return error_set(err, KETEN_E_IO,
		                 "cannot open %s read-only: %s", dir,
		                 mdb_strerror(rc));
	}
	*out = l;
	return KETEN_OK;
}

void
ledger_close(struct ledger **l)
{
	if (l == NULL || *l == NULL)
		return;
	mdb_env_close((*l)->env);
	free(*l);
	*l = NULL;
}

/* Walks database `db` with its head stored under meta key `head`; a
 * missing database is empty if `optional`. */
static int
walk(struct ledger *l, const char *db, MDB_val head, bool optional,
     ledger_record_fn fn, ledger_end_fn end, void *arg, uint64_t *head_seq,
     uint8_t head_hash[32], char region[KETEN_ID_MAX + 1],
     struct keten_error *err)
{
	MDB_txn *txn = NULL;
	MDB_dbi log, meta;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc, ret = KETEN_OK;

	*head_seq = 0;
	memset(head_hash, 0, 32);
	region[0] = '\0';
	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc == MDB_MAP_RESIZED) {
		/* The broker grew the map since we opened it: adopt it. */
		if ((rc = mdb_env_set_mapsize(l->env, 0)) == 0)
			rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	}
	if (rc != 0)
		return error_set(err, KETEN_E_IO, "cannot read the log: %s",
		                 mdb_strerror(rc));
	if ((rc = mdb_dbi_open(txn, LAYOUT_DB_META, 0, &meta)) != 0) {
		mdb_txn_abort(txn);
		return error_set(
		    err, KETEN_E_IO,
		    "the data directory holds no keten metadata: %s",
		    mdb_strerror(rc));
	}
	if ((rc = mdb_dbi_open(txn, db, 0, &log)) != 0) {
		/* A database that came later is empty in older directories,
		 * unless the head says it had entries: then it was removed. */
		k = head;
		if (optional && rc == MDB_NOTFOUND &&
		    mdb_get(txn, meta, &k, &v) == 0) {
			mdb_txn_abort(txn);
			return error_set(err, KETEN_E_CHAIN,
			                 "the %s database is missing, but the "
			                 "stored head says it had entries",
			                 db);
		}
		mdb_txn_abort(txn);
		if (optional && rc == MDB_NOTFOUND)
			return KETEN_OK;
		return error_set(err, KETEN_E_IO,
		                 "the data directory holds no keten %s: %s", db,
		                 mdb_strerror(rc));
	}
	k = head;
	if (mdb_get(txn, meta, &k, &v) == 0) /* of another size: left */
		(void)layout_head_parse(&v, head_seq, head_hash);
	k = LAYOUT_KEY(LAYOUT_META_REGION);
	if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size <= KETEN_ID_MAX) {
		memcpy(region, v.mv_data, v.mv_size);
		region[v.mv_size] = '\0';
	}
	if ((rc = mdb_cursor_open(txn, log, &cur)) != 0) {
		mdb_txn_abort(txn);
		return error_set(err, KETEN_E_IO, "cannot read the log: %s",
		                 mdb_strerror(rc));
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t key = 0; /* if the key is no seq */
		(void)layout_be64_parse(&k, &key);
		if ((ret = fn(arg, key, v.mv_data, v.mv_size)) != 0)
			break;
	}
	if (ret == KETEN_OK && rc != MDB_NOTFOUND)
		ret = error_set(err, KETEN_E_IO, "cannot read the log: %s",
		                mdb_strerror(rc));
	if (end != NULL) { /* still inside the snapshot */
		int e = end(arg, ret);
		if (ret == KETEN_OK)
			ret = e;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

int
ledger_walk(struct ledger *l, ledger_record_fn fn, void *arg,
            uint64_t *head_seq, uint8_t head_hash[32],
            char region[KETEN_ID_MAX + 1], struct keten_error *err)
{
	return walk(l, LAYOUT_DB_LOG, LAYOUT_KEY(LAYOUT_META_HEAD), false, fn,
	            NULL, arg, head_seq, head_hash, region, err);
}

int
ledger_walk_end(struct ledger *l, ledger_record_fn fn, ledger_end_fn end,
                void *arg, uint64_t *head_seq, uint8_t head_hash[32],
                char region[KETEN_ID_MAX + 1], struct keten_error *err)
{
	return walk(l, LAYOUT_DB_LOG, LAYOUT_KEY(LAYOUT_META_HEAD), false, fn,
	            end, arg, head_seq, head_hash, region, err);
}

int
ledger_checkpoint(struct ledger *l, struct keten_checkpoint *cp, bool *has,
                  const struct note_key *broker, bool old_ok,
                  struct keten_error *err)
{
	struct keten_error why = {0};
	MDB_txn *txn = NULL;
	MDB_dbi meta;
	MDB_val k = LAYOUT_KEY(LAYOUT_META_CHECKPOINT), v;
	int rc;

	*has = false;
	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc == MDB_MAP_RESIZED && (rc = mdb_env_set_mapsize(l->env, 0)) == 0)
		rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return error_set(err, KETEN_E_IO, "cannot read the log: %s",
		                 mdb_strerror(rc));
	if ((rc = mdb_dbi_open(txn, LAYOUT_DB_META, 0, &meta)) == 0)
		rc = mdb_get(txn, meta, &k, &v);
	if (rc == 0 && v.mv_size == LAYOUT_V4_CHECKPOINT_LEN && old_ok)
		rc = MDB_NOTFOUND; /* the upgrade checks it */
	if (rc == 0 && v.mv_size == LAYOUT_V4_CHECKPOINT_LEN)
		error_set(
		    &why, KETEN_E_CHAIN,
		    "it is the binary checkpoint of schema 4; start this "
		    "version's ketend on the directory once to upgrade it");
	if (rc == 0 && (v.mv_size == LAYOUT_V4_CHECKPOINT_LEN ||
	                note_checkpoint_parse(cp, v.mv_data, v.mv_size, broker,
	                                      &why) != KETEN_OK))
		rc = MDB_CORRUPTED;
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return KETEN_OK;
	if (rc == MDB_CORRUPTED)
		return error_set(err, KETEN_E_CHAIN,
		                 "the stored checkpoint is not this region's "
		                 "checkpoint note: %s",
		                 why.message);
	if (rc != 0)
		return error_set(err, KETEN_E_IO, "cannot read the log: %s",
		                 mdb_strerror(rc));
	*has = true;
	return KETEN_OK;
}

int
ledger_witness_each(struct ledger *l, ledger_witness_fn fn, void *arg,
                    struct keten_error *err)
{
	MDB_txn *txn = NULL;
	MDB_dbi db;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc, ret = KETEN_OK;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc == MDB_MAP_RESIZED && (rc = mdb_env_set_mapsize(l->env, 0)) == 0)
		rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return error_set(err, KETEN_E_IO,
		                 "cannot read the witness database: %s",
		                 mdb_strerror(rc));
	if ((rc = mdb_dbi_open(txn, LAYOUT_DB_WITNESS, 0, &db)) == 0)
		rc = mdb_cursor_open(txn, db, &cur);
	for (rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : rc;
	     rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((ret = fn(arg, k.mv_data, k.mv_size, v.mv_data,
		              v.mv_size)) != 0)
			break;
	if (ret == KETEN_OK && rc != MDB_NOTFOUND)
		ret = error_set(err, KETEN_E_IO,
		                "cannot read the witness database: %s",
		                mdb_strerror(rc));
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

int
ledger_walk_access(struct ledger *l, ledger_record_fn fn, void *arg,
                   uint64_t *head_seq, uint8_t head_hash[32],
                   char region[KETEN_ID_MAX + 1], struct keten_error *err)
{
	return walk(l, LAYOUT_DB_ACCESS, LAYOUT_KEY(LAYOUT_META_ACCESS_HEAD),
	            true, fn, NULL, arg, head_seq, head_hash, region, err);
}
