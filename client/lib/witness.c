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
#include "state.h"
#include "text.h"

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

/* Pings with the client's state as known_size; the reply's checkpoint,
 * verified and held to that state (client_checkpoint). */
static int
fetch_checkpoint(struct keten_checkpoint *cp, struct keten_client *c,
                 struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_PING};
	struct reply r;
	int rc;

	if ((rc = client_call(c, &r, &req, err)) != KETEN_OK)
		return rc;
	if (r.kind != WIRE_REP_PING || !r.ping.has_cp)
		rc = error_set(err, KETEN_E_MALFORMED,
		               "the broker answered a witness's ping without "
		               "a checkpoint");
	else {
		*cp = r.ping.cp;
		rc = client_checkpoint(c, cp, &c->sent, &r.consistency, err);
	}
	wire_reply_clear(&r);
	return rc;
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
	const struct note_key *bk;
	struct keten_checkpoint cp;
	char note[NOTE_CHECKPOINT_MAX];
	size_t len;
	int rc;

	/* The broker keys of the chain's history first: the state file
	 * may hold a checkpoint signed by an earlier one (PROTOCOL.md
	 * 22.4). */
	if ((rc = client_roster_sync(c, err)) != KETEN_OK)
		return rc;
	/* The client holds the witness's state in memory: the file is
	 * written here, durably, before anything is signed. */
	c->state_gen++;
	if ((rc = state_load(&c->state, state, &c->bkset, c->cfg, err)) !=
	    KETEN_OK)
		return rc;
	c->state_loaded = true;
	out->previous = c->state.size;
	/* The ping is sent with the state just loaded as known_size, so
	 * state_check (through client_checkpoint) accepts cp only as the
	 * state itself or proven from it: the witness's rule, no other. */
	if ((rc = fetch_checkpoint(&cp, c, err)) != KETEN_OK)
		return rc;
	if (c->sent.size != out->previous)
		return error_set(err, KETEN_E_INTERNAL,
		                 "the witness's ping was not sent with its "
		                 "state");
	out->size = cp.size;
	out->signed_at_us = cp.signed_at_us;
	if ((bk = state_key_of(&c->bkset, &cp)) == NULL ||
	    (len = note_checkpoint_format(note, sizeof(note), bk, &cp)) == 0)
		return error_set(err, KETEN_E_INTERNAL,
		                 "cannot build the note");
	/* Durable before it is signed: a witness that crashes after
	 * cosigning still holds what it vouched for. */
	if ((rc = state_save(state, &c->bkset, &cp, err)) != KETEN_OK)
		return rc;
	return send_cosig(&out->stored, c, k, bk, &cp, note, len, err);
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
	int lock, rc;

	error_clear(err);
	memset(out, 0, sizeof(*out));
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if (state_path == NULL &&
	    (size_t)snprintf(state, sizeof(state), "%s" STATE_SUFFIX,
	                     key_path) >= sizeof(state))
		return error_set(err, KETEN_E_USAGE, "key path too long");
	if (state_path != NULL && (size_t)snprintf(state, sizeof(state), "%s",
	                                           state_path) >= sizeof(state))
		return error_set(err, KETEN_E_USAGE,
		                 "the state path is longer than %d bytes",
		                 PATH_MAX - 1);
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
	/* The state file may be shared (a witness run twice at once, or
	 * a client given it): the round holds its lock from the read to
	 * the write, so what it signs extends the newest state written. */
	if ((rc = state_lock(&lock, state, err)) != KETEN_OK)
		goto out;
	rc = round_run(out, c, k, state, err);
	state_unlock(lock);
out:
	keten_client_destroy(&c);
	keys_witness_destroy(&k);
	return rc;
}
