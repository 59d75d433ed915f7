/*
 * Atomic replacement of small files (savefile.h). Writes only path and a
 * temporary file beside it, which it removes on any failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "savefile.h"

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync of the directory holding path, so that the rename is durable. */
static int
sync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return -1;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
savefile_write(const char *path, const void *buf, size_t len, mode_t mode,
               struct keten_error *err)
{
	char tmp[4096];
	int fd, n, e;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return error_set(err, KETEN_E_IO, "the path %s is too long",
		                 path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	          mode);
	if (fd < 0)
		return error_set(err, KETEN_E_IO, "cannot write %s: %s", path,
		                 strerror(errno));
	if (write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		return error_set(err, KETEN_E_IO, "cannot write %s: %s", path,
		                 strerror(e));
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		e = errno;
		unlink(tmp);
		return error_set(err, KETEN_E_IO, "cannot write %s: %s", path,
		                 strerror(e));
	}
	if (sync_dir(path) != 0)
		return error_set(err, KETEN_E_IO,
		                 "wrote %s but cannot make it durable: %s",
		                 path, strerror(errno));
	return KETEN_OK;
}
