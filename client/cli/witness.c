/*
 * keten witness: cosign the broker's checkpoints, once or every DURATION.
 * The verification and the state file are libketen's; this only loops and
 * prints. Never goes on after a fork.
 */
#include <getopt.h>
#include <inttypes.h>
#include <time.h>

#include "cli.h"

static void
help(FILE *f)
{
	fputs("usage: keten witness --config FILE --key FILE [--state FILE]\n"
	      "                     [--every DURATION] [--json]\n\n"
	      "Fetches the broker's latest checkpoint and the consistency "
	      "proof\nfrom the one this witness cosigned last, verifies both, "
	      "writes\nthe new checkpoint to the state file (durably, before "
	      "signing)\nand sends the broker its cosignature. A log that is "
	      "not an\nextension of the state file's is a fork: exit 1, and "
	      "keep the\nstate file for the auditor.\n\n"
	      "  -c, --config FILE   region config (default $KETEN_CONFIG)\n"
	      "  -k, --key FILE      the witness key file (keten keygen "
	      "--witness;\n"
	      "                      default $KETEN_KEY)\n"
	      "      --state FILE    the last cosigned checkpoint (default: "
	      "the\n"
	      "                      key file's path + '.checkpoint')\n"
	      "      --every DUR     repeat every DUR (90s, 10m, 1h, ...) "
	      "until\n"
	      "                      SIGINT or SIGTERM\n"
	      "      --timeout SEC   how long to wait for the broker (default "
	      "10)\n"
	      "      --json          one JSON object per round\n"
	      "  -h, --help          this text\n",
	      f);
}

static void
print_round(const struct keten_witness_round *r, int json)
{
	char when[32];

	cli_time(when, r->signed_at_us);
	if (json) {
		printf("{\"size\":%" PRIu64 ",\"previous\":%" PRIu64
		       ",\"signed_at\":\"%s\",\"stored\":%" PRIu64 "}\n",
		       r->size, r->previous, when, r->stored);
	} else if (r->previous == r->size) {
		printf("cosigned: checkpoint of %" PRIu64
		       " records (signed %s); the log did not grow\n",
		       r->size, when);
	} else {
		printf("cosigned: checkpoint of %" PRIu64
		       " records (signed %s), consistent with %" PRIu64 "\n",
		       r->size, when, r->previous);
	}
	fflush(stdout);
}

/* Sleeps until at_us or a stop; 0, or -1 if a stop was asked. */
static int
wait_until(int64_t at_us)
{
	while (!cli_stop_asked()) {
		int64_t left = at_us - cli_time_now();
		struct timespec ts = {0, 200 * 1000000L};
		if (left <= 0)
			return 0;
		if (left < 200000)
			ts.tv_nsec = (long)left * 1000;
		nanosleep(&ts, NULL);
	}
	return -1;
}

int
cmd_witness(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"every", required_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_witness_round r;
	struct keten_error err;
	const char *every = NULL;
	int64_t next;
	int ch, rc;

	cli_common_defaults(&o);
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		if (ch == 'e')
			every = optarg;
		else if (ch == 'h') {
			help(stdout);
			return EXIT_OK;
		} else {
			help(stderr);
			return EXIT_USAGE;
		}
	}
	if (o.config == NULL || o.key == NULL || optind != argc) {
		fprintf(stderr, "keten witness: --config and --key are "
		                "required\n");
		return EXIT_USAGE;
	}
	if (every != NULL &&
	    keten_duration_add(&next, 0, 1, every, &err) != KETEN_OK) {
		fprintf(stderr, "keten witness: --every: %s\n", err.message);
		return EXIT_USAGE;
	}
	if (every != NULL)
		cli_stop_install();
	for (;;) {
		int64_t start = cli_time_now();

		rc = keten_witness_cosign(&r, o.config, o.key, o.state, &err);
		if (rc == KETEN_OK)
			print_round(&r, o.json);
		else if (every == NULL || rc == KETEN_E_FORKED ||
		         cli_exit_code(rc) == EXIT_USAGE)
			return cli_fail("witness", &err);
		else /* the broker may be back next time */
			(void)cli_fail("witness", &err);
		if (every == NULL)
			return EXIT_OK;
		if (keten_duration_add(&next, start, 1, every, &err) !=
		        KETEN_OK ||
		    wait_until(next) != 0)
			return EXIT_OK;
	}
}
