/*
 * Opens a stopped broker's data directory by hand, for tests that inspect
 * it or damage it on purpose. It must never touch a directory a running
 * ketend holds: stop the broker first (harness_stop or harness_kill).
 */
#ifndef KETEN_LMDB_EDIT_H
#define KETEN_LMDB_EDIT_H

#include <stddef.h>

#include <lmdb.h>

/* One transaction on a data directory, from lmdb_edit_begin until
 * lmdb_edit_commit or lmdb_edit_abort. */
struct lmdb_edit {
	MDB_env *env;
	MDB_txn *txn;
};

/* lmdb_edit_begin's flags. */
#define LMDB_EDIT_READ_ONLY 0x1u

/*
 * Opens dir and begins a transaction: read-only with LMDB_EDIT_READ_ONLY,
 * else a write one. map_size, if not 0, is the map size in bytes (for
 * edits that grow the data; 0 keeps the directory's). spare_pages, if not
 * 0, shrinks the map to the pages the data uses and spare_pages more: a
 * commit makes that the directory's size, so the broker finds it nearly
 * full. Exits the test, naming the LMDB call, on failure.
 */
void lmdb_edit_begin(struct lmdb_edit *e, const char *dir, unsigned flags,
                     size_t map_size, size_t spare_pages);
/* The database called name (a LAYOUT_DB_*); exits the test if it is not
 * there. */
MDB_dbi lmdb_edit_db(struct lmdb_edit *e, const char *name);
/* Commits and closes the directory; exits the test on failure. */
void lmdb_edit_commit(struct lmdb_edit *e);
/* Drops what the transaction did and closes the directory. */
void lmdb_edit_abort(struct lmdb_edit *e);

#endif
