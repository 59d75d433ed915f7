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

/* The broker keys a state note may be signed with: every broker signing
 * key of the chain's history the client knows (PROTOCOL.md 22.4), and the
 * configured one. A note is read with the key its signature line names
 * and written with the key whose signature it carries. */
struct state_keys {
	const struct note_key *k;
	size_t n;
};

#define STATE_SUFFIX ".checkpoint" /* beside the key file, by default */
/* Beside the state file: the lock every writer holds, and the
 * checkpoints held for linking when their client stopped. */
#define STATE_LOCK_SUFFIX    ".lock"
#define STATE_PENDING_SUFFIX ".pending"
#define STATE_PENDING_MAX    256 /* notes in a .pending file */

/* What a client held when it sent a request: the known_size it sent and
 * the root of its checkpoint of that size. */
struct state_known {
	uint64_t size;
	uint8_t root[KETEN_HASH_LEN];
	uint64_t gen; /* the state's generation when the request went out */
};

/* The checkpoint note in path, signed by a key of bk (cfg names the region and
 * the config file in sentences); size 0 if there is no file. KETEN_E_IO
 * with a sentence naming path if it is not such a note. */
int state_load(struct keten_checkpoint *s, const char *path,
               const struct state_keys *bk, const struct config *cfg,
               struct keten_error *err) WUR;
/* The key of bk whose signature cp carries, or NULL. */
const struct note_key *state_key_of(const struct state_keys *bk,
                                    const struct keten_checkpoint *cp);
/* Writes cp's note to path atomically, mode 0600 (savefile_write). */
int state_save(const char *path, const struct state_keys *bk,
               const struct keten_checkpoint *cp, struct keten_error *err) WUR;
/* An exclusive flock on path".lock" (created mode 0600), waited for:
 * every process that writes the state file holds it around its read,
 * compare and write. *fd goes to state_unlock. */
int state_lock(int *fd, const char *path, struct keten_error *err) WUR;
void state_unlock(int fd);
/* Under state_lock: writes cp to path unless the file holds a newer
 * note (a larger size, or cp's size with a larger access log, or the
 * same and a later time), which stays. KETEN_E_FORKED if the file holds
 * cp's size with another root (another process saw another tree). */
int state_store(const char *path, const struct state_keys *bk,
                const struct config *cfg, const struct keten_checkpoint *cp,
                struct keten_error *err) WUR;
/* The checkpoint notes in path".pending" (at most cap, duplicates
 * dropped; none if there is no file), each signed by bk; KETEN_E_IO with
 * a sentence naming the file if it holds anything else. */
int state_pending_load(struct keten_checkpoint *out, size_t *n, size_t cap,
                       const char *path, const struct state_keys *bk,
                       const struct config *cfg, struct keten_error *err) WUR;
/* Under state_lock: rewrites path".pending" as what it holds, less the
 * checkpoints in drop (linked since they were loaded), plus those in add
 * (up to STATE_PENDING_MAX); removes it if that leaves none. */
int state_pending_merge(const char *path, const struct state_keys *bk,
                        const struct config *cfg,
                        const struct keten_checkpoint *add, size_t n_add,
                        const struct keten_checkpoint *drop, size_t n_drop,
                        struct keten_error *err) WUR;
/* How a checkpoint stands to the state (PROTOCOL.md 10.9): linked at the
 * state's size (equal), a proven extension the state may move to (or the
 * first checkpoint, with no state yet), or not linked by the reply's own
 * proof (a consistency request must link it). */
enum state_link { STATE_LINKED, STATE_ADVANCE, STATE_UNLINKED };
/* The last consistency proof that held, from k to (size, root): the
 * replies of one commit mostly share both, and a proof is a few dozen
 * SHA-256s, so it is checked once. */
struct state_memo {
	bool has;
	struct state_known k;
	uint64_t size;
	uint8_t root[KETEN_HASH_LEN];
};
/* Holds cp, whose signature verified, against the stored s, given what
 * the client named when it sent the request (k) and the reply's proof
 * from k: KETEN_OK and *link; else KETEN_E_FORKED (cp does not extend k,
 * or has s's size and another root, or, for a request sent while s was
 * the state, takes back its access log, head or time) with
 * state_forked's sentence. */
int state_check(enum state_link *link, struct state_memo *memo,
                const struct keten_checkpoint *s, uint64_t s_gen,
                const struct state_known *k, const struct keten_checkpoint *cp,
                const struct consistency *proof, struct keten_error *err) WUR;
/* KETEN_E_FORKED's sentence in err, naming s's date and size, and why
 * (what went back) if not NULL. */
void state_forked(struct keten_error *err, const struct keten_checkpoint *s,
                  const char *why);

#endif
