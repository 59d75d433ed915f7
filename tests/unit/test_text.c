/*
 * text: base64 keys as written in config files, hex for ids and hashes,
 * and the agency id rule. Decoders must take the exact length or nothing.
 */
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "text.h"

static void
test_b64(void)
{
	uint8_t key[32], back[32];
	char b64[TEXT_KEY_B64_LEN], tmp[TEXT_KEY_B64_LEN + 8];
	int failed = 0;

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(i * 7 + 1);
	text_key_to_b64(b64, key);
	CHECK_INT(strlen(b64), 44);
	CHECK(b64[43] == '=');
	CHECK_INT(text_key_from_b64(back, b64), 0);
	CHECK(memcmp(key, back, 32) == 0);

	/* Known answer: 32 zero bytes. */
	memset(key, 0, sizeof(key));
	text_key_to_b64(b64, key);
	CHECK(strcmp(b64, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") == 0);
	/* 32 bytes of 0xff. */
	memset(key, 0xff, sizeof(key));
	text_key_to_b64(b64, key);
	CHECK(strcmp(b64, "//////////////////////////////////////////8=") == 0);
	CHECK_INT(text_key_from_b64(back, b64), 0);
	CHECK(memcmp(key, back, 32) == 0);

	/* Random keys, many times: every byte value pattern round-trips. */
	for (int i = 0; i < 200; i++) {
		randombytes_buf(key, sizeof(key));
		text_key_to_b64(b64, key);
		if (text_key_from_b64(back, b64) != 0 ||
		    memcmp(key, back, 32) != 0)
			failed++;
	}
	CHECK_INT(failed, 0);

	/* Wrong lengths: 31 and 33 bytes are valid base64 but not a key. */
	CHECK_INT(text_key_from_b64(back, ""), -1);
	sodium_bin2base64(tmp, sizeof(tmp), key, 31,
	                  sodium_base64_VARIANT_ORIGINAL);
	CHECK_INT(text_key_from_b64(back, tmp), -1);
	sodium_bin2base64(tmp, sizeof(tmp), key, 33,
	                  sodium_base64_VARIANT_ORIGINAL);
	CHECK_INT(text_key_from_b64(back, tmp), -1);
	sodium_bin2base64(tmp, sizeof(tmp), key, 16,
	                  sodium_base64_VARIANT_ORIGINAL);
	CHECK_INT(text_key_from_b64(back, tmp), -1);
	/* Missing padding. */
	memset(key, 0, sizeof(key));
	text_key_to_b64(b64, key);
	memcpy(tmp, b64, 43);
	tmp[43] = '\0';
	CHECK_INT(text_key_from_b64(back, tmp), -1);
	/* Garbage and trailing characters. */
	CHECK_INT(text_key_from_b64(back, "not a key at all"), -1);
	CHECK_INT(text_key_from_b64(
	              back, "AAAAAAAAAAAAAAAAAAAAA!AAAAAAAAAAAAAAAAAAAAA="),
	          -1);
	snprintf(tmp, sizeof(tmp), "%s\n", b64);
	CHECK_INT(text_key_from_b64(back, tmp), -1);
	snprintf(tmp, sizeof(tmp), "%s ", b64);
	CHECK_INT(text_key_from_b64(back, tmp), -1);
	snprintf(tmp, sizeof(tmp), " %s", b64);
	CHECK_INT(text_key_from_b64(back, tmp), -1);
	snprintf(tmp, sizeof(tmp), "%sA", b64);
	CHECK_INT(text_key_from_b64(back, tmp), -1);
	snprintf(tmp, sizeof(tmp), "%s=", b64);
	CHECK_INT(text_key_from_b64(back, tmp), -1);
	/* The URL-safe alphabet is another variant: not accepted. */
	CHECK_INT(text_key_from_b64(
	              back, "__________________________________________8="),
	          -1);
}

static void
test_hex(void)
{
	uint8_t bin[20], back[20];
	char hex[41];

	for (int i = 0; i < 20; i++)
		bin[i] = (uint8_t)(0xf0 - i * 11);
	text_hex(hex, bin, sizeof(bin));
	CHECK_INT(strlen(hex), 40);
	CHECK_INT(text_unhex(back, sizeof(back), hex), 0);
	CHECK(memcmp(bin, back, sizeof(bin)) == 0);

	/* Known answer, lower case. */
	{
		const uint8_t b[4] = {0x00, 0xab, 0x10, 0xff};
		char h[9];
		uint8_t r[4];

		text_hex(h, b, 4);
		CHECK(strcmp(h, "00ab10ff") == 0);
		CHECK_INT(text_unhex(r, 4, "00AB10FF"), 0);
		CHECK(memcmp(r, b, 4) == 0);
	}
	/* Zero length: empty string both ways. */
	text_hex(hex, bin, 0);
	CHECK_INT(strlen(hex), 0);
	CHECK_INT(text_unhex(back, 0, ""), 0);

	/* Wrong lengths and odd lengths. */
	CHECK_INT(text_unhex(back, 4, "00ab10f"), -1);
	CHECK_INT(text_unhex(back, 4, "00ab10"), -1);
	CHECK_INT(text_unhex(back, 4, "00ab10ff00"), -1);
	CHECK_INT(text_unhex(back, 4, "00ab10ff0"), -1);
	CHECK_INT(text_unhex(back, 4, ""), -1);
	CHECK_INT(text_unhex(back, 1, "0"), -1);
	/* Non-hex characters of the right length. */
	CHECK_INT(text_unhex(back, 4, "00ab10fg"), -1);
	CHECK_INT(text_unhex(back, 4, "zzab10ff"), -1);
	CHECK_INT(text_unhex(back, 4, "00 b10ff"), -1);
	CHECK_INT(text_unhex(back, 4, "00:b:0ff"), -1);
}

static void
test_valid_id(void)
{
	char s[80];

	CHECK(text_valid_id("lt-almere"));
	CHECK(text_valid_id("a"));
	CHECK(text_valid_id("0"));
	CHECK(text_valid_id("vt-flevoland-2"));
	CHECK(text_valid_id("a-"));
	CHECK(text_valid_id("abcdefghijklmnopqrstuvwxyz0123456789-"));

	CHECK(!text_valid_id(""));
	CHECK(!text_valid_id("-a"));
	CHECK(!text_valid_id("LT-almere"));
	CHECK(!text_valid_id("lt_almere"));
	CHECK(!text_valid_id("lt almere"));
	CHECK(!text_valid_id("lt.almere"));
	CHECK(!text_valid_id("lt/almere"));
	CHECK(!text_valid_id("caf\xc3\xa9"));
	CHECK(!text_valid_id("a\n"));

	/* 63 is the longest; 64 is one too many. */
	memset(s, 'a', 63);
	s[63] = '\0';
	CHECK(text_valid_id(s));
	memset(s, 'a', 64);
	s[64] = '\0';
	CHECK(!text_valid_id(s));
	CHECK_INT(KETEN_ID_MAX, 63);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_b64();
	test_hex();
	test_valid_id();
	return check_done("test_text");
}
