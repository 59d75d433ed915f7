/*
 * Key files. Must never log, print or copy a secret key out of guarded
 * memory except into the 0600 file it is saved to.
 *
 * File layout (138 + id bytes): "KETENKEY" | version 1 | id length | id |
 * sign_sk (64) | box_sk (32) | curve_sk (32). A witness's (106 + name
 * bytes): "KETENWIT" | version 1 | name length | name | cosign_sk (64) |
 * curve_sk (32). Public halves are derived.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keys.h"
#include "text.h"

#define KEYS_MAGIC         "KETENKEY"
#define KEYS_VERSION       1
#define KEYS_FILE_MAX      (8 + 2 + KETEN_ID_MAX + 64 + 32 + 32)
#define KEYS_WITNESS_MAGIC "KETENWIT"
#define KEYS_WITNESS_MAX   (8 + 2 + TEXT_WITNESS_NAME_MAX + 64 + 32)
#define KEYS_READ_MAX      KEYS_WITNESS_MAX /* the larger of the two */

static int
keys_alloc(struct keys **out, const char *id, struct keten_error *err)
{
	struct keys *k;

	if (!text_valid_id(id))
		return error_set(err, KETEN_E_USAGE,
		                 "agency id '%.64s' is invalid: use 1-63 of "
		                 "a-z, 0-9 and '-'",
		                 id);
	if ((k = sodium_malloc(sizeof(*k))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory for keys");
	memset(k, 0, sizeof(*k));
	strcpy(k->id, id); /* length checked by text_valid_id */
	*out = k;
	return KETEN_OK;
}

static int keys_ed25519_public(uint8_t pk[32], const uint8_t sk[64]);

/* Derives the public halves; -1 if the stored Ed25519 secret key is not
 * what its own seed generates (a damaged file: its signatures would not
 * verify, and signing with a wrong public half can leak the secret). */
static int
keys_derive_public(struct keys *k)
{
	crypto_scalarmult_base(k->box_pk, k->box_sk);
	crypto_scalarmult_base(k->curve_pk, k->curve_sk);
	return keys_ed25519_public(k->sign_pk, k->sign_sk);
}

int
keys_generate(struct keys **out, const char *id, struct keten_error *err)
{
	struct keys *k = NULL;
	int rc;

	if ((rc = keys_alloc(&k, id, err)) != KETEN_OK)
		return rc;
	crypto_sign_keypair(k->sign_pk, k->sign_sk);
	crypto_box_keypair(k->box_pk, k->box_sk);
	crypto_box_keypair(k->curve_pk, k->curve_sk);
	*out = k;
	return KETEN_OK;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes n bytes to a new file of mode 0600; never overwrites one. */
static int
key_file_write(const char *path, const uint8_t *buf, size_t n,
               struct keten_error *err)
{
	int fd, rc = KETEN_OK;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, KETEN_E_IO,
		                 "cannot create key file %s: %s", path,
		                 strerror(errno));
	/* The umask cannot widen 0600, but a narrower one is fine. */
	if (write_all(fd, buf, n) != 0 || fsync(fd) != 0)
		rc = error_set(err, KETEN_E_IO, "cannot write key file %s: %s",
		               path, strerror(errno));
	if (close(fd) != 0 && rc == KETEN_OK)
		rc = error_set(err, KETEN_E_IO, "cannot write key file %s: %s",
		               path, strerror(errno));
	if (rc != KETEN_OK)
		unlink(path);
	return rc;
}

/* The head of a key file: magic, version, a counted name; returns the
 * offset after it. */
static size_t
key_file_head(uint8_t *buf, const char *magic, const char *name)
{
	size_t len = strlen(name);

	memcpy(buf, magic, 8);
	buf[8] = KEYS_VERSION;
	buf[9] = (uint8_t)len;
	memcpy(buf + 10, name, len);
	return 10 + len;
}

int
keys_save(const struct keys *k, const char *path, struct keten_error *err)
{
	uint8_t *buf;
	size_t n;
	int rc;

	if ((buf = sodium_malloc(KEYS_FILE_MAX)) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory for keys");
	n = key_file_head(buf, KEYS_MAGIC, k->id);
	memcpy(buf + n, k->sign_sk, 64);
	n += 64;
	memcpy(buf + n, k->box_sk, 32);
	n += 32;
	memcpy(buf + n, k->curve_sk, 32);
	n += 32;
	rc = key_file_write(path, buf, n, err);
	sodium_free(buf); /* sodium_free wipes before freeing */
	return rc;
}

/* Reads a key file of mode 0600 into guarded memory (*buf, KEYS_READ_MAX
 * + 1 bytes, sodium_free it); *n gets its length. */
static int
key_file_read(uint8_t **buf, size_t *n, const char *path,
              struct keten_error *err)
{
	struct stat st;
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, KETEN_E_KEYFILE,
		                 "cannot open key file %s: %s", path,
		                 strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(err, KETEN_E_KEYFILE,
		                 "key file %s is not a regular file", path);
	}
	if ((st.st_mode & 077) != 0) {
		close(fd);
		return error_set(
		    err, KETEN_E_KEYFILE,
		    "key file %s has mode %03o; it must not be readable by "
		    "group or others (chmod 600 %s)",
		    path, (unsigned)(st.st_mode & 0777), path);
	}
	if ((*buf = sodium_malloc(KEYS_READ_MAX + 1)) == NULL) {
		close(fd);
		return error_set(err, KETEN_E_NOMEM, "out of memory for keys");
	}
	*n = 0;
	while (*n < KEYS_READ_MAX + 1) {
		got = read(fd, *buf + *n, KEYS_READ_MAX + 1 - *n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		*n += (size_t)got;
	}
	close(fd);
	return KETEN_OK;
}

/* The counted name after magic and version, if the file has this magic
 * and exactly `rest` bytes after the name; its length, or 0. */
static size_t
key_file_name(char *name, size_t cap, const uint8_t *buf, size_t n,
              const char *magic, size_t rest)
{
	size_t len;

	if (n < 10 || memcmp(buf, magic, 8) != 0 || buf[8] != KEYS_VERSION)
		return 0;
	len = buf[9];
	if (len == 0 || len >= cap || n != 10 + len + rest)
		return 0;
	memcpy(name, buf + 10, len);
	name[len] = '\0';
	return memchr(name, 0, len) == NULL ? len : 0;
}

int
keys_load(struct keys **out, const char *path, struct keten_error *err)
{
	uint8_t *buf = NULL;
	struct keys *k = NULL;
	size_t n, idlen;
	char id[KETEN_ID_MAX + 1];
	int rc;

	if ((rc = key_file_read(&buf, &n, path, err)) != KETEN_OK)
		return rc;
	rc = error_set(err, KETEN_E_KEYFILE,
	               "%s is not a keten key file (wrong size or header)",
	               path);
	if (n >= 8 && memcmp(buf, KEYS_WITNESS_MAGIC, 8) == 0)
		rc = error_set(err, KETEN_E_KEYFILE,
		               "%s is a witness's key file; it is used by "
		               "'keten witness', not by an agency",
		               path);
	idlen = key_file_name(id, sizeof(id), buf, n, KEYS_MAGIC, 128);
	if (idlen == 0)
		goto out;
	if (!text_valid_id(id)) {
		rc = error_set(
		    err, KETEN_E_KEYFILE,
		    "key file %s is damaged: its agency id is invalid", path);
		goto out;
	}
	if ((rc = keys_alloc(&k, id, err)) != KETEN_OK)
		goto out;
	memcpy(k->sign_sk, buf + 10 + idlen, 64);
	memcpy(k->box_sk, buf + 10 + idlen + 64, 32);
	memcpy(k->curve_sk, buf + 10 + idlen + 96, 32);
	if (keys_derive_public(k) != 0) {
		keys_destroy(&k);
		rc = error_set(
		    err, KETEN_E_KEYFILE,
		    "key file %s is damaged: signing key halves disagree",
		    path);
		goto out;
	}
	error_clear(err);
	rc = KETEN_OK;
	*out = k;
out:
	sodium_free(buf);
	return rc;
}

void
keys_destroy(struct keys **k)
{
	if (k == NULL || *k == NULL)
		return;
	sodium_free(*k); /* wipes the secret halves */
	*k = NULL;
}

/* 0 if sk is what its own seed generates (pk gets the public half). */
static int
keys_ed25519_public(uint8_t pk[32], const uint8_t sk[64])
{
	uint8_t seed[32], again[64];
	int ok;

	crypto_sign_ed25519_sk_to_seed(seed, sk);
	crypto_sign_seed_keypair(pk, again, seed);
	ok = sodium_memcmp(again, sk, 64) == 0;
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(again, sizeof(again));
	return ok ? 0 : -1;
}

static int
witness_alloc(struct witness_keys **out, const char *name,
              struct keten_error *err)
{
	struct witness_keys *k;

	if (!text_valid_witness_name(name))
		return error_set(err, KETEN_E_USAGE,
		                 "witness name '%.64s' is invalid: use 1-%d "
		                 "printable ASCII characters, no space and no "
		                 "'+'",
		                 name, TEXT_WITNESS_NAME_MAX);
	if ((k = sodium_malloc(sizeof(*k))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory for keys");
	memset(k, 0, sizeof(*k));
	strcpy(k->name, name); /* length checked above */
	*out = k;
	return KETEN_OK;
}

int
keys_witness_generate(struct witness_keys **out, const char *name,
                      struct keten_error *err)
{
	struct witness_keys *k = NULL;
	int rc;

	if ((rc = witness_alloc(&k, name, err)) != KETEN_OK)
		return rc;
	crypto_sign_keypair(k->cosign_pk, k->cosign_sk);
	crypto_box_keypair(k->curve_pk, k->curve_sk);
	*out = k;
	return KETEN_OK;
}

int
keys_witness_save(const struct witness_keys *k, const char *path,
                  struct keten_error *err)
{
	uint8_t *buf;
	size_t n;
	int rc;

	if ((buf = sodium_malloc(KEYS_WITNESS_MAX)) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory for keys");
	n = key_file_head(buf, KEYS_WITNESS_MAGIC, k->name);
	memcpy(buf + n, k->cosign_sk, 64);
	memcpy(buf + n + 64, k->curve_sk, 32);
	rc = key_file_write(path, buf, n + 96, err);
	sodium_free(buf);
	return rc;
}

int
keys_witness_load(struct witness_keys **out, const char *path,
                  struct keten_error *err)
{
	uint8_t *buf = NULL;
	struct witness_keys *k = NULL;
	char name[TEXT_WITNESS_NAME_MAX + 1];
	size_t n, len;
	int rc;

	if ((rc = key_file_read(&buf, &n, path, err)) != KETEN_OK)
		return rc;
	len = key_file_name(name, sizeof(name), buf, n, KEYS_WITNESS_MAGIC, 96);
	if (len == 0) {
		rc = error_set(err, KETEN_E_KEYFILE,
		               "%s is not a keten witness key file (wrong "
		               "size or header; make one with 'keten keygen "
		               "--witness')",
		               path);
		goto out;
	}
	if ((rc = witness_alloc(&k, name, err)) != KETEN_OK) {
		rc = error_set(err, KETEN_E_KEYFILE,
		               "witness key file %s is damaged: its name is "
		               "invalid",
		               path);
		goto out;
	}
	memcpy(k->cosign_sk, buf + 10 + len, 64);
	memcpy(k->curve_sk, buf + 10 + len + 64, 32);
	crypto_scalarmult_base(k->curve_pk, k->curve_sk);
	if (keys_ed25519_public(k->cosign_pk, k->cosign_sk) != 0) {
		keys_witness_destroy(&k);
		rc = error_set(err, KETEN_E_KEYFILE,
		               "witness key file %s is damaged: cosigning key "
		               "halves disagree",
		               path);
		goto out;
	}
	*out = k;
out:
	sodium_free(buf);
	return rc;
}

void
keys_witness_destroy(struct witness_keys **k)
{
	if (k == NULL || *k == NULL)
		return;
	sodium_free(*k);
	*k = NULL;
}
