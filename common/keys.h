/*
 * An agency's (or the broker's) key material: Ed25519 signing, X25519 for
 * sealed content, CURVE transport. Secret halves live in sodium_malloc'd
 * memory, are written only to mode-0600 files and never logged.
 */
#ifndef KETEN_KEYS_H
#define KETEN_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "text.h"

struct keys {
	char id[KETEN_ID_MAX + 1];
	/* Who the keys are (key file version 2): KETEN_KIND_NONE and "" if
	 * not recorded (the broker's file, a version-1 file). */
	enum keten_kind kind;
	char name[TEXT_NAME_MAX + 1];
	unsigned version; /* the file format it was loaded from (1 or 2) */
	uint8_t sign_pk[32];
	uint8_t sign_sk[64];
	uint8_t box_pk[32];
	uint8_t box_sk[32];
	uint8_t curve_pk[32];
	uint8_t curve_sk[32];
};

/* New random keys for id, in guarded memory; free with keys_destroy. */
int keys_generate(struct keys **out, const char *id,
                  struct keten_error *err) WUR;
/*
 * Records who the keys are, saved with them: kind 1-5 and a display name
 * (text_valid_name) for an agency, or KETEN_KIND_NONE and NULL to record
 * neither; the broker's keys (id "broker") record neither. KETEN_E_USAGE
 * if the pair is invalid.
 */
int keys_set_identity(struct keys *k, enum keten_kind kind, const char *name,
                      struct keten_error *err) WUR;
/* New random keys with old's id, kind and name: old's successor in a
 * rotation. Free with keys_destroy. */
int keys_successor(struct keys **out, const struct keys *old,
                   struct keten_error *err) WUR;
/* Writes keys to a new file of mode 0600 (format version 2); refuses to
 * overwrite: KETEN_E_USAGE if path exists (whatever it is). */
int keys_save(const struct keys *k, const char *path,
              struct keten_error *err) WUR;
/* Loads a key file of version 1 or 2 (KETEN_E_KEYFILE otherwise): what
 * is not a regular file is refused at once, without blocking; what is
 * not a key file (a region config given as one) is called so before its
 * mode is judged; then one that group or others may read, that another
 * user than euid and root owns, whose directory others may write
 * (fileck.h), or that is damaged. */
int keys_load(struct keys **out, const char *path, struct keten_error *err) WUR;
/* Wipes and frees the keys and sets *k to NULL; NULL is a no-op. */
void keys_destroy(struct keys **k);

/*
 * A witness's key file (PROTOCOL.md Appendix C): its name, the Ed25519
 * key it cosigns checkpoints with and its CURVE transport key. Same
 * rules as an agency's: guarded memory, mode 0600, never overwritten.
 */
struct witness_keys {
	char name[TEXT_WITNESS_NAME_MAX + 1];
	uint8_t cosign_pk[32];
	uint8_t cosign_sk[64];
	uint8_t curve_pk[32];
	uint8_t curve_sk[32];
};

int keys_witness_generate(struct witness_keys **out, const char *name,
                          struct keten_error *err) WUR;
int keys_witness_save(const struct witness_keys *k, const char *path,
                      struct keten_error *err) WUR;
int keys_witness_load(struct witness_keys **out, const char *path,
                      struct keten_error *err) WUR;
void keys_witness_destroy(struct witness_keys **k);

/* Whether the n bytes at head begin as a keten key file (an agency's,
 * the broker's or a witness's: the magic of either format), so that a
 * key file given as something else is named for what it is. */
bool keys_is_key_file(const void *head, size_t n);

#endif
