/*
 * Printing text that came from elsewhere (another agency's sealed content,
 * the broker's and the library's sentences) for a person or a script. It
 * must never let a raw control character or invalid UTF-8 through.
 */
#include <stdint.h>
#include <string.h>

#include "cli.h"

/*
 * The length (1-4) of the UTF-8 sequence at s, within n > 0 bytes, if it
 * is one code point in its shortest form, not a surrogate and at most
 * U+10FFFF; the code point goes in *cp. 0 if s does not start one.
 */
static size_t
utf8_decode(uint32_t *cp, const unsigned char *s, size_t n)
{
	uint32_t c = s[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, min = 0x80, c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, min = 0x800, c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, min = 0x10000, c &= 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int
cli_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t len;

	for (size_t i = 0; i < n; i += len)
		if ((len = utf8_decode(&cp, p + i, n - i)) == 0)
			return 0;
	return 1;
}

/* C0 controls, DEL and C1 controls: what a terminal may act on. */
static int
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

static void
put_placeholder(FILE *f, const unsigned char *p, size_t len)
{
	for (size_t k = 0; k < len; k++)
		fprintf(f, "\\x%02x", p[k]);
}

/* indent < 0: one line, so a line break is a control like any other. */
static void
put_text(FILE *f, const char *s, size_t n, int indent)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t len;

	for (size_t i = 0; i < n; i += len) {
		if ((len = utf8_decode(&cp, p + i, n - i)) == 0) {
			put_placeholder(f, p + i, 1);
			len = 1;
		} else if (indent >= 0 && cp == '\r' && i + 1 < n &&
		           p[i + 1] == '\n') {
			continue; /* CRLF is a line break too */
		} else if (indent >= 0 && cp == '\n') {
			fprintf(f, "\n%*s", indent, "");
		} else if (cp == '\t') {
			fputc(' ', f);
		} else if (is_control(cp)) {
			put_placeholder(f, p + i, len);
		} else {
			fwrite(p + i, 1, len, f);
		}
	}
}

void
cli_put_text(FILE *f, const char *s)
{
	if (s != NULL)
		put_text(f, s, strlen(s), -1);
}

void
cli_put_lines(FILE *f, const char *s, int indent)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	put_text(f, s, n, indent < 0 ? 0 : indent);
}

void
json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), len;
	uint32_t cp;

	fputc('"', f);
	for (size_t i = 0; i < n; i += len) {
		if ((len = utf8_decode(&cp, p + i, n - i)) == 0) {
			fputs("\\ufffd", f);
			len = 1;
		} else if (cp == '"' || cp == '\\') {
			fprintf(f, "\\%c", (int)cp);
		} else if (cp == '\n') {
			fputs("\\n", f);
		} else if (cp == '\t') {
			fputs("\\t", f);
		} else if (is_control(cp)) {
			/* DEL and C1 need no escape in JSON, but a terminal
			 * showing the JSON would act on them */
			fprintf(f, "\\u%04x", (unsigned)cp);
		} else {
			fwrite(p + i, 1, len, f);
		}
	}
	fputc('"', f);
}
