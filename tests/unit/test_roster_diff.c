/*
 * roster_diff: a region config against a roster folded from real roster
 * records. Each diff is encoded and applied with roster_apply, the rules'
 * one judge, and a second diff after it must find nothing left to do.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "config.h"
#include "roster.h"
#include "roster_diff.h"

#define REGION "flevoland"
#define PATH   "/etc/keten/flevoland.yaml"
#define T0     1796461200000000LL /* 2026-12-05T09:00:00Z */

/* A throw-away key set: Ed25519 sign, random box and transport keys. */
struct kp {
	uint8_t pk[32], sk[64], box[32], transport[32];
};

static struct keten_error err;
static struct config cfg;
static struct agency agencies[8];
static struct revocation revoked[4];
static struct roster *ros;
static uint64_t next_seq = 1;
static const struct kp *broker_now; /* signs the next roster record */

static void
kp_make(struct kp *k)
{
	crypto_sign_keypair(k->pk, k->sk);
	randombytes_buf(k->box, sizeof(k->box));
	randombytes_buf(k->transport, sizeof(k->transport));
}

static void
kp_keys(struct roster_keys *out, const struct kp *k, int broker)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->sign, k->pk, 32);
	if (!broker)
		memcpy(out->box, k->box, 32);
	memcpy(out->transport, k->transport, 32);
}

static int
sign_cb(void *arg, uint8_t sig[64], const uint8_t *msg, size_t mlen)
{
	const struct kp *k = arg;

	return crypto_sign_detached(sig, NULL, msg, mlen, k->sk) == 0
	           ? KETEN_OK
	           : KETEN_E_INTERNAL;
}

/* agencies[i] of the config: keys k, defined on line 10 * (i + 1). */
static void
set_agency(size_t i, const char *id, const char *name, enum keten_kind kind,
           const struct kp *k)
{
	struct agency *a = &agencies[i];

	memset(a, 0, sizeof(*a));
	snprintf(a->id, sizeof(a->id), "%s", id);
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->kind = kind;
	memcpy(a->sign_pk, k->pk, 32);
	memcpy(a->box_pk, k->box, 32);
	memcpy(a->curve_pk, k->transport, 32);
	a->line = 10 * ((int)i + 1);
	if (i >= cfg.n_agencies)
		cfg.n_agencies = i + 1;
}

static void
set_agency_keys(size_t i, const struct kp *k)
{
	memcpy(agencies[i].sign_pk, k->pk, 32);
	memcpy(agencies[i].box_pk, k->box, 32);
	memcpy(agencies[i].curve_pk, k->transport, 32);
}

static void
set_broker(const struct kp *k)
{
	memcpy(cfg.broker_sign_pk, k->pk, 32);
	memcpy(cfg.broker_curve_pk, k->transport, 32);
}

/* A rotation statement by old for agency's new keys (malloc'd). */
static uint8_t *
statement(size_t *len, const char *agency, const struct kp *old,
          const struct kp *new_kp)
{
	struct roster_keys keys;
	uint8_t *st = NULL;

	kp_keys(&keys, new_kp, strcmp(agency, "broker") == 0);
	CHECK_INT(roster_rotation_sign(&st, len, REGION, agency, old->sk, &keys,
	                               T0, &err),
	          KETEN_OK);
	return st;
}

/* Encodes changes as the next roster record, signed by broker_now, and
 * applies it: roster_apply's code. */
static int
apply(const struct roster_change *ch, size_t n)
{
	uint8_t *env = NULL;
	size_t len = 0;
	int rc;

	rc = roster_record_encode(&env, &len, REGION, roster_last_seq(ros), ch,
	                          n, sign_cb, (void *)broker_now, &err);
	CHECK_INT(rc, KETEN_OK);
	if (rc != KETEN_OK)
		return rc;
	rc =
	    roster_apply(ros, next_seq, T0 + (int64_t)next_seq, env, len, &err);
	if (rc == KETEN_OK)
		next_seq++;
	free(env);
	return rc;
}

/* Diffs, checks the actions (in order, 0-terminated) and, if apply_it,
 * records them and checks that a second diff finds nothing. */
static void
diff_expect(const enum roster_action *want, int apply_it)
{
	struct roster_change *ch = NULL;
	size_t n = 0, k = 0;
	int rc = roster_diff(&ch, &n, ros, &cfg, &err);

	CHECK_INT(rc, KETEN_OK);
	if (rc != KETEN_OK)
		fprintf(stderr, "  %s\n", err.message);
	while (want[k] != 0)
		k++;
	CHECK_INT(n, k);
	for (size_t i = 0; i < n && i < k; i++)
		CHECK_INT(ch[i].action, want[i]);
	if (apply_it && n > 0) {
		rc = apply(ch, n);
		CHECK_INT(rc, KETEN_OK);
		if (rc != KETEN_OK)
			fprintf(stderr, "  %s\n", err.message);
		roster_changes_free(ch, n);
		ch = NULL;
		CHECK_INT(roster_diff(&ch, &n, ros, &cfg, &err), KETEN_OK);
		CHECK_INT(n, 0); /* idempotent: nothing left to record */
		CHECK(ch == NULL);
	}
	roster_changes_free(ch, n);
}

/* A refused diff: KETEN_E_CONFIG, a sentence with each of the parts. */
static void
diff_refused(const char *where, const char *who, const char *what)
{
	struct roster_change *ch = NULL;
	size_t n = 7;

	CHECK_INT(roster_diff(&ch, &n, ros, &cfg, &err), KETEN_E_CONFIG);
	CHECK(ch == NULL);
	CHECK_INT(n, 0);
	CHECK_STR_HAS(err.message, where);
	CHECK_STR_HAS(err.message, who);
	CHECK_STR_HAS(err.message, what);
	if (getenv("KETEN_TEST_VERBOSE"))
		printf("refused: %s\n", err.message);
}

static struct kp b0, b1, b2, a0, a1, v0, v1, g0, u0, u1, stray;

static void
test_first_and_no_change(void)
{
	static const enum roster_action first[] = {ROSTER_BROKER, ROSTER_JOIN,
	                                           ROSTER_JOIN, ROSTER_JOIN, 0};
	static const enum roster_action none[] = {0};
	struct roster_change *ch = NULL;
	size_t n = 0;

	/* an empty roster: the broker's keys, then every agency in order */
	CHECK_INT(roster_diff(&ch, &n, ros, &cfg, &err), KETEN_OK);
	CHECK_INT(n, 4);
	if (n == 4) {
		CHECK(ch[0].rotation == NULL && ch[0].agency[0] == '\0');
		CHECK(memcmp(ch[0].keys.sign, b0.pk, 32) == 0);
		CHECK(memcmp(ch[0].keys.transport, b0.transport, 32) == 0);
		CHECK(strcmp(ch[1].agency, "lt-almere") == 0);
		CHECK(strcmp(ch[2].agency, "vt-flevoland") == 0);
		CHECK(strcmp(ch[3].agency, "gi-save") == 0);
		CHECK_INT(ch[2].kind, KETEN_KIND_VEILIG_THUIS);
		CHECK(strcmp(ch[2].name, "Veilig Thuis Flevoland") == 0);
		CHECK(memcmp(ch[2].keys.box, v0.box, 32) == 0);
	}
	roster_changes_free(ch, n);
	diff_expect(first, 1);
	/* the same config again: nothing */
	diff_expect(none, 0);
}

static void
test_join_rename_leave(void)
{
	static const enum roster_action join[] = {ROSTER_JOIN, 0};
	static const enum roster_action rename[] = {ROSTER_RENAME, 0};
	static const enum roster_action leave[] = {ROSTER_LEAVE, 0};
	static const enum roster_action leave_join[] = {ROSTER_LEAVE,
	                                                ROSTER_JOIN, 0};

	set_agency(3, "lt-urk", "Lokaal team Urk", KETEN_KIND_LOCAL_TEAM, &u0);
	diff_expect(join, 1);
	snprintf(agencies[1].name, sizeof(agencies[1].name), "VT Flevoland");
	diff_expect(rename, 1);
	/* gi-save leaves: lt-urk takes its place in the config's list */
	agencies[2] = agencies[3];
	cfg.n_agencies = 3;
	diff_expect(leave, 1);
	CHECK(!roster_member_find(ros, "gi-save")->member);
	/* it may not come back with its old keys (a key is never reused) */
	set_agency(3, "gi-save", "GI Save", KETEN_KIND_GI, &g0);
	diff_refused(PATH ":40", "gi-save", "never used twice");
	/* a new id with new keys joins while another leaves: LEAVE first */
	cfg.n_agencies = 2;
	set_agency(2, "gi-nieuw", "GI Nieuw", KETEN_KIND_GI, &stray);
	diff_expect(leave_join, 0);
	set_agency(2, "lt-urk", "Lokaal team Urk", KETEN_KIND_LOCAL_TEAM, &u0);
	cfg.n_agencies = 3;
}

static void
test_rotate(void)
{
	static const enum roster_action rotate[] = {ROSTER_ROTATE, 0};
	struct roster_change *ch = NULL;
	size_t n = 0, len = 0;
	uint64_t before;
	uint8_t *st;

	/* new keys, no statement: refused, telling what to run */
	set_agency_keys(0, &a1);
	diff_refused(PATH ":10", "lt-almere", "keten keygen --rotate");
	/* a box key changed alone: refused (keys change together) */
	memcpy(agencies[0].sign_pk, a0.pk, 32);
	diff_refused(PATH ":10", "lt-almere", "change together");
	/* with the old key's statement: ROTATE, and the statement stays in
	 * the config afterwards without being recorded again */
	set_agency_keys(0, &a1);
	st = statement(&len, "lt-almere", &a0, &a1);
	agencies[0].rotation = st;
	agencies[0].rotation_len = len;
	CHECK_INT(roster_diff(&ch, &n, ros, &cfg, &err), KETEN_OK);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK(ch[0].rotation == st && ch[0].rotation_len == len);
		CHECK(memcmp(ch[0].keys.sign, a1.pk, 32) == 0);
	}
	roster_changes_free(ch, n);
	diff_expect(rotate, 1);
	CHECK(memcmp(roster_member_find(ros, "lt-almere")->now.sign_pk, a1.pk,
	             32) == 0);

	/* lt-urk rotates with a statement signed by the wrong key: the diff
	 * refuses it, naming the config's line (roster_rotation_verify, the
	 * rule roster_apply holds the record to); nothing changes */
	set_agency_keys(2, &u1);
	agencies[2].rotation =
	    statement(&agencies[2].rotation_len, "lt-urk", &a1, &u1);
	agencies[2].rotation_line = 42;
	before = roster_last_seq(ros);
	CHECK_INT(roster_diff(&ch, &n, ros, &cfg, &err), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, ":42: lt-urk's rotation: ");
	CHECK_STR_HAS(err.message, "does not verify");
	CHECK_INT(roster_last_seq(ros), before);
	free(agencies[2].rotation);
	agencies[2].rotation = NULL;
	agencies[2].rotation_len = 0;
	set_agency_keys(2, &u0);
}

static void
test_revoke(void)
{
	static const enum roster_action revoke_rekey[] = {ROSTER_REVOKE,
	                                                  ROSTER_REKEY, 0};
	struct roster_change *ch = NULL;
	size_t n = 0;

	/* vt-flevoland's key is stolen: revoked and replaced in one config;
	 * no statement (the stolen key cannot vouch) */
	memset(&revoked[0], 0, sizeof(revoked[0]));
	snprintf(revoked[0].agency, sizeof(revoked[0].agency), "vt-flevoland");
	memcpy(revoked[0].sign_pk, v0.pk, 32);
	revoked[0].compromised_at_us = T0;
	snprintf(revoked[0].reason, sizeof(revoked[0].reason), "laptop stolen");
	revoked[0].line = 50;
	cfg.n_revoked = 1;
	set_agency_keys(1, &v1);
	CHECK_INT(roster_diff(&ch, &n, ros, &cfg, &err), KETEN_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK(strcmp(ch[0].agency, "vt-flevoland") == 0);
		CHECK(memcmp(ch[0].keys.sign, v0.pk, 32) == 0);
		CHECK_INT(ch[0].compromised_at_us, T0);
		CHECK(strcmp(ch[0].reason, "laptop stolen") == 0);
		CHECK(ch[1].rotation == NULL);
		CHECK(memcmp(ch[1].keys.sign, v1.pk, 32) == 0);
	}
	roster_changes_free(ch, n);
	diff_expect(revoke_rekey, 1);
	CHECK(roster_keyset_of(ros, "vt-flevoland", v0.pk)->revoked_seq != 0);

	/* a key the agency never had (another agency's): refused */
	memcpy(&revoked[1], &revoked[0], sizeof(revoked[0]));
	memcpy(revoked[1].sign_pk, a1.pk, 32);
	revoked[1].line = 55;
	cfg.n_revoked = 2;
	diff_refused(PATH ":55", "vt-flevoland", "never had");
	/* going back to the revoked keys is refused too */
	cfg.n_revoked = 1;
	set_agency_keys(1, &v0);
	diff_refused(PATH ":20", "vt-flevoland", "never used twice");
	set_agency_keys(1, &v1);
}

/* A first record with a key already revoked: the REVOKE follows the
 * JOINs (it needs a member); a key nobody joins with is refused. Run on a
 * roster of its own, before the others. */
static void
test_first_revoked(void)
{
	static const enum roster_action first[] = {ROSTER_BROKER, ROSTER_JOIN,
	                                           ROSTER_JOIN,   ROSTER_JOIN,
	                                           ROSTER_REVOKE, 0};
	struct roster *main_ros = ros;
	uint64_t main_seq = next_seq;

	CHECK_INT(roster_new(&ros, REGION, &err), KETEN_OK);
	next_seq = 1;
	memset(&revoked[0], 0, sizeof(revoked[0]));
	snprintf(revoked[0].agency, sizeof(revoked[0].agency), "gi-save");
	memcpy(revoked[0].sign_pk, stray.pk, 32);
	revoked[0].line = 70;
	cfg.n_revoked = 1;
	diff_refused(PATH ":70", "gi-save", "never had");
	memcpy(revoked[0].sign_pk, g0.pk, 32);
	diff_expect(first, 1);
	CHECK(roster_keyset_of(ros, "gi-save", g0.pk)->revoked_seq == 1);
	cfg.n_revoked = 0;
	roster_destroy(&ros);
	ros = main_ros;
	next_seq = main_seq;
}

static void
test_kind(void)
{
	agencies[2].kind = KETEN_KIND_GI;
	diff_refused(PATH ":30", "lt-urk", "kind cannot change");
	agencies[2].kind = KETEN_KIND_LOCAL_TEAM;
}

static void
test_broker(void)
{
	static const enum roster_action broker[] = {ROSTER_BROKER, 0};
	static const enum roster_action none[] = {0};
	size_t len = 0;

	/* a new broker key without the old key's statement */
	set_broker(&b1);
	diff_refused(PATH, "broker.rotation", "keten keygen --rotate");
	/* a new transport key alone */
	memcpy(cfg.broker_sign_pk, b0.pk, 32);
	diff_refused(PATH, "broker", "change together");
	/* with the statement: the record is signed by the new key */
	set_broker(&b1);
	cfg.broker_rotation = statement(&len, "broker", &b0, &b1);
	cfg.broker_rotation_len = len;
	cfg.broker_rotation_line = 6;
	broker_now = &b1;
	diff_expect(broker, 1);
	CHECK(memcmp(roster_broker_key_at(ros, UINT64_MAX), b1.pk, 32) == 0);
	CHECK(roster_broker_trusted(ros, b0.pk));
	/* the spent statement does not make a second change */
	diff_expect(none, 0);
	/* the statement for b2 signed by b0 (no longer in force): refused
	 * by the diff, naming the line */
	free(cfg.broker_rotation);
	set_broker(&b2);
	cfg.broker_rotation = statement(&len, "broker", &b0, &b2);
	cfg.broker_rotation_len = len;
	cfg.broker_rotation_line = 7;
	{
		struct roster_change *ch = NULL;
		size_t n = 0;

		broker_now = &b2;
		CHECK_INT(roster_diff(&ch, &n, ros, &cfg, &err),
		          KETEN_E_CONFIG);
		CHECK_STR_HAS(err.message, ":7: broker's rotation: ");
		CHECK_INT(n, 0);
	}
	free(cfg.broker_rotation);
	cfg.broker_rotation = NULL;
	cfg.broker_rotation_len = 0;
	set_broker(&b1);
	broker_now = &b1;
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	kp_make(&b0), kp_make(&b1), kp_make(&b2);
	kp_make(&a0), kp_make(&a1), kp_make(&v0), kp_make(&v1);
	kp_make(&g0), kp_make(&u0), kp_make(&u1), kp_make(&stray);
	snprintf(cfg.path, sizeof(cfg.path), "%s", PATH);
	snprintf(cfg.region, sizeof(cfg.region), "%s", REGION);
	cfg.agencies = agencies;
	cfg.revoked = revoked;
	set_broker(&b0);
	broker_now = &b0;
	set_agency(0, "lt-almere", "Lokaal team Almere", KETEN_KIND_LOCAL_TEAM,
	           &a0);
	set_agency(1, "vt-flevoland", "Veilig Thuis Flevoland",
	           KETEN_KIND_VEILIG_THUIS, &v0);
	set_agency(2, "gi-save", "GI Save", KETEN_KIND_GI, &g0);
	if (roster_new(&ros, REGION, &err) != KETEN_OK) {
		fprintf(stderr, "roster_new: %s\n", err.message);
		return 1;
	}
	test_first_revoked();
	test_first_and_no_change();
	test_join_rename_leave();
	test_rotate();
	test_revoke();
	test_kind();
	test_broker();
	free(agencies[0].rotation);
	roster_destroy(&ros);
	return check_done("test_roster_diff");
}
