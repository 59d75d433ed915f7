/*
 * Witnesses against a real ketend (issue 15, point 3): two witnesses
 * cosign, the broker stores and hands out their cosignatures, refuses a
 * forged one and one over a checkpoint it never signed, and a witness that
 * saw a longer log detects a broker cut back to an older copy.
 */
#define _GNU_SOURCE /* memmem */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "../check.h"
#include "harness.h"
#include "keys.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"
#include "note.h"
#include "raw.h"

#define W1 "lt-almere.example/witness"
#define W2 "audit-inspectie.example/witness"

static char w1_key[400], w2_key[400], rogue_key[400];
/* The log's size after the first five referrals (they follow the roster
 * record), and the start of a checkpoint note of that size. */
static uint64_t size1;
static char note1[64];
static size_t note1_len;

static void
make_witness(char *path, const struct harness *h, const char *file,
             const char *name, FILE *cfg)
{
	struct keten_public_keys pub;
	struct keten_error err;

	snprintf(path, 400, "%s/%s", h->dir, file);
	CHECK(keten_keygen_witness(&pub, path, name, &err) == KETEN_OK);
	if (cfg != NULL)
		fprintf(cfg,
		        "  - name: %s\n    cosign_key: %s\n    transport_key: "
		        "%s\n",
		        name, pub.sign_key, pub.transport_key);
}

/* A raw connection with a witness's transport key. */
static void
raw_witness(struct raw *r, const struct harness *h, const char *key)
{
	struct witness_keys *k;
	struct keten_error err;

	CHECK(keys_witness_load(&k, key, &err) == KETEN_OK);
	raw_connect_keys(r, h, k->curve_pk, k->curve_sk);
	keys_witness_destroy(&k);
}

static int
call(struct raw *r, struct reply *rep, const struct request *req)
{
	uint8_t *buf;
	size_t len;
	int rc;

	CHECK(wire_request_encode(&buf, &len, req) == KETEN_OK);
	rc = raw_call1(r, rep, buf, len, 10000);
	free(buf);
	return rc;
}

/* Sends a cosign whose checkpoint is cp (signature as given) and whose
 * cosignature line is by the key file `signer` under name W1; the
 * broker's error reply must carry code and contain words. */
static void
cosign_refused(struct raw *r, const struct harness *h,
               const struct keten_checkpoint *cp, const char *signer, int code,
               const char *words)
{
	struct witness_keys *k;
	struct keten_error err;
	struct note_key bk, wk;
	struct note_cosig cs;
	struct request req = {.kind = WIRE_REQ_COSIGN};
	struct reply rep;
	struct config *cfg;
	char buf[NOTE_CHECKPOINT_MAX + 512];
	size_t len, body;

	CHECK(config_load(&cfg, h->config, &err) == KETEN_OK);
	CHECK(note_broker_key(&bk, cfg->region, cfg->broker_sign_pk) == 0);
	CHECK(keys_witness_load(&k, signer, &err) == KETEN_OK);
	CHECK(note_key_init(&wk, W1, NOTE_COSIG_V1, k->cosign_pk) == 0);
	body = note_checkpoint_body(buf, sizeof(buf), bk.name, cp);
	CHECK(body > 0);
	note_cosig_sign(&cs, 1700000000, buf, body, k->cosign_sk);
	len = note_checkpoint_format(buf, sizeof(buf), &bk, cp);
	CHECK(len > 0);
	len += note_cosig_line(buf + len, sizeof(buf) - len, &wk, &cs);
	req.note = buf;
	req.note_len = len;
	CHECK(call(r, &rep, &req) == 0);
	CHECK(rep.kind == WIRE_REP_ERROR);
	CHECK(rep.error.code == code);
	if (strstr(rep.error.message, words) == NULL)
		fprintf(stderr, "refusal: %s\n", rep.error.message);
	CHECK(strstr(rep.error.message, words) != NULL);
	wire_reply_clear(&rep);
	keys_witness_destroy(&k);
	config_destroy(&cfg);
}

/* The latest checkpoint, and the witnesses' notes, by a ping. */
static void
ping(struct raw *r, struct reply *rep)
{
	struct request req = {.kind = WIRE_REQ_PING};

	CHECK(call(r, rep, &req) == 0);
	CHECK(rep->kind == WIRE_REP_PING);
	CHECK(rep->ping.has_cp);
}

/* The note of witness name among the ping's, or NULL. */
static const char *
cosigned_by(const struct reply *rep, const char *name, size_t *len)
{
	char want[200];

	snprintf(want, sizeof(want), "\n\xe2\x80\x94 %s ", name);
	for (size_t i = 0; i < rep->ping.n_cosigned; i++) {
		/* The notes are not NUL-terminated. */
		if (memmem(rep->ping.cosigned[i], rep->ping.cosigned_len[i],
		           want, strlen(want)) != NULL) {
			*len = rep->ping.cosigned_len[i];
			return rep->ping.cosigned[i];
		}
	}
	return NULL;
}

/* Runs the CLI's witness round; its exit status, stderr in out. */
static int
cli_witness(const struct harness *h, const char *key, char *out, size_t n)
{
	char cmd[2048], errf[400];
	FILE *f;
	int st;

	snprintf(errf, sizeof(errf), "%s/witness.err", h->dir);
	snprintf(cmd, sizeof(cmd),
	         "'%s' witness --config '%s' --key '%s' >/dev/null 2>'%s'",
	         harness_cli(), h->config, key, errf);
	st = system(cmd);
	out[0] = '\0';
	if ((f = fopen(errf, "r")) != NULL) {
		size_t got = fread(out, 1, n - 1, f);
		out[got] = '\0';
		fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* W2's stored entry says it cosigned more records than it did (its size
 * line size1 made 9): the entry no longer verifies, so it must not hold the
 * witness back; a fresh cosignature of the size1 records replaces it. Stops
 * the broker. */
static void
damaged_entry_replaced(struct harness *h)
{
	struct keten_witness_round wr;
	struct keten_error err;
	struct lmdb_edit e;
	MDB_val k = layout_val(W2, sizeof(W2) - 1), v;
	char note[NOTE_MAX], fresh[420];
	MDB_dbi db;

	CHECK(harness_stop(h) == 0);
	lmdb_edit_begin(&e, h->data, 0, 0, 0);
	db = lmdb_edit_db(&e, LAYOUT_DB_WITNESS);
	CHECK_INT(mdb_get(e.txn, db, &k, &v), 0);
	CHECK(v.mv_size < sizeof(note) && v.mv_size > note1_len);
	memcpy(note, v.mv_data, v.mv_size);
	CHECK(memcmp(note, note1, note1_len) == 0);
	note[note1_len - 2] = '9'; /* size1 is one digit, below 9 */
	v.mv_data = note;
	CHECK_INT(mdb_put(e.txn, db, &k, &v, 0), 0);
	lmdb_edit_commit(&e);
	harness_start(h);

	/* A fresh state: W2's own remembers the longer log it saw. */
	snprintf(fresh, sizeof(fresh), "%s/w2-fresh.checkpoint", h->dir);
	CHECK_INT(keten_witness_cosign(&wr, h->config, w2_key, fresh, &err),
	          KETEN_OK);
	CHECK(wr.size == size1 && wr.stored == size1);
	CHECK(harness_stop(h) == 0);
}

int
main(void)
{
	struct harness h;
	struct keten_witness_round wr;
	struct keten_error err;
	struct raw rw, ra;
	struct reply rep;
	struct keten_checkpoint cp;
	char state[420], text[4096], cmd[2048];
	const char *note;
	size_t len;
	struct stat st;
	FILE *cfg;

	CHECK(sodium_init() >= 0);
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	CHECK((cfg = fopen(h.config, "a")) != NULL);
	fputs("witnesses:\n", cfg);
	make_witness(w1_key, &h, "w1.key", W1, cfg);
	make_witness(w2_key, &h, "w2.key", W2, cfg);
	fputs("witness_quorum: 2\n", cfg);
	fclose(cfg);
	make_witness(rogue_key, &h, "rogue.key", W1, NULL);
	harness_start(&h);
	harness_fill(&h, 5, "witness");
	size1 = harness_first_seq(&h) - 1 + 5;
	CHECK(size1 < 9);
	note1_len =
	    (size_t)snprintf(note1, sizeof(note1), "keten/testregion\n%llu\n",
	                     (unsigned long long)size1);

	/* A state path too long for the system is refused, not cut short
	 * to another file's name. */
	{
		char *lng = malloc(PATH_MAX + 16);
		if (lng == NULL)
			return 99;
		snprintf(lng, PATH_MAX + 16, "%s/", h.dir);
		memset(lng + strlen(lng), 'a', PATH_MAX + 15 - strlen(lng));
		lng[PATH_MAX + 15] = '\0';
		CHECK_INT(
		    keten_witness_cosign(&wr, h.config, w1_key, lng, &err),
		    KETEN_E_USAGE);
		CHECK_STR_HAS(err.message, "the state path is longer than");
		free(lng);
	}

	/* Two witnesses cosign the checkpoint of the 5 referrals. */
	CHECK(keten_witness_cosign(&wr, h.config, w1_key, NULL, &err) ==
	      KETEN_OK);
	CHECK(wr.previous == 0 && wr.size == size1 && wr.stored == size1);
	CHECK(keten_witness_cosign(&wr, h.config, w2_key, NULL, &err) ==
	      KETEN_OK);
	CHECK(wr.size == size1 && wr.stored == size1);
	/* The state file: the checkpoint note, mode 0600. */
	snprintf(state, sizeof(state), "%s.checkpoint", w1_key);
	CHECK(stat(state, &st) == 0 && (st.st_mode & 0777) == 0600);

	/* The broker hands out both, each with the broker's signature and
	 * the witness's cosignature, over the same checkpoint. */
	raw_witness(&rw, &h, w1_key);
	ping(&rw, &rep);
	CHECK(strcmp(rep.ping.agency, "witness:" W1) == 0);
	CHECK(rep.ping.n_cosigned == 2);
	CHECK((note = cosigned_by(&rep, W1, &len)) != NULL);
	CHECK(len > note1_len && memcmp(note, note1, note1_len) == 0);
	CHECK(memmem(note, len, "\xe2\x80\x94 keten/testregion ",
	             sizeof("\xe2\x80\x94 keten/testregion ") - 1) != NULL);
	CHECK(cosigned_by(&rep, W2, &len) != NULL);
	cp = rep.ping.cp;
	wire_reply_clear(&rep);

	/* A witness may only ping and cosign; an agency may not cosign. */
	{
		struct request req = {.kind = WIRE_REQ_FETCH};
		CHECK(call(&rw, &rep, &req) == 0);
		CHECK(rep.kind == WIRE_REP_ERROR &&
		      rep.error.code == KETEN_E_FORBIDDEN);
		CHECK(strstr(rep.error.message, "is a witness") != NULL);
		wire_reply_clear(&rep);
		raw_connect(&ra, &h, "lt-almere");
		req.kind = WIRE_REQ_COSIGN;
		req.note = "x";
		req.note_len = 1;
		CHECK(call(&ra, &rep, &req) == 0);
		CHECK(rep.kind == WIRE_REP_ERROR &&
		      rep.error.code == KETEN_E_FORBIDDEN);
		wire_reply_clear(&rep);
		raw_close(&ra);
	}

	/* A late copy of an older cosignature (2023) of as many records
	 * does not replace the newer one. */
	cosign_refused(&rw, &h, &cp, w1_key, KETEN_E_FIELD,
	               "this cosignature is from 1700000000: a witness never "
	               "goes back");
	/* A forged cosignature: the right name, the wrong key. */
	cosign_refused(&rw, &h, &cp, rogue_key, KETEN_E_BADSIG,
	               "no cosignature by witness " W1);
	/* A cosignature over a checkpoint the broker never signed. */
	cp.size = 4;
	cosign_refused(&rw, &h, &cp, w1_key, KETEN_E_BADSIG,
	               "never signed by this broker");
	raw_close(&rw);

	/* Keep a copy of the broker after the 5 referrals, then grow the log.
	 */
	CHECK(harness_stop(&h) == 0);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s.old'", h.data, h.data);
	CHECK(system(cmd) == 0);
	harness_start(&h);
	harness_fill(&h, 5, "witness-more");
	CHECK(keten_witness_cosign(&wr, h.config, w1_key, NULL, &err) ==
	      KETEN_OK);
	CHECK(wr.previous == size1 && wr.size == size1 + 5 &&
	      wr.stored == size1 + 5);
	CHECK(cli_witness(&h, w2_key, text, sizeof(text)) == 0);

	/* Cut: the broker comes back on the older copy. */
	CHECK(harness_stop(&h) == 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mv '%s.old' '%s'", h.data,
	         h.data, h.data);
	CHECK(system(cmd) == 0);
	harness_start(&h);
	CHECK(cli_witness(&h, w1_key, text, sizeof(text)) == 1);
	if (strstr(text, "not an extension of the one it showed") == NULL)
		fprintf(stderr, "witness said: %s\n", text);
	CHECK(strstr(text, "not an extension of the one it showed") != NULL);
	snprintf(cmd, sizeof(cmd), "(size %llu)",
	         (unsigned long long)(size1 + 5));
	CHECK(strstr(text, cmd) != NULL);
	CHECK(strstr(text, "report this to your auditor") != NULL);
	/* The state file still holds the longer log: proof of the cut. */
	CHECK(keten_witness_cosign(&wr, h.config, w1_key, NULL, &err) ==
	      KETEN_E_FORKED);
	CHECK(wr.previous == size1 + 5);

	damaged_entry_replaced(&h);
	harness_cleanup(&h);
	return check_done("test_witness");
}
