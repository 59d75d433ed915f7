/*
 * libketen's witness (docs/PROTOCOL.md 10.5): key files, and one round of
 * ping, verify, persist, cosign. Must never cosign a checkpoint before its
 * state file is durably on disk, nor one that does not extend that state.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"
#include "merkle.h"
#include "note.h"
#include "text.h"

#define STATE_SUFFIX ".checkpoint"

static void
fill_witness_public(struct keten_public_keys *pub, const struct witness_keys *k)
{
	text_key_to_b64(pub->sign_key, k->cosign_pk);
	pub->box_key[0] = '\0';
	text_key_to_b64(pub->transport_key, k->curve_pk);
}

int
keten_keygen_witness(struct keten_public_keys *pub, const char *key_path,
                     const char *name, struct keten_error *err)
{
	struct witness_keys *k;
	int rc;

	error_clear(err);
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = keys_witness_generate(&k, name, err)) != KETEN_OK)
		return rc;
	if ((rc = keys_witness_save(k, key_path, err)) == KETEN_OK)
		fill_witness_public(pub, k);
	keys_witness_destroy(&k);
	return rc;
}

int
keten_witness_key_public(struct keten_public_keys *pub,
                         char name[KETEN_WITNESS_NAME_MAX + 1],
                         const char *key_path, struct keten_error *err)
{
	struct witness_keys *k;
	int rc;

	error_clear(err);
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = keys_witness_load(&k, key_path, err)) != KETEN_OK)
		return rc;
	fill_witness_public(pub, k);
	if (name)
		strcpy(name, k->name);
	keys_witness_destroy(&k);
	return KETEN_OK;
}

/* "2026-12-04 23:41:29 UTC" for a time line's µs. */
static void
utc_words(char *out, size_t n, int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, n, "%lld us", (long long)us);
}

/* The checkpoint in the state file, signed by the broker; size 0 if
 * there is no file yet. */
static int
state_load(struct keten_checkpoint *s, const char *path,
           const struct note_key *bk, const struct config *cfg,
           struct keten_error *err)
{
	char buf[NOTE_MAX + 1];
	size_t n;
	FILE *f;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((f = fopen(path, "rb")) == NULL) {
		if (errno == ENOENT)
			return KETEN_OK;
		return error_set(err, KETEN_E_IO, "cannot read %s: %s", path,
		                 strerror(errno));
	}
	n = fread(buf, 1, sizeof(buf), f);
	rc = ferror(f);
	fclose(f);
	if (rc || n > NOTE_MAX)
		return error_set(err, KETEN_E_IO,
		                 "cannot read %s: not a checkpoint note of at "
		                 "most %d bytes",
		                 path, NOTE_MAX);
	if (note_checkpoint_parse(s, buf, n, bk, err) != KETEN_OK)
		return error_set(err, KETEN_E_IO,
		                 "%s is not a checkpoint of region %s: %s",
		                 path, cfg->region, err->message);
	if (note_checkpoint_verify(s, bk) != 0)
		return error_set(err, KETEN_E_IO,
		                 "the checkpoint in %s is not signed by the "
		                 "broker key in %s",
		                 path, cfg->path);
	return KETEN_OK;
}

/* Writes len bytes to path atomically: a temporary file beside it,
 * fsync, rename, fsync of the directory. Mode 0600. */
static int
state_save(const char *path, const char *text, size_t len,
           struct keten_error *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, dfd, rc = KETEN_OK;
	size_t off = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return error_set(err, KETEN_E_IO, "state path too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, KETEN_E_IO, "cannot create %s: %s", tmp,
		                 strerror(errno));
	while (off < len && rc == KETEN_OK) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = KETEN_E_IO;
		else
			off += (size_t)w;
	}
	if (rc != KETEN_OK || fsync(fd) != 0) {
		rc = error_set(err, KETEN_E_IO, "cannot write %s: %s", tmp,
		               strerror(errno));
		close(fd);
		unlink(tmp);
		return rc;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		rc = error_set(err, KETEN_E_IO, "cannot replace %s: %s", path,
		               strerror(errno));
		unlink(tmp);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
	        0 ||
	    fsync(dfd) != 0)
		rc = error_set(err, KETEN_E_IO,
		               "cannot make %s durable (fsync of its "
		               "directory): %s",
		               path, strerror(errno));
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* KETEN_OK if cp extends the stored s by the ping's proof; else the
 * fork sentence. */
static int
check_extends(const struct keten_checkpoint *s,
              const struct keten_checkpoint *cp, const struct reply *r,
              struct keten_error *err)
{
	char when[64];
	bool ok;

	if (s->size == 0)
		return KETEN_OK;
	if (cp->size < s->size)
		ok = false;
	else if (cp->size == s->size)
		ok = sodium_memcmp(cp->root, s->root, KETEN_HASH_LEN) == 0;
	else
		ok = merkle_consistency_verify(
		         s->size, cp->size, s->root, cp->root,
		         (const uint8_t(*)[32])r->ping.consistency,
		         r->ping.n_consistency) == 0;
	if (ok)
		return KETEN_OK;
	utc_words(when, sizeof(when), s->signed_at_us);
	return error_set(err, KETEN_E_FORKED,
	                 "the broker's log is not an extension of the one it "
	                 "showed on %s (size %llu); report this to your "
	                 "auditor",
	                 when, (unsigned long long)s->size);
}

/* Pings with the stored size; the reply's checkpoint, verified. */
static int
fetch_checkpoint(struct keten_checkpoint *cp, struct reply *r,
                 struct keten_client *c, uint64_t known_size,
                 struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_PING, .known_size = known_size};
	int rc;

	if ((rc = client_call(c, r, &req, err)) != KETEN_OK)
		return rc;
	if (r->kind != WIRE_REP_PING || !r->ping.has_cp)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the broker answered a witness's ping without "
		                 "a checkpoint");
	*cp = r->ping.cp;
	return client_checkpoint(c, cp, err);
}

/* Signs cp's note text and sends the note with that cosignature line. */
static int
send_cosig(uint64_t *stored, struct keten_client *c,
           const struct witness_keys *k, const struct note_key *bk,
           const struct keten_checkpoint *cp, const char *note, size_t len,
           struct keten_error *err)
{
	char buf[NOTE_CHECKPOINT_MAX + NOTE_NAME_MAX + 128];
	size_t body = note_checkpoint_body(buf, sizeof(buf), bk->name, cp);
	struct note_key wk;
	struct note_cosig cs;
	struct request req = {.kind = WIRE_REQ_COSIGN};
	struct reply r;
	size_t line;
	int rc;

	if (body == 0 ||
	    note_key_init(&wk, k->name, NOTE_COSIG_V1, k->cosign_pk) != 0)
		return error_set(err, KETEN_E_INTERNAL,
		                 "cannot build the note");
	note_cosig_sign(&cs, (uint64_t)(clock_now_us() / 1000000), buf, body,
	                k->cosign_sk);
	memcpy(buf, note, len);
	if ((line = note_cosig_line(buf + len, sizeof(buf) - len, &wk, &cs)) ==
	    0)
		return error_set(err, KETEN_E_INTERNAL,
		                 "cannot build the note");
	req.note = buf;
	req.note_len = len + line;
	if ((rc = client_call(c, &r, &req, err)) != KETEN_OK)
		return rc;
	if (r.kind != WIRE_REP_COSIGN)
		rc = error_set(err, KETEN_E_MALFORMED,
		               "the broker answered a cosignature with "
		               "something else");
	else
		*stored = r.cosign_size;
	wire_reply_clear(&r);
	return rc;
}

/* The round, once the keys are loaded and the witness is known. */
static int
round_run(struct keten_witness_round *out, struct keten_client *c,
          const struct witness_keys *k, const char *state,
          struct keten_error *err)
{
	struct note_key bk;
	struct keten_checkpoint s, cp;
	struct reply r;
	char note[NOTE_CHECKPOINT_MAX];
	size_t len;
	int rc;

	if (note_broker_key(&bk, c->cfg->region, c->cfg->broker_sign_pk) != 0)
		return error_set(err, KETEN_E_CONFIG, "bad region name");
	if ((rc = state_load(&s, state, &bk, c->cfg, err)) != KETEN_OK)
		return rc;
	out->previous = s.size;
	rc = fetch_checkpoint(&cp, &r, c, s.size, err);
	if (rc == KETEN_OK)
		rc = check_extends(&s, &cp, &r, err);
	wire_reply_clear(&r);
	if (rc != KETEN_OK)
		return rc;
	out->size = cp.size;
	out->signed_at_us = cp.signed_at_us;
	if ((len = note_checkpoint_format(note, sizeof(note), &bk, &cp)) == 0)
		return error_set(err, KETEN_E_INTERNAL,
		                 "cannot build the note");
	/* Durable before it is signed: a witness that crashes after
	 * cosigning still holds what it vouched for. */
	if ((rc = state_save(state, note, len, err)) != KETEN_OK)
		return rc;
	return send_cosig(&out->stored, c, k, &bk, &cp, note, len, err);
}

int
keten_witness_cosign(struct keten_witness_round *out, const char *config_path,
                     const char *key_path, const char *state_path,
                     struct keten_error *err)
{
	struct witness_keys *k = NULL;
	struct keten_client *c = NULL;
	const struct witness *w;
	char state[PATH_MAX];
	int rc;

	error_clear(err);
	memset(out, 0, sizeof(*out));
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if (state_path == NULL &&
	    (size_t)snprintf(state, sizeof(state), "%s" STATE_SUFFIX,
	                     key_path) >= sizeof(state))
		return error_set(err, KETEN_E_USAGE, "key path too long");
	if (state_path != NULL)
		snprintf(state, sizeof(state), "%s", state_path);
	if ((rc = keys_witness_load(&k, key_path, err)) != KETEN_OK)
		return rc;
	rc = client_new_witness(&c, config_path, k->name, k->curve_pk,
	                        k->curve_sk, err);
	if (rc != KETEN_OK)
		goto out;
	if ((w = config_find_witness(c->cfg, k->name)) == NULL ||
	    sodium_memcmp(w->cosign_pk, k->cosign_pk, 32) != 0 ||
	    sodium_memcmp(w->curve_pk, k->curve_pk, 32) != 0) {
		rc = error_set(err, KETEN_E_CONFIG,
		               "witness '%s' of key file %s is not in %s with "
		               "these keys (keten keygen --show %s prints its "
		               "lines)",
		               k->name, key_path, config_path, key_path);
		goto out;
	}
	rc = round_run(out, c, k, state, err);
out:
	keten_client_destroy(&c);
	keys_witness_destroy(&k);
	return rc;
}
