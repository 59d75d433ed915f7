/*
 * The LMDB layout of a data directory (docs/PROTOCOL.md 13.2): database
 * names, meta keys, key builders and the schema version, for the daemon's
 * store, common's ledger and the tests. Nothing else may spell one out.
 */
#ifndef KETEN_LEDGER_LAYOUT_H
#define KETEN_LEDGER_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "bytes.h"
#include "keten_public.h"

/* The storage version this broker writes (meta "schema", 1 byte). */
#define LAYOUT_SCHEMA_VERSION 6
#define LAYOUT_MAX_DBS        16 /* room for the databases below */

#define LAYOUT_DB_LOG     "log"     /* be64 seq -> stored record */
#define LAYOUT_DB_MSGID   "msgid"   /* message id -> be64 seq (schema 4) */
#define LAYOUT_DB_INBOX   "inbox"   /* recipient id, NUL, be64 seq -> "" */
#define LAYOUT_DB_CONTENT "content" /* be64 seq -> sealed content */
#define LAYOUT_DB_CURSOR  "cursor"  /* agency id -> be64 acknowledged seq */
#define LAYOUT_DB_META    "meta"    /* the LAYOUT_META_* keys below */
/* A case's number is the seq of the referral that opened it: keyed by it,
 * a new case's entries go at the end of each tree, not on random pages. */
#define LAYOUT_DB_CASENO  "caseno"  /* case id -> be64 case number */
#define LAYOUT_DB_CASES   "cases"   /* be64 case number -> state (case.c) */
#define LAYOUT_DB_CASEIDX "caseidx" /* agency id, NUL, be64 number -> "" */
#define LAYOUT_DB_CASELOG "caselog" /* be64 number, be64 seq -> "" */
#define LAYOUT_DB_ACCESS  "access"  /* be64 access seq -> entry (access.h) */
#define LAYOUT_DB_TREE    "tree"    /* level, be64 index -> Merkle node */
/* Each witness's newest cosigned checkpoint (schema 5): the note text, the
 * broker's signature line and the witness's cosignature line. */
#define LAYOUT_DB_WITNESS "witness" /* witness name -> cosigned note */

/* The keys of meta; build them with LAYOUT_KEY. */
#define LAYOUT_META_HEAD        "head"        /* be64 seq, record hash */
#define LAYOUT_META_ACCESS_HEAD "access_head" /* be64 seq, entry hash */
#define LAYOUT_META_CHECKPOINT  "checkpoint"  /* the signed note (note.h) */
#define LAYOUT_META_REGION      "region"      /* the region id, no NUL */
#define LAYOUT_META_SCHEMA      "schema"      /* LAYOUT_SCHEMA_VERSION */
/* be64 seq of the newest roster record (schema 6; 0 or absent: none).
 * Derived from the log: a broker that finds it missing or wrong scans the
 * log for it. */
#define LAYOUT_META_ROSTER "roster"

/* A big-endian uint64: a seq, a case number, an access seq. Keys of log,
 * content, cases and access are one alone; so are the values of caseno
 * and cursor. */
#define LAYOUT_BE64_LEN 8

/* A head value: be64 seq, 32-byte hash. */
#define LAYOUT_HEAD_LEN (LAYOUT_BE64_LEN + KETEN_HASH_LEN)

/* Before schema 5 the checkpoint was binary: be64 size, head hash, root
 * (of a BLAKE2b tree), be64 access size, access head, be64 time, then
 * the signature. The upgrade checks its heads against the log. */
#define LAYOUT_V4_CHECKPOINT_LEN (8 + 32 + 32 + 8 + 32 + 8 + 64)

/* A msgid value is the record's be64 seq since schema 4. Before, it went
 * on with the receipt fields (120 bytes in all); those are read from the
 * record now, so the old values still serve. */
#define LAYOUT_MSGID_VAL_LEN     LAYOUT_BE64_LEN
#define LAYOUT_MSGID_VAL_LEN_OLD 120

#define LAYOUT_SEQ_KEY_LEN     LAYOUT_BE64_LEN /* log, content, cases, access */
#define LAYOUT_INBOX_KEY_MAX   (KETEN_ID_MAX + 1 + LAYOUT_BE64_LEN)
#define LAYOUT_CASEIDX_KEY_MAX (KETEN_ID_MAX + 1 + LAYOUT_BE64_LEN)
#define LAYOUT_CASELOG_KEY_LEN (2 * LAYOUT_BE64_LEN)
#define LAYOUT_TREE_KEY_LEN    (1 + LAYOUT_BE64_LEN)

/* Opens dir's environment read-only for the read-only door (ledger.c,
 * structwalk.c): with LMDB's reader lock, or without one on a copy that
 * cannot take it (nobody writes there). An LMDB code; *env is NULL on
 * failure. */
int ledger_env_open(MDB_env **env, const char *dir);

/* The MDB_val of n bytes at p: borrowed, valid while p is. */
static inline MDB_val
layout_val(const void *p, size_t n)
{
	MDB_val v = {.mv_size = n, .mv_data = (void *)(uintptr_t)p};
	return v;
}

/* The MDB_val of a string literal, without its NUL ("" refuses anything
 * but a literal, whose length sizeof knows). */
#define LAYOUT_KEY(lit) layout_val("" lit, sizeof(lit) - 1)

/* A be64 key: a seq (log, content), a case number (cases) or an access
 * seq (access). */
static inline MDB_val
layout_seq_key(uint8_t out[LAYOUT_SEQ_KEY_LEN], uint64_t seq)
{
	bytes_put_be64(out, seq);
	return layout_val(out, LAYOUT_SEQ_KEY_LEN);
}

static inline MDB_val
layout_msgid_key(const uint8_t id[KETEN_MSG_ID_LEN])
{
	return layout_val(id, KETEN_MSG_ID_LEN);
}

static inline MDB_val
layout_caseno_key(const uint8_t id[KETEN_CASE_ID_LEN])
{
	return layout_val(id, KETEN_CASE_ID_LEN);
}

static inline MDB_val
layout_cursor_key(const char *agency)
{
	return layout_val(agency, strlen(agency));
}

/* An inbox key: agency, NUL, be64 seq, in out (LAYOUT_INBOX_KEY_MAX);
 * returns its length. */
static inline size_t
layout_inbox_key(uint8_t *out, const char *agency, uint64_t seq)
{
	size_t n = strlen(agency);

	memcpy(out, agency, n);
	out[n] = 0;
	bytes_put_be64(out + n + 1, seq);
	return n + 1 + LAYOUT_BE64_LEN;
}

/* A caseidx key: agency, NUL, be64 case number (LAYOUT_CASEIDX_KEY_MAX). */
static inline MDB_val
layout_caseidx_key(uint8_t *out, const char *agency, uint64_t no)
{
	return layout_val(out, layout_inbox_key(out, agency, no));
}

static inline MDB_val
layout_caselog_key(uint8_t out[LAYOUT_CASELOG_KEY_LEN], uint64_t no,
                   uint64_t seq)
{
	bytes_put_be64(out, no);
	bytes_put_be64(out + LAYOUT_BE64_LEN, seq);
	return layout_val(out, LAYOUT_CASELOG_KEY_LEN);
}

/* The tree database's key of the complete subtree (level, index). */
static inline MDB_val
layout_tree_key(uint8_t out[LAYOUT_TREE_KEY_LEN], unsigned level,
                uint64_t index)
{
	out[0] = (uint8_t)level;
	bytes_put_be64(out + 1, index);
	return layout_val(out, LAYOUT_TREE_KEY_LEN);
}

/* A head value (meta "head", "access_head"). */
static inline MDB_val
layout_head_val(uint8_t out[LAYOUT_HEAD_LEN], uint64_t seq,
                const uint8_t hash[KETEN_HASH_LEN])
{
	bytes_put_be64(out, seq);
	memcpy(out + LAYOUT_BE64_LEN, hash, KETEN_HASH_LEN);
	return layout_val(out, LAYOUT_HEAD_LEN);
}

/*
 * The readers below return 0 with what they read, or -1 if the key or
 * value has not the shape (and then write nothing); what that means is
 * the caller's to say.
 */

/* A be64 key or value alone (LAYOUT_BE64_LEN). */
static inline int
layout_be64_parse(const MDB_val *kv, uint64_t *x)
{
	if (kv->mv_size != LAYOUT_BE64_LEN)
		return -1;
	*x = bytes_get_be64(kv->mv_data);
	return 0;
}

/* An inbox or caseidx key of agency: agency, NUL, be64. */
static inline int
layout_agency_parse(const MDB_val *k, const char *agency, uint64_t *x)
{
	size_t n = strlen(agency) + 1; /* with its NUL */

	if (k->mv_size != n + LAYOUT_BE64_LEN ||
	    memcmp(k->mv_data, agency, n) != 0)
		return -1;
	*x = bytes_get_be64((const uint8_t *)k->mv_data + n);
	return 0;
}

/* A caseidx key of any agency: its id (NUL-terminated) and case number. */
static inline int
layout_caseidx_parse(const MDB_val *k, char agency[KETEN_ID_MAX + 1],
                     uint64_t *no)
{
	const uint8_t *p = k->mv_data;
	size_t n;

	if (k->mv_size < 1 + LAYOUT_BE64_LEN ||
	    k->mv_size > LAYOUT_CASEIDX_KEY_MAX)
		return -1;
	n = k->mv_size - 1 - LAYOUT_BE64_LEN;
	if (p[n] != 0 || memchr(p, 0, n) != NULL)
		return -1;
	memcpy(agency, p, n + 1);
	*no = bytes_get_be64(p + n + 1);
	return 0;
}

static inline int
layout_caselog_parse(const MDB_val *k, uint64_t *no, uint64_t *seq)
{
	if (k->mv_size != LAYOUT_CASELOG_KEY_LEN)
		return -1;
	*no = bytes_get_be64(k->mv_data);
	*seq = bytes_get_be64((const uint8_t *)k->mv_data + LAYOUT_BE64_LEN);
	return 0;
}

/* A msgid value of either length: the seq it starts with. */
static inline int
layout_msgid_parse(const MDB_val *v, uint64_t *seq)
{
	if (v->mv_size != LAYOUT_MSGID_VAL_LEN &&
	    v->mv_size != LAYOUT_MSGID_VAL_LEN_OLD)
		return -1;
	*seq = bytes_get_be64(v->mv_data);
	return 0;
}

static inline int
layout_head_parse(const MDB_val *v, uint64_t *seq, uint8_t hash[KETEN_HASH_LEN])
{
	if (v->mv_size != LAYOUT_HEAD_LEN)
		return -1;
	*seq = bytes_get_be64(v->mv_data);
	memcpy(hash, (const uint8_t *)v->mv_data + LAYOUT_BE64_LEN,
	       KETEN_HASH_LEN);
	return 0;
}

/*
 * Schema 3, which this broker upgrades (store_upgrade.c) but never
 * writes, for the tests that make such a directory. The case databases
 * were keyed by case id where schema 4 has the case number, and there
 * was no caseno:
 *   cases:   case id -> state (case.c)
 *   caseidx: agency id, NUL, case id -> ""
 *   caselog: case id, be64 seq -> ""
 */
#define LAYOUT_V3_CASEIDX_KEY_MAX (KETEN_ID_MAX + 1 + KETEN_CASE_ID_LEN)
#define LAYOUT_V3_CASELOG_KEY_LEN (KETEN_CASE_ID_LEN + LAYOUT_BE64_LEN)

static inline MDB_val
layout_v3_cases_key(const uint8_t id[KETEN_CASE_ID_LEN])
{
	return layout_val(id, KETEN_CASE_ID_LEN);
}

/* In out (LAYOUT_V3_CASEIDX_KEY_MAX). */
static inline MDB_val
layout_v3_caseidx_key(uint8_t *out, const char *agency,
                      const uint8_t id[KETEN_CASE_ID_LEN])
{
	size_t n = strlen(agency) + 1; /* with its NUL */

	memcpy(out, agency, n);
	memcpy(out + n, id, KETEN_CASE_ID_LEN);
	return layout_val(out, n + KETEN_CASE_ID_LEN);
}

static inline MDB_val
layout_v3_caselog_key(uint8_t out[LAYOUT_V3_CASELOG_KEY_LEN],
                      const uint8_t id[KETEN_CASE_ID_LEN], uint64_t seq)
{
	memcpy(out, id, KETEN_CASE_ID_LEN);
	bytes_put_be64(out + KETEN_CASE_ID_LEN, seq);
	return layout_val(out, LAYOUT_V3_CASELOG_KEY_LEN);
}

#endif
