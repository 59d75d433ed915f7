/*
 * What the auditor parses from each LMDB value: the record layout, its
 * hash, and the envelope and body inside. Storage can be altered on disk,
 * so every byte is input.
 */
#include <string.h>

#include "chain.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record r;
	uint8_t stored_hash[32], rebuilt_hash[32];
	uint8_t *again;

	if (chain_record_decode(&r, data, size) != 0) {
		FUZZ_CHECK(size < CHAIN_RECORD_HEADER);
		return 0;
	}
	FUZZ_CHECK(size >= CHAIN_RECORD_HEADER);
	FUZZ_CHECK(r.envelope == data + CHAIN_RECORD_HEADER);
	FUZZ_CHECK(r.envelope_len == size - CHAIN_RECORD_HEADER);

	/* The client's hash of a record it never stored equals the
	 * auditor's hash of the stored bytes. */
	chain_record_hash(stored_hash, data, size);
	chain_record_hash_of(rebuilt_hash, &r);
	FUZZ_CHECK(memcmp(stored_hash, rebuilt_hash, 32) == 0);

	FUZZ_CHECK((again = malloc(size)) != NULL);
	chain_record_encode(again, &r);
	FUZZ_CHECK(memcmp(again, data, size) == 0);
	free(again);

	fuzz_envelope_and_body(r.envelope, r.envelope_len);
	return 0;
}
