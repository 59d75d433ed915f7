/* keten audit: the auditor's verbs, offline on a data directory. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void
help(FILE *f)
{
	fputs(
	    "usage: keten audit verify [--config FILE] [--json] DATADIR\n\n"
	    "Opens the broker's LMDB data directory read-only (safe while the\n"
	    "broker runs, or on a copy), recomputes every record hash and\n"
	    "link, checks every envelope signature against the region\n"
	    "config's keys and the broker's recorded head, and prints the\n"
	    "record count and head hash. Any altered byte, removed or\n"
	    "reordered record fails, naming the first bad sequence number.\n"
	    "Exit status 0 if the log verifies, 1 if not, 2 if it cannot be\n"
	    "read.\n\n"
	    "  -c, --config FILE   region config (default $KETEN_CONFIG)\n"
	    "      --json          machine-readable output\n"
	    "  -h, --help          this text\n\n"
	    "See 'keten audit cases --help' for the case replay.\n",
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
	    "-90s)\n"
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
			if (cli_parse_time(&at_us, optarg, cli_now_us()) != 0) {
				fprintf(stderr,
				        "keten audit cases: --at takes an ISO "
				        "8601 UTC time (2026-11-30T17:00:00Z) "
				        "or +DURATION (+2d, +3h, +90s), not "
				        "'%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
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
	overdue = cli_cases_print(cs, n, at_us ? at_us : cli_now_us(), o.json,
	                          overdue_only);
	free(cs);
	return overdue_only && overdue ? EXIT_REFUSED : EXIT_OK;
}

int
cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_audit a;
	struct keten_error err;
	char head[65];
	int ch, rc;

	if (argc >= 2 && strcmp(argv[1], "cases") == 0)
		return audit_cases(argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
		                  strcmp(argv[1], "-h") == 0)) {
			help(stdout);
			return EXIT_OK;
		}
		fprintf(stderr, "keten audit: say 'keten audit verify DATADIR' "
		                "or 'keten audit cases DATADIR'\n");
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	cli_common_defaults(&o);
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		if (ch == 'h') {
			help(stdout);
			return EXIT_OK;
		}
		return EXIT_USAGE;
	}
	if (optind + 1 != argc || o.config == NULL) {
		fprintf(stderr, "keten audit verify: give --config and one "
		                "data directory\n");
		return EXIT_USAGE;
	}
	rc = keten_audit_verify(&a, o.config, argv[optind], &err);
	keten_hex(head, a.head_hash, 32);
	if (o.json) {
		printf("{\"ok\":%s,\"records\":%" PRIu64 ",\"cases\":%" PRIu64
		       ",\"head_seq\":%" PRIu64
		       ",\"head_hash\":\"%s\",\"bad_seq\":%" PRIu64,
		       rc == KETEN_OK ? "true" : "false", a.records, a.cases,
		       a.head_seq, head, a.bad_seq);
		if (rc != KETEN_OK) {
			fputs(",\"error\":", stdout);
			json_str(stdout, err.message);
		}
		puts("}");
	}
	if (rc == KETEN_E_CHAIN) {
		if (!o.json) {
			printf("FAILED at record %" PRIu64 ": ", a.bad_seq);
			cli_put_text(stdout, err.message);
			putchar('\n');
		}
		return EXIT_REFUSED;
	}
	if (rc != KETEN_OK)
		return cli_fail("audit verify", &err);
	if (!o.json)
		printf("ok: %" PRIu64 " records verified, %" PRIu64
		       " cases replayed by the case rules\nhead %" PRIu64
		       " %s\n",
		       a.records, a.cases, a.head_seq, head);
	return EXIT_OK;
}
