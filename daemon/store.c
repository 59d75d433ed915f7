/*
 * LMDB storage of the chain and its indexes (docs/PROTOCOL.md, "Storage").
 * Must never return an MDB_val outside its transaction, and never write
 * outside store_apply's single durable transaction.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>
#include <sodium.h>

#include "bytes.h"
#include "chain.h"
#include "clock.h"
#include "ledger.h"
#include "log.h"
#include "merkle.h"
#include "store.h"
#include "text.h"

/* The writer's cache of recently completed Merkle nodes: slot index %
 * n at each level, n = CACHE_SLOTS >> level (at least 4). It holds the
 * frontier and the nodes of the latest batches, so the writer computes
 * each receipt's proof without reading LMDB. */
#define CACHE_SLOTS 1024
struct node_slot {
	uint64_t index;
	bool valid;
	uint8_t hash[32];
};

struct store {
	MDB_env *env;
	MDB_dbi log, msgid, inbox, content, cursor, meta;
	MDB_dbi caseno, cases, caseidx, caselog, access, tree;
	char region[KETEN_ID_MAX + 1];
	uint8_t genesis[32];
	/* Readers hold it shared for the length of a read transaction; the
	 * writer holds it alone only to grow the map, which LMDB allows only
	 * when no transaction in this process is inside the old mapping. */
	pthread_rwlock_t remap;
	size_t map_size, map_max; /* the writer's */
	bool told_damaged;        /* the start's warning, given */
	/* The writer's view of the head; only the writer thread touches it. */
	uint64_t head_seq;
	uint8_t head_hash[32];
	/* The access log's head, likewise the writer's. */
	uint64_t access_seq;
	uint8_t access_hash[32];
	/* The Merkle tree's right edge and the latest checkpoint, and the
	 * node cache: the writer's. */
	struct merkle_frontier tree_f;
	struct keten_checkpoint cp;
	store_sign_fn sign;
	void *sign_arg;
	struct node_slot *cache[MERKLE_LEVELS];
	size_t cache_n[MERKLE_LEVELS];
};

/* A msgid value is the record's be64 seq. Before schema 4 it went on with
 * the receipt fields (120 bytes in all); those are read from the record
 * now, so the old values still serve. */
#define MSGID_VAL_LEN     8
#define MSGID_VAL_LEN_OLD 120
#define INBOX_KEY_MAX     (KETEN_ID_MAX + 1 + 8)

static MDB_val
val(const void *p, size_t n)
{
	MDB_val v = {.mv_size = n, .mv_data = (void *)(uintptr_t)p};
	return v;
}

static size_t
inbox_key(uint8_t *out, const char *agency, uint64_t seq)
{
	size_t n = strlen(agency);

	memcpy(out, agency, n);
	out[n] = 0;
	bytes_put_be64(out + n + 1, seq);
	return n + 9;
}

/* The tree database's key of the complete subtree (level, index). */
#define TREE_KEY_LEN 9
static MDB_val
tree_key(uint8_t out[TREE_KEY_LEN], unsigned level, uint64_t index)
{
	out[0] = (uint8_t)level;
	bytes_put_be64(out + 1, index);
	return val(out, TREE_KEY_LEN);
}

static void
cache_put(struct store *s, unsigned level, uint64_t index,
          const uint8_t hash[32])
{
	struct node_slot *sl = &s->cache[level][index % s->cache_n[level]];

	sl->index = index;
	sl->valid = true;
	memcpy(sl->hash, hash, 32);
}

static void
cache_free(struct store *s)
{
	for (unsigned l = 0; l < MERKLE_LEVELS; l++)
		free(s->cache[l]);
}

static void
cache_drop(struct store *s)
{
	for (unsigned l = 0; l < MERKLE_LEVELS; l++)
		for (size_t i = 0; i < s->cache_n[l]; i++)
			s->cache[l][i].valid = false;
}

/* A node from txn's snapshot (merkle_get_fn). An LMDB code. */
struct node_reader {
	struct store *s;
	MDB_txn *txn; /* the writer opens one only on a cache miss */
	bool cached;
};

static int
node_get(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	struct node_reader *r = arg;
	struct store *s = r->s;
	uint8_t key[TREE_KEY_LEN];
	MDB_val k = tree_key(key, level, index), v;
	int rc;

	if (r->cached) {
		const struct node_slot *sl =
		    &s->cache[level][index % s->cache_n[level]];
		if (sl->valid && sl->index == index) {
			memcpy(out, sl->hash, 32);
			return 0;
		}
		if (r->txn == NULL &&
		    (rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn)) !=
		        0)
			return rc;
	}
	if ((rc = mdb_get(r->txn, s->tree, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	if (v.mv_size != 32)
		return MDB_CORRUPTED;
	memcpy(out, v.mv_data, 32);
	return 0;
}

/* Stores a node the frontier completed (merkle_done_fn). */
struct node_writer {
	struct store *s;
	MDB_txn *txn;
};

static int
node_put(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
	struct node_writer *w = arg;
	uint8_t key[TREE_KEY_LEN];
	MDB_val k = tree_key(key, level, index), v = val(hash, 32);
	int rc = mdb_put(w->txn, w->s->tree, &k, &v, 0);

	if (rc == 0)
		cache_put(w->s, level, index, hash);
	return rc;
}

/* Appends a record hash to the tree. An LMDB code. */
static int
tree_append(struct store *s, MDB_txn *txn, const uint8_t record_hash[32])
{
	struct node_writer w = {s, txn};
	uint8_t leaf[32];

	merkle_leaf(leaf, record_hash);
	return merkle_frontier_push(&s->tree_f, leaf, node_put, &w);
}

/* The frontier of the stored tree of size leaves, from txn. */
static int
tree_load(struct store *s, MDB_txn *txn, uint64_t size)
{
	struct node_reader r = {s, txn, false};
	int rc;

	merkle_frontier_init(&s->tree_f);
	for (unsigned l = 0; l < MERKLE_LEVELS; l++) {
		uint64_t index;
		if (!((size >> l) & 1))
			continue;
		index = (size >> l) - 1;
		if ((rc = node_get(&r, l, index, s->tree_f.node[l])) != 0)
			return rc;
		cache_put(s, l, index, s->tree_f.node[l]);
	}
	s->tree_f.size = size;
	return 0;
}

/* The record's inclusion proof in the writer's latest checkpoint. */
static int
writer_path(struct store *s, struct receipt *r)
{
	struct node_reader nr = {s, NULL, true};
	int rc;

	r->cp = s->cp;
	rc = merkle_path(r->path, &r->n_path, r->seq - 1, s->cp.size, node_get,
	                 &nr);
	if (nr.txn != NULL)
		mdb_txn_abort(nr.txn);
	return rc;
}

/* The head stored in txn's snapshot, or 0 and the genesis hash before the
 * first commit. An LMDB code. */
static int
head_get(struct store *s, MDB_txn *txn, uint64_t *seq, uint8_t hash[32])
{
	MDB_val k = val("head", 4), v;
	int rc = mdb_get(txn, s->meta, &k, &v);

	if (rc == MDB_NOTFOUND) {
		*seq = 0;
		memcpy(hash, s->genesis, 32);
		return 0;
	}
	if (rc != 0)
		return rc;
	if (v.mv_size != 40)
		return MDB_CORRUPTED;
	*seq = bytes_get_be64(v.mv_data);
	memcpy(hash, (uint8_t *)v.mv_data + 8, 32);
	return 0;
}

/* Both heads into the writer's view. An LMDB code. */
static int
read_head(struct store *s, MDB_txn *txn)
{
	MDB_val k = val("access_head", 11), v;
	int rc = head_get(s, txn, &s->head_seq, s->head_hash);

	if (rc != 0)
		return rc;
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		s->access_seq = 0;
		access_genesis(s->access_hash, s->region);
		return 0;
	}
	if (rc != 0)
		return rc;
	if (v.mv_size != 40)
		return MDB_CORRUPTED;
	s->access_seq = bytes_get_be64(v.mv_data);
	memcpy(s->access_hash, (uint8_t *)v.mv_data + 8, 32);
	return 0;
}

static int case_get(struct store *s, MDB_txn *txn, struct case_state *st,
                    const uint8_t id[KETEN_CASE_ID_LEN]);
static int case_put(struct store *s, MDB_txn *txn, const struct case_state *st,
                    size_t old_parties, const uint8_t seqkey[8]);

/*
 * The case databases came with the case rules (schema 2) and were keyed by
 * case number from schema 4 on. A data directory recorded before has a log
 * but no cases, or cases keyed by id: (re)build them from the log, in
 * order, through the same rules. Returns an LMDB code, or -1 with why set
 * if a record breaks the rules (then the broker must not start).
 */
#define SCHEMA_KEY     "schema"
#define SCHEMA_VERSION 4

/* The record stored under key k, and its body: 0 or MDB_CORRUPTED, also if
 * the key is not the record's own seq. */
static int
record_body(struct record *r, struct body *b, const MDB_val *k,
            const MDB_val *v)
{
	struct envelope e;
	struct keten_error tmp;
	int rc;

	if (k->mv_size != 8 ||
	    chain_record_decode(r, v->mv_data, v->mv_size) != 0 ||
	    r->seq != bytes_get_be64(k->mv_data) ||
	    wire_envelope_decode(&e, r->envelope, r->envelope_len, &tmp) !=
	        KETEN_OK)
		return MDB_CORRUPTED;
	rc = wire_body_decode(b, e.type, e.body, e.body_len, &tmp);
	wire_envelope_clear(&e);
	return rc == KETEN_OK ? 0 : MDB_CORRUPTED;
}

static int
cases_rebuild(struct store *s, MDB_txn *txn, struct keten_error *why)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t n = 0;
	int rc;

	if ((rc = mdb_drop(txn, s->caseno, 0)) != 0 ||
	    (rc = mdb_drop(txn, s->cases, 0)) != 0 ||
	    (rc = mdb_drop(txn, s->caseidx, 0)) != 0 ||
	    (rc = mdb_drop(txn, s->caselog, 0)) != 0 ||
	    (rc = mdb_cursor_open(txn, s->log, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct record r;
		struct body b;
		struct case_msg m;
		struct case_state st;
		struct keten_error tmp;
		uint8_t key[8];
		size_t parties;

		/* Gaps too: a case's number is its opening record's seq. */
		if ((rc = record_body(&r, &b, &k, &v)) != 0 || r.seq != n + 1) {
			rc = MDB_CORRUPTED;
			break;
		}
		case_msg_of(&m, &b, r.seq, r.received_at_us);
		if ((rc = case_get(s, txn, &st, b.h.case_id)) != 0)
			break;
		parties = st.n_parties;
		if (case_step(&st, &m, &tmp) != KETEN_OK) {
			error_set(
			    why, KETEN_E_CONFIG,
			    "record %llu breaks the case rules (%s); this "
			    "log cannot be given case states",
			    (unsigned long long)r.seq, tmp.message);
			rc = -1;
			break;
		}
		bytes_put_be64(key, r.seq); /* k is not ours past a put */
		if ((rc = case_put(s, txn, &st, parties, key)) != 0)
			break;
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (n != s->head_seq)
		return MDB_CORRUPTED;
	if (n > 0)
		log_info("event=cases_rebuilt records=%llu",
		         (unsigned long long)n);
	return 0;
}

/*
 * The Merkle tree came with checkpoints (schema 3): build it from the log,
 * in order. An LMDB code.
 */
static int
tree_rebuild(struct store *s, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t n = 0;
	int rc;

	merkle_frontier_init(&s->tree_f);
	if ((rc = mdb_drop(txn, s->tree, 0)) != 0 ||
	    (rc = mdb_cursor_open(txn, s->log, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint8_t h[32];
		if (k.mv_size != 8 || bytes_get_be64(k.mv_data) != n + 1) {
			rc = MDB_CORRUPTED;
			break;
		}
		chain_record_hash(h, v.mv_data, v.mv_size);
		if ((rc = tree_append(s, txn, h)) != 0)
			break;
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (n != s->head_seq)
		return MDB_CORRUPTED;
	if (n > 0)
		log_info("event=tree_rebuilt records=%llu",
		         (unsigned long long)n);
	return 0;
}

/* Whether the newest entry of `caselog` is a (case number, seq) pair of
 * this log: 0, -1 if not, or an LMDB code. One above the head would make
 * every later case's append fail. */
static int
caselog_shape(struct store *s, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, s->caselog, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0) {
		uint64_t no = k.mv_size == 16 ? bytes_get_be64(k.mv_data) : 0;
		uint64_t seq =
		    no ? bytes_get_be64((uint8_t *)k.mv_data + 8) : 0;
		if (no == 0 || seq < no || seq > s->head_seq)
			rc = -1;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return s->head_seq == 0 ? 0 : -1;
	return rc;
}

/* Whether the case of the head record has it as its last: 0, -1 if not,
 * or an LMDB code. Catches case databases emptied, or left behind the log
 * (every record belongs to a case). */
static int
head_case_shape(struct store *s, MDB_txn *txn)
{
	uint8_t key[8];
	MDB_val k, v;
	struct record r;
	struct body b;
	struct case_state st;
	int rc;

	if (s->head_seq == 0)
		return 0;
	bytes_put_be64(key, s->head_seq);
	k = val(key, 8);
	if ((rc = mdb_get(txn, s->log, &k, &v)) != 0 ||
	    (rc = record_body(&r, &b, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	rc = case_get(s, txn, &st, b.h.case_id);
	if (rc == MDB_CORRUPTED)
		return -1;
	if (rc != 0)
		return rc;
	return st.opened_seq != 0 && st.last_seq == s->head_seq ? 0 : -1;
}

/* Whether the case databases have this schema's shape, judged by the
 * first and last entries of `cases` and `caselog`, the first of `caseno`
 * and the head record's case: 0, -1 if not, or an LMDB code. They are
 * derived from the log, so a directory whose upgrade was cut short, or
 * that was tampered with, is rebuilt rather than served wrong. A damaged
 * log is not mended here: the audit finds that. */
static int
cases_shape(struct store *s, MDB_txn *txn)
{
	static const MDB_cursor_op ops[] = {MDB_FIRST, MDB_LAST};
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0;

	if ((rc = mdb_cursor_open(txn, s->cases, &cur)) != 0)
		return rc;
	for (size_t i = 0; i < 2 && rc == 0; i++) {
		struct case_state st;
		if ((rc = mdb_cursor_get(cur, &k, &v, ops[i])) != 0)
			break;
		if (k.mv_size != 8 ||
		    case_decode(&st, v.mv_data, v.mv_size) != 0 ||
		    st.opened_seq != bytes_get_be64(k.mv_data) ||
		    st.opened_seq > s->head_seq)
			rc = -1;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->caseno, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && (k.mv_size != KETEN_CASE_ID_LEN || v.mv_size != 8))
		rc = -1;
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if ((rc = caselog_shape(s, txn)) != 0)
		return rc;
	return head_case_shape(s, txn);
}

/* Brings an older data directory up to this schema, and loads the tree's
 * frontier. */
static int
upgrade(struct store *s, MDB_txn *txn, struct keten_error *why)
{
	MDB_val k = val(SCHEMA_KEY, strlen(SCHEMA_KEY)), v;
	uint8_t ver = SCHEMA_VERSION, was = 1; /* schema 1 did not say */
	int rc = mdb_get(txn, s->meta, &k, &v);

	if (rc == 0 && v.mv_size == 1)
		was = *(uint8_t *)v.mv_data;
	else if (rc != MDB_NOTFOUND)
		was = 0;
	if (was == ver) {
		if ((rc = cases_shape(s, txn)) == -1) {
			if (!s->told_damaged) /* once, if the map grows */
				log_warn(
				    "event=cases_damaged action=rebuild "
				    "reason=\"the case databases do not match "
				    "schema %u or the log\"",
				    ver);
			s->told_damaged = true;
			rc = cases_rebuild(s, txn, why);
		}
		if (rc != 0)
			return rc;
		return tree_load(s, txn, s->head_seq);
	}
	if (was < 1 || was > ver) {
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
		/* a newer broker's directory, or damage */
		error_set(why, KETEN_E_CONFIG,
		          "its schema is not version %d; use the keten version "
		          "that wrote it",
		          SCHEMA_VERSION);
		return -1;
	}
	if ((rc = cases_rebuild(s, txn, why)) != 0)
		return rc;
	if (was < 3 && (rc = tree_rebuild(s, txn)) != 0)
		return rc;
	if (was == 3 && (rc = tree_load(s, txn, s->head_seq)) != 0)
		return rc;
	if (s->head_seq > 0)
		log_info("event=schema_upgraded from=%u to=%u", was, ver);
	v = val(&ver, 1);
	return mdb_put(txn, s->meta, &k, &v, 0);
}

/* The checkpoint of the writer's view, signed. */
static void
checkpoint_make(struct store *s, struct keten_checkpoint *cp, int64_t now_us)
{
	memset(cp, 0, sizeof(*cp));
	cp->size = s->head_seq;
	memcpy(cp->head_hash, s->head_hash, 32);
	merkle_frontier_root(&s->tree_f, cp->root);
	cp->access_size = s->access_seq;
	memcpy(cp->access_head, s->access_hash, 32);
	cp->signed_at_us = now_us;
	s->sign(s->sign_arg, cp);
}

static int
checkpoint_put(struct store *s, MDB_txn *txn, const struct keten_checkpoint *cp)
{
	uint8_t buf[CHAIN_CHECKPOINT_STORED];
	MDB_val k = val("checkpoint", 10), v;

	chain_checkpoint_store(buf, cp);
	v = val(buf, sizeof(buf));
	return mdb_put(txn, s->meta, &k, &v, 0);
}

/* The stored checkpoint, if any: 0, MDB_NOTFOUND or an LMDB code. */
static int
checkpoint_get(struct store *s, MDB_txn *txn, struct keten_checkpoint *cp)
{
	MDB_val k = val("checkpoint", 10), v;
	int rc = mdb_get(txn, s->meta, &k, &v);

	if (rc != 0)
		return rc;
	return chain_checkpoint_load(cp, v.mv_data, v.mv_size) == 0
	           ? 0
	           : MDB_CORRUPTED;
}

/* Signs a checkpoint of the log as it is, unless the stored one signs a
 * different log (then MDB_CORRUPTED: the broker must not start). */
static int
checkpoint_ensure(struct store *s, MDB_txn *txn)
{
	struct keten_checkpoint want;
	int rc = checkpoint_get(s, txn, &s->cp);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	checkpoint_make(s, &want, clock_now_us());
	if (rc == 0 && (s->cp.size != want.size ||
	                memcmp(s->cp.head_hash, want.head_hash, 32) != 0 ||
	                memcmp(s->cp.root, want.root, 32) != 0 ||
	                s->cp.access_size != want.access_size ||
	                memcmp(s->cp.access_head, want.access_head, 32) != 0))
		return MDB_CORRUPTED; /* signed, but not this log: altered */
	/* Signed afresh even when it matches: the broker's key may have
	 * changed since, and the checkpoint must verify with this one. */
	s->cp = want;
	return checkpoint_put(s, txn, &want);
}

static int grow_map(struct store *s);

/* Undoes a store_open that got as far as the lock. */
static void
discard(struct store *s)
{
	if (s->env)
		mdb_env_close(s->env);
	pthread_rwlock_destroy(&s->remap);
	cache_free(s);
	free(s);
}

/*
 * The start transaction: creates the databases, checks the region, brings
 * the data up to this schema and signs the checkpoint, all or nothing.
 * 0; an LMDB code with *step saying what failed; or -1 with err set when
 * the directory must not be served.
 */
static int
open_txn(struct store *s, const char *dir, const char **step,
         struct keten_error *err)
{
	MDB_txn *txn;
	MDB_val k, v;
	struct keten_error why;
	int rc;

	*step = "create the databases";
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return rc;
	if ((rc = mdb_dbi_open(txn, LEDGER_DB_LOG, MDB_CREATE, &s->log)) ||
	    (rc = mdb_dbi_open(txn, LEDGER_DB_MSGID, MDB_CREATE, &s->msgid)) ||
	    (rc = mdb_dbi_open(txn, LEDGER_DB_INBOX, MDB_CREATE, &s->inbox)) ||
	    (rc = mdb_dbi_open(txn, LEDGER_DB_CONTENT, MDB_CREATE,
	                       &s->content)) ||
	    (rc =
	         mdb_dbi_open(txn, LEDGER_DB_CURSOR, MDB_CREATE, &s->cursor)) ||
	    (rc = mdb_dbi_open(txn, LEDGER_DB_META, MDB_CREATE, &s->meta)) ||
	    (rc =
	         mdb_dbi_open(txn, LEDGER_DB_CASENO, MDB_CREATE, &s->caseno)) ||
	    (rc = mdb_dbi_open(txn, LEDGER_DB_CASES, MDB_CREATE, &s->cases)) ||
	    (rc = mdb_dbi_open(txn, LEDGER_DB_CASEIDX, MDB_CREATE,
	                       &s->caseidx)) ||
	    (rc = mdb_dbi_open(txn, LEDGER_DB_CASELOG, MDB_CREATE,
	                       &s->caselog)) ||
	    (rc =
	         mdb_dbi_open(txn, LEDGER_DB_ACCESS, MDB_CREATE, &s->access)) ||
	    (rc = mdb_dbi_open(txn, LEDGER_DB_TREE, MDB_CREATE, &s->tree)))
		goto out;
	k = val("region", 6);
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		v = val(s->region, strlen(s->region));
		rc = mdb_put(txn, s->meta, &k, &v, 0);
	} else if (rc == 0 && (v.mv_size != strlen(s->region) ||
	                       memcmp(v.mv_data, s->region, v.mv_size) != 0)) {
		error_set(err, KETEN_E_CONFIG,
		          "data directory %s belongs to another region than "
		          "'%s'; refusing to mix chains",
		          dir, s->region);
		rc = -1;
	}
	if (rc != 0)
		goto out;
	*step = "read the head";
	if ((rc = read_head(s, txn)) != 0)
		goto out;
	*step = "bring the data up to this version";
	if ((rc = upgrade(s, txn, &why)) == -1) {
		error_set(err, KETEN_E_CONFIG,
		          "cannot serve data directory %s: %s", dir,
		          why.message);
	} else if (rc == MDB_CORRUPTED) {
		error_set(err, KETEN_E_CONFIG,
		          "cannot serve data directory %s: its log is damaged "
		          "(%s); run keten audit verify on it",
		          dir, mdb_strerror(rc));
		rc = -1;
	}
	if (rc != 0)
		goto out;
	*step = "sign the log's checkpoint";
	if ((rc = checkpoint_ensure(s, txn)) == MDB_CORRUPTED) {
		error_set(err, KETEN_E_CONFIG,
		          "cannot serve data directory %s: its signed "
		          "checkpoint does not match its log or access log; "
		          "run keten audit verify on it",
		          dir);
		rc = -1;
	}
	if (rc != 0)
		goto out;
	*step = "commit";
	return mdb_txn_commit(txn);
out:
	mdb_txn_abort(txn);
	return rc;
}

int
store_open(struct store **out, const char *dir, size_t map_size, size_t map_max,
           const char *region, store_sign_fn sign, void *sign_arg,
           struct keten_error *err)
{
	struct store *s;
	MDB_envinfo info;
	int rc;
	const char *step = "create the environment";

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return error_set(err, KETEN_E_IO,
		                 "cannot create data directory %s: %s", dir,
		                 strerror(errno));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	strcpy(s->region, region);
	chain_genesis(s->genesis, region);
	s->sign = sign;
	s->sign_arg = sign_arg;
	for (unsigned l = 0; l < MERKLE_LEVELS; l++) {
		size_t n = CACHE_SLOTS >> (l < 8 ? l : 8);
		s->cache_n[l] = n;
		if ((s->cache[l] = calloc(n, sizeof(*s->cache[l]))) == NULL) {
			cache_free(s);
			free(s);
			return error_set(err, KETEN_E_NOMEM, "out of memory");
		}
	}
	if (pthread_rwlock_init(&s->remap, NULL) != 0) {
		cache_free(s);
		free(s);
		return error_set(err, KETEN_E_NOMEM, "cannot create a lock");
	}
	s->map_max = map_max;
	if ((rc = mdb_env_create(&s->env)) != 0)
		goto fail;
	step = "size the map";
	if ((rc = mdb_env_set_mapsize(s->env, map_size)) != 0 ||
	    (rc = mdb_env_set_maxdbs(s->env, LEDGER_MAX_DBS)) != 0 ||
	    (rc = mdb_env_set_maxreaders(s->env, 256)) != 0)
		goto fail;
	step = "open";
	/* Default sync: a commit is on disk before mdb_txn_commit returns. */
	if ((rc = mdb_env_open(s->env, dir, 0, 0600)) != 0)
		goto fail;
	/* An existing file may be bigger than the configured map. */
	mdb_env_info(s->env, &info);
	s->map_size = info.me_mapsize;
	/* An upgrade rebuilds indexes in this one transaction, so it may
	 * need more room than the directory had: grow, as a commit would. */
	while ((rc = open_txn(s, dir, &step, err)) == MDB_MAP_FULL &&
	       grow_map(s) == 0) {
		merkle_frontier_init(&s->tree_f);
		cache_drop(s);
	}
	if (rc == -1) {
		discard(s);
		return err->code;
	}
	if (rc == MDB_MAP_FULL) {
		discard(s);
		return error_set(
		    err, KETEN_E_STORAGE,
		    "cannot %s LMDB store in %s: the map is full at "
		    "limits.map_max_mb; free disk space or raise it",
		    step, dir);
	}
	if (rc != 0)
		goto fail;
	*out = s;
	return KETEN_OK;
fail:
	discard(s);
	return error_set(err, KETEN_E_IO, "cannot %s LMDB store in %s: %s",
	                 step, dir, mdb_strerror(rc));
}

void
store_close(struct store **s)
{
	if (s == NULL || *s == NULL)
		return;
	mdb_env_close((*s)->env);
	pthread_rwlock_destroy(&(*s)->remap);
	cache_free(*s);
	free(*s);
	*s = NULL;
}

/* A resubmitted message id: same envelope means the same record. */
static int
apply_duplicate(struct store *s, MDB_txn *txn, struct store_item *it,
                const MDB_val *found)
{
	uint8_t key[8];
	MDB_val k, v;
	struct record r;
	int rc;

	if (found->mv_size != MSGID_VAL_LEN &&
	    found->mv_size != MSGID_VAL_LEN_OLD)
		return MDB_CORRUPTED;
	memcpy(key, found->mv_data, 8);
	k = val(key, 8);
	if ((rc = mdb_get(txn, s->log, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	if (chain_record_decode(&r, v.mv_data, v.mv_size) != 0 ||
	    r.seq != bytes_get_be64(key))
		return MDB_CORRUPTED;
	/* The receipt fields, from the record itself. */
	it->receipt.seq = r.seq;
	chain_record_hash(it->receipt.record_hash, v.mv_data, v.mv_size);
	it->receipt.received_at_us = r.received_at_us;
	memcpy(it->receipt.prev_hash, r.prev_hash, 32);
	memcpy(it->receipt.message_id, it->message_id, KETEN_MSG_ID_LEN);
	if (r.envelope_len == it->envelope_len &&
	    memcmp(r.envelope, it->envelope, it->envelope_len) == 0) {
		it->duplicate = true;
		it->status = KETEN_OK;
	} else {
		it->status = error_set(
		    &it->err, KETEN_E_ID_REUSED,
		    "message id is already recorded as record %llu with "
		    "different content; use a new message id",
		    (unsigned long long)it->receipt.seq);
	}
	return 0;
}

/* The stored state of case number no (its opening record's seq). */
static int
case_get_at(struct store *s, MDB_txn *txn, struct case_state *st,
            const uint8_t no[8])
{
	MDB_val k = val(no, 8), v;
	int rc = mdb_get(txn, s->cases, &k, &v);

	if (rc != 0)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc; /* numbered */
	if (case_decode(st, v.mv_data, v.mv_size) != 0 ||
	    st->opened_seq != bytes_get_be64(no))
		return MDB_CORRUPTED;
	return 0;
}

/* The number of a case: 0, MDB_NOTFOUND or an LMDB code. */
static int
case_number(struct store *s, MDB_txn *txn, uint8_t no[8],
            const uint8_t id[KETEN_CASE_ID_LEN])
{
	MDB_val k = val(id, KETEN_CASE_ID_LEN), v;
	int rc = mdb_get(txn, s->caseno, &k, &v);

	if (rc != 0)
		return rc;
	if (v.mv_size != 8)
		return MDB_CORRUPTED;
	memcpy(no, v.mv_data, 8);
	return 0;
}

/* The stored state of a case, or CASE_NONE (zeroed) if it has none. */
static int
case_get(struct store *s, MDB_txn *txn, struct case_state *st,
         const uint8_t id[KETEN_CASE_ID_LEN])
{
	uint8_t no[8];
	int rc = case_number(s, txn, no, id);

	memset(st, 0, sizeof(*st));
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if ((rc = case_get_at(s, txn, st, no)) != 0)
		return rc;
	return memcmp(st->id, id, KETEN_CASE_ID_LEN) == 0 ? 0 : MDB_CORRUPTED;
}

/* The case's new state and its indexes after record seqkey; parties from
 * old_parties on joined with it (case_step only appends parties), and
 * none before means the record opened it. The case's number is its
 * opening seq, above every other: a new case's entries are appended. */
static int
case_put(struct store *s, MDB_txn *txn, const struct case_state *st,
         size_t old_parties, const uint8_t seqkey[8])
{
	uint8_t buf[CASE_ENCODED_MAX], no[8], key[KETEN_ID_MAX + 1 + 16];
	unsigned fresh = old_parties == 0 ? MDB_APPEND : 0;
	MDB_val k, v;
	int rc;

	bytes_put_be64(no, st->opened_seq);
	if (fresh) {
		k = val(st->id, KETEN_CASE_ID_LEN);
		v = val(no, 8);
		if ((rc = mdb_put(txn, s->caseno, &k, &v, MDB_NOOVERWRITE)) !=
		    0)
			return rc == MDB_KEYEXIST ? MDB_CORRUPTED : rc;
	}
	k = val(no, 8);
	v = val(buf, case_encode(buf, st));
	if ((rc = mdb_put(txn, s->cases, &k, &v, fresh)) != 0)
		return rc;
	memcpy(key, no, 8);
	memcpy(key + 8, seqkey, 8);
	k = val(key, 16);
	v = val("", 0);
	if ((rc = mdb_put(txn, s->caselog, &k, &v, fresh)) != 0)
		return rc;
	for (size_t i = old_parties; i < st->n_parties; i++) {
		size_t n = strlen(st->parties[i].id);
		memcpy(key, st->parties[i].id, n + 1);
		memcpy(key + n + 1, no, 8);
		k = val(key, n + 1 + 8);
		v = val("", 0);
		if ((rc = mdb_put(txn, s->caseidx, &k, &v, 0)) != 0)
			return rc;
	}
	return 0;
}

static int
apply_submit(struct store *s, MDB_txn *txn, struct store_item *it,
             int64_t now_us)
{
	uint8_t key[8], ibox[INBOX_KEY_MAX];
	const char *to[CASE_PARTIES_MAX];
	struct case_state st;
	struct record r;
	MDB_val k, v;
	size_t len = CHAIN_RECORD_HEADER + it->envelope_len, n_to, parties;
	int rc;

	k = val(it->message_id, KETEN_MSG_ID_LEN);
	rc = mdb_get(txn, s->msgid, &k, &v);
	if (rc == 0)
		return apply_duplicate(s, txn, it, &v);
	if (rc != MDB_NOTFOUND)
		return rc;

	/* The case rules, against the state this transaction sees: a
	 * refusal writes nothing. */
	if ((rc = case_get(s, txn, &st, it->msg.case_id)) != 0)
		return rc;
	parties = st.n_parties;
	it->msg.seq = s->head_seq + 1;
	it->msg.at_us = now_us;
	if ((it->status = case_step(&st, &it->msg, &it->err)) != KETEN_OK)
		return 0;

	r.seq = s->head_seq + 1;
	memcpy(r.prev_hash, s->head_hash, 32);
	r.received_at_us = now_us;
	r.envelope = it->envelope;
	r.envelope_len = it->envelope_len;
	bytes_put_be64(key, r.seq);
	k = val(key, 8);
	v.mv_size = len;
	/* MDB_RESERVE: encode straight into the page, no extra copy. */
	if ((rc = mdb_put(txn, s->log, &k, &v, MDB_RESERVE | MDB_APPEND)) != 0)
		return rc;
	chain_record_encode(v.mv_data, &r);
	chain_record_hash(it->receipt.record_hash, v.mv_data, len);
	if ((rc = tree_append(s, txn, it->receipt.record_hash)) != 0)
		return rc;

	if (it->sealed_len > 0) {
		k = val(key, 8);
		v = val(it->sealed, it->sealed_len);
		if ((rc = mdb_put(txn, s->content, &k, &v, MDB_APPEND)) != 0)
			return rc;
	}
	n_to = case_recipients(to, &st, &it->msg);
	it->n_to = n_to;
	for (size_t i = 0; i < n_to; i++) {
		k = val(ibox, inbox_key(ibox, to[i], r.seq));
		v = val("", 0);
		if ((rc = mdb_put(txn, s->inbox, &k, &v, 0)) != 0)
			return rc;
		snprintf(it->to[i], sizeof(it->to[i]), "%s", to[i]);
	}
	if ((rc = case_put(s, txn, &st, parties, key)) != 0)
		return rc;
	k = val(it->message_id, KETEN_MSG_ID_LEN);
	v = val(key, 8); /* the seq */
	if ((rc = mdb_put(txn, s->msgid, &k, &v, 0)) != 0)
		return rc;

	it->receipt.seq = r.seq;
	it->receipt.received_at_us = now_us;
	memcpy(it->receipt.prev_hash, r.prev_hash, 32);
	memcpy(it->receipt.message_id, it->message_id, KETEN_MSG_ID_LEN);
	it->status = KETEN_OK;
	s->head_seq = r.seq;
	memcpy(s->head_hash, it->receipt.record_hash, 32);
	return 0;
}

static int
apply_ack(struct store *s, MDB_txn *txn, struct store_item *it)
{
	uint8_t ibox[INBOX_KEY_MAX], cur[8];
	MDB_val k, v;
	uint64_t old = 0;
	int rc;

	k = val(it->agency, strlen(it->agency));
	rc = mdb_get(txn, s->cursor, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		old = bytes_get_be64(v.mv_data);
	else if (rc != MDB_NOTFOUND)
		return rc == 0 ? MDB_CORRUPTED : rc;
	it->cursor = old;
	if (it->ack_seq <= old) { /* already acknowledged: idempotent */
		it->status = KETEN_OK;
		return 0;
	}
	k = val(ibox, inbox_key(ibox, it->agency, it->ack_seq));
	rc = mdb_get(txn, s->inbox, &k, &v);
	if (rc == MDB_NOTFOUND) {
		it->status = error_set(
		    &it->err, KETEN_E_BAD_ACK,
		    "record %llu is not addressed to %s; acknowledge the "
		    "sequence number of a message you received",
		    (unsigned long long)it->ack_seq, it->agency);
		return 0;
	}
	if (rc != 0)
		return rc;
	bytes_put_be64(cur, it->ack_seq);
	k = val(it->agency, strlen(it->agency));
	v = val(cur, 8);
	if ((rc = mdb_put(txn, s->cursor, &k, &v, 0)) != 0)
		return rc;
	it->cursor = it->ack_seq;
	it->status = KETEN_OK;
	return 0;
}

/* Appends the read it->access describes to the access log. */
static int
apply_access(struct store *s, MDB_txn *txn, struct store_item *it,
             int64_t now_us)
{
	uint8_t key[8], buf[ACCESS_ENTRY_MAX];
	MDB_val k, v;
	size_t len;
	int rc;

	it->access.seq = s->access_seq + 1;
	it->access.at_us = now_us;
	memcpy(it->access.prev_hash, s->access_hash, 32);
	len = access_encode(buf, &it->access);
	bytes_put_be64(key, it->access.seq);
	k = val(key, 8);
	v = val(buf, len);
	if ((rc = mdb_put(txn, s->access, &k, &v, MDB_APPEND)) != 0)
		return rc;
	s->access_seq = it->access.seq;
	access_hash(s->access_hash, buf, len);
	it->status = KETEN_OK;
	return 0;
}

/* Writes the heads and the batch's signed checkpoint into the metadata. */
static int
finish_batch(struct store *s, MDB_txn *txn, int64_t now_us)
{
	uint8_t hv[40];
	MDB_val k, v;
	int rc;

	bytes_put_be64(hv, s->head_seq);
	memcpy(hv + 8, s->head_hash, 32);
	k = val("head", 4);
	v = val(hv, 40);
	if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
		return rc;
	bytes_put_be64(hv, s->access_seq);
	memcpy(hv + 8, s->access_hash, 32);
	k = val("access_head", 11);
	if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
		return rc;
	/* Signed before the commit, stored in it: a checkpoint never
	 * describes a log that is not on disk, and a reader's snapshot
	 * always has the one for its head. */
	checkpoint_make(s, &s->cp, now_us);
	return checkpoint_put(s, txn, &s->cp);
}

/* One attempt at a batch: 0, or the LMDB error (nothing written). */
static int
apply_once(struct store *s, struct store_item *items, size_t n, int64_t now_us)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct store_item *it = &items[i];
		it->duplicate = false;
		it->n_to = 0;
		error_clear(&it->err);
		if (it->op == STORE_SUBMIT)
			rc = apply_submit(s, txn, it, now_us);
		else if (it->op == STORE_ACK)
			rc = apply_ack(s, txn, it);
		else if (!it->access_repeat)
			rc = apply_access(s, txn, it, now_us);
		else
			it->status = KETEN_OK; /* accounted a moment ago */
		if (rc != 0) {
			mdb_txn_abort(txn);
			return rc;
		}
	}
	if ((rc = finish_batch(s, txn, now_us)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/* Doubles the map (up to map_max): 0 if it grew. */
static int
grow_map(struct store *s)
{
	size_t next = s->map_size * 2;
	int rc;

	if (s->map_max != 0 && next > s->map_max)
		next = s->map_max;
	if (next <= s->map_size)
		return -1;
	pthread_rwlock_wrlock(&s->remap);
	rc = mdb_env_set_mapsize(s->env, next);
	pthread_rwlock_unlock(&s->remap);
	if (rc != 0) {
		log_err("event=map_grow_failed to_mb=%zu reason=\"%s\"",
		        next >> 20, mdb_strerror(rc));
		return -1;
	}
	log_info("event=map_grown from_mb=%zu to_mb=%zu", s->map_size >> 20,
	         next >> 20);
	s->map_size = next;
	return 0;
}

int
store_apply(struct store *s, struct store_item *items, size_t n, int64_t now_us,
            struct keten_error *err)
{
	uint64_t old_seq = s->head_seq, old_aseq = s->access_seq;
	uint8_t old_hash[32], old_ahash[32];
	struct merkle_frontier old_tree = s->tree_f; /* 2 KiB */
	struct keten_checkpoint old_cp = s->cp;
	int rc;

	memcpy(old_hash, s->head_hash, 32);
	memcpy(old_ahash, s->access_hash, 32);
	while ((rc = apply_once(s, items, n, now_us)) != 0) {
		/* the aborted batch changed nothing */
		s->head_seq = old_seq;
		memcpy(s->head_hash, old_hash, 32);
		s->access_seq = old_aseq;
		memcpy(s->access_hash, old_ahash, 32);
		s->tree_f = old_tree;
		s->cp = old_cp;
		cache_drop(s);
		if (rc != MDB_MAP_FULL || grow_map(s) != 0)
			goto fail;
	}
	/* Durable: now each receipt gets the checkpoint and its proof. */
	for (size_t i = 0; i < n; i++) {
		struct store_item *it = &items[i];
		if (it->op != STORE_SUBMIT || it->status != KETEN_OK)
			continue;
		if ((rc = writer_path(s, &it->receipt)) != 0)
			it->status = error_set(
			    &it->err, KETEN_E_STORAGE,
			    "recorded as record %llu, but its proof could not "
			    "be read (%s); resubmit the same bytes for the "
			    "receipt",
			    (unsigned long long)it->receipt.seq,
			    mdb_strerror(rc));
	}
	return KETEN_OK;
fail:
	for (size_t i = 0; i < n; i++) {
		if (rc == MDB_MAP_FULL || rc == ENOSPC)
			items[i].status = error_set(
			    &items[i].err, KETEN_E_STORAGE,
			    "the broker's storage is full (%s); nothing was "
			    "recorded, retry later",
			    mdb_strerror(rc));
		else
			items[i].status = error_set(
			    &items[i].err, KETEN_E_STORAGE,
			    "the broker could not write (%s); nothing was "
			    "recorded",
			    mdb_strerror(rc));
	}
	log_err("event=commit_failed items=%zu reason=\"%s\"", n,
	        mdb_strerror(rc));
	return error_set(err, KETEN_E_STORAGE, "commit failed: %s",
	                 mdb_strerror(rc));
}

int
store_head(struct store *s, uint64_t *seq, uint8_t hash[32])
{
	MDB_txn *txn;
	int rc;

	pthread_rwlock_rdlock(&s->remap);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		pthread_rwlock_unlock(&s->remap);
		return KETEN_E_IO;
	}
	/* A damaged head is an error, not an empty log. */
	rc = head_get(s, txn, seq, hash);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->remap);
	return rc == 0 ? KETEN_OK : KETEN_E_IO;
}

/* Copies out the stored record v (record seq) without its content. */
static int
record_copy(struct delivered *d, uint64_t seq, const MDB_val *v)
{
	struct record r;
	uint8_t *buf;

	if (chain_record_decode(&r, v->mv_data, v->mv_size) != 0)
		return MDB_CORRUPTED;
	d->seq = seq;
	d->received_at_us = r.received_at_us;
	memcpy(d->prev_hash, r.prev_hash, 32);
	chain_record_hash(d->record_hash, v->mv_data, v->mv_size);
	if ((buf = malloc(r.envelope_len ? r.envelope_len : 1)) == NULL)
		return ENOMEM;
	memcpy(buf, r.envelope, r.envelope_len);
	d->envelope = buf;
	d->envelope_len = r.envelope_len;
	d->sealed = NULL;
	d->sealed_len = 0;
	return 0;
}

static int
log_get(struct store *s, MDB_txn *txn, uint64_t seq, MDB_val *v)
{
	uint8_t key[8];
	MDB_val k;

	bytes_put_be64(key, seq);
	k = val(key, 8);
	return mdb_get(txn, s->log, &k, v);
}

/* Record seq with its sealed content, if it still has any. */
static int
copy_out(struct delivered *d, MDB_txn *txn, struct store *s, uint64_t seq)
{
	uint8_t key[8];
	MDB_val k, v;
	uint8_t *buf;
	int rc;

	if ((rc = log_get(s, txn, seq, &v)) != 0 ||
	    (rc = record_copy(d, seq, &v)) != 0)
		return rc;
	bytes_put_be64(key, seq);
	k = val(key, 8);
	rc = mdb_get(txn, s->content, &k, &v);
	if (rc == MDB_NOTFOUND) /* none, or destroyed */
		return 0;
	if (rc != 0)
		return rc;
	if ((buf = malloc(v.mv_size ? v.mv_size : 1)) == NULL)
		return ENOMEM;
	memcpy(buf, v.mv_data, v.mv_size);
	d->sealed = buf;
	d->sealed_len = v.mv_size;
	return 0;
}

/* Appends the stored record v (record seq, no content) to a growing
 * array of at most limit (0: no limit). Counted before it is filled, so
 * records_free frees a partial copy. */
static int
take_record(struct delivered **recs, size_t *n, size_t *cap, size_t limit,
            uint64_t seq, const MDB_val *v)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		struct delivered *p;
		if (limit != 0 && ncap > limit)
			ncap = limit;
		if ((p = realloc(*recs, ncap * sizeof(*p))) == NULL)
			return ENOMEM;
		*recs = p;
		*cap = ncap;
	}
	memset(&(*recs)[*n], 0, sizeof(**recs));
	return record_copy(&(*recs)[(*n)++], seq, v);
}

static void
records_free(struct delivered *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((void *)(uintptr_t)recs[i].envelope);
		free((void *)(uintptr_t)recs[i].sealed);
		free((void *)(uintptr_t)recs[i].path);
	}
	free(recs);
}

/* A read transaction under the remap lock; end it with read_end. */
static int
read_begin(struct store *s, MDB_txn **txn)
{
	int rc;

	pthread_rwlock_rdlock(&s->remap);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn)) != 0)
		pthread_rwlock_unlock(&s->remap);
	return rc;
}

static void
read_end(struct store *s, MDB_txn *txn, MDB_cursor *cur)
{
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->remap);
}

/* Each record's inclusion proof in the checkpoint of txn's snapshot. */
static int
prove(struct store *s, MDB_txn *txn, struct delivered *d, size_t n,
      struct keten_checkpoint *cp)
{
	struct node_reader r = {s, txn, false};
	uint8_t path[MERKLE_PATH_MAX][32];
	int rc;

	if ((rc = checkpoint_get(s, txn, cp)) != 0)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p;
		if (d[i].seq == 0 || d[i].seq > cp->size)
			return MDB_CORRUPTED;
		if ((rc = merkle_path(path, &d[i].n_path, d[i].seq - 1,
		                      cp->size, node_get, &r)) != 0)
			return rc;
		if ((p = malloc(d[i].n_path * 32 + 1)) == NULL)
			return ENOMEM;
		memcpy(p, path, d[i].n_path * 32);
		d[i].path = p;
	}
	return 0;
}

int
store_fetch(struct store *s, struct store_fetch *out, const char *agency,
            uint64_t after_seq, size_t max_n, size_t max_bytes,
            struct keten_error *err)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t ibox[INBOX_KEY_MAX], hash[32];
	size_t prefix = strlen(agency) + 1, bytes = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((out->items = calloc(max_n, sizeof(*out->items))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	k = val(agency, strlen(agency));
	rc = mdb_get(txn, s->cursor, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		out->cursor = bytes_get_be64(v.mv_data);
	else if (rc != MDB_NOTFOUND)
		goto fail_txn;
	if ((rc = head_get(s, txn, &out->head_seq, hash)) != 0 ||
	    (rc = mdb_cursor_open(txn, s->inbox, &cur)) != 0)
		goto fail_txn;
	if (after_seq < out->cursor)
		after_seq = out->cursor;
	/* Saturating, as in store_case: no record follows UINT64_MAX. */
	k = val(ibox, inbox_key(ibox, agency,
	                        after_seq == UINT64_MAX ? UINT64_MAX
	                                                : after_seq + 1));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct delivered *d;
		if (k.mv_size != prefix + 8 || memcmp(k.mv_data, ibox, prefix))
			break; /* past this agency's entries */
		if (out->n == max_n || bytes >= max_bytes) {
			out->more = true;
			break;
		}
		d = &out->items[out->n];
		if ((rc = copy_out(
		         d, txn, s,
		         bytes_get_be64((uint8_t *)k.mv_data + prefix))) != 0) {
			out->n++; /* so its partial copy is freed */
			goto fail_txn;
		}
		bytes += d->envelope_len + d->sealed_len;
		out->n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	if (out->n > 0 &&
	    (rc = prove(s, txn, out->items, out->n, &out->cp)) != 0)
		goto fail_txn;
	out->has_cp = out->n > 0;
	read_end(s, txn, cur);
	return KETEN_OK;
fail_txn:
	read_end(s, txn, cur);
fail:
	store_fetch_free(out);
	return error_set(err, KETEN_E_IO, "cannot read the inbox: %s",
	                 mdb_strerror(rc));
}

void
store_fetch_free(struct store_fetch *f)
{
	records_free(f->items, f->n);
	memset(f, 0, sizeof(*f));
}

/* Steps cur to the next case for the listing, in number (opening) order:
 * every case (agency NULL, cur on cases), or the next of agency's index
 * entries (cur on caseidx); first: the first after number `after` (all
 * zero: from the start). no gets the case's number. */
static int
next_case(MDB_cursor *cur, const char *agency, uint8_t *prefix, size_t plen,
          const uint8_t after[8], bool first, uint8_t no[8])
{
	MDB_val k, v;
	int rc;

	if (first) {
		memcpy(prefix + plen, after, 8);
		k = val(prefix, plen + 8);
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		/* Skip the `after` entry itself. */
		if (rc == 0 && k.mv_size == plen + 8 &&
		    memcmp(k.mv_data, prefix, plen + 8) == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0)
		return rc;
	if (k.mv_size != plen + 8 || memcmp(k.mv_data, prefix, plen) != 0)
		return agency ? MDB_NOTFOUND /* past this agency's entries */
		              : MDB_CORRUPTED;
	memcpy(no, (const uint8_t *)k.mv_data + plen, 8);
	return 0;
}

/* Where a listing continues: the number of case `after`, if agency (NULL:
 * anyone) may see it. 0, -1 if not, or an LMDB code. */
static int
listing_after(struct store *s, MDB_txn *txn, uint8_t no[8], const char *agency,
              const uint8_t *after)
{
	struct case_state st;
	int rc;

	memset(no, 0, 8);
	if (after == NULL)
		return 0;
	if ((rc = case_number(s, txn, no, after)) == MDB_NOTFOUND)
		return -1;
	if (rc != 0 || (rc = case_get_at(s, txn, &st, no)) != 0)
		return rc;
	return agency == NULL || case_involves(&st, agency) ? 0 : -1;
}

int
store_cases(struct store *s, struct store_cases *out, const char *agency,
            const uint8_t *after, size_t max_n, struct keten_error *err)
{
	uint8_t prefix[KETEN_ID_MAX + 1 + 8], no[8];
	size_t plen = agency ? strlen(agency) + 1 : 0;
	char hex[2 * KETEN_CASE_ID_LEN + 1];
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((out->items = calloc(max_n ? max_n : 1, sizeof(*out->items))) ==
	    NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	if (agency)
		memcpy(prefix, agency, plen);
	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	if ((rc = listing_after(s, txn, no, agency, after)) == -1) {
		read_end(s, txn, NULL);
		free(out->items);
		memset(out, 0, sizeof(*out));
		text_hex(hex, after, KETEN_CASE_ID_LEN);
		/* As for a case read: no one learns that a case they are
		 * not part of exists. */
		return error_set(err, KETEN_E_CASE_UNKNOWN,
		                 "case %s to continue after is unknown%s%s%s; "
		                 "continue after the last case of the "
		                 "previous page",
		                 hex, agency ? ", or " : "",
		                 agency ? agency : "",
		                 agency ? " is not a party to it" : "");
	}
	if (rc != 0)
		goto fail_txn;
	if ((rc = mdb_cursor_open(txn, agency ? s->caseidx : s->cases, &cur)) !=
	    0)
		goto fail_txn;
	for (rc = next_case(cur, agency, prefix, plen, no, true, no); rc == 0;
	     rc = next_case(cur, agency, prefix, plen, no, false, no)) {
		if (out->n == max_n) {
			out->more = true;
			break;
		}
		if ((rc = case_get_at(s, txn, &out->items[out->n], no)) != 0)
			goto fail_txn;
		out->n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	read_end(s, txn, cur);
	return KETEN_OK;
fail_txn:
	read_end(s, txn, cur);
fail:
	free(out->items);
	memset(out, 0, sizeof(*out));
	return error_set(err, KETEN_E_IO, "cannot read the cases: %s",
	                 mdb_strerror(rc));
}

int
store_case(struct store *s, struct store_case *out, const char *agency,
           const uint8_t case_id[KETEN_CASE_ID_LEN], uint64_t after_seq,
           size_t max_bytes, struct keten_error *err)
{
	uint8_t key[16];
	size_t cap = 0, bytes = 0;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	char hex[2 * KETEN_CASE_ID_LEN + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	if ((rc = case_get(s, txn, &out->st, case_id)) != 0)
		goto fail_txn;
	if (out->st.status == CASE_NONE ||
	    (agency != NULL && !case_involves(&out->st, agency))) {
		read_end(s, txn, NULL);
		text_hex(hex, case_id, KETEN_CASE_ID_LEN);
		/* The same answer either way: no one learns that a case
		 * they are not part of exists. */
		return error_set(err, KETEN_E_CASE_UNKNOWN,
		                 "case %s is unknown%s%s%s", hex,
		                 agency ? ", or " : "", agency ? agency : "",
		                 agency ? " is not a party to it" : "");
	}
	if ((rc = mdb_cursor_open(txn, s->caselog, &cur)) != 0)
		goto fail_txn;
	bytes_put_be64(key, out->st.opened_seq);
	/* After the last possible record: the summary alone. */
	bytes_put_be64(key + 8,
	               after_seq == UINT64_MAX ? UINT64_MAX : after_seq + 1);
	k = val(key, sizeof(key));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t seq;
		if (k.mv_size != sizeof(key) || memcmp(k.mv_data, key, 8) != 0)
			break;
		if (bytes >= max_bytes) {
			out->more = true;
			break;
		}
		seq = bytes_get_be64((uint8_t *)k.mv_data + 8);
		if ((rc = log_get(s, txn, seq, &v)) != 0 ||
		    (rc = take_record(&out->records, &out->n, &cap, 0, seq,
		                      &v)) != 0)
			goto fail_txn;
		bytes += out->records[out->n - 1].envelope_len;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	read_end(s, txn, cur);
	return KETEN_OK;
fail_txn:
	read_end(s, txn, cur);
fail:
	store_case_free(out);
	return error_set(err, KETEN_E_IO, "cannot read the case: %s",
	                 mdb_strerror(rc));
}

void
store_case_free(struct store_case *c)
{
	records_free(c->records, c->n);
	memset(c, 0, sizeof(*c));
}

int
store_replay(struct store *s, struct store_replay *out, uint64_t from_seq,
             size_t max_n, size_t max_bytes, struct keten_error *err)
{
	uint8_t key[8];
	size_t cap = 0, bytes = 0;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (max_n == 0)
		max_n = 1;
	if ((rc = read_begin(s, &txn)) != 0)
		goto fail;
	/* From the same snapshot as the records: never behind them. */
	if ((rc = head_get(s, txn, &out->head_seq, out->head_hash)) != 0)
		goto fail_txn;
	if ((rc = checkpoint_get(s, txn, &out->cp)) == 0)
		out->has_cp = true;
	else if (rc != MDB_NOTFOUND)
		goto fail_txn;
	if ((rc = mdb_cursor_open(txn, s->log, &cur)) != 0)
		goto fail_txn;
	bytes_put_be64(key, from_seq ? from_seq : 1);
	k = val(key, sizeof(key));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			rc = MDB_CORRUPTED;
			goto fail_txn;
		}
		if (out->n == max_n || (out->n > 0 && bytes >= max_bytes)) {
			out->more = true;
			break;
		}
		/* The cursor holds the record: no second lookup. Grown as
		 * needed, so a replay past the head costs nothing. */
		if ((rc = take_record(&out->records, &out->n, &cap, max_n,
		                      bytes_get_be64(k.mv_data), &v)) != 0)
			goto fail_txn;
		bytes += out->records[out->n - 1].envelope_len;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	read_end(s, txn, cur);
	return KETEN_OK;
fail_txn:
	read_end(s, txn, cur);
fail:
	store_replay_free(out);
	if (rc == ENOMEM)
		return error_set(err, KETEN_E_NOMEM,
		                 "out of memory replaying the log");
	return error_set(err, KETEN_E_IO, "cannot replay the log: %s",
	                 mdb_strerror(rc));
}

void
store_replay_free(struct store_replay *r)
{
	records_free(r->records, r->n);
	memset(r, 0, sizeof(*r));
}
