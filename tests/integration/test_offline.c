/*
 * Offline checks against an outside anchor (issue 15, point 4): a saved
 * checkpoint catches the ten-record cut and a relinked change that the
 * plain audit cannot see, and a record's .tlog-proof checks with the
 * region config alone, refusing each altered part with its sentence.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "../check.h"
#include "chain.h"
#include "harness.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"
#include "note.h"

#define FIRST   16 /* records when the first checkpoint is saved */
#define RECORDS 20
#define CUT     10

static struct harness h;
/* The roster records ketend wrote before the first message: message i
 * is record base + i. Counts below (FIRST, RECORDS, CUT) are messages. */
static uint64_t base;
static struct keten_receipt receipts[RECORDS + 1]; /* by message number */
static char out[1 << 16];

/* fmt formatted, with unsigned long long arguments, in one of four
 * static buffers (so a few may be used in one expression). */
static const char *
say(const char *fmt, ...)
{
	static char buf[4][512];
	static unsigned next;
	char *b = buf[next++ % 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(buf[0]), fmt, ap);
	va_end(ap);
	return b;
}

/* Record number of message i, for say's %llu. */
static unsigned long long
rec(uint64_t i)
{
	return (unsigned long long)(base + i);
}

/* Runs a shell command; its stdout and stderr in out, its exit status. */
static int
run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	FILE *p;
	size_t n;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	if ((p = popen(cmd, "r")) == NULL)
		exit(99);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	printf("  $ %s\n%s", cmd, out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

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

static void
send_n(int from, int to)
{
	struct keten_client *c = harness_client(&h, "lt-almere");
	struct keten_referral_content ct = harness_content("offline");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt rc;
	struct keten_error err;

	for (int i = from; i <= to; i++) {
		CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err),
		          KETEN_OK);
		CHECK_INT(rc.seq, base + (uint64_t)i);
		receipts[i] = rc;
	}
	keten_client_destroy(&c);
}

static void
del_seq(MDB_txn *t, MDB_dbi d, uint64_t seq)
{
	uint8_t k[LAYOUT_SEQ_KEY_LEN];
	MDB_val key = layout_seq_key(k, seq);

	if (mdb_del(t, d, &key, NULL) != 0)
		exit(99);
}

/* Sets meta head to (seq, hash) and deletes the stored checkpoint. */
static void
head_no_checkpoint(struct lmdb_edit *e, uint64_t seq, const uint8_t hash[32])
{
	MDB_dbi meta = lmdb_edit_db(e, LAYOUT_DB_META);
	uint8_t head[LAYOUT_HEAD_LEN];
	MDB_val hk = LAYOUT_KEY(LAYOUT_META_HEAD),
	        hv = layout_head_val(head, seq, hash),
	        ck = LAYOUT_KEY(LAYOUT_META_CHECKPOINT);

	if (mdb_put(e->txn, meta, &hk, &hv, 0) != 0 ||
	    mdb_del(e->txn, meta, &ck, NULL) != 0)
		exit(99);
}

/* The attack: the records of the last cut of n messages gone
 * from log and content, the head set back to the record before them, the
 * checkpoint deleted. */
static void
cut_end(const char *dir, uint64_t n, uint64_t cut)
{
	struct lmdb_edit e;
	MDB_dbi log, content;

	lmdb_edit_begin(&e, dir, 0, 0, 0);
	log = lmdb_edit_db(&e, LAYOUT_DB_LOG);
	content = lmdb_edit_db(&e, LAYOUT_DB_CONTENT);
	for (uint64_t s = base + n - cut + 1; s <= base + n; s++) {
		del_seq(e.txn, log, s);
		del_seq(e.txn, content, s);
	}
	head_no_checkpoint(&e, base + n - cut, receipts[n - cut].record_hash);
	lmdb_edit_commit(&e);
}

/* Message 6's received time changed, every later record relinked to the
 * new hashes, the head moved along and the checkpoint deleted: a log
 * that is whole in itself, but not the one the broker signed. */
static void
change_relink(const char *dir)
{
	struct lmdb_edit e;
	MDB_dbi log;
	uint8_t buf[8192], k[LAYOUT_SEQ_KEY_LEN], prev[32];

	lmdb_edit_begin(&e, dir, 0, 0, 0);
	log = lmdb_edit_db(&e, LAYOUT_DB_LOG);
	for (uint64_t s = base + 6; s <= base + RECORDS; s++) {
		MDB_val key = layout_seq_key(k, s), val;
		if (mdb_get(e.txn, log, &key, &val) != 0 ||
		    val.mv_size > sizeof(buf))
			exit(99);
		memcpy(buf, val.mv_data, val.mv_size);
		if (s == base + 6)
			buf[47] ^= 0x01; /* the last byte of received_at_us */
		else
			memcpy(buf + 8, prev, 32);
		chain_record_hash(prev, buf, val.mv_size);
		val = layout_val(buf, val.mv_size);
		if (mdb_put(e.txn, log, &key, &val, 0) != 0)
			exit(99);
	}
	head_no_checkpoint(&e, base + RECORDS, prev);
	lmdb_edit_commit(&e);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);

	if (f == NULL || buf == NULL)
		exit(99);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* The bundle b with its line starting with prefix (after the first
 * line) changed at column col: a base64 character one step along. */
static char *
alter_line(const char *b, size_t len, const char *prefix, size_t col)
{
	char *c = malloc(len + 1), *l;

	memcpy(c, b, len);
	c[len] = '\0';
	l = strstr(c, prefix);
	CHECK(l != NULL);
	l += strlen(prefix) + col;
	*l = *l == 'A' ? 'B' : 'A';
	return c;
}

static int
check_bundle(const char *b, size_t len, struct keten_error *err)
{
	struct keten_proven p;

	return keten_proof_bundle_check(&p, h.config, b, len, err);
}

/* A bundle whose checkpoint is re-signed: by another key under the
 * broker's name (another key ID), or with a flipped signature bit. */
static char *
resign(const char *b, size_t len, size_t *out_len, bool other_key)
{
	struct note_proof p;
	struct note_key k;
	struct keten_checkpoint cp;
	struct keten_error err;
	uint8_t *extra, pk[32], sk[64];
	char note[NOTE_MAX], *res;

	CHECK_INT(note_proof_parse(&p, &extra, b, len, &err), KETEN_OK);
	crypto_sign_keypair(pk, sk);
	CHECK_INT(note_key_init(&k, "keten/testregion", NOTE_ED25519, pk), 0);
	/* the broker key's ID is needed only to parse the real note */
	{
		struct note n;
		CHECK_INT(note_split(&n, p.note, p.note_len, &err), KETEN_OK);
		struct note_key bk = k;
		memcpy(bk.id, n.sigs[0].id, NOTE_KEY_ID);
		CHECK_INT(
		    note_checkpoint_parse(&cp, p.note, p.note_len, &bk, &err),
		    KETEN_OK);
		if (!other_key)
			k = bk;
	}
	if (other_key)
		note_checkpoint_sign(&cp, k.name, sk);
	else
		cp.signature[7] ^= 0x10;
	p.note = note;
	p.note_len = note_checkpoint_format(note, sizeof(note), &k, &cp);
	CHECK(p.note_len > 0);
	CHECK_INT(note_proof_format(&res, out_len, &p), KETEN_OK);
	free(extra);
	return res;
}

#define W1 "lt-almere.example/witness"
#define W2 "inspectie.example/witness"

/* Flips a character of witness name's cosignature in dir's witness
 * database (the base64 just before the entry's final newline). */
static void
forge_cosig(const char *dir, const char *name)
{
	struct lmdb_edit e;
	MDB_dbi db;
	MDB_val k = layout_val(name, strlen(name)), v;
	char buf[NOTE_MAX];

	lmdb_edit_begin(&e, dir, 0, 0, 0);
	db = lmdb_edit_db(&e, LAYOUT_DB_WITNESS);
	CHECK(mdb_get(e.txn, db, &k, &v) == 0 && v.mv_size < sizeof(buf));
	memcpy(buf, v.mv_data, v.mv_size);
	buf[v.mv_size - 3] = buf[v.mv_size - 3] == 'A' ? 'B' : 'A';
	v = layout_val(buf, v.mv_size);
	CHECK(mdb_put(e.txn, db, &k, &v, 0) == 0);
	lmdb_edit_commit(&e);
}

/* A region with witnesses W1 and W2 (keys k1, k2), quorum 2, its broker
 * started. */
static void
witness_region(char k1[512], char k2[512])
{
	FILE *f;

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	snprintf(k1, 512, "%s/w1.key", h.dir);
	snprintf(k2, 512, "%s/w2.key", h.dir);
	CHECK((f = fopen(h.config, "a")) != NULL);
	fputs("witness_quorum: 2\nwitnesses:\n", f);
	fclose(f);
	CHECK_INT(run("%s keygen --witness %s --out %s >>%s && "
	              "%s keygen --witness %s --out %s >>%s",
	              harness_cli(), W1, k1, h.config, harness_cli(), W2, k2,
	              h.config),
	          0);
	harness_start(&h);
	base = harness_first_seq(&h) - 1;
}

/* Where keten audit proof writes: a symbolic link at --out is replaced
 * by the bundle, its target untouched; a path it cannot write is exit 2
 * (KETEN_E_IO, the CLI's code for files) and leaves nothing behind. And
 * check-proof on a pipe, and on a file or pipe too large to be a bundle. */
static void
proof_output(const char *bundle, size_t len)
{
	char target[512], link[512], bad[512], *b;
	size_t n;
	struct stat st;
	FILE *f;

	snprintf(target, sizeof(target), "%s/target", h.dir);
	snprintf(link, sizeof(link), "%s/link.tlog-proof", h.dir);
	snprintf(bad, sizeof(bad), "%s/no-such-dir/r3.tlog-proof", h.dir);
	if ((f = fopen(target, "w")) == NULL)
		exit(99);
	fputs("keep\n", f);
	fclose(f);
	unlink(link);
	CHECK_INT(symlink(target, link), 0);
	CHECK_INT(run("%s audit proof --config %s --seq %llu --out %s %s",
	              harness_cli(), h.config, rec(3), link, h.data),
	          0);
	CHECK(lstat(link, &st) == 0 && S_ISREG(st.st_mode));
	b = read_file(target, &n);
	CHECK(n == 5 && memcmp(b, "keep\n", 5) == 0);
	free(b);
	b = read_file(link, &n);
	CHECK(n == len && memcmp(b, bundle, len) == 0);
	free(b);

	CHECK_INT(run("%s audit proof --config %s --seq %llu --out %s %s",
	              harness_cli(), h.config, rec(3), bad, h.data),
	          2);
	CHECK_STR_HAS(out, bad);
	CHECK_STR_HAS(out, "(input/output error, code ");
	CHECK(lstat(bad, &st) != 0);

	/* A pipe has no size to trust: it is read to its end. */
	CHECK_INT(run("cat %s | %s audit check-proof --config %s /dev/stdin",
	              link, harness_cli(), h.config),
	          0);
	CHECK_STR_HAS(out, "cosigned by " W1 ", " W2 "\n");
	CHECK_INT(run("head -c 67108865 /dev/zero | %s audit check-proof "
	              "--config %s /dev/stdin",
	              harness_cli(), h.config),
	          1);
	CHECK_STR_HAS(out, "does not prove a record: it has more than the "
	                   "67108864 bytes a proof bundle may have");

	/* A file larger than any bundle fails as such, read or not. */
	CHECK_INT(run("truncate -s 67108865 %s && %s audit check-proof "
	              "--config %s %s",
	              target, harness_cli(), h.config, target),
	          1);
	CHECK_STR_HAS(out, "does not prove a record: it has 67108865 bytes, "
	                   "more than the 67108864 a proof bundle may have");
	unlink(target);
}

/* Issue 15, point 3: the witnesses' cosignatures in the audit and in a
 * record's proof bundle, a forged or outrun one failing the audit, and
 * only an outrun one stopping the broker. */
static void
witnessed(void)
{
	struct keten_witness_round wr;
	struct keten_proven p;
	struct keten_error err;
	struct keten_client *c;
	char k1[512], k2[512], dir[512], proof[512], cmd[1200], *b;
	uint64_t head = 0;
	size_t len;

	witness_region(k1, k2);
	send_n(1, 5);
	CHECK_INT(run("%s audit verify --config %s %s", harness_cli(), h.config,
	              h.data),
	          0);
	CHECK_STR_HAS(out, "quorum: not reached: 0 of 2 witnesses cosigned, "
	                   "2 needed");
	CHECK_STR_HAS(out, "newest cosigned checkpoint held: none");

	CHECK_INT(keten_witness_cosign(&wr, h.config, k1, NULL, &err),
	          KETEN_OK);
	send_n(6, 8);
	CHECK_INT(keten_witness_cosign(&wr, h.config, k2, NULL, &err),
	          KETEN_OK);
	CHECK_INT(run("%s audit verify --config %s %s", harness_cli(), h.config,
	              h.data),
	          0);
	CHECK_STR_HAS(
	    out, say("cosigned: checkpoint of %llu records (signed ", rec(5)));
	CHECK_STR_HAS(out, ") by " W1 " at ");
	CHECK_STR_HAS(
	    out, say("cosigned: checkpoint of %llu records (signed ", rec(8)));
	CHECK_STR_HAS(out, ") by " W2 " at ");
	CHECK_STR_HAS(out, say("quorum: 2 of 2 witnesses cosigned the log up "
	                       "to %llu records or beyond",
	                       rec(5)));
	CHECK_STR_HAS(out, say("newest cosigned checkpoint held: %llu records, "
	                       "signed ",
	                       rec(8)));
	CHECK_STR_HAS(out, "cosigned by " W2 "\n");

	CHECK_INT(keten_witness_cosign(&wr, h.config, k1, NULL, &err),
	          KETEN_OK);
	CHECK_INT(run("%s audit verify --json --config %s %s", harness_cli(),
	              h.config, h.data),
	          0);
	CHECK_STR_HAS(out,
	              say("{\"witness\":\"" W1 "\",\"size\":%llu,", rec(8)));
	CHECK_STR_HAS(out, say("\"witnesses\":2,\"witness_quorum\":2,"
	                       "\"quorum_size\":%llu",
	                       rec(8)));

	/* The proof bundle carries both cosignatures. */
	snprintf(proof, sizeof(proof), "%s/r3.tlog-proof", h.dir);
	CHECK_INT(run("%s audit proof --config %s --seq %llu --out %s %s",
	              harness_cli(), h.config, rec(3), proof, h.data),
	          0);
	CHECK_INT(run("%s audit check-proof --config %s %s", harness_cli(),
	              h.config, proof),
	          0);
	CHECK_STR_HAS(out, "cosigned by " W1 ", " W2 "\n");
	b = read_file(proof, &len);
	CHECK_INT(keten_proof_bundle_check(&p, h.config, b, len, &err),
	          KETEN_OK);
	CHECK_INT(p.n_cosigners, 2);
	proof_output(b, len);
	/* A damaged cosignature line: the proof holds, without its name. */
	b[len - 3] = b[len - 3] == 'A' ? 'B' : 'A';
	CHECK_INT(keten_proof_bundle_check(&p, h.config, b, len, &err),
	          KETEN_OK);
	CHECK_INT(p.n_cosigners, 1);
	free(b);
	CHECK(harness_stop(&h) == 0);

	/* A forged cosignature in the witness database fails the audit. */
	snprintf(dir, sizeof(dir), "%s/forged", h.dir);
	copy_dir(dir);
	forge_cosig(dir, W1);
	CHECK_INT(
	    run("%s audit verify --config %s %s", harness_cli(), h.config, dir),
	    1);
	CHECK_STR_HAS(out, say("FAILED: witness " W1 "'s cosignature of the "
	                       "checkpoint of %llu records does not verify "
	                       "with its cosign_key in the region config (the "
	                       "log holds %llu records",
	                       rec(8), rec(8)));

	/* Two messages cut and the checkpoint deleted: the witnesses saw
	 * the log up to message 8. */
	snprintf(dir, sizeof(dir), "%s/cut", h.dir);
	copy_dir(dir);
	cut_end(dir, 8, 2);
	CHECK_INT(
	    run("%s audit verify --config %s %s", harness_cli(), h.config, dir),
	    1);
	CHECK_STR_HAS(out, say("FAILED at record %llu: witness " W2 " cosigned "
	                       "a checkpoint of %llu records but this log "
	                       "holds only %llu (records removed at the end)",
	                       rec(7), rec(8), rec(6)));

	/* The broker serves the forged directory: an entry that proves
	 * nothing (a rotated key looks the same) is logged, not fatal... */
	forge_cosig(h.data, W1);
	harness_start(&h);
	CHECK(harness_log_has(&h, "event=witness_entry_unverified witness=" W1
	                          " reason=cosignature"));
	c = harness_client(&h, "lt-almere");
	CHECK_INT(keten_client_set_state(c, NULL), KETEN_OK);
	CHECK_INT(keten_ping(c, &head, &err), KETEN_OK);
	CHECK_INT(head, base + 8);
	keten_client_destroy(&c);
	CHECK(harness_stop(&h) == 0);
	/* ...but not one whose witnesses saw more than it holds. */
	snprintf(cmd, sizeof(cmd), "cp '%s/data.mdb' '%s/'", dir, h.data);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(harness_start_refused(&h), 1);
	CHECK(harness_log_has(&h, say("witness " W2 " cosigned a checkpoint "
	                              "of %llu records but this log holds "
	                              "only %llu",
	                              rec(8), rec(6))));
	harness_cleanup(&h);
}

/* A proof made after reads and submissions that followed the witnesses'
 * round is against the checkpoint they cosigned, and names them;
 * --stored is against the stored one, which no witness cosigned. */
static void
cosigned_proof(void)
{
	struct keten_witness_round wr;
	struct keten_client *c;
	struct keten_inbox *in = NULL;
	struct keten_error err;
	char k1[512], k2[512], proof[512];

	witness_region(k1, k2);
	send_n(1, 4);
	CHECK_INT(keten_witness_cosign(&wr, h.config, k1, NULL, &err),
	          KETEN_OK);
	CHECK_INT(keten_witness_cosign(&wr, h.config, k2, NULL, &err),
	          KETEN_OK);
	send_n(5, 6);
	c = harness_client(&h, "vt-flevoland");
	CHECK_INT(keten_fetch(&in, c, 10, &err), KETEN_OK);
	keten_inbox_free(&in);
	keten_client_destroy(&c);
	snprintf(proof, sizeof(proof), "%s/r2.tlog-proof", h.dir);

	CHECK_INT(run("%s audit proof --config %s --seq %llu --out %s %s",
	              harness_cli(), h.config, rec(2), proof, h.data),
	          0);
	CHECK_STR_HAS(out, ", against the newest checkpoint the witness "
	                   "quorum cosigned\n");
	CHECK_STR_HAS(out,
	              say("in the checkpoint of %llu records signed ", rec(4)));
	CHECK_STR_HAS(out, "cosigned by " W1 ", " W2 "\n");
	CHECK_INT(run("%s audit check-proof --config %s %s", harness_cli(),
	              h.config, proof),
	          0);
	CHECK_STR_HAS(out, "ok: the proof holds");
	CHECK_STR_HAS(out,
	              say("in the checkpoint of %llu records signed ", rec(4)));
	CHECK_STR_HAS(out, "cosigned by " W1 ", " W2 "\n");

	CHECK_INT(run("%s audit proof --config %s --seq %llu --stored --out "
	              "%s %s",
	              harness_cli(), h.config, rec(2), proof, h.data),
	          0);
	CHECK_STR_HAS(out, ", against the stored checkpoint, as asked\n");
	CHECK_STR_HAS(out,
	              say("in the checkpoint of %llu records signed ", rec(6)));
	CHECK_STR_HAS(out, "cosigned by no witness the region config names");
	CHECK_INT(run("%s audit check-proof --config %s %s", harness_cli(),
	              h.config, proof),
	          0);
	CHECK_STR_HAS(out,
	              say("in the checkpoint of %llu records signed ", rec(6)));

	/* Message 5 is under no cosigned checkpoint: the stored one. */
	CHECK_INT(run("%s audit proof --config %s --seq %llu --out %s %s",
	              harness_cli(), h.config, rec(5), proof, h.data),
	          0);
	CHECK_STR_HAS(out, ", against the stored checkpoint (no witness "
	                   "cosigned one that holds the record)\n");
	CHECK_STR_HAS(out,
	              say("in the checkpoint of %llu records signed ", rec(6)));

	/* One witness moves on: its checkpoint holds record 5, short of
	 * the quorum; message 2's proof takes it too, being newer. */
	CHECK_INT(keten_witness_cosign(&wr, h.config, k2, NULL, &err),
	          KETEN_OK);
	CHECK_INT(run("%s audit proof --config %s --seq %llu --out %s %s",
	              harness_cli(), h.config, rec(5), proof, h.data),
	          0);
	CHECK_STR_HAS(out, ", against the newest cosigned checkpoint (none "
	                   "that holds the record reaches the witness "
	                   "quorum)\n");
	CHECK_STR_HAS(out,
	              say("in the checkpoint of %llu records signed ", rec(6)));
	CHECK_STR_HAS(out, "cosigned by " W2 "\n");
	CHECK_INT(run("%s audit check-proof --config %s %s", harness_cli(),
	              h.config, proof),
	          0);
	CHECK_STR_HAS(out, "cosigned by " W2 "\n");
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
}

int
main(void)
{
	struct keten_audit a;
	struct keten_error err;
	struct keten_proven p;
	char dir[600], saved[600], saved2[600], proof[600], bad[600];
	char *b, *x;
	size_t len, xlen;

	if (sodium_init() < 0)
		return 99;
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	base = harness_first_seq(&h) - 1;
	send_n(1, FIRST);
	snprintf(saved, sizeof(saved), "%s/saved.note", h.dir);
	snprintf(saved2, sizeof(saved2), "%s/saved2.note", h.dir);

	/* Beside the live broker: no outside checkpoint, so the end cannot
	 * be vouched for; the checkpoint held is shown and saved. */
	CHECK_INT(run("%s audit verify --config %s %s --save-checkpoint %s",
	              harness_cli(), h.config, h.data, saved),
	          0);
	CHECK_STR_HAS(out, "truncation of the end cannot be ruled out "
	                   "offline");
	CHECK_STR_HAS(out, "newest cosigned checkpoint held: none (no witness "
	                   "has cosigned one)");
	CHECK_STR_HAS(
	    out, say("saved the checkpoint of %llu records to ", rec(FIRST)));
	b = read_file(saved, &len);
	{
		const char *top = say("keten/testregion\n%llu\n", rec(FIRST));
		CHECK(len > strlen(top) && memcmp(b, top, strlen(top)) == 0);
	}
	free(b);

	/* The log grows: it extends the saved checkpoint. */
	send_n(FIRST + 1, RECORDS);
	CHECK_INT(run("%s audit verify --config %s %s --checkpoint %s "
	              "--save-checkpoint %s",
	              harness_cli(), h.config, h.data, saved, saved2),
	          0);
	CHECK_STR_HAS(out, say("extends the checkpoint of %llu records signed ",
	                       rec(FIRST)));
	CHECK(strstr(out, "cannot be ruled out") == NULL);
	CHECK_INT(keten_audit_verify_from(&a, h.config, h.data, saved2, &err),
	          KETEN_OK);
	CHECK_INT(a.anchor_status, KETEN_ANCHOR_OK);
	CHECK_INT(a.anchor.size, base + RECORDS);
	CHECK_INT(harness_stop(&h), 0);

	/* The ten-message cut: the plain audit passes, the saved checkpoint
	 * catches it, naming both sizes. */
	snprintf(dir, sizeof(dir), "%s/cut", h.dir);
	copy_dir(dir);
	cut_end(dir, RECORDS, CUT);
	CHECK_INT(
	    run("%s audit verify --config %s %s", harness_cli(), h.config, dir),
	    0);
	CHECK_STR_HAS(out,
	              say("ok: %llu records verified", rec(RECORDS - CUT)));
	CHECK_STR_HAS(out, "truncation of the end cannot be ruled out "
	                   "offline");
	CHECK_INT(run("%s audit verify --config %s %s --checkpoint %s",
	              harness_cli(), h.config, dir, saved2),
	          1);
	CHECK_STR_HAS(out, "FAILED against ");
	CHECK_STR_HAS(out, say("not an extension of the outside checkpoint of "
	                       "%llu records: it holds only %llu (shorter",
	                       rec(RECORDS), rec(RECORDS - CUT)));
	CHECK_INT(run("%s audit verify --json --config %s %s --checkpoint %s",
	              harness_cli(), h.config, dir, saved2),
	          1);
	CHECK_STR_HAS(out, "\"status\":\"shorter\"");
	CHECK_INT(keten_audit_verify_from(&a, h.config, dir, saved, &err),
	          KETEN_E_CHAIN);
	CHECK_INT(a.anchor_status, KETEN_ANCHOR_SHORTER);
	CHECK_STR_HAS(err.message, say("of %llu records: it holds only %llu",
	                               rec(FIRST), rec(RECORDS - CUT)));

	/* A changed record, relinked: whole in itself, not what was
	 * signed. */
	copy_dir(dir);
	change_relink(dir);
	CHECK_INT(
	    run("%s audit verify --config %s %s", harness_cli(), h.config, dir),
	    0);
	CHECK_INT(run("%s audit verify --config %s %s --checkpoint %s",
	              harness_cli(), h.config, dir, saved),
	          1);
	CHECK_STR_HAS(out, say("not an extension of the outside checkpoint of "
	                       "%llu records: its tree root at %llu records "
	                       "differs",
	                       rec(FIRST), rec(FIRST)));
	CHECK_INT(keten_audit_verify_from(&a, h.config, dir, saved2, &err),
	          KETEN_E_CHAIN);
	CHECK_INT(a.anchor_status, KETEN_ANCHOR_DIFFERS);

	/* A checkpoint not signed by the region's broker is no anchor. */
	b = read_file(saved, &len);
	b[len - 10] = b[len - 10] == 'A' ? 'B' : 'A';
	snprintf(bad, sizeof(bad), "%s/bad.note", h.dir);
	{
		FILE *f = fopen(bad, "wb");
		CHECK(f != NULL && fwrite(b, 1, len, f) == len);
		fclose(f);
	}
	free(b);
	CHECK_INT(keten_audit_verify_from(&a, h.config, h.data, bad, &err),
	          KETEN_E_RECEIPT);
	CHECK_STR_HAS(err.message, "is not signed by the broker key");
	CHECK_INT(run("%s audit verify --config %s %s --checkpoint %s",
	              harness_cli(), h.config, h.data, bad),
	          1);

	/* The proof of message 5, written and checked offline. */
	snprintf(proof, sizeof(proof), "%s/r5.tlog-proof", h.dir);
	CHECK_INT(run("%s audit proof --config %s --seq %llu --out %s %s",
	              harness_cli(), h.config, rec(5), proof, h.data),
	          0);
	CHECK_INT(run("%s audit check-proof --config %s %s", harness_cli(),
	              h.config, proof),
	          0);
	CHECK_STR_HAS(out, "ok: the proof holds");
	CHECK_STR_HAS(out, say("record %llu: referral lt-almere -> "
	                       "vt-flevoland, case ",
	                       rec(5)));
	CHECK_STR_HAS(out, say("in the checkpoint of %llu records signed ",
	                       rec(RECORDS)));
	CHECK_INT(run("cd %s && %s audit proof --config %s --seq %llu %s && "
	              "test -s record-%llu.tlog-proof",
	              h.dir, harness_cli(), h.config, rec(RECORDS), h.data,
	              rec(RECORDS)),
	          0);
	CHECK_INT(run("%s audit proof --config %s --seq %llu %s", harness_cli(),
	              h.config, rec(RECORDS + 1), h.data),
	          2);
	CHECK_STR_HAS(out, say("record %llu is not in the stored checkpoint of "
	                       "%llu records",
	                       rec(RECORDS + 1), rec(RECORDS)));

	b = read_file(proof, &len);
	CHECK_INT(keten_proof_bundle_check(&p, h.config, b, len, &err),
	          KETEN_OK);
	CHECK_INT(p.record.seq, base + 5);
	CHECK(memcmp(p.record.record_hash, receipts[5].record_hash, 32) == 0);
	CHECK(memcmp(p.record.message_id, receipts[5].message_id, 16) == 0);
	CHECK_INT(p.checkpoint.size, base + RECORDS);
	CHECK(strcmp(p.record.sender, "lt-almere") == 0);

	/* Each altered part refused, with its sentence. */
	x = alter_line(b, len, say("\nindex %llu\n", rec(4)), 1);
	CHECK_INT(check_bundle(x, len, &err), KETEN_E_RECEIPT);
	CHECK_STR_HAS(
	    err.message,
	    say("does not lead from record %llu to the root", rec(5)));
	free(x);
	x = alter_line(b, len, "\nextra ", 200);
	CHECK_INT(check_bundle(x, len, &err), KETEN_E_RECEIPT);
	CHECK_STR_HAS(
	    err.message,
	    say("does not lead from record %llu to the root", rec(5)));
	free(x);
	x = alter_line(b, len, "\nindex ", 0);
	{
		/* The index's first digit made another: the sentence names
		 * the record and the record the altered index stands for. */
		char *d = strstr(x, "\nindex ") + 7;
		unsigned long long idx;
		*d = say("%llu", rec(4))[0] == '6' ? '7' : '6';
		idx = strtoull(d, NULL, 10);
		CHECK_INT(check_bundle(x, len, &err), KETEN_E_RECEIPT);
		CHECK_STR_HAS(err.message,
		              say("the record is number %llu but the bundle's "
		                  "index %llu stands for record %llu",
		                  rec(5), idx, idx + 1));
	}
	free(x);
	x = resign(b, len, &xlen, true);
	CHECK_INT(check_bundle(x, xlen, &err), KETEN_E_RECEIPT);
	CHECK_STR_HAS(err.message, "the checkpoint is not one of region "
	                           "testregion's broker");
	free(x);
	x = resign(b, len, &xlen, false);
	CHECK_INT(check_bundle(x, xlen, &err), KETEN_E_RECEIPT);
	CHECK_STR_HAS(err.message, say("the checkpoint of %llu records is not "
	                               "signed by the broker key",
	                               rec(RECORDS)));
	{
		FILE *f = fopen(bad, "wb");
		CHECK(f != NULL && fwrite(x, 1, xlen, f) == xlen);
		fclose(f);
	}
	free(x);
	CHECK_INT(run("%s audit check-proof --config %s %s", harness_cli(),
	              h.config, bad),
	          1);
	CHECK_STR_HAS(out, "FAILED: ");
	CHECK_STR_HAS(out, say("does not prove a record: the checkpoint of "
	                       "%llu records is not signed by the broker key",
	                       rec(RECORDS)));
	free(b);

	harness_cleanup(&h);
	witnessed();
	cosigned_proof();
	return check_done("test_offline");
}
