/*
 * Key files. Must never log, print or copy a secret key out of guarded
 * memory except into the 0600 file it is saved to.
 *
 * File layout (138 + id bytes): "KETENKEY" | version 1 | id length | id |
 * sign_sk (64) | box_sk (32) | curve_sk (32). Public halves are derived.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keys.h"
#include "text.h"

#define KEYS_MAGIC    "KETENKEY"
#define KEYS_VERSION  1
#define KEYS_FILE_MAX (8 + 2 + KETEN_ID_MAX + 64 + 32 + 32)

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

/* Derives the public halves; -1 if the stored Ed25519 secret key is not
 * what its own seed generates (a damaged file: its signatures would not
 * verify, and signing with a wrong public half can leak the secret). */
static int
keys_derive_public(struct keys *k)
{
	uint8_t seed[32], sk[64];
	int ok;

	crypto_sign_ed25519_sk_to_seed(seed, k->sign_sk);
	crypto_sign_seed_keypair(k->sign_pk, sk, seed);
	ok = sodium_memcmp(sk, k->sign_sk, 64) == 0;
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	crypto_scalarmult_base(k->box_pk, k->box_sk);
	crypto_scalarmult_base(k->curve_pk, k->curve_sk);
	return ok ? 0 : -1;
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

int
keys_save(const struct keys *k, const char *path, struct keten_error *err)
{
	uint8_t *buf;
	size_t idlen = strlen(k->id), n = 0;
	int fd, rc = KETEN_OK;

	if ((buf = sodium_malloc(KEYS_FILE_MAX)) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory for keys");
	memcpy(buf, KEYS_MAGIC, 8);
	n = 8;
	buf[n++] = KEYS_VERSION;
	buf[n++] = (uint8_t)idlen;
	memcpy(buf + n, k->id, idlen);
	n += idlen;
	memcpy(buf + n, k->sign_sk, 64);
	n += 64;
	memcpy(buf + n, k->box_sk, 32);
	n += 32;
	memcpy(buf + n, k->curve_sk, 32);
	n += 32;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = error_set(err, KETEN_E_IO, "cannot create key file %s: %s",
		               path, strerror(errno));
	} else {
		/* The umask cannot widen 0600, but a narrower one is fine. */
		if (write_all(fd, buf, n) != 0 || fsync(fd) != 0)
			rc = error_set(err, KETEN_E_IO,
			               "cannot write key file %s: %s", path,
			               strerror(errno));
		if (close(fd) != 0 && rc == KETEN_OK)
			rc = error_set(err, KETEN_E_IO,
			               "cannot write key file %s: %s", path,
			               strerror(errno));
		if (rc != KETEN_OK)
			unlink(path);
	}
	sodium_free(buf); /* sodium_free wipes before freeing */
	return rc;
}

int
keys_load(struct keys **out, const char *path, struct keten_error *err)
{
	struct stat st;
	uint8_t *buf;
	struct keys *k = NULL;
	ssize_t got;
	size_t n, idlen;
	char id[KETEN_ID_MAX + 1];
	int fd, rc;

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
	if ((buf = sodium_malloc(KEYS_FILE_MAX + 1)) == NULL) {
		close(fd);
		return error_set(err, KETEN_E_NOMEM, "out of memory for keys");
	}
	n = 0;
	while (n < KEYS_FILE_MAX + 1) {
		got = read(fd, buf + n, KEYS_FILE_MAX + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	rc = error_set(err, KETEN_E_KEYFILE,
	               "%s is not a keten key file (wrong size or header)",
	               path);
	if (n < 10 || memcmp(buf, KEYS_MAGIC, 8) != 0 || buf[8] != KEYS_VERSION)
		goto out;
	idlen = buf[9];
	if (idlen == 0 || idlen > KETEN_ID_MAX || n != 10 + idlen + 128)
		goto out;
	memcpy(id, buf + 10, idlen);
	id[idlen] = '\0';
	if (memchr(id, 0, idlen) != NULL || !text_valid_id(id)) {
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
