/*
 * An auditor replays the log from a running broker: the roster record and
 * 100,000 referrals (KETEN_TEST_RECORDS overrides), streamed with `keten
 * audit replay`, must give the same count and head as `keten audit verify`
 * of the same data directory, and its JSON Lines must parse with jq, one
 * row per record in sequence order. Only an auditor may replay.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <lmdb.h>
#include <sodium.h>

#include "../check.h"
#include "harness.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"

static struct harness H;

/* Runs a shell command; its standard output in out (NUL-terminated). */
static int run(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
run(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	FILE *f;
	size_t n = 0;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	while (out && n + 1 < cap && !feof(f))
		n += fread(out + n, 1, cap - 1 - n, f);
	if (out)
		out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The "head N HASH" line of a summary, without what follows it (two
 * buffers: two calls may be compared). */
static const char *
head_line(const char *out)
{
	static char buf[2][160];
	static int k;
	const char *h = strstr(out, "\nhead ");
	size_t n = h ? strcspn(h + 1, "\n") : 0;

	k ^= 1;
	if (n >= sizeof(buf[k]))
		n = sizeof(buf[k]) - 1;
	memcpy(buf[k], h ? h + 1 : "", n);
	buf[k][n] = '\0';
	return buf[k];
}

/* The JSON Lines at path: n records in all, referrals of them. */
static void
check_jsonl(const char *path, size_t n, size_t referrals)
{
	char out[256];
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, rows = 0;
	unsigned long long seq, want = 1;
	int in_order = 1;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	while (getline(&line, &cap, f) > 0) {
		rows++;
		if (sscanf(line, "{\"seq\":%llu,", &seq) != 1 || seq != want++)
			in_order = 0;
	}
	free(line);
	fclose(f);
	CHECK_INT(rows, n);
	CHECK(in_order);
	/* jq parses every row; the counts by type and sender add up. */
	CHECK_INT(run(out, sizeof(out), "jq -c . '%s' | wc -l", path), 0);
	CHECK_INT(strtoull(out, NULL, 10), n);
	CHECK_INT(run(out, sizeof(out),
	              "jq -r 'select(.type == \"referral\" and .recipient == "
	              "\"vt-flevoland\" and .signature == \"ok\") | .seq' "
	              "'%s' | wc -l",
	              path),
	          0);
	CHECK_INT(strtoull(out, NULL, 10), referrals);
}

/* In a copy of the data directory, flips the last byte of record seq
 * (inside its envelope's signature or body). */
static void
flip(const char *dir, uint64_t seq)
{
	struct lmdb_edit e;
	MDB_dbi dbi;
	uint8_t k[LAYOUT_SEQ_KEY_LEN], buf[8192];
	MDB_val key = layout_seq_key(k, seq), val;

	lmdb_edit_begin(&e, dir, 0, (size_t)1 << 32, 0);
	dbi = lmdb_edit_db(&e, LAYOUT_DB_LOG);
	CHECK(mdb_get(e.txn, dbi, &key, &val) == 0);
	CHECK(val.mv_size <= sizeof(buf));
	memcpy(buf, val.mv_data, val.mv_size);
	buf[val.mv_size - 1] ^= 0x40;
	val.mv_data = buf;
	CHECK(mdb_put(e.txn, dbi, &key, &val, 0) == 0);
	lmdb_edit_commit(&e);
}

/* The offline audit checks signatures on every core, chunk by chunk
 * ahead of the walk: an altered record anywhere, also at a chunk's edge
 * (1024 records) and the very last, is named exactly. */
static void
audit_finds(size_t n)
{
	const uint64_t at[] = {1, 1024, 1025, 2048, n / 2 + 7, n};
	char copy[400], cmd[1400];
	struct keten_audit a;
	struct keten_error err;

	snprintf(copy, sizeof(copy), "%s/copy", H.dir);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		if (at[i] > n)
			continue;
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -r '%s' '%s'",
		         copy, H.data, copy);
		CHECK(system(cmd) == 0);
		flip(copy, at[i]);
		CHECK_INT(keten_audit_verify(&a, H.config, copy, &err),
		          KETEN_E_CHAIN);
		CHECK_INT(a.bad_seq, at[i]);
		CHECK_INT(a.records, at[i] - 1);
	}
}

int
main(void)
{
	const char *env = getenv("KETEN_TEST_RECORDS");
	size_t fill = env ? strtoull(env, NULL, 10) : 100000, n;
	char replay[4096], verify[4096], from[4096], jsonl[400];
	char auditor[400], key_lt[400];

	if (sodium_init() < 0 || fill == 0)
		return 1;
	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	/* n records: the roster record(s) the log opens with, then the
	 * referrals. */
	n = harness_first_seq(&H) - 1 + fill;
	CHECK(n > fill);
	harness_fill(&H, fill, "replay");
	CHECK_INT(harness_head(&H, "audit-inspectie"), n);
	snprintf(auditor, sizeof(auditor), "%s",
	         harness_key(&H, "audit-inspectie"));
	snprintf(key_lt, sizeof(key_lt), "%s", harness_key(&H, "lt-almere"));
	snprintf(jsonl, sizeof(jsonl), "%s/replay.jsonl", H.dir);

	/* The broker runs: replay from it, verify its directory beside. */
	CHECK_INT(run(replay, sizeof(replay),
	              "'%s' audit replay -c '%s' -k '%s'", harness_cli(),
	              H.config, auditor),
	          0);
	CHECK_INT(run(verify, sizeof(verify), "'%s' audit verify -c '%s' '%s'",
	              harness_cli(), H.config, H.data),
	          0);
	printf("replay: %s", replay);
	printf("verify: %s", verify);
	{
		char want[64];
		snprintf(want, sizeof(want), "ok: %zu records replayed", n);
		CHECK_STR_HAS(replay, want);
		snprintf(want, sizeof(want), "ok: %zu records verified", n);
		CHECK_STR_HAS(verify, want);
	}
	CHECK(head_line(replay)[0] != '\0');
	CHECK(strcmp(head_line(replay), head_line(verify)) == 0);

	/* From the middle: the rest of the log, to the same head. */
	CHECK_INT(run(from, sizeof(from),
	              "'%s' audit replay -c '%s' -k '%s' --from %zu",
	              harness_cli(), H.config, auditor, n / 2 + 1),
	          0);
	{
		char want[64];
		snprintf(want, sizeof(want), "ok: %zu records replayed",
		         n - n / 2);
		CHECK_STR_HAS(from, want);
	}
	CHECK(strcmp(head_line(from), head_line(verify)) == 0);

	/* JSON Lines, for analysis. */
	CHECK_INT(run(NULL, 0,
	              "'%s' audit replay -c '%s' -k '%s' --jsonl > '%s'",
	              harness_cli(), H.config, auditor, jsonl),
	          0);
	check_jsonl(jsonl, n, fill);

	/* Chained to what was verified before: record n/2's hash, from the
	 * JSON Lines, anchors a replay from n/2 + 1; a wrong one fails. */
	{
		char hash[128], out[4096], want[64];
		CHECK_INT(run(hash, sizeof(hash),
		              "sed -n '%zup' '%s' | jq -r .record_hash", n / 2,
		              jsonl),
		          0);
		hash[strcspn(hash, "\n")] = '\0';
		CHECK_INT(strlen(hash), 64);
		CHECK_INT(run(out, sizeof(out),
		              "'%s' audit replay -c '%s' -k '%s' --from %zu "
		              "--after %s",
		              harness_cli(), H.config, auditor, n / 2 + 1,
		              hash),
		          0);
		snprintf(want, sizeof(want), "ok: %zu records replayed",
		         n - n / 2);
		CHECK_STR_HAS(out, want);
		hash[0] = hash[0] == '0' ? '1' : '0';
		CHECK_INT(run(out, sizeof(out),
		              "'%s' audit replay -c '%s' -k '%s' --from %zu "
		              "--after %s 2>&1",
		              harness_cli(), H.config, auditor, n / 2 + 1,
		              hash),
		          1);
		snprintf(want, sizeof(want), "FAILED at record %zu", n / 2);
		CHECK_STR_HAS(out, want);
		/* Past the head: nothing to replay right after it, and an
		 * error further on (the log would have lost records). */
		CHECK_INT(run(out, sizeof(out),
		              "'%s' audit replay -c '%s' -k '%s' --from %zu",
		              harness_cli(), H.config, auditor, n + 1),
		          0);
		snprintf(want, sizeof(want), "ok: nothing after record %zu", n);
		CHECK_STR_HAS(out, want);
		CHECK(strcmp(head_line(out), head_line(verify)) == 0);
		CHECK_INT(
		    run(out, sizeof(out),
		        "'%s' audit replay -c '%s' -k '%s' --from %zu 2>&1",
		        harness_cli(), H.config, auditor, n + 2),
		    1);
		CHECK_STR_HAS(out, "log ends at record");
	}

	audit_finds(n);

	/* Nobody but an auditor replays: refused, exit 1. */
	CHECK_INT(run(NULL, 0, "'%s' audit replay -c '%s' -k '%s' 2>/dev/null",
	              harness_cli(), H.config, key_lt),
	          1);

	harness_drop_clients(&H);
	CHECK_INT(harness_stop(&H), 0);
	harness_cleanup(&H);
	return check_done("test_replay");
}
