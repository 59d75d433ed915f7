/*
 * Opens a stopped broker's data directory by hand, for tests that inspect
 * it or damage it on purpose. It must never touch a directory a running
 * ketend holds: two writers' maps of one file are not a test but a bug.
 */
#include "lmdb_edit.h"

#include <stdio.h>
#include <stdlib.h>

#include "ledger_layout.h"

/* Like the rest of the harness, a failure here ends the test: the
 * caller's CHECK counters are its own translation unit's. */
static void
lmdb_edit_must(int rc, const char *call, const char *what)
{
	if (rc == 0)
		return;
	fprintf(stderr, "lmdb_edit: %s(%s): %s\n", call, what,
	        mdb_strerror(rc));
	exit(99);
}

void
lmdb_edit_begin(struct lmdb_edit *e, const char *dir, unsigned flags,
                size_t map_size, size_t spare_pages)
{
	unsigned rdonly = (flags & LMDB_EDIT_READ_ONLY) ? MDB_RDONLY : 0;

	lmdb_edit_must(mdb_env_create(&e->env), "mdb_env_create", dir);
	lmdb_edit_must(mdb_env_set_maxdbs(e->env, LAYOUT_MAX_DBS),
	               "mdb_env_set_maxdbs", dir);
	if (map_size > 0)
		lmdb_edit_must(mdb_env_set_mapsize(e->env, map_size),
		               "mdb_env_set_mapsize", dir);
	lmdb_edit_must(mdb_env_open(e->env, dir, rdonly, 0600), "mdb_env_open",
	               dir);
	if (spare_pages > 0) {
		MDB_envinfo info;
		MDB_stat st;
		size_t pages;

		lmdb_edit_must(mdb_env_info(e->env, &info), "mdb_env_info",
		               dir);
		lmdb_edit_must(mdb_env_stat(e->env, &st), "mdb_env_stat", dir);
		pages = info.me_last_pgno + 1 + spare_pages;
		lmdb_edit_must(mdb_env_set_mapsize(e->env, pages * st.ms_psize),
		               "mdb_env_set_mapsize", dir);
	}
	lmdb_edit_must(mdb_txn_begin(e->env, NULL, rdonly, &e->txn),
	               "mdb_txn_begin", dir);
}

MDB_dbi
lmdb_edit_db(struct lmdb_edit *e, const char *name)
{
	MDB_dbi dbi = 0;

	lmdb_edit_must(mdb_dbi_open(e->txn, name, 0, &dbi), "mdb_dbi_open",
	               name);
	return dbi;
}

void
lmdb_edit_commit(struct lmdb_edit *e)
{
	const char *dir = "?";
	int rc;

	(void)mdb_env_get_path(e->env, &dir);
	rc = mdb_txn_commit(e->txn);
	e->txn = NULL;
	lmdb_edit_must(rc, "mdb_txn_commit", dir);
	mdb_env_close(e->env);
	e->env = NULL;
}

void
lmdb_edit_abort(struct lmdb_edit *e)
{
	mdb_txn_abort(e->txn);
	e->txn = NULL;
	mdb_env_close(e->env);
	e->env = NULL;
}
