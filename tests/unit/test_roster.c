/*
 * roster: a region's roster folded from signed roster records, with real
 * Ed25519 keys. Each rule of docs/PROTOCOL.md 22 is provoked, and every
 * refusal must leave the roster exactly as it was.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "roster.h"

#define REGION "flevoland"

/* A key set and the signing secret that goes with it. */
struct party {
	struct roster_keys k;
	uint8_t sk[64];
};

static void
party_new(struct party *p)
{
	crypto_sign_keypair(p->k.sign, p->sk);
	randombytes_buf(p->k.box, 32);
	randombytes_buf(p->k.transport, 32);
}

static int
sign_sk(void *arg, uint8_t sig[64], const uint8_t *m, size_t mlen)
{
	return crypto_sign_detached(sig, NULL, m, mlen, arg) == 0
	           ? KETEN_OK
	           : KETEN_E_INTERNAL;
}

static struct roster_change
change(enum roster_action action, const char *agency)
{
	struct roster_change c;

	memset(&c, 0, sizeof(c));
	c.action = action;
	strcpy(c.agency, agency);
	return c;
}

static struct roster_change
join(const char *agency, enum keten_kind kind, const char *name,
     const struct party *p)
{
	struct roster_change c = change(ROSTER_JOIN, agency);

	c.kind = kind;
	strcpy(c.name, name);
	c.keys = p->k;
	return c;
}

static struct roster_change
broker(const struct party *p)
{
	struct roster_change c = change(ROSTER_BROKER, "");

	memcpy(c.keys.sign, p->k.sign, 32);
	memcpy(c.keys.transport, p->k.transport, 32);
	return c;
}

/* Applies a record of changes c[0..n) at seq, signed by sk: its code. */
static int
apply(struct roster *r, uint64_t seq, uint64_t prev,
      const struct roster_change *c, size_t n, const uint8_t sk[64],
      struct keten_error *err)
{
	uint8_t *env;
	size_t len;
	int rc;

	CHECK_INT(roster_record_encode(&env, &len, REGION, prev, c, n, sign_sk,
	                               (void *)(uintptr_t)sk, err),
	          KETEN_OK);
	rc = roster_apply(r, seq, 1800000000000000LL, env, len, err);
	free(env);
	return rc;
}

/* A statement by sk for agency's new keys: malloc'd into c. */
static void
vouch(struct roster_change *c, const char *region, const char *agency,
      const uint8_t sk[64])
{
	uint8_t *st;
	size_t n;
	struct keten_error err;

	CHECK_INT(roster_rotation_sign(&st, &n, region, agency, sk, &c->keys,
	                               1700000000000000LL, &err),
	          KETEN_OK);
	c->rotation = st;
	c->rotation_len = n;
}

static const uint8_t *
sign_of(const struct roster *r, const char *id, uint64_t seq)
{
	const struct agency *a = roster_find(r, id, seq, NULL);

	return a ? a->sign_pk : NULL;
}

static bool
is_key(const uint8_t *got, const struct party *p)
{
	return got != NULL && memcmp(got, p->k.sign, 32) == 0;
}

static struct party b1, b2, lt1, lt2, lt3, vt1, vt2, gi1, stranger;
static struct roster *r;

/* Genesis at 10 (a log upgraded from schema 5 has records before it). */
static void
test_genesis(void)
{
	struct roster_change c[3] = {
	    broker(&b1),
	    join("lt-almere", KETEN_KIND_LOCAL_TEAM, "Almere", &lt1),
	    join("vt-flevoland", KETEN_KIND_VEILIG_THUIS, "VT", &vt1)};
	struct keten_error err;
	const uint64_t *seqs;

	/* The first record must name the broker key. */
	CHECK_INT(apply(r, 10, 0, c + 1, 2, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "names no broker key");
	CHECK_INT(roster_last_seq(r), 0);
	/* Signed by another key than the one it names. */
	CHECK_INT(apply(r, 10, 0, c, 3, stranger.sk, &err), KETEN_E_BADSIG);
	CHECK_INT(roster_members(r), 0);

	CHECK_INT(apply(r, 10, 0, c, 3, b1.sk, &err), KETEN_OK);
	CHECK_INT(roster_last_seq(r), 10);
	CHECK_INT(roster_records(r, &seqs), 1);
	CHECK(seqs[0] == 10);
	CHECK_INT(roster_members(r), 2);
	CHECK(is_key(sign_of(r, "lt-almere", 11), &lt1));
	/* A record before the first roster record: the state after it. */
	CHECK(is_key(sign_of(r, "lt-almere", 3), &lt1));
	CHECK(is_key(sign_of(r, "vt-flevoland", 10), &vt1));
	CHECK(is_key(roster_broker_key_at(r, 3), &b1));
	CHECK(is_key(roster_broker_key_for_size(r, 2), &b1));
	CHECK(strcmp(roster_find(r, "lt-almere", 11, NULL)->name, "Almere") ==
	      0);
	CHECK_INT(roster_find(r, "lt-almere", 11, NULL)->kind,
	          KETEN_KIND_LOCAL_TEAM);
	CHECK(roster_find(r, "gi-nowhere", 11, &err) == NULL);
	CHECK_INT(err.code, KETEN_E_SIGNER);
	CHECK_STR_HAS(err.message, "never been a member");
	/* Not after the last roster record. */
	CHECK_INT(apply(r, 10, 10, c + 1, 1, b1.sk, &err), KETEN_E_USAGE);
}

static void
test_join(void)
{
	struct roster_change c =
	    join("gi-flevoland", KETEN_KIND_GI, "GI", &gi1);
	struct roster_change dup = join("gi-other", KETEN_KIND_GI, "GI", &lt1);
	struct keten_error err;

	/* prev_seq must name the last roster record. */
	CHECK_INT(apply(r, 20, 9, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "previous roster record");
	/* A key is never used twice. */
	CHECK_INT(apply(r, 20, 10, &dup, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "never used twice");
	/* Not the broker's name, and not a member twice. */
	c = join("broker", KETEN_KIND_GI, "GI", &gi1);
	CHECK_INT(apply(r, 20, 10, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "reserved");
	c = join("lt-almere", KETEN_KIND_LOCAL_TEAM, "Almere", &gi1);
	CHECK_INT(apply(r, 20, 10, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "already a member");

	c = join("gi-flevoland", KETEN_KIND_GI, "GI", &gi1);
	CHECK_INT(apply(r, 20, 10, &c, 1, b1.sk, &err), KETEN_OK);
	CHECK(roster_find(r, "gi-flevoland", 15, &err) == NULL);
	CHECK_STR_HAS(err.message, "joins at record 20");
	CHECK(roster_find(r, "gi-flevoland", 20, NULL) == NULL);
	CHECK(is_key(sign_of(r, "gi-flevoland", 21), &gi1));
}

static void
test_rotate(void)
{
	struct roster_change c = change(ROSTER_ROTATE, "lt-almere");
	struct keten_error err;
	const struct roster_keyset *ks;

	c.keys = lt2.k;
	/* Without a statement; by the wrong key; for another agency, another
	 * region; for other keys. */
	CHECK_INT(apply(r, 30, 20, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "change 0 (rotate lt-almere)");
	vouch(&c, REGION, "lt-almere", stranger.sk);
	CHECK_INT(apply(r, 30, 20, &c, 1, b1.sk, &err), KETEN_E_BADSIG);
	free((void *)c.rotation);
	vouch(&c, REGION, "vt-flevoland", vt1.sk);
	CHECK_INT(apply(r, 30, 20, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "signed as lt-almere");
	free((void *)c.rotation);
	vouch(&c, "utrecht", "lt-almere", lt1.sk);
	CHECK_INT(apply(r, 30, 20, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "region utrecht");
	free((void *)c.rotation);
	c.keys = lt3.k;
	vouch(&c, REGION, "lt-almere", lt1.sk);
	c.keys = lt2.k;
	CHECK_INT(apply(r, 30, 20, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "other keys");
	free((void *)c.rotation);
	CHECK_INT(roster_last_seq(r), 20);
	CHECK(is_key(sign_of(r, "lt-almere", 31), &lt1));

	vouch(&c, REGION, "lt-almere", lt1.sk);
	CHECK_INT(apply(r, 30, 20, &c, 1, b1.sk, &err), KETEN_OK);
	free((void *)c.rotation);
	CHECK(is_key(sign_of(r, "lt-almere", 25), &lt1));
	CHECK(is_key(sign_of(r, "lt-almere", 31), &lt2));
	CHECK(memcmp(roster_find(r, "lt-almere", 31, NULL)->box_pk, lt2.k.box,
	             32) == 0);
	ks = roster_keyset_of(r, "lt-almere", lt1.k.sign);
	CHECK(ks != NULL && ks->from_seq == 10 && ks->until_seq == 30);
	ks = roster_keyset_of(r, "lt-almere", lt2.k.sign);
	CHECK(ks != NULL && ks->from_seq == 30 && ks->until_seq == 0);
	CHECK(roster_keyset_of(r, "vt-flevoland", lt2.k.sign) == NULL);
}

static void
test_revoke(void)
{
	struct roster_change c = change(ROSTER_REVOKE, "lt-almere");
	struct roster_change rot = change(ROSTER_ROTATE, "lt-almere");
	struct keten_error err;
	const struct roster_keyset *ks;

	memcpy(c.keys.sign, stranger.k.sign, 32);
	c.compromised_at_us = 1750000000000000LL;
	strcpy(c.reason, "laptop stolen");
	CHECK_INT(apply(r, 40, 30, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "never its signing key");
	memcpy(c.keys.sign, lt2.k.sign, 32);
	CHECK_INT(apply(r, 40, 30, &c, 1, b1.sk, &err), KETEN_OK);
	CHECK(roster_find(r, "lt-almere", 41, &err) == NULL);
	CHECK_STR_HAS(err.message, "revoked at record 40");
	CHECK(is_key(sign_of(r, "lt-almere", 39), &lt2));
	ks = roster_keyset_of(r, "lt-almere", lt2.k.sign);
	CHECK(ks != NULL && ks->revoked_seq == 40 &&
	      ks->compromised_at_us == 1750000000000000LL &&
	      strcmp(ks->reason, "laptop stolen") == 0);
	/* Not twice; and a revoked key cannot vouch for its successor. */
	CHECK_INT(apply(r, 45, 40, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "already revoked");
	rot.keys = lt3.k;
	vouch(&rot, REGION, "lt-almere", lt2.sk);
	CHECK_INT(apply(r, 45, 40, &rot, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "rekey instead");
	free((void *)rot.rotation);

	c = change(ROSTER_REKEY, "lt-almere");
	c.keys = lt3.k;
	CHECK_INT(apply(r, 50, 40, &c, 1, b1.sk, &err), KETEN_OK);
	CHECK(is_key(sign_of(r, "lt-almere", 51), &lt3));
	CHECK(roster_find(r, "lt-almere", 45, NULL) == NULL);
	/* A rekey needs a revoked key in force. */
	c = change(ROSTER_REKEY, "vt-flevoland");
	c.keys = vt2.k;
	CHECK_INT(apply(r, 55, 50, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "not revoked");
}

static void
test_leave_rejoin_rename(void)
{
	struct roster_change c = change(ROSTER_LEAVE, "vt-flevoland");
	struct keten_error err;

	CHECK_INT(apply(r, 60, 50, &c, 1, b1.sk, &err), KETEN_OK);
	CHECK(roster_find(r, "vt-flevoland", 61, &err) == NULL);
	CHECK_STR_HAS(err.message, "left the region at record 60");
	CHECK(is_key(sign_of(r, "vt-flevoland", 59), &vt1));
	CHECK(!roster_member_find(r, "vt-flevoland")->member);
	CHECK_INT(apply(r, 65, 60, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "left at record 60");
	/* Back under the same id, never as another kind. */
	c = join("vt-flevoland", KETEN_KIND_GI, "VT", &vt2);
	CHECK_INT(apply(r, 70, 60, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "kind never changes");
	c = join("vt-flevoland", KETEN_KIND_VEILIG_THUIS, "VT", &vt2);
	CHECK_INT(apply(r, 70, 60, &c, 1, b1.sk, &err), KETEN_OK);
	CHECK(roster_find(r, "vt-flevoland", 65, NULL) == NULL);
	CHECK(is_key(sign_of(r, "vt-flevoland", 71), &vt2));
	CHECK(is_key(sign_of(r, "vt-flevoland", 55), &vt1));
	CHECK_INT(roster_member_find(r, "vt-flevoland")->n_periods, 2);

	c = change(ROSTER_RENAME, "lt-almere");
	strcpy(c.name, "Almere");
	CHECK_INT(apply(r, 80, 70, &c, 1, b1.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "unchanged");
	strcpy(c.name, "Lokaal team Almere");
	CHECK_INT(apply(r, 80, 70, &c, 1, b1.sk, &err), KETEN_OK);
	CHECK(strcmp(roster_find(r, "lt-almere", 81, NULL)->name,
	             "Lokaal team Almere") == 0);
}

static void
test_broker(void)
{
	struct roster_change c = broker(&b2);
	struct roster_change j = join("raad-x", KETEN_KIND_RAAD, "Raad", &gi1);
	struct keten_error err;
	uint8_t nobody[32];

	/* Not the first record: a new broker key needs a statement. */
	CHECK_INT(apply(r, 90, 80, &c, 1, b2.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "rotation statement");
	vouch(&c, REGION, "broker", stranger.sk);
	CHECK_INT(apply(r, 90, 80, &c, 1, b2.sk, &err), KETEN_E_BADSIG);
	free((void *)c.rotation);
	vouch(&c, REGION, "broker", b1.sk);
	/* The record itself is signed by the key it introduces. */
	CHECK_INT(apply(r, 90, 80, &c, 1, b1.sk, &err), KETEN_E_BADSIG);
	CHECK(is_key(roster_broker_key_at(r, 95), &b1));
	CHECK_INT(apply(r, 90, 80, &c, 1, b2.sk, &err), KETEN_OK);
	free((void *)c.rotation);
	CHECK(is_key(roster_broker_key_at(r, 89), &b1));
	CHECK(is_key(roster_broker_key_at(r, 90), &b2));
	CHECK(is_key(roster_broker_key_for_size(r, 89), &b1));
	CHECK(is_key(roster_broker_key_for_size(r, 95), &b2));
	CHECK(roster_broker_trusted(r, b1.k.sign));
	CHECK(roster_broker_trusted(r, b2.k.sign));
	randombytes_buf(nobody, sizeof(nobody));
	CHECK(!roster_broker_trusted(r, nobody));
	/* From now on the old key signs nothing. */
	j = join("raad-x", KETEN_KIND_RAAD, "Raad", &stranger);
	CHECK_INT(apply(r, 100, 90, &j, 1, b1.sk, &err), KETEN_E_BADSIG);
}

/* A record whose second change is refused: the first must not stay. */
static void
test_all_or_nothing(void)
{
	struct party p;
	struct roster_change c[3];
	struct keten_error err;
	size_t members = roster_members(r);

	party_new(&p);
	c[0] = join("raad-x", KETEN_KIND_RAAD, "Raad", &p);
	c[1] = change(ROSTER_LEAVE, "lt-almere");
	c[2] = change(ROSTER_RENAME, "gi-flevoland");
	strcpy(c[2].name, "GI"); /* unchanged: refused */
	CHECK_INT(apply(r, 100, 90, c, 3, b2.sk, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "roster record 100, change 2 (rename "
	                           "gi-flevoland)");
	CHECK_INT(roster_members(r), members);
	CHECK(roster_member_find(r, "raad-x") == NULL);
	CHECK(roster_member_find(r, "lt-almere")->member);
	CHECK(is_key(sign_of(r, "lt-almere", 101), &lt3));
	CHECK_INT(roster_last_seq(r), 90);
	/* The same key may join now: the refused record never used it. */
	CHECK_INT(apply(r, 100, 90, c, 2, b2.sk, &err), KETEN_OK);
	CHECK(is_key(sign_of(r, "raad-x", 101), &p));
	CHECK(roster_find(r, "lt-almere", 101, NULL) == NULL);
}

/* The door: an agency's record opens through the roster at its seq, and
 * a roster envelope is never an agency's message. */
static void
test_door(void)
{
	struct record_roster door = roster_record_roster(r);
	struct roster_change c = change(ROSTER_LEAVE, "gi-flevoland");
	struct signed_record o;
	struct keten_error err;
	uint8_t *env;
	size_t len;

	CHECK_INT(roster_record_encode(&env, &len, REGION, 100, &c, 1, sign_sk,
	                               b2.sk, &err),
	          KETEN_OK);
	CHECK_INT(record_open(&o, &door, RECORD_SEQ_NOW, env, len,
	                      RECORD_SIG_CHECK, &err),
	          KETEN_E_UNKNOWN_TYPE);
	CHECK_STR_HAS(err.message, "agencies cannot send one");
	/* Neither a rotation envelope, nor one for another region. */
	CHECK_INT(roster_apply(r, 110, 0, env, len, &err), KETEN_OK);
	free(env);
	c.keys = lt3.k;
	vouch(&c, REGION, "lt-almere", lt3.sk);
	CHECK_INT(roster_apply(r, 120, 0, c.rotation, c.rotation_len, &err),
	          KETEN_E_UNKNOWN_TYPE);
	free((void *)c.rotation);
	c = change(ROSTER_LEAVE, "raad-x");
	CHECK_INT(roster_record_encode(&env, &len, "utrecht", 110, &c, 1,
	                               sign_sk, b2.sk, &err),
	          KETEN_OK);
	CHECK_INT(roster_apply(r, 120, 0, env, len, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "region utrecht");
	free(env);
	CHECK(roster_find(r, "gi-flevoland", 111, NULL) == NULL);
	CHECK(roster_find(r, "gi-flevoland", 110, NULL) != NULL);
}

/* A body must be exactly what packing its values gives (PROTOCOL.md
 * 22.2): fields in order, no unknown field anywhere. The canonical one
 * may be refused for its content, never as malformed. */
static void
test_canonical(void)
{
	static const uint8_t ok[] = {0x0a, 0x01, 'r',  0x10, 0x05,
	                             0x1a, 0x02, 0x08, 0x05};
	static const uint8_t reordered[] = {0x10, 0x05, 0x0a, 0x01, 'r',
	                                    0x1a, 0x02, 0x08, 0x05};
	static const uint8_t unknown[] = {0x0a, 0x01, 'r',  0x10, 0x05, 0x1a,
	                                  0x02, 0x08, 0x05, 0x48, 0x01};
	static const uint8_t unknown_inner[] = {
	    0x0a, 0x01, 'r', 0x10, 0x05, 0x1a, 0x04, 0x08, 0x05, 0x48, 0x01};
	static const uint8_t default_written[] = {0x0a, 0x01, 'r',  0x10, 0x00,
	                                          0x1a, 0x02, 0x08, 0x05};
	struct wire_roster wr;
	struct keten_error err;

	CHECK(wire_roster_decode(&wr, ok, sizeof(ok), &err) !=
	      KETEN_E_MALFORMED);
	wire_roster_clear(&wr);
	CHECK_INT(wire_roster_decode(&wr, reordered, sizeof(reordered), &err),
	          KETEN_E_MALFORMED);
	CHECK_INT(wire_roster_decode(&wr, unknown, sizeof(unknown), &err),
	          KETEN_E_MALFORMED);
	CHECK_INT(
	    wire_roster_decode(&wr, unknown_inner, sizeof(unknown_inner), &err),
	    KETEN_E_MALFORMED);
	CHECK_INT(wire_roster_decode(&wr, default_written,
	                             sizeof(default_written), &err),
	          KETEN_E_MALFORMED);
}

/* A refused record that grew a member's key set array (its fifth key
 * set) leaves the member's view on the array as it is, not on the one
 * the growth freed (a review found the view restored to the freed one;
 * ASan reads it). */
static void
test_refused_growth(void)
{
	struct roster *g;
	struct party b, a[5];
	struct roster_change c[3];
	const struct roster_member *m;
	struct keten_error err;
	uint64_t seq = 1;

	party_new(&b);
	for (int i = 0; i < 5; i++)
		party_new(&a[i]);
	CHECK_INT(roster_new(&g, REGION, &err), KETEN_OK);
	c[0] = broker(&b);
	c[1] = join("lt-almere", KETEN_KIND_LOCAL_TEAM, "A", &a[0]);
	CHECK_INT(apply(g, seq, 0, c, 2, b.sk, &err), KETEN_OK);
	for (int i = 1; i < 5; i++) {
		c[0] = change(ROSTER_REVOKE, "lt-almere");
		memcpy(c[0].keys.sign, a[i - 1].k.sign, 32);
		c[0].compromised_at_us = 1;
		strcpy(c[0].reason, "lost");
		c[1] = change(ROSTER_REKEY, "lt-almere");
		c[1].keys = a[i].k;
		c[2] = change(ROSTER_LEAVE, "lt-nobody"); /* refused */
		CHECK_INT(apply(g, seq + 1, seq, c, i == 4 ? 3 : 2, b.sk, &err),
		          i == 4 ? KETEN_E_FIELD : KETEN_OK);
		if (i < 4)
			seq++;
	}
	m = roster_member_find(g, "lt-almere");
	CHECK(m != NULL && m->n_keysets == 4);
	for (size_t i = 0; m != NULL && i < m->n_keysets; i++)
		CHECK(memcmp(m->keysets[i]->keys.sign, a[i].k.sign, 32) == 0);
	CHECK(is_key(sign_of(g, "lt-almere", UINT64_MAX), &a[3]));
	roster_destroy(&g);
}

int
main(void)
{
	struct keten_error err;

	if (sodium_init() < 0)
		return 1;
	party_new(&b1);
	party_new(&b2);
	party_new(&lt1);
	party_new(&lt2);
	party_new(&lt3);
	party_new(&vt1);
	party_new(&vt2);
	party_new(&gi1);
	party_new(&stranger);
	CHECK_INT(roster_new(&r, REGION, &err), KETEN_OK);
	CHECK(roster_last_seq(r) == 0);
	CHECK(roster_broker_key_at(r, 1) == NULL);
	test_genesis();
	test_join();
	test_rotate();
	test_revoke();
	test_leave_rejoin_rename();
	test_broker();
	test_all_or_nothing();
	test_door();
	test_canonical();
	test_refused_growth();
	roster_destroy(&r);
	CHECK(r == NULL);
	roster_destroy(&r);
	return check_done("test_roster");
}
