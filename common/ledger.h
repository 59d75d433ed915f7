/*
 * Read-only access to a broker's LMDB data directory, for auditors: works
 * while the broker runs, or on a copy. Never writes. The database names and
 * key layouts are ledger_layout.h's, shared with daemon/store*.c
 * (docs/PROTOCOL.md, "Storage").
 */
#ifndef KETEN_LEDGER_H
#define KETEN_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct ledger;

/* Calls fn for each log record in key order, inside one read snapshot;
 * stops early and returns fn's value if it is not 0. The bytes are only
 * valid during the call. */
typedef int (*ledger_record_fn)(void *arg, uint64_t key, const uint8_t *val,
                                size_t len);

int ledger_open(struct ledger **out, const char *dir,
                struct keten_error *err) WUR;
void ledger_close(struct ledger **l);
/* Walks the log; *head_seq/head_hash get the metadata head of the same
 * snapshot (0 and zeros for an empty log). */
int ledger_walk(struct ledger *l, ledger_record_fn fn, void *arg,
                uint64_t *head_seq, uint8_t head_hash[32],
                char region[KETEN_ID_MAX + 1], struct keten_error *err) WUR;

/* ledger_walk, then end(arg, status) still inside the same read snapshot,
 * always (status: the walk's result so far; its value counts only when
 * status is 0): the bytes handed to fn stay valid until end returns, so fn
 * may keep pointers to them and finish, or abandon, its work there. */
typedef int (*ledger_end_fn)(void *arg, int status);
int ledger_walk_end(struct ledger *l, ledger_record_fn fn, ledger_end_fn end,
                    void *arg, uint64_t *head_seq, uint8_t head_hash[32],
                    char region[KETEN_ID_MAX + 1], struct keten_error *err) WUR;

/* The signed checkpoint stored now (meta "checkpoint", unverified), in a
 * snapshot of its own: a walk begun after it sees at least its records.
 * *has is false if there is none (a log from before checkpoints, never
 * opened by a newer broker). KETEN_E_CHAIN if it is not a checkpoint
 * note of broker's key (its signature is the caller's to check). */
struct keten_checkpoint;
struct note_key;
int ledger_checkpoint(struct ledger *l, struct keten_checkpoint *cp, bool *has,
                      const struct note_key *broker, bool old_ok,
                      struct keten_error *err) WUR;

/* Calls fn for each entry of the witness database (ledger_layout.h: a
 * witness's name, its cosigned note; both unverified, valid only during
 * the call), in one read snapshot of its own; a directory without the
 * database has no entries. Stops early and returns fn's value if it is
 * not 0. */
typedef int (*ledger_witness_fn)(void *arg, const char *name, size_t name_len,
                                 const char *note, size_t note_len);
int ledger_witness_each(struct ledger *l, ledger_witness_fn fn, void *arg,
                        struct keten_error *err) WUR;

/* The same over the access log (access.h), with its own head; a data
 * directory from before the access log walks as empty. */
int ledger_walk_access(struct ledger *l, ledger_record_fn fn, void *arg,
                       uint64_t *head_seq, uint8_t head_hash[32],
                       char region[KETEN_ID_MAX + 1],
                       struct keten_error *err) WUR;

#endif
