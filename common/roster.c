/*
 * The roster's history and its rules (docs/PROTOCOL.md 22), folded from
 * roster records. Pure: no I/O, no clock. Must never apply part of a
 * record: every change is written through an undo log, so a refused record
 * leaves the roster as it was. Objects handed out never move.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"
#include "note.h"
#include "roster.h"

_Static_assert(WIRE_ROSTER_NAME_MAX + 1 == CONFIG_NAME_MAX,
               "a roster name fits struct agency's");

/* A key set with the agency view roster_find hands out for it; pub is
 * first, so a struct roster_keyset * is a struct keyset *. */
struct keyset {
	struct roster_keyset pub;
	struct agency view;
};

struct member {
	struct roster_member pub;
	struct roster_keyset **ks; /* struct keyset's pub, in order */
	size_t cap_ks;
	struct roster_period **periods;
	size_t cap_periods;
};

struct roster {
	char region[KETEN_ID_MAX + 1];
	struct member **members;
	size_t n_members, cap_members;
	struct roster_keyset **broker; /* struct keyset's pub */
	size_t n_broker, cap_broker;
	uint64_t *seqs; /* every roster record's seq */
	size_t n_seqs, cap_seqs;
};

/* ---- the undo log: what one roster_apply wrote, to take it back ---- */

struct undo_entry {
	void *at;
	size_t n;
	void *old; /* malloc'd copy of the n bytes at `at` before */
};

struct undo {
	struct undo_entry *e;
	size_t n, cap;
	void **made; /* objects this apply allocated */
	size_t n_made, cap_made;
	bool nomem;
};

static int
grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 4;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if ((q = realloc(*p, c * size)) == NULL)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

/* Saves the n bytes at p before they change. */
static void
undo_save(struct undo *u, void *p, size_t n)
{
	struct undo_entry *x;

	if (u->nomem || grow((void **)&u->e, &u->cap, u->n + 1, sizeof(*u->e)))
		goto nomem;
	x = &u->e[u->n];
	if ((x->old = malloc(n)) == NULL)
		goto nomem;
	memcpy(x->old, p, n);
	x->at = p;
	x->n = n;
	u->n++;
	return;
nomem:
	u->nomem = true;
}

/* A zeroed object of n bytes this apply made, freed if it is undone. */
static void *
undo_alloc(struct undo *u, size_t n)
{
	void *p;

	if (u->nomem || grow((void **)&u->made, &u->cap_made, u->n_made + 1,
	                     sizeof(void *)))
		goto nomem;
	if ((p = calloc(1, n)) == NULL)
		goto nomem;
	u->made[u->n_made++] = p;
	return p;
nomem:
	u->nomem = true;
	return NULL;
}

static void
undo_end(struct undo *u, bool rollback)
{
	for (size_t i = u->n; i-- > 0;) {
		if (rollback)
			memcpy(u->e[i].at, u->e[i].old, u->e[i].n);
		free(u->e[i].old);
	}
	if (rollback)
		for (size_t i = 0; i < u->n_made; i++)
			free(u->made[i]);
	free(u->e);
	free(u->made);
	memset(u, 0, sizeof(*u));
}

/* ---- life ---- */

int
roster_new(struct roster **out, const char *region, struct keten_error *err)
{
	struct roster *r;

	*out = NULL;
	if (region == NULL || !text_valid_id(region))
		return error_set(err, KETEN_E_USAGE,
		                 "a roster needs a valid region id");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return error_set(err, KETEN_E_NOMEM,
		                 "out of memory making a roster");
	snprintf(r->region, sizeof(r->region), "%s", region);
	*out = r;
	return KETEN_OK;
}

void
roster_destroy(struct roster **rp)
{
	struct roster *r;

	if (rp == NULL || (r = *rp) == NULL)
		return;
	for (size_t i = 0; i < r->n_members; i++) {
		struct member *m = r->members[i];
		for (size_t k = 0; k < m->pub.n_keysets; k++)
			free(m->ks[k]);
		for (size_t k = 0; k < m->pub.n_periods; k++)
			free(m->periods[k]);
		free(m->ks);
		free(m->periods);
		free(m);
	}
	for (size_t i = 0; i < r->n_broker; i++)
		free(r->broker[i]);
	free(r->members);
	free(r->broker);
	free(r->seqs);
	free(r);
	*rp = NULL;
}

/* ---- lookups ---- */

static struct member *
member_of(const struct roster *r, const char *id)
{
	for (size_t i = 0; i < r->n_members; i++)
		if (strcmp(r->members[i]->pub.now.id, id) == 0)
			return r->members[i];
	return NULL;
}

static struct roster_keyset *
keyset_current(const struct member *m)
{
	return m->pub.n_keysets ? m->ks[m->pub.n_keysets - 1] : NULL;
}

static uint64_t
first_seq(const struct roster *r)
{
	return r->n_seqs ? r->seqs[0] : 0;
}

/* The state at seq counts the roster records below this bound: before
 * the first roster record, the first counts too. */
static uint64_t
bound_at(const struct roster *r, uint64_t seq)
{
	uint64_t f = first_seq(r);

	return seq <= f ? f + 1 : seq;
}

/* Whether key set k was in force in the state of the records below b. */
static bool
keyset_in(const struct roster_keyset *k, uint64_t b)
{
	return k->from_seq < b && (k->until_seq == 0 || k->until_seq >= b);
}

const struct agency *
roster_find(const struct roster *r, const char *id, uint64_t seq,
            struct keten_error *err)
{
	const struct member *m = member_of(r, id);
	const struct roster_period *p = NULL;
	uint64_t b = bound_at(r, seq);

	if (m == NULL) {
		error_set(err, KETEN_E_SIGNER,
		          "'%s' has never been a member of region %s", id,
		          r->region);
		return NULL;
	}
	for (size_t i = 0; i < m->pub.n_periods; i++)
		if (m->periods[i]->join_seq < b)
			p = m->periods[i];
	if (p == NULL) {
		error_set(err, KETEN_E_SIGNER,
		          "%s was not yet a member: it joins at record %llu",
		          id, (unsigned long long)m->periods[0]->join_seq);
		return NULL;
	}
	if (p->leave_seq != 0 && p->leave_seq < b) {
		error_set(err, KETEN_E_SIGNER,
		          "%s left the region at record %llu", id,
		          (unsigned long long)p->leave_seq);
		return NULL;
	}
	for (size_t i = m->pub.n_keysets; i-- > 0;) {
		const struct roster_keyset *k = m->ks[i];
		if (!keyset_in(k, b))
			continue;
		if (k->revoked_seq != 0 && k->revoked_seq < b) {
			error_set(err, KETEN_E_SIGNER,
			          "%s's signing key was revoked at record %llu "
			          "and not yet replaced",
			          id, (unsigned long long)k->revoked_seq);
			return NULL;
		}
		return &((const struct keyset *)k)->view;
	}
	error_set(err, KETEN_E_INTERNAL, "%s is a member without a key", id);
	return NULL;
}

const struct roster_keyset *
roster_keyset_of(const struct roster *r, const char *id,
                 const uint8_t sign_pk[32])
{
	struct roster_keyset *const *ks;
	size_t n;
	const struct member *m;

	if (strcmp(id, WIRE_BROKER_ID) == 0) {
		ks = r->broker;
		n = r->n_broker;
	} else if ((m = member_of(r, id)) != NULL) {
		ks = m->ks;
		n = m->pub.n_keysets;
	} else {
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (memcmp(ks[i]->keys.sign, sign_pk, 32) == 0)
			return ks[i];
	return NULL;
}

const char *
roster_region(const struct roster *r)
{
	return r->region;
}

size_t
roster_members(const struct roster *r)
{
	return r->n_members;
}

const struct roster_member *
roster_member(const struct roster *r, size_t i)
{
	return i < r->n_members ? &r->members[i]->pub : NULL;
}

const struct roster_member *
roster_member_find(const struct roster *r, const char *id)
{
	const struct member *m = member_of(r, id);

	return m ? &m->pub : NULL;
}

size_t
roster_broker_keys(const struct roster *r,
                   struct roster_keyset *const **keysets)
{
	*keysets = r->broker;
	return r->n_broker;
}

uint64_t
roster_last_seq(const struct roster *r)
{
	return r->n_seqs ? r->seqs[r->n_seqs - 1] : 0;
}

size_t
roster_records(const struct roster *r, const uint64_t **seqs)
{
	*seqs = r->seqs;
	return r->n_seqs;
}

const uint8_t *
roster_broker_key_at(const struct roster *r, uint64_t seq)
{
	/* the records <= seq: below seq + 1 (UINT64_MAX: all of them) */
	uint64_t b = bound_at(r, seq == UINT64_MAX ? seq : seq + 1);

	for (size_t i = r->n_broker; i-- > 0;)
		if (keyset_in(r->broker[i], b))
			return r->broker[i]->keys.sign;
	return NULL;
}

const uint8_t *
roster_broker_key_for_size(const struct roster *r, uint64_t size)
{
	return roster_broker_key_at(r, size);
}

int
roster_note_key_for_size(struct note_key *out, const struct roster *r,
                         uint64_t size, const struct note_key *before)
{
	const uint8_t *pk =
	    r != NULL ? roster_broker_key_for_size(r, size) : NULL;

	if (pk != NULL)
		return note_broker_key(out, r->region, pk);
	if (before == NULL)
		return -1;
	*out = *before;
	return 0;
}

bool
roster_broker_trusted(const struct roster *r, const uint8_t pk[32])
{
	for (size_t i = 0; i < r->n_broker; i++)
		if (sodium_memcmp(r->broker[i]->keys.sign, pk, 32) == 0)
			return true;
	return false;
}

static const struct agency *
roster_door_find(const void *arg, const char *signer, uint64_t seq,
                 struct keten_error *err)
{
	return roster_find(arg, signer, seq, err);
}

struct record_roster
roster_record_roster(const struct roster *r)
{
	struct record_roster rr = {.find = roster_door_find, .arg = r};

	return rr;
}

/* ---- applying a roster record ---- */

/* One roster_apply: the record, the change being applied and the log. */
struct apply {
	struct roster *r;
	uint64_t seq;
	int64_t received_at_us;
	size_t i; /* the change's index */
	const struct roster_change *c;
	struct undo u;
	struct keten_error *err;
};

static const char *const action_words[ROSTER_ACTION_MAX + 1] = {
    [ROSTER_JOIN] = "join",     [ROSTER_ROTATE] = "rotate",
    [ROSTER_REVOKE] = "revoke", [ROSTER_REKEY] = "rekey",
    [ROSTER_LEAVE] = "leave",   [ROSTER_RENAME] = "rename",
    [ROSTER_BROKER] = "broker"};

const char *
roster_action_word(enum roster_action action)
{
	return action >= ROSTER_JOIN && action <= ROSTER_ACTION_MAX
	           ? action_words[action]
	           : "?";
}

/* Refuses the change being applied: the record, the change, its action
 * and agency, then the rule. */
static int refuse(struct apply *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refuse(struct apply *a, int code, const char *fmt, ...)
{
	char rule[KETEN_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rule, sizeof(rule), fmt, ap);
	va_end(ap);
	return error_set(
	    a->err, code, "roster record %llu, change %zu (%s %s): %s",
	    (unsigned long long)a->seq, a->i, action_words[a->c->action],
	    a->c->agency[0] ? a->c->agency : WIRE_BROKER_ID, rule);
}

static bool
key_zero(const uint8_t k[32])
{
	return sodium_is_zero(k, 32);
}

/* The fields a change of each action must and must not carry (the wire
 * has checked their form). */
static int
fields_fit(struct apply *a)
{
	const struct roster_change *c = a->c;
	enum roster_action x = c->action;
	bool keys3 =
	    x == ROSTER_JOIN || x == ROSTER_ROTATE || x == ROSTER_REKEY;

	if ((x == ROSTER_BROKER) != (c->agency[0] == '\0'))
		return refuse(a, KETEN_E_FIELD,
		              x == ROSTER_BROKER
		                  ? "a broker change names no agency"
		                  : "the change names no agency");
	if (strcmp(c->agency, WIRE_BROKER_ID) == 0)
		return refuse(a, KETEN_E_FIELD,
		              "'broker' is reserved: no agency may have it");
	if ((x == ROSTER_JOIN) != (c->kind != KETEN_KIND_NONE))
		return refuse(a, KETEN_E_FIELD,
		              x == ROSTER_JOIN ? "a join needs a kind (1-5)"
		                               : "only a join carries a kind");
	if ((x == ROSTER_JOIN || x == ROSTER_RENAME) != (c->name[0] != '\0'))
		return refuse(a, KETEN_E_FIELD,
		              x == ROSTER_JOIN || x == ROSTER_RENAME
		                  ? "the change needs a name"
		                  : "only a join or rename carries a name");
	if ((keys3 || x == ROSTER_BROKER || x == ROSTER_REVOKE) !=
	    !key_zero(c->keys.sign))
		return refuse(a, KETEN_E_FIELD,
		              keys3 || x == ROSTER_BROKER || x == ROSTER_REVOKE
		                  ? "keys.sign is missing"
		                  : "the change carries no keys");
	if ((keys3 || x == ROSTER_BROKER) != !key_zero(c->keys.transport))
		return refuse(a, KETEN_E_FIELD,
		              keys3 || x == ROSTER_BROKER
		                  ? "keys.transport is missing"
		                  : "the change carries no keys.transport");
	if (keys3 != !key_zero(c->keys.box))
		return refuse(a, KETEN_E_FIELD,
		              keys3 ? "keys.box is missing"
		                    : "the change carries no keys.box");
	if (x != ROSTER_ROTATE && x != ROSTER_BROKER && c->rotation_len != 0)
		return refuse(
		    a, KETEN_E_FIELD,
		    "only a rotate or broker change carries a rotation "
		    "statement");
	if (x != ROSTER_REVOKE &&
	    (c->compromised_at_us != 0 || c->reason[0] != '\0'))
		return refuse(a, KETEN_E_FIELD,
		              "only a revoke carries compromised_at_us and a "
		              "reason");
	if (x == ROSTER_REVOKE && (c->compromised_at_us < 0 ||
	                           (a->received_at_us > 0 &&
	                            c->compromised_at_us > a->received_at_us)))
		return refuse(
		    a, KETEN_E_FIELD,
		    "compromised_at_us is negative or after the roster "
		    "record was received");
	return KETEN_OK;
}

/* Whether sign_pk was ever a key set's, of any agency or the broker. */
static int
key_fresh(struct apply *a, const uint8_t sign_pk[32])
{
	const struct roster *r = a->r;

	for (size_t i = 0; i < r->n_broker; i++)
		if (memcmp(r->broker[i]->keys.sign, sign_pk, 32) == 0)
			return refuse(
			    a, KETEN_E_FIELD,
			    "the signing key was the broker's from record "
			    "%llu; a key is never used twice",
			    (unsigned long long)r->broker[i]->from_seq);
	for (size_t i = 0; i < r->n_members; i++) {
		const struct member *m = r->members[i];
		for (size_t k = 0; k < m->pub.n_keysets; k++)
			if (memcmp(m->ks[k]->keys.sign, sign_pk, 32) == 0)
				return refuse(
				    a, KETEN_E_FIELD,
				    "the signing key was %s's from record "
				    "%llu; a key is never used twice",
				    m->pub.now.id,
				    (unsigned long long)m->ks[k]->from_seq);
	}
	return KETEN_OK;
}

int
roster_rotation_verify(const struct roster *r, const char *who,
                       const uint8_t old_pk[32], const struct roster_keys *keys,
                       const uint8_t *st, size_t len, struct keten_error *err)
{
	struct envelope e;
	struct wire_rotation rot;
	struct keten_error why;
	char what[96];
	int rc;

	if (len == 0)
		return error_set(err, KETEN_E_FIELD,
		                 "the change needs a rotation statement signed "
		                 "by the key in force");
	if (wire_envelope_decode(&e, st, len, &why) != KETEN_OK)
		return error_set(err, why.code, "the rotation statement: %s",
		                 why.message);
	if (e.type != KETEN_MSG_ROTATION || strcmp(e.signer, who) != 0) {
		wire_envelope_clear(&e);
		return error_set(err, KETEN_E_FIELD,
		                 "the rotation statement is not a rotation "
		                 "signed as %s",
		                 who);
	}
	snprintf(what, sizeof(what), "%s's rotation statement", who);
	rc =
	    record_statement_verify(&e, old_pk, what, "its key in force", &why);
	if (rc == KETEN_OK)
		rc = wire_rotation_decode(&rot, e.body, e.body_len, &why);
	wire_envelope_clear(&e);
	if (rc != KETEN_OK)
		return error_set(err, rc, "%s", why.message);
	if (strcmp(rot.region, r->region) != 0)
		return error_set(err, KETEN_E_FIELD,
		                 "the rotation statement is for region %s",
		                 rot.region);
	if (strcmp(rot.agency, who) != 0)
		return error_set(err, KETEN_E_FIELD,
		                 "the rotation statement is for %s",
		                 rot.agency);
	if (memcmp(&rot.keys, keys, sizeof(rot.keys)) != 0)
		return error_set(
		    err, KETEN_E_FIELD,
		    "the rotation statement vouches for other keys "
		    "than these");
	return KETEN_OK;
}

/* The change's rotation statement, by roster_rotation_verify. */
static int
rotation_check(struct apply *a, const char *who, const uint8_t old_pk[32])
{
	struct keten_error why;
	int rc =
	    roster_rotation_verify(a->r, who, old_pk, &a->c->keys,
	                           a->c->rotation, a->c->rotation_len, &why);

	return rc == KETEN_OK ? KETEN_OK : refuse(a, rc, "%s", why.message);
}

/* A new key set at this record, appended to *ks (growing it if needed);
 * its view is the agency's (m NULL: the broker's). */
static struct keyset *
keyset_add(struct apply *a, struct roster_keyset ***ks, size_t *n, size_t *cap,
           const struct member *m)
{
	struct keyset *k;

	if (grow((void **)ks, cap, *n + 1, sizeof(**ks)) != 0 ||
	    (k = undo_alloc(&a->u, sizeof(*k))) == NULL) {
		a->u.nomem = true;
		return NULL;
	}
	k->pub.keys = a->c->keys;
	k->pub.from_seq = a->seq;
	if (m != NULL) {
		k->view = m->pub.now;
		memcpy(k->view.sign_pk, k->pub.keys.sign, 32);
		memcpy(k->view.box_pk, k->pub.keys.box, 32);
		memcpy(k->view.curve_pk, k->pub.keys.transport, 32);
	}
	undo_save(&a->u, n, sizeof(*n));
	(*ks)[(*n)++] = &k->pub;
	return k;
}

/* Replaces m's current key set by the change's keys. */
static int
member_rekey(struct apply *a, struct member *m)
{
	struct roster_keyset *old = keyset_current(m);
	struct keyset *k;

	if (old != NULL) {
		undo_save(&a->u, &old->until_seq, sizeof(old->until_seq));
		old->until_seq = a->seq;
	}
	undo_save(&a->u, &m->pub, sizeof(m->pub));
	memcpy(m->pub.now.sign_pk, a->c->keys.sign, 32);
	memcpy(m->pub.now.box_pk, a->c->keys.box, 32);
	memcpy(m->pub.now.curve_pk, a->c->keys.transport, 32);
	if ((k = keyset_add(a, &m->ks, &m->pub.n_keysets, &m->cap_ks, m)) ==
	    NULL)
		return KETEN_E_NOMEM;
	m->pub.keysets = m->ks;
	return KETEN_OK;
}

static int
apply_join(struct apply *a, struct member *m)
{
	struct roster *r = a->r;
	struct roster_period *p;
	int rc;

	if (m != NULL && m->pub.member)
		return refuse(a, KETEN_E_FIELD, "already a member");
	if (m != NULL && m->pub.now.kind != a->c->kind)
		return refuse(a, KETEN_E_FIELD,
		              "it was a %s; a kind never changes (leave, and "
		              "join under a new id)",
		              config_kind_name(m->pub.now.kind));
	if ((rc = key_fresh(a, a->c->keys.sign)) != KETEN_OK)
		return rc;
	if (m == NULL) {
		if (grow((void **)&r->members, &r->cap_members,
		         r->n_members + 1, sizeof(*r->members)) != 0 ||
		    (m = undo_alloc(&a->u, sizeof(*m))) == NULL)
			return KETEN_E_NOMEM;
		snprintf(m->pub.now.id, sizeof(m->pub.now.id), "%s",
		         a->c->agency);
		m->pub.now.kind = a->c->kind;
		undo_save(&a->u, &r->n_members, sizeof(r->n_members));
		r->members[r->n_members++] = m;
		/* its arrays, grown below, are freed with it if undone */
	}
	undo_save(&a->u, &m->pub, sizeof(m->pub));
	snprintf(m->pub.now.name, sizeof(m->pub.now.name), "%s", a->c->name);
	m->pub.member = true;
	if (grow((void **)&m->periods, &m->cap_periods, m->pub.n_periods + 1,
	         sizeof(*m->periods)) != 0 ||
	    (p = undo_alloc(&a->u, sizeof(*p))) == NULL)
		return KETEN_E_NOMEM;
	p->join_seq = a->seq;
	m->periods[m->pub.n_periods++] = p;
	m->pub.periods = m->periods;
	return member_rekey(a, m);
}

static int
apply_change(struct apply *a)
{
	struct roster *r = a->r;
	const struct roster_change *c = a->c;
	struct member *m = c->agency[0] ? member_of(r, c->agency) : NULL;
	struct roster_keyset *cur = m ? keyset_current(m) : NULL;
	int rc;

	if ((rc = fields_fit(a)) != KETEN_OK)
		return rc;
	if (c->action == ROSTER_JOIN)
		return apply_join(a, m);
	if (c->action == ROSTER_BROKER) {
		struct roster_keyset *old =
		    r->n_broker ? r->broker[r->n_broker - 1] : NULL;
		if (old == NULL && c->rotation_len != 0)
			return refuse(a, KETEN_E_FIELD,
			              "the first broker key is the anchor: it "
			              "comes without a rotation statement");
		if (old != NULL &&
		    (rc = rotation_check(a, WIRE_BROKER_ID, old->keys.sign)) !=
		        KETEN_OK)
			return rc;
		if ((rc = key_fresh(a, c->keys.sign)) != KETEN_OK)
			return rc;
		if (old != NULL) {
			undo_save(&a->u, &old->until_seq,
			          sizeof(old->until_seq));
			old->until_seq = a->seq;
		}
		return keyset_add(a, &r->broker, &r->n_broker, &r->cap_broker,
		                  NULL)
		           ? KETEN_OK
		           : KETEN_E_NOMEM;
	}
	if (m == NULL)
		return refuse(a, KETEN_E_FIELD, "not a member of region %s",
		              r->region);
	if (c->action == ROSTER_REVOKE) {
		struct roster_keyset *k = NULL;
		for (size_t i = 0; i < m->pub.n_keysets; i++)
			if (memcmp(m->ks[i]->keys.sign, c->keys.sign, 32) == 0)
				k = m->ks[i];
		if (k == NULL)
			return refuse(a, KETEN_E_FIELD,
			              "keys.sign was never its signing key");
		if (k->revoked_seq != 0)
			return refuse(a, KETEN_E_FIELD,
			              "that key was already revoked at record "
			              "%llu",
			              (unsigned long long)k->revoked_seq);
		undo_save(&a->u, k, sizeof(*k));
		k->revoked_seq = a->seq;
		k->compromised_at_us = c->compromised_at_us;
		snprintf(k->reason, sizeof(k->reason), "%s", c->reason);
		return KETEN_OK;
	}
	if (!m->pub.member)
		return refuse(
		    a, KETEN_E_FIELD, "not a member: it left at record %llu",
		    (unsigned long long)m->periods[m->pub.n_periods - 1]
		        ->leave_seq);
	switch (c->action) {
	case ROSTER_ROTATE:
		if (cur->revoked_seq != 0)
			return refuse(a, KETEN_E_FIELD,
			              "its key in force was revoked at record "
			              "%llu and cannot vouch: rekey instead",
			              (unsigned long long)cur->revoked_seq);
		if ((rc = rotation_check(a, c->agency, cur->keys.sign)) !=
		        KETEN_OK ||
		    (rc = key_fresh(a, c->keys.sign)) != KETEN_OK)
			return rc;
		return member_rekey(a, m);
	case ROSTER_REKEY:
		if (cur->revoked_seq == 0)
			return refuse(a, KETEN_E_FIELD,
			              "its key in force is not revoked: rotate "
			              "with a statement instead");
		if ((rc = key_fresh(a, c->keys.sign)) != KETEN_OK)
			return rc;
		return member_rekey(a, m);
	case ROSTER_LEAVE: {
		struct roster_period *p = m->periods[m->pub.n_periods - 1];
		undo_save(&a->u, &m->pub, sizeof(m->pub));
		undo_save(&a->u, p, sizeof(*p));
		m->pub.member = false;
		p->leave_seq = a->seq;
		return KETEN_OK;
	}
	case ROSTER_RENAME: {
		struct keyset *k = (struct keyset *)cur;
		if (strcmp(m->pub.now.name, c->name) == 0)
			return refuse(a, KETEN_E_FIELD,
			              "the name is unchanged");
		undo_save(&a->u, &m->pub, sizeof(m->pub));
		undo_save(&a->u, &k->view, sizeof(k->view));
		snprintf(m->pub.now.name, sizeof(m->pub.now.name), "%s",
		         c->name);
		memcpy(k->view.name, m->pub.now.name, sizeof(k->view.name));
		return KETEN_OK;
	}
	default:
		return refuse(a, KETEN_E_INTERNAL, "an action the wire let by");
	}
}

/* The record's own checks, before any change: type, signer, region,
 * prev_seq, a broker change where one is needed, and the signature by
 * the key the record's state chooses. */
static int
record_check(struct apply *a, const struct envelope *e,
             const struct wire_roster *w)
{
	struct roster *r = a->r;
	const uint8_t *key = NULL;
	char what[64];

	snprintf(what, sizeof(what), "roster record %llu",
	         (unsigned long long)a->seq);
	if (strcmp(w->region, r->region) != 0)
		return error_set(a->err, KETEN_E_FIELD,
		                 "%s is for region %s, not %s", what, w->region,
		                 r->region);
	if (w->prev_seq != roster_last_seq(r))
		return error_set(a->err, KETEN_E_FIELD,
		                 "%s names %llu as the previous roster record; "
		                 "it is %llu",
		                 what, (unsigned long long)w->prev_seq,
		                 (unsigned long long)roster_last_seq(r));
	for (size_t i = 0; i < w->n; i++) {
		if (w->changes[i].action != ROSTER_BROKER)
			continue;
		if (key != NULL)
			return error_set(a->err, KETEN_E_FIELD,
			                 "%s changes the broker key twice",
			                 what);
		key = w->changes[i].keys.sign;
	}
	if (key == NULL && r->n_broker == 0)
		return error_set(a->err, KETEN_E_FIELD,
		                 "%s is the first roster record but names no "
		                 "broker key",
		                 what);
	return record_statement_verify(
	    e, key ? key : r->broker[r->n_broker - 1]->keys.sign, what,
	    key ? "the broker key it introduces" : "the broker key in force",
	    a->err);
}

int
roster_apply(struct roster *r, uint64_t seq, int64_t received_at_us,
             const uint8_t *env, size_t len, struct keten_error *err)
{
	struct apply a = {
	    .r = r, .seq = seq, .received_at_us = received_at_us, .err = err};
	struct envelope e;
	struct wire_roster w;
	struct keten_error why;
	size_t n_members = r->n_members;
	int rc;

	if (seq == 0 || seq <= roster_last_seq(r) || seq == UINT64_MAX)
		return error_set(
		    err, KETEN_E_USAGE,
		    "roster record %llu is not after the last one, "
		    "%llu",
		    (unsigned long long)seq,
		    (unsigned long long)roster_last_seq(r));
	if (grow((void **)&r->seqs, &r->cap_seqs, r->n_seqs + 1,
	         sizeof(*r->seqs)) != 0)
		return error_set(err, KETEN_E_NOMEM,
		                 "out of memory applying a roster record");
	if ((rc = wire_envelope_decode(&e, env, len, &why)) != KETEN_OK)
		return error_set(err, rc, "roster record %llu: %s",
		                 (unsigned long long)seq, why.message);
	if (e.type != KETEN_MSG_ROSTER || strcmp(e.signer, WIRE_BROKER_ID)) {
		rc = error_set(err,
		               e.type != KETEN_MSG_ROSTER ? KETEN_E_UNKNOWN_TYPE
		                                          : KETEN_E_SIGNER,
		               "record %llu is not a roster record signed as "
		               "'broker'",
		               (unsigned long long)seq);
		wire_envelope_clear(&e);
		return rc;
	}
	if ((rc = wire_roster_decode(&w, e.body, e.body_len, &why)) !=
	    KETEN_OK) {
		wire_envelope_clear(&e);
		return error_set(err, rc, "roster record %llu: %s",
		                 (unsigned long long)seq, why.message);
	}
	rc = record_check(&a, &e, &w);
	for (a.i = 0; rc == KETEN_OK && a.i < w.n; a.i++) {
		a.c = &w.changes[a.i];
		rc = apply_change(&a);
		if (rc == KETEN_OK && a.u.nomem)
			rc = KETEN_E_NOMEM;
	}
	if (rc == KETEN_E_NOMEM)
		error_set(err, rc, "out of memory applying roster record %llu",
		          (unsigned long long)seq);
	/* A member this record added goes with it, and the arrays it grew. */
	for (size_t i = n_members; rc != KETEN_OK && i < r->n_members; i++) {
		free(r->members[i]->ks);
		free(r->members[i]->periods);
	}
	undo_end(&a.u, rc != KETEN_OK);
	/* The undo gave back each member's view as it was, but a key set or
	 * period array grown since lives elsewhere now (the old one freed):
	 * the views point at the arrays as they are. */
	for (size_t i = 0; rc != KETEN_OK && i < r->n_members; i++) {
		r->members[i]->pub.keysets = r->members[i]->ks;
		r->members[i]->pub.periods = r->members[i]->periods;
	}
	if (rc == KETEN_OK)
		r->seqs[r->n_seqs++] = seq;
	wire_roster_clear(&w);
	wire_envelope_clear(&e);
	return rc;
}

/* ---- making statements ---- */

/* An envelope of type, signer, body, its PAE signed through sign. */
static int
statement_make(uint8_t **out, size_t *len, enum keten_message_type type,
               const char *signer, const uint8_t *body, size_t body_len,
               roster_sign_fn sign, void *arg, struct keten_error *err)
{
	struct envelope e = {.version = WIRE_VERSION,
	                     .type = type,
	                     .body = body,
	                     .body_len = body_len};
	size_t n = envelope_pae_len(body_len);
	uint8_t *pae = malloc(n);
	int rc;

	*out = NULL;
	*len = 0;
	if (pae == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory signing");
	envelope_pae(pae, WIRE_VERSION, type, body, body_len);
	rc = sign(arg, e.signature, pae, n);
	free(pae);
	if (rc != KETEN_OK)
		return error_set(err, rc,
		                 "the roster statement could not be "
		                 "signed");
	snprintf(e.signer, sizeof(e.signer), "%s", signer);
	if ((rc = wire_envelope_encode(out, len, &e)) != KETEN_OK)
		return error_set(err, rc, "out of memory encoding a statement");
	return KETEN_OK;
}

static int
sign_with_sk(void *arg, uint8_t sig[64], const uint8_t *m, size_t mlen)
{
	return crypto_sign_detached(sig, NULL, m, mlen, arg) == 0
	           ? KETEN_OK
	           : KETEN_E_INTERNAL;
}

int
roster_rotation_sign(uint8_t **out, size_t *len, const char *region,
                     const char *agency, const uint8_t old_sign_sk[64],
                     const struct roster_keys *new_keys, int64_t made_at_us,
                     struct keten_error *err)
{
	struct wire_rotation rot = {.made_at_us = made_at_us};
	uint8_t *body;
	size_t body_len;
	int rc;

	*out = NULL;
	*len = 0;
	if (!text_valid_id(region) || !text_valid_id(agency))
		return error_set(
		    err, KETEN_E_USAGE,
		    "a rotation statement needs a valid region and "
		    "agency id");
	snprintf(rot.region, sizeof(rot.region), "%s", region);
	snprintf(rot.agency, sizeof(rot.agency), "%s", agency);
	rot.keys = *new_keys;
	if ((rc = wire_rotation_encode(&body, &body_len, &rot)) != KETEN_OK)
		return error_set(err, rc, "out of memory encoding a rotation");
	rc =
	    statement_make(out, len, KETEN_MSG_ROTATION, agency, body, body_len,
	                   sign_with_sk, (void *)(uintptr_t)old_sign_sk, err);
	free(body);
	return rc;
}

int
roster_record_encode(uint8_t **env, size_t *len, const char *region,
                     uint64_t prev_seq, const struct roster_change *c, size_t n,
                     roster_sign_fn sign, void *sign_arg,
                     struct keten_error *err)
{
	uint8_t *body;
	size_t body_len;
	int rc;

	*env = NULL;
	*len = 0;
	if (n == 0 || n > WIRE_ROSTER_CHANGES_MAX || !text_valid_id(region))
		return error_set(err, KETEN_E_USAGE,
		                 "a roster record has a region and 1 to %d "
		                 "changes, not %zu",
		                 WIRE_ROSTER_CHANGES_MAX, n);
	if ((rc = wire_roster_encode(&body, &body_len, region, prev_seq, c,
	                             n)) != KETEN_OK)
		return error_set(err, rc,
		                 "the roster record could not be "
		                 "encoded");
	rc = statement_make(env, len, KETEN_MSG_ROSTER, WIRE_BROKER_ID, body,
	                    body_len, sign, sign_arg, err);
	free(body);
	return rc;
}
