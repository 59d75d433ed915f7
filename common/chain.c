/* Record layout and hashes; must stay byte-for-byte as PROTOCOL.md says. */
#include <string.h>

#include <sodium.h>

#include "bytes.h"
#include "chain.h"
#include "merkle.h"
#include "wire.h"

static const char genesis_tag[] = "KETEN-GENESIS-V1";
static const char record_tag[] = "KETEN-RECORD-V1";

void
chain_genesis(uint8_t out[32], const char *region)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)genesis_tag,
	                          sizeof(genesis_tag));
	crypto_generichash_update(&st, (const uint8_t *)region, strlen(region));
	crypto_generichash_final(&st, out, 32);
}

void
chain_record_encode(uint8_t *out, const struct record *r)
{
	bytes_put_be64(out, r->seq);
	memcpy(out + 8, r->prev_hash, 32);
	bytes_put_be64(out + 40, (uint64_t)r->received_at_us);
	/* An empty envelope may come as NULL (protobuf-c's empty bytes):
	 * memcpy from NULL is undefined even for 0 bytes. */
	if (r->envelope_len > 0)
		memcpy(out + CHAIN_RECORD_HEADER, r->envelope, r->envelope_len);
}

int
chain_record_decode(struct record *r, const uint8_t *buf, size_t len)
{
	if (len < CHAIN_RECORD_HEADER)
		return -1;
	r->seq = bytes_get_be64(buf);
	memcpy(r->prev_hash, buf + 8, 32);
	r->received_at_us = (int64_t)bytes_get_be64(buf + 40);
	r->envelope = buf + CHAIN_RECORD_HEADER;
	r->envelope_len = len - CHAIN_RECORD_HEADER;
	return 0;
}

void
chain_record_hash(uint8_t out[32], const uint8_t *stored, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)record_tag,
	                          sizeof(record_tag));
	crypto_generichash_update(&st, stored, len);
	crypto_generichash_final(&st, out, 32);
}

void
chain_record_hash_of(uint8_t out[32], const struct record *r)
{
	crypto_generichash_state st;
	uint8_t head[CHAIN_RECORD_HEADER];

	bytes_put_be64(head, r->seq);
	memcpy(head + 8, r->prev_hash, 32);
	bytes_put_be64(head + 40, (uint64_t)r->received_at_us);
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)record_tag,
	                          sizeof(record_tag));
	crypto_generichash_update(&st, head, sizeof(head));
	crypto_generichash_update(&st, r->envelope, r->envelope_len);
	crypto_generichash_final(&st, out, 32);
}

int
chain_inclusion_verify(uint64_t seq, const uint8_t record_hash[32],
                       const struct keten_checkpoint *c,
                       const uint8_t (*path)[32], size_t n_path)
{
	uint8_t leaf[32];

	if (seq == 0 || seq > c->size)
		return -1;
	merkle_leaf(leaf, record_hash);
	return merkle_verify(leaf, seq - 1, c->size, path, n_path, c->root);
}
