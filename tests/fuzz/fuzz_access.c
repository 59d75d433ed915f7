/*
 * What the access log audit parses from each LMDB value: an access entry
 * (common/access.c). Storage can be altered on disk, so every byte is
 * input. What decodes must re-encode to exactly the input, so the hash the
 * audit chains over is the hash of what it reported.
 */
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct access_entry e;
	uint8_t again[ACCESS_ENTRY_MAX], h1[KETEN_HASH_LEN], h2[KETEN_HASH_LEN];
	size_t len;

	if (access_decode(&e, data, size) != 0)
		return 0;
	FUZZ_CHECK(size <= ACCESS_ENTRY_MAX);
	FUZZ_CHECK(e.kind >= ACCESS_FETCH && e.kind <= ACCESS_CASES);
	FUZZ_CHECK(strcmp(access_kind_name(e.kind), "?") != 0);
	FUZZ_CHECK(e.agency[0] != '\0' && strlen(e.agency) <= KETEN_ID_MAX);
	len = access_encode(again, &e);
	FUZZ_CHECK(len == size);
	FUZZ_CHECK(memcmp(again, data, size) == 0);
	access_hash(h1, data, size);
	access_hash(h2, again, len);
	FUZZ_CHECK(memcmp(h1, h2, KETEN_HASH_LEN) == 0);
	return 0;
}
