/*
 * The Merkle tree over the log's record hashes (docs/PROTOCOL.md 9.6):
 * c2sp.org/merkle-tree, that is RFC 9162 section 2.1 with SHA-256:
 *
 *   leaf(record_hash) = SHA-256(0x00 || record_hash)
 *   node(left, right) = SHA-256(0x01 || left || right)
 *   MTH of n leaves    = node(MTH(first k), MTH(rest)), k the largest power
 *                        of two below n; MTH of one leaf is the leaf; MTH
 *                        of none is SHA-256 of the empty string.
 *
 * Leaf index m (0-based) holds record seq m + 1. A complete subtree is
 * named by (level, index): it covers leaves [index << level, (index + 1)
 * << level). Pure functions: no I/O.
 */
#ifndef KETEN_MERKLE_H
#define KETEN_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define MERKLE_HASH_LEN 32
#define MERKLE_LEVELS   64 /* a tree of up to 2^64 - 1 leaves */
#define MERKLE_PATH_MAX 64

void merkle_leaf(uint8_t out[32], const uint8_t record_hash[32]);
void merkle_node(uint8_t out[32], const uint8_t left[32],
                 const uint8_t right[32]);
void merkle_empty(uint8_t out[32]);

/*
 * The right edge of a growing tree: for every set bit l of size, the root
 * of the complete subtree of 2^l leaves it stands for. Enough to append
 * and to compute the root; nothing else.
 */
struct merkle_frontier {
	uint64_t size;
	uint8_t node[MERKLE_LEVELS][32]; /* valid where bit l of size is set */
};

void merkle_frontier_init(struct merkle_frontier *f);
/*
 * Appends a leaf hash. For each complete subtree the leaf completes,
 * lowest level first (the leaf itself at level 0), calls done(arg, level,
 * index, hash) if done is not NULL; a non-zero return stops and is
 * returned (the frontier is then unchanged).
 */
typedef int (*merkle_done_fn)(void *arg, unsigned level, uint64_t index,
                              const uint8_t hash[32]);
int merkle_frontier_push(struct merkle_frontier *f, const uint8_t leaf[32],
                         merkle_done_fn done, void *arg);
/* The tree head (MTH) over the frontier's size leaves. */
void merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[32]);

/*
 * The inclusion proof (RFC 9162 2.1.3.1, leaf to root) of leaf m in the
 * tree of the first n leaves, m < n. get(arg, level, index, out) must
 * give the hash of any complete subtree inside the first n leaves; a
 * non-zero return stops and is returned. *n_path gets the count.
 */
typedef int (*merkle_get_fn)(void *arg, unsigned level, uint64_t index,
                             uint8_t out[32]);
int merkle_path(uint8_t path[MERKLE_PATH_MAX][32], size_t *n_path, uint64_t m,
                uint64_t n, merkle_get_fn get, void *arg) WUR;

/*
 * Checks an inclusion proof (RFC 9162 2.1.3.2): that the leaf hash of
 * leaf m is in the tree of n leaves whose head is root. 0 or -1.
 */
int merkle_verify(const uint8_t leaf[32], uint64_t m, uint64_t n,
                  const uint8_t (*path)[32], size_t n_path,
                  const uint8_t root[32]) WUR;

/*
 * The consistency proof (RFC 9162 2.1.4.1) from the tree of the first m
 * leaves to that of the first n, 0 < m <= n (empty when m == n). get as
 * for merkle_path. *n_proof gets the count (at most MERKLE_PATH_MAX).
 */
int merkle_consistency(uint8_t proof[MERKLE_PATH_MAX][32], size_t *n_proof,
                       uint64_t m, uint64_t n, merkle_get_fn get,
                       void *arg) WUR;

/*
 * Checks a consistency proof (RFC 9162 2.1.4.2): that the tree of n
 * leaves with head root_n extends the tree of m leaves with head root_m,
 * 0 < m <= n. 0 or -1 (also for a proof of the wrong length).
 */
int merkle_consistency_verify(uint64_t m, uint64_t n, const uint8_t root_m[32],
                              const uint8_t root_n[32],
                              const uint8_t (*proof)[32], size_t n_proof) WUR;

#endif
