/* keten audit: the auditor's verbs, offline on a data directory or
 * replaying the log from the broker. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static void
help(FILE *f)
{
	fputs(
	    "usage: keten audit verify [--config FILE] [--checkpoint FILE]\n"
	    "                          [--save-checkpoint FILE] [--json] "
	    "DATADIR\n\n"
	    "Opens the broker's LMDB data directory read-only (safe while the\n"
	    "broker runs, or on a copy), recomputes every record hash and\n"
	    "link, checks every envelope signature against the region\n"
	    "config's keys and the broker's recorded head, and prints the\n"
	    "record count and head hash. Any altered byte, removed or\n"
	    "reordered record fails, naming the first bad sequence number.\n"
	    "Records cut from the end of a log that is otherwise whole\n"
	    "cannot be seen offline without a checkpoint kept elsewhere:\n"
	    "with --checkpoint FILE (a signed checkpoint note, as libketen's\n"
	    "state file, a witness's state file or --save-checkpoint keep\n"
	    "it) the log must extend it, or the audit fails naming both\n"
	    "sizes. Exit status 0 if the log verifies, 1 if not, 2 if it\n"
	    "cannot be read.\n\n"
	    "  -c, --config FILE   region config (default $KETEN_CONFIG)\n"
	    "      --checkpoint FILE\n"
	    "                      hold the log to this checkpoint: it must\n"
	    "                      be signed by the region's broker, and the\n"
	    "                      log at least as long, with the same tree\n"
	    "      --save-checkpoint FILE\n"
	    "                      once the log verifies, write its stored\n"
	    "                      checkpoint to FILE (atomically), to give\n"
	    "                      to --checkpoint in a later audit\n"
	    "      --json          machine-readable output\n"
	    "  -h, --help          this text\n\n"
	    "'keten audit --help' lists the other audit verbs.\n",
	    f);
}

static void
cases_help(FILE *f)
{
	fputs(
	    "usage: keten audit cases [--config FILE] [--overdue] [--at TIME]\n"
	    "                         [--json] DATADIR\n\n"
	    "Verifies the broker's data directory as 'keten audit verify' "
	    "does,\nthen replays every record through the case rules and "
	    "lists every\ncase as computed from the chain alone, one line "
	    "each as 'keten cases'\nprints them: case id, status, holder, "
	    "open offer, age and OVERDUE.\nThe broker is not asked: compare "
	    "with its answers to catch a broker\nthat misreports. With "
	    "--json, one JSON object per case per line.\nExit status 0 if "
	    "the log verifies and replays (with --overdue: and\nno case is "
	    "overdue), 1 if not, 2 if it cannot be read.\n\n"
	    "  -c, --config FILE   region config (default $KETEN_CONFIG)\n"
	    "      --overdue       list only overdue cases; exit 1 if any\n"
	    "      --at TIME       judge overdue at another moment: "
	    "2026-11-30T17:00:00Z\n"
	    "                      or +DURATION from now (+2d, +3h, "
	    "+2wd, -90s)\n"
	    "      --json          machine-readable output\n"
	    "  -h, --help          this text\n",
	    f);
}

static int
audit_cases(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"overdue", no_argument, NULL, 'O'},
	    {"at", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_case *cs;
	struct keten_error err;
	int64_t at_us = 0;
	size_t n, overdue;
	int ch, rc, overdue_only = 0;

	cli_common_defaults(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'O':
			overdue_only = 1;
			break;
		case 'A':
			if (cli_time_parse_at(&at_us, "audit cases", optarg) !=
			    0)
				return EXIT_USAGE;
			break;
		case 'h':
			cases_help(stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || o.config == NULL) {
		fprintf(stderr, "keten audit cases: give --config and one "
		                "data directory\n");
		return EXIT_USAGE;
	}
	rc = keten_audit_cases(&cs, &n, o.config, argv[optind], at_us, &err);
	if (rc == KETEN_E_CHAIN) {
		if (o.json) {
			fputs("{\"ok\":false,\"error\":", stdout);
			json_str(stdout, err.message);
			puts("}");
		} else {
			fputs("FAILED: ", stdout);
			cli_put_text(stdout, err.message);
			putchar('\n');
		}
		return EXIT_REFUSED;
	}
	if (rc != KETEN_OK)
		return cli_fail("audit cases", &err);
	overdue = cli_cases_print(cs, n, at_us ? at_us : cli_time_now(), o.json,
	                          overdue_only);
	free(cs);
	return overdue_only && overdue ? EXIT_REFUSED : EXIT_OK;
}

static void
replay_help(FILE *f)
{
	fputs(
	    "usage: keten audit replay [--config FILE] [--key FILE] [--from N\n"
	    "                          [--after HASH]] [--jsonl | --json]\n"
	    "       keten audit replay --follow [--wait SEC] [--from N "
	    "[--after "
	    "HASH]]\n"
	    "                          [--jsonl] [--config FILE] [--key "
	    "FILE]\n\n"
	    "Streams the log from the running broker, as an auditor (the key\n"
	    "must be an auditor's), from record N (default 1) to the broker's\n"
	    "head, and verifies it as it goes: every link, record hash and\n"
	    "sender signature, that each message is recorded once, and from\n"
	    "record 1 the case rules. From N > 1, give --after with the hash\n"
	    "of record N-1 (a receipt's record hash, or the head an earlier\n"
	    "replay printed) to chain this replay to what you verified\n"
	    "before; without it that one link is taken on trust. The head is\n"
	    "the broker's word: compare it with receipts you hold. Sealed\n"
	    "content is never sent. Prints a summary like 'keten audit\n"
	    "verify'; with --jsonl, one JSON object per verified record\n"
	    "instead (seq, hashes, times, type, sender, recipient, case,\n"
	    "message id, signature), for jq; with --json, the summary as\n"
	    "JSON. Exit status 0 if everything verified, 1 if the chain is\n"
	    "broken (the first bad record is named) or the broker refused,\n"
	    "2 usage, 3 cannot connect.\n\n"
	    "With --follow it does not stop at the head: it waits at the "
	    "broker\nfor each new record and verifies and prints it as it is "
	    "committed,\nthe links and case rules checked across the whole "
	    "follow: one line\nper record ('#SEQ TIME TYPE SENDER -> "
	    "RECIPIENT, case CASE'), or with\n--jsonl one JSON object, "
	    "written out at once. It runs until Ctrl-C or\nSIGTERM (exit "
	    "status 0: at once while it waits, else after the record\nit is "
	    "printing), a broken chain (1) or a broker gone longer than "
	    "the\nwait and --timeout together (3). --json does not go with "
	    "--follow.\n\n"
	    "  -c, --config FILE   region config (default $KETEN_CONFIG)\n"
	    "  -k, --key FILE      the auditor's key file (default "
	    "$KETEN_KEY)\n"
	    "      --from N        first record to replay (default 1)\n"
	    "      --after HASH    record N-1's hash (64 hex digits)\n"
	    "      --jsonl         one JSON object per record\n"
	    "      --json          the summary as one JSON object\n"
	    "      --follow        go on verifying and printing new records\n"
	    "      --wait SEC      with --follow, how long each request "
	    "waits at the\n"
	    "                      broker, 1 to 60 (default 25)\n"
	    "      --timeout SEC   how long to wait for the broker (default "
	    "10)\n"
	    "  -h, --help          this text\n",
	    f);
}

/* 64 hex digits into 32 bytes: 0, or -1 if it is anything else. */
static int
parse_hash(uint8_t out[32], const char *hex)
{
	if (strlen(hex) != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
		    !isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]))
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static void
hex_field(FILE *f, const char *name, const uint8_t *bin, size_t len)
{
	char hex[2 * 32 + 1];

	keten_hex(hex, bin, len);
	fprintf(f, ",\"%s\":\"%s\"", name, hex);
}

/* One verified record as a JSON Lines row. A reader that goes away
 * (| head) ends the process by SIGPIPE, as for any filter. */
static int
print_record(void *arg, const struct keten_record *r)
{
	FILE *f = arg;
	char t1[32], t2[32];

	cli_time(t1, r->received_at_us);
	cli_time(t2, r->sent_at_us);
	fprintf(f,
	        "{\"seq\":%" PRIu64 ",\"received_at\":\"%s\","
	        "\"received_at_us\":%lld,\"sent_at\":\"%s\"",
	        r->seq, t1, (long long)r->received_at_us, t2);
	hex_field(f, "record_hash", r->record_hash, 32);
	hex_field(f, "prev_hash", r->prev_hash, 32);
	fprintf(f, ",\"type\":\"%s\",\"sender\":",
	        keten_message_type_name(r->type));
	json_str(f, r->sender);
	fputs(",\"recipient\":", f);
	if (r->recipient[0])
		json_str(f, r->recipient);
	else
		fputs("null", f);
	hex_field(f, "case", r->case_id, 16);
	hex_field(f, "message_id", r->message_id, 16);
	fputs(",\"signature\":\"ok\"}\n", f);
	return ferror(f) ? KETEN_E_IO : 0; /* e.g. a full disk */
}

/* One verified record as a line, for a person following the log. */
static void
put_record(FILE *f, const struct keten_record *r)
{
	char t[32], hex[33];

	cli_time(t, r->received_at_us);
	keten_hex(hex, r->case_id, sizeof(r->case_id));
	fprintf(f, "#%" PRIu64 " %s %s ", r->seq, t,
	        keten_message_type_name(r->type));
	cli_put_text(f, r->sender);
	fputs(" -> ", f);
	if (r->recipient[0])
		cli_put_text(f, r->recipient);
	else
		fputs("all parties", f);
	fprintf(f, ", case %s\n", hex);
}

/* What follow_record returns when a stop was asked: not a keten code. */
#define FOLLOW_STOPPED (-1)

struct follow {
	FILE *f;
	int jsonl;
};

/* --follow: each record written out at once, and the follow stopped
 * after it if SIGINT or SIGTERM came meanwhile (cli_stop.c: while the
 * library waits for the next record, the signal ends the process). */
static int
follow_record(void *arg, const struct keten_record *r)
{
	const struct follow *fo = arg;
	int rc = 0;

	cli_stop_busy(1);
	if (fo->jsonl)
		rc = print_record(fo->f, r);
	else
		put_record(fo->f, r);
	if (fflush(fo->f) != 0 || ferror(fo->f))
		rc = KETEN_E_IO;
	cli_stop_busy(0);
	if (rc == 0 && cli_stop_asked())
		rc = FOLLOW_STOPPED;
	return rc;
}

static int
audit_replay(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"from", required_argument, NULL, 'F'},
	    {"after", required_argument, NULL, 'P'},
	    {"jsonl", no_argument, NULL, 'L'},
	    {"follow", no_argument, NULL, 'f'},
	    {"wait", required_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_client *c;
	struct keten_audit a;
	struct keten_error err;
	struct follow fo = {.f = stdout};
	unsigned long long from = 1;
	uint8_t after[32];
	char head[65], *end;
	long wait_s = 0;
	int ch, rc, jsonl = 0, have_after = 0, follow = 0;

	cli_common_defaults(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'F':
			errno = 0;
			from = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || from == 0) {
				fprintf(stderr,
				        "keten audit replay: --from takes a "
				        "record number of 1 or more, not "
				        "'%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'P':
			if (parse_hash(after, optarg) != 0) {
				fprintf(stderr,
				        "keten audit replay: --after takes a "
				        "record hash of 64 hex digits\n");
				return EXIT_USAGE;
			}
			have_after = 1;
			break;
		case 'L':
			jsonl = 1;
			break;
		case 'f':
			follow = 1;
			break;
		case 'W':
			errno = 0;
			wait_s = strtol(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' ||
			    optarg[0] > '9' || wait_s < 1 ||
			    wait_s > KETEN_WAIT_MAX_MS / 1000) {
				fprintf(stderr,
				        "keten audit replay: --wait takes 1 to "
				        "%d seconds, not '%s'\n",
				        KETEN_WAIT_MAX_MS / 1000, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			replay_help(stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr,
		        "keten audit replay: unexpected argument '%s'; the "
		        "log comes from the broker\n",
		        argv[optind]);
		return EXIT_USAGE;
	}
	if (have_after && from < 2) {
		fprintf(stderr,
		        "keten audit replay: --after needs --from 2 or "
		        "more (record 1 links to the region's genesis)\n");
		return EXIT_USAGE;
	}
	if (jsonl && o.json) {
		fprintf(stderr, "keten audit replay: --jsonl or --json, not "
		                "both\n");
		return EXIT_USAGE;
	}
	if (follow && o.json) {
		fprintf(stderr,
		        "keten audit replay: --follow prints record by record: "
		        "use --jsonl, not --json\n");
		return EXIT_USAGE;
	}
	if (wait_s && !follow) {
		fprintf(stderr, "keten audit replay: --wait goes with "
		                "--follow\n");
		return EXIT_USAGE;
	}
	c = cli_connect(&o); /* exits if it cannot */
	if (follow) {
		fo.jsonl = jsonl;
		cli_stop_install();
		rc = keten_audit_follow(&a, c, from, have_after ? after : NULL,
		                        (int)(wait_s ? wait_s : 25) * 1000,
		                        follow_record, &fo, &err);
	} else {
		rc = keten_audit_replay(&a, c, from, have_after ? after : NULL,
		                        jsonl ? print_record : NULL, stdout,
		                        &err);
	}
	keten_client_destroy(&c);
	if (rc == FOLLOW_STOPPED)
		return EXIT_OK;
	if (follow && rc == KETEN_E_IO) {
		fprintf(stderr,
		        "keten audit replay: cannot write the output\n");
		return EXIT_USAGE;
	}
	if (rc == KETEN_E_CHAIN) {
		fflush(stdout);
		fprintf(stderr,
		        "keten audit replay: FAILED at record %" PRIu64 ": ",
		        a.bad_seq);
		cli_put_text(stderr, err.message);
		fputc('\n', stderr);
		return EXIT_REFUSED;
	}
	if (rc != KETEN_OK)
		return cli_fail("audit replay", &err);
	keten_hex(head, a.head_hash, 32);
	if (o.json)
		printf("{\"ok\":true,\"from\":%llu,\"records\":%" PRIu64
		       ",\"head_seq\":%" PRIu64 ",\"head_hash\":\"%s\"}\n",
		       from, a.records, a.head_seq, head);
	else if (!jsonl && a.records == 0)
		printf("ok: nothing after record %llu to replay\nhead %" PRIu64
		       " %s\n",
		       from - 1, a.head_seq, head);
	else if (!jsonl)
		printf("ok: %" PRIu64 " records replayed from the broker and "
		       "verified (from record %llu)\nhead %" PRIu64 " %s\n",
		       a.records, from, a.head_seq, head);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr,
		        "keten audit replay: cannot write the output\n");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static void
access_help(FILE *f)
{
	fputs("usage: keten audit access [--config FILE] [--jsonl | --json]\n"
	      "                          DATADIR\n\n"
	      "Verifies and prints the broker's access log (NEN 7513): one\n"
	      "entry per read that disclosed records or case state, accounted\n"
	      "by the broker before the reply left: when, who, what kind of\n"
	      "read (fetch: a delivery to an agency; replay: an auditor read\n"
	      "the log; case; cases) and which records. Opens the data\n"
	      "directory read-only (safe while the broker runs, or on a copy)\n"
	      "and checks that the entries are numbered without a gap, each\n"
	      "linked by hash to the one before, and that the stored access\n"
	      "head is the last. Exit status 0 if it verifies, 1 if not (the\n"
	      "first bad entry is named), 2 if it cannot be read.\n\n"
	      "  -c, --config FILE   region config (default $KETEN_CONFIG)\n"
	      "      --jsonl         one JSON object per entry, nothing else\n"
	      "      --json          only the summary, as one JSON object\n"
	      "  -h, --help          this text\n",
	      f);
}

static int
print_access(void *arg, const struct keten_access *a)
{
	const int *jsonl = arg;
	char t[32], c[2 * KETEN_CASE_ID_LEN + 1], h[2 * KETEN_HASH_LEN + 1];

	cli_time(t, a->at_us);
	keten_hex(c, a->case_id, KETEN_CASE_ID_LEN);
	keten_hex(h, a->entry_hash, KETEN_HASH_LEN);
	if (*jsonl) {
		printf("{\"seq\":%" PRIu64 ",\"at\":\"%s\",\"at_us\":%lld,"
		       "\"kind\":\"%s\",\"agency\":",
		       a->seq, t, (long long)a->at_us, a->kind);
		json_str(stdout, a->agency);
		printf(",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64
		       ",\"count\":%u,\"case\":",
		       a->first_seq, a->last_seq, a->count);
		if (a->has_case)
			printf("\"%s\"", c);
		else
			fputs("null", stdout);
		printf(",\"entry_hash\":\"%s\"}\n", h);
	} else {
		printf("#%" PRIu64 " %s %-8s ", a->seq, t, a->kind);
		cli_put_text(stdout, a->agency);
		if (a->count == 0)
			fputs(" nothing", stdout);
		else if (strcmp(a->kind, "cases") == 0)
			printf(" %u cases", a->count);
		else
			printf(" records %" PRIu64 "-%" PRIu64 " (%u)",
			       a->first_seq, a->last_seq, a->count);
		if (a->has_case)
			printf(", case %s", c);
		putchar('\n');
	}
	return ferror(stdout) ? KETEN_E_IO : 0;
}

static int
audit_access(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"jsonl", no_argument, NULL, 'J'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_audit a;
	struct keten_error err;
	char head[2 * KETEN_HASH_LEN + 1];
	int ch, rc, jsonl = 0;

	cli_common_defaults(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		if (ch == 'J') {
			jsonl = 1;
		} else if (ch == 'h') {
			access_help(stdout);
			return EXIT_OK;
		} else {
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || o.config == NULL) {
		fprintf(stderr, "keten audit access: give --config and one "
		                "data directory\n");
		return EXIT_USAGE;
	}
	if (jsonl && o.json) {
		fprintf(stderr, "keten audit access: --jsonl or --json, not "
		                "both\n");
		return EXIT_USAGE;
	}
	rc = keten_audit_access(&a, o.config, argv[optind],
	                        o.json ? NULL : print_access, &jsonl, &err);
	keten_hex(head, a.head_hash, KETEN_HASH_LEN);
	if (o.json) {
		printf("{\"ok\":%s,\"entries\":%" PRIu64
		       ",\"head_seq\":%" PRIu64
		       ",\"head_hash\":\"%s\",\"bad_seq\":%" PRIu64,
		       rc == KETEN_OK ? "true" : "false", a.records, a.head_seq,
		       head, a.bad_seq);
		if (rc != KETEN_OK) {
			fputs(",\"error\":", stdout);
			json_str(stdout, err.message);
		}
		puts("}");
	}
	if (rc == KETEN_E_CHAIN) {
		if (!o.json) {
			fprintf(jsonl ? stderr : stdout,
			        "FAILED at access entry %" PRIu64 ": ",
			        a.bad_seq);
			cli_put_text(jsonl ? stderr : stdout, err.message);
			fputc('\n', jsonl ? stderr : stdout);
		}
		return EXIT_REFUSED;
	}
	if (rc != KETEN_OK)
		return cli_fail("audit access", &err);
	if (!o.json && !jsonl)
		printf("ok: %" PRIu64 " access entries verified\nhead %" PRIu64
		       " %s\n",
		       a.records, a.head_seq, head);
	return EXIT_OK;
}

static void
proof_help(FILE *f)
{
	fputs(
	    "usage: keten audit proof [--config FILE] --seq N [--out FILE]\n"
	    "                         [--stored] DATADIR\n\n"
	    "Verifies the broker's data directory as 'keten audit verify'\n"
	    "does, then writes the offline proof of record N: a\n"
	    "c2sp.org/tlog-proof@v1 bundle holding the record's stored\n"
	    "bytes, its inclusion proof against a signed checkpoint that\n"
	    "holds it and that checkpoint, with every witness cosignature\n"
	    "the directory holds of it. The checkpoint is the newest that\n"
	    "the region's witness_quorum witnesses cosigned, else the\n"
	    "newest any witness cosigned, else the directory's stored\n"
	    "(latest) one; the first line says which. Anyone with the region\n"
	    "config checks it with 'keten audit check-proof', without the\n"
	    "data directory or the broker: the bundle an agency hands to a\n"
	    "court or an inspectorate. Exit status 0 if written, 1 if the\n"
	    "log does not verify, 2 if the directory cannot be read, the\n"
	    "record is not under the checkpoint or FILE cannot be written.\n\n"
	    "  -c, --config FILE   region config (default $KETEN_CONFIG)\n"
	    "      --seq N         the record to prove\n"
	    "      --stored        against the stored checkpoint, cosigned\n"
	    "                      or not\n"
	    "  -o, --out FILE      where to write it (default "
	    "record-N.tlog-proof)\n"
	    "  -h, --help          this text\n",
	    f);
}

/* What a checked bundle proves, for a person. */
static void
put_proven(FILE *f, const struct keten_proven *p)
{
	const struct keten_record *r = &p->record;
	char t[32], hex[65];

	keten_hex(hex, r->case_id, KETEN_CASE_ID_LEN);
	cli_time(t, r->received_at_us);
	fprintf(f, "record %" PRIu64 ": %s ", r->seq,
	        keten_message_type_name(r->type));
	cli_put_text(f, r->sender);
	fputs(" -> ", f);
	if (r->recipient[0])
		cli_put_text(f, r->recipient);
	else
		fputs("all parties", f);
	fprintf(f, ", case %s, received %s\n", hex, t);
	keten_hex(hex, r->record_hash, KETEN_HASH_LEN);
	fprintf(f, "record hash %s\n", hex);
	keten_hex(hex, p->checkpoint.root, KETEN_HASH_LEN);
	cli_time(t, p->checkpoint.signed_at_us);
	fprintf(f,
	        "in the checkpoint of %" PRIu64
	        " records signed %s by the broker, root %s\n",
	        p->checkpoint.size, t, hex);
	if (p->n_cosigners == 0) {
		fputs("cosigned by no witness the region config names\n", f);
		return;
	}
	fputs("cosigned by", f);
	for (size_t i = 0; i < p->n_cosigners; i++) {
		fputs(i ? ", " : " ", f);
		cli_put_text(f, p->cosigners[i]);
	}
	fputc('\n', f);
}

/* Which checkpoint the bundle was made against, for the "wrote" line. */
static const char *
proof_source(enum keten_proof_source src, bool stored)
{
	switch (src) {
	case KETEN_PROOF_QUORUM:
		return "the newest checkpoint the witness quorum cosigned";
	case KETEN_PROOF_COSIGNED:
		return "the newest cosigned checkpoint (none that holds the "
		       "record reaches the witness quorum)";
	default:
		return stored ? "the stored checkpoint, as asked"
		              : "the stored checkpoint (no witness cosigned "
		                "one that holds the record)";
	}
}

static int
audit_proof(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"seq", required_argument, NULL, 'S'},
	    {"out", required_argument, NULL, 'o'},
	    {"stored", no_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_proven p;
	enum keten_proof_source src;
	bool stored = false;
	struct keten_error err;
	unsigned long long seq = 0;
	char def[64], *bundle, *end;
	const char *out = NULL;
	size_t len;
	int ch, rc;

	cli_common_defaults(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "o:h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'S':
			errno = 0;
			seq = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' ||
			    optarg[0] > '9' || seq == 0) {
				fprintf(stderr,
				        "keten audit proof: --seq takes a "
				        "record number of 1 or more, not "
				        "'%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 'W':
			stored = true;
			break;
		case 'h':
			proof_help(stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || o.config == NULL || seq == 0) {
		fprintf(stderr, "keten audit proof: give --config, --seq N "
		                "and one data directory\n");
		return EXIT_USAGE;
	}
	if (out == NULL) {
		snprintf(def, sizeof(def), "record-%llu.tlog-proof", seq);
		out = def;
	}
	rc = keten_audit_proof(&bundle, &len, &src, o.config, argv[optind], seq,
	                       stored, &err);
	if (rc == KETEN_E_CHAIN) {
		fputs("FAILED: ", stdout);
		cli_put_text(stdout, err.message);
		putchar('\n');
		return EXIT_REFUSED;
	}
	if (rc != KETEN_OK)
		return cli_fail("audit proof", &err);
	/* Checked before it was handed out; again here for what it says. */
	rc = keten_proof_bundle_check(&p, o.config, bundle, len, &err);
	/* Replaced whole or left as it was; a link at out is not
	 * followed. */
	if (rc == KETEN_OK)
		rc = keten_proof_bundle_save(out, bundle, len, &err);
	free(bundle);
	if (rc != KETEN_OK)
		return cli_fail("audit proof", &err);
	printf("wrote %s, against %s\n", out, proof_source(src, stored));
	put_proven(stdout, &p);
	return EXIT_OK;
}

static void
check_proof_help(FILE *f)
{
	fputs("usage: keten audit check-proof [--config FILE] [--json] FILE\n\n"
	      "Checks an offline proof of one record (a .tlog-proof file, as\n"
	      "'keten audit proof' writes it) with nothing but the region\n"
	      "config: no data directory, no broker. It recomputes the\n"
	      "record's hash from its bytes, follows the inclusion proof to\n"
	      "the checkpoint's root, checks the checkpoint's signature\n"
	      "against the broker key and the record's envelope signature\n"
	      "against its sender's key in the config, and prints what it\n"
	      "proves: the record number, type, sender and recipient, case,\n"
	      "received time, the checkpoint's size and the witnesses that\n"
	      "cosigned it. Exit status 0 if the proof holds, 1 if not (with\n"
	      "a sentence naming what failed), 2 if FILE or the config cannot\n"
	      "be read.\n\n"
	      "  -c, --config FILE   region config (default $KETEN_CONFIG)\n"
	      "      --json          machine-readable output\n"
	      "  -h, --help          this text\n",
	      f);
}

/* A bundle of size bytes (-1: more than the limit) is too large. */
static int
error_too_large(struct keten_error *err, long long size)
{
	err->code = KETEN_E_RECEIPT;
	if (size < 0)
		snprintf(err->message, sizeof(err->message),
		         "it has more than the %u bytes a proof bundle may "
		         "have",
		         KETEN_PROOF_BUNDLE_MAX);
	else
		snprintf(err->message, sizeof(err->message),
		         "it has %lld bytes, more than the %u a proof bundle "
		         "may have",
		         size, KETEN_PROOF_BUNDLE_MAX);
	return KETEN_E_RECEIPT;
}

/*
 * Reads the bundle at path into *buf (malloc'd, the caller frees) and
 * *len. A regular file is read to its size and one byte more, so one that
 * grew or shrank meanwhile is caught; anything else (a pipe, /dev/stdin)
 * has no size to trust and is read up to the limit and one byte more.
 * KETEN_E_RECEIPT if it is larger than a bundle may be (checked first, so
 * a large file fails as such, not read in part and misjudged); KETEN_E_IO
 * with err saying why it cannot be read.
 */
static int
read_bundle(char **buf, size_t *len, const char *path, struct keten_error *err)
{
	struct stat st;
	size_t cap = KETEN_PROOF_BUNDLE_MAX;
	bool regular;
	FILE *f;
	int rc = KETEN_OK;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) != 0) {
		err->code = KETEN_E_IO;
		snprintf(err->message, sizeof(err->message), "%s",
		         strerror(errno));
		if (f != NULL)
			fclose(f);
		return KETEN_E_IO;
	}
	regular = S_ISREG(st.st_mode);
	if (regular && st.st_size <= (off_t)KETEN_PROOF_BUNDLE_MAX)
		cap = (size_t)st.st_size;
	if (regular && st.st_size > (off_t)KETEN_PROOF_BUNDLE_MAX) {
		fclose(f);
		return error_too_large(err, (long long)st.st_size);
	}
	if ((*buf = malloc(cap + 1)) == NULL) {
		fclose(f);
		err->code = KETEN_E_NOMEM;
		snprintf(err->message, sizeof(err->message), "out of memory");
		return KETEN_E_NOMEM;
	}
	*len = fread(*buf, 1, cap + 1, f);
	if (ferror(f)) {
		err->code = rc = KETEN_E_IO;
		snprintf(err->message, sizeof(err->message), "%s",
		         strerror(errno));
	} else if (regular && *len != cap) {
		err->code = rc = KETEN_E_IO;
		if (*len > cap)
			snprintf(err->message, sizeof(err->message),
			         "it changed while being read (it had %zu "
			         "bytes, then more)",
			         cap);
		else
			snprintf(err->message, sizeof(err->message),
			         "it changed while being read (it had %zu "
			         "bytes, then %zu)",
			         cap, *len);
	} else if (*len > cap) {
		rc = error_too_large(err, -1);
	}
	fclose(f);
	if (rc != KETEN_OK) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

static int
audit_check_proof(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_proven p;
	struct keten_error err;
	char *buf, hex[65];
	size_t len;
	int ch, rc;

	cli_common_defaults(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		if (ch == 'h') {
			check_proof_help(stdout);
			return EXIT_OK;
		}
		return EXIT_USAGE;
	}
	if (optind + 1 != argc || o.config == NULL) {
		fprintf(stderr, "keten audit check-proof: give --config and "
		                "one .tlog-proof file\n");
		return EXIT_USAGE;
	}
	if ((rc = read_bundle(&buf, &len, argv[optind], &err)) == KETEN_OK) {
		rc = keten_proof_bundle_check(&p, o.config, buf, len, &err);
		free(buf);
	} else if (rc != KETEN_E_RECEIPT) {
		fprintf(stderr, "keten audit check-proof: cannot read %s: %s\n",
		        argv[optind], err.message);
		return EXIT_USAGE;
	}
	if (o.json && (rc == KETEN_OK || rc == KETEN_E_RECEIPT)) {
		printf("{\"ok\":%s", rc == KETEN_OK ? "true" : "false");
		if (rc != KETEN_OK) {
			fputs(",\"error\":", stdout);
			json_str(stdout, err.message);
			puts("}");
			return EXIT_REFUSED;
		}
		printf(",\"seq\":%" PRIu64 ",\"type\":\"%s\",\"sender\":",
		       p.record.seq, keten_message_type_name(p.record.type));
		json_str(stdout, p.record.sender);
		fputs(",\"recipient\":", stdout);
		if (p.record.recipient[0])
			json_str(stdout, p.record.recipient);
		else
			fputs("null", stdout);
		hex_field(stdout, "case", p.record.case_id, KETEN_CASE_ID_LEN);
		cli_time(hex, p.record.received_at_us);
		printf(",\"received_at\":\"%s\"", hex);
		hex_field(stdout, "record_hash", p.record.record_hash, 32);
		keten_hex(hex, p.checkpoint.root, 32);
		printf(",\"checkpoint\":{\"size\":%" PRIu64
		       ",\"root\":\"%s\",\"signed_at_us\":%" PRId64
		       "},\"cosigners\":[",
		       p.checkpoint.size, hex, p.checkpoint.signed_at_us);
		for (size_t i = 0; i < p.n_cosigners; i++) {
			if (i)
				putchar(',');
			json_str(stdout, p.cosigners[i]);
		}
		puts("]}");
		return EXIT_OK;
	}
	if (rc == KETEN_E_RECEIPT) {
		printf("FAILED: %s does not prove a record: ", argv[optind]);
		cli_put_text(stdout, err.message);
		putchar('\n');
		return EXIT_REFUSED;
	}
	if (rc != KETEN_OK)
		return cli_fail("audit check-proof", &err);
	printf("ok: the proof holds\n");
	put_proven(stdout, &p);
	return EXIT_OK;
}

/* The newest checkpoint a witness cosigned, for the line that says the
 * end cannot be vouched for offline: a witness's own state file holds it
 * too, and with --checkpoint proves any later cut. */
static void
put_held_checkpoint(const struct keten_audit *a)
{
	const struct keten_cosigned *best = NULL;
	char root[65], when[32];

	for (size_t i = 0; i < a->n_cosigned; i++)
		if (best == NULL ||
		    a->cosigned[i].checkpoint.size > best->checkpoint.size)
			best = &a->cosigned[i];
	if (best == NULL) {
		puts("newest cosigned checkpoint held: none (no witness has "
		     "cosigned one)");
		return;
	}
	keten_hex(root, best->checkpoint.root, 32);
	cli_time(when, best->checkpoint.signed_at_us);
	printf("newest cosigned checkpoint held: %" PRIu64
	       " records, signed %s by the broker, root %s, cosigned by",
	       best->checkpoint.size, when, root);
	for (size_t i = 0, n = 0; i < a->n_cosigned; i++)
		if (a->cosigned[i].checkpoint.size == best->checkpoint.size) {
			fputs(n++ ? ", " : " ", stdout);
			cli_put_text(stdout, a->cosigned[i].witness);
		}
	putchar('\n');
}

/* One line per witness's cosigned checkpoint, then the quorum. */
static void
put_cosigned(const struct keten_audit *a)
{
	char signed_at[32], at[32];

	for (size_t i = 0; i < a->n_cosigned; i++) {
		const struct keten_cosigned *w = &a->cosigned[i];
		cli_time(signed_at, w->checkpoint.signed_at_us);
		cli_time(at, w->cosigned_at_us);
		printf("cosigned: checkpoint of %" PRIu64
		       " records (signed %s) by ",
		       w->checkpoint.size, signed_at);
		cli_put_text(stdout, w->witness);
		printf(" at %s: the log extends it\n", at);
	}
	if (a->n_unnamed > 0)
		printf("%zu cosignatures by witnesses the region config does "
		       "not name: not checked\n",
		       a->n_unnamed);
	if (a->n_witnesses == 0)
		puts("quorum: the region config names no witnesses");
	else if (a->has_quorum)
		printf("quorum: %u of %zu witnesses cosigned the log up to "
		       "%" PRIu64 " records or beyond\n",
		       a->witness_quorum, a->n_witnesses, a->quorum_size);
	else
		printf("quorum: not reached: %zu of %zu witnesses cosigned, "
		       "%u needed\n",
		       a->n_cosigned, a->n_witnesses, a->witness_quorum);
}

/* The JSON fields of put_cosigned. */
static void
cosigned_json(const struct keten_audit *a)
{
	char root[65];

	fputs(",\"cosigned\":[", stdout);
	for (size_t i = 0; i < a->n_cosigned; i++) {
		const struct keten_cosigned *w = &a->cosigned[i];
		keten_hex(root, w->checkpoint.root, 32);
		fputs(i ? ",{\"witness\":" : "{\"witness\":", stdout);
		json_str(stdout, w->witness);
		printf(",\"size\":%" PRIu64
		       ",\"root\":\"%s\",\"signed_at_us\":%" PRId64
		       ",\"cosigned_at_us\":%" PRId64 "}",
		       w->checkpoint.size, root, w->checkpoint.signed_at_us,
		       w->cosigned_at_us);
	}
	printf("],\"unnamed_cosignatures\":%zu,\"witnesses\":%zu,"
	       "\"witness_quorum\":%u,\"quorum_size\":",
	       a->n_unnamed, a->n_witnesses, a->witness_quorum);
	if (a->has_quorum)
		printf("%" PRIu64, a->quorum_size);
	else
		fputs("null", stdout);
}

/* The config words of keten_kind (docs/PROTOCOL.md 22.1). */
static const char *
kind_word(enum keten_kind k)
{
	static const char *const word[] = {
	    [KETEN_KIND_LOCAL_TEAM] = "local_team",
	    [KETEN_KIND_VEILIG_THUIS] = "veilig_thuis",
	    [KETEN_KIND_GI] = "gi",
	    [KETEN_KIND_RAAD] = "raad",
	    [KETEN_KIND_AUDITOR] = "auditor",
	};

	return (size_t)k < sizeof(word) / sizeof(word[0]) && word[k] ? word[k]
	                                                             : "?";
}

/* The roster history the chain recorded, one line per change, then the
 * records to review (docs/keten.md, "audit output grammar"). */
static void
put_roster(const struct keten_audit_roster *r)
{
	static const char *const verb[] = {
	    [1] = "join",  [2] = "rotate", [3] = "revoke",     [4] = "rekey",
	    [5] = "leave", [6] = "rename", [7] = "broker key",
	};
	char when[32];

	if (r->none)
		puts("roster: none recorded (a log of storage schema 5): its "
		     "records were verified with the region config's "
		     "agencies");
	for (size_t i = 0; i < r->n_changes; i++) {
		const struct keten_roster_change *c = &r->changes[i];
		printf("roster: record %" PRIu64 ": %s", c->seq,
		       c->action < 8 && verb[c->action] ? verb[c->action]
		                                        : "?");
		if (c->agency[0] != '\0') {
			putchar(' ');
			cli_put_text(stdout, c->agency);
		}
		if (c->action == 1)
			printf(" (%s)", kind_word(c->kind));
		if (c->action == 6) {
			fputs(" to \"", stdout);
			cli_put_text(stdout, c->name);
			putchar('"');
		}
		if (c->sign_key[0] != '\0')
			printf(c->action == 7 ? " %s" : " sign %s",
			       c->sign_key);
		if (c->action == 3) {
			cli_time(when, c->compromised_at_us);
			printf(" since %s (", when);
			cli_put_text(stdout, c->reason);
			putchar(')');
		}
		putchar('\n');
	}
	for (size_t i = 0; i < r->n_review; i++) {
		const struct keten_review *v = &r->review[i];
		cli_time(when, v->received_at_us);
		printf("review: record %" PRIu64 " signed by ", v->seq);
		cli_put_text(stdout, v->signer);
		printf(" at %s, after its key's stated compromise (", when);
		cli_put_text(stdout, v->reason);
		puts(")");
	}
	if (r->n_review_all > r->n_review)
		printf("review: %" PRIu64 " more records signed after a stated "
		       "compromise, not listed\n",
		       r->n_review_all - r->n_review);
}

/* The JSON fields of put_roster. */
static void
roster_json(const struct keten_audit_roster *r)
{
	printf(",\"roster_none\":%s,\"roster\":[", r->none ? "true" : "false");
	for (size_t i = 0; i < r->n_changes; i++) {
		const struct keten_roster_change *c = &r->changes[i];
		printf("%s{\"seq\":%" PRIu64 ",\"action\":%u,\"agency\":",
		       i ? "," : "", c->seq, c->action);
		json_str(stdout, c->agency);
		printf(",\"kind\":\"%s\",\"name\":", kind_word(c->kind));
		json_str(stdout, c->name);
		printf(",\"sign_key\":\"%s\",\"compromised_at_us\":%" PRId64
		       ",\"reason\":",
		       c->sign_key, c->compromised_at_us);
		json_str(stdout, c->reason);
		putchar('}');
	}
	fputs("],\"review\":[", stdout);
	for (size_t i = 0; i < r->n_review; i++) {
		const struct keten_review *v = &r->review[i];
		printf("%s{\"seq\":%" PRIu64 ",\"signer\":", i ? "," : "",
		       v->seq);
		json_str(stdout, v->signer);
		printf(",\"received_at_us\":%" PRId64
		       ",\"revoked_seq\":%" PRIu64
		       ",\"compromised_at_us\":%" PRId64 ",\"reason\":",
		       v->received_at_us, v->revoked_seq, v->compromised_at_us);
		json_str(stdout, v->reason);
		putchar('}');
	}
	printf("],\"review_all\":%" PRIu64, r->n_review_all);
}

static const char *const anchor_word[] = {
    [KETEN_ANCHOR_NONE] = "none",
    [KETEN_ANCHOR_OK] = "extends",
    [KETEN_ANCHOR_SHORTER] = "shorter",
    [KETEN_ANCHOR_DIFFERS] = "differs",
};

static void
verify_json(const struct keten_audit *a, const struct keten_audit_roster *r,
            int rc, const struct keten_error *err, const char *anchor_file)
{
	char head[65], root[65];

	keten_hex(head, a->head_hash, 32);
	printf("{\"ok\":%s,\"records\":%" PRIu64 ",\"cases\":%" PRIu64
	       ",\"head_seq\":%" PRIu64
	       ",\"head_hash\":\"%s\",\"bad_seq\":%" PRIu64,
	       rc == KETEN_OK ? "true" : "false", a->records, a->cases,
	       a->head_seq, head, a->bad_seq);
	if (a->has_checkpoint) {
		keten_hex(root, a->checkpoint.root, 32);
		printf(",\"checkpoint\":{\"size\":%" PRIu64
		       ",\"root\":\"%s\",\"signed_at_us\":%" PRId64 "}",
		       a->checkpoint.size, root, a->checkpoint.signed_at_us);
	}
	if (a->has_anchor) {
		keten_hex(root, a->anchor.root, 32);
		fputs(",\"outside_checkpoint\":{\"file\":", stdout);
		json_str(stdout, anchor_file);
		printf(",\"size\":%" PRIu64
		       ",\"root\":\"%s\",\"signed_at_us\":%" PRId64
		       ",\"status\":\"%s\"}",
		       a->anchor.size, root, a->anchor.signed_at_us,
		       anchor_word[a->anchor_status]);
	}
	cosigned_json(a);
	roster_json(r);
	printf(",\"end_vouched\":%s",
	       a->anchor_status == KETEN_ANCHOR_OK ? "true" : "false");
	if (rc != KETEN_OK) {
		fputs(",\"error\":", stdout);
		json_str(stdout, err->message);
	}
	puts("}");
}

/* audit verify's text (the JSON is out already): its exit status. */
static int
verify_print(const struct cli_common *o, const struct keten_audit *ap,
             const struct keten_audit_roster *r, int rc,
             struct keten_error *errp, const char *anchor, const char *save)
{
	struct keten_audit a = *ap;
	struct keten_error err = *errp;
	char head[65];

	if (rc == KETEN_E_CHAIN) {
		if (o->json)
			return EXIT_REFUSED;
		if (a.anchor_status == KETEN_ANCHOR_SHORTER ||
		    a.anchor_status == KETEN_ANCHOR_DIFFERS)
			printf("FAILED against %s: ", anchor);
		else if (a.bad_seq != 0) /* else the file, not a record */
			printf("FAILED at record %" PRIu64 ": ", a.bad_seq);
		else
			fputs("FAILED: ", stdout);
		cli_put_text(stdout, err.message);
		putchar('\n');
		return EXIT_REFUSED;
	}
	if (rc != KETEN_OK)
		return cli_fail("audit verify", &err);
	if (save != NULL && (rc = keten_audit_save_checkpoint(
	                         &a, o->config, save, &err)) != KETEN_OK)
		return cli_fail("audit verify", &err);
	if (o->json)
		return EXIT_OK;
	keten_hex(head, a.head_hash, 32);
	printf("ok: %" PRIu64 " records verified, %" PRIu64
	       " cases replayed by the case rules\nhead %" PRIu64 " %s\n",
	       a.records, a.cases, a.head_seq, head);
	if (a.has_checkpoint) {
		char root[65], when[32];
		keten_hex(root, a.checkpoint.root, 32);
		cli_time(when, a.checkpoint.signed_at_us);
		printf("checkpoint %" PRIu64 " signed %s by the broker, "
		       "root %s: matches\n",
		       a.checkpoint.size, when, root);
	} else if (a.records > 0) {
		/* A live broker always stores one: its absence is damage, or
		 * a history rewritten by someone who could not sign one. */
		puts("warning: the directory holds records but no signed "
		     "checkpoint; nothing the broker signed vouches for this "
		     "log: hold it to a checkpoint kept elsewhere "
		     "(--checkpoint FILE, a witness's)");
	}
	put_cosigned(&a);
	if (a.has_anchor) {
		char when[32];
		cli_time(when, a.anchor.signed_at_us);
		printf("extends the checkpoint of %" PRIu64
		       " records signed %s in %s: nothing was cut from the "
		       "end since\n",
		       a.anchor.size, when, anchor);
	} else {
		puts("truncation of the end cannot be ruled out offline: "
		     "give --checkpoint FILE with a checkpoint kept outside "
		     "this directory");
		put_held_checkpoint(&a);
	}
	if (save != NULL)
		printf("saved the checkpoint of %" PRIu64 " records to %s\n",
		       a.checkpoint.size, save);
	put_roster(r);
	return EXIT_OK;
}

static int
audit_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"checkpoint", required_argument, NULL, 'C'},
	    {"save-checkpoint", required_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_audit a;
	struct keten_audit_roster r;
	struct keten_error err;
	const char *anchor = NULL, *save = NULL;
	int ch, rc;

	cli_common_defaults(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'C':
			anchor = optarg;
			break;
		case 'W':
			save = optarg;
			break;
		case 'h':
			help(stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || o.config == NULL) {
		fprintf(stderr, "keten audit verify: give --config and one "
		                "data directory\n");
		return EXIT_USAGE;
	}
	rc = keten_audit_verify_roster(&a, &r, o.config, argv[optind], anchor,
	                               &err);
	if (o.json)
		verify_json(&a, &r, rc, &err, anchor);
	rc = verify_print(&o, &a, &r, rc, &err, anchor, save);
	keten_audit_roster_free(&r);
	return rc;
}

/* The audit verbs: the dispatch and both help texts read this table. */
static const struct {
	const char *verb;
	int (*fn)(int, char **);
	const char *summary;
} audit_verbs[] = {
    {"verify", audit_verify,
     "verify a data directory offline, record by record"},
    {"cases", audit_cases, "replay a data directory's cases by the case rules"},
    {"access", audit_access, "verify and list the access log (NEN 7513)"},
    {"replay", audit_replay, "replay the log from the broker (--follow)"},
    {"proof", audit_proof, "write one record's offline proof bundle"},
    {"check-proof", audit_check_proof, "check a proof bundle offline"},
};
#define N_AUDIT_VERBS (sizeof(audit_verbs) / sizeof(audit_verbs[0]))

void
cli_audit_verbs(FILE *f, const char *indent)
{
	for (size_t i = 0; i < N_AUDIT_VERBS; i++)
		fprintf(f, "%saudit %-12s %s\n", indent, audit_verbs[i].verb,
		        audit_verbs[i].summary);
}

static void
audit_usage(FILE *f)
{
	fputs("usage: keten audit VERB [OPTIONS] ...\n\n"
	      "The auditor's verbs: offline on a copy of the broker's data\n"
	      "directory (or beside the running broker), or replaying the\n"
	      "log from the broker.\n\nVerbs:\n",
	      f);
	cli_audit_verbs(f, "  ");
	fputs("\n'keten audit VERB --help' describes each verb.\n", f);
}

int
cmd_audit(int argc, char **argv)
{
	for (size_t i = 0; argc >= 2 && i < N_AUDIT_VERBS; i++)
		if (strcmp(argv[1], audit_verbs[i].verb) == 0)
			return audit_verbs[i].fn(argc - 1, argv + 1);
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		audit_usage(stdout);
		return EXIT_OK;
	}
	if (argc >= 2)
		fprintf(stderr, "keten audit: unknown verb '%s'\n", argv[1]);
	audit_usage(stderr);
	return EXIT_USAGE;
}
