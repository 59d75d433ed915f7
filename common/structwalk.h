/*
 * The structural walk of a data directory's LMDB file: every database
 * read with cursors, every page touched, in a child process, so that a
 * crash inside liblmdb on a damaged page becomes a refusal. Never writes.
 */
#ifndef KETEN_STRUCTWALK_H
#define KETEN_STRUCTWALK_H

#include "error.h"

/*
 * Forks a child that opens dir read-only and walks the main database and
 * every named one to the last byte of every value. KETEN_OK if the walk
 * ended cleanly, or if dir holds no data.mdb or one LMDB cannot open (the
 * caller's own open says why). KETEN_E_CHAIN with "data.mdb is
 * structurally damaged in database X; restore from a backup" if the child
 * died of a signal or LMDB called a page damaged; KETEN_E_IO if no child
 * could be made. Call it before this process opens dir with LMDB: LMDB's
 * locks are per process.
 */
int structwalk_check(const char *dir, struct keten_error *err) WUR;

#endif
