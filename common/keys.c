/*
 * Key files. Must never log, print or copy a secret key out of guarded
 * memory except into the 0600 file it is saved to.
 *
 * Layouts: PROTOCOL.md Appendix A (an agency's or the broker's: version 2
 * records kind and display name; version 1, without them, still loads)
 * and Appendix C (a witness's). Public halves are derived.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fileck.h"
#include "keys.h"
#include "text.h"

#define KEYS_MAGIC         "KETENKEY"
#define KEYS_VERSION       2 /* written; 1 (no kind, no name) still loads */
#define KEYS_SECRETS       (64 + 32 + 32)
#define KEYS_FILE_MAX      (10 + KETEN_ID_MAX + 2 + TEXT_NAME_MAX + KEYS_SECRETS)
#define KEYS_WITNESS_MAGIC "KETENWIT"
#define KEYS_WITNESS_VER   1
#define KEYS_WITNESS_MAX   (10 + TEXT_WITNESS_NAME_MAX + 64 + 32)
#define KEYS_READ_MAX      KEYS_FILE_MAX /* the larger of the two */

_Static_assert(KEYS_FILE_MAX >= KEYS_WITNESS_MAX, "KEYS_READ_MAX too small");
_Static_assert(TEXT_NAME_MAX <= 255, "a name's length is one byte");

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
	k->version = KEYS_VERSION;
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

int
keys_set_identity(struct keys *k, enum keten_kind kind, const char *name,
                  struct keten_error *err)
{
	int broker = strcmp(k->id, "broker") == 0;

	if (kind == KETEN_KIND_NONE && name == NULL) {
		k->kind = KETEN_KIND_NONE;
		k->name[0] = '\0';
		return KETEN_OK;
	}
	if (broker)
		return error_set(err, KETEN_E_USAGE,
		                 "the broker's keys have no kind or name");
	if (kind < KETEN_KIND_LOCAL_TEAM || kind > KETEN_KIND_AUDITOR)
		return error_set(
		    err, KETEN_E_USAGE,
		    "agency kind %d is unknown: use 1-5 (local_team, "
		    "veilig_thuis, gi, raad, auditor)",
		    (int)kind);
	if (name == NULL || !text_valid_name(name))
		return error_set(
		    err, KETEN_E_USAGE,
		    "display name '%.64s' is invalid: use 1-%d bytes "
		    "of UTF-8 text without control characters",
		    name ? name : "", TEXT_NAME_MAX);
	k->kind = kind;
	strcpy(k->name, name); /* length checked by text_valid_name */
	return KETEN_OK;
}

int
keys_successor(struct keys **out, const struct keys *old,
               struct keten_error *err)
{
	struct keys *k = NULL;
	int rc;

	if ((rc = keys_generate(&k, old->id, err)) != KETEN_OK)
		return rc;
	k->kind = old->kind;
	memcpy(k->name, old->name, sizeof(k->name));
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

bool
keys_is_key_file(const void *head, size_t n)
{
	return n >= 8 && (memcmp(head, KEYS_MAGIC, 8) == 0 ||
	                  memcmp(head, KEYS_WITNESS_MAGIC, 8) == 0);
}

/* Writes n bytes to a new file of mode 0600; never overwrites one. */
static int
key_file_write(const char *path, const uint8_t *buf, size_t n,
               struct keten_error *err)
{
	int fd, rc = KETEN_OK;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return error_set(
		    err, KETEN_E_USAGE,
		    "%s: already exists; a key file is never overwritten "
		    "(remove it first or choose another path)",
		    path);
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
key_file_head(uint8_t *buf, const char *magic, uint8_t version,
              const char *name)
{
	size_t len = strlen(name);

	memcpy(buf, magic, 8);
	buf[8] = version;
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
	n = key_file_head(buf, KEYS_MAGIC, KEYS_VERSION, k->id);
	buf[n++] = (uint8_t)k->kind;
	buf[n++] = (uint8_t)strlen(k->name);
	memcpy(buf + n, k->name, strlen(k->name));
	n += strlen(k->name);
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

/* Whether the first bytes of a file that is not a key file look like a
 * region config: text with one of its top-level keys at a line start. */
static int
key_file_looks_yaml(const uint8_t *p, size_t n)
{
	static const char *const words[] = {
	    "region:", "broker:", "agencies:", "listen:", "data_dir:"};

	if (memchr(p, 0, n) != NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && p[i - 1] != '\n')
			continue;
		for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
			if (n - i >= strlen(words[w]) &&
			    memcmp(p + i, words[w], strlen(words[w])) == 0)
				return 1;
	}
	return 0;
}

/*
 * What the open file fd is, before how it is kept: a config given where
 * a key belongs must be called a config, not told to chmod 600. Reads
 * the magic only; more only from a file that has no key magic, so no
 * secret is read outside guarded memory. KETEN_OK if it has either key
 * magic.
 */
static int
key_file_classify(int fd, const char *path, struct keten_error *err)
{
	uint8_t head[512];
	ssize_t got;
	size_t n = 0;
	int yaml;

	while (n < 8) {
		got = pread(fd, head + n, 8 - n, (off_t)n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	if (keys_is_key_file(head, n))
		return KETEN_OK;
	while (n < sizeof(head)) {
		got = pread(fd, head + n, sizeof(head) - n, (off_t)n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	yaml = key_file_looks_yaml(head, n);
	sodium_memzero(head, sizeof(head)); /* it may be another secret */
	if (yaml)
		return error_set(err, KETEN_E_KEYFILE,
		                 "%s: is not a keten key file (it looks like a "
		                 "YAML region config; did you mean -c?)",
		                 path);
	return error_set(err, KETEN_E_KEYFILE,
	                 "%s is not a keten key file (wrong size or header)",
	                 path);
}

/* Reads a key file of mode 0600 into guarded memory (*buf, KEYS_READ_MAX
 * + 1 bytes, sodium_free it); *n gets its length. Refuses at once what
 * is not a regular file (fileck_open), then what is not a key file, then
 * a mode or owner that lets others read or change it. */
static int
key_file_read(uint8_t **buf, size_t *n, const char *path,
              struct keten_error *err)
{
	struct stat st;
	ssize_t got;
	int fd, rc;

	if ((rc = fileck_open(&fd, &st, path, "key file", KETEN_E_KEYFILE,
	                      err)) != KETEN_OK)
		return rc;
	if ((rc = key_file_classify(fd, path, err)) != KETEN_OK) {
		close(fd);
		return rc;
	}
	if ((st.st_mode & 077) != 0) {
		close(fd);
		return error_set(
		    err, KETEN_E_KEYFILE,
		    "key file %s has mode %03o; it must not be readable by "
		    "group or others (chmod 600 %s)",
		    path, (unsigned)(st.st_mode & 0777), path);
	}
	if ((rc = fileck_strict(&st, path, "key file", KETEN_E_KEYFILE, err)) !=
	        KETEN_OK ||
	    (rc = fileck_parent(path, "key file", KETEN_E_KEYFILE, err)) !=
	        KETEN_OK) {
		close(fd);
		return rc;
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
 * and version and at least `rest` bytes after the name; its length, or 0. */
static size_t
key_file_name(char *name, size_t cap, const uint8_t *buf, size_t n,
              const char *magic, uint8_t version, size_t rest)
{
	size_t len;

	if (n < 10 || memcmp(buf, magic, 8) != 0 || buf[8] != version)
		return 0;
	len = buf[9];
	if (len == 0 || len >= cap || n < 10 + len + rest)
		return 0;
	memcpy(name, buf + 10, len);
	name[len] = '\0';
	return memchr(name, 0, len) == NULL ? len : 0;
}

/*
 * Reads kind and display name (version 2) into k from buf at *at, and
 * moves *at past them; a sentence for KETEN_E_KEYFILE if they are
 * damaged, or NULL. The caller checked that the secrets (128 bytes)
 * follow *at + 2, so a name of up to 127 bytes is inside the buffer; it
 * checks the exact size after.
 */
static const char *
key_file_identity(struct keys *k, const uint8_t *buf, size_t *at)
{
	size_t len;

	len = buf[*at + 1];
	if (buf[*at] > KETEN_KIND_AUDITOR)
		return "its agency kind is unknown";
	if (len > TEXT_NAME_MAX)
		return "its display name is longer than 127 bytes";
	k->kind = (enum keten_kind)buf[*at];
	memcpy(k->name, buf + *at + 2, len);
	k->name[len] = '\0';
	*at += 2 + len;
	if (len > 0 && !text_valid_name(k->name))
		return "its display name is not UTF-8 text without control "
		       "characters";
	if ((len > 0) != (k->kind != KETEN_KIND_NONE))
		return "it records a kind without a name, or a name without "
		       "a kind";
	if (k->kind != KETEN_KIND_NONE && strcmp(k->id, "broker") == 0)
		return "the broker's key file records an agency kind";
	return NULL;
}

int
keys_load(struct keys **out, const char *path, struct keten_error *err)
{
	uint8_t *buf = NULL;
	struct keys *k = NULL;
	size_t n, at, idlen;
	char id[KETEN_ID_MAX + 1];
	const char *damage = NULL;
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
	if (n >= 9 && memcmp(buf, KEYS_MAGIC, 8) == 0 && buf[8] > KEYS_VERSION)
		rc = error_set(err, KETEN_E_KEYFILE,
		               "key file %s has format version %u; this keten "
		               "reads versions 1 and 2: use a newer keten",
		               path, (unsigned)buf[8]);
	idlen =
	    key_file_name(id, sizeof(id), buf, n, KEYS_MAGIC, 1, KEYS_SECRETS);
	if (idlen == 0)
		idlen = key_file_name(id, sizeof(id), buf, n, KEYS_MAGIC,
		                      KEYS_VERSION, 2 + KEYS_SECRETS);
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
	k->version = buf[8];
	at = 10 + idlen;
	if (k->version >= 2)
		damage = key_file_identity(k, buf, &at);
	if (damage == NULL && n != at + KEYS_SECRETS) {
		rc = error_set(err, KETEN_E_KEYFILE,
		               "%s is not a keten key file (wrong size or "
		               "header)",
		               path);
		goto fail;
	}
	if (damage == NULL) {
		memcpy(k->sign_sk, buf + at, 64);
		memcpy(k->box_sk, buf + at + 64, 32);
		memcpy(k->curve_sk, buf + at + 96, 32);
		if (keys_derive_public(k) != 0)
			damage = "signing key halves disagree";
	}
	if (damage != NULL) {
		rc = error_set(err, KETEN_E_KEYFILE,
		               "key file %s is damaged: %s", path, damage);
		goto fail;
	}
	error_clear(err);
	*out = k;
	k = NULL;
	rc = KETEN_OK;
fail:
	keys_destroy(&k);
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
	n = key_file_head(buf, KEYS_WITNESS_MAGIC, KEYS_WITNESS_VER, k->name);
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
	len = key_file_name(name, sizeof(name), buf, n, KEYS_WITNESS_MAGIC,
	                    KEYS_WITNESS_VER, 96);
	if (len == 0 || n != 10 + len + 96) {
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
