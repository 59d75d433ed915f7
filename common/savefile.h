/*
 * Replacing a small file atomically: a reader sees the old bytes or the
 * new, never a mix, even across a crash (state files, saved checkpoints).
 * Never follows the path to write anywhere but its own directory.
 */
#ifndef KETEN_SAVEFILE_H
#define KETEN_SAVEFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/*
 * Writes len bytes of buf to path with the given mode: a temporary file
 * beside it, fsync, rename over path, fsync of the directory. KETEN_OK,
 * or KETEN_E_IO with a sentence naming path (the temporary file is then
 * removed and path left as it was).
 */
int savefile_write(const char *path, const void *buf, size_t len, mode_t mode,
                   struct keten_error *err) WUR;

#endif
