/* Text encodings of binary values; no allocation, exact lengths only. */
#include <string.h>

#include <sodium.h>

#include "text.h"

void
text_key_to_b64(char out[TEXT_KEY_B64_LEN], const uint8_t key[32])
{
	sodium_bin2base64(out, TEXT_KEY_B64_LEN, key, 32,
	                  sodium_base64_VARIANT_ORIGINAL);
}

int
text_key_from_b64(uint8_t key[32], const char *b64)
{
	size_t len = 0;
	const char *end = NULL;

	if (sodium_base642bin(key, 32, b64, strlen(b64), NULL, &len, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	if (len != 32 || *end != '\0')
		return -1;
	return 0;
}

void
text_hex(char *out, const uint8_t *bin, size_t len)
{
	sodium_bin2hex(out, 2 * len + 1, bin, len);
}

int
text_unhex(uint8_t *bin, size_t len, const char *hex)
{
	size_t got = 0;
	const char *end = NULL;

	if (strlen(hex) != 2 * len)
		return -1;
	if (sodium_hex2bin(bin, len, hex, 2 * len, NULL, &got, &end) != 0)
		return -1;
	return got == len ? 0 : -1;
}

int
text_valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return 0;
	}
	return 1;
}

int
text_valid_witness_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TEXT_WITNESS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '+')
			return 0;
	return 1;
}
