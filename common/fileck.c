/*
 * File checks before trust (fileck.h): type, mode and owner, from one
 * fstat or stat. Must never open a path in blocking mode before knowing
 * it is a regular file, and never read from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The name of uid into buf ("keten"), or its number if it has none. */
static const char *
fileck_user(char *buf, size_t size, uid_t uid)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL)
		snprintf(buf, size, "%s", pw.pw_name);
	else
		snprintf(buf, size, "%lu", (unsigned long)uid);
	return buf;
}

/*
 * The owner rule, for path (a file or directory, shown as "this config
 * file" or "its directory D", fixed by chown on fix) owned by owner: euid
 * or root may own it. Anyone else could rewrite it at will. Run by a
 * user, the fix is to own it. Run by root, nothing tells whose files
 * these are meant to be: a config owned by the service user is right
 * when ketend runs as that user, and root must not be told to chown it
 * to itself (that makes a 0600 key unreadable to the real ketend). So
 * root is told to check as that user, or to chown to root if that user
 * should not own it; root itself never trusts a file another user can
 * rewrite, as sshd does not for root's own files.
 */
static int
fileck_owner(uid_t owner, const char *path, const char *shown, const char *fix,
             int code, struct keten_error *err)
{
	uid_t me = geteuid();
	char name[64];

	if (owner == me || owner == 0)
		return KETEN_OK;
	fileck_user(name, sizeof(name), owner);
	/* Short: KETEN_ERROR_MAX is 256 bytes, and paths come twice. */
	if (me == 0)
		return error_set(
		    err, code,
		    "%s: %s belongs to %s (uid %lu), and root runs "
		    "this: if ketend runs as %s, run this as %s "
		    "(sudo -u %s ...), else chown it to root",
		    path, shown, name, (unsigned long)owner, name, name, name);
	return error_set(err, code,
	                 "%s: %s belongs to %s (uid %lu), who could change "
	                 "it at will; it must belong to uid %lu (which runs "
	                 "this) or root (chown %lu %s)",
	                 path, shown, name, (unsigned long)owner,
	                 (unsigned long)me, (unsigned long)me, fix);
}

int
fileck_strict(const struct stat *st, const char *path, const char *what,
              int code, struct keten_error *err)
{
	char shown[96];

	if ((st->st_mode & 022) != 0)
		return error_set(err, code,
		                 "%s: mode %04o lets group or others write "
		                 "this %s, so they could %s (chmod go-w %s)",
		                 path, (unsigned)(st->st_mode & 07777), what,
		                 S_ISDIR(st->st_mode)
		                     ? "replace the files in it"
		                     : "change what keten trusts",
		                 path);
	snprintf(shown, sizeof(shown), "this %s", what);
	return fileck_owner(st->st_uid, path, shown, path, code, err);
}

/* One directory dir, holding path (or a link on the way to it). */
static int
fileck_dir_of(const char *path, const char *dir, const char *what, int code,
              struct keten_error *err)
{
	struct stat st;
	char shown[PATH_MAX + 32];

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
	snprintf(shown, sizeof(shown), "its directory %s", dir);
	return fileck_owner(st.st_uid, path, shown, dir, code, err);
}

/* The directory of p, into buf. */
static int
fileck_dirname(char *buf, size_t size, const char *p, const char *path,
               int code, struct keten_error *err)
{
	char copy[PATH_MAX];

	if (strlen(p) >= sizeof(copy))
		return error_set(err, code, "%s: the path is too long", path);
	strcpy(copy, p);
	snprintf(buf, size, "%s", dirname(copy));
	return KETEN_OK;
}

int
fileck_parent(const char *path, const char *what, int code,
              struct keten_error *err)
{
	char cur[PATH_MAX], dir[PATH_MAX], next[PATH_MAX], target[PATH_MAX];
	struct stat st;
	ssize_t len;
	int rc, hops;

	if (strlen(path) >= sizeof(cur))
		return error_set(err, code, "%s: the path is too long", path);
	strcpy(cur, path);
	/* The directory of path, and of every symbolic link on the way to
	 * the file: whoever may write one of them may point the link
	 * elsewhere. 40 hops, as the kernel allows (ELOOP beyond). */
	for (hops = 0; hops <= 40; hops++) {
		if ((rc = fileck_dirname(dir, sizeof(dir), cur, path, code,
		                         err)) != KETEN_OK ||
		    (rc = fileck_dir_of(path, dir, what, code, err)) !=
		        KETEN_OK)
			return rc;
		if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
			break;
		if ((len = readlink(cur, target, sizeof(target) - 1)) < 0)
			break;
		target[len] = '\0';
		if (target[0] == '/' ||
		    snprintf(next, sizeof(next), "%s/%s", dir, target) >=
		        (int)sizeof(next))
			snprintf(next, sizeof(next), "%s", target);
		strcpy(cur, next);
	}
	/* And the directory the file really is in, once every link in
	 * the directories above it is resolved. A path that does not
	 * resolve (a data directory not made yet) has none. */
	if (realpath(path, cur) == NULL)
		return KETEN_OK;
	if ((rc = fileck_dirname(dir, sizeof(dir), cur, path, code, err)) !=
	    KETEN_OK)
		return rc;
	return fileck_dir_of(path, dir, what, code, err);
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
