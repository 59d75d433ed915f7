/*
 * envelope: the PAE layout byte for byte, Ed25519 over it, the content
 * hash and sealed boxes. A signature must not survive any change to what
 * it covers.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "envelope.h"

static uint8_t pk[32], sk[64];

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Whether the bytes contain s (memmem is not in POSIX). */
static int
contains(const uint8_t *p, size_t n, const char *s)
{
	size_t m = strlen(s);

	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(p + i, s, m) == 0)
			return 1;
	return 0;
}

static void
test_pae(void)
{
	const uint8_t body[5] = {0xde, 0xad, 0xbe, 0xef, 0x00};
	uint8_t out[64];
	size_t n = envelope_pae_len(sizeof(body));

	CHECK_INT(envelope_pae_len(0), 18 + 4 + 4 + 8);
	CHECK_INT(n, 18 + 4 + 4 + 8 + 5);
	memset(out, 0xaa, sizeof(out));
	envelope_pae(out, 1, 0x01020304, body, sizeof(body));
	CHECK(memcmp(out, "KETEN-ENVELOPE-V1\0", 18) == 0);
	CHECK_INT(out[17], 0);
	CHECK_INT(get_be(out + 18, 4), 1);
	CHECK_INT(get_be(out + 22, 4), 0x01020304);
	CHECK_INT(out[22], 0x01); /* big-endian, most significant first */
	CHECK_INT(get_be(out + 26, 8), 5);
	CHECK_INT(out[33], 5);
	CHECK(memcmp(out + 34, body, 5) == 0);
	CHECK_INT(out[39], 0xaa); /* writes nothing past envelope_pae_len */

	/* A large version and type, and an empty body. */
	memset(out, 0xaa, sizeof(out));
	envelope_pae(out, 0xfffffffe, 7, NULL, 0);
	CHECK_INT(get_be(out + 18, 4), 0xfffffffe);
	CHECK_INT(get_be(out + 22, 4), 7);
	CHECK_INT(get_be(out + 26, 8), 0);
	CHECK_INT(out[34], 0xaa);
}

static void
test_sign_verify(void)
{
	uint8_t body[100], sig[64], bad[64], pk2[32], sk2[64], seed[32];

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)i;
	CHECK_INT(envelope_sign(sig, 1, 1, body, sizeof(body), sk), KETEN_OK);
	CHECK_INT(envelope_verify(sig, 1, 1, body, sizeof(body), pk), 0);

	/* The signature is plain Ed25519 over the PAE, nothing else. */
	{
		uint8_t pae[18 + 16 + 100];

		CHECK_INT(envelope_pae_len(sizeof(body)), sizeof(pae));
		envelope_pae(pae, 1, 1, body, sizeof(body));
		CHECK_INT(
		    crypto_sign_verify_detached(sig, pae, sizeof(pae), pk), 0);
		/* Ed25519 is deterministic: signing the PAE by hand agrees. */
		CHECK_INT(crypto_sign_detached(bad, NULL, pae, sizeof(pae), sk),
		          0);
		CHECK(memcmp(bad, sig, 64) == 0);
	}

	/* Every single flipped body byte breaks it. */
	{
		int survived = 0;

		for (size_t i = 0; i < sizeof(body); i++) {
			body[i] ^= 0x01;
			if (envelope_verify(sig, 1, 1, body, sizeof(body),
			                    pk) != -1)
				survived++;
			body[i] ^= 0x01;
		}
		CHECK_INT(survived, 0);
	}
	/* So does every flipped signature byte. */
	{
		int survived = 0;

		for (size_t i = 0; i < 64; i++) {
			memcpy(bad, sig, 64);
			bad[i] ^= 0x80;
			if (envelope_verify(bad, 1, 1, body, sizeof(body),
			                    pk) != -1)
				survived++;
		}
		CHECK_INT(survived, 0);
	}
	CHECK_INT(envelope_verify(sig, 1, 2, body, sizeof(body), pk), -1);
	CHECK_INT(envelope_verify(sig, 1, 0, body, sizeof(body), pk), -1);
	CHECK_INT(envelope_verify(sig, 2, 1, body, sizeof(body), pk), -1);
	CHECK_INT(envelope_verify(sig, 0, 1, body, sizeof(body), pk), -1);
	/* Shorter or longer body: the length is bound. */
	CHECK_INT(envelope_verify(sig, 1, 1, body, sizeof(body) - 1, pk), -1);
	/* Another signer's key. */
	memset(seed, 0x42, sizeof(seed));
	CHECK_INT(crypto_sign_seed_keypair(pk2, sk2, seed), 0);
	CHECK_INT(envelope_verify(sig, 1, 1, body, sizeof(body), pk2), -1);
	CHECK_INT(envelope_sign(bad, 1, 1, body, sizeof(body), sk2), KETEN_OK);
	CHECK(memcmp(bad, sig, 64) != 0);
	CHECK_INT(envelope_verify(bad, 1, 1, body, sizeof(body), pk), -1);
	CHECK_INT(envelope_verify(bad, 1, 1, body, sizeof(body), pk2), 0);

	/* Type and version are bound even when swapped. */
	CHECK_INT(envelope_sign(sig, 1, 2, body, sizeof(body), sk), KETEN_OK);
	CHECK_INT(envelope_verify(sig, 2, 1, body, sizeof(body), pk), -1);

	/* An empty body signs and verifies, and differs from a 1-byte one. */
	CHECK_INT(envelope_sign(sig, 1, 1, NULL, 0, sk), KETEN_OK);
	CHECK_INT(envelope_verify(sig, 1, 1, NULL, 0, pk), 0);
	CHECK_INT(envelope_verify(sig, 1, 1, body, 1, pk), -1);
}

static void
test_content_hash(void)
{
	const uint8_t a[] = "sealed bytes";
	uint8_t h1[32], h2[32], h3[32], h4[32], h5[32];
	crypto_generichash_state st;

	envelope_content_hash(h1, a, sizeof(a) - 1);
	envelope_content_hash(h2, a, sizeof(a) - 1);
	CHECK(memcmp(h1, h2, 32) == 0);
	envelope_content_hash(h3, a, sizeof(a) - 2);
	CHECK(memcmp(h1, h3, 32) != 0);
	envelope_content_hash(h4, (const uint8_t *)"sealed bytez", 12);
	CHECK(memcmp(h1, h4, 32) != 0);
	envelope_content_hash(h5, NULL, 0);
	CHECK(memcmp(h1, h5, 32) != 0);

	/* Domain-separated: not the plain BLAKE2b-256 of the bytes. */
	crypto_generichash(h2, 32, a, sizeof(a) - 1, NULL, 0);
	CHECK(memcmp(h1, h2, 32) != 0);
	/* But BLAKE2b-256 of "KETEN-CONTENT-V1\0" || bytes. */
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)"KETEN-CONTENT-V1", 17);
	crypto_generichash_update(&st, a, sizeof(a) - 1);
	crypto_generichash_final(&st, h2, 32);
	CHECK(memcmp(h1, h2, 32) == 0);
}

static void
test_seal_open(void)
{
	const char msg[] = "child: J. de Vries, concerns: neglect";
	uint8_t bpk[32], bsk[32], opk[32], osk[32];
	uint8_t *sealed = NULL, *plain = NULL, *sealed2 = NULL;
	size_t sealed_len = 0, plain_len = 0, sealed2_len = 0;

	CHECK_INT(crypto_box_keypair(bpk, bsk), 0);
	CHECK_INT(crypto_box_keypair(opk, osk), 0);
	CHECK_INT(envelope_seal(&sealed, &sealed_len, (const uint8_t *)msg,
	                        sizeof(msg), bpk),
	          KETEN_OK);
	CHECK_INT(sealed_len, sizeof(msg) + crypto_box_SEALBYTES);
	CHECK(sealed != NULL && !contains(sealed, sealed_len, "de Vries"));
	CHECK_INT(
	    envelope_open(&plain, &plain_len, sealed, sealed_len, bpk, bsk),
	    KETEN_OK);
	CHECK_INT(plain_len, sizeof(msg));
	CHECK(plain != NULL && memcmp(plain, msg, sizeof(msg)) == 0);
	free(plain);
	plain = NULL;

	/* Sealing is randomised: two seals differ, so do their hashes. */
	CHECK_INT(envelope_seal(&sealed2, &sealed2_len, (const uint8_t *)msg,
	                        sizeof(msg), bpk),
	          KETEN_OK);
	CHECK(sealed2_len == sealed_len &&
	      memcmp(sealed, sealed2, sealed_len) != 0);
	free(sealed2);

	/* The wrong key. */
	CHECK_INT(
	    envelope_open(&plain, &plain_len, sealed, sealed_len, opk, osk),
	    KETEN_E_DECRYPT);
	CHECK(plain == NULL);
	/* The right secret key with the wrong public key. */
	CHECK_INT(
	    envelope_open(&plain, &plain_len, sealed, sealed_len, opk, bsk),
	    KETEN_E_DECRYPT);
	CHECK(plain == NULL);
	/* Truncated: one byte short, shorter than the overhead, empty. */
	CHECK_INT(
	    envelope_open(&plain, &plain_len, sealed, sealed_len - 1, bpk, bsk),
	    KETEN_E_DECRYPT);
	CHECK(plain == NULL);
	CHECK_INT(envelope_open(&plain, &plain_len, sealed,
	                        crypto_box_SEALBYTES - 1, bpk, bsk),
	          KETEN_E_DECRYPT);
	CHECK_INT(envelope_open(&plain, &plain_len, sealed, 0, bpk, bsk),
	          KETEN_E_DECRYPT);
	/* A flipped ciphertext byte. */
	sealed[sealed_len - 3] ^= 1;
	CHECK_INT(
	    envelope_open(&plain, &plain_len, sealed, sealed_len, bpk, bsk),
	    KETEN_E_DECRYPT);
	CHECK(plain == NULL);
	free(sealed);

	/* Empty plaintext: the overhead only, and it opens to nothing. */
	sealed = NULL;
	CHECK_INT(envelope_seal(&sealed, &sealed_len, NULL, 0, bpk), KETEN_OK);
	CHECK_INT(sealed_len, crypto_box_SEALBYTES);
	plain_len = 99;
	CHECK_INT(
	    envelope_open(&plain, &plain_len, sealed, sealed_len, bpk, bsk),
	    KETEN_OK);
	CHECK_INT(plain_len, 0);
	free(plain);
	free(sealed);
}

int
main(void)
{
	uint8_t seed[32];

	if (sodium_init() < 0)
		return 1;
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0)
		return 1;
	test_pae();
	test_sign_verify();
	test_content_hash();
	test_seal_open();
	return check_done("test_envelope");
}
