/*
 * chain: the stored record layout, record hashes, genesis and receipts. A
 * receipt signature must break when any field it vouches for changes.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "chain.h"
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

static void
make_receipt(struct receipt *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = 42;
	fill(r->record_hash, 32, 0x10);
	fill(r->message_id, 16, 0x80);
	r->received_at_us = 1700000000000001LL;
	r->head_seq = 44;
	fill(r->head_hash, 32, 0xc0);
	fill(r->prev_hash, 32, 0xe0);
}

static void
test_receipt(void)
{
	struct receipt r, t;
	uint8_t pae[CHAIN_RECEIPT_PAE_LEN], other_pk[32], other_sk[64];
	int survived;

	CHECK_INT(CHAIN_RECEIPT_PAE_LEN, 121);
	make_receipt(&r);
	chain_receipt_pae(pae, &r);
	CHECK(memcmp(pae, "KETEN-RECEIPT-V1\0", 17) == 0);
	CHECK_INT(pae[17 + 7], 42);
	CHECK(memcmp(pae + 25, r.record_hash, 32) == 0);
	CHECK(memcmp(pae + 57, r.message_id, 16) == 0);
	CHECK_INT(pae[73], 0x00);
	CHECK_INT(pae[80], (uint8_t)(1700000000000001LL & 0xff));
	CHECK_INT(pae[81 + 7], 44);
	CHECK(memcmp(pae + 89, r.head_hash, 32) == 0);

	chain_receipt_sign(&r, sk);
	CHECK_INT(chain_receipt_verify(&r, pk), 0);
	CHECK_INT(
	    crypto_sign_verify_detached(r.signature, pae, sizeof(pae), pk), 0);

	t = r;
	t.seq++;
	CHECK_INT(chain_receipt_verify(&t, pk), -1);
	t = r;
	t.seq ^= 1ULL << 63;
	CHECK_INT(chain_receipt_verify(&t, pk), -1);
	survived = 0;
	for (int i = 0; i < 32; i++) {
		t = r;
		t.record_hash[i] ^= 0x04;
		survived += chain_receipt_verify(&t, pk) == 0;
	}
	CHECK_INT(survived, 0);
	survived = 0;
	for (int i = 0; i < 16; i++) {
		t = r;
		t.message_id[i] ^= 0x04;
		survived += chain_receipt_verify(&t, pk) == 0;
	}
	CHECK_INT(survived, 0);
	t = r;
	t.received_at_us--;
	CHECK_INT(chain_receipt_verify(&t, pk), -1);
	t = r;
	t.head_seq++;
	CHECK_INT(chain_receipt_verify(&t, pk), -1);
	survived = 0;
	for (int i = 0; i < 32; i++) {
		t = r;
		t.head_hash[i] ^= 0x04;
		survived += chain_receipt_verify(&t, pk) == 0;
	}
	CHECK_INT(survived, 0);
	survived = 0;
	for (int i = 0; i < 64; i++) {
		t = r;
		t.signature[i] ^= 0x04;
		survived += chain_receipt_verify(&t, pk) == 0;
	}
	CHECK_INT(survived, 0);
	/* prev_hash is not signed (it is checked by recomputing). */
	t = r;
	t.prev_hash[0] ^= 1;
	CHECK_INT(chain_receipt_verify(&t, pk), 0);

	/* Another key. */
	{
		uint8_t seed[32];

		memset(seed, 9, sizeof(seed));
		CHECK_INT(crypto_sign_seed_keypair(other_pk, other_sk, seed),
		          0);
	}
	CHECK_INT(chain_receipt_verify(&r, other_pk), -1);
	t = r;
	chain_receipt_sign(&t, other_sk);
	CHECK(memcmp(t.signature, r.signature, 64) != 0);
	CHECK_INT(chain_receipt_verify(&t, other_pk), 0);
	CHECK_INT(chain_receipt_verify(&t, pk), -1);
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
	test_receipt();
	return check_done("test_chain");
}
