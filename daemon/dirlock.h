/*
 * One broker per data directory: an exclusive lock on the directory
 * itself, held while the store is open. Adds no file to the directory and
 * never blocks: a second broker is refused at once.
 */
#ifndef KETEN_DIRLOCK_H
#define KETEN_DIRLOCK_H

#include "error.h"

/*
 * Takes the lock on dir: KETEN_OK with *fd the descriptor that holds it,
 * or KETEN_E_IO naming the directory and, where /proc/locks tells, the
 * PID of the process that holds it. Readers (the offline audit) take no
 * lock and may run beside the holder. The kernel drops the lock when the
 * holder exits, however it exits.
 */
int dirlock_take(int *fd, const char *dir, struct keten_error *err) WUR;
/* Drops the lock and sets *fd to -1; a no-op if *fd < 0. */
void dirlock_release(int *fd);

#endif
