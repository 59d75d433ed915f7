/*
 * The region config loader on any file contents. The input is written to
 * one temporary file per process, reused for every run and removed at
 * exit. Relative paths in it resolve against that file's directory.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "fuzz.h"
#include "text.h"

static char path[] = "/tmp/keten-fuzz-config-XXXXXX";
static int have_path;

static void
remove_path(void)
{
	if (have_path)
		(void)unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	(void)argc;
	(void)argv;
	/* A broker: block without its public keys makes config_load read
	 * the key file it names, into sodium_malloc'd memory. */
	if (sodium_init() < 0)
		abort();
	if ((fd = mkstemp(path)) < 0) {
		perror("mkstemp");
		abort();
	}
	close(fd);
	have_path = 1;
	atexit(remove_path);
	return 0;
}

static void
write_input(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	FUZZ_CHECK(fd >= 0);
	while (size > 0) {
		ssize_t n = write(fd, data, size);
		FUZZ_CHECK(n > 0);
		data += n;
		size -= (size_t)n;
	}
	FUZZ_CHECK(close(fd) == 0);
}

/* What ketend relies on once a config has loaded. */
static void
check(const struct config *c)
{
	FUZZ_CHECK(strcmp(c->path, path) == 0);
	FUZZ_CHECK(text_valid_id(c->region));
	FUZZ_CHECK(strncmp(c->listen, "tcp://", 6) == 0);
	FUZZ_CHECK(c->connect[0] != '\0');
	FUZZ_CHECK(c->data_dir[0] == '/');
	FUZZ_CHECK(c->broker_key_file[0] == '\0' ||
	           c->broker_key_file[0] == '/');
	FUZZ_CHECK(c->max_message_bytes >= 4096);
	FUZZ_CHECK(c->workers >= 1 && c->workers <= 64);
	FUZZ_CHECK(c->batch_max >= 1 && c->batch_max <= 65536);
	FUZZ_CHECK(c->map_size > 0);
	FUZZ_CHECK(c->map_max == 0 || c->map_max >= c->map_size);
	FUZZ_CHECK(c->n_agencies >= 1 && c->agencies != NULL);
	for (size_t i = 0; i < c->n_agencies; i++) {
		const struct agency *a = &c->agencies[i];
		FUZZ_CHECK(text_valid_id(a->id));
		FUZZ_CHECK(a->name[0] != '\0');
		FUZZ_CHECK(strcmp(config_kind_name(a->kind), "?") != 0);
		FUZZ_CHECK(config_find(c, a->id) == a);
		FUZZ_CHECK(config_find_transport(c, a->curve_pk) == a);
		FUZZ_CHECK(memcmp(a->curve_pk, c->broker_curve_pk, 32) != 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;
	struct keten_error err;
	int rc;

	write_input(data, size);
	error_clear(&err);
	if ((rc = config_load(&c, path, &err)) != KETEN_OK) {
		fuzz_check_refusal(rc, &err);
		FUZZ_CHECK(c == NULL);
		return 0;
	}
	FUZZ_CHECK(c != NULL);
	check(c);
	config_destroy(&c);
	FUZZ_CHECK(c == NULL);
	return 0;
}
