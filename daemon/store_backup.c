/*
 * A hot, compacted copy of a data directory (ketend --backup): LMDB's own
 * copy from one read snapshot, beside a running broker or without one.
 * Must never take the broker's directory lock, open a write transaction,
 * or write anything but the new copy; never overwrites a file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_impl.h"

/* dir is empty (but for . and ..): 1, 0, or -1 with errno. */
static int
backup_dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (d == NULL)
		return -1;
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	return empty;
}

/* The destination directory, made 0700 (or an empty one, set to 0700):
 * its descriptor in *fd, *made whether this call created it. */
static int
backup_dest_dir(int *fd, bool *made, const char *dest, struct keten_error *err)
{
	int empty;

	*made = mkdir(dest, 0700) == 0;
	if (!*made && errno != EEXIST)
		return error_set(err, KETEN_E_IO, "cannot create %s: %s", dest,
		                 strerror(errno));
	if (!*made && (empty = backup_dir_empty(dest)) != 1)
		return error_set(
		    err, KETEN_E_IO,
		    empty == 0 ? "%s exists and is not empty: a backup never "
		                 "overwrites; give a new directory"
		               : "%s exists and cannot be read as a directory: "
		                 "%s",
		    dest, strerror(errno));
	if ((*fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fchmod(*fd, 0700) != 0) {
		int e = errno;

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		if (*made)
			rmdir(dest);
		return error_set(err, KETEN_E_IO, "cannot open %s: %s", dest,
		                 strerror(e));
	}
	return KETEN_OK;
}

/* dir's environment read-only, with LMDB's reader table (lock.mdb), so
 * that the live writer does not reuse the pages the copy reads. Without
 * the lock file (another user, a read-only mount) it refuses rather than
 * read unregistered beside a writer. An LMDB code. */
static int
backup_env_open(MDB_env **env, const char *dir)
{
	int rc;

	if ((rc = mdb_env_create(env)) != 0)
		return rc;
	if ((rc = mdb_env_set_maxdbs(*env, LAYOUT_MAX_DBS)) == 0)
		rc = mdb_env_open(*env, dir, MDB_RDONLY, 0600);
	if (rc != 0) {
		mdb_env_close(*env);
		*env = NULL;
	}
	return rc;
}

/* The compacted copy of env onto fd, from one read snapshot; adopts a
 * map the broker grew meanwhile. An LMDB code. */
static int
backup_copy(MDB_env *env, int fd)
{
	int rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);

	if (rc == MDB_MAP_RESIZED && mdb_env_set_mapsize(env, 0) == 0 &&
	    ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0)
		rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
	return rc;
}

int
store_backup(const char *data_dir, const char *dest, struct keten_error *err)
{
	char src[PATH_MAX], file[PATH_MAX], parent[PATH_MAX], *slash;
	MDB_env *env = NULL;
	struct stat st;
	bool made;
	int dfd = -1, fd = -1, pfd, rc;

	if ((size_t)snprintf(src, sizeof(src), "%s/data.mdb", data_dir) >=
	        sizeof(src) ||
	    (size_t)snprintf(file, sizeof(file), "%s/data.mdb", dest) >=
	        sizeof(file))
		return error_set(err, KETEN_E_IO, "path too long");
	if (stat(src, &st) != 0)
		return error_set(err, KETEN_E_IO,
		                 "%s is not a keten data directory (no "
		                 "data.mdb): %s",
		                 data_dir, strerror(errno));
	if ((rc = backup_env_open(&env, data_dir)) != 0)
		return error_set(
		    err, KETEN_E_IO,
		    "cannot open %s read-only: %s (run the backup "
		    "as the broker's user: it registers as a reader "
		    "in lock.mdb)",
		    data_dir, mdb_strerror(rc));
	if ((rc = backup_dest_dir(&dfd, &made, dest, err)) != KETEN_OK) {
		mdb_env_close(env);
		return rc;
	}
	/* O_EXCL: a copy never replaces a file; 0600 whatever the umask. */
	if ((fd = openat(dfd, "data.mdb",
	                 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    fchmod(fd, 0600) != 0) {
		rc = error_set(err, KETEN_E_IO, "cannot create %s: %s", file,
		               strerror(errno));
		goto fail;
	}
	if ((rc = backup_copy(env, fd)) != 0) {
		rc = error_set(err, KETEN_E_IO, "cannot copy %s to %s: %s",
		               data_dir, file, mdb_strerror(rc));
		goto fail;
	}
	/* The file, its name in the directory, and the directory's name. */
	if (fsync(fd) != 0 || fsync(dfd) != 0) {
		rc = error_set(err, KETEN_E_IO, "cannot sync %s: %s", file,
		               strerror(errno));
		goto fail;
	}
	snprintf(parent, sizeof(parent), "%s", dest);
	while ((slash = strrchr(parent, '/')) != NULL && slash[1] == '\0' &&
	       slash != parent)
		*slash = '\0';
	slash = strrchr(parent, '/');
	if (slash == NULL)
		snprintf(parent, sizeof(parent), ".");
	else
		slash[slash == parent] = '\0';
	if ((pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(pfd);
		close(pfd);
	}
	close(fd);
	close(dfd);
	mdb_env_close(env);
	return KETEN_OK;
fail:
	if (fd >= 0) {
		close(fd);
		unlinkat(dfd, "data.mdb", 0);
	}
	close(dfd);
	if (made)
		rmdir(dest);
	mdb_env_close(env);
	return rc;
}
