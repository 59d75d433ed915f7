/*
 * The newest checkpoint a client or witness has verified (PROTOCOL.md
 * 10.4): reading and writing its state file, and holding every later
 * checkpoint to it. Must never write a note whose signature did not verify.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "fileck.h"
#include "merkle.h"
#include "note.h"
#include "savefile.h"
#include "state.h"

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

/* The checkpoint note buf[0..n) of path, signed by a key of bk (the one
 * its signature line names); KETEN_E_IO with a sentence naming path if
 * it is not one. */
static int
state_parse(struct keten_checkpoint *s, const char *buf, size_t n,
            const char *path, const struct state_keys *bk,
            const struct config *cfg, struct keten_error *err)
{
	const struct note_key *k = NULL;
	struct keten_error why;
	int rc = KETEN_E_MALFORMED;

	error_clear(&why);
	/* The key whose signature it carries: a line by the broker's name
	 * parses with any of them. */
	for (size_t i = 0; i < bk->n && k == NULL; i++)
		if ((rc = note_checkpoint_parse(s, buf, n, &bk->k[i], &why)) ==
		        KETEN_OK &&
		    note_checkpoint_verify(s, &bk->k[i]) == 0)
			k = &bk->k[i];
	if (k == NULL && rc != KETEN_OK) {
		memset(s, 0, sizeof(*s));
		return error_set(err, KETEN_E_IO,
		                 "%s is not a checkpoint of region %s: %s; "
		                 "move it aside only if you know where it "
		                 "came from",
		                 path, cfg->region, why.message);
	}
	if (k == NULL) {
		memset(s, 0, sizeof(*s));
		return error_set(err, KETEN_E_IO,
		                 "the checkpoint in %s is not signed by the "
		                 "broker key in %s or one the chain recorded",
		                 path, cfg->path);
	}
	return KETEN_OK;
}

const struct note_key *
state_key_of(const struct state_keys *bk, const struct keten_checkpoint *cp)
{
	for (size_t i = 0; i < bk->n; i++)
		if (note_checkpoint_verify(cp, &bk->k[i]) == 0)
			return &bk->k[i];
	return NULL;
}

/* All of path (at most cap bytes) in buf: *n bytes, 0 if there is no
 * file. KETEN_E_IO with a sentence naming path. */
static int
state_read(char *buf, size_t cap, size_t *n, const char *path,
           struct keten_error *err)
{
	struct stat st;
	FILE *f;
	int fd, rc;

	*n = 0;
	if (stat(path, &st) != 0 && errno == ENOENT)
		return KETEN_OK;
	/* Not fopen: a FIFO in its place is refused, not waited on. */
	if ((rc = fileck_open(&fd, &st, path, "state file", KETEN_E_IO, err)) !=
	    KETEN_OK)
		return rc;
	if ((f = fdopen(fd, "rb")) == NULL) {
		close(fd);
		return error_set(err, KETEN_E_IO, "cannot read %s: %s", path,
		                 strerror(errno));
	}
	*n = fread(buf, 1, cap, f);
	rc = ferror(f);
	fclose(f);
	if (rc || *n == cap)
		return error_set(err, KETEN_E_IO,
		                 "cannot read %s: not checkpoint notes of at "
		                 "most %zu bytes",
		                 path, cap - 1);
	return KETEN_OK;
}

int
state_load(struct keten_checkpoint *s, const char *path,
           const struct state_keys *bk, const struct config *cfg,
           struct keten_error *err)
{
	char buf[NOTE_MAX + 1];
	size_t n;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = state_read(buf, sizeof(buf), &n, path, err)) != KETEN_OK ||
	    n == 0)
		return rc;
	return state_parse(s, buf, n, path, bk, cfg, err);
}

int
state_lock(int *fd, const char *path, struct keten_error *err)
{
	char lock[4096];

	if ((size_t)snprintf(lock, sizeof(lock), "%s%s", path,
	                     STATE_LOCK_SUFFIX) >= sizeof(lock))
		return error_set(err, KETEN_E_IO,
		                 "the state path %s is too long", path);
	if ((*fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return error_set(err, KETEN_E_IO, "cannot open %s: %s", lock,
		                 strerror(errno));
	while (flock(*fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		error_set(err, KETEN_E_IO, "cannot lock %s: %s", lock,
		          strerror(errno));
		close(*fd);
		*fd = -1;
		return KETEN_E_IO;
	}
	return KETEN_OK;
}

void
state_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* Whether a, of b's size, is newer than b: a later access log or time. */
static bool
newer(const struct keten_checkpoint *a, const struct keten_checkpoint *b)
{
	return a->access_size > b->access_size ||
	       (a->access_size == b->access_size &&
	        a->signed_at_us > b->signed_at_us);
}

int
state_store(const char *path, const struct state_keys *bk,
            const struct config *cfg, const struct keten_checkpoint *cp,
            struct keten_error *err)
{
	struct keten_checkpoint file;
	int fd, rc;

	if ((rc = state_lock(&fd, path, err)) != KETEN_OK)
		return rc;
	if ((rc = state_load(&file, path, bk, cfg, err)) != KETEN_OK)
		goto out;
	/* No file reads as size 0 with no root: an empty log's root is
	 * SHA-256("") whoever saw it, so size 0 never disagrees. */
	if (file.size > 0 && file.size == cp->size &&
	    sodium_memcmp(file.root, cp->root, KETEN_HASH_LEN) != 0) {
		/* Another process sharing the file saw another tree of
		 * this size: the broker showed two. */
		state_forked(err, &file,
		             "another process sharing the state "
		             "file holds another tree of that size");
		rc = KETEN_E_FORKED;
	} else if (file.size < cp->size ||
	           (file.size == cp->size && newer(cp, &file)))
		rc = state_save(path, bk, cp, err);
	/* Else the file holds a newer note: it stays. */
out:
	state_unlock(fd);
	return rc;
}

int
state_save(const char *path, const struct state_keys *bk,
           const struct keten_checkpoint *cp, struct keten_error *err)
{
	char note[NOTE_CHECKPOINT_MAX];
	const struct note_key *k = state_key_of(bk, cp);
	size_t len;

	if (k == NULL ||
	    (len = note_checkpoint_format(note, sizeof(note), k, cp)) == 0)
		return error_set(err, KETEN_E_INTERNAL,
		                 "cannot build the checkpoint note");
	return savefile_write(path, note, len, 0600, err);
}

/* The length of the signed note at the start of buf[0..n): its text to
 * the blank line, then its signature lines ("— ..."); 0 if none ends. */
static size_t
pending_note_len(const char *buf, size_t n)
{
	static const char dash[] = "\xe2\x80\x94 ";
	size_t i;

	for (i = 0; i + 1 < n && !(buf[i] == '\n' && buf[i + 1] == '\n'); i++)
		;
	if (i + 1 >= n)
		return 0;
	i += 2;
	while (i + sizeof(dash) - 1 <= n &&
	       memcmp(buf + i, dash, sizeof(dash) - 1) == 0) {
		const char *nl = memchr(buf + i, '\n', n - i);
		if (nl == NULL)
			return 0;
		i = (size_t)(nl - buf) + 1;
	}
	return i;
}

static bool
pending_has(const struct keten_checkpoint *v, size_t n,
            const struct keten_checkpoint *cp)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].size == cp->size &&
		    memcmp(v[i].root, cp->root, KETEN_HASH_LEN) == 0)
			return true;
	return false;
}

int
state_pending_load(struct keten_checkpoint *out, size_t *n_out, size_t cap,
                   const char *path, const struct state_keys *bk,
                   const struct config *cfg, struct keten_error *err)
{
	char name[4096];
	char *buf;
	size_t n, off = 0, len;
	int rc;

	*n_out = 0;
	if ((size_t)snprintf(name, sizeof(name), "%s%s", path,
	                     STATE_PENDING_SUFFIX) >= sizeof(name))
		return error_set(err, KETEN_E_IO,
		                 "the state path %s is too long", path);
	if ((buf = malloc(cap * NOTE_CHECKPOINT_MAX + 1)) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	rc = state_read(buf, cap * NOTE_CHECKPOINT_MAX + 1, &n, name, err);
	while (rc == KETEN_OK && off < n) {
		if ((len = pending_note_len(buf + off, n - off)) == 0) {
			rc = error_set(err, KETEN_E_IO,
			               "%s ends in the middle of a checkpoint "
			               "note; move it aside only if you know "
			               "where it came from",
			               name);
			break;
		}
		if ((rc = state_parse(&out[*n_out], buf + off, len, name, bk,
		                      cfg, err)) != KETEN_OK)
			break;
		off += len;
		if (!pending_has(out, *n_out, &out[*n_out]) && ++*n_out == cap)
			break;
	}
	free(buf);
	return rc;
}

int
state_pending_merge(const char *path, const struct state_keys *bk,
                    const struct config *cfg,
                    const struct keten_checkpoint *add, size_t n_add,
                    const struct keten_checkpoint *drop, size_t n_drop,
                    struct keten_error *err)
{
	char name[4096];
	struct keten_checkpoint *v;
	size_t n = 0, len, total = 0, cap = STATE_PENDING_MAX;
	char *buf = NULL;
	int fd, rc;

	if ((size_t)snprintf(name, sizeof(name), "%s%s", path,
	                     STATE_PENDING_SUFFIX) >= sizeof(name))
		return error_set(err, KETEN_E_IO,
		                 "the state path %s is too long", path);
	if ((v = calloc(cap, sizeof(*v))) == NULL ||
	    (buf = malloc(cap * NOTE_CHECKPOINT_MAX)) == NULL) {
		free(v);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	if ((rc = state_lock(&fd, path, err)) != KETEN_OK)
		goto out;
	if ((rc = state_pending_load(v, &n, cap, path, bk, cfg, err)) !=
	    KETEN_OK)
		goto unlock;
	for (size_t i = n; i-- > 0;) /* linked by their holder */
		if (pending_has(drop, n_drop, &v[i]))
			v[i] = v[--n];
	for (size_t i = 0; i < n_add; i++) {
		if (pending_has(v, n, &add[i]))
			continue;
		if (n == cap) { /* never dropped in silence */
			rc = error_set(err, KETEN_E_IO,
			               "%s already holds %zu checkpoints to "
			               "link, the most it keeps; link them "
			               "first (any call to the broker does)",
			               name, cap);
			goto unlock;
		}
		v[n++] = add[i];
	}
	for (size_t i = 0; i < n; i++) {
		const struct note_key *k = state_key_of(bk, &v[i]);
		if (k == NULL ||
		    (len = note_checkpoint_format(
		         buf + total, NOTE_CHECKPOINT_MAX, k, &v[i])) == 0) {
			rc = error_set(err, KETEN_E_INTERNAL,
			               "cannot build the checkpoint note");
			goto unlock;
		}
		total += len;
	}
	if (n > 0)
		rc = savefile_write(name, buf, total, 0600, err);
	else if (unlink(name) != 0 && errno != ENOENT)
		rc = error_set(err, KETEN_E_IO, "cannot remove %s: %s", name,
		               strerror(errno));
unlock:
	state_unlock(fd);
out:
	free(buf);
	free(v);
	return rc;
}

/* What of cp goes back from s, as the end of a sentence, or false if
 * nothing does: the access log, the head at an equal size, the time
 * (PROTOCOL.md 10.9). Beside the tree's proof, not instead of it. */
static bool
went_back(char *why, size_t n, const struct keten_checkpoint *s,
          const struct keten_checkpoint *cp)
{
	char was[64], now[64];

	if (cp->access_size < s->access_size)
		snprintf(why, n,
		         "its access log went back from %llu entries to %llu",
		         (unsigned long long)s->access_size,
		         (unsigned long long)cp->access_size);
	else if (cp->access_size == s->access_size &&
	         sodium_memcmp(cp->access_head, s->access_head,
	                       KETEN_HASH_LEN) != 0)
		snprintf(why, n,
		         "its access log of %llu entries now ends in another "
		         "entry",
		         (unsigned long long)s->access_size);
	else if (cp->size == s->size &&
	         sodium_memcmp(cp->head_hash, s->head_hash, KETEN_HASH_LEN) !=
	             0)
		snprintf(why, n, "its record %llu now has another hash",
		         (unsigned long long)s->size);
	else if (cp->signed_at_us < s->signed_at_us) {
		utc_words(was, sizeof(was), s->signed_at_us);
		utc_words(now, sizeof(now), cp->signed_at_us);
		snprintf(why, n, "its time went back from %s to %s", was, now);
	} else
		return false;
	return true;
}

void
state_forked(struct keten_error *err, const struct keten_checkpoint *s,
             const char *why)
{
	char when[64];

	utc_words(when, sizeof(when), s->signed_at_us);
	error_set(err, KETEN_E_FORKED,
	          "the broker's log is not an extension of the one it "
	          "showed on %s (size %llu)%s%s; report this to your "
	          "auditor",
	          when, (unsigned long long)s->size, why ? ": " : "",
	          why ? why : "");
}

/* Whether memo holds the proof from k to cp as one that held. */
static bool
memo_holds(const struct state_memo *memo, const struct state_known *k,
           const struct keten_checkpoint *cp)
{
	return memo != NULL && memo->has && memo->k.size == k->size &&
	       memo->size == cp->size &&
	       memcmp(memo->k.root, k->root, KETEN_HASH_LEN) == 0 &&
	       memcmp(memo->root, cp->root, KETEN_HASH_LEN) == 0;
}

int
state_check(enum state_link *link, struct state_memo *memo,
            const struct keten_checkpoint *s, uint64_t s_gen,
            const struct state_known *k, const struct keten_checkpoint *cp,
            const struct consistency *proof, struct keten_error *err)
{
	char why[200];
	bool ok, from_s;

	*link = STATE_UNLINKED;
	/* First what the reply proves: cp extends the checkpoint k the
	 * request named (the broker showed k before it read the request). */
	if (k->size == 0)
		ok = true; /* every tree extends the empty one */
	else if (k->size > cp->size)
		ok = false;
	else if (k->size == cp->size)
		ok = sodium_memcmp(cp->root, k->root, KETEN_HASH_LEN) == 0;
	else if (memo_holds(memo, k, cp))
		ok = true;
	else if ((ok = merkle_consistency_verify(
	                   k->size, cp->size, k->root, cp->root,
	                   (const uint8_t(*)[32])proof->hash, proof->n) == 0) &&
	         memo != NULL) {
		memo->has = true;
		memo->k = *k;
		memo->size = cp->size;
		memcpy(memo->root, cp->root, KETEN_HASH_LEN);
	}
	/* Then whether that links cp to s: only a proof from s itself, sent
	 * while s was the state. The state also moves at one size (a later
	 * read of its tree), so the size and root alone do not say that the
	 * request went out after s: its generation does. */
	from_s = k->gen == s_gen && k->size == s->size &&
	         sodium_memcmp(k->root, s->root, KETEN_HASH_LEN) == 0;
	if (ok && s->size == 0) {
		*link = STATE_ADVANCE; /* no state yet: cp becomes it */
	} else if (ok && cp->size == s->size) {
		ok = sodium_memcmp(cp->root, s->root, KETEN_HASH_LEN) == 0;
		/* s's tree, later read: the state moves to it, so that
		 * the next reply's access log and time are held to it. */
		*link =
		    ok && newer(cp, s) && !went_back(why, sizeof(why), s, cp)
		        ? STATE_ADVANCE
		        : STATE_LINKED;
	} else if (ok && cp->size > s->size && from_s) {
		*link = STATE_ADVANCE;
	}
	/* Beside the tree: a reply to a request sent while s was the state
	 * was read after s, so it must not take back the access log, the
	 * head or the time either. (A reply to an older request, or to a
	 * consistency request riding along a pipeline, may have been read
	 * before s: only its tree is held to s.) */
	if (ok && s->size > 0 && from_s && went_back(why, sizeof(why), s, cp)) {
		*link = STATE_UNLINKED;
		state_forked(err, s, why);
		return KETEN_E_FORKED;
	}
	if (ok)
		return KETEN_OK;
	*link = STATE_UNLINKED;
	state_forked(err, s->size ? s : cp, NULL);
	return KETEN_E_FORKED;
}
