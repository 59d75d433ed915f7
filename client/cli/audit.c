/* keten audit: the auditor's verbs. */
#include <getopt.h>
#include <inttypes.h>
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
	    "  -h, --help          this text\n",
	    f);
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

	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
		                  strcmp(argv[1], "-h") == 0)) {
			help(stdout);
			return EXIT_OK;
		}
		fprintf(stderr,
		        "keten audit: say 'keten audit verify DATADIR'\n");
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
		printf("{\"ok\":%s,\"records\":%" PRIu64
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
		if (!o.json)
			printf("FAILED at record %" PRIu64 ": %s\n", a.bad_seq,
			       err.message);
		return EXIT_REFUSED;
	}
	if (rc != KETEN_OK)
		return cli_fail("audit verify", &err);
	if (!o.json)
		printf("ok: %" PRIu64 " records verified\nhead %" PRIu64
		       " %s\n",
		       a.records, a.head_seq, head);
	return EXIT_OK;
}
