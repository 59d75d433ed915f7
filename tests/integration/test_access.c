/*
 * The access log (NEN 7513), against a real ketend: every read that
 * disclosed records or case state is accounted with who, what kind, which
 * records and when, before the reply arrives; reads that disclosed
 * nothing are not; the offline audit verifies the entries' hash chain and
 * names the first entry that was altered or removed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "../check.h"
#include "access.h"
#include "harness.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"

static struct harness H;

#define MAX_SEEN 64

struct seen {
	size_t n;
	struct keten_access a[MAX_SEEN];
};

static int
collect(void *arg, const struct keten_access *a)
{
	struct seen *s = arg;

	if (s->n < MAX_SEEN)
		s->a[s->n] = *a;
	s->n++;
	return 0;
}

static void
audit(struct seen *s, struct keten_audit *out, const char *dir, int want)
{
	struct keten_error err;

	memset(s, 0, sizeof(*s));
	CHECK_INT(keten_audit_access(out, H.config, dir, collect, s, &err),
	          want);
	if (want != KETEN_OK)
		printf("  refused as it should be: %s\n", err.message);
}

/* The last entry accounted must be this read. */
static void
check_last(const char *dir, const char *kind, const char *agency,
           uint64_t first, uint64_t last, uint32_t count)
{
	struct seen s;
	struct keten_audit out;
	const struct keten_access *a;

	audit(&s, &out, dir, KETEN_OK);
	CHECK(s.n > 0 && s.n <= MAX_SEEN);
	if (s.n == 0 || s.n > MAX_SEEN)
		return;
	a = &s.a[s.n - 1];
	CHECK_INT(a->seq, s.n);
	CHECK(strcmp(a->kind, kind) == 0);
	CHECK(strcmp(a->agency, agency) == 0);
	CHECK_INT(a->first_seq, first);
	CHECK_INT(a->last_seq, last);
	CHECK_INT(a->count, count);
	CHECK(a->at_us > 0);
}

static size_t
entries(void)
{
	struct seen s;
	struct keten_audit out;

	audit(&s, &out, H.data, KETEN_OK);
	return s.n;
}

/* Overwrites (del 1: removes) access entry seq in a copy; del 2 drops
 * the whole access database; del 3 removes entry seq (the last) and sets
 * the stored access head to the entry before it, as one would who wants
 * the removal to go unseen. */
static void
tamper(const char *dir, uint64_t seq, int del)
{
	struct lmdb_edit e;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t k[LAYOUT_SEQ_KEY_LEN], buf[256];
	MDB_val key = layout_seq_key(k, seq), val;

	lmdb_edit_begin(&e, dir, 0, 0, 0);
	txn = e.txn;
	dbi = lmdb_edit_db(&e, LAYOUT_DB_ACCESS);
	if (del == 2) {
		CHECK(mdb_drop(txn, dbi, 1) == 0);
	} else if (del == 3) {
		uint8_t head[LAYOUT_HEAD_LEN], pk[LAYOUT_SEQ_KEY_LEN], hash[32];
		MDB_val pkey = layout_seq_key(pk, seq - 1),
		        mk = LAYOUT_KEY(LAYOUT_META_ACCESS_HEAD), hv;
		CHECK(mdb_get(txn, dbi, &pkey, &val) == 0);
		access_hash(hash, val.mv_data, val.mv_size);
		hv = layout_head_val(head, seq - 1, hash);
		CHECK(mdb_del(txn, dbi, &key, NULL) == 0);
		CHECK(mdb_put(txn, lmdb_edit_db(&e, LAYOUT_DB_META), &mk, &hv,
		              0) == 0);
	} else if (del) {
		CHECK(mdb_del(txn, dbi, &key, NULL) == 0);
	} else {
		CHECK(mdb_get(txn, dbi, &key, &val) == 0);
		CHECK(val.mv_size <= sizeof(buf));
		memcpy(buf, val.mv_data, val.mv_size);
		buf[37] ^= 1; /* the count: claim more or fewer were read */
		val.mv_data = buf;
		CHECK(mdb_put(txn, dbi, &key, &val, 0) == 0);
	}
	lmdb_edit_commit(&e);
}

/* A store too full for more entries still serves reads; the broker's log
 * accounts for them instead (docs/PROTOCOL.md 21.2). */
static void
storage_full(void)
{
	struct keten_referral_content ct = harness_content("full");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_client *lt, *vt;
	struct keten_error err;
	int refused = 0, logged = 0, tries;

	harness_region(&H, harness_flevoland, harness_flevoland_n,
	               "  map_size_mb: 1\n  map_max_mb: 1\n");
	harness_start(&H);
	lt = harness_agency(&H, "lt-almere");
	vt = harness_agency(&H, "vt-flevoland");
	for (int i = 0; i < 2000 && !refused; i++) {
		struct keten_prepared *p;
		struct keten_receipt r;
		CHECK_INT(keten_prepare_referral(&p, lt, &ref, &err), KETEN_OK);
		refused = keten_submit(&r, lt, p, &err) == KETEN_E_STORAGE;
		keten_prepared_free(&p);
	}
	CHECK(refused);
	/* Distinct reads (one message each, from each position; then two)
	 * until one finds no room for its entry. */
	for (tries = 1; tries <= 4000 && !logged; tries++) {
		struct keten_inbox *in = NULL;
		uint64_t head = harness_head(&H, "lt-almere");
		keten_subscribe(vt, (uint64_t)(tries - 1) % head);
		CHECK_INT(keten_receive(&in, vt, 1 + (size_t)(tries - 1) / head,
		                        0, &err),
		          KETEN_OK);
		CHECK(in != NULL && in->n > 0);
		keten_inbox_free(&in);
		if (tries % 50 == 0)
			logged = harness_log_has(&H, "event=access_not_stored");
	}
	CHECK(logged);
	CHECK(harness_log_has(&H, "agency=vt-flevoland kind=fetch"));
	printf("storage full: reads still served; after %d distinct reads "
	       "one was accounted in the broker's log\n",
	       tries - 1);
	harness_drop_clients(&H);
	CHECK_INT(harness_stop(&H), 0);
	harness_cleanup(&H);
}

int
main(void)
{
	struct keten_referral_content ct = harness_content("access");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_client *lt, *vt, *au;
	struct keten_inbox *in = NULL;
	struct keten_receipt r1, r2;
	struct keten_prepared *p;
	struct keten_audit out;
	struct keten_error err;
	struct seen s;
	uint8_t case_id[KETEN_CASE_ID_LEN], mid[KETEN_MSG_ID_LEN];
	char copy[400], cmd[1400];
	size_t before;

	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	lt = harness_agency(&H, "lt-almere");
	vt = harness_agency(&H, "vt-flevoland");
	au = harness_agency(&H, "audit-inspectie");

	/* A fresh log has an empty access log. */
	audit(&s, &out, H.data, KETEN_OK);
	CHECK_INT(out.records, 0);

	CHECK_INT(keten_prepare_referral(&p, lt, &ref, &err), KETEN_OK);
	keten_prepared_ids(case_id, mid, p);
	CHECK_INT(keten_submit(&r1, lt, p, &err), KETEN_OK);
	keten_prepared_free(&p);
	CHECK_INT(keten_prepare_referral(&p, lt, &ref, &err), KETEN_OK);
	CHECK_INT(keten_submit(&r2, lt, p, &err), KETEN_OK);
	keten_prepared_free(&p);
	CHECK_INT(entries(), 0); /* submitting reads nothing */

	/* A fetch that delivers two: accounted to VT, records 1-2. */
	CHECK_INT(keten_fetch(&in, vt, 0, &err), KETEN_OK);
	CHECK_INT(in->n, 2);
	keten_inbox_free(&in);
	check_last(H.data, "fetch", "vt-flevoland", r1.seq, r2.seq, 2);
	/* The same read again at once (polling without acknowledging)
	 * disclosed nothing new: not accounted again within a minute. */
	before = entries();
	CHECK_INT(keten_fetch(&in, vt, 0, &err), KETEN_OK);
	CHECK_INT(in->n, 2);
	keten_inbox_free(&in);
	CHECK_INT(entries(), before);
	/* A subscription read delivering one. */
	keten_subscribe(vt, r1.seq);
	CHECK_INT(keten_receive(&in, vt, 0, 1000, &err), KETEN_OK);
	CHECK_INT(in->n, 1);
	keten_inbox_free(&in);
	check_last(H.data, "fetch", "vt-flevoland", r2.seq, r2.seq, 1);
	/* One that waited and got nothing discloses nothing: no entry. */
	before = entries();
	CHECK_INT(keten_receive(&in, vt, 0, 200, &err), KETEN_OK);
	CHECK_INT(in->n, 0);
	keten_inbox_free(&in);
	CHECK_INT(entries(), before);
	/* Nor does an inbox that is empty for another agency. */
	CHECK_INT(keten_fetch(&in, harness_agency(&H, "lt-lelystad"), 0, &err),
	          KETEN_OK);
	CHECK_INT(in->n, 0);
	keten_inbox_free(&in);
	CHECK_INT(entries(), before);

	/* A case read: the case and its record. */
	{
		struct keten_case_history *h = NULL;
		CHECK_INT(keten_case_history(&h, vt, case_id, &err), KETEN_OK);
		keten_case_history_free(&h);
		audit(&s, &out, H.data, KETEN_OK);
		CHECK(s.n > before && s.n <= MAX_SEEN);
		if (s.n > before && s.n <= MAX_SEEN) {
			const struct keten_access *a = &s.a[s.n - 1];
			CHECK(strcmp(a->kind, "case") == 0);
			CHECK(strcmp(a->agency, "vt-flevoland") == 0);
			CHECK(a->has_case);
			CHECK(memcmp(a->case_id, case_id, KETEN_CASE_ID_LEN) ==
			      0);
			CHECK_INT(a->first_seq, r1.seq);
			CHECK_INT(a->count, 1);
		}
	}
	/* The list of cases. */
	{
		struct keten_case *cs = NULL;
		size_t n = 0;
		CHECK_INT(keten_cases(&cs, &n, lt, 0, &err), KETEN_OK);
		CHECK_INT(n, 2);
		free(cs);
		check_last(H.data, "cases", "lt-almere", 0, 0, 2);
	}
	/* An auditor's replay, the whole log: the roster record(s) ketend
	 * wrote first and the two referrals, every record from 1 disclosed. */
	CHECK_INT(keten_audit_replay(&out, au, 0, NULL, NULL, NULL, &err),
	          KETEN_OK);
	check_last(H.data, "replay", "audit-inspectie", 1, r2.seq,
	           (uint32_t)r2.seq);

	/* The chain of entries: altered and removed entries are found. */
	audit(&s, &out, H.data, KETEN_OK);
	printf("access log: %" PRIu64 " entries, each accounted\n",
	       out.records);
	CHECK(out.records >= 5);
	snprintf(copy, sizeof(copy), "%s/copy", H.dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -r '%s' '%s'", copy,
	         H.data, copy);
	CHECK(system(cmd) == 0);
	tamper(copy, 2, 0);
	audit(&s, &out, copy, KETEN_E_CHAIN);
	CHECK_INT(out.bad_seq, 3); /* entry 3 no longer links to 2 */
	CHECK(system(cmd) == 0);
	tamper(copy, 3, 1);
	audit(&s, &out, copy, KETEN_E_CHAIN);
	CHECK_INT(out.bad_seq, 3);
	/* The last entry removed: the stored head says it existed. */
	CHECK(system(cmd) == 0);
	{
		struct seen all;
		struct keten_audit o2;
		audit(&all, &o2, H.data, KETEN_OK);
		tamper(copy, o2.records, 1);
		audit(&s, &out, copy, KETEN_E_CHAIN);
		CHECK_INT(out.bad_seq, o2.records);
		/* ... and with the stored head moved back too: the broker's
		 * signed checkpoint still counts it (PROTOCOL.md 21). */
		CHECK(o2.has_checkpoint);
		CHECK_INT(o2.checkpoint.access_size, o2.records);
		CHECK(system(cmd) == 0);
		tamper(copy, o2.records, 3);
		audit(&s, &out, copy, KETEN_E_CHAIN);
		CHECK_INT(out.bad_seq, o2.records);
	}

	/* The access database removed, its head left: not an empty log. */
	CHECK(system(cmd) == 0);
	tamper(copy, 0, 2);
	audit(&s, &out, copy, KETEN_E_CHAIN);

	/* The CLI prints the same entries. */
	snprintf(cmd, sizeof(cmd),
	         "'%s' audit access -c '%s' --jsonl '%s' | jq -s length",
	         harness_cli(), H.config, H.data);
	{
		FILE *f = popen(cmd, "r");
		char line[64] = "";
		CHECK(f != NULL);
		if (f && fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		if (f)
			pclose(f);
		audit(&s, &out, H.data, KETEN_OK);
		CHECK_INT(strtoull(line, NULL, 10), out.records);
	}
	harness_drop_clients(&H);
	CHECK_INT(harness_stop(&H), 0);
	harness_cleanup(&H);
	storage_full();
	return check_done("test_access");
}
