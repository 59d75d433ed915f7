/*
 * chain: the stored record layout, record hashes, genesis, checkpoints and
 * inclusion proofs. A checkpoint signature must break when any bit of any
 * field it vouches for changes; an inclusion proof must hold only for the
 * record, position and tree it was made for.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "chain.h"
#include "merkle.h"
#include "wire.h"

static uint8_t pk[32], sk[64];

static void
fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

static void
test_record(void)
{
	uint8_t env[37], stored[CHAIN_RECORD_HEADER + 37];
	uint8_t h1[32], h2[32], h3[32];
	struct record r, d;

	CHECK_INT(CHAIN_RECORD_HEADER, 48);
	fill(env, sizeof(env), 0x30);
	memset(&r, 0, sizeof(r));
	r.seq = 0x0102030405060708ULL;
	fill(r.prev_hash, 32, 0xa0);
	r.received_at_us = 1700000000123456LL;
	r.envelope = env;
	r.envelope_len = sizeof(env);
	chain_record_encode(stored, &r);

	/* Layout: be64 seq | prev_hash | be64 received_at_us | envelope. */
	CHECK_INT(stored[0], 0x01);
	CHECK_INT(stored[7], 0x08);
	CHECK(memcmp(stored + 8, r.prev_hash, 32) == 0);
	CHECK_INT(stored[40], 0x00);
	CHECK_INT(stored[47], (uint8_t)(1700000000123456LL & 0xff));
	CHECK(memcmp(stored + 48, env, sizeof(env)) == 0);

	memset(&d, 0x55, sizeof(d));
	CHECK_INT(chain_record_decode(&d, stored, sizeof(stored)), 0);
	CHECK(d.seq == r.seq);
	CHECK(memcmp(d.prev_hash, r.prev_hash, 32) == 0);
	CHECK(d.received_at_us == r.received_at_us);
	CHECK_INT(d.envelope_len, sizeof(env));
	CHECK(d.envelope == stored + 48); /* points into the buffer */

	/* A negative time survives the unsigned encoding. */
	r.received_at_us = -5;
	chain_record_encode(stored, &r);
	CHECK_INT(stored[40], 0xff);
	CHECK_INT(chain_record_decode(&d, stored, sizeof(stored)), 0);
	CHECK_INT(d.received_at_us, -5);
	r.received_at_us = 1700000000123456LL;
	chain_record_encode(stored, &r);

	/* Shorter than the header: refused; exactly the header: no envelope. */
	CHECK_INT(chain_record_decode(&d, stored, 47), -1);
	CHECK_INT(chain_record_decode(&d, stored, 0), -1);
	CHECK_INT(chain_record_decode(&d, stored, 1), -1);
	CHECK_INT(chain_record_decode(&d, stored, 48), 0);
	CHECK_INT(d.envelope_len, 0);
	CHECK(d.seq == r.seq);

	/* The hash of the stored bytes equals the hash computed in place. */
	chain_record_hash(h1, stored, sizeof(stored));
	chain_record_hash_of(h2, &r);
	CHECK(memcmp(h1, h2, 32) == 0);
	/* ...and of the decoded record. */
	CHECK_INT(chain_record_decode(&d, stored, sizeof(stored)), 0);
	chain_record_hash_of(h3, &d);
	CHECK(memcmp(h1, h3, 32) == 0);

	/* Domain-separated: BLAKE2b-256("KETEN-RECORD-V1\0" || stored). */
	{
		crypto_generichash_state st;

		crypto_generichash_init(&st, NULL, 0, 32);
		crypto_generichash_update(
		    &st, (const uint8_t *)"KETEN-RECORD-V1", 16);
		crypto_generichash_update(&st, stored, sizeof(stored));
		crypto_generichash_final(&st, h3, 32);
		CHECK(memcmp(h1, h3, 32) == 0);
	}

	/* Each field changes the hash. */
	d = r;
	d.seq++;
	chain_record_hash_of(h2, &d);
	CHECK(memcmp(h1, h2, 32) != 0);
	d = r;
	d.prev_hash[31] ^= 1;
	chain_record_hash_of(h2, &d);
	CHECK(memcmp(h1, h2, 32) != 0);
	d = r;
	d.received_at_us++;
	chain_record_hash_of(h2, &d);
	CHECK(memcmp(h1, h2, 32) != 0);
	d = r;
	d.envelope_len--;
	chain_record_hash_of(h2, &d);
	CHECK(memcmp(h1, h2, 32) != 0);
	stored[sizeof(stored) - 1] ^= 1;
	chain_record_hash(h2, stored, sizeof(stored));
	CHECK(memcmp(h1, h2, 32) != 0);
}

static void
test_genesis(void)
{
	uint8_t a[32], b[32], c[32];

	chain_genesis(a, "flevoland");
	chain_genesis(b, "flevoland");
	CHECK(memcmp(a, b, 32) == 0);
	chain_genesis(c, "utrecht");
	CHECK(memcmp(a, c, 32) != 0);
	chain_genesis(c, "flevolan");
	CHECK(memcmp(a, c, 32) != 0);
	chain_genesis(c, "");
	CHECK(memcmp(a, c, 32) != 0);
	memset(c, 0, 32);
	CHECK(memcmp(a, c, 32) != 0);
}

/* be64 written here by hand, not through bytes.h. */
static void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static int
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* A checkpoint whose fields all hold different bytes, so a field written
 * at the wrong offset, in the wrong order or in the wrong byte order
 * shows. */
static void
make_checkpoint(struct keten_checkpoint *c)
{
	memset(c, 0, sizeof(*c));
	c->size = 0x1112131415161718ULL;
	fill(c->head_hash, 32, 0x20);
	fill(c->root, 32, 0x40);
	c->access_size = 0x8182838485868788ULL;
	fill(c->access_head, 32, 0xa0);
	c->signed_at_us = 0x6162636465666768LL;
	fill(c->signature, 64, 0xc0);
}

static void
same_checkpoint(const struct keten_checkpoint *a,
                const struct keten_checkpoint *b)
{
	CHECK(a->size == b->size);
	CHECK(memcmp(a->head_hash, b->head_hash, 32) == 0);
	CHECK(memcmp(a->root, b->root, 32) == 0);
	CHECK(a->access_size == b->access_size);
	CHECK(memcmp(a->access_head, b->access_head, 32) == 0);
	CHECK(a->signed_at_us == b->signed_at_us);
	CHECK(memcmp(a->signature, b->signature, 64) == 0);
}

static void
test_checkpoint_layout(void)
{
	struct keten_checkpoint c;
	uint8_t pae[CHAIN_CHECKPOINT_PAE_LEN + 1],
	    want[CHAIN_CHECKPOINT_PAE_LEN];
	uint8_t enc[CHAIN_CHECKPOINT_LEN + 1];

	/* be64 size, head_hash, root, be64 access_size, access_head, be64
	 * signed_at_us; the tag before them; the signature after. */
	CHECK_INT(CHAIN_CHECKPOINT_LEN, 8 + 32 + 32 + 8 + 32 + 8);
	CHECK_INT(CHAIN_CHECKPOINT_LEN, 120);
	CHECK_INT(CHAIN_CHECKPOINT_PAE_LEN, 140);
	CHECK_INT(CHAIN_CHECKPOINT_STORED, 184);

	make_checkpoint(&c);
	memset(pae, 0xee, sizeof(pae));
	chain_checkpoint_pae(pae, &c);
	/* Byte by byte, from a buffer built here. */
	memcpy(want, "KETEN-CHECKPOINT-V1\0", 20);
	put_be64(want + 20, c.size);
	memcpy(want + 28, c.head_hash, 32);
	memcpy(want + 60, c.root, 32);
	put_be64(want + 92, c.access_size);
	memcpy(want + 100, c.access_head, 32);
	put_be64(want + 132, (uint64_t)c.signed_at_us);
	for (size_t i = 0; i < sizeof(want); i++)
		if (pae[i] != want[i])
			fprintf(stderr,
			        "checkpoint pae[%zu] = %02x, want %02x\n", i,
			        pae[i], want[i]);
	CHECK(memcmp(pae, want, sizeof(want)) == 0);
	CHECK_INT(pae[CHAIN_CHECKPOINT_PAE_LEN], 0xee); /* no more written */
	/* The same, as literals: each field's first and last byte. */
	CHECK(memcmp(pae, "KETEN-CHECKPOINT-V1", 19) == 0);
	CHECK_INT(pae[19], 0x00);
	CHECK_INT(pae[20], 0x11);
	CHECK_INT(pae[27], 0x18);
	CHECK_INT(pae[28], 0x20);
	CHECK_INT(pae[59], 0x3f);
	CHECK_INT(pae[60], 0x40);
	CHECK_INT(pae[91], 0x5f);
	CHECK_INT(pae[92], 0x81);
	CHECK_INT(pae[99], 0x88);
	CHECK_INT(pae[100], 0xa0);
	CHECK_INT(pae[131], 0xbf);
	CHECK_INT(pae[132], 0x61);
	CHECK_INT(pae[139], 0x68);

	/* The encoding is the PAE without its tag. */
	memset(enc, 0xee, sizeof(enc));
	chain_checkpoint_encode(enc, &c);
	CHECK(memcmp(enc, pae + 20, CHAIN_CHECKPOINT_LEN) == 0);
	CHECK_INT(enc[CHAIN_CHECKPOINT_LEN], 0xee);

	/* The signature is not part of what is signed. */
	memset(c.signature, 0, 64);
	chain_checkpoint_pae(pae, &c);
	CHECK(memcmp(pae, want, sizeof(want)) == 0);

	/* A negative time survives the unsigned encoding. */
	c.signed_at_us = -2;
	chain_checkpoint_pae(pae, &c);
	CHECK_INT(pae[132], 0xff);
	CHECK_INT(pae[138], 0xff);
	CHECK_INT(pae[139], 0xfe);
	CHECK(memcmp(pae, want, 132) == 0);
}

static void
test_checkpoint_sign(void)
{
	static const struct {
		const char *name;
		size_t off, len;
	} fields[] = {
	    {"size", offsetof(struct keten_checkpoint, size), 8},
	    {"head_hash", offsetof(struct keten_checkpoint, head_hash), 32},
	    {"root", offsetof(struct keten_checkpoint, root), 32},
	    {"access_size", offsetof(struct keten_checkpoint, access_size), 8},
	    {"access_head", offsetof(struct keten_checkpoint, access_head), 32},
	    {"signed_at_us", offsetof(struct keten_checkpoint, signed_at_us),
	     8},
	    {"signature", offsetof(struct keten_checkpoint, signature), 64},
	};
	struct keten_checkpoint c, t;
	uint8_t pae[CHAIN_CHECKPOINT_PAE_LEN], sig[64];
	uint8_t other_pk[32], other_sk[64], seed[32];
	int tried = 0;

	make_checkpoint(&c);
	memset(c.signature, 0, 64);
	CHECK_INT(chain_checkpoint_verify(&c, pk), -1);
	chain_checkpoint_sign(&c, sk);
	CHECK(!all_zero(c.signature, 64));
	CHECK_INT(chain_checkpoint_verify(&c, pk), 0);
	/* It is the Ed25519 signature of exactly the PAE. */
	chain_checkpoint_pae(pae, &c);
	CHECK_INT(
	    crypto_sign_verify_detached(c.signature, pae, sizeof(pae), pk), 0);
	crypto_sign_detached(sig, NULL, pae, sizeof(pae), sk);
	CHECK(memcmp(sig, c.signature, 64) == 0);

	/* Flipping any one bit of any field, or of the signature, breaks it. */
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		int survived = 0;

		for (size_t bit = 0; bit < 8 * fields[f].len; bit++) {
			t = c;
			((uint8_t *)&t)[fields[f].off + bit / 8] ^=
			    (uint8_t)(1u << (bit % 8));
			tried++;
			if (chain_checkpoint_verify(&t, pk) == 0) {
				fprintf(stderr,
				        "checkpoint still verifies with bit "
				        "%zu of %s flipped\n",
				        bit, fields[f].name);
				survived++;
			}
		}
		CHECK_INT(survived, 0);
	}
	CHECK_INT(tried, 8 * (8 + 32 + 32 + 8 + 32 + 8 + 64));
	/* A changed field signed again verifies: the check is the
	 * signature, not the values. */
	t = c;
	t.size++;
	chain_checkpoint_sign(&t, sk);
	CHECK(memcmp(t.signature, c.signature, 64) != 0);
	CHECK_INT(chain_checkpoint_verify(&t, pk), 0);

	/* Another key. */
	memset(seed, 9, sizeof(seed));
	CHECK_INT(crypto_sign_seed_keypair(other_pk, other_sk, seed), 0);
	CHECK_INT(chain_checkpoint_verify(&c, other_pk), -1);
	t = c;
	chain_checkpoint_sign(&t, other_sk);
	CHECK(memcmp(t.signature, c.signature, 64) != 0);
	CHECK_INT(chain_checkpoint_verify(&t, other_pk), 0);
	CHECK_INT(chain_checkpoint_verify(&t, pk), -1);
	sodium_memzero(other_sk, sizeof(other_sk));
}

static void
test_checkpoint_store(void)
{
	struct keten_checkpoint c, d;
	uint8_t buf[CHAIN_CHECKPOINT_STORED + 8], enc[CHAIN_CHECKPOINT_LEN];
	static const size_t bad_len[] = {0,
	                                 1,
	                                 CHAIN_CHECKPOINT_LEN - 1,
	                                 CHAIN_CHECKPOINT_LEN,
	                                 CHAIN_CHECKPOINT_PAE_LEN,
	                                 CHAIN_CHECKPOINT_STORED - 1,
	                                 CHAIN_CHECKPOINT_STORED + 1,
	                                 CHAIN_CHECKPOINT_STORED + 8};
	int survived = 0;

	make_checkpoint(&c);
	c.signed_at_us = -1700000000000000LL;
	chain_checkpoint_sign(&c, sk);

	/* The fields as encoded, then the signature; nothing after. */
	memset(buf, 0xee, sizeof(buf));
	chain_checkpoint_store(buf, &c);
	chain_checkpoint_encode(enc, &c);
	CHECK(memcmp(buf, enc, CHAIN_CHECKPOINT_LEN) == 0);
	CHECK(memcmp(buf + CHAIN_CHECKPOINT_LEN, c.signature, 64) == 0);
	CHECK_INT(buf[CHAIN_CHECKPOINT_STORED], 0xee);
	CHECK_INT(buf[0], 0x11);
	CHECK_INT(buf[119], (uint8_t)(-1700000000000000LL & 0xff));
	CHECK_INT(buf[120], c.signature[0]);

	/* Round trip: every field back, and still signed. */
	memset(&d, 0x55, sizeof(d));
	CHECK_INT(chain_checkpoint_load(&d, buf, CHAIN_CHECKPOINT_STORED), 0);
	same_checkpoint(&d, &c);
	CHECK_INT(chain_checkpoint_verify(&d, pk), 0);

	/* Every stored byte is read: changing any one breaks the load's
	 * signature. */
	for (size_t i = 0; i < CHAIN_CHECKPOINT_STORED; i++) {
		buf[i] ^= 0x10;
		CHECK_INT(
		    chain_checkpoint_load(&d, buf, CHAIN_CHECKPOINT_STORED), 0);
		if (chain_checkpoint_verify(&d, pk) == 0) {
			fprintf(stderr,
			        "stored checkpoint byte %zu changed and "
			        "still verifies\n",
			        i);
			survived++;
		}
		buf[i] ^= 0x10;
	}
	CHECK_INT(survived, 0);

	/* Any other length is refused. */
	for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++)
		CHECK_INT(chain_checkpoint_load(&d, buf, bad_len[i]), -1);
	CHECK_INT(chain_checkpoint_load(&d, buf, CHAIN_CHECKPOINT_STORED), 0);
	same_checkpoint(&d, &c);
}

/* ---- inclusion proofs ---- */

#define N_REC 7 /* leaves: levels 0 .. 2 hold complete subtrees */

/* Every complete subtree merkle_frontier_push reported, for merkle_path. */
struct subtrees {
	uint8_t hash[3][N_REC][32];
	int have[3][N_REC];
};

static int
on_done(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
	struct subtrees *t = arg;

	if (level >= 3 || index >= N_REC)
		return 1;
	memcpy(t->hash[level][index], hash, 32);
	t->have[level][index] = 1;
	return 0;
}

static int
on_get(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	struct subtrees *t = arg;

	if (level >= 3 || index >= N_REC || !t->have[level][index])
		return 1;
	memcpy(out, t->hash[level][index], 32);
	return 0;
}

#define P(path) ((const uint8_t(*)[32])(path))

static void
test_inclusion(void)
{
	static struct subtrees t;
	struct merkle_frontier f;
	struct keten_checkpoint c, w;
	uint8_t rh[N_REC][32], roots[N_REC + 1][32], leaf[32];
	uint8_t path[MERKLE_PATH_MAX + 1][32], x[32];
	uint8_t env[16];
	size_t n_path;
	int proved = 0;

	/* A real chain of N_REC records, and the tree over their hashes. */
	{
		struct record r;

		memset(&r, 0, sizeof(r));
		chain_genesis(r.prev_hash, "flevoland");
		for (int i = 0; i < N_REC; i++) {
			fill(env, sizeof(env), (uint8_t)(0x10 * i));
			r.seq = (uint64_t)i + 1;
			r.received_at_us = 1700000000000000LL + i;
			r.envelope = env;
			r.envelope_len = sizeof(env);
			chain_record_hash_of(rh[i], &r);
			memcpy(r.prev_hash, rh[i], 32);
		}
	}
	memset(&t, 0, sizeof(t));
	merkle_frontier_init(&f);
	merkle_frontier_root(&f, roots[0]);
	for (int i = 0; i < N_REC; i++) {
		merkle_leaf(leaf, rh[i]);
		CHECK_INT(merkle_frontier_push(&f, leaf, on_done, &t), 0);
		merkle_frontier_root(&f, roots[i + 1]);
	}
	/* The root of three records, hashed here directly (RFC 9162 2.1.1
	 * with SHA-256): node(node(leaf1, leaf2), leaf3). */
	{
		uint8_t in[65], l[3][32], n12[32];

		for (int i = 0; i < 3; i++) {
			in[0] = 0x00;
			memcpy(in + 1, rh[i], 32);
			crypto_hash_sha256(l[i], in, 33);
		}
		in[0] = 0x01;
		memcpy(in + 1, l[0], 32);
		memcpy(in + 33, l[1], 32);
		crypto_hash_sha256(n12, in, 65);
		memcpy(in + 1, n12, 32);
		memcpy(in + 33, l[2], 32);
		crypto_hash_sha256(x, in, 65);
		CHECK(memcmp(roots[3], x, 32) == 0);
	}

	/* Every record in every tree that holds it. */
	for (uint64_t size = 1; size <= N_REC; size++) {
		memset(&c, 0, sizeof(c));
		c.size = size;
		memcpy(c.head_hash, rh[size - 1], 32);
		memcpy(c.root, roots[size], 32);
		c.access_size = 3;
		fill(c.access_head, 32, 0x33);
		c.signed_at_us = 1700000000000000LL + (int64_t)size;
		chain_checkpoint_sign(&c, sk);
		for (uint64_t seq = 1; seq <= size; seq++) {
			const uint8_t *h = rh[seq - 1];

			CHECK_INT(merkle_path(path, &n_path, seq - 1, size,
			                      on_get, &t),
			          0);
			CHECK(size == 1 || n_path > 0);
			CHECK_INT(
			    chain_inclusion_verify(seq, h, &c, P(path), n_path),
			    0);
			proved++;

			/* A wrong record hash: one bit, another record,
			 * or the leaf hash instead of the record hash. */
			memcpy(x, h, 32);
			x[seq % 32] ^= 0x01;
			CHECK_INT(
			    chain_inclusion_verify(seq, x, &c, P(path), n_path),
			    -1);
			if (size > 1)
				CHECK_INT(
				    chain_inclusion_verify(seq, rh[seq % size],
				                           &c, P(path), n_path),
				    -1);
			merkle_leaf(x, h);
			CHECK_INT(
			    chain_inclusion_verify(seq, x, &c, P(path), n_path),
			    -1);
			/* A wrong root. */
			w = c;
			w.root[31 - seq] ^= 0x80;
			CHECK_INT(
			    chain_inclusion_verify(seq, h, &w, P(path), n_path),
			    -1);
			/* Another tree's root for this size. */
			if (size > 1) {
				w = c;
				memcpy(w.root, roots[size - 1], 32);
				CHECK_INT(chain_inclusion_verify(
				              seq, h, &w, P(path), n_path),
				          -1);
			}
			/* seq 0, and seq past the checkpoint's size. */
			CHECK_INT(
			    chain_inclusion_verify(0, h, &c, P(path), n_path),
			    -1);
			CHECK_INT(chain_inclusion_verify(size + 1, h, &c,
			                                 P(path), n_path),
			          -1);
			/* The same proof at another position. */
			if (seq < size)
				CHECK_INT(chain_inclusion_verify(
				              seq + 1, h, &c, P(path), n_path),
				          -1);
			if (seq > 1)
				CHECK_INT(chain_inclusion_verify(
				              seq - 1, h, &c, P(path), n_path),
				          -1);
			/* A path one short, one long, or with a hash
			 * changed. */
			if (n_path > 0) {
				CHECK_INT(chain_inclusion_verify(
				              seq, h, &c, P(path), n_path - 1),
				          -1);
				path[n_path - 1][0] ^= 0x01;
				CHECK_INT(chain_inclusion_verify(
				              seq, h, &c, P(path), n_path),
				          -1);
				path[n_path - 1][0] ^= 0x01;
			}
			memcpy(path[n_path], roots[size], 32);
			CHECK_INT(chain_inclusion_verify(seq, h, &c, P(path),
			                                 n_path + 1),
			          -1);
		}
	}
	CHECK_INT(proved, N_REC * (N_REC + 1) / 2);

	/* The last record's proof with the checkpoint's size one less
	 * (claiming it sits past the head) or one more (a tree whose path
	 * to leaf N_REC - 1 has another shape), the root unchanged. (Not
	 * every wrong size is caught: RFC 9162 binds the size only through
	 * the path's shape, so leaf 0 of 3 and of 4 take the same path.
	 * The signature binds size and root together.) */
	memset(&c, 0, sizeof(c));
	c.size = N_REC;
	memcpy(c.root, roots[N_REC], 32);
	CHECK_INT(merkle_path(path, &n_path, N_REC - 1, N_REC, on_get, &t), 0);
	CHECK_INT(
	    chain_inclusion_verify(N_REC, rh[N_REC - 1], &c, P(path), n_path),
	    0);
	c.size = N_REC - 1;
	CHECK_INT(
	    chain_inclusion_verify(N_REC, rh[N_REC - 1], &c, P(path), n_path),
	    -1);
	c.size = N_REC + 1;
	CHECK_INT(
	    chain_inclusion_verify(N_REC, rh[N_REC - 1], &c, P(path), n_path),
	    -1);
	/* An empty log proves nothing. */
	memset(&c, 0, sizeof(c));
	merkle_empty(c.root);
	CHECK(memcmp(c.root, roots[0], 32) == 0);
	CHECK_INT(chain_inclusion_verify(1, rh[0], &c, P(path), 0), -1);
	CHECK_INT(chain_inclusion_verify(0, rh[0], &c, P(path), 0), -1);
	/* A one-record log: the root is the leaf, the path empty. */
	c.size = 1;
	memcpy(c.root, roots[1], 32);
	merkle_leaf(leaf, rh[0]);
	CHECK(memcmp(leaf, roots[1], 32) == 0);
	CHECK_INT(chain_inclusion_verify(1, rh[0], &c, P(path), 0), 0);
	CHECK_INT(chain_inclusion_verify(2, rh[0], &c, P(path), 0), -1);
}
int
main(void)
{
	uint8_t seed[32];

	if (sodium_init() < 0)
		return 1;
	memset(seed, 0x77, sizeof(seed));
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0)
		return 1;
	test_record();
	test_genesis();
	test_checkpoint_layout();
	test_checkpoint_sign();
	test_checkpoint_store();
	test_inclusion();
	return check_done("test_chain");
}
