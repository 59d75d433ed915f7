/*
 * The newest checkpoint a client or witness has verified (PROTOCOL.md
 * 10.4): reading and writing its state file, and holding every later
 * checkpoint to it. Must never write a note whose signature did not verify.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "config.h"
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

int
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
	if (note_checkpoint_parse(s, buf, n, bk, err) != KETEN_OK) {
		memset(s, 0, sizeof(*s));
		return error_set(err, KETEN_E_IO,
		                 "%s is not a checkpoint of region %s: %s; "
		                 "move it aside only if you know where it "
		                 "came from",
		                 path, cfg->region, err->message);
	}
	if (note_checkpoint_verify(s, bk) != 0) {
		memset(s, 0, sizeof(*s));
		return error_set(err, KETEN_E_IO,
		                 "the checkpoint in %s is not signed by the "
		                 "broker key in %s",
		                 path, cfg->path);
	}
	return KETEN_OK;
}

int
state_save(const char *path, const struct note_key *bk,
           const struct keten_checkpoint *cp, struct keten_error *err)
{
	char note[NOTE_CHECKPOINT_MAX];
	size_t len;

	if ((len = note_checkpoint_format(note, sizeof(note), bk, cp)) == 0)
		return error_set(err, KETEN_E_INTERNAL,
		                 "cannot build the checkpoint note");
	return savefile_write(path, note, len, 0600, err);
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
            const struct keten_checkpoint *s, const struct state_known *k,
            const struct keten_checkpoint *cp, const struct consistency *proof,
            struct keten_error *err)
{
	char why[200];
	bool ok;

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
	/* Then whether that links cp to s: only a proof from s itself. */
	if (ok && s->size == 0) {
		*link = STATE_ADVANCE; /* no state yet: cp becomes it */
	} else if (ok && cp->size == s->size) {
		ok = sodium_memcmp(cp->root, s->root, KETEN_HASH_LEN) == 0;
		*link = STATE_LINKED;
	} else if (ok && cp->size > s->size && k->size == s->size &&
	           sodium_memcmp(k->root, s->root, KETEN_HASH_LEN) == 0) {
		*link = STATE_ADVANCE;
	}
	/* Beside the tree: a reply to a request sent while s was the state
	 * was read after s, so it must not take back the access log, the
	 * head or the time either. (A reply to an older request, or to a
	 * consistency request riding along a pipeline, may have been read
	 * before s: only its tree is held to s.) */
	if (ok && s->size > 0 && k->size == s->size &&
	    went_back(why, sizeof(why), s, cp)) {
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
