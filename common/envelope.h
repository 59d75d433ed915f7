/*
 * Signing and sealing. The signature covers the PAE of (version, type,
 * body) as specified in docs/PROTOCOL.md, never a re-serialisation. Sealed
 * content is bound to the body by its content hash.
 */
#ifndef KETEN_ENVELOPE_H
#define KETEN_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Signs the PAE of (version, type, body) with an Ed25519 secret key. */
int envelope_sign(uint8_t sig[64], uint32_t version, uint32_t type,
                  const uint8_t *body, size_t body_len,
                  const uint8_t sk[64]) WUR;
/* Returns 0 if sig is a valid signature of the PAE by pk, else -1. */
int envelope_verify(const uint8_t sig[64], uint32_t version, uint32_t type,
                    const uint8_t *body, size_t body_len,
                    const uint8_t pk[32]) WUR;
/* Writes the PAE into out (envelope_pae_len bytes); exposed for vectors. */
size_t envelope_pae_len(size_t body_len);
void envelope_pae(uint8_t *out, uint32_t version, uint32_t type,
                  const uint8_t *body, size_t body_len);

/* BLAKE2b-256 of the domain tag and the sealed bytes. */
void envelope_content_hash(uint8_t out[32], const uint8_t *sealed, size_t len);
/* Seals plaintext to a recipient's X25519 key; *out is malloc'd. */
int envelope_seal(uint8_t **out, size_t *out_len, const uint8_t *plain,
                  size_t plain_len, const uint8_t pk[32]) WUR;
/* Opens sealed content; *out is malloc'd, the caller wipes and frees it. */
int envelope_open(uint8_t **out, size_t *out_len, const uint8_t *sealed,
                  size_t sealed_len, const uint8_t pk[32],
                  const uint8_t sk[32]) WUR;

#endif
