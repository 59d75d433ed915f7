/* keten ping: is the broker there, and who does it take us for. */
#include <getopt.h>
#include <inttypes.h>

#include "cli.h"

int
cmd_ping(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_client *c;
	struct keten_error err;
	uint64_t head;
	int ch, rc;

	cli_common_defaults(&o);
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		if (ch == 'h') {
			fputs("usage: keten ping [OPTIONS]\n\nConnects to the "
			      "broker, checks that it authenticates us as our\n"
			      "agency and prints the length of its "
			      "log.\n\n" CLI_COMMON_HELP,
			      stdout);
			return EXIT_OK;
		}
		return EXIT_USAGE;
	}
	c = cli_connect(&o);
	rc = keten_ping(c, &head, &err);
	if (rc == KETEN_OK) {
		if (o.json)
			printf("{\"agency\":\"%s\",\"head_seq\":%" PRIu64 "}\n",
			       keten_client_agency(c), head);
		else
			printf("connected as %s; the log holds %" PRIu64
			       " records\n",
			       keten_client_agency(c), head);
	}
	keten_client_destroy(&c);
	return rc == KETEN_OK ? EXIT_OK : cli_fail("ping", &err);
}
