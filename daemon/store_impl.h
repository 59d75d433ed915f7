/*
 * The store's private parts, for daemon/store*.c only: the handle every
 * thread reads, the writer's own state, and the calls between the files.
 * Must never be included outside daemon/store*.c.
 *
 * Calls run one way, with no circle: store.c (open, close, map growth,
 * heads) calls store_upgrade.c, store_tree.c and store_checkpoint.c;
 * store_upgrade.c calls store_tree.c and store_cases.c; store_write.c and
 * store_read.c call store.c, store_tree.c, store_checkpoint.c and
 * store_cases.c; store_tree.c calls store_checkpoint.c (a proof is
 * against the stored checkpoint); store_checkpoint.c and store_cases.c
 * call no other store file.
 */
#ifndef KETEN_STORE_IMPL_H
#define KETEN_STORE_IMPL_H

#include <pthread.h>

#include <lmdb.h>

#include "chain.h"
#include "ledger_layout.h"
#include "merkle.h"
#include "note.h"
#include "store.h"

/* What every thread reads: fixed once store_open returns, but for the
 * lock. Holds no way to the writer's state. */
struct store {
	MDB_env *env;
	MDB_dbi log, msgid, inbox, content, cursor, meta;
	MDB_dbi caseno, cases, caseidx, caselog, access, tree, witness;
	char region[KETEN_ID_MAX + 1];
	/* The broker's key (the config's broker_key, borrowed): names the
	 * stored checkpoint. */
	const struct note_key *key;
	uint8_t genesis[32];
	/* The one lock. Readers hold it shared for the length of a read
	 * transaction; the writer holds it alone only to grow the map,
	 * which LMDB allows only when no transaction in this process is
	 * inside the old mapping. */
	pthread_rwlock_t remap;
	/* The roster as committed (docs/PROTOCOL.md 22), built at open.
	 * Under the same lock: readers hold it shared and copy out what
	 * they need; the writer replaces it, holding it alone, after a
	 * commit that recorded a roster record. Never keep a pointer into
	 * it past the lock. */
	struct roster *roster;
	int dir_fd; /* holds the directory's lock (dirlock.h) */
};

/* What only the writer thread holds (store_open hands it out once):
 * only functions given a struct store_writer can touch these. */
struct node_slot; /* store_tree.c's node cache */
struct store_writer {
	struct store *s;
	size_t map_size, map_max;
	int64_t readers_checked_us; /* store_readers_check's last, monotonic */
	char *dir; /* the data directory: named in the log's sentences */
	bool told_damaged; /* the start's warning, given */
	/* The writer's view of the heads. */
	uint64_t head_seq;
	uint8_t head_hash[32];
	uint64_t access_seq;
	uint8_t access_hash[32];
	/* The Merkle tree's right edge, the latest checkpoint and the node
	 * cache. */
	struct merkle_frontier tree_f;
	struct keten_checkpoint cp;
	store_sign_fn sign;
	void *sign_arg;
	/* The newest roster record's seq in the writer's view (meta
	 * "roster"), and the batch's working roster: s->roster and the
	 * batch's roster records, made at its first STORE_ROSTER item;
	 * it replaces s->roster after the commit. */
	uint64_t roster_seq;
	struct roster *roster_next;
	struct node_slot *cache[MERKLE_LEVELS];
	size_t cache_n[MERKLE_LEVELS];
};

/* store.c. LMDB codes throughout. */
/* The head stored in txn's snapshot, or 0 and the genesis hash before the
 * first commit. */
int store_head_get(const struct store *s, MDB_txn *txn, uint64_t *seq,
                   uint8_t hash[32]);
/* The map's size and use and the latest checkpoint, to the metrics. */
void store_metrics(const struct store_writer *w);
/* Doubles the map (up to map_max): 0 if it grew. */
int store_grow_map(struct store_writer *w);
int store_readers_check(struct store_writer *w, bool force);

/* store_write.c: appends the record of envelope env (len bytes) at the
 * writer's head + 1, received at now_us, to the log and the tree, and
 * moves the writer's head: record_hash gets its hash. An LMDB code. */
int store_write_append(struct store_writer *w, MDB_txn *txn, const uint8_t *env,
                       size_t len, int64_t now_us, uint8_t record_hash[32]);

/* store_roster.c: the roster records (docs/PROTOCOL.md 22, 13.2). */
/* meta "roster": 0 when absent; MDB_CORRUPTED if not a be64. */
int store_roster_meta_get(const struct store *s, MDB_txn *txn, uint64_t *seq);
int store_roster_meta_put(const struct store *s, MDB_txn *txn, uint64_t seq);
/* Whether the log entry (k, v) is a roster record: 1, 0, or
 * MDB_CORRUPTED if it does not decode. */
int store_roster_is(const MDB_val *k, const MDB_val *v);
/* The roster of the log's roster records up to last (meta "roster"),
 * followed back through each record's prev_seq and applied from the
 * first. 0; an LMDB code; or -1 with why naming the record. */
int store_roster_load(const struct store *s, MDB_txn *txn, uint64_t last,
                      struct roster **out, struct keten_error *why);
/* Loads the roster of the writer's view (meta "roster") into s->roster
 * at open (no reader exists yet). As store_roster_load. */
int store_roster_open(struct store_writer *w, MDB_txn *txn,
                      struct keten_error *why);
/* STORE_ROSTER: checks the roster record against the batch's working
 * roster and appends it. An LMDB code; a refusal is the item's status. */
int store_roster_apply(struct store_writer *w, MDB_txn *txn,
                       struct store_item *it, int64_t now_us);
/* The seqs of the roster records after after_seq in txn's snapshot: at
 * most max, ascending, in *seqs (malloc'd: free it), and whether more
 * follow. An LMDB code. */
int store_roster_after(const struct store *s, MDB_txn *txn, uint64_t after_seq,
                       size_t max, uint64_t **seqs, size_t *n, bool *more);
/* After the batch: on commit (committed) the working roster replaces
 * s->roster; else it is dropped. */
void store_roster_batch_end(struct store_writer *w, bool committed);

/* store_tree.c: the node cache, the tree and proofs. */
int store_tree_cache_new(struct store_writer *w);
void store_tree_cache_free(struct store_writer *w);
void store_tree_cache_drop(struct store_writer *w);
int store_tree_append(struct store_writer *w, MDB_txn *txn,
                      const uint8_t record_hash[32]);
int store_tree_load(struct store_writer *w, MDB_txn *txn, uint64_t size);
int store_tree_path(struct store_writer *w, struct receipt *r,
                    struct consistency *cons, uint64_t known_size);
int store_tree_prove(const struct store *s, MDB_txn *txn, struct delivered *d,
                     size_t n, struct keten_checkpoint *cp);
/* The head of the first size leaves (size <= the stored tree's). */
int store_tree_root(const struct store *s, MDB_txn *txn, uint64_t size,
                    uint8_t root[32]);
/* The consistency proof from known_size to size leaves (size <= stored):
 * out->n = 0 unless 0 < known_size < size. */
int store_tree_consistency(const struct store *s, MDB_txn *txn,
                           struct consistency *out, uint64_t known_size,
                           uint64_t size);

/* store_witness.c: stores a witness's cosigned note (STORE_COSIGN). */
int store_witness_apply(const struct store *s, MDB_txn *txn,
                        struct store_item *it);

/* store_checkpoint.c: the signed checkpoints. */
void store_checkpoint_make(struct store_writer *w, struct keten_checkpoint *cp,
                           int64_t now_us);
int store_checkpoint_put(const struct store *s, MDB_txn *txn,
                         const struct keten_checkpoint *cp);
/* The stored checkpoint, if any: 0, MDB_NOTFOUND or an LMDB code. */
int store_checkpoint_get(const struct store *s, MDB_txn *txn,
                         struct keten_checkpoint *cp);
/* Signs a checkpoint of the log as it is, unless the stored one signs a
 * different log (then MDB_CORRUPTED: the broker must not start). */
int store_checkpoint_ensure(struct store_writer *w, MDB_txn *txn);

/* store_cases.c: a case's state and indexes. */
int store_casedb_at(const struct store *s, MDB_txn *txn, struct case_state *st,
                    const uint8_t no[LAYOUT_SEQ_KEY_LEN]);
int store_casedb_number(const struct store *s, MDB_txn *txn,
                        uint8_t no[LAYOUT_SEQ_KEY_LEN],
                        const uint8_t id[KETEN_CASE_ID_LEN]);
int store_casedb_get(const struct store *s, MDB_txn *txn, struct case_state *st,
                     const uint8_t id[KETEN_CASE_ID_LEN]);
int store_casedb_put(const struct store *s, MDB_txn *txn,
                     const struct case_state *st, size_t old_parties,
                     const uint8_t seqkey[LAYOUT_SEQ_KEY_LEN]);

/* store_upgrade.c: brings an older data directory up to this schema, and
 * loads the tree's frontier; -1 with why set if it must not be served. */
int store_upgrade(struct store_writer *w, MDB_txn *txn,
                  struct keten_error *why);
/* The upgrade's rebuilds from the log, for store_verify.c: the case
 * databases (-1 with why set if a record breaks the case rules) and the
 * tree; and a log entry's record and body (0 or MDB_CORRUPTED). */
int store_upgrade_rebuild_cases(struct store_writer *w, MDB_txn *txn,
                                struct keten_error *why);
int store_upgrade_rebuild_tree(struct store_writer *w, MDB_txn *txn);
int store_upgrade_body(struct record *r, struct body *b, const MDB_val *k,
                       const MDB_val *v);

/* store_verify.c: every derived database against the log, in the start
 * transaction, when the schema is this one; what disagrees is rebuilt.
 * 0, an LMDB code, or -1 with why set if it must not be served (sealed
 * content that does not match its record cannot be rebuilt). */
int store_verify_derived(struct store_writer *w, MDB_txn *txn,
                         struct keten_error *why);

#endif
