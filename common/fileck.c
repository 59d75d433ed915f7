/*
 * File checks before trust (fileck.h): type, mode and owner, from one
 * fstat or stat. Must never open a path in blocking mode before knowing
 * it is a regular file, and never read from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fileck.h"

const char *
fileck_type_name(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISREG(mode))
		return "a regular file";
	return "not a file";
}

/* The sentence for a path that is st's type but should be a regular
 * file. */
static int
fileck_not_regular(const struct stat *st, const char *path, const char *what,
                   int code, struct keten_error *err)
{
	if (S_ISDIR(st->st_mode))
		return error_set(err, code, "%s: is a directory, not a %s",
		                 path, what);
	return error_set(err, code,
	                 "%s: is %s, not a regular file (a %s must be one)",
	                 path, fileck_type_name(st->st_mode), what);
}

int
fileck_open(int *fd, struct stat *st, const char *path, const char *what,
            int code, struct keten_error *err)
{
	int d, flags, e;

	*fd = -1;
	d = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (d < 0) {
		e = errno;
		/* A socket cannot be opened (ENXIO): say what it is. */
		if (stat(path, st) == 0 && !S_ISREG(st->st_mode))
			return fileck_not_regular(st, path, what, code, err);
		return error_set(err, code, "%s: cannot open %s: %s", path,
		                 what, strerror(e));
	}
	if (fstat(d, st) != 0) {
		e = errno;
		close(d);
		return error_set(err, code, "%s: cannot read %s: %s", path,
		                 what, strerror(e));
	}
	if (!S_ISREG(st->st_mode)) {
		close(d);
		return fileck_not_regular(st, path, what, code, err);
	}
	if ((flags = fcntl(d, F_GETFL)) < 0 ||
	    fcntl(d, F_SETFL, flags & ~O_NONBLOCK) != 0) {
		e = errno;
		close(d);
		return error_set(err, code, "%s: cannot read %s: %s", path,
		                 what, strerror(e));
	}
	*fd = d;
	return KETEN_OK;
}

int
fileck_strict(const struct stat *st, const char *path, const char *what,
              int code, struct keten_error *err)
{
	uid_t me = geteuid();

	if ((st->st_mode & 022) != 0)
		return error_set(err, code,
		                 "%s: mode %04o lets group or others write "
		                 "this %s, so they could %s (chmod go-w %s)",
		                 path, (unsigned)(st->st_mode & 07777), what,
		                 S_ISDIR(st->st_mode)
		                     ? "replace the files in it"
		                     : "change what keten trusts",
		                 path);
	if (st->st_uid != me && st->st_uid != 0)
		return error_set(err, code,
		                 "%s: this %s belongs to uid %lu, who could "
		                 "change it at will; it must belong to uid %lu "
		                 "(which runs this) or root (chown %lu %s)",
		                 path, what, (unsigned long)st->st_uid,
		                 (unsigned long)me, (unsigned long)me, path);
	return KETEN_OK;
}

int
fileck_parent(const char *path, const char *what, int code,
              struct keten_error *err)
{
	char copy[PATH_MAX], *dir;
	struct stat st;
	uid_t me = geteuid();

	if (strlen(path) >= sizeof(copy))
		return error_set(err, code, "%s: the path is too long", path);
	strcpy(copy, path);
	dir = dirname(copy);
	if (stat(dir, &st) != 0)
		return error_set(err, code,
		                 "%s: cannot examine its directory "
		                 "%s: %s",
		                 path, dir, strerror(errno));
	/* /tmp is 1777: the sticky bit keeps others from renaming it. */
	if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)
		return error_set(err, code,
		                 "%s: its directory %s has mode %04o: group or "
		                 "others may replace the %s there (chmod go-w "
		                 "%s)",
		                 path, dir, (unsigned)(st.st_mode & 07777),
		                 what, dir);
	if (st.st_uid != me && st.st_uid != 0)
		return error_set(err, code,
		                 "%s: its directory %s belongs to uid %lu, who "
		                 "could replace the %s; it must belong to uid "
		                 "%lu or root",
		                 path, dir, (unsigned long)st.st_uid, what,
		                 (unsigned long)me);
	return KETEN_OK;
}

int
fileck_dir(int *missing, const char *path, const char *what, int code,
           struct keten_error *err)
{
	struct stat st;

	if (missing != NULL)
		*missing = 0;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT && missing != NULL) {
			*missing = 1;
			return KETEN_OK;
		}
		return error_set(err, code, "%s: cannot examine %s: %s", path,
		                 what, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return error_set(err, code, "%s: is %s, not a %s", path,
		                 fileck_type_name(st.st_mode), what);
	return fileck_strict(&st, path, what, code, err);
}
