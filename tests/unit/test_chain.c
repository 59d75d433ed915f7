/*
 * chain: the stored record layout, record hashes, genesis and inclusion
 * proofs (the checkpoint note is test_note.c's). An inclusion proof must
 * hold only for the record, position and tree it was made for.
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
	if (sodium_init() < 0)
		return 1;
	test_record();
	test_genesis();
	test_inclusion();
	return check_done("test_chain");
}
