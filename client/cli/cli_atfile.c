/*
 * A TEXT option's value: literal, @FILE (read whole, UTF-8 only) or @@ for
 * a literal leading @. It reads files a person named; it never sends them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A TEXT option's @FILE is read whole; the broker's limit is far lower. */
#define TEXT_FILE_MAX ((size_t)16 << 20)

/* Reads path whole; prints why not and returns NULL. Caller frees. */
static char *
atfile_read(const char *verb, const char *opt, const char *path)
{
	FILE *f;
	char *buf = NULL, *grown;
	size_t len = 0, cap = 0, got;
	int e = 0;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "keten %s: --%s @%s: cannot open %s: %s\n",
		        verb, opt, path, path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - len < 2) {
			if (cap >= TEXT_FILE_MAX) {
				fprintf(stderr,
				        "keten %s: --%s @%s: the file is "
				        "larger than %zu MiB\n",
				        verb, opt, path, TEXT_FILE_MAX >> 20);
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			if ((grown = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "keten %s: out of memory\n",
				        verb);
				goto fail;
			}
			buf = grown;
		}
		errno = 0;
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
	}
	e = errno;
	if (ferror(f)) {
		fprintf(stderr, "keten %s: --%s @%s: cannot read %s: %s\n",
		        verb, opt, path, path, strerror(e ? e : EIO));
		goto fail;
	}
	fclose(f);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL || !cli_utf8_valid(buf, len)) {
		fprintf(stderr,
		        "keten %s: --%s @%s: the file is not UTF-8 "
		        "text (%s)\n",
		        verb, opt, path,
		        memchr(buf, '\0', len) ? "it holds a NUL byte"
		                               : "an invalid byte sequence");
		free(buf);
		return NULL;
	}
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

int
cli_atfile_resolve(const char **text, char **loaded, const char *verb,
                   const char *opt)
{
	if ((*text)[0] == '@' && (*text)[1] != '@') {
		if ((*loaded = atfile_read(verb, opt, *text + 1)) == NULL)
			return -1;
		*text = *loaded;
	} else if ((*text)[0] == '@') {
		(*text)++; /* "@@..." is a literal "@..." */
	}
	return 0;
}

int
cli_atfile_text(const char **text, char **loaded, const char *verb,
                const char *opt, int required)
{
	if (*text == NULL)
		return 0;
	if (cli_atfile_resolve(text, loaded, verb, opt) != 0)
		return -1;
	if (required && (*text)[0] == '\0') {
		fprintf(stderr, "keten %s: --%s is empty\n", verb, opt);
		return -1;
	}
	return 0;
}
