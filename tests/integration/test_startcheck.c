/*
 * ketend's start-up verification against a real broker: a swapped, a
 * deleted and a changed middle record each keep it from starting, naming
 * the record, and make `keten audit verify` exit 1; damage to each derived
 * database is rebuilt or refused with a sentence; a damaged page gives a
 * sentence, not a signal. Edits LMDB only while ketend is stopped.
 */
#define _GNU_SOURCE /* memmem */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "../check.h"
#include "harness.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"

enum { N = 12, MID = 6 };

static struct harness H;
/* The seqs of the N messages, after the start's roster record: MID is
 * one in the middle. */
static uint64_t first, last;
static char backup[400], live[400];

/* The undamaged directory back, and an empty ketend log. */
static void
restore(void)
{
	harness_copy_file(backup, live);
	CHECK(truncate(H.log, 0) == 0);
}

/* `keten audit verify`'s exit status and output. */
static int
audit(char *out, size_t cap)
{
	return harness_audit_verify(&H, out, cap);
}

/* A refusal by both: ketend exits 1 and audit verify 1, each naming what. */
static void
both_refuse(const char *ketend_says, const char *audit_says)
{
	char out[4096];

	CHECK_INT(harness_start_refused(&H), 1);
	CHECK(harness_log_has(&H, ketend_says));
	CHECK_INT(audit(out, sizeof(out)), 1);
	CHECK_STR_HAS(out, audit_says);
}

/* A started broker that serves every record, then stops cleanly. */
static void
serves(void)
{
	char out[4096];

	harness_start(&H);
	CHECK_INT(harness_head(&H, "lt-almere"), last);
	harness_drop_clients(&H);
	CHECK_INT(harness_stop(&H), 0);
	CHECK_INT(audit(out, sizeof(out)), 0);
}

static void
chain_damage(void)
{
	struct lmdb_edit e;
	MDB_dbi log;
	uint8_t k5[8], k6[8], a[8192], b[8192];
	MDB_val k, v, w;
	size_t na = 0, nb = 0;

	/* Records 6 and 7 swapped. */
	restore();
	lmdb_edit_begin(&e, H.data, 0, 0, 0);
	log = lmdb_edit_db(&e, LAYOUT_DB_LOG);
	k = layout_seq_key(k5, MID);
	if (mdb_get(e.txn, log, &k, &v) == 0 && v.mv_size <= sizeof(a))
		memcpy(a, v.mv_data, na = v.mv_size);
	k = layout_seq_key(k6, MID + 1);
	if (mdb_get(e.txn, log, &k, &w) == 0 && w.mv_size <= sizeof(b))
		memcpy(b, w.mv_data, nb = w.mv_size);
	CHECK(na > 0 && nb > 0);
	k = layout_seq_key(k5, MID);
	v = layout_val(b, nb);
	CHECK_INT(mdb_put(e.txn, log, &k, &v, 0), 0);
	k = layout_seq_key(k6, MID + 1);
	v = layout_val(a, na);
	CHECK_INT(mdb_put(e.txn, log, &k, &v, 0), 0);
	lmdb_edit_commit(&e);
	both_refuse("record 6: stored under the wrong sequence number",
	            "FAILED at record 6: record 6: stored under the wrong "
	            "sequence number");

	/* Record 6 deleted. */
	restore();
	lmdb_edit_begin(&e, H.data, 0, 0, 0);
	k = layout_seq_key(k5, MID);
	CHECK_INT(mdb_del(e.txn, lmdb_edit_db(&e, LAYOUT_DB_LOG), &k, NULL), 0);
	lmdb_edit_commit(&e);
	both_refuse("record 6: missing", "FAILED at record 6: record 6: "
	                                 "missing");

	/* One byte of record 6's envelope changed. */
	restore();
	lmdb_edit_begin(&e, H.data, 0, 0, 0);
	log = lmdb_edit_db(&e, LAYOUT_DB_LOG);
	k = layout_seq_key(k5, MID);
	na = 0;
	if (mdb_get(e.txn, log, &k, &v) == 0 && v.mv_size <= sizeof(a))
		memcpy(a, v.mv_data, na = v.mv_size);
	CHECK(na > 100);
	a[na - 10] ^= 0x01;
	v = layout_val(a, na);
	CHECK_INT(mdb_put(e.txn, log, &k, &v, 0), 0);
	lmdb_edit_commit(&e);
	both_refuse("cannot serve data directory", "FAILED at record 6:");
	CHECK(harness_log_has(&H, "record 6: the envelope signature does not "
	                          "verify"));
}

/* Damage to one derived database: the first entry of db deleted. */
static void
delete_first(const char *db)
{
	struct lmdb_edit e;
	MDB_cursor *cur;
	MDB_val k, v;

	restore();
	lmdb_edit_begin(&e, H.data, 0, 0, 0);
	CHECK_INT(mdb_cursor_open(e.txn, lmdb_edit_db(&e, db), &cur), 0);
	CHECK_INT(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	CHECK_INT(mdb_cursor_del(cur, 0), 0);
	mdb_cursor_close(cur);
	lmdb_edit_commit(&e);
}

/* Every derived database but content is rebuilt from the log at start,
 * and the next start finds nothing to mend. */
static void
derived_rebuilt(void)
{
	static const char *const dbs[] = {LAYOUT_DB_MSGID,   LAYOUT_DB_INBOX,
	                                  LAYOUT_DB_TREE,    LAYOUT_DB_CASENO,
	                                  LAYOUT_DB_CASEIDX, LAYOUT_DB_CASELOG,
	                                  LAYOUT_DB_CASES};

	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		char said[80];
		snprintf(said, sizeof(said), "action=rebuild db=%s", dbs[i]);
		if (i < 3)
			snprintf(said, sizeof(said), "db=%s action=rebuild",
			         dbs[i]);
		delete_first(dbs[i]);
		serves();
		CHECK(harness_log_has(&H, said));
		CHECK(truncate(H.log, 0) == 0);
		serves();
		CHECK(!harness_log_has(&H, "damaged"));
	}
}

/* Sealed content exists only in its database: damage there is refused,
 * naming the record, and the audit (which does not read content) passes. */
static void
content_refused(void)
{
	struct lmdb_edit e;
	MDB_dbi content;
	uint8_t key[8], *buf;
	MDB_val k, v;
	char out[4096], said[80];

	restore();
	lmdb_edit_begin(&e, H.data, 0, 0, 0);
	content = lmdb_edit_db(&e, LAYOUT_DB_CONTENT);
	k = layout_seq_key(key, MID);
	CHECK_INT(mdb_get(e.txn, content, &k, &v), 0);
	buf = malloc(v.mv_size);
	memcpy(buf, v.mv_data, v.mv_size);
	buf[v.mv_size / 2] ^= 0x80;
	v = layout_val(buf, v.mv_size);
	CHECK_INT(mdb_put(e.txn, content, &k, &v, 0), 0);
	lmdb_edit_commit(&e);
	free(buf);
	CHECK_INT(harness_start_refused(&H), 1);
	CHECK(harness_log_has(&H, "the content database disagrees with the "
	                          "log: the sealed content does not match the "
	                          "content_hash its sender signed for record "
	                          "6"));
	CHECK_INT(audit(out, sizeof(out)), 0);

	/* Its first entry is the first message's: the roster record has no
	 * content. */
	delete_first(LAYOUT_DB_CONTENT);
	CHECK_INT(harness_start_refused(&H), 1);
	snprintf(said, sizeof(said),
	         "the sealed content is missing for record %llu",
	         (unsigned long long)first);
	CHECK(harness_log_has(&H, said));
}

/* A node in a leaf page of db made to claim 2 GiB of data: whoever reads
 * it runs off the map. Both refuse with the sentence, not a signal. */
static void
structural(const char *db, uint64_t seq)
{
	struct lmdb_edit e;
	struct stat st;
	uint8_t key[8], *file = NULL, *val = NULL, *hit = NULL;
	MDB_val k, v;
	size_t len = 0;
	int fd;
	const uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f}; /* mn_lo, mn_hi */
	char said[160];

	restore();
	lmdb_edit_begin(&e, H.data, LMDB_EDIT_READ_ONLY, 0, 0);
	k = layout_seq_key(key, seq);
	CHECK_INT(mdb_get(e.txn, lmdb_edit_db(&e, db), &k, &v), 0);
	if ((val = malloc(v.mv_size)) != NULL)
		memcpy(val, v.mv_data, len = v.mv_size);
	lmdb_edit_abort(&e);
	/* The node in the file: 8 bytes of header (mn_lo, mn_hi, flags,
	 * key size), the key, then the value, which is unique. */
	CHECK((fd = open(live, O_RDWR)) >= 0 && fstat(fd, &st) == 0);
	file = malloc((size_t)st.st_size);
	CHECK(file != NULL && val != NULL &&
	      read(fd, file, (size_t)st.st_size) == st.st_size);
	/* Copy-on-write leaves stale copies of the page in free pages:
	 * damage every copy, so the live one is among them. */
	for (size_t at = 0, n = 0; file != NULL && val != NULL; n++) {
		uint8_t *p =
		    memmem(file + at, (size_t)st.st_size - at, val, len);
		if (p == NULL) {
			CHECK(n > 0);
			break;
		}
		at = (size_t)(p - file) + len;
		if (p - file <= 16 ||
		    memcmp(p - sizeof(key), key, sizeof(key)) != 0 ||
		    p[-sizeof(key) - 2] != sizeof(key))
			continue;
		hit = p;
		CHECK(pwrite(fd, huge, sizeof(huge),
		             p - sizeof(key) - 8 - file) ==
		      (ssize_t)sizeof(huge));
	}
	CHECK(hit != NULL);
	close(fd);
	free(file);
	free(val);
	snprintf(said, sizeof(said),
	         "data.mdb is structurally damaged in database %s; restore "
	         "from a backup",
	         db);
	both_refuse(said, said);
}

int
main(void)
{
	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	snprintf(live, sizeof(live), "%s/data.mdb", H.data);
	snprintf(backup, sizeof(backup), "%s/backup.mdb", H.dir);
	harness_start(&H);
	first = harness_first_seq(&H);
	last = first - 1 + N;
	CHECK(first < MID && MID < last);
	harness_fill(&H, N, "startcheck");
	harness_drop_clients(&H);
	CHECK_INT(harness_stop(&H), 0);
	harness_copy_file(live, backup);

	restore();
	serves(); /* undamaged: it starts */
	{
		char said[64];
		snprintf(said, sizeof(said),
		         "event=start_verified records=%llu",
		         (unsigned long long)last);
		CHECK(harness_log_has(&H, said));
	}
	chain_damage();
	derived_rebuilt();
	content_refused();
	structural(LAYOUT_DB_LOG, MID);
	structural(LAYOUT_DB_CASES, MID);
	harness_cleanup(&H);
	return check_done("test_startcheck");
}
