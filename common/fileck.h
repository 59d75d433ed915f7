/*
 * Checks on the files keten trusts (configs, key files, the data
 * directory), in the spirit of sshd's StrictModes. Must never block on
 * what a path names (a FIFO, a terminal) and never read a file's bytes.
 */
#ifndef KETEN_FILECK_H
#define KETEN_FILECK_H

#include <sys/stat.h>

#include "error.h"

/*
 * Opens path for reading: O_NONBLOCK first, so a FIFO or device is
 * refused at once instead of waiting for a writer, then fstat; anything
 * but a regular file is refused with code and a sentence naming path and
 * what it is ("PATH: is a directory, not a config file"). what names the
 * file's use: "config file", "key file". On KETEN_OK, *fd is open in
 * blocking mode (close it) and *st describes it.
 */
int fileck_open(int *fd, struct stat *st, const char *path, const char *what,
                int code, struct keten_error *err) WUR;

/*
 * StrictModes for a file or directory that keten trusts: refused with
 * code if group or others may write it (the sentence gives path, mode
 * and "chmod go-w PATH"), or if it belongs to a user other than the one
 * running (euid) and root, who could rewrite it at will. The advice is
 * "chown EUID PATH" for a user; for root, which cannot know the user
 * ketend is meant to run as, it is to run as the owner (sudo -u) or to
 * chown to root, never to chown to its own uid.
 */
int fileck_strict(const struct stat *st, const char *path, const char *what,
                  int code, struct keten_error *err) WUR;

/*
 * The directory holding path: refused with code if group or others may
 * write it without the sticky bit (they could replace the file), or if
 * it belongs to another user than euid and root. If path is a symbolic
 * link, also the directory of every link it leads through and of the
 * file it resolves to (realpath): whoever may write one of them may
 * point the link elsewhere. A path that does not exist yet is checked
 * in its own directory only.
 */
int fileck_parent(const char *path, const char *what, int code,
                  struct keten_error *err) WUR;

/*
 * The directory path: refused with code if it is missing (ENOENT is
 * KETEN_OK with *missing = 1 if missing is not NULL), not a directory,
 * or fails fileck_strict. what: "data directory".
 */
int fileck_dir(int *missing, const char *path, const char *what, int code,
               struct keten_error *err) WUR;

/* "a directory", "a FIFO", ... for a mode that is not a regular file. */
const char *fileck_type_name(mode_t mode);

#endif
