/* keten send: a person's manual referral. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define MAX_LIST 32

static void
help(FILE *f)
{
	fputs(
	    "usage: keten send referral --to AGENCY --child-name NAME "
	    "--concern TEXT\n"
	    "                           --request TEXT [OPTIONS]\n\n"
	    "Sends a new referral (a concern about a child) from this agency,\n"
	    "opening a new case. The content is sealed to the recipient: the\n"
	    "broker and everyone else see only who sent what to whom, when.\n"
	    "Prints the case id and the broker's signed receipt.\n\n"
	    "  --to AGENCY            recipient agency id (vt-flevoland)\n"
	    "  --urgency LEVEL        routine (default), urgent, immediate\n"
	    "  --respond-by-days N    decision deadline, N days from now\n"
	    "                         (default: the region's, counted from\n"
	    "                         acknowledgement)\n"
	    "  --child-name NAME      the child's name (required, not blank)\n"
	    "  --child-dob DATE       date of birth, YYYY-MM-DD: a real date,\n"
	    "                         from 1900-01-01, not in the future\n"
	    "  --child-bsn BSN        citizen service number: nine digits\n"
	    "                         passing the eleven-test (elfproef)\n"
	    "  --household 'NAME;DOB;BSN'  a household member (repeatable);\n"
	    "                         NAME required, DOB and BSN may be empty\n"
	    "                         and are checked like the child's\n"
	    "  --gezag TEXT           who holds parental authority\n"
	    "  --concern TEXT         a concern category (repeatable; at "
	    "least one)\n"
	    "  --safety TEXT          safety assessment\n"
	    "  --request TEXT         what is asked of the recipient "
	    "(required)\n"
	    "  --legal-basis TEXT     legal basis for sharing\n"
	    "  --family-informed      the family was informed\n"
	    "  --family-consented     the family consented\n"
	    "  --notes TEXT           anything else\n\n" CLI_TEXT_HELP
	    "Nothing is sent if a field breaks a rule: exit status 2, with\n"
	    "a sentence naming the field and the rule.\n\n" CLI_COMMON_HELP,
	    f);
}

/* Splits "NAME;DOB;BSN" in place. */
static void
split_person(struct keten_person *p, char *s)
{
	char *semi;

	p->name = s;
	p->date_of_birth = "";
	p->bsn = "";
	if ((semi = strchr(s, ';')) == NULL)
		return;
	*semi = '\0';
	p->date_of_birth = semi + 1;
	if ((semi = strchr(semi + 1, ';')) == NULL)
		return;
	*semi = '\0';
	p->bsn = semi + 1;
}

/* The TEXT options: N_SINGLE given once, then the concerns. */
#define N_SINGLE 5
#define N_TEXTS  (N_SINGLE + MAX_LIST)

/* Resolves every TEXT option's @FILE, as every verb does, into loaded[]
 * (the caller frees them). EXIT_OK, or EXIT_USAGE when it printed why. */
static int
send_texts(struct keten_referral_content *ct, const char **concerns,
           char *loaded[N_TEXTS])
{
	static const char verb[] = "send referral";
	const struct {
		const char **text;
		const char *opt;
		int required;
	} texts[N_SINGLE] = {
	    {&ct->parental_authority, "gezag", 0},
	    {&ct->safety_assessment, "safety", 0},
	    {&ct->request, "request", 1},
	    {&ct->legal_basis, "legal-basis", 0},
	    {&ct->notes, "notes", 0},
	};

	for (size_t i = 0; i < N_SINGLE; i++)
		if (cli_atfile_text(texts[i].text, &loaded[i], verb,
		                    texts[i].opt, texts[i].required) != 0)
			return EXIT_USAGE;
	for (size_t i = 0; i < ct->n_concerns; i++)
		if (cli_atfile_text(&concerns[i], &loaded[N_SINGLE + i], verb,
		                    "concern", 1) != 0)
			return EXIT_USAGE;
	return EXIT_OK;
}

static int
send_referral(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"to", required_argument, NULL, 't'},
	    {"urgency", required_argument, NULL, 'u'},
	    {"respond-by-days", required_argument, NULL, 'd'},
	    {"child-name", required_argument, NULL, 'N'},
	    {"child-dob", required_argument, NULL, 'D'},
	    {"child-bsn", required_argument, NULL, 'B'},
	    {"household", required_argument, NULL, 'H'},
	    {"gezag", required_argument, NULL, 'g'},
	    {"concern", required_argument, NULL, 'C'},
	    {"safety", required_argument, NULL, 's'},
	    {"request", required_argument, NULL, 'r'},
	    {"legal-basis", required_argument, NULL, 'l'},
	    {"family-informed", no_argument, NULL, 'i'},
	    {"family-consented", no_argument, NULL, 'a'},
	    {"notes", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_referral_content ct;
	struct keten_referral ref;
	struct keten_person household[MAX_LIST];
	const char *concerns[MAX_LIST];
	struct keten_receipt rc;
	struct keten_client *c;
	struct keten_error err;
	uint8_t case_id[KETEN_CASE_ID_LEN];
	char case_hex[2 * KETEN_CASE_ID_LEN + 1], hash_hex[65], root_hex[65];
	char when[32];
	char *loaded[N_TEXTS] = {NULL};
	long days = 0; /* 0: the region's default */
	char *end;
	int ch, code;

	cli_common_defaults(&o);
	memset(&ct, 0, sizeof(ct));
	memset(&ref, 0, sizeof(ref));
	ref.urgency = KETEN_URGENCY_ROUTINE;
	ct.household = household;
	ct.concerns = concerns;
	optind = 1;
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		switch (ch) {
		case 't':
			ref.recipient = optarg;
			break;
		case 'u':
			if (strcmp(optarg, "routine") == 0)
				ref.urgency = KETEN_URGENCY_ROUTINE;
			else if (strcmp(optarg, "urgent") == 0)
				ref.urgency = KETEN_URGENCY_URGENT;
			else if (strcmp(optarg, "immediate") == 0)
				ref.urgency = KETEN_URGENCY_IMMEDIATE;
			else {
				fprintf(stderr,
				        "keten send: --urgency is "
				        "routine, urgent or immediate, "
				        "not '%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'd':
			errno = 0;
			days = strtol(optarg, &end, 10);
			if (errno || *end || days < 1 || days > 365) {
				fprintf(stderr,
				        "keten send: --respond-by-days "
				        "takes 1 to 365, not '%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'N':
			ct.child.name = optarg;
			break;
		case 'D':
			ct.child.date_of_birth = optarg;
			break;
		case 'B':
			ct.child.bsn = optarg;
			break;
		case 'H':
			if (ct.n_household == MAX_LIST) {
				fprintf(stderr,
				        "keten send: at most %d "
				        "--household\n",
				        MAX_LIST);
				return EXIT_USAGE;
			}
			split_person(&household[ct.n_household++], optarg);
			break;
		case 'g':
			ct.parental_authority = optarg;
			break;
		case 'C':
			if (ct.n_concerns == MAX_LIST) {
				fprintf(stderr,
				        "keten send: at most %d "
				        "--concern\n",
				        MAX_LIST);
				return EXIT_USAGE;
			}
			concerns[ct.n_concerns++] = optarg;
			break;
		case 's':
			ct.safety_assessment = optarg;
			break;
		case 'r':
			ct.request = optarg;
			break;
		case 'l':
			ct.legal_basis = optarg;
			break;
		case 'i':
			ct.family_informed = true;
			break;
		case 'a':
			ct.family_consented = true;
			break;
		case 'n':
			ct.notes = optarg;
			break;
		case 'h':
			help(stdout);
			return EXIT_OK;
		default:
			help(stderr);
			return EXIT_USAGE;
		}
	}
	if (ref.recipient == NULL || ct.child.name == NULL ||
	    ct.n_concerns == 0 || ct.request == NULL || optind != argc) {
		fprintf(stderr, "keten send referral: --to, --child-name, "
		                "--concern and --request are required (see "
		                "--help)\n");
		return EXIT_USAGE;
	}
	ref.content = &ct;
	if (days > 0)
		ref.respond_by_us =
		    ((int64_t)time(NULL) + days * 86400) * 1000000;
	if ((code = send_texts(&ct, concerns, loaded)) != EXIT_OK)
		goto out;
	/* Decided here, before connecting: a usage error, not a refusal. */
	if (keten_referral_check(&ref, &err) != KETEN_OK) {
		(void)cli_fail("send", &err);
		code = EXIT_USAGE;
		goto out;
	}
	c = cli_connect(&o);
	if (keten_send_referral(&rc, case_id, c, &ref, &err) != KETEN_OK) {
		keten_client_destroy(&c);
		code = cli_fail("send", &err);
		goto out;
	}
	keten_hex(case_hex, case_id, sizeof(case_id));
	keten_hex(hash_hex, rc.record_hash, 32);
	cli_time(when, rc.received_at_us);
	keten_hex(root_hex, rc.proof.checkpoint.root, 32);
	if (o.json)
		printf("{\"case\":\"%s\",\"seq\":%" PRIu64 ",\"record_hash\":"
		       "\"%s\",\"received_at\":\"%s\",\"head_seq\":%" PRIu64
		       ",\"root\":\"%s\",\"proof_hashes\":%zu}\n",
		       case_hex, rc.seq, hash_hex, when,
		       rc.proof.checkpoint.size, root_hex, rc.proof.n_path);
	else
		printf("referral recorded: case %s\n  record %" PRIu64
		       " at %s, hash %s\n  in the log of %" PRIu64
		       " record%s the broker signed; proof verified\n",
		       case_hex, rc.seq, when, hash_hex,
		       rc.proof.checkpoint.size,
		       rc.proof.checkpoint.size == 1 ? "" : "s");
	keten_client_destroy(&c);
	code = EXIT_OK;
out:
	for (size_t i = 0; i < N_TEXTS; i++)
		free(loaded[i]);
	return code;
}

int
cmd_send(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "referral") == 0)
		return send_referral(argc - 1, argv + 1);
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		help(stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "keten send: say what to send: 'keten send referral "
	                "...' (see 'keten send referral --help')\n");
	return EXIT_USAGE;
}
