/*
 * keys: key files round-trip, are created mode 0600 and never overwritten,
 * and a file that is unsafe (readable by others), damaged or not a file is
 * refused with KETEN_E_KEYFILE and a sentence saying what to do.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../check.h"
#include "keys.h"

static char dir[512]; /* short, so paths built from it fit */
static struct keten_error err;

static void
path_of(char out[PATH_MAX], const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

/* Reads a whole small file into buf; returns its length or -1. */
static long
slurp(const char *path, uint8_t *buf, size_t max)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, max, f);
	fclose(f);
	return (long)n;
}

/* Writes bytes to a new file of the given mode (umask aside: chmod). */
static void
spit(const char *path, const uint8_t *buf, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, buf, n) != (ssize_t)n ||
	    fchmod(fd, mode) != 0) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static int
load(struct keys **k, const char *path)
{
	*k = NULL;
	memset(&err, 0, sizeof(err));
	return keys_load(k, path, &err);
}

static void
test_roundtrip(void)
{
	char path[PATH_MAX];
	struct keys *k = NULL, *l = NULL;
	struct stat st;
	uint8_t file[512];
	long n;

	CHECK_INT(keys_generate(&k, "lt-almere", &err), KETEN_OK);
	if (k == NULL)
		return;
	CHECK(strcmp(k->id, "lt-almere") == 0);
	/* Three distinct key pairs, the signing pair consistent. */
	CHECK(memcmp(k->box_pk, k->curve_pk, 32) != 0);
	CHECK(memcmp(k->sign_sk + 32, k->sign_pk, 32) == 0);
	{
		uint8_t pk[32];

		CHECK_INT(crypto_scalarmult_base(pk, k->box_sk), 0);
		CHECK(memcmp(pk, k->box_pk, 32) == 0);
		CHECK_INT(crypto_scalarmult_base(pk, k->curve_sk), 0);
		CHECK(memcmp(pk, k->curve_pk, 32) == 0);
	}

	path_of(path, "lt-almere.key");
	CHECK_INT(keys_set_identity(k, KETEN_KIND_LOCAL_TEAM,
	                            "Lokaal team Almere", &err),
	          KETEN_OK);
	CHECK_INT(keys_save(k, path, &err), KETEN_OK);
	CHECK_INT(stat(path, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_INT(st.st_mode & 0777, 0600);
	/* The layout (version 2): magic, version, id length, id, kind,
	 * name length, name, three secret keys. */
	n = slurp(path, file, sizeof(file));
	CHECK_INT(n, 8 + 1 + 1 + 9 + 1 + 1 + 18 + 64 + 32 + 32);
	CHECK(memcmp(file, "KETENKEY", 8) == 0);
	CHECK_INT(file[8], 2);
	CHECK_INT(file[9], 9);
	CHECK(memcmp(file + 10, "lt-almere", 9) == 0);
	CHECK_INT(file[19], KETEN_KIND_LOCAL_TEAM);
	CHECK_INT(file[20], 18);
	CHECK(memcmp(file + 21, "Lokaal team Almere", 18) == 0);
	CHECK(memcmp(file + 39, k->sign_sk, 64) == 0);

	CHECK_INT(load(&l, path), KETEN_OK);
	CHECK(l != NULL);
	if (l != NULL) {
		CHECK(strcmp(l->id, "lt-almere") == 0);
		CHECK(memcmp(l->sign_pk, k->sign_pk, 32) == 0);
		CHECK(memcmp(l->box_pk, k->box_pk, 32) == 0);
		CHECK(memcmp(l->curve_pk, k->curve_pk, 32) == 0);
		CHECK(sodium_memcmp(l->sign_sk, k->sign_sk, 64) == 0);
		CHECK(sodium_memcmp(l->box_sk, k->box_sk, 32) == 0);
		CHECK(sodium_memcmp(l->curve_sk, k->curve_sk, 32) == 0);
		CHECK_INT(l->kind, KETEN_KIND_LOCAL_TEAM);
		CHECK(strcmp(l->name, "Lokaal team Almere") == 0);
		CHECK_INT(l->version, 2);
	}
	CHECK_INT(err.code, KETEN_OK); /* success clears err */
	keys_destroy(&l);
	CHECK(l == NULL);
	keys_destroy(&l); /* NULL is a no-op */
	keys_destroy(NULL);

	/* keys_save never overwrites, and leaves the old file intact. */
	{
		struct keys *other = NULL;
		uint8_t after[512];

		CHECK_INT(keys_generate(&other, "lt-almere", &err), KETEN_OK);
		memset(&err, 0, sizeof(err));
		CHECK_INT(keys_save(other, path, &err), KETEN_E_USAGE);
		CHECK_INT(err.code, KETEN_E_USAGE);
		CHECK_STR_HAS(err.message, path);
		CHECK_STR_HAS(err.message, "already exists; a key file is "
		                           "never overwritten");
		CHECK_INT(slurp(path, after, sizeof(after)), n);
		CHECK(memcmp(after, file, (size_t)n) == 0);
		keys_destroy(&other);
	}
	/* A directory that does not exist. */
	path_of(path, "no/such/dir.key");
	CHECK_INT(keys_save(k, path, &err), KETEN_E_IO);

	/* The longest id round-trips too. */
	{
		char id[64];
		struct keys *m = NULL;

		memset(id, 'z', 63);
		id[63] = '\0';
		keys_destroy(&k);
		CHECK_INT(keys_generate(&k, id, &err), KETEN_OK);
		path_of(path, "long.key");
		CHECK_INT(keys_save(k, path, &err), KETEN_OK);
		CHECK_INT(load(&m, path), KETEN_OK);
		CHECK(m != NULL && strcmp(m->id, id) == 0);
		keys_destroy(&m);
	}
	keys_destroy(&k);
}

static void
test_refusals(void)
{
	char path[PATH_MAX], good[PATH_MAX];
	struct keys *k = NULL;
	uint8_t file[512], copy[512];
	long n;

	CHECK_INT(keys_generate(&k, "vt-flevoland", &err), KETEN_OK);
	path_of(good, "vt.key");
	CHECK_INT(keys_save(k, good, &err), KETEN_OK);
	keys_destroy(&k);
	n = slurp(good, file, sizeof(file));
	CHECK_INT(n, 10 + 12 + 2 + 128); /* no kind, no name */

	/* Readable by group or others. */
	CHECK_INT(chmod(good, 0644), 0);
	CHECK_INT(load(&k, good), KETEN_E_KEYFILE);
	CHECK(k == NULL);
	CHECK_INT(err.code, KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "chmod 600");
	CHECK_STR_HAS(err.message, good);
	CHECK_STR_HAS(err.message, "644");
	CHECK_INT(chmod(good, 0640), 0);
	CHECK_INT(load(&k, good), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "chmod 600");
	CHECK_INT(chmod(good, 0604), 0);
	CHECK_INT(load(&k, good), KETEN_E_KEYFILE);
	CHECK_INT(chmod(good, 0602), 0);
	CHECK_INT(load(&k, good), KETEN_E_KEYFILE);
	/* Narrower than 0600 is fine. */
	CHECK_INT(chmod(good, 0400), 0);
	CHECK_INT(load(&k, good), KETEN_OK);
	keys_destroy(&k);
	CHECK_INT(chmod(good, 0600), 0);
	CHECK_INT(load(&k, good), KETEN_OK);
	keys_destroy(&k);

	/* Truncated at every length, and one byte too long. */
	{
		int accepted = 0, wrong_code = 0;

		for (long i = 0; i < n; i++) {
			path_of(path, "trunc.key");
			unlink(path);
			spit(path, file, (size_t)i, 0600);
			if (load(&k, path) == KETEN_OK) {
				accepted++;
				keys_destroy(&k);
			} else if (err.code != KETEN_E_KEYFILE) {
				wrong_code++;
			}
		}
		CHECK_INT(accepted, 0);
		CHECK_INT(wrong_code, 0);
		memcpy(copy, file, (size_t)n);
		copy[n] = 0;
		unlink(path);
		spit(path, copy, (size_t)n + 1, 0600);
		CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
		CHECK_STR_HAS(err.message, "not a keten key file");
		unlink(path);
	}

	/* Bad magic, bad version, a length byte that disagrees. */
	memcpy(copy, file, (size_t)n);
	copy[0] = 'X';
	path_of(path, "magic.key");
	spit(path, copy, (size_t)n, 0600);
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, path);
	CHECK(k == NULL);
	memcpy(copy, file, (size_t)n);
	copy[8] = 3;
	path_of(path, "version.key");
	spit(path, copy, (size_t)n, 0600);
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "format version 3");
	copy[8] = 0;
	spit(path, copy, (size_t)n, 0600);
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	memcpy(copy, file, (size_t)n);
	copy[9] = 11;
	path_of(path, "idlen.key");
	spit(path, copy, (size_t)n, 0600);
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	memcpy(copy, file, (size_t)n);
	copy[9] = 0;
	path_of(path, "idlen0.key");
	spit(path, copy, (size_t)n, 0600);
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);

	/*
	 * The Ed25519 secret key is seed || public key: a file whose halves
	 * disagree (either one damaged) must be refused, since signing with
	 * a wrong public half makes bad signatures and can leak the seed.
	 */
	memcpy(copy, file, (size_t)n);
	copy[10 + 12 + 2 + 63] ^= 1; /* last byte of the public half */
	path_of(path, "halves.key");
	spit(path, copy, (size_t)n, 0600);
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "damaged");
	CHECK(k == NULL);
	keys_destroy(&k);
	memcpy(copy, file, (size_t)n);
	copy[10 + 12 + 2 + 0] ^= 1; /* first byte of the seed */
	path_of(path, "halves2.key");
	spit(path, copy, (size_t)n, 0600);
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	CHECK(k == NULL);
	keys_destroy(&k);

	/* An invalid id inside the file. */
	memcpy(copy, file, (size_t)n);
	copy[10] = 'V';
	path_of(path, "badid.key");
	spit(path, copy, (size_t)n, 0600);
	CHECK(load(&k, path) != KETEN_OK);
	CHECK(k == NULL);

	/* Not a regular file: a directory; and a missing file. */
	path_of(path, "adir.key");
	CHECK_INT(mkdir(path, 0700), 0);
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "is a directory, not a key file");
	CHECK(k == NULL);
	rmdir(path);
	/* A FIFO: refused at once, not waited on for a writer. */
	path_of(path, "fifo.key");
	CHECK_INT(mkfifo(path, 0600), 0);
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "is a FIFO, not a regular file");
	CHECK(k == NULL);
	unlink(path);
	/* A region config given as a key: named so, not told to chmod. */
	path_of(path, "region.yaml");
	spit(path, (const uint8_t *)"# x\nregion: r\nlisten: tcp://x:1\n", 32,
	     0644);
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "looks like a YAML region config");
	CHECK(strstr(err.message, "chmod") == NULL);
	unlink(path);
	/* A directory others may write: they could replace the key. */
	path_of(path, "open");
	CHECK_INT(mkdir(path, 0700), 0);
	CHECK_INT(chmod(path, 0777), 0);
	{
		char in[PATH_MAX + 16];
		struct keys *g = NULL;

		snprintf(in, sizeof(in), "%s/k.key", path);
		CHECK_INT(keys_generate(&g, "lt-almere", &err), KETEN_OK);
		CHECK_INT(keys_save(g, in, &err), KETEN_OK);
		keys_destroy(&g);
		CHECK_INT(load(&k, in), KETEN_E_KEYFILE);
		CHECK_STR_HAS(err.message, "chmod go-w");
		CHECK_INT(chmod(path, 01777), 0); /* sticky, as /tmp */
		CHECK_INT(load(&k, in), KETEN_OK);
		keys_destroy(&k);
		unlink(in);
	}
	rmdir(path);
	path_of(path, "absent.key");
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, path);

	/* Invalid ids. */
	{
		const char *bad[] = {
		    "", "LT-almere", "-lt", "lt almere", "lt/../x",
		    /* 64 characters, one over the limit */
		    ("0123456789012345678901234567890123456789012345"
		     "678901234567890123")};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			k = NULL;
			memset(&err, 0, sizeof(err));
			CHECK_INT(keys_generate(&k, bad[i], &err),
			          KETEN_E_USAGE);
			CHECK(k == NULL);
			CHECK_STR_HAS(err.message, "invalid");
		}
	}
}

/* Removes the files the test wrote, then dir. */
static void
cleanup(void)
{
	char path[PATH_MAX];
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		path_of(path, de->d_name);
		if (unlink(path) != 0)
			perror(path);
	}
	closedir(d);
	if (rmdir(dir) != 0)
		perror(dir);
}

/* Writes file (n bytes, one byte changed at `at` to `to` if at >= 0) to
 * a new witness key file and loads it; the result code. */
static int
witness_variant(const uint8_t *file, long n, long at, uint8_t to)
{
	char path[PATH_MAX];
	uint8_t copy[512];
	struct witness_keys *w = NULL;
	int rc;

	memcpy(copy, file, (size_t)n);
	if (at >= 0)
		copy[at] = to;
	path_of(path, "wvar.key");
	unlink(path);
	spit(path, copy, (size_t)n, 0600);
	memset(&err, 0, sizeof(err));
	rc = keys_witness_load(&w, path, &err);
	CHECK(rc == KETEN_OK || w == NULL);
	keys_witness_destroy(&w);
	return rc;
}

static void
test_witness(void)
{
	const char *name = "lt-almere.example/witness";
	const long len = (long)strlen(name), sk = 10 + len;
	char path[PATH_MAX], agency[PATH_MAX];
	struct witness_keys *w = NULL, *back = NULL;
	struct keys *k = NULL;
	struct stat st;
	uint8_t file[512];
	long n;

	CHECK_INT(keys_witness_generate(&w, "lt almere", &err), KETEN_E_USAGE);
	CHECK_STR_HAS(err.message, "no space and no '+'");
	CHECK_INT(keys_witness_generate(&w, "lt+almere", &err), KETEN_E_USAGE);
	CHECK(w == NULL);
	CHECK_INT(keys_witness_generate(&w, name, &err), KETEN_OK);
	if (w == NULL)
		return;
	CHECK(memcmp(w->cosign_sk + 32, w->cosign_pk, 32) == 0);
	path_of(path, "w.key");
	CHECK_INT(keys_witness_save(w, path, &err), KETEN_OK);
	/* Mode 0600, never overwritten. */
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK(keys_witness_save(w, path, &err) != KETEN_OK);
	/* Magic, name length, name, cosigning key, transport key. */
	n = slurp(path, file, sizeof(file));
	CHECK_INT(n, sk + 64 + 32);
	CHECK(memcmp(file, "KETENWIT", 8) == 0);
	CHECK(memcmp(file + 10, name, (size_t)len) == 0);
	CHECK(memcmp(file + sk, w->cosign_sk, 64) == 0);
	CHECK(memcmp(file + sk + 64, w->curve_sk, 32) == 0);

	CHECK_INT(keys_witness_load(&back, path, &err), KETEN_OK);
	if (back != NULL) {
		CHECK(strcmp(back->name, name) == 0);
		CHECK(memcmp(back->cosign_pk, w->cosign_pk, 32) == 0);
		CHECK(memcmp(back->curve_pk, w->curve_pk, 32) == 0);
	}
	keys_witness_destroy(&back);
	keys_witness_destroy(&w);
	keys_witness_destroy(&w); /* a no-op now */

	/* Readable by others: refused as an agency's would be. */
	CHECK_INT(chmod(path, 0644), 0);
	CHECK_INT(keys_witness_load(&back, path, &err), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "chmod 600");
	CHECK_INT(chmod(path, 0600), 0);

	/* Each kind of key file refused by the other's loader. */
	CHECK_INT(load(&k, path), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "is a witness's key file");
	CHECK_INT(keys_generate(&k, "lt-almere", &err), KETEN_OK);
	path_of(agency, "agency-for-witness.key");
	CHECK_INT(keys_save(k, agency, &err), KETEN_OK);
	keys_destroy(&k);
	CHECK_INT(keys_witness_load(&back, agency, &err), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "is not a keten witness key file");

	/* Size, magic, name and the cosigning key's public half. */
	CHECK_INT(witness_variant(file, n, -1, 0), KETEN_OK);
	CHECK_INT(witness_variant(file, n - 1, -1, 0), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "wrong size or header");
	file[n] = 0;
	CHECK_INT(witness_variant(file, n + 1, -1, 0), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "wrong size or header");
	CHECK_INT(witness_variant(file, n, 3, 'X'), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "wrong size or header");
	CHECK_INT(witness_variant(file, n, 12, ' '), KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "its name is invalid");
	CHECK_INT(witness_variant(file, n, sk + 40, file[sk + 40] ^ 1),
	          KETEN_E_KEYFILE);
	CHECK_STR_HAS(err.message, "cosigning key halves disagree");
	/* The transport key's secret has no public half stored: any 32
	 * bytes are a key, so a flip there is not seen here (the broker's
	 * handshake refuses it). */
	CHECK_INT(witness_variant(file, n, sk + 70, file[sk + 70] ^ 1),
	          KETEN_OK);
}

/* Issue 16: version 2 records kind and name; version 1 still loads; a
 * damaged kind or name is refused; the successor keeps who it is. */
static void
test_identity(void)
{
	char path[PATH_MAX];
	struct keys *k = NULL, *l = NULL, *m = NULL;
	uint8_t file[512], v1[512];
	long n;
	size_t at;

	CHECK_INT(keys_generate(&k, "vt-flevoland", &err), KETEN_OK);
	CHECK_INT(keys_set_identity(k, KETEN_KIND_VEILIG_THUIS,
	                            "Veilig Thuis Flevoland \"VT\" — ✓", &err),
	          KETEN_OK);
	path_of(path, "vt2.key");
	CHECK_INT(keys_save(k, path, &err), KETEN_OK);
	n = slurp(path, file, sizeof(file));
	CHECK_INT(load(&l, path), KETEN_OK);
	CHECK(l != NULL && l->kind == KETEN_KIND_VEILIG_THUIS &&
	      strcmp(l->name, k->name) == 0 && l->version == 2);
	keys_destroy(&l);

	/* Version 1 (no kind, no name): the same keys still load. */
	at = 10 + 12;
	memcpy(v1, file, at);
	v1[8] = 1;
	memcpy(v1 + at, file + (size_t)n - 128, 128);
	path_of(path, "vt1.key");
	spit(path, v1, at + 128, 0600);
	CHECK_INT(load(&l, path), KETEN_OK);
	CHECK(l != NULL && l->kind == KETEN_KIND_NONE && l->name[0] == '\0' &&
	      l->version == 1 && memcmp(l->sign_pk, k->sign_pk, 32) == 0 &&
	      memcmp(l->curve_pk, k->curve_pk, 32) == 0);
	/* the successor of a version-1 file: same id, nothing recorded */
	if (l != NULL) {
		CHECK_INT(keys_successor(&m, l, &err), KETEN_OK);
		CHECK(m != NULL && strcmp(m->id, "vt-flevoland") == 0 &&
		      m->kind == KETEN_KIND_NONE &&
		      memcmp(m->sign_pk, l->sign_pk, 32) != 0);
		keys_destroy(&m);
	}
	keys_destroy(&l);
	/* a version-1 file one byte short or long is refused */
	spit(path, v1, at + 127, 0600);
	CHECK_INT(load(&l, path), KETEN_E_KEYFILE);
	v1[at + 128] = 0;
	spit(path, v1, at + 129, 0600);
	CHECK_INT(load(&l, path), KETEN_E_KEYFILE);

	/* The successor keeps id, kind and name, with fresh keys. */
	CHECK_INT(keys_successor(&m, k, &err), KETEN_OK);
	CHECK(m != NULL && strcmp(m->id, k->id) == 0 && m->kind == k->kind &&
	      strcmp(m->name, k->name) == 0 &&
	      memcmp(m->sign_pk, k->sign_pk, 32) != 0 &&
	      memcmp(m->box_pk, k->box_pk, 32) != 0 &&
	      memcmp(m->curve_pk, k->curve_pk, 32) != 0);
	keys_destroy(&m);

	/* Damaged version-2 files: every one refused, cleanly. */
	{
		const size_t kind_at = 10 + 12, len_at = kind_at + 1;
		const struct {
			size_t at;
			uint8_t value;
			const char *why;
		} bad[] = {
		    {kind_at, 6, "kind is unknown"},
		    {kind_at, 0xff, "kind is unknown"},
		    {kind_at, 0, "a kind without a name"},
		    {len_at, 0, "a kind without a name"},
		    {len_at, 200, "longer than 127 bytes"},
		    {len_at + 1, 0x01, "not UTF-8 text"},
		    {len_at + 1, 0xc0, "not UTF-8 text"},
		    {len_at + 1, '\n', "not UTF-8 text"},
		};
		uint8_t copy[512];

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			memcpy(copy, file, (size_t)n);
			copy[bad[i].at] = bad[i].value;
			path_of(path, "damaged2.key");
			spit(path, copy, (size_t)n, 0600);
			CHECK_INT(load(&l, path), KETEN_E_KEYFILE);
			CHECK(l == NULL);
			CHECK_STR_HAS(err.message, path);
			CHECK_STR_HAS(err.message, bad[i].why);
		}
		/* a name length that runs past the end */
		memcpy(copy, file, len_at + 1);
		copy[len_at] = 127;
		spit(path, copy, len_at + 1 + 20, 0600);
		CHECK_INT(load(&l, path), KETEN_E_KEYFILE);
		CHECK_STR_HAS(err.message, "wrong size");
		/* the broker's file with a kind */
		keys_destroy(&m);
		CHECK_INT(keys_generate(&m, "broker", &err), KETEN_OK);
		path_of(path, "broker2.key");
		CHECK_INT(keys_save(m, path, &err), KETEN_OK);
		keys_destroy(&m);
		n = slurp(path, copy, sizeof(copy));
		CHECK_INT(n, 10 + 6 + 2 + 128);
		CHECK_INT(load(&l, path), KETEN_OK);
		CHECK(l != NULL && l->kind == KETEN_KIND_NONE);
		keys_destroy(&l);
		memmove(copy + 18 + 3, copy + 18, 128);
		copy[16] = KETEN_KIND_GI;
		copy[17] = 3;
		memcpy(copy + 18, "GIx", 3);
		path_of(path, "broker-kind.key");
		spit(path, copy, (size_t)n + 3, 0600);
		CHECK_INT(load(&l, path), KETEN_E_KEYFILE);
		CHECK_STR_HAS(err.message, "broker's key file records");
	}

	/* keys_set_identity refuses what a file could not record. */
	{
		char long_name[200];

		memset(long_name, 'n', 128);
		long_name[128] = '\0';
		CHECK_INT(keys_set_identity(k, KETEN_KIND_NONE, "x", &err),
		          KETEN_E_USAGE);
		CHECK_INT(keys_set_identity(k, (enum keten_kind)6, "x", &err),
		          KETEN_E_USAGE);
		CHECK_INT(keys_set_identity(k, KETEN_KIND_GI, NULL, &err),
		          KETEN_E_USAGE);
		CHECK_INT(keys_set_identity(k, KETEN_KIND_GI, "", &err),
		          KETEN_E_USAGE);
		CHECK_INT(keys_set_identity(k, KETEN_KIND_GI, "a\tb", &err),
		          KETEN_E_USAGE);
		CHECK_INT(keys_set_identity(k, KETEN_KIND_GI, long_name, &err),
		          KETEN_E_USAGE);
		CHECK_STR_HAS(err.message, "display name");
		long_name[127] = '\0';
		CHECK_INT(keys_set_identity(k, KETEN_KIND_GI, long_name, &err),
		          KETEN_OK);
		CHECK_INT(k->kind, KETEN_KIND_GI);
		CHECK_INT(keys_set_identity(k, KETEN_KIND_NONE, NULL, &err),
		          KETEN_OK);
		CHECK(k->kind == KETEN_KIND_NONE && k->name[0] == '\0');
	}
	keys_destroy(&k);
	CHECK_INT(keys_generate(&k, "broker", &err), KETEN_OK);
	CHECK_INT(keys_set_identity(k, KETEN_KIND_AUDITOR, "B", &err),
	          KETEN_E_USAGE);
	keys_destroy(&k);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	if (sodium_init() < 0)
		return 1;
	/* Files are created 0600 whatever the umask (which only narrows). */
	umask(022);
	snprintf(dir, sizeof(dir), "%s/keten-keys-XXXXXX",
	         tmp && tmp[0] && strlen(tmp) < 400 ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		return 1;
	}
	test_roundtrip();
	test_refusals();
	test_witness();
	test_identity();
	cleanup();
	return check_done("test_keys");
}
