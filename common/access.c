/* Access log entries; must stay byte-for-byte as PROTOCOL.md says. */
#include <string.h>

#include <sodium.h>

#include "access.h"
#include "bytes.h"

static const char genesis_tag[] = "KETEN-ACCESS-GENESIS-V1";
static const char entry_tag[] = "KETEN-ACCESS-V1";

size_t
access_encode(uint8_t *out, const struct access_entry *e)
{
	size_t alen = strlen(e->agency);

	out[0] = 1;
	out[1] = (uint8_t)e->kind;
	bytes_put_be64(out + 2, e->seq);
	bytes_put_be64(out + 10, (uint64_t)e->at_us);
	bytes_put_be64(out + 18, e->first_seq);
	bytes_put_be64(out + 26, e->last_seq);
	bytes_put_be32(out + 34, e->n);
	if (e->has_case)
		memcpy(out + 38, e->case_id, KETEN_CASE_ID_LEN);
	else
		memset(out + 38, 0, KETEN_CASE_ID_LEN);
	memcpy(out + 54, e->prev_hash, KETEN_HASH_LEN);
	out[86] = (uint8_t)alen;
	memcpy(out + ACCESS_HEADER, e->agency, alen);
	return ACCESS_HEADER + alen;
}

int
access_decode(struct access_entry *e, const uint8_t *buf, size_t len)
{
	static const uint8_t zero[KETEN_CASE_ID_LEN];
	size_t alen;

	if (len < ACCESS_HEADER + 1 || buf[0] != 1 || buf[1] < ACCESS_FETCH ||
	    buf[1] > ACCESS_CASES)
		return -1;
	alen = buf[86];
	if (alen == 0 || alen > KETEN_ID_MAX || len != ACCESS_HEADER + alen ||
	    memchr(buf + ACCESS_HEADER, 0, alen) != NULL)
		return -1;
	memset(e, 0, sizeof(*e));
	e->kind = (enum access_kind)buf[1];
	e->seq = bytes_get_be64(buf + 2);
	e->at_us = (int64_t)bytes_get_be64(buf + 10);
	e->first_seq = bytes_get_be64(buf + 18);
	e->last_seq = bytes_get_be64(buf + 26);
	e->n = bytes_get_be32(buf + 34);
	e->has_case = memcmp(buf + 38, zero, KETEN_CASE_ID_LEN) != 0;
	memcpy(e->case_id, buf + 38, KETEN_CASE_ID_LEN);
	memcpy(e->prev_hash, buf + 54, KETEN_HASH_LEN);
	memcpy(e->agency, buf + ACCESS_HEADER, alen);
	return 0;
}

static void
tagged_hash(uint8_t out[KETEN_HASH_LEN], const char *tag, size_t tag_len,
            const uint8_t *p, size_t n)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, KETEN_HASH_LEN);
	crypto_generichash_update(&st, (const uint8_t *)tag, tag_len);
	crypto_generichash_update(&st, p, n);
	crypto_generichash_final(&st, out, KETEN_HASH_LEN);
}

void
access_hash(uint8_t out[KETEN_HASH_LEN], const uint8_t *stored, size_t len)
{
	tagged_hash(out, entry_tag, sizeof(entry_tag), stored, len);
}

void
access_genesis(uint8_t out[KETEN_HASH_LEN], const char *region)
{
	tagged_hash(out, genesis_tag, sizeof(genesis_tag),
	            (const uint8_t *)region, strlen(region));
}

const char *
access_kind_name(enum access_kind k)
{
	switch (k) {
	case ACCESS_FETCH:
		return "fetch";
	case ACCESS_REPLAY:
		return "replay";
	case ACCESS_CASE:
		return "case";
	case ACCESS_CASES:
		return "cases";
	}
	return "?";
}
