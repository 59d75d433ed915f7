/*
 * keten audit verify against a real broker's data: it verifies while the
 * broker runs, and on copies of the LMDB file it catches an altered byte
 * (in the file itself and through LMDB), a removed record, a swapped pair
 * and a truncated end, naming the first bad sequence number each time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "../check.h"
#include "chain.h"
#include "harness.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"

#define RECORDS 8
/* The log's seq of referral i (1..RECORDS): they follow the roster
 * record(s) the broker wrote at its start. */
#define SEQ(i) (first + (i)-1)
#define LAST   SEQ(RECORDS)

static struct harness h;
static uint64_t first; /* harness_first_seq after the start */

static void
copy_dir(const char *to)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd),
	         "rm -rf '%s' && mkdir -p '%s' && cp '%s/data.mdb' '%s/'", to,
	         to, h.data, to);
	if (system(cmd) != 0)
		exit(99);
}

static uint64_t
audit(const char *dir, int *rc_out)
{
	struct keten_audit a;
	struct keten_error err;
	int rc = keten_audit_verify(&a, h.config, dir, &err);

	*rc_out = rc;
	if (rc != KETEN_OK)
		printf("  audit of %s: %s\n", strrchr(dir, '/') + 1,
		       err.message);
	return rc == KETEN_OK ? 0 : a.bad_seq;
}

static void
be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Runs fn on the copy's log inside a write transaction. */
static void
tamper(const char *dir, void (*fn)(MDB_txn *, MDB_dbi))
{
	struct lmdb_edit e;

	lmdb_edit_begin(&e, dir, 0, 0, 0);
	fn(e.txn, lmdb_edit_db(&e, LAYOUT_DB_LOG));
	lmdb_edit_commit(&e);
}

static uint8_t saved[2][4096];
static size_t saved_len[2];

static void
get_rec(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, int slot)
{
	uint8_t k[LAYOUT_SEQ_KEY_LEN];
	MDB_val key = layout_seq_key(k, seq), val;

	if (mdb_get(txn, dbi, &key, &val) || val.mv_size > sizeof(saved[0]))
		exit(99);
	memcpy(saved[slot], val.mv_data, val.mv_size);
	saved_len[slot] = val.mv_size;
}

static void
put_rec(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, int slot)
{
	uint8_t k[LAYOUT_SEQ_KEY_LEN];
	MDB_val key = layout_seq_key(k, seq),
	        val = layout_val(saved[slot], saved_len[slot]);

	if (mdb_put(txn, dbi, &key, &val, 0))
		exit(99);
}

static void
del_rec(MDB_txn *txn, MDB_dbi dbi, uint64_t seq)
{
	uint8_t k[LAYOUT_SEQ_KEY_LEN];
	MDB_val key = layout_seq_key(k, seq);

	if (mdb_del(txn, dbi, &key, NULL))
		exit(99);
}

static void
remove3(MDB_txn *t, MDB_dbi d)
{
	del_rec(t, d, SEQ(3));
}
static void
removelast(MDB_txn *t, MDB_dbi d)
{
	del_rec(t, d, LAST);
}
static void
swap45(MDB_txn *t, MDB_dbi d)
{
	get_rec(t, d, SEQ(4), 0);
	get_rec(t, d, SEQ(5), 1);
	put_rec(t, d, SEQ(4), 1);
	put_rec(t, d, SEQ(5), 0);
}
/* Flips the last byte of record seq's received_at_us. */
static void
retime(MDB_txn *t, MDB_dbi d, uint64_t seq)
{
	get_rec(t, d, seq, 0);
	saved[0][47] ^= 0x01;
	put_rec(t, d, seq, 0);
}
static void
time6(MDB_txn *t, MDB_dbi d)
{
	retime(t, d, SEQ(6));
}
static void
timelast(MDB_txn *t, MDB_dbi d)
{
	retime(t, d, LAST);
}
/* The roster record the start wrote, record 1, is in the chain like any
 * other: altering it is caught there. */
static void
timeroster(MDB_txn *t, MDB_dbi d)
{
	retime(t, d, 1);
}
static void
save2(MDB_txn *t, MDB_dbi d)
{
	get_rec(t, d, SEQ(2), 0);
}

/* A forged record: referral 2's signed message again, linked after the
 * last record and made the head. Every hash and signature checks; only
 * the rule that a message is recorded once catches it. */
static void
repeat2(MDB_txn *t, MDB_dbi d)
{
	uint8_t k[LAYOUT_SEQ_KEY_LEN], head[LAYOUT_HEAD_LEN], hash[32];
	MDB_val key = layout_seq_key(k, LAST + 1), val,
	        hk = LAYOUT_KEY(LAYOUT_META_HEAD), hv;
	MDB_dbi meta;

	get_rec(t, d, SEQ(2), 0);
	get_rec(t, d, LAST, 1);
	be64(saved[0], LAST + 1);
	chain_record_hash(saved[0] + 8, saved[1], saved_len[1]);
	memcpy(saved[0] + 40, saved[1] + 40, 8); /* the last record's time */
	val = layout_val(saved[0], saved_len[0]);
	if (mdb_put(t, d, &key, &val, 0) ||
	    mdb_dbi_open(t, LAYOUT_DB_META, 0, &meta))
		exit(99);
	chain_record_hash(hash, saved[0], saved_len[0]);
	hv = layout_head_val(head, LAST + 1, hash);
	if (mdb_put(t, meta, &hk, &hv, 0))
		exit(99);
}

/* Offsets in data.mdb where referral 2's signature appears: the live
 * record, and stale copies in pages LMDB has freed (copy-on-write). */
static size_t
find_sig(const char *dir, long *offs, size_t max)
{
	char path[1024];
	FILE *f;
	long n;
	uint8_t *buf;
	const uint8_t *sig;
	size_t found = 0;

	tamper(dir, save2); /* reads record 2; changes nothing */
	sig = saved[0] + saved_len[0] - 64; /* the envelope ends with it */
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if ((f = fopen(path, "rb")) == NULL)
		exit(99);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	buf = malloc((size_t)n);
	fseek(f, 0, SEEK_SET);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(99);
	for (long i = 0; i + 64 <= n && found < max; i++)
		if (memcmp(buf + i, sig, 64) == 0)
			offs[found++] = i + 32;
	fclose(f);
	free(buf);
	return found;
}

static void
flip_at(const char *dir, long off)
{
	char path[1024];
	FILE *f;
	int ch;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if ((f = fopen(path, "r+b")) == NULL)
		exit(99);
	fseek(f, off, SEEK_SET);
	ch = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(ch ^ 0x40, f);
	fclose(f);
}

/* Each copy of the signature flipped alone: the live one is caught at
 * referral 2's record; a stale one changes nothing the audit reads. */
static void
flip_bytes_in_file(const char *dir)
{
	long offs[32];
	size_t n, caught = 0;
	int r;

	copy_dir(dir);
	n = find_sig(dir, offs, 32);
	CHECK(n >= 1);
	for (size_t i = 0; i < n; i++) {
		uint64_t bad;
		copy_dir(dir);
		flip_at(dir, offs[i]);
		bad = audit(dir, &r);
		CHECK(r == KETEN_OK || (r == KETEN_E_CHAIN && bad == SEQ(2)));
		caught += r == KETEN_E_CHAIN;
	}
	CHECK_INT(caught, 1);
}

int
main(void)
{
	struct keten_client *c;
	struct keten_referral_content ct = harness_content("audit");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt rc;
	struct keten_audit a;
	struct keten_error err;
	char dir[600];
	int r;

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	first = harness_first_seq(&h);
	/* A broker that has recorded only its roster audits clean. */
	CHECK(first >= 2);
	CHECK_INT(keten_audit_verify(&a, h.config, h.data, &err), KETEN_OK);
	CHECK_INT(a.records, first - 1);
	c = harness_client(&h, "lt-almere");
	for (int i = 0; i < RECORDS; i++)
		CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err),
		          KETEN_OK);
	keten_client_destroy(&c);

	/* While the broker runs: read-only, and it verifies. */
	CHECK_INT(keten_audit_verify(&a, h.config, h.data, &err), KETEN_OK);
	CHECK_INT(a.records, LAST);
	CHECK_INT(rc.seq, LAST);
	CHECK(memcmp(a.head_hash, rc.record_hash, 32) == 0);
	/* The audit held the log to the broker's latest checkpoint. */
	CHECK(a.has_checkpoint);
	CHECK_INT(a.checkpoint.size, LAST);
	CHECK(memcmp(a.checkpoint.head_hash, rc.record_hash, 32) == 0);
	CHECK(memcmp(a.checkpoint.root, rc.proof.checkpoint.root, 32) == 0);
	CHECK_INT(harness_stop(&h), 0);

	snprintf(dir, sizeof(dir), "%s/copy", h.dir);
	copy_dir(dir);
	CHECK_INT(audit(dir, &r), 0);
	CHECK_INT(r, KETEN_OK);

	flip_bytes_in_file(dir);

	copy_dir(dir);
	tamper(dir, time6);
	CHECK_INT(audit(dir, &r), SEQ(6));

	copy_dir(dir);
	tamper(dir, timeroster);
	CHECK_INT(audit(dir, &r), 1);

	copy_dir(dir);
	tamper(dir, remove3);
	CHECK_INT(audit(dir, &r), SEQ(3));

	copy_dir(dir);
	tamper(dir, swap45);
	CHECK_INT(audit(dir, &r), SEQ(4));

	copy_dir(dir);
	tamper(dir, removelast);
	CHECK_INT(audit(dir, &r), LAST);
	CHECK_INT(r, KETEN_E_CHAIN);

	copy_dir(dir);
	tamper(dir, timelast);
	CHECK_INT(audit(dir, &r), LAST);

	copy_dir(dir);
	tamper(dir, repeat2);
	CHECK_INT(keten_audit_verify(&a, h.config, dir, &err), KETEN_E_CHAIN);
	CHECK_INT(a.bad_seq, LAST + 1);
	{
		char want[80];
		snprintf(want, sizeof(want),
		         "repeats the message already recorded as record %llu",
		         (unsigned long long)SEQ(2));
		CHECK_STR_HAS(err.message, want);
	}

	/* The wrong region's config is refused outright. */
	copy_dir(dir);
	{
		char cfg[700], cmd[1600];
		snprintf(cfg, sizeof(cfg), "%s/other.yaml", h.dir);
		snprintf(cmd, sizeof(cmd),
		         "sed 's/^region: testregion/region: otherregion/' "
		         "'%s' > '%s'",
		         h.config, cfg);
		CHECK_INT(system(cmd), 0);
		CHECK_INT(keten_audit_verify(&a, cfg, dir, &err),
		          KETEN_E_CHAIN);
	}
	/* Not a data directory at all. */
	CHECK_INT(keten_audit_verify(&a, h.config, h.dir, &err), KETEN_E_IO);
	CHECK_STR_HAS(err.message, "not a keten data directory");

	harness_cleanup(&h);
	return check_done("test_audit");
}
