/*
 * The store's Merkle tree: the writer's node cache, the tree's nodes in
 * LMDB and inclusion proofs (against store_checkpoint.c's checkpoint).
 * Must never commit a transaction: its callers own theirs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

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

int
store_tree_cache_new(struct store_writer *w)
{
	for (unsigned l = 0; l < MERKLE_LEVELS; l++) {
		size_t n = CACHE_SLOTS >> (l < 8 ? l : 8);
		w->cache_n[l] = n;
		if ((w->cache[l] = calloc(n, sizeof(*w->cache[l]))) == NULL)
			return -1;
	}
	return 0;
}

static void
cache_put(struct store_writer *w, unsigned level, uint64_t index,
          const uint8_t hash[32])
{
	struct node_slot *sl = &w->cache[level][index % w->cache_n[level]];

	sl->index = index;
	sl->valid = true;
	memcpy(sl->hash, hash, 32);
}

void
store_tree_cache_free(struct store_writer *w)
{
	for (unsigned l = 0; l < MERKLE_LEVELS; l++)
		free(w->cache[l]);
}

void
store_tree_cache_drop(struct store_writer *w)
{
	for (unsigned l = 0; l < MERKLE_LEVELS; l++)
		for (size_t i = 0; i < w->cache_n[l]; i++)
			w->cache[l][i].valid = false;
}

/* A node from txn's snapshot (merkle_get_fn). An LMDB code. A reader
 * has no cache (w NULL); the writer looks in its own first. */
struct node_reader {
	const struct store *s;
	struct store_writer *w;
	MDB_txn *txn; /* the writer opens one only on a cache miss */
};

static int
node_get(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	struct node_reader *r = arg;
	const struct store *s = r->s;
	uint8_t key[LAYOUT_TREE_KEY_LEN];
	MDB_val k = layout_tree_key(key, level, index), v;
	int rc;

	if (r->w != NULL) {
		const struct node_slot *sl =
		    &r->w->cache[level][index % r->w->cache_n[level]];
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
	if (v.mv_size != KETEN_HASH_LEN)
		return MDB_CORRUPTED;
	memcpy(out, v.mv_data, KETEN_HASH_LEN);
	return 0;
}

/* Stores a node the frontier completed (merkle_done_fn). */
struct node_writer {
	struct store_writer *w;
	MDB_txn *txn;
};

static int
node_put(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
	struct node_writer *nw = arg;
	uint8_t key[LAYOUT_TREE_KEY_LEN];
	MDB_val k = layout_tree_key(key, level, index),
	        v = layout_val(hash, 32);
	int rc = mdb_put(nw->txn, nw->w->s->tree, &k, &v, 0);

	if (rc == 0)
		cache_put(nw->w, level, index, hash);
	return rc;
}

/* Appends a record hash to the tree. An LMDB code. */
int
store_tree_append(struct store_writer *w, MDB_txn *txn,
                  const uint8_t record_hash[32])
{
	struct node_writer nw = {w, txn};
	uint8_t leaf[32];

	merkle_leaf(leaf, record_hash);
	return merkle_frontier_push(&w->tree_f, leaf, node_put, &nw);
}

/* The frontier of the stored tree of size leaves, from txn. */
int
store_tree_load(struct store_writer *w, MDB_txn *txn, uint64_t size)
{
	struct node_reader r = {w->s, NULL, txn};
	int rc;

	merkle_frontier_init(&w->tree_f);
	for (unsigned l = 0; l < MERKLE_LEVELS; l++) {
		uint64_t index;
		if (!((size >> l) & 1))
			continue;
		index = (size >> l) - 1;
		if ((rc = node_get(&r, l, index, w->tree_f.node[l])) != 0)
			return rc;
		cache_put(w, l, index, w->tree_f.node[l]);
	}
	w->tree_f.size = size;
	return 0;
}

/* The proof from known_size to size leaves, when 0 < known_size < size
 * (PROTOCOL.md 10.4); none otherwise. */
static int
prove_consistency(struct node_reader *r, struct consistency *out,
                  uint64_t known_size, uint64_t size)
{
	out->n = 0;
	if (known_size == 0 || known_size >= size)
		return 0;
	return merkle_consistency(out->hash, &out->n, known_size, size,
	                          node_get, r);
}

/* The record's inclusion proof in the writer's latest checkpoint, and
 * (cons not NULL) that checkpoint's consistency proof from known_size. */
int
store_tree_path(struct store_writer *w, struct receipt *r,
                struct consistency *cons, uint64_t known_size)
{
	struct node_reader nr = {w->s, w, NULL};
	int rc;

	r->cp = w->cp;
	rc = merkle_path(r->path, &r->n_path, r->seq - 1, w->cp.size, node_get,
	                 &nr);
	if (rc == 0 && cons != NULL)
		rc = prove_consistency(&nr, cons, known_size, w->cp.size);
	if (nr.txn != NULL)
		mdb_txn_abort(nr.txn);
	return rc;
}

/* Each record's inclusion proof in the checkpoint of txn's snapshot. */
int
store_tree_prove(const struct store *s, MDB_txn *txn, struct delivered *d,
                 size_t n, struct keten_checkpoint *cp)
{
	struct node_reader r = {s, NULL, txn};
	uint8_t path[MERKLE_PATH_MAX][32];
	int rc;

	if ((rc = store_checkpoint_get(s, txn, cp)) != 0)
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
store_tree_root(const struct store *s, MDB_txn *txn, uint64_t size,
                uint8_t root[32])
{
	struct node_reader r = {s, NULL, txn};
	uint8_t sub[32];
	bool have = false;
	int rc;

	if (size == 0) {
		merkle_empty(root);
		return 0;
	}
	/* MTH splits at the largest power of two below n: the set bits of
	 * size, highest first, are its complete subtrees, left to right;
	 * the head folds them from the right. */
	for (unsigned l = 0; l < MERKLE_LEVELS; l++) {
		if (!((size >> l) & 1))
			continue;
		if ((rc = node_get(&r, l, (size >> l) - 1, sub)) != 0)
			return rc;
		if (have)
			merkle_node(root, sub, root);
		else
			memcpy(root, sub, 32);
		have = true;
	}
	return 0;
}

int
store_tree_consistency(const struct store *s, MDB_txn *txn,
                       struct consistency *out, uint64_t known_size,
                       uint64_t size)
{
	struct node_reader r = {s, NULL, txn};

	return prove_consistency(&r, out, known_size, size);
}
