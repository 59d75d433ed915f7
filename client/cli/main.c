/* keten: verb dispatch and the shared option handling. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "keten_version.h"

static const struct verb {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} verbs[] = {
    {"keygen", cmd_keygen, "create an agency's (or the broker's) keys"},
    {"ping", cmd_ping, "check the connection to the broker"},
    {"send", cmd_send, "send a message (send referral ...)"},
    {"inbox", cmd_inbox, "show messages addressed to this agency"},
    {"ack", cmd_ack, "acknowledge messages up to a sequence number"},
    {"watch", cmd_watch, "follow this agency's inbox live (--ack, --json)"},
    {"cases", cmd_cases, "list this agency's cases (--overdue for monitoring)"},
    {"case", cmd_case, "show one case's verified history (case show CASE)"},
    {"acknowledge", cmd_step, "confirm receipt of a case offered to us"},
    {"accept", cmd_step, "take a case offered to us"},
    {"decline", cmd_step, "refuse a case offered to us, with a reason"},
    {"ask", cmd_step, "ask the holder questions about an offered case"},
    {"handover", cmd_step, "offer a case we hold to another agency"},
    {"answer", cmd_step, "answer questions about our open offer"},
    {"withdraw", cmd_step, "take back our open offer of a case"},
    {"feedback", cmd_step, "tell an earlier referrer how the case goes"},
    {"close", cmd_step, "close a case we hold, with an outcome"},
    {"witness", cmd_witness, "cosign the broker's checkpoints (--every DUR)"},
    {"audit", cmd_audit, "the auditor's verbs:"},
};

static void
usage(FILE *f)
{
	fputs("usage: keten VERB [OPTIONS] ...\n\n"
	      "keten sends and receives signed referrals through a keten "
	      "broker,\nand lets auditors verify its log.\n\nVerbs:\n",
	      f);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].summary);
		if (verbs[i].fn == cmd_audit)
			cli_audit_verbs(f, "    ");
	}
	fputs("\n'keten VERB --help' describes each verb; 'keten --version' "
	      "prints\nthe release, the protocol and the storage schema.\n\n"
	      "Exit status: 0 ok, 1 refused by the broker or verification "
	      "failed,\n2 usage or bad file, 3 cannot reach the broker.\n",
	      f);
}

void
cli_common_defaults(struct cli_common *o)
{
	memset(o, 0, sizeof(*o));
	o->config = getenv("KETEN_CONFIG");
	o->key = getenv("KETEN_KEY");
	o->timeout_ms = 10000;
}

int
cli_common_option(struct cli_common *o, int ch, const char *arg)
{
	char *end;
	long v;

	switch (ch) {
	case 'c':
		o->config = arg;
		return 1;
	case 'k':
		o->key = arg;
		return 1;
	case 'j':
		o->json = 1;
		return 1;
	case CLI_OPT_STATE:
		o->state = arg;
		return 1;
	case CLI_OPT_OLD_KEY:
		if (o->n_old_keys ==
		    sizeof(o->old_keys) / sizeof(o->old_keys[0])) {
			fprintf(stderr, "keten: at most 8 --old-key files\n");
			exit(EXIT_USAGE);
		}
		o->old_keys[o->n_old_keys++] = arg;
		return 1;
	case 'T':
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || *end || v < 1 || v > 3600) {
			fprintf(stderr,
			        "keten: --timeout takes 1 to 3600 "
			        "seconds, not '%s'\n",
			        arg);
			exit(EXIT_USAGE);
		}
		o->timeout_ms = (int)v * 1000;
		return 1;
	}
	return 0;
}

int
cli_exit_code(int code)
{
	if (code == KETEN_OK)
		return EXIT_OK;
	if (code == KETEN_E_CONNECT || code == KETEN_E_TIMEOUT)
		return EXIT_CONNECT;
	if (code == KETEN_E_CONFIG || code == KETEN_E_KEYFILE ||
	    code == KETEN_E_USAGE || code == KETEN_E_IO)
		return EXIT_USAGE;
	return EXIT_REFUSED;
}

int
cli_fail(const char *verb, const struct keten_error *err)
{
	/* the sentence may quote the broker, or what another agency chose */
	fprintf(stderr, "keten %s: ", verb);
	cli_put_text(stderr, err->message);
	fprintf(stderr, " (%s, code %d)\n", keten_strerror(err->code),
	        err->code);
	return cli_exit_code(err->code);
}

struct keten_client *
cli_connect(const struct cli_common *o)
{
	struct keten_client *c;
	struct keten_error err;

	if (o->config == NULL || o->key == NULL) {
		fprintf(stderr, "keten: name the region config and key file "
		                "with --config and --key (or $KETEN_CONFIG and "
		                "$KETEN_KEY)\n");
		exit(EXIT_USAGE);
	}
	if (keten_client_new(&c, o->config, o->key, &err) != KETEN_OK)
		exit(cli_fail("connect", &err));
	keten_client_set_timeout(c, o->timeout_ms);
	for (size_t i = 0; i < o->n_old_keys; i++)
		if (keten_client_add_old_key(c, o->old_keys[i], &err) !=
		    KETEN_OK)
			exit(cli_fail("connect", &err));
	if (o->state != NULL &&
	    keten_client_set_state(c, o->state) != KETEN_OK) {
		fprintf(stderr, "keten: out of memory\n");
		exit(EXIT_USAGE);
	}
	return c;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		puts("keten " KETEN_VERSION_TEXT);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "keten: unknown verb '%s'; see 'keten --help'\n",
	        argv[1]);
	return EXIT_USAGE;
}
