/*
 * The signing encoding (PAE), content commitment and sealed boxes. Must not
 * keep any key or plaintext beyond a call.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bytes.h"
#include "envelope.h"

static const char pae_tag[] = "KETEN-ENVELOPE-V1"; /* + NUL, 18 bytes */
static const char content_tag[] = "KETEN-CONTENT-V1";

size_t
envelope_pae_len(size_t body_len)
{
	return sizeof(pae_tag) + 4 + 4 + 8 + body_len;
}

void
envelope_pae(uint8_t *out, uint32_t version, uint32_t type, const uint8_t *body,
             size_t body_len)
{
	memcpy(out, pae_tag, sizeof(pae_tag));
	out += sizeof(pae_tag);
	bytes_put_be32(out, version);
	bytes_put_be32(out + 4, type);
	bytes_put_be64(out + 8, body_len);
	if (body_len > 0)
		memcpy(out + 16, body, body_len);
}

int
envelope_sign(uint8_t sig[64], uint32_t version, uint32_t type,
              const uint8_t *body, size_t body_len, const uint8_t sk[64])
{
	size_t n = envelope_pae_len(body_len);
	uint8_t *pae = malloc(n);
	int rc;

	if (pae == NULL)
		return KETEN_E_NOMEM;
	envelope_pae(pae, version, type, body, body_len);
	rc = crypto_sign_detached(sig, NULL, pae, n, sk) == 0
	         ? KETEN_OK
	         : KETEN_E_INTERNAL;
	free(pae);
	return rc;
}

int
envelope_verify(const uint8_t sig[64], uint32_t version, uint32_t type,
                const uint8_t *body, size_t body_len, const uint8_t pk[32])
{
	size_t n = envelope_pae_len(body_len);
	uint8_t *pae = malloc(n);
	int rc;

	if (pae == NULL)
		return -1;
	envelope_pae(pae, version, type, body, body_len);
	rc = crypto_sign_verify_detached(sig, pae, n, pk) == 0 ? 0 : -1;
	free(pae);
	return rc;
}

void
envelope_content_hash(uint8_t out[32], const uint8_t *sealed, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)content_tag,
	                          sizeof(content_tag));
	crypto_generichash_update(&st, sealed, len);
	crypto_generichash_final(&st, out, 32);
}

int
envelope_seal(uint8_t **out, size_t *out_len, const uint8_t *plain,
              size_t plain_len, const uint8_t pk[32])
{
	size_t n = plain_len + crypto_box_SEALBYTES;

	if ((*out = malloc(n)) == NULL)
		return KETEN_E_NOMEM;
	if (crypto_box_seal(*out, plain, plain_len, pk) != 0) {
		free(*out);
		*out = NULL;
		return KETEN_E_INTERNAL;
	}
	*out_len = n;
	return KETEN_OK;
}

int
envelope_open(uint8_t **out, size_t *out_len, const uint8_t *sealed,
              size_t sealed_len, const uint8_t pk[32], const uint8_t sk[32])
{
	size_t n;

	if (sealed_len < crypto_box_SEALBYTES)
		return KETEN_E_DECRYPT;
	n = sealed_len - crypto_box_SEALBYTES;
	if ((*out = malloc(n ? n : 1)) == NULL)
		return KETEN_E_NOMEM;
	if (crypto_box_seal_open(*out, sealed, sealed_len, pk, sk) != 0) {
		free(*out);
		*out = NULL;
		return KETEN_E_DECRYPT;
	}
	*out_len = n;
	return KETEN_OK;
}
