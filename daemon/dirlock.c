/*
 * The data directory's lock (dirlock.h): flock(2) on the directory, which
 * LMDB's own fcntl locks on lock.mdb neither see nor disturb. Must never
 * wait for the lock, and never write into the directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dirlock.h"

/* The PID holding a flock on the file fd names, from /proc/locks ("1:
 * FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF", the device in hex), or
 * 0 if it cannot tell. Some filesystems (btrfs, overlayfs) print another
 * device than stat(2) gives: then the one FLOCK holder of that inode. */
static long
dirlock_holder(int fd)
{
	char line[256], type[16];
	unsigned int maj, min;
	unsigned long long ino;
	long pid, exact = 0, by_inode = 0;
	int n_inode = 0;
	struct stat st;
	FILE *f;

	if (fstat(fd, &st) != 0 || (f = fopen("/proc/locks", "r")) == NULL)
		return 0;
	while (exact == 0 && fgets(line, sizeof(line), f) != NULL) {
		/* "N: TYPE ..." holders; "N: -> TYPE ..." are waiters. */
		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", type, &pid,
		           &maj, &min, &ino) != 5 ||
		    strcmp(type, "FLOCK") != 0 ||
		    ino != (unsigned long long)st.st_ino)
			continue;
		if (maj == major(st.st_dev) && min == minor(st.st_dev))
			exact = pid;
		else if (n_inode++ == 0)
			by_inode = pid;
	}
	fclose(f);
	return exact != 0 ? exact : n_inode == 1 ? by_inode : 0;
}

int
dirlock_take(int *fd, const char *dir, struct keten_error *err)
{
	int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e;
	long pid;

	*fd = -1;
	if (d < 0)
		return error_set(err, KETEN_E_IO,
		                 "cannot open data directory %s: %s", dir,
		                 strerror(errno));
	if (flock(d, LOCK_EX | LOCK_NB) == 0) {
		*fd = d;
		return KETEN_OK;
	}
	e = errno;
	pid = e == EWOULDBLOCK ? dirlock_holder(d) : 0;
	close(d);
	if (e != EWOULDBLOCK)
		return error_set(err, KETEN_E_IO,
		                 "cannot lock data directory %s: %s", dir,
		                 strerror(e));
	if (pid > 0)
		return error_set(err, KETEN_E_IO,
		                 "data directory %s is locked by pid %ld, most "
		                 "likely another ketend; one ketend per data "
		                 "directory",
		                 dir, pid);
	return error_set(err, KETEN_E_IO,
	                 "data directory %s is locked by another process, "
	                 "most likely another ketend; one ketend per data "
	                 "directory",
	                 dir);
}

void
dirlock_release(int *fd)
{
	if (fd == NULL || *fd < 0)
		return;
	close(*fd); /* drops the flock */
	*fd = -1;
}
