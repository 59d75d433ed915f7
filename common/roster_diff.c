/*
 * The roster diff: region config against the chain's roster at its head,
 * as the changes of the next roster record. Pure: no I/O; must never
 * decide what a statement proves (roster_apply verifies every change).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster_diff.h"
#include "text.h"

/* The list being built: room for every change a config can ask for. */
struct diff {
	struct roster_change *ch;
	size_t n, cap;
	const struct roster *r;
	const struct config *c;
	struct keten_error *err;
};

/* The only two places that read struct roster_member's history layout. */
static bool
diff_is_member(const struct roster_member *m)
{
	return m != NULL && m->member;
}

static const struct roster_keys *
diff_broker_in_force(const struct roster *r)
{
	struct roster_keyset *const *ks;
	size_t k = roster_broker_keys(r, &ks);

	return k > 0 ? &ks[k - 1]->keys : NULL;
}

static struct roster_change *
diff_add(struct diff *d, enum roster_action action, const char *agency)
{
	struct roster_change *ch = &d->ch[d->n++];

	/* cap is counted in roster_diff: never more changes than that */
	if (d->n > d->cap)
		abort();
	memset(ch, 0, sizeof(*ch));
	ch->action = action;
	if (agency != NULL)
		snprintf(ch->agency, sizeof(ch->agency), "%s", agency);
	return ch;
}

static void
diff_keys_of(struct roster_keys *k, const struct agency *a)
{
	memcpy(k->sign, a->sign_pk, sizeof(k->sign));
	memcpy(k->box, a->box_pk, sizeof(k->box));
	memcpy(k->transport, a->curve_pk, sizeof(k->transport));
}

static bool
diff_keys_equal(const struct agency *a, const struct agency *b)
{
	return memcmp(a->sign_pk, b->sign_pk, 32) == 0 &&
	       memcmp(a->box_pk, b->box_pk, 32) == 0 &&
	       memcmp(a->curve_pk, b->curve_pk, 32) == 0;
}

/* Whether this list already revokes agency's key sign_pk. */
static bool
diff_revokes(const struct diff *d, const char *agency, const uint8_t *sign_pk)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->ch[i].action == ROSTER_REVOKE &&
		    strcmp(d->ch[i].agency, agency) == 0 &&
		    memcmp(d->ch[i].keys.sign, sign_pk, 32) == 0)
			return true;
	return false;
}

static void
diff_revoke(struct diff *d, const struct revocation *v)
{
	struct roster_change *ch = diff_add(d, ROSTER_REVOKE, v->agency);

	memcpy(ch->keys.sign, v->sign_pk, sizeof(ch->keys.sign));
	ch->compromised_at_us = v->compromised_at_us;
	snprintf(ch->reason, sizeof(ch->reason), "%s", v->reason);
}

static int
diff_never_had(struct diff *d, const struct revocation *v)
{
	char b64[TEXT_KEY_B64_LEN];

	text_key_to_b64(b64, v->sign_pk);
	return error_set(d->err, KETEN_E_CONFIG,
	                 "%s:%d: revoked: agency '%s' never had sign_key %s; "
	                 "check it ('keten keygen --show' of the old key file)",
	                 d->c->path, v->line, v->agency, b64);
}

static int
diff_kind(struct diff *d, const struct agency *a, const struct agency *now)
{
	if (a->kind == now->kind)
		return KETEN_OK;
	return error_set(d->err, KETEN_E_CONFIG,
	                 "%s:%d: agency '%s' is recorded as %s, not %s: an "
	                 "agency's kind cannot change; give it a new id",
	                 d->c->path, a->line, a->id,
	                 config_kind_name(now->kind),
	                 config_kind_name(a->kind));
}

/* The key set with signing key sign_pk of any agency or the broker, and
 * whose it was, or NULL: roster_apply refuses a signing key used twice,
 * the diff says so first, with the config line. */
static const struct roster_keyset *
diff_key_owner(const struct roster *r, const uint8_t *sign_pk,
               const char **owner)
{
	struct roster_keyset *const *ks;
	size_t k = roster_broker_keys(r, &ks);

	*owner = WIRE_BROKER_ID;
	for (size_t i = 0; i < k; i++)
		if (memcmp(ks[i]->keys.sign, sign_pk, 32) == 0)
			return ks[i];
	for (size_t i = 0; i < roster_members(r); i++) {
		const struct roster_member *m = roster_member(r, i);

		*owner = m->now.id;
		for (size_t j = 0; j < m->n_keysets; j++)
			if (memcmp(m->keysets[j]->keys.sign, sign_pk, 32) == 0)
				return m->keysets[j];
	}
	return NULL;
}

/* "FILE:LINE: agency 'ID'" (or "FILE: broker": that section has no line
 * of its own), the start of a refusal. */
static void
diff_where(char *out, size_t len, const struct diff *d, const char *who,
           int line)
{
	if (strcmp(who, WIRE_BROKER_ID) == 0)
		snprintf(out, len, "%s: broker", d->c->path);
	else
		snprintf(out, len, "%s:%d: agency '%s'", d->c->path, line, who);
}

/* New keys (a JOIN, ROTATE, REKEY or BROKER change) need a signing key
 * never recorded before. */
static int
diff_key_fresh(struct diff *d, const char *who, int line,
               const uint8_t *sign_pk)
{
	const char *owner;
	const struct roster_keyset *ks = diff_key_owner(d->r, sign_pk, &owner);
	char where[PATH_MAX + 128], revoked[48] = "";

	if (ks == NULL)
		return KETEN_OK;
	diff_where(where, sizeof(where), d, who, line);
	if (ks->revoked_seq != 0)
		snprintf(revoked, sizeof(revoked), ", revoked at record %llu",
		         (unsigned long long)ks->revoked_seq);
	return error_set(d->err, KETEN_E_CONFIG,
	                 "%s: this sign_key was %s's from record %llu%s, and a "
	                 "key is never used twice; make new keys ('keten "
	                 "keygen --rotate')",
	                 where, owner, (unsigned long long)ks->from_seq,
	                 revoked);
}

/* Keys are a set known by its signing key: box or transport key alone
 * cannot change (that set's sign key would be used twice). */
static int
diff_keys_together(struct diff *d, const char *who, int line)
{
	char where[PATH_MAX + 128];

	diff_where(where, sizeof(where), d, who, line);
	return error_set(d->err, KETEN_E_CONFIG,
	                 "%s: transport_key or box_key changed but not "
	                 "sign_key; keys change together: use all that 'keten "
	                 "keygen --rotate' prints",
	                 where);
}

/* A BROKER change to the config's broker keys (box stays empty). */
static struct roster_change *
diff_broker_change(struct diff *d)
{
	struct roster_change *ch = diff_add(d, ROSTER_BROKER, NULL);

	memcpy(ch->keys.sign, d->c->broker_sign_pk, sizeof(ch->keys.sign));
	memcpy(ch->keys.transport, d->c->broker_curve_pk,
	       sizeof(ch->keys.transport));
	return ch;
}

/* BROKER: new broker keys need the old signing key's statement. */
/* The change's statement, checked here so that a refusal names the
 * config's line (the roster applies the same rule again). */
static int
diff_statement(struct diff *d, const char *who, int line,
               const uint8_t old_pk[32], const struct roster_change *ch)
{
	struct keten_error why;

	if (roster_rotation_verify(d->r, who, old_pk, &ch->keys, ch->rotation,
	                           ch->rotation_len, &why) == KETEN_OK)
		return KETEN_OK;
	return error_set(d->err, KETEN_E_CONFIG,
	                 "%s:%d: %s's rotation: %s; make it with 'keten "
	                 "keygen --rotate' on the key file that holds the key "
	                 "in force, and put in the keys it printed with it",
	                 d->c->path, line, who, why.message);
}

static int
diff_broker(struct diff *d)
{
	const struct config *c = d->c;
	const struct roster_keys *now = diff_broker_in_force(d->r);
	struct roster_change *ch;
	int rc;

	if (now == NULL)
		return error_set(d->err, KETEN_E_INTERNAL,
		                 "roster diff: a roster without broker keys");
	if (memcmp(now->sign, c->broker_sign_pk, 32) == 0)
		return memcmp(now->transport, c->broker_curve_pk, 32) == 0
		           ? KETEN_OK
		           : diff_keys_together(d, WIRE_BROKER_ID, 0);
	if (c->broker_rotation == NULL)
		return error_set(
		    d->err, KETEN_E_CONFIG,
		    "%s: broker.sign_key changed but broker.rotation is "
		    "missing: run 'keten keygen --rotate OLD.key --out "
		    "NEW.key' "
		    "on the broker's key file and add the rotation: it prints",
		    c->path);
	if ((rc = diff_key_fresh(d, WIRE_BROKER_ID, 0, c->broker_sign_pk)) !=
	    KETEN_OK)
		return rc;
	ch = diff_broker_change(d);
	ch->rotation = c->broker_rotation;
	ch->rotation_len = c->broker_rotation_len;
	return diff_statement(d, WIRE_BROKER_ID, c->broker_rotation_line,
	                      now->sign, ch);
}

static int
diff_revoked(struct diff *d)
{
	for (size_t i = 0; i < d->c->n_revoked; i++) {
		const struct revocation *v = &d->c->revoked[i];
		const struct roster_keyset *ks =
		    roster_keyset_of(d->r, v->agency, v->sign_pk);

		if (ks == NULL)
			return diff_never_had(d, v);
		if (ks->revoked_seq == 0)
			diff_revoke(d, v);
	}
	return KETEN_OK;
}

static void
diff_leave(struct diff *d)
{
	for (size_t i = 0; i < roster_members(d->r); i++) {
		const struct roster_member *m = roster_member(d->r, i);

		if (diff_is_member(m) && config_find(d->c, m->now.id) == NULL)
			diff_add(d, ROSTER_LEAVE, m->now.id);
	}
}

static int
diff_join(struct diff *d, const struct agency *a)
{
	struct roster_change *ch;
	int rc;

	if ((rc = diff_key_fresh(d, a->id, a->line, a->sign_pk)) != KETEN_OK)
		return rc;
	ch = diff_add(d, ROSTER_JOIN, a->id);
	ch->kind = a->kind;
	snprintf(ch->name, sizeof(ch->name), "%s", a->name);
	diff_keys_of(&ch->keys, a);
	return KETEN_OK;
}

static int
diff_joins(struct diff *d)
{
	for (size_t i = 0; i < d->c->n_agencies; i++) {
		const struct agency *a = &d->c->agencies[i];
		const struct roster_member *m = roster_member_find(d->r, a->id);
		int rc;

		if (diff_is_member(m))
			continue;
		if ((m != NULL &&
		     (rc = diff_kind(d, a, &m->now)) != KETEN_OK) ||
		    (rc = diff_join(d, a)) != KETEN_OK)
			return rc;
	}
	return KETEN_OK;
}

/* ROTATE, REKEY and RENAME of the agencies that were members already. */
static int
diff_rekeys(struct diff *d, enum roster_action pass)
{
	for (size_t i = 0; i < d->c->n_agencies; i++) {
		const struct agency *a = &d->c->agencies[i];
		const struct roster_member *m = roster_member_find(d->r, a->id);
		const struct roster_keyset *ks;
		struct roster_change *ch;
		int rc;

		if (!diff_is_member(m))
			continue;
		if ((rc = diff_kind(d, a, &m->now)) != KETEN_OK)
			return rc;
		if (pass == ROSTER_RENAME) {
			if (strcmp(a->name, m->now.name) != 0)
				snprintf(
				    diff_add(d, ROSTER_RENAME, a->id)->name,
				    WIRE_ROSTER_NAME_MAX + 1, "%s", a->name);
			continue;
		}
		if (diff_keys_equal(a, &m->now))
			continue; /* a statement for these keys is spent */
		if (memcmp(a->sign_pk, m->now.sign_pk, 32) == 0)
			return diff_keys_together(d, a->id, a->line);
		if ((rc = diff_key_fresh(d, a->id, a->line, a->sign_pk)) !=
		    KETEN_OK)
			return rc;
		ks = roster_keyset_of(d->r, a->id, m->now.sign_pk);
		if ((ks != NULL && ks->revoked_seq != 0) ||
		    diff_revokes(d, a->id, m->now.sign_pk)) {
			diff_keys_of(&diff_add(d, ROSTER_REKEY, a->id)->keys,
			             a);
			continue;
		}
		if (a->rotation == NULL)
			return error_set(
			    d->err, KETEN_E_CONFIG,
			    "%s:%d: agency '%s': keys changed without "
			    "'rotation:'; run 'keten keygen --rotate OLD.key "
			    "--out NEW.key' on its key file and add the "
			    "rotation: it prints (or revoke the old key)",
			    d->c->path, a->line, a->id);
		ch = diff_add(d, ROSTER_ROTATE, a->id);
		diff_keys_of(&ch->keys, a);
		ch->rotation = a->rotation;
		ch->rotation_len = a->rotation_len;
		if ((rc = diff_statement(d, a->id, a->rotation_line,
		                         m->now.sign_pk, ch)) != KETEN_OK)
			return rc;
	}
	return KETEN_OK;
}

/* The first roster record: the broker's keys, every agency, then the
 * revocations of keys it joins with (a REVOKE needs a member). */
static int
diff_first(struct diff *d)
{
	const struct config *c = d->c;
	int rc;

	(void)diff_broker_change(d);
	for (size_t i = 0; i < c->n_agencies; i++)
		if ((rc = diff_join(d, &c->agencies[i])) != KETEN_OK)
			return rc;
	for (size_t i = 0; i < c->n_revoked; i++) {
		const struct revocation *v = &c->revoked[i];
		const struct agency *a = config_find(c, v->agency);

		if (a == NULL || memcmp(a->sign_pk, v->sign_pk, 32) != 0)
			return diff_never_had(d, v);
		diff_revoke(d, v);
	}
	return KETEN_OK;
}

int
roster_diff(struct roster_change **out, size_t *n, const struct roster *r,
            const struct config *c, struct keten_error *err)
{
	struct diff d = {.r = r, .c = c, .err = err};
	int rc;

	*out = NULL;
	*n = 0;
	/* at most: BROKER, each revocation, each member leaving, and per
	 * agency a JOIN or a ROTATE/REKEY and a RENAME */
	d.cap = 1 + c->n_revoked + roster_members(r) + 2 * c->n_agencies;
	if ((d.ch = calloc(d.cap, sizeof(*d.ch))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	if (roster_last_seq(r) == 0)
		rc = diff_first(&d);
	else if ((rc = diff_broker(&d)) == KETEN_OK &&
	         (rc = diff_revoked(&d)) == KETEN_OK) {
		diff_leave(&d);
		if ((rc = diff_joins(&d)) == KETEN_OK &&
		    (rc = diff_rekeys(&d, ROSTER_ROTATE)) == KETEN_OK)
			rc = diff_rekeys(&d, ROSTER_RENAME);
	}
	if (rc != KETEN_OK || d.n == 0) {
		free(d.ch);
		return rc;
	}
	*out = d.ch;
	*n = d.n;
	return KETEN_OK;
}

void
roster_changes_free(struct roster_change *changes, size_t n)
{
	(void)n; /* the statements they point to are the config's */
	free(changes);
}
