/*
 * Text forms of binary values: base64 for keys in config files, hex for ids
 * and hashes in output. Decoders reject anything but the exact length.
 */
#ifndef KETEN_TEXT_H
#define KETEN_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define TEXT_KEY_B64_LEN 45 /* 32 bytes in base64 with padding, plus NUL */

/* Writes base64 of 32 bytes into out (TEXT_KEY_B64_LEN bytes). */
void text_key_to_b64(char out[TEXT_KEY_B64_LEN], const uint8_t key[32]);
/* Decodes exactly 32 bytes of base64; returns 0 or -1. */
int text_key_from_b64(uint8_t key[32], const char *b64) WUR;
/* Writes 2*len hex digits and a NUL into out. */
void text_hex(char *out, const uint8_t *bin, size_t len);
/* Decodes exactly len bytes of hex; returns 0 or -1. */
int text_unhex(uint8_t *bin, size_t len, const char *hex) WUR;
/* Whether s is a valid agency id: 1-63 of [a-z0-9-], not starting with '-'. */
int text_valid_id(const char *s);
/* A witness's name: a signed-note key name of 1-TEXT_WITNESS_NAME_MAX
 * printable ASCII characters, no space and no '+'. */
#define TEXT_WITNESS_NAME_MAX 127
int text_valid_witness_name(const char *s);
/* Well-formed UTF-8 with no control character but "\n" (no overlong
 * form, surrogate or C1 control); the offset of the first bad byte, or
 * len if there is none. */
size_t text_utf8_check(const char *buf, size_t len);
/* An agency's display name (PROTOCOL.md 22): 1-TEXT_NAME_MAX bytes of
 * well-formed UTF-8 with no control character at all. */
#define TEXT_NAME_MAX 127
int text_valid_name(const char *s);

#endif
