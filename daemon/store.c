/*
 * LMDB storage of the chain and its indexes (docs/PROTOCOL.md, "Storage"):
 * opening and closing the environment, growing its map, and reading the
 * heads in a transaction (store_read.c answers store_head).
 * The read and write paths, the tree, the case indexes and the upgrades
 * live beside it (store_impl.h). Must never return an MDB_val outside its
 * transaction, and never write outside the start transaction and
 * store_apply's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain.h"
#include "dirlock.h"
#include "fileck.h"
#include "log.h"
#include "metrics.h"
#include "roster.h"
#include "store_impl.h"

/* The head stored in txn's snapshot, or 0 and the genesis hash before the
 * first commit. An LMDB code. */
int
store_head_get(const struct store *s, MDB_txn *txn, uint64_t *seq,
               uint8_t hash[32])
{
	MDB_val k = LAYOUT_KEY(LAYOUT_META_HEAD), v;
	int rc = mdb_get(txn, s->meta, &k, &v);

	if (rc == MDB_NOTFOUND) {
		*seq = 0;
		memcpy(hash, s->genesis, 32);
		return 0;
	}
	if (rc != 0)
		return rc;
	return layout_head_parse(&v, seq, hash) == 0 ? 0 : MDB_CORRUPTED;
}

/* Both heads into the writer's view. An LMDB code. */
static int
read_head(struct store_writer *w, MDB_txn *txn)
{
	const struct store *s = w->s;
	MDB_val k = LAYOUT_KEY(LAYOUT_META_ACCESS_HEAD), v;
	int rc = store_head_get(s, txn, &w->head_seq, w->head_hash);

	if (rc != 0)
		return rc;
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		w->access_seq = 0;
		access_genesis(w->access_hash, s->region);
		return 0;
	}
	if (rc != 0)
		return rc;
	return layout_head_parse(&v, &w->access_seq, w->access_hash) == 0
	           ? 0
	           : MDB_CORRUPTED;
}

void
store_metrics(const struct store_writer *w)
{
	MDB_envinfo info;
	MDB_stat st;

	if (mdb_env_info(w->s->env, &info) == 0 &&
	    mdb_env_stat(w->s->env, &st) == 0) {
		metrics_set(METRIC_MAP_SIZE, (int64_t)info.me_mapsize);
		metrics_set(METRIC_MAP_MAX, (int64_t)w->map_max);
		metrics_set(METRIC_MAP_USED,
		            (int64_t)((info.me_last_pgno + 1) * st.ms_psize));
	}
	metrics_set(METRIC_CHECKPOINT_SIZE, (int64_t)w->cp.size);
	metrics_set(METRIC_CHECKPOINT_AT_US, w->cp.signed_at_us);
}

/*
 * Frees the reader slots of processes that died holding a read
 * transaction (a `ketend --backup` or `keten audit` killed mid-copy):
 * until then the writer cannot reuse a page freed after their snapshot,
 * and the map, then the disk, grows with every commit. At most once a
 * minute unless forced (before the map grows). Returns the slots freed.
 */
int
store_readers_check(struct store_writer *w, bool force)
{
	int64_t now = clock_mono_us();
	int dead = 0;

	if (!force && now - w->readers_checked_us < 60 * 1000000LL)
		return 0;
	w->readers_checked_us = now;
	if (mdb_reader_check(w->s->env, &dead) != 0)
		return 0;
	if (dead > 0)
		log_warn("event=stale_readers_cleared n=%d", dead);
	return dead;
}

int
store_grow_map(struct store_writer *w)
{
	struct store *s = w->s;
	size_t next = w->map_size * 2;
	int rc;

	if (w->map_max != 0 && next > w->map_max)
		next = w->map_max;
	if (next <= w->map_size)
		return -1;
	pthread_rwlock_wrlock(&s->remap);
	rc = mdb_env_set_mapsize(s->env, next);
	pthread_rwlock_unlock(&s->remap);
	if (rc != 0) {
		log_err("event=map_grow_failed to_mb=%zu reason=%s", next >> 20,
		        log_q(mdb_strerror(rc)));
		return -1;
	}
	log_info("event=map_grown from_mb=%zu to_mb=%zu", w->map_size >> 20,
	         next >> 20);
	w->map_size = next;
	return 0;
}

/* Undoes a store_open that got as far as the lock. */
static void
discard(struct store *s, struct store_writer *w)
{
	if (s->env)
		mdb_env_close(s->env);
	roster_destroy(&s->roster);
	dirlock_release(&s->dir_fd);
	pthread_rwlock_destroy(&s->remap);
	store_tree_cache_free(w);
	free(w->dir);
	free(w);
	free(s);
}

/*
 * The start transaction: creates the databases, checks the region, brings
 * the data up to this schema and signs the checkpoint, all or nothing.
 * 0; an LMDB code with *step saying what failed; or -1 with err set when
 * the directory must not be served.
 */
static int
open_txn(struct store_writer *w, const char *dir, const char **step,
         struct keten_error *err)
{
	struct store *s = w->s;
	MDB_txn *txn;
	MDB_val k, v;
	struct keten_error why;
	int rc;

	error_clear(&why);
	*step = "create the databases";
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return rc;
	if ((rc = mdb_dbi_open(txn, LAYOUT_DB_LOG, MDB_CREATE, &s->log)) ||
	    (rc = mdb_dbi_open(txn, LAYOUT_DB_MSGID, MDB_CREATE, &s->msgid)) ||
	    (rc = mdb_dbi_open(txn, LAYOUT_DB_INBOX, MDB_CREATE, &s->inbox)) ||
	    (rc = mdb_dbi_open(txn, LAYOUT_DB_CONTENT, MDB_CREATE,
	                       &s->content)) ||
	    (rc =
	         mdb_dbi_open(txn, LAYOUT_DB_CURSOR, MDB_CREATE, &s->cursor)) ||
	    (rc = mdb_dbi_open(txn, LAYOUT_DB_META, MDB_CREATE, &s->meta)) ||
	    (rc =
	         mdb_dbi_open(txn, LAYOUT_DB_CASENO, MDB_CREATE, &s->caseno)) ||
	    (rc = mdb_dbi_open(txn, LAYOUT_DB_CASES, MDB_CREATE, &s->cases)) ||
	    (rc = mdb_dbi_open(txn, LAYOUT_DB_CASEIDX, MDB_CREATE,
	                       &s->caseidx)) ||
	    (rc = mdb_dbi_open(txn, LAYOUT_DB_CASELOG, MDB_CREATE,
	                       &s->caselog)) ||
	    (rc =
	         mdb_dbi_open(txn, LAYOUT_DB_ACCESS, MDB_CREATE, &s->access)) ||
	    (rc = mdb_dbi_open(txn, LAYOUT_DB_TREE, MDB_CREATE, &s->tree)) ||
	    (rc =
	         mdb_dbi_open(txn, LAYOUT_DB_WITNESS, MDB_CREATE, &s->witness)))
		goto out;
	k = LAYOUT_KEY(LAYOUT_META_REGION);
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		v = layout_val(s->region, strlen(s->region));
		rc = mdb_put(txn, s->meta, &k, &v, 0);
	} else if (rc == 0 && (v.mv_size != strlen(s->region) ||
	                       memcmp(v.mv_data, s->region, v.mv_size) != 0)) {
		error_set(err, KETEN_E_CONFIG,
		          "data directory %s belongs to another region than "
		          "'%s'; refusing to mix chains",
		          dir, s->region);
		rc = -1;
	}
	if (rc != 0)
		goto out;
	*step = "read the head";
	if ((rc = read_head(w, txn)) != 0)
		goto out;
	*step = "check the derived databases against the log";
	if ((rc = store_verify_derived(w, txn, &why)) == 0) {
		*step = "bring the data up to this version";
		rc = store_upgrade(w, txn, &why);
	}
	if (rc == 0) {
		*step = "read the roster";
		rc = store_roster_open(w, txn, &why);
	}
	/* Data damage is KETEN_E_CHAIN, a directory this broker must not
	 * open (another schema) KETEN_E_CONFIG: why says which. */
	if (rc == -1) {
		error_set(err, why.code != 0 ? why.code : KETEN_E_CHAIN,
		          "cannot serve data directory %s: %s", dir,
		          why.message);
	} else if (rc == MDB_CORRUPTED) {
		/* LMDB's word for it ("Located page was wrong type") would
		 * blame the file; it is the log, head or indexes that do
		 * not agree. */
		error_set(err, KETEN_E_CHAIN,
		          "cannot serve data directory %s: its log does not "
		          "end at its stored head, or an index names records "
		          "the log does not have (a head rolled back, or one "
		          "from another copy of the directory); run keten "
		          "audit verify on it",
		          dir);
		rc = -1;
	}
	if (rc != 0)
		goto out;
	*step = "sign the log's checkpoint";
	if ((rc = store_checkpoint_ensure(w, txn)) == MDB_CORRUPTED) {
		error_set(err, KETEN_E_CHAIN,
		          "cannot serve data directory %s: its signed "
		          "checkpoint does not match its log or access log; "
		          "run keten audit verify on it",
		          dir);
		rc = -1;
	}
	if (rc != 0)
		goto out;
	*step = "commit";
	return mdb_txn_commit(txn);
out:
	mdb_txn_abort(txn);
	return rc;
}

int
store_open(struct store **out, struct store_writer **writer, const char *dir,
           size_t map_size, size_t map_max, const char *region,
           const struct note_key *key, store_sign_fn sign, void *sign_arg,
           store_check_fn check, void *check_arg, struct keten_error *err)
{
	struct store *s;
	struct store_writer *w;
	MDB_envinfo info;
	int rc;
	const char *step = "create the environment";

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return error_set(err, KETEN_E_IO,
		                 "cannot create data directory %s: %s", dir,
		                 strerror(errno));
	/* Whoever may write the directory, or its parent, may replace the
	 * log. */
	if ((rc = fileck_dir(NULL, dir, "data directory", KETEN_E_IO, err)) !=
	        KETEN_OK ||
	    (rc = fileck_parent(dir, "data directory", KETEN_E_IO, err)) !=
	        KETEN_OK)
		return rc;
	s = calloc(1, sizeof(*s));
	w = calloc(1, sizeof(*w));
	if (s == NULL || w == NULL || store_tree_cache_new(w) != 0) {
		if (w != NULL)
			store_tree_cache_free(w);
		free(w);
		free(s);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	w->s = s;
	s->dir_fd = -1;
	strcpy(s->region, region);
	s->key = key;
	chain_genesis(s->genesis, region);
	w->sign = sign;
	w->sign_arg = sign_arg;
	if (pthread_rwlock_init(&s->remap, NULL) != 0) {
		store_tree_cache_free(w);
		free(w);
		free(s);
		return error_set(err, KETEN_E_NOMEM, "cannot create a lock");
	}
	w->map_max = map_max;
	if ((w->dir = strdup(dir)) == NULL) {
		discard(s, w);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	/* Before LMDB sees the directory: a second broker must not even
	 * open it (its start transaction would write). */
	if ((rc = dirlock_take(&s->dir_fd, dir, err)) != KETEN_OK ||
	    (check != NULL && (rc = check(check_arg, dir, err)) != KETEN_OK)) {
		discard(s, w);
		return rc;
	}
	if ((rc = mdb_env_create(&s->env)) != 0)
		goto fail;
	step = "size the map";
	if ((rc = mdb_env_set_mapsize(s->env, map_size)) != 0 ||
	    (rc = mdb_env_set_maxdbs(s->env, LAYOUT_MAX_DBS)) != 0 ||
	    (rc = mdb_env_set_maxreaders(s->env, 256)) != 0)
		goto fail;
	step = "open";
	/* Default sync: a commit is on disk before mdb_txn_commit returns. */
	if ((rc = mdb_env_open(s->env, dir, 0, 0600)) != 0)
		goto fail;
	/* Reader slots of processes that died holding them (an audit's
	 * structural walk killed by a damaged page) would pin old pages. */
	(void)mdb_reader_check(s->env, NULL);
	/* An existing file may be bigger than the configured map. */
	mdb_env_info(s->env, &info);
	w->map_size = info.me_mapsize;
	/* An upgrade rebuilds indexes in this one transaction, so it may
	 * need more room than the directory had: grow, as a commit would. */
	while ((rc = open_txn(w, dir, &step, err)) == MDB_MAP_FULL &&
	       store_grow_map(w) == 0) {
		merkle_frontier_init(&w->tree_f);
		store_tree_cache_drop(w);
	}
	if (rc == -1) {
		discard(s, w);
		return err->code;
	}
	if (rc == MDB_MAP_FULL) {
		discard(s, w);
		return error_set(
		    err, KETEN_E_STORAGE,
		    "storage full (the map is at limits.map_max_mb): cannot "
		    "%s LMDB store in %s; raise limits.map_max_mb",
		    step, dir);
	}
	if (rc != 0)
		goto fail;
	*out = s;
	*writer = w;
	store_metrics(w);
	return KETEN_OK;
fail:
	discard(s, w);
	if (rc == ENOSPC)
		return error_set(err, KETEN_E_STORAGE,
		                 "storage full (no space left on device): "
		                 "cannot %s LMDB store in %s; free space on "
		                 "its filesystem",
		                 step, dir);
	return error_set(err, KETEN_E_IO, "cannot %s LMDB store in %s: %s",
	                 step, dir, mdb_strerror(rc));
}

void
store_close(struct store **s, struct store_writer **w)
{
	if (w != NULL && *w != NULL) {
		store_tree_cache_free(*w);
		free((*w)->dir);
		free(*w);
		*w = NULL;
	}
	if (s == NULL || *s == NULL)
		return;
	mdb_env_close((*s)->env);
	roster_destroy(&(*s)->roster);
	dirlock_release(&(*s)->dir_fd);
	pthread_rwlock_destroy(&(*s)->remap);
	free(*s);
	*s = NULL;
}
