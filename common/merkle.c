/* The Merkle tree over record hashes; must stay as PROTOCOL.md 9.6 says. */
#include <string.h>

#include <sodium.h>

#include "merkle.h"

void
merkle_leaf(uint8_t out[32], const uint8_t record_hash[32])
{
	uint8_t in[1 + 32] = {0x00};

	memcpy(in + 1, record_hash, 32);
	crypto_hash_sha256(out, in, sizeof(in));
}

void
merkle_node(uint8_t out[32], const uint8_t left[32], const uint8_t right[32])
{
	uint8_t in[1 + 64] = {0x01};

	memcpy(in + 1, left, 32);
	memcpy(in + 33, right, 32);
	crypto_hash_sha256(out, in, sizeof(in));
}

void
merkle_empty(uint8_t out[32])
{
	crypto_hash_sha256(out, NULL, 0);
}

void
merkle_frontier_init(struct merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

int
merkle_frontier_push(struct merkle_frontier *f, const uint8_t leaf[32],
                     merkle_done_fn done, void *arg)
{
	uint8_t cur[32];
	unsigned l = 0;
	int rc;

	if (f->size == UINT64_MAX)
		return -1;
	memcpy(cur, leaf, 32);
	if (done != NULL && (rc = done(arg, 0, f->size, cur)) != 0)
		return rc;
	/* Each set low bit of size is a complete subtree waiting for a
	 * right sibling of its own size: this one. */
	while ((f->size >> l) & 1) {
		merkle_node(cur, f->node[l], cur);
		l++;
		if (done != NULL && (rc = done(arg, l, f->size >> l, cur)) != 0)
			return rc;
	}
	memcpy(f->node[l], cur, 32);
	f->size++;
	return 0;
}

void
merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[32])
{
	bool any = false;

	/* Smallest subtree first: each larger one is its left neighbour. */
	for (unsigned l = 0; l < MERKLE_LEVELS; l++) {
		if (!((f->size >> l) & 1))
			continue;
		if (any)
			merkle_node(out, f->node[l], out);
		else
			memcpy(out, f->node[l], 32);
		any = true;
	}
	if (!any)
		merkle_empty(out);
}

/* The largest power of two below n (n >= 2). */
static uint64_t
split(uint64_t n)
{
	uint64_t k = 1;

	while (k < n - k)
		k <<= 1;
	return k;
}

/* MTH of leaves [lo, lo + len), len >= 1, lo a multiple of the largest
 * power of two <= len (true of every range the proof asks for). */
static int
subtree(uint8_t out[32], uint64_t lo, uint64_t len, merkle_get_fn get,
        void *arg)
{
	uint8_t left[32], right[32];
	uint64_t k;
	int rc;

	if ((len & (len - 1)) == 0) {
		unsigned level = (unsigned)__builtin_ctzll(len);
		return get(arg, level, lo >> level, out);
	}
	k = split(len);
	if ((rc = subtree(left, lo, k, get, arg)) != 0 ||
	    (rc = subtree(right, lo + k, len - k, get, arg)) != 0)
		return rc;
	merkle_node(out, left, right);
	return 0;
}

int
merkle_path(uint8_t path[MERKLE_PATH_MAX][32], size_t *n_path, uint64_t m,
            uint64_t n, merkle_get_fn get, void *arg)
{
	/* Walk down from the root, noting each sibling; the proof lists
	 * them leaf first, so fill from the end and shift. */
	uint8_t rev[MERKLE_PATH_MAX][32];
	uint64_t lo = 0, len = n;
	size_t k = 0;
	int rc;

	*n_path = 0;
	if (m >= n)
		return -1;
	while (len > 1) {
		uint64_t s = split(len);
		if (m < lo + s) {
			rc = subtree(rev[k], lo + s, len - s, get, arg);
			len = s;
		} else {
			rc = subtree(rev[k], lo, s, get, arg);
			lo += s;
			len -= s;
		}
		if (rc != 0)
			return rc;
		k++;
	}
	for (size_t i = 0; i < k; i++)
		memcpy(path[i], rev[k - 1 - i], 32);
	*n_path = k;
	return 0;
}

int
merkle_verify(const uint8_t leaf[32], uint64_t m, uint64_t n,
              const uint8_t (*path)[32], size_t n_path, const uint8_t root[32])
{
	uint64_t fn = m, sn;
	uint8_t r[32];

	if (m >= n)
		return -1;
	sn = n - 1;
	memcpy(r, leaf, 32);
	for (size_t i = 0; i < n_path; i++) {
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			merkle_node(r, path[i], r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			merkle_node(r, r, path[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && sodium_memcmp(r, root, 32) == 0 ? 0 : -1;
}

int
merkle_consistency(uint8_t proof[MERKLE_PATH_MAX][32], size_t *n_proof,
                   uint64_t m, uint64_t n, merkle_get_fn get, void *arg)
{
	/* SUBPROOF(m, D[n], true) walked from the root: each step notes
	 * the subtree beside the one holding the old tree's edge; the
	 * proof lists them deepest first, after the old edge's own
	 * subtree when that is not a prefix of the old tree. */
	uint8_t rev[MERKLE_PATH_MAX][32];
	uint64_t lo = 0, len = n, mm = m;
	bool whole = true; /* the subtree at lo is a prefix of the old tree */
	size_t k = 0, at = 0;
	int rc;

	*n_proof = 0;
	if (m > n)
		return -1;
	if (m == 0 || m == n)
		return 0;
	while (mm < len) {
		uint64_t s = split(len);
		if (k == MERKLE_PATH_MAX)
			return -1;
		if (mm <= s) {
			rc = subtree(rev[k], lo + s, len - s, get, arg);
			len = s;
		} else {
			rc = subtree(rev[k], lo, s, get, arg);
			lo += s;
			len -= s;
			mm -= s;
			whole = false;
		}
		if (rc != 0)
			return rc;
		k++;
	}
	if (!whole) {
		if (k == MERKLE_PATH_MAX)
			return -1;
		if ((rc = subtree(proof[0], lo, len, get, arg)) != 0)
			return rc;
		at = 1;
	}
	for (size_t i = 0; i < k; i++)
		memcpy(proof[at + i], rev[k - 1 - i], 32);
	*n_proof = at + k;
	return 0;
}

int
merkle_consistency_verify(uint64_t m, uint64_t n, const uint8_t root_m[32],
                          const uint8_t root_n[32], const uint8_t (*proof)[32],
                          size_t n_proof)
{
	const uint8_t *first;
	uint8_t fr[32], sr[32];
	uint64_t fn, sn;
	size_t i = 0;

	if (m > n || n_proof > MERKLE_PATH_MAX)
		return -1;
	if (m == n)
		return n_proof == 0 && sodium_memcmp(root_m, root_n, 32) == 0
		           ? 0
		           : -1;
	if (m == 0) /* the empty tree is a prefix of every tree */
		return n_proof == 0 ? 0 : -1;
	if (n_proof == 0)
		return -1;
	/* RFC 9162 2.1.4.2; an old tree of 2^j leaves is a complete
	 * subtree of the new one, so its head starts the proof. */
	if ((m & (m - 1)) == 0) {
		first = root_m;
	} else {
		first = proof[0];
		i = 1;
	}
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, first, 32);
	memcpy(sr, first, 32);
	for (; i < n_proof; i++) {
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			merkle_node(fr, proof[i], fr);
			merkle_node(sr, proof[i], sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			merkle_node(sr, sr, proof[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && sodium_memcmp(fr, root_m, 32) == 0 &&
	               sodium_memcmp(sr, root_n, 32) == 0
	           ? 0
	           : -1;
}
