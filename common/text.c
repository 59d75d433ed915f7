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

size_t
text_utf8_check(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], need;
		uint32_t cp;
		if (c < 0x80) {
			if ((c < 0x20 && c != '\n') || c == 0x7f)
				return i;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return i;
		}
		if (len - i <= need)
			return i;
		for (unsigned j = 1; j <= need; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		/* overlong, surrogate or beyond U+10FFFF */
		if ((need == 2 &&
		     (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0x80 && cp <= 0x9f)) /* C1 controls */
			return i;
		i += need + 1;
	}
	return len;
}

int
text_valid_name(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= TEXT_NAME_MAX &&
	       text_utf8_check(s, len) == len && memchr(s, '\n', len) == NULL;
}
