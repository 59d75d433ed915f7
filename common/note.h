/*
 * Signed notes and what keten writes in them (docs/PROTOCOL.md 10): the
 * broker's checkpoint (c2sp.org/tlog-checkpoint), witness cosignatures
 * (c2sp.org/tlog-cosignature) and offline proof bundles
 * (c2sp.org/tlog-proof). Pure: no I/O, bounded sizes, and every parser
 * refuses what does not re-encode to the same bytes, with a reason.
 */
#ifndef KETEN_NOTE_H
#define KETEN_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "keten_public.h"
#include "merkle.h"

#define NOTE_MAX       8192 /* bytes of a signed note, signatures included */
#define NOTE_SIGS_MAX  32   /* signature lines in one note */
#define NOTE_NAME_MAX  255  /* bytes of a key name */
#define NOTE_KEY_ID    4
#define NOTE_ED25519   0x01 /* signature types of the key ID */
#define NOTE_COSIG_V1  0x04
#define NOTE_ORIGIN    "keten/" /* a checkpoint's origin: this, the region */
#define NOTE_COSIG_LEN (NOTE_KEY_ID + 8 + 64)
/* The longest checkpoint body, and with its blank line and signature. */
#define NOTE_CHECKPOINT_BODY_MAX                                               \
	(sizeof(NOTE_ORIGIN) + KETEN_ID_MAX + 1 + 20 + 1 + 45 + 5 + 45 + 7 +   \
	 20 + 1 + 45 + 5 + 20 + 1 + 7 + 20 + 1)
#define NOTE_CHECKPOINT_MAX                                                    \
	(NOTE_CHECKPOINT_BODY_MAX + 1 + 4 + NOTE_NAME_MAX + 1 + 92 + 1)
/* Bytes of base64 (with padding) for n bytes, without a NUL. */
#define NOTE_B64_LEN(n) ((((n) + 2) / 3) * 4)

/* A key as a verifier knows it: its name, key ID and public key. */
struct note_key {
	char name[NOTE_NAME_MAX + 1];
	uint8_t id[NOTE_KEY_ID];
	uint8_t pk[32];
};

/*
 * The key ID of signed-note: SHA-256(name || "\n" || type || pk)[:4].
 * note_key_init fills k for name (refused, -1, if not a valid key name).
 */
void note_key_id(uint8_t out[NOTE_KEY_ID], const char *name, uint8_t type,
                 const uint8_t pk[32]);
int note_key_init(struct note_key *k, const char *name, uint8_t type,
                  const uint8_t pk[32]) WUR;
/* The broker's checkpoint key of a region: name "keten/<region>". */
int note_broker_key(struct note_key *k, const char *region,
                    const uint8_t pk[32]) WUR;

/* Standard base64 with padding (RFC 4648 4). encode writes a NUL;
 * cap must hold NOTE_B64_LEN(len) + 1. decode accepts exactly want
 * bytes' canonical encoding of b64_len characters; 0 or -1. */
void note_b64_encode(char *out, size_t cap, const uint8_t *bin, size_t len);
int note_b64_decode(uint8_t *out, size_t want, const char *b64,
                    size_t b64_len) WUR;

/* One signature line: its key name, key ID, and the base64 of the rest
 * of its signature (after the key ID), all pointing into the note. */
struct note_sig {
	const char *name;
	size_t name_len;
	uint8_t id[NOTE_KEY_ID];
	const char *b64; /* base64 of key ID || signature, as in the line */
	size_t b64_len;
};

/* A signed note split: the text (up to and with its last "\n") and its
 * signature lines, all pointing into the buffer given to note_split. */
struct note {
	const char *text;
	size_t text_len;
	size_t n_sigs;
	struct note_sig sigs[NOTE_SIGS_MAX];
};

/*
 * Splits a signed note (c2sp.org/signed-note): UTF-8 text without
 * control characters but "\n", ending in "\n", a blank line, then 1 to
 * NOTE_SIGS_MAX lines "— <name> <base64>\n"; at most NOTE_MAX bytes.
 * KETEN_OK or KETEN_E_MALFORMED with the reason in err.
 */
int note_split(struct note *n, const char *buf, size_t len,
               struct keten_error *err) WUR;
/* The first signature line by k (name and key ID), or NULL. */
const struct note_sig *note_find(const struct note *n,
                                 const struct note_key *k);

/*
 * The checkpoint (PROTOCOL.md 10.2). body writes the note text of c
 * under origin, with the last line "roster <roster_seq>" only if
 * c->roster_seq is not 0 (PROTOCOL.md 22; a parsed note without it has
 * roster_seq 0), returns its length (0 if cap is too small); format
 * writes the whole signed note with c->signature by key k and returns
 * its length (0 if cap is too small). Neither writes a NUL.
 */
size_t note_checkpoint_body(char *out, size_t cap, const char *origin,
                            const struct keten_checkpoint *c);
size_t note_checkpoint_format(char *out, size_t cap, const struct note_key *k,
                              const struct keten_checkpoint *c);
/* Fills c->signature: Ed25519 by sk over the note text. */
void note_checkpoint_sign(struct keten_checkpoint *c, const char *origin,
                          const uint8_t sk[64]);
/* 0 if c->signature is k's over the note text of c, else -1. */
int note_checkpoint_verify(const struct keten_checkpoint *c,
                           const struct note_key *k) WUR;
/* true if a and b are one checkpoint: every field and the signature
 * equal, so under one origin their note texts are identical. */
bool note_checkpoint_same(const struct keten_checkpoint *a,
                          const struct keten_checkpoint *b);
/*
 * Parses a signed checkpoint note strictly: its text must be the one
 * note_checkpoint_body writes for k->name, and it must carry a signature
 * line by k (name and key ID), whose signature goes to c->signature.
 * Other signature lines are ignored. The signature is not verified.
 * KETEN_OK or KETEN_E_MALFORMED with the reason in err.
 */
int note_checkpoint_parse(struct keten_checkpoint *c, const char *buf,
                          size_t len, const struct note_key *k,
                          struct keten_error *err) WUR;

/*
 * Cosignatures (c2sp.org/tlog-cosignature, type 0x04): a witness signs
 * "cosignature/v1\ntime <timestamp>\n" || the checkpoint's note text.
 */
struct note_cosig {
	uint64_t timestamp; /* seconds since the epoch */
	uint8_t sig[64];
};
void note_cosig_sign(struct note_cosig *cs, uint64_t timestamp,
                     const char *text, size_t text_len, const uint8_t sk[64]);
/* 0 if cs is the witness k's cosignature of text, else -1. */
int note_cosig_verify(const struct note_cosig *cs, const char *text,
                      size_t text_len, const struct note_key *k) WUR;
/* Writes "— <name> <base64(id || be64 timestamp || sig)>\n" and a NUL;
 * returns its length without the NUL, 0 if cap is too small. */
size_t note_cosig_line(char *out, size_t cap, const struct note_key *k,
                       const struct note_cosig *cs);
/* Decodes a signature line as a cosignature; 0 or -1. */
int note_cosig_decode(struct note_cosig *cs, const struct note_sig *s) WUR;

/*
 * The offline proof bundle (c2sp.org/tlog-proof@v1, PROTOCOL.md 10.7):
 * the record's stored bytes as extra, its leaf index, the inclusion
 * proof and the checkpoint note verbatim.
 */
struct note_proof {
	const uint8_t *extra; /* format: borrowed; parse: NULL */
	size_t extra_len;
	uint64_t index;
	size_t n_path;
	uint8_t path[MERKLE_PATH_MAX][32];
	const char *note; /* the checkpoint note, signatures and all */
	size_t note_len;
};
/* A malloc'd bundle in *out (not NUL-terminated); KETEN_OK or
 * KETEN_E_NOMEM / KETEN_E_USAGE. */
int note_proof_format(char **out, size_t *len, const struct note_proof *p) WUR;
/*
 * Parses a bundle; extra is decoded into a malloc'd *extra (free it;
 * NULL if the bundle has none), note points into buf. The checkpoint
 * is not parsed here. KETEN_OK, KETEN_E_NOMEM or KETEN_E_MALFORMED.
 */
int note_proof_parse(struct note_proof *p, uint8_t **extra, const char *buf,
                     size_t len, struct keten_error *err) WUR;

#endif
