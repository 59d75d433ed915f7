/*
 * merkle: the RFC 9162 tree over record hashes. Everything is checked
 * against a naive reference written here straight from RFC 9162 2.1
 * (MTH 2.1.1, PATH 2.1.3.1, PROOF 2.1.4.1), hashing with
 * crypto_hash_sha256 directly, never through merkle_leaf / merkle_node.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "merkle.h"

/* ---- the reference, from the RFC's definitions ---- */

static void
ref_hash1(uint8_t out[32], uint8_t prefix, const uint8_t *a, size_t alen,
          const uint8_t *b, size_t blen)
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &prefix, 1);
	if (alen > 0)
		crypto_hash_sha256_update(&st, a, alen);
	if (blen > 0)
		crypto_hash_sha256_update(&st, b, blen);
	crypto_hash_sha256_final(&st, out);
}

static void
ref_leaf(uint8_t out[32], const uint8_t d[32])
{
	ref_hash1(out, 0x00, d, 32, NULL, 0);
}

static void
ref_node(uint8_t out[32], const uint8_t l[32], const uint8_t r[32])
{
	ref_hash1(out, 0x01, l, 32, r, 32);
}

/* The largest power of two smaller than n (n >= 2): k < n <= 2k. */
static uint64_t
ref_split(uint64_t n)
{
	uint64_t x = n - 1, k = 1;

	while (x >>= 1)
		k <<= 1;
	return k;
}

/* MTH(D[n]) over the data entries (record hashes) D. */
static void
ref_mth(uint8_t out[32], const uint8_t (*d)[32], uint64_t n)
{
	uint8_t l[32], r[32];
	uint64_t k;

	if (n == 0) {
		crypto_hash_sha256(out, NULL, 0);
		return;
	}
	if (n == 1) {
		ref_leaf(out, d[0]);
		return;
	}
	k = ref_split(n);
	ref_mth(l, d, k);
	ref_mth(r, d + k, n - k);
	ref_node(out, l, r);
}

/* PATH(m, D[n]), leaf first; returns its length. */
static size_t
ref_path(uint8_t path[][32], uint64_t m, const uint8_t (*d)[32], uint64_t n)
{
	uint64_t k;
	size_t len;

	if (n == 1)
		return 0;
	k = ref_split(n);
	if (m < k) {
		len = ref_path(path, m, d, k);
		ref_mth(path[len], d + k, n - k);
	} else {
		len = ref_path(path, m - k, d + k, n - k);
		ref_mth(path[len], d, k);
	}
	return len + 1;
}

/* The root a proof implies, by the same recursion; -1 if the path does
 * not have the shape of leaf m in a tree of n. */
static int
ref_root_from_path(uint8_t out[32], const uint8_t leaf[32], uint64_t m,
                   uint64_t n, const uint8_t (*path)[32], size_t len)
{
	uint8_t sub[32];
	uint64_t k;

	if (n == 1) {
		if (len != 0)
			return -1;
		memcpy(out, leaf, 32);
		return 0;
	}
	if (len == 0)
		return -1;
	k = ref_split(n);
	if (m < k) {
		if (ref_root_from_path(sub, leaf, m, k, path, len - 1) != 0)
			return -1;
		ref_node(out, sub, path[len - 1]);
	} else {
		if (ref_root_from_path(sub, leaf, m - k, n - k, path,
		                       len - 1) != 0)
			return -1;
		ref_node(out, path[len - 1], sub);
	}
	return 0;
}

static int
ref_verify(const uint8_t leaf[32], uint64_t m, uint64_t n,
           const uint8_t (*path)[32], size_t len, const uint8_t root[32])
{
	uint8_t r[32];

	if (m >= n || ref_root_from_path(r, leaf, m, n, path, len) != 0)
		return -1;
	return memcmp(r, root, 32) == 0 ? 0 : -1;
}

/* MTH of leaves [lo, lo + len) in some tree, for the reference proofs. */
typedef void (*ref_mth_fn)(uint8_t out[32], uint64_t lo, uint64_t len,
                           const void *ctx);

/* SUBPROOF(m, D[lo .. lo + n), b) (RFC 9162 2.1.4.1); returns its
 * length. proof holds MERKLE_PATH_MAX + 1 hashes. */
static size_t
ref_subproof(uint8_t proof[][32], uint64_t m, uint64_t lo, uint64_t n, int b,
             ref_mth_fn mth, const void *ctx)
{
	uint64_t k;
	size_t len;

	if (m == n) {
		if (b)
			return 0;
		mth(proof[0], lo, n, ctx);
		return 1;
	}
	k = ref_split(n);
	if (m <= k) {
		len = ref_subproof(proof, m, lo, k, b, mth, ctx);
		mth(proof[len], lo + k, n - k, ctx);
	} else {
		len = ref_subproof(proof, m - k, lo + k, n - k, 0, mth, ctx);
		mth(proof[len], lo, k, ctx);
	}
	return len + 1;
}

static void
ref_mth_of(uint8_t out[32], uint64_t lo, uint64_t len, const void *ctx)
{
	const uint8_t(*d)[32] = (const uint8_t(*)[32])ctx;

	ref_mth(out, d + lo, len);
}

/* ---- helpers ---- */

static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
rng_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rng_next();
		for (size_t j = 0; j < 8 && i + j < n; j++)
			p[i + j] = (uint8_t)(v >> (8 * j));
	}
}

static unsigned
popcount64(uint64_t x)
{
	unsigned c = 0;

	for (; x; x &= x - 1)
		c++;
	return c;
}

/* Every complete subtree the done callback reported, by (level, index). */
struct table {
	uint64_t n_max;  /* leaves the table can hold */
	unsigned levels; /* levels 0 .. levels - 1 exist */
	uint8_t (*hash[MERKLE_LEVELS])[32];
	unsigned *seen[MERKLE_LEVELS];
	uint8_t (*roots)[32]; /* reference MTH of each prefix, 0 .. n_max */
	uint64_t reports;     /* callbacks in all */
	uint64_t bad;         /* reports outside the tree or repeated */
};

static void
table_init(struct table *t, uint64_t n_max)
{
	memset(t, 0, sizeof(*t));
	t->n_max = n_max;
	t->roots = calloc(n_max + 1, 32);
	if (t->roots == NULL)
		abort();
	for (unsigned l = 0; l < MERKLE_LEVELS && (n_max >> l) > 0; l++) {
		t->hash[l] = calloc(n_max >> l, 32);
		t->seen[l] = calloc(n_max >> l, sizeof(unsigned));
		if (t->hash[l] == NULL || t->seen[l] == NULL)
			abort();
		t->levels = l + 1;
	}
}

static void
table_free(struct table *t)
{
	for (unsigned l = 0; l < t->levels; l++) {
		free(t->hash[l]);
		free(t->seen[l]);
	}
	free(t->roots);
}

/* What the push callback knows. */
struct push_ctx {
	struct table *t;
	const uint8_t (*d)[32]; /* the records pushed so far and this one */
	uint64_t leaf;          /* index of the leaf being pushed */
	unsigned next_level;    /* the level the next callback must have */
	unsigned calls;         /* callbacks in this push */
	unsigned fail_at;       /* return fail_rc on this call (0: never) */
	int fail_rc;
};

static int
on_done(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
	struct push_ctx *c = arg;
	struct table *t = c->t;
	uint8_t want[32];

	c->calls++;
	if (c->fail_at != 0 && c->calls == c->fail_at)
		return c->fail_rc;
	/* Lowest level first, one level at a time, starting at the leaf. */
	CHECK_INT(level, c->next_level);
	c->next_level = level + 1;
	if (level >= 63) {
		CHECK(level < 63);
		if (t != NULL)
			t->bad++;
		return 0;
	}
	/* The subtree must end exactly at the leaf just pushed. */
	CHECK((index + 1) << level == c->leaf + 1);
	if ((index + 1) << level != c->leaf + 1) {
		if (t != NULL)
			t->bad++;
		return 0;
	}
	if (t == NULL) { /* just the hash, no table */
		ref_mth(want, c->d + (index << level), (uint64_t)1 << level);
		CHECK(memcmp(hash, want, 32) == 0);
		return 0;
	}
	if (level >= t->levels || index >= (t->n_max >> level)) {
		t->bad++;
		return 0;
	}
	ref_mth(want, c->d + (index << level), (uint64_t)1 << level);
	CHECK(memcmp(hash, want, 32) == 0);
	CHECK_INT(t->seen[level][index], 0);
	if (t->seen[level][index] != 0)
		t->bad++;
	t->seen[level][index]++;
	memcpy(t->hash[level][index], hash, 32);
	t->reports++;
	return 0;
}

/* What merkle_path's getter knows. */
struct get_ctx {
	const struct table *t;
	uint64_t n; /* the tree the proof is for */
	unsigned calls;
	unsigned fail_at; /* return fail_rc on this call (0: never) */
	int fail_rc;
	unsigned bad; /* requests for subtrees outside the first n */
};

static int
on_get(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	struct get_ctx *g = arg;

	g->calls++;
	if (g->fail_at != 0 && g->calls == g->fail_at)
		return g->fail_rc;
	/* Only complete subtrees inside the first n leaves may be asked. */
	if (level >= g->t->levels || index + 1 > (g->n >> level) ||
	    g->t->seen[level][index] == 0) {
		g->bad++;
		memset(out, 0, 32);
		return -77;
	}
	memcpy(out, g->t->hash[level][index], 32);
	return 0;
}

/* ---- the tests ---- */

static void
test_primitives(void)
{
	uint8_t a[32], b[32], x[32], y[32];

	rng_state = 1;
	rng_fill(a, 32);
	rng_fill(b, 32);
	merkle_leaf(x, a);
	ref_leaf(y, a);
	CHECK(memcmp(x, y, 32) == 0);
	merkle_node(x, a, b);
	ref_node(y, a, b);
	CHECK(memcmp(x, y, 32) == 0);
	merkle_node(x, b, a); /* order matters */
	CHECK(memcmp(x, y, 32) != 0);
	merkle_empty(x);
	crypto_hash_sha256(y, (const uint8_t *)"", 0);
	CHECK(memcmp(x, y, 32) == 0);
	CHECK_INT(ref_split(2), 1);
	CHECK_INT(ref_split(3), 2);
	CHECK_INT(ref_split(4), 2);
	CHECK_INT(ref_split(5), 4);
	CHECK(ref_split(UINT64_MAX) == (uint64_t)1 << 63);
	CHECK(ref_split(((uint64_t)1 << 63) + 1) == (uint64_t)1 << 63);
}

/* Bytes i, i + 1, ..., i + 31 for records i = 0, 1, 2, by hand. */
static void
test_known_answer(void)
{
	static const uint8_t want_hex[] = "aebd0d3904d08cef8d0178cf5ba85e3f"
	                                  "05a3303f19d83e79149da7087d6c61f7";
	uint8_t rec[3][32], lf[3][32], in[65], n01[32], root[32], got[32];
	uint8_t want[32];
	struct merkle_frontier f;

	for (int i = 0; i < 3; i++) {
		for (int j = 0; j < 32; j++)
			rec[i][j] = (uint8_t)(i + j);
		in[0] = 0x00;
		memcpy(in + 1, rec[i], 32);
		crypto_hash_sha256(lf[i], in, 33);
	}
	in[0] = 0x01;
	memcpy(in + 1, lf[0], 32);
	memcpy(in + 33, lf[1], 32);
	crypto_hash_sha256(n01, in, 65);
	memcpy(in + 1, n01, 32);
	memcpy(in + 33, lf[2], 32);
	crypto_hash_sha256(root, in, 65);
	/* ...and as computed outside this program (Python hashlib). */
	CHECK(sodium_hex2bin(want, 32, (const char *)want_hex,
	                     sizeof(want_hex) - 1, NULL, NULL, NULL) == 0);
	CHECK(memcmp(root, want, 32) == 0);

	merkle_frontier_init(&f);
	for (int i = 0; i < 3; i++) {
		merkle_leaf(got, rec[i]);
		CHECK(memcmp(got, lf[i], 32) == 0);
		CHECK_INT(merkle_frontier_push(&f, got, NULL, NULL), 0);
	}
	CHECK_INT(f.size, 3);
	merkle_frontier_root(&f, got);
	CHECK(memcmp(got, root, 32) == 0);

	/* The empty tree. */
	merkle_frontier_init(&f);
	merkle_frontier_root(&f, got);
	CHECK(sodium_hex2bin(want, 32,
	                     "e3b0c44298fc1c149afbf4c8996fb924"
	                     "27ae41e4649b934ca495991b7852b855",
	                     64, NULL, NULL, NULL) == 0);
	CHECK(memcmp(got, want, 32) == 0);
}

/*
 * Builds a tree of n random records, checking the root after every push
 * and every reported complete subtree; fills t (initialised for n).
 */
static void
build(struct table *t, uint8_t (*d)[32], uint64_t n, uint64_t seed,
      struct merkle_frontier *f)
{
	uint8_t lf[32], got[32], want[32];
	struct push_ctx c;

	rng_state = seed;
	rng_fill((uint8_t *)d, (size_t)n * 32);
	table_init(t, n);
	merkle_frontier_init(f);
	merkle_frontier_root(f, got);
	ref_mth(want, (const uint8_t(*)[32])d, 0);
	CHECK(memcmp(got, want, 32) == 0);
	memcpy(t->roots[0], want, 32);
	for (uint64_t i = 0; i < n; i++) {
		memset(&c, 0, sizeof(c));
		c.t = t;
		c.d = (const uint8_t(*)[32])d;
		c.leaf = i;
		merkle_leaf(lf, d[i]);
		CHECK_INT(merkle_frontier_push(f, lf, on_done, &c), 0);
		/* Leaf i completes one subtree per power of two dividing
		 * i + 1: levels 0 .. ctz(i + 1). */
		CHECK_INT(c.calls, 1 + (unsigned)__builtin_ctzll(i + 1));
		CHECK(f->size == i + 1);
		merkle_frontier_root(f, got);
		ref_mth(want, (const uint8_t(*)[32])d, i + 1);
		CHECK(memcmp(got, want, 32) == 0);
		memcpy(t->roots[i + 1], want, 32);
	}
	/* Exactly every complete subtree, once: 2n - popcount(n). */
	CHECK_INT(t->bad, 0);
	CHECK(t->reports == 2 * n - popcount64(n));
	for (unsigned l = 0; l < t->levels; l++)
		for (uint64_t j = 0; j < (n >> l); j++)
			CHECK_INT(t->seen[l][j], 1);
}

static unsigned n_ambiguous;   /* wrong-n proofs RFC 9162 accepts */
static unsigned n_example_set; /* one of them, for the report */
static uint64_t ex_m, ex_n, ex_wrong_n;

/*
 * The proof of leaf m in the first n leaves of t (records d): equal to the
 * reference, accepted, and refused whenever anything is changed.
 */
static void
check_proof(const struct table *t, const uint8_t (*d)[32], uint64_t m,
            uint64_t n)
{
	uint8_t path[MERKLE_PATH_MAX][32], want[MERKLE_PATH_MAX][32];
	uint8_t bad[MERKLE_PATH_MAX + 1][32];
	uint8_t root[32], leaf[32], x[32];
	size_t n_path = 99, n_want;
	struct get_ctx g;

	memset(&g, 0, sizeof(g));
	g.t = t;
	g.n = n;
	memcpy(root, t->roots[n], 32);
	ref_leaf(leaf, d[m]);
	CHECK_INT(merkle_path(path, &n_path, m, n, on_get, &g), 0);
	CHECK_INT(g.bad, 0);
	n_want = ref_path(want, m, d, n);
	CHECK_INT(n_path, n_want);
	if (n_path != n_want || n_path > MERKLE_PATH_MAX - 1)
		return;
	for (size_t i = 0; i < n_path; i++)
		CHECK(memcmp(path[i], want[i], 32) == 0);
	CHECK_INT(
	    merkle_verify(leaf, m, n, (const uint8_t(*)[32])path, n_path, root),
	    0);
	CHECK_INT(
	    ref_verify(leaf, m, n, (const uint8_t(*)[32])path, n_path, root),
	    0);

	/* A flipped bit anywhere in any path element. */
	memcpy(bad, path, n_path * 32);
	for (size_t i = 0; i < n_path; i++) {
		unsigned bit = (unsigned)((i * 37 + m * 11 + n) % 256);
		bad[i][bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_INT(merkle_verify(leaf, m, n, (const uint8_t(*)[32])bad,
		                        n_path, root),
		          -1);
		bad[i][bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* A flipped bit in the leaf, in the root; another root. */
	memcpy(x, leaf, 32);
	x[(m + n) % 32] ^= 0x10;
	CHECK_INT(
	    merkle_verify(x, m, n, (const uint8_t(*)[32])path, n_path, root),
	    -1);
	memcpy(x, root, 32);
	x[(m * 7 + n) % 32] ^= 0x01;
	CHECK_INT(
	    merkle_verify(leaf, m, n, (const uint8_t(*)[32])path, n_path, x),
	    -1);
	memcpy(x, t->roots[n - 1], 32);
	CHECK_INT(
	    merkle_verify(leaf, m, n, (const uint8_t(*)[32])path, n_path, x),
	    -1);

	/* Wrong m: the position is bound by the proof. */
	if (m > 0)
		CHECK_INT(merkle_verify(leaf, m - 1, n,
		                        (const uint8_t(*)[32])path, n_path,
		                        root),
		          -1);
	if (m + 1 < n)
		CHECK_INT(merkle_verify(leaf, m + 1, n,
		                        (const uint8_t(*)[32])path, n_path,
		                        root),
		          -1);
	/* m >= n. */
	CHECK_INT(
	    merkle_verify(leaf, n, n, (const uint8_t(*)[32])path, n_path, root),
	    -1);
	CHECK_INT(merkle_verify(leaf, n + 1, n, (const uint8_t(*)[32])path,
	                        n_path, root),
	          -1);

	/*
	 * Wrong n. RFC 9162 2.1.3.2 binds n only through the shape of the
	 * proof: where leaf m has the same left/right sequence in a tree of
	 * n +- 1 (m = 0, n = 3 and n = 4, say) the same computation gives
	 * the same root and the proof is accepted. So the rule checked is
	 * the reference verifier's: refused whenever the shape differs,
	 * and merkle_verify agrees with the reference either way.
	 */
	for (int dn = -1; dn <= 1; dn += 2) {
		uint64_t wn = n + (uint64_t)(int64_t)dn;
		int got, want_rc;

		got = merkle_verify(leaf, m, wn, (const uint8_t(*)[32])path,
		                    n_path, root);
		want_rc = ref_verify(leaf, m, wn, (const uint8_t(*)[32])path,
		                     n_path, root);
		CHECK_INT(got, want_rc);
		if (m >= wn)
			CHECK_INT(got, -1);
		if (want_rc == 0) {
			n_ambiguous++;
			if (!n_example_set) {
				n_example_set = 1;
				ex_m = m;
				ex_n = n;
				ex_wrong_n = wn;
			}
		}
	}

	/* Truncated, one element too many. */
	if (n_path > 0)
		CHECK_INT(merkle_verify(leaf, m, n, (const uint8_t(*)[32])path,
		                        n_path - 1, root),
		          -1);
	memcpy(bad, path, n_path * 32);
	rng_fill(bad[n_path], 32);
	CHECK_INT(merkle_verify(leaf, m, n, (const uint8_t(*)[32])bad,
	                        n_path + 1, root),
	          -1);
	/* ...including a copy of the root's own last sibling. */
	if (n_path > 0) {
		memcpy(bad[n_path], path[n_path - 1], 32);
		CHECK_INT(merkle_verify(leaf, m, n, (const uint8_t(*)[32])bad,
		                        n_path + 1, root),
		          -1);
	}
	/*
	 * The same with the root each would lead to: a truncated path with
	 * the head of the root's child that holds m (a good proof in that
	 * smaller tree, not in this one), an extra element with the node
	 * over it and the root. Only the tree size can refuse these.
	 */
	if (n_path > 0) {
		uint64_t k = ref_split(n);

		if (m < k)
			ref_mth(x, d, k);
		else
			ref_mth(x, d + k, n - k);
		CHECK_INT(merkle_verify(leaf, m, n, (const uint8_t(*)[32])path,
		                        n_path - 1, x),
		          -1);
	}
	rng_fill(bad[n_path], 32);
	ref_node(x, bad[n_path], root);
	CHECK_INT(
	    merkle_verify(leaf, m, n, (const uint8_t(*)[32])bad, n_path + 1, x),
	    -1);
	ref_node(x, root, bad[n_path]);
	CHECK_INT(
	    merkle_verify(leaf, m, n, (const uint8_t(*)[32])bad, n_path + 1, x),
	    -1);
}

/* m >= n: no proof, the getter never asked. */
static void
check_no_proof(const struct table *t, uint64_t m, uint64_t n)
{
	uint8_t path[MERKLE_PATH_MAX][32];
	size_t n_path = 99;
	struct get_ctx g;

	memset(&g, 0, sizeof(g));
	g.t = t;
	g.n = n;
	CHECK(merkle_path(path, &n_path, m, n, on_get, &g) != 0);
	CHECK_INT(n_path, 0);
	CHECK_INT(g.calls, 0);
}

static void
test_small(void)
{
	for (uint64_t n = 0; n <= 200; n++) {
		uint8_t(*d)[32] = malloc((size_t)(n + 1) * 32);
		struct merkle_frontier f;
		struct table t;

		if (d == NULL)
			abort();
		build(&t, d, n, 0x1000 + n, &f);
		for (uint64_t m = 0; m < n; m++)
			check_proof(&t, (const uint8_t(*)[32])d, m, n);
		check_no_proof(&t, n, n);
		check_no_proof(&t, n + 5, n);
		table_free(&t);
		free(d);
	}
}

static void
test_large(void)
{
	static const uint64_t sizes[] = {1000, 1023, 1024, 1025, 4097};

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint64_t n = sizes[s];
		uint8_t(*d)[32] = malloc((size_t)n * 32);
		struct merkle_frontier f;
		struct table t;

		if (d == NULL)
			abort();
		build(&t, d, n, 0x2000 + n, &f);
		/* Proofs in the whole tree and in some of its prefixes: the
		 * getter refuses anything beyond the prefix. */
		uint64_t trees[] = {n, n - 1, n / 2 + 1, 511, 512, 513};
		for (size_t k = 0; k < sizeof(trees) / sizeof(trees[0]); k++) {
			uint64_t tn = trees[k];
			uint64_t ms[] = {0,
			                 1,
			                 2,
			                 tn / 2 - 1,
			                 tn / 2,
			                 tn / 3,
			                 tn - 2,
			                 tn - 1,
			                 255,
			                 256,
			                 rng_next() % tn};
			for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
				if (ms[i] < tn)
					check_proof(&t, (const uint8_t(*)[32])d,
					            ms[i], tn);
			for (uint64_t i = 0; i < 40; i++)
				check_proof(&t, (const uint8_t(*)[32])d,
				            rng_next() % tn, tn);
		}
		check_no_proof(&t, n, n);
		table_free(&t);
		free(d);
	}
}

/* A getter failure comes back from merkle_path unchanged. */
static void
test_get_fails(void)
{
	enum { N = 77 };
	uint8_t d[N][32], path[MERKLE_PATH_MAX][32];
	struct merkle_frontier f;
	struct table t;
	struct get_ctx g;
	size_t n_path;
	int rc;

	build(&t, d, N, 0x3000, &f);
	for (uint64_t n = 1; n <= N; n++) {
		for (uint64_t m = 0; m < n; m++) {
			unsigned calls;

			memset(&g, 0, sizeof(g));
			g.t = &t;
			g.n = n;
			CHECK_INT(merkle_path(path, &n_path, m, n, on_get, &g),
			          0);
			CHECK_INT(g.bad, 0);
			calls = g.calls;
			if (n == 1)
				CHECK_INT(calls, 0);
			for (unsigned at = 1; at <= calls; at++) {
				memset(&g, 0, sizeof(g));
				g.t = &t;
				g.n = n;
				g.fail_at = at;
				g.fail_rc = (at & 1) ? 42 : -5;
				n_path = 99;
				rc = merkle_path(path, &n_path, m, n, on_get,
				                 &g);
				CHECK_INT(rc, g.fail_rc);
				/* Stops at the failure. */
				CHECK_INT(g.calls, at);
				CHECK_INT(g.bad, 0);
			}
		}
	}
	table_free(&t);
}

/* A callback failure leaves the frontier as it was. */
static void
test_push_fails(void)
{
	enum { N = 70 };
	uint8_t d[N][32], lf[32], r0[32], r1[32], want[32];
	struct merkle_frontier f;
	struct push_ctx c;

	rng_state = 0x4000;
	rng_fill((uint8_t *)d, sizeof(d));
	merkle_frontier_init(&f);
	for (uint64_t i = 0; i < N; i++) {
		unsigned calls = 1 + (unsigned)__builtin_ctzll(i + 1);

		merkle_leaf(lf, d[i]);
		merkle_frontier_root(&f, r0);
		for (unsigned at = 1; at <= calls; at++) {
			memset(&c, 0, sizeof(c));
			c.t = NULL;
			c.d = (const uint8_t(*)[32])d;
			c.leaf = i;
			c.fail_at = at;
			c.fail_rc = (at & 1) ? 9 : -3;
			CHECK_INT(merkle_frontier_push(&f, lf, on_done, &c),
			          c.fail_rc);
			CHECK_INT(c.calls, at); /* no callback after it */
			CHECK(f.size == i);
			merkle_frontier_root(&f, r1);
			CHECK(memcmp(r0, r1, 32) == 0);
		}
		/* ...and the push then goes through as if nothing happened. */
		CHECK_INT(merkle_frontier_push(&f, lf, NULL, NULL), 0);
		CHECK(f.size == i + 1);
		merkle_frontier_root(&f, r1);
		ref_mth(want, (const uint8_t(*)[32])d, i + 1);
		CHECK(memcmp(r1, want, 32) == 0);
	}

	/* A full frontier refuses another leaf. */
	merkle_frontier_init(&f);
	f.size = UINT64_MAX;
	CHECK(merkle_frontier_push(&f, lf, NULL, NULL) != 0);
	CHECK(f.size == UINT64_MAX);
}

/*
 * Trees too big to build: complete subtrees get made-up hashes, the
 * reference computes the path and the root the same way, and the proof
 * must match and verify. Exercises the 64-bit edges.
 */
static uint64_t virt_n, virt_m;
static unsigned virt_bad;

static void
virt_complete(uint8_t out[32], unsigned level, uint64_t index)
{
	uint8_t in[9], l[32], r[32];

	/* The subtrees above leaf virt_m are made of their children, so
	 * that a proof for virt_m can reach the root. */
	if (level > 0 && (virt_m >> level) == index) {
		virt_complete(l, level - 1, 2 * index);
		virt_complete(r, level - 1, 2 * index + 1);
		ref_node(out, l, r);
		return;
	}
	in[0] = (uint8_t)level;
	for (int i = 0; i < 8; i++)
		in[1 + i] = (uint8_t)(index >> (8 * i));
	crypto_generichash(out, 32, in, sizeof(in), NULL, 0);
}

static int
virt_get(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	(void)arg;
	if (level > 63 || index + 1 > (virt_n >> level)) {
		virt_bad++;
		return -77;
	}
	virt_complete(out, level, index);
	return 0;
}

/* MTH of leaves [lo, lo + len) with made-up complete subtrees. */
static void
virt_mth(uint8_t out[32], uint64_t lo, uint64_t len)
{
	uint8_t l[32], r[32];
	uint64_t k;

	if ((len & (len - 1)) == 0 && lo % len == 0) {
		virt_complete(out, (unsigned)__builtin_ctzll(len), lo / len);
		return;
	}
	k = ref_split(len);
	virt_mth(l, lo, k);
	virt_mth(r, lo + k, len - k);
	ref_node(out, l, r);
}

static size_t
virt_path(uint8_t path[][32], uint64_t m, uint64_t lo, uint64_t n)
{
	uint64_t k;
	size_t len;

	if (n == 1)
		return 0;
	k = ref_split(n);
	if (m < k) {
		len = virt_path(path, m, lo, k);
		virt_mth(path[len], lo + k, n - k);
	} else {
		len = virt_path(path, m - k, lo + k, n - k);
		virt_mth(path[len], lo, k);
	}
	return len + 1;
}

static void
test_huge(void)
{
	static const uint64_t sizes[] = {
	    UINT64_MAX,
	    UINT64_MAX - 1,
	    (uint64_t)1 << 63,
	    ((uint64_t)1 << 63) + 1,
	    ((uint64_t)1 << 32) + 12345,
	};

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint64_t n = sizes[s];
		uint64_t ms[] = {
		    0,     1,     n / 2,         ref_split(n) - 1, ref_split(n),
		    n - 2, n - 1, rng_next() % n};
		uint8_t root[32];

		virt_n = n;
		for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
			uint8_t path[MERKLE_PATH_MAX][32];
			uint8_t want[MERKLE_PATH_MAX + 1][32];
			uint8_t leaf[32];
			uint64_t m = ms[i];
			size_t n_path = 99, n_want;

			virt_m = m;
			virt_mth(root, 0, n);
			virt_bad = 0;
			CHECK_INT(
			    merkle_path(path, &n_path, m, n, virt_get, NULL),
			    0);
			CHECK_INT(virt_bad, 0);
			n_want = virt_path(want, m, 0, n);
			CHECK_INT(n_path, n_want);
			if (n_path != n_want)
				continue;
			for (size_t j = 0; j < n_path; j++)
				CHECK(memcmp(path[j], want[j], 32) == 0);
			virt_complete(leaf, 0, m);
			CHECK_INT(merkle_verify(leaf, m, n,
			                        (const uint8_t(*)[32])path,
			                        n_path, root),
			          0);
			CHECK_INT(ref_verify(leaf, m, n,
			                     (const uint8_t(*)[32])path, n_path,
			                     root),
			          0);
			path[0][0] ^= 1;
			CHECK_INT(merkle_verify(leaf, m, n,
			                        (const uint8_t(*)[32])path,
			                        n_path, root),
			          -1);
		}
	}
}

/*
 * The consistency proof from the first m to the first n leaves of t:
 * equal to the reference, accepted, and refused after any change to a
 * hash, the roots, or the proof's length.
 */
static void
check_consistency(const struct table *t, const uint8_t (*d)[32], uint64_t m,
                  uint64_t n)
{
	uint8_t proof[MERKLE_PATH_MAX][32], want[MERKLE_PATH_MAX + 1][32];
	uint8_t bad[MERKLE_PATH_MAX + 1][32], x[32];
	size_t n_proof = 99, n_want;
	struct get_ctx g;
	const uint8_t *rm = t->roots[m], *rn = t->roots[n];

	memset(&g, 0, sizeof(g));
	g.t = t;
	g.n = n;
	CHECK_INT(merkle_consistency(proof, &n_proof, m, n, on_get, &g), 0);
	CHECK_INT(g.bad, 0);
	n_want = m == 0 ? 0 : ref_subproof(want, m, 0, n, 1, ref_mth_of, d);
	CHECK_INT(n_proof, n_want);
	if (n_proof != n_want)
		return;
	for (size_t i = 0; i < n_proof; i++)
		CHECK(memcmp(proof[i], want[i], 32) == 0);
	CHECK_INT(merkle_consistency_verify(
	              m, n, rm, rn, (const uint8_t(*)[32])proof, n_proof),
	          0);
	/* Each hash of the proof, each bit position class. */
	for (size_t i = 0; i < n_proof; i++) {
		memcpy(bad, proof, n_proof * 32);
		bad[i][i % 32] ^= (uint8_t)(1u << (i % 8));
		CHECK_INT(merkle_consistency_verify(
		              m, n, rm, rn, (const uint8_t(*)[32])bad, n_proof),
		          -1);
	}
	/* Either root changed. */
	memcpy(x, rm, 32);
	x[7] ^= 0x20;
	CHECK_INT(merkle_consistency_verify(
	              m, n, x, rn, (const uint8_t(*)[32])proof, n_proof),
	          (m == 0 && n > 0) ? 0 : -1); /* all extend the empty tree */
	memcpy(x, rn, 32);
	x[31] ^= 0x01;
	CHECK_INT(merkle_consistency_verify(
	              m, n, rm, x, (const uint8_t(*)[32])proof, n_proof),
	          (m == 0 && n > 0) ? 0 : -1);
	/* Too short: every prefix; too long: one more hash, any hash. */
	for (size_t len = 0; len < n_proof; len++)
		CHECK_INT(merkle_consistency_verify(
		              m, n, rm, rn, (const uint8_t(*)[32])proof, len),
		          -1);
	if (n_proof < MERKLE_PATH_MAX) {
		memcpy(bad, proof, n_proof * 32);
		memcpy(bad[n_proof], rn, 32);
		CHECK_INT(merkle_consistency_verify(m, n, rm, rn,
		                                    (const uint8_t(*)[32])bad,
		                                    n_proof + 1),
		          -1);
		memset(bad[n_proof], 0, 32);
		CHECK_INT(merkle_consistency_verify(m, n, rm, rn,
		                                    (const uint8_t(*)[32])bad,
		                                    n_proof + 1),
		          -1);
	}
	/* Sizes the wrong way round. */
	if (m < n)
		CHECK_INT(merkle_consistency_verify(n, m, rn, rm,
		                                    (const uint8_t(*)[32])proof,
		                                    n_proof),
		          -1);
}

static void
test_consistency(void)
{
	enum { N = 40 };
	uint8_t d[N][32], proof[MERKLE_PATH_MAX][32];
	struct merkle_frontier f;
	struct table t;
	struct get_ctx g;
	size_t n_proof;

	build(&t, d, N, 0x5000, &f);
	for (uint64_t n = 0; n <= N; n++)
		for (uint64_t m = 0; m <= n; m++)
			check_consistency(&t, (const uint8_t(*)[32])d, m, n);
	/* m > n has no proof, and the getter is never asked. */
	memset(&g, 0, sizeof(g));
	g.t = &t;
	g.n = 5;
	n_proof = 99;
	CHECK(merkle_consistency(proof, &n_proof, 6, 5, on_get, &g) != 0);
	CHECK_INT(n_proof, 0);
	CHECK_INT(g.calls, 0);
	/* A getter's failure comes back unchanged, at once. */
	for (uint64_t n = 2; n <= N; n++) {
		for (uint64_t m = 1; m < n; m++) {
			unsigned calls;

			memset(&g, 0, sizeof(g));
			g.t = &t;
			g.n = n;
			CHECK_INT(merkle_consistency(proof, &n_proof, m, n,
			                             on_get, &g),
			          0);
			calls = g.calls;
			CHECK(calls > 0);
			for (unsigned at = 1; at <= calls; at++) {
				memset(&g, 0, sizeof(g));
				g.t = &t;
				g.n = n;
				g.fail_at = at;
				g.fail_rc = (at & 1) ? 42 : -5;
				CHECK_INT(merkle_consistency(proof, &n_proof, m,
				                             n, on_get, &g),
				          g.fail_rc);
				CHECK_INT(g.calls, at);
			}
		}
	}
	table_free(&t);
}

static void
virt_mth_of(uint8_t out[32], uint64_t lo, uint64_t len, const void *ctx)
{
	(void)ctx;
	virt_mth(out, lo, len);
}

/* Consistency proofs in trees of up to 2^64 - 1 leaves. */
static void
test_consistency_huge(void)
{
	static const uint64_t sizes[] = {
	    UINT64_MAX,
	    (uint64_t)1 << 63,
	    ((uint64_t)1 << 63) + 1,
	    ((uint64_t)1 << 32) + 12345,
	};

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint64_t n = sizes[s];
		uint64_t ms[] = {1,
		                 2,
		                 3,
		                 n / 2,
		                 ref_split(n) - 1,
		                 ref_split(n),
		                 ref_split(n) + 1,
		                 n - 2,
		                 n - 1,
		                 1 + rng_next() % (n - 1)};

		virt_n = n;
		for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
			uint8_t proof[MERKLE_PATH_MAX][32];
			uint8_t want[MERKLE_PATH_MAX + 1][32], rm[32], rn[32];
			uint64_t m = ms[i];
			size_t n_proof = 99, n_want;
			int rc;

			/* The made-up tree is consistent along the old
			 * tree's right edge: the ancestors of leaf m - 1. */
			virt_m = m - 1;
			virt_mth(rm, 0, m);
			virt_mth(rn, 0, n);
			virt_bad = 0;
			n_want =
			    ref_subproof(want, m, 0, n, 1, virt_mth_of, NULL);
			rc = merkle_consistency(proof, &n_proof, m, n, virt_get,
			                        NULL);
			CHECK_INT(virt_bad, 0);
			if (n_want >
			    MERKLE_PATH_MAX) { /* longer than allowed */
				CHECK(rc != 0);
				continue;
			}
			CHECK_INT(rc, 0);
			CHECK_INT(n_proof, n_want);
			if (n_proof != n_want)
				continue;
			for (size_t j = 0; j < n_proof; j++)
				CHECK(memcmp(proof[j], want[j], 32) == 0);
			CHECK_INT(merkle_consistency_verify(
			              m, n, rm, rn, (const uint8_t(*)[32])proof,
			              n_proof),
			          0);
			if (n_proof == 0) /* m == n */
				continue;
			proof[n_proof - 1][3] ^= 4;
			CHECK_INT(merkle_consistency_verify(
			              m, n, rm, rn, (const uint8_t(*)[32])proof,
			              n_proof),
			          -1);
		}
	}
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_primitives();
	test_known_answer();
	test_small();
	test_large();
	test_get_fails();
	test_push_fails();
	test_huge();
	test_consistency();
	test_consistency_huge();
	if (n_example_set)
		printf("note: %u wrong-n proofs accepted as RFC 9162 does "
		       "(same shape), e.g. m=%llu n=%llu as n=%llu\n",
		       n_ambiguous, (unsigned long long)ex_m,
		       (unsigned long long)ex_n,
		       (unsigned long long)ex_wrong_n);
	return check_done("test_merkle");
}
