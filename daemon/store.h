/*
 * The broker's LMDB store, read-write (common/ledger.c is the read-only
 * door; both take the layout from common/ledger_layout.h). Only
 * daemon/store*.c include lmdb.h, through store_impl.h, and nothing outside
 * them sees an MDB_val. Any thread may read through the struct store; only the
 * writer thread holds the struct store_writer that store_apply needs. MDB_vals
 * never leave a transaction: readers get copies.
 */
#ifndef KETEN_STORE_H
#define KETEN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "case.h"
#include "error.h"
#include "record.h"
#include "wire.h"

struct roster;
struct store;        /* what every thread reads */
struct store_writer; /* what only the writer thread holds */

enum store_op {
	STORE_SUBMIT = 1,
	STORE_ACK,
	STORE_ACCESS,
	STORE_COSIGN,
	STORE_ROSTER /* a roster record the broker signed (envelope) */
};

/* One write in a batch. The writer fills the outputs. */
struct store_item {
	enum store_op op;
	/* submit, roster (a roster record: no content, message id or
	 * case; its receipt's seq, time and hashes are filled) */
	const uint8_t *envelope;
	size_t envelope_len;
	const uint8_t *sealed;
	size_t sealed_len;
	uint8_t message_id[KETEN_MSG_ID_LEN];
	uint8_t signer_pk[32]; /* the key its signature verified with: it
	                        * must still be in force when it commits */
	struct case_msg msg;   /* seq and at_us are the writer's to fill */
	uint64_t known_size;   /* the request's: proves the receipt's cp */
	/* ack */
	const char *agency;
	uint64_t ack_seq;
	/* access: the read to account (seq, at_us and prev_hash are the
	 * writer's to fill) */
	struct access_entry access;
	bool access_repeat; /* the same read was just accounted: skip it */
	/* cosign: a witness's cosigned note, verified, of cosign_size
	 * records, cosigned at cosign_time (seconds); the writer stores it
	 * unless one of more records, or as many cosigned later, is. */
	const struct witness *witness; /* the config's, borrowed */
	const char *note;
	size_t note_len;
	uint64_t cosign_size;
	uint64_t cosign_time;
	/* outputs */
	int status;             /* KETEN_OK or a refusal code */
	bool duplicate;         /* submit: answered with its first record */
	struct receipt receipt; /* submit: with checkpoint and proof */
	struct consistency consistency; /* submit: of receipt.cp */
	uint64_t cursor;                /* ack: the cursor after this item */
	uint64_t cosigned;      /* cosign: the stored cosignature's size */
	struct keten_error err; /* refusal sentence */
	/* submit: the agencies whose inbox got the record (new records only) */
	size_t n_to;
	char to[CASE_PARTIES_MAX][KETEN_ID_MAX + 1];
};

/* Signs a checkpoint in place (signer_checkpoint). */
typedef void (*store_sign_fn)(void *arg, struct keten_checkpoint *cp);

/* Checks dir with its lock held, before LMDB opens it for writing:
 * store_open goes no further unless it returns KETEN_OK. */
typedef int (*store_check_fn)(void *arg, const char *dir,
                              struct keten_error *err);

/* The start's check (store_check_fn, arg a struct config): the structural
 * walk and the whole chain, with the audit's code (audit_verify_dir).
 * KETEN_E_CHAIN naming the first bad record, or the damaged database. */
int store_verify_chain(void *arg, const char *dir, struct keten_error *err);

/* key is the broker's checkpoint key (config's broker_key, borrowed: it
 * must outlive the store): the stored checkpoint is its signed note. map_size
 * is the initial map; it doubles when full, up to map_max (0: until the disk is
 * full). Every commit stores a checkpoint signed with sign(sign_arg, ...); so
 * does opening a log whose checkpoint is missing (a directory from before
 * checkpoints). check(check_arg, dir), if not NULL, runs first; every derived
 * database is then checked against the log (store_verify.c). *writer is the
 * writer's state: give it to the writer thread alone. */
int store_open(struct store **out, struct store_writer **writer,
               const char *dir, size_t map_size, size_t map_max,
               const char *region, const struct note_key *key,
               store_sign_fn sign, void *sign_arg, store_check_fn check,
               void *check_arg, struct keten_error *err) WUR;
/* Closes both, once no thread uses them; NULLs them. */
void store_close(struct store **s, struct store_writer **writer);

/* Applies the items in one durable transaction, with a signed checkpoint.
 * Returns non-OK only if the whole batch failed (nothing was written; each
 * item's status says why). After the commit each recorded submit's
 * receipt gets the checkpoint and its inclusion proof. */
int store_apply(struct store_writer *w, struct store_item *items, size_t n,
                int64_t now_us, struct keten_error *err) WUR;

/*
 * The roster as committed (docs/PROTOCOL.md 22), for any thread. The
 * roster's own pointers never leave the store's lock: these copy out.
 */
/* The agency whose key is in force for a record at seq (RECORD_SEQ_NOW:
 * now), copied into *out: KETEN_OK, or roster_find's refusal. */
int store_roster_find(struct store *s, struct agency *out, const char *id,
                      uint64_t seq, struct keten_error *err) WUR;
/* The door's roster (record.h) over store_roster_find: the agency it
 * returns is a per-thread copy, valid until that thread's next find. */
struct record_roster store_record_roster(struct store *s);
/* The seq of the newest roster record committed; 0: none. */
uint64_t store_roster_last(struct store *s);
/* The writer thread's direct view (it alone replaces the roster): valid
 * until its next store_apply. */
const struct roster *store_writer_roster(const struct store_writer *w);
/* The log's time: the newest checkpoint's signed_at_us, which no record,
 * access entry or checkpoint is dated before (PROTOCOL.md 9.1). The
 * writer thread's, or main's before that thread starts. */
int64_t store_writer_time(const struct store_writer *w);

/* The roster records with seq > after_seq, at most
 * WIRE_ROSTER_REPLY_MAX, in seq order (sealed content empty), each with
 * its inclusion proof in the snapshot's checkpoint; more if others
 * follow. Free with store_roster_records_free. */
struct store_roster_records {
	struct delivered *records;
	size_t n;
	bool more;
	bool has_cp;
	struct keten_checkpoint cp;
	struct consistency consistency; /* of cp, from known_size */
};
int store_roster_records(struct store *s, struct store_roster_records *out,
                         uint64_t after_seq, uint64_t known_size,
                         struct keten_error *err) WUR;
void store_roster_records_free(struct store_roster_records *r);

/* Whether agency may leave the region (PROTOCOL.md 22.7): KETEN_OK, or
 * KETEN_E_CONFIG naming the first case it holds that is not closed or
 * whose open offer it sent or receives. */
int store_agency_settled(struct store *s, const char *agency,
                         struct keten_error *err) WUR;

/* The newest time (seconds) at which a witness of c cosigned a stored
 * checkpoint, 0 if none did; only entries that verify count. KETEN_OK or
 * KETEN_E_IO. */
int store_witness_newest(struct store *s, const struct config *c,
                         uint64_t *at) WUR;

/* The chain head (0 and the genesis hash for an empty log). */
int store_head(struct store *s, uint64_t *seq, uint8_t hash[32]) WUR;

/* Messages for agency after max(after_seq, its cursor), at most max_n and
 * about max_bytes, and the head seq of the same read snapshot. items[]
 * and their bytes are malloc'd: free with store_fetch_free. */
struct store_fetch {
	struct delivered *items; /* each with its inclusion proof in cp */
	size_t n;
	uint64_t cursor;
	bool more;
	uint64_t head_seq;
	bool has_cp; /* whenever n > 0 */
	struct keten_checkpoint cp;
	struct consistency consistency; /* of cp, from known_size */
};
int store_fetch(struct store *s, struct store_fetch *out, const char *agency,
                uint64_t after_seq, size_t max_n, size_t max_bytes,
                uint64_t known_size, struct keten_error *err) WUR;
void store_fetch_free(struct store_fetch *f);

/* The cases agency is a party to (every case if agency is NULL), in
 * opening order after case `after` (NULL: from the first), at most max_n;
 * KETEN_E_CASE_UNKNOWN if agency may not see `after`. items is malloc'd:
 * free() it. */
struct store_cases {
	struct case_state *items;
	size_t n;
	bool more;
};
int store_cases(struct store *s, struct store_cases *out, const char *agency,
                const uint8_t *after, size_t max_n,
                struct keten_error *err) WUR;

/* One case and its records after after_seq (sealed content left out), at
 * most about max_bytes. KETEN_E_CASE_UNKNOWN if there is no such case or
 * agency (NULL: anyone) is not a party to it. Free with store_case_free. */
struct store_case {
	struct case_state st;
	struct delivered *records;
	size_t n;
	bool more;
};
int store_case(struct store *s, struct store_case *out, const char *agency,
               const uint8_t case_id[KETEN_CASE_ID_LEN], uint64_t after_seq,
               size_t max_bytes, struct keten_error *err) WUR;
void store_case_free(struct store_case *c);

/* The log itself, for auditors: the records with seq >= from_seq (0 counts
 * as 1) in sequence order, sealed content left out, at most max_n (0
 * counts as 1) and about max_bytes of envelopes (the first record always,
 * however big), with the head as it stood in the same read snapshot (0 and
 * the genesis hash for an empty log). more: records follow these. records
 * and their bytes are malloc'd: free with store_replay_free. */
struct store_replay {
	struct delivered *records;
	size_t n;
	bool more;
	uint64_t head_seq;
	uint8_t head_hash[32];
	bool has_cp; /* the checkpoint of the same snapshot */
	struct keten_checkpoint cp;
	struct consistency consistency; /* of cp, from known_size */
};
int store_replay(struct store *s, struct store_replay *out, uint64_t from_seq,
                 size_t max_n, size_t max_bytes, uint64_t known_size,
                 struct keten_error *err) WUR;
void store_replay_free(struct store_replay *r);

/*
 * What a ping answers from one snapshot: the head, the latest checkpoint,
 * the consistency proof to it from known_size (when 0 < known_size <
 * its size) and every witness's stored note. The notes are malloc'd:
 * free with store_ping_free.
 */
struct store_ping {
	uint64_t head_seq;
	bool has_cp;
	struct keten_checkpoint cp;
	struct consistency consistency;
	size_t n_cosigned;
	char *cosigned[WIRE_COSIGNED_MAX];
	size_t cosigned_len[WIRE_COSIGNED_MAX];
};
int store_ping(struct store *s, struct store_ping *out, uint64_t known_size,
               struct keten_error *err) WUR;
void store_ping_free(struct store_ping *p);

/* The consistency proof between from_size and to_size (0: the log's size),
 * and the snapshot's checkpoint with its proof from known_size, from one
 * snapshot (PROTOCOL.md 10.10). KETEN_E_FIELD naming the log's size if
 * to_size is beyond the log or from_size above to_size; KETEN_E_IO. */
struct store_consistency {
	uint64_t log_size; /* the checkpoint's size; 0 without one */
	uint64_t to_size;  /* resolved */
	struct consistency proof;
	bool has_cp;
	struct keten_checkpoint cp;
	struct consistency consistency; /* of cp, from known_size */
};
int store_consistency(struct store *s, struct store_consistency *out,
                      uint64_t from_size, uint64_t to_size, uint64_t known_size,
                      struct keten_error *err) WUR;

/* The Merkle tree head over the first size records, if the log has that
 * many (*head gets the log's size either way). KETEN_OK, KETEN_E_FIELD
 * if size is beyond the log, or KETEN_E_IO. */
int store_root_at(struct store *s, uint8_t root[KETEN_HASH_LEN], uint64_t *head,
                  uint64_t size, struct keten_error *err) WUR;

/*
 * ketend --backup: a compacted copy of data_dir's LMDB environment into
 * dest/data.mdb (LMDB's copy, one read snapshot), opened read-only beside
 * a running broker or without one, taking neither its directory lock nor
 * a write transaction. dest is created mode 0700 (or, if it exists, must
 * be an empty directory: it is set to 0700); the file is made with
 * O_EXCL, mode 0600, and synced with its directory. KETEN_E_IO with a
 * sentence (dest not empty, unreadable source); nothing is left in dest
 * on failure.
 */
int store_backup(const char *data_dir, const char *dest,
                 struct keten_error *err) WUR;

#endif
