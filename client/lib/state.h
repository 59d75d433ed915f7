/*
 * The newest checkpoint a client or witness has verified: its state file
 * and the check that a later checkpoint extends it (PROTOCOL.md 10.4).
 * Never advances the state along a proof that does not start at it.
 */
#ifndef KETEN_STATE_H
#define KETEN_STATE_H

#include <stdbool.h>

#include "keten.h"
#include "wire.h"

struct config;
struct note_key;

#define STATE_SUFFIX ".checkpoint" /* beside the key file, by default */

/* What a client held when it sent a request: the known_size it sent and
 * the root of its checkpoint of that size. */
struct state_known {
	uint64_t size;
	uint8_t root[KETEN_HASH_LEN];
};

/* The checkpoint note in path, signed by bk (cfg names the region and
 * the config file in sentences); size 0 if there is no file. KETEN_E_IO
 * with a sentence naming path if it is not such a note. */
int state_load(struct keten_checkpoint *s, const char *path,
               const struct note_key *bk, const struct config *cfg,
               struct keten_error *err) WUR;
/* Writes cp's note to path atomically, mode 0600 (savefile_write). */
int state_save(const char *path, const struct note_key *bk,
               const struct keten_checkpoint *cp, struct keten_error *err) WUR;
/* Holds cp, whose signature verified, against the stored s, given what
 * the client held when it sent the request (k) and the reply's proof:
 * KETEN_OK, *advance set if s may become cp (a proof from s itself, or no
 * s yet); else KETEN_E_FORKED with the sentence naming s's date and size
 * (and which part went back: the access log, the head, the time). */
int state_check(bool *advance, const struct keten_checkpoint *s,
                const struct state_known *k, const struct keten_checkpoint *cp,
                const struct consistency *proof, struct keten_error *err) WUR;

#endif
