/*
 * keten's case steps, the messages after a referral: acknowledge, accept,
 * decline, handover, withdraw, ask, answer, feedback and close, one table
 * row per verb. The broker enforces the case rules; this file never
 * second-guesses them, it only checks what a person typed.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
	O_NOTE = 1 << 0,
	O_REASON = 1 << 1,
	O_TO = 1 << 2,
	O_URGENCY = 1 << 3,
	O_RESPOND_BY = 1 << 4,
	O_KNOWN = 1 << 5,
	O_SAFETY = 1 << 6,
	O_MONITORING = 1 << 7,
	O_INFORMED = 1 << 8,
	O_NOTES = 1 << 9,
	O_TEXT = 1 << 10,
	O_OUTCOME = 1 << 11
};

/* The TEXT options: their slots in cmd_step's text[] and loaded[]. */
enum { T_NOTE, T_KNOWN, T_SAFETY, T_MONITORING, T_NOTES, T_TEXT, T_COUNT };

static const struct step_option {
	unsigned bit;
	int text; /* slot, or -1 if not a TEXT option */
	struct option opt;
} step_options[] = {
    {O_NOTE, T_NOTE, {"note", required_argument, NULL, 'n'}},
    {O_REASON, -1, {"reason", required_argument, NULL, 'r'}},
    {O_TO, -1, {"to", required_argument, NULL, 't'}},
    {O_URGENCY, -1, {"urgency", required_argument, NULL, 'u'}},
    {O_RESPOND_BY, -1, {"respond-by", required_argument, NULL, 'b'}},
    {O_KNOWN, T_KNOWN, {"known", required_argument, NULL, 'K'}},
    {O_SAFETY, T_SAFETY, {"safety", required_argument, NULL, 's'}},
    {O_MONITORING, T_MONITORING, {"monitoring", required_argument, NULL, 'm'}},
    {O_INFORMED, -1, {"family-informed", no_argument, NULL, 'i'}},
    {O_NOTES, T_NOTES, {"notes", required_argument, NULL, 'N'}},
    {O_TEXT, T_TEXT, {"text", required_argument, NULL, 'x'}},
    {O_OUTCOME, -1, {"outcome", required_argument, NULL, 'o'}},
};
#define N_STEP_OPTIONS (sizeof(step_options) / sizeof(step_options[0]))

static const struct step_verb {
	const char *name;
	enum keten_message_type type;
	unsigned options, required;
	enum cli_words list; /* the words an option takes, or NONE */
	/* --help from the synopsis up to the common options: help[0], the
	 * list's words, help[1] */
	const char *help[2];
} step_verbs[] = {
    {"acknowledge",
     KETEN_MSG_ACKNOWLEDGE,
     O_NOTE,
     0,
     CLI_WORDS_NONE,
     {"usage: keten acknowledge CASE [--note TEXT] [OPTIONS]\n\n"
      "Confirms receipt of the case offered to this agency (the\n"
      "ontvangstbevestiging). The decision deadline starts counting now\n"
      "when the sender left it to the region's default. Not to be confused\n"
      "with 'keten ack', which moves the inbox cursor.\n\n"
      "  --note TEXT          a note to the holder "
      "(sealed)\n\n" CLI_TEXT_HELP}},
    {"accept",
     KETEN_MSG_ACCEPT,
     O_NOTE,
     0,
     CLI_WORDS_NONE,
     {"usage: keten accept CASE [--note TEXT] [OPTIONS]\n\n"
      "Takes the case offered to this agency: from now on this agency\n"
      "holds it.\n\n"
      "  --note TEXT          a note to the previous holder "
      "(sealed)\n\n" CLI_TEXT_HELP}},
    {"decline",
     KETEN_MSG_DECLINE,
     O_REASON | O_NOTE,
     O_REASON,
     CLI_WORDS_REASON,
     {"usage: keten decline CASE --reason REASON [--note TEXT] [OPTIONS]\n\n"
      "Refuses the case offered to this agency; it stays with the agency\n"
      "that offered it.\n\n"
      "  --reason REASON      why (required), one of:\n",
      "  --note TEXT          an explanation to the holder "
      "(sealed)\n\n" CLI_TEXT_HELP}},
    {"handover",
     KETEN_MSG_HANDOVER,
     O_TO | O_URGENCY | O_RESPOND_BY | O_KNOWN | O_SAFETY | O_MONITORING |
         O_INFORMED | O_NOTES,
     O_TO | O_KNOWN,
     CLI_WORDS_NONE,
     {"usage: keten handover CASE --to AGENCY --known TEXT [OPTIONS]\n\n"
      "Offers a case this agency holds to another agency (warme\n"
      "overdracht), with a dossier sealed to that agency. Until it\n"
      "accepts, this agency still holds the case.\n\n"
      "  --to AGENCY          the agency offered the case (required)\n"
      "  --urgency LEVEL      routine (default), urgent, immediate\n"
      "  --respond-by WHEN    decision deadline: 2026-11-30T17:00:00Z, a\n"
      "                       date (2026-11-30: the end of that day, UTC)\n"
      "                       or +DURATION (+5d, +36h, +5wd), at most\n"
      "                       366 days ahead; default: the region's,\n"
      "                       counted from acknowledgement\n"
      "  --known TEXT         what is known about child and family "
      "(required)\n"
      "  --safety TEXT        safety conditions (veiligheidsvoorwaarden)\n"
      "  --monitoring TEXT    monitoring plan\n"
      "  --family-informed    the family knows of the handover\n"
      "  --notes TEXT         anything else\n\n" CLI_TEXT_HELP}},
    {"withdraw",
     KETEN_MSG_WITHDRAW,
     O_NOTE,
     0,
     CLI_WORDS_NONE,
     {"usage: keten withdraw CASE [--note TEXT] [OPTIONS]\n\n"
      "Takes back this agency's open offer of a case it holds.\n\n"
      "  --note TEXT          a note to the agency offered it "
      "(sealed)\n\n" CLI_TEXT_HELP}},
    {"ask",
     KETEN_MSG_INFO_REQUEST,
     O_TEXT,
     O_TEXT,
     CLI_WORDS_NONE,
     {"usage: keten ask CASE --text QUESTIONS [OPTIONS]\n\n"
      "Asks the holder questions about the case offered to this agency\n"
      "before deciding on it.\n\n"
      "  --text QUESTIONS     the questions (required, "
      "sealed)\n\n" CLI_TEXT_HELP}},
    {"answer",
     KETEN_MSG_INFO_REPLY,
     O_TEXT,
     O_TEXT,
     CLI_WORDS_NONE,
     {"usage: keten answer CASE --text ANSWERS [OPTIONS]\n\n"
      "Answers the questions asked about this agency's open offer.\n\n"
      "  --text ANSWERS       the answers (required, "
      "sealed)\n\n" CLI_TEXT_HELP}},
    {"feedback",
     KETEN_MSG_FEEDBACK,
     O_TO | O_TEXT,
     O_TO | O_TEXT,
     CLI_WORDS_NONE,
     {"usage: keten feedback CASE --to AGENCY --text TEXT [OPTIONS]\n\n"
      "Informs an agency that referred the case earlier how it goes\n"
      "(terugkoppeling aan melder). Only the holder sends feedback.\n\n"
      "  --to AGENCY          an agency that referred the case (required)\n"
      "  --text TEXT          the update (required, "
      "sealed)\n\n" CLI_TEXT_HELP}},
    {"close",
     KETEN_MSG_CLOSE,
     O_OUTCOME,
     O_OUTCOME,
     CLI_WORDS_OUTCOME,
     {"usage: keten close CASE --outcome OUTCOME [OPTIONS]\n\n"
      "Closes a case this agency holds; every agency in the case is told.\n"
      "Nothing can follow a close.\n\n"
      "  --outcome OUTCOME    how it ended (required), one of:\n",
      "\n"}},
};

static const struct step_verb *
step_verb_find(const char *name)
{
	for (size_t i = 0; i < sizeof(step_verbs) / sizeof(step_verbs[0]); i++)
		if (strcmp(step_verbs[i].name, name) == 0)
			return &step_verbs[i];
	return NULL;
}

static void
step_help(FILE *f, const struct step_verb *v)
{
	fputs(v->help[0], f);
	cli_words_help(f, v->list, 25);
	if (v->help[1] != NULL)
		fputs(v->help[1], f);
	fputs(
	    "Prints what was recorded: the case and its record number. Exit\n"
	    "status 1 if the broker refused (its sentence names the rule).\n\n",
	    f);
	fputs(CLI_COMMON_HELP, f);
}

/* Whole "2026-11-30": the end of that day, UTC. */
static int
parse_respond_by(int64_t *us, const char *arg, int64_t now_us)
{
	struct keten_error err;
	char full[32];
	const char *moment = arg;
	int y, m, d, n = -1;

	if (sscanf(arg, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10 &&
	    arg[n] == '\0') {
		snprintf(full, sizeof(full), "%sT23:59:59Z", arg);
		moment = full;
	}
	if (cli_time_parse(us, &err, moment, now_us) == 0)
		return 0;
	cli_time_refused("handover", "respond-by",
	                 "2026-11-30T17:00:00Z, 2026-11-30 or +DURATION (+5d, "
	                 "+36h, +5wd)",
	                 arg, &err);
	return -1;
}

static void
step_done(const struct step_verb *v, const struct keten_step *s,
          const struct keten_receipt *rc, const char *me, int json)
{
	char hex[33], hash[65], when[32];

	keten_hex(hex, s->case_id, sizeof(s->case_id));
	keten_hex(hash, rc->record_hash, sizeof(rc->record_hash));
	cli_time(when, rc->received_at_us);
	if (json) {
		printf("{\"case\":\"%s\",\"type\":\"%s\",\"seq\":%" PRIu64
		       ",\"record_hash\":\"%s\",\"received_at\":\"%s\"}\n",
		       hex, keten_message_type_name(v->type), rc->seq, hash,
		       when);
		return;
	}
	switch (v->type) {
	case KETEN_MSG_ACKNOWLEDGE:
		printf("acknowledged case %s", hex);
		break;
	case KETEN_MSG_ACCEPT:
		printf("accepted case %s; %s holds it now", hex, me);
		break;
	case KETEN_MSG_DECLINE:
		printf("declined case %s: %s", hex,
		       keten_decline_reason_name(s->reason));
		break;
	case KETEN_MSG_HANDOVER:
		printf("offered case %s to %s; %s holds it until %s accepts",
		       hex, s->recipient, me, s->recipient);
		break;
	case KETEN_MSG_WITHDRAW:
		printf("withdrew the open offer of case %s", hex);
		break;
	case KETEN_MSG_INFO_REQUEST:
		printf("asked the holder about case %s", hex);
		break;
	case KETEN_MSG_INFO_REPLY:
		printf("answered the questions on case %s", hex);
		break;
	case KETEN_MSG_FEEDBACK:
		printf("sent feedback on case %s to %s", hex, s->recipient);
		break;
	case KETEN_MSG_CLOSE:
		printf("closed case %s: %s", hex,
		       keten_outcome_name(s->outcome));
		break;
	default:
		printf("%s on case %s", keten_message_type_name(v->type), hex);
		break;
	}
	printf(" (record %" PRIu64 " at %s)\n", rc->seq, when);
}

/* keten acknowledge|accept|decline|handover|withdraw|ask|answer|feedback|
 * close: argv[0] names the step. */
int
cmd_step(int argc, char **argv)
{
	static const struct option common[] = {
	    CLI_COMMON_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	};
	const struct step_verb *v = step_verb_find(argv[0]);
	struct option
	    opts[sizeof(common) / sizeof(common[0]) + N_STEP_OPTIONS + 1];
	const char *text[T_COUNT] = {NULL};
	char *loaded[T_COUNT] = {NULL};
	struct cli_common o;
	struct keten_step s;
	struct keten_dossier d;
	struct keten_receipt rc;
	struct keten_client *c;
	struct keten_error err;
	unsigned given = 0;
	size_t n = 0;
	int ch, code = EXIT_USAGE;

	if (v == NULL) { /* main's verb table and step_verbs disagree */
		fprintf(stderr, "keten: '%s' is not a case step\n", argv[0]);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		opts[n++] = common[i];
	for (size_t i = 0; i < N_STEP_OPTIONS; i++)
		if (v->options & step_options[i].bit)
			opts[n++] = step_options[i].opt;
	memset(&opts[n], 0, sizeof(opts[n]));

	cli_common_defaults(&o);
	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	s.type = v->type;
	s.urgency = KETEN_URGENCY_ROUTINE;
	optind = 1;
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		if (ch == 'h') {
			step_help(stdout, v);
			return EXIT_OK;
		}
		for (size_t i = 0; i < N_STEP_OPTIONS; i++)
			if (step_options[i].opt.val == ch &&
			    (v->options & step_options[i].bit)) {
				given |= step_options[i].bit;
				if (step_options[i].text >= 0)
					text[step_options[i].text] = optarg;
			}
		switch (ch) {
		case 'n':
		case 'K':
		case 's':
		case 'm':
		case 'N':
		case 'x':
		case 'i':
			break; /* text[] and given hold them */
		case 't':
			s.recipient = optarg;
			break;
		case 'r':
			if ((s.reason = keten_decline_reason_parse(optarg)) ==
			    0) {
				cli_words_refused(v->name, "reason",
				                  CLI_WORDS_REASON, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'o':
			if ((s.outcome = keten_outcome_parse(optarg)) == 0) {
				cli_words_refused(v->name, "outcome",
				                  CLI_WORDS_OUTCOME, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'u':
			if ((s.urgency = cli_words_urgency_parse(optarg)) ==
			    0) {
				cli_words_refused(v->name, "urgency",
				                  CLI_WORDS_URGENCY, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'b':
			if (parse_respond_by(&s.respond_by_us, optarg,
			                     cli_time_now()) != 0)
				return EXIT_USAGE;
			if (s.respond_by_us <= cli_time_now()) {
				fprintf(stderr,
				        "keten handover: --respond-by "
				        "'%s' has passed already\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			fprintf(stderr, "see 'keten %s --help'\n", v->name);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr,
		        "keten %s: give one case id (see 'keten %s "
		        "--help')\n",
		        v->name, v->name);
		return EXIT_USAGE;
	}
	if (keten_case_id_parse(s.case_id, argv[optind]) != KETEN_OK) {
		fprintf(stderr,
		        "keten %s: '%s' is not a case id (32 hex digits, "
		        "as 'keten cases' shows them)\n",
		        v->name, argv[optind]);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < N_STEP_OPTIONS; i++)
		if ((v->required & step_options[i].bit) &&
		    !(given & step_options[i].bit)) {
			fprintf(stderr,
			        "keten %s: --%s is required (see 'keten "
			        "%s --help')\n",
			        v->name, step_options[i].opt.name, v->name);
			return EXIT_USAGE;
		}
	for (size_t i = 0; i < N_STEP_OPTIONS; i++) {
		int t = step_options[i].text;
		const char *name = step_options[i].opt.name;

		if (t >= 0 &&
		    cli_atfile_text(&text[t], &loaded[t], v->name, name,
		                    (v->required & step_options[i].bit) != 0) !=
		        0)
			goto out;
	}
	s.note = text[T_NOTE] ? text[T_NOTE] : text[T_TEXT];
	if (v->type == KETEN_MSG_HANDOVER) {
		d.known = text[T_KNOWN];
		d.safety_conditions = text[T_SAFETY];
		d.monitoring_plan = text[T_MONITORING];
		d.family_informed = (given & O_INFORMED) != 0;
		d.notes = text[T_NOTES];
		s.dossier = &d;
	}

	/* Decided here, before connecting: a usage error, not a refusal. */
	if (keten_step_check(&s, &err) != KETEN_OK) {
		(void)cli_fail(v->name, &err);
		goto out;
	}
	c = cli_connect(&o);
	if (keten_send_step(&rc, c, &s, &err) != KETEN_OK) {
		code = cli_fail(v->name, &err);
	} else {
		step_done(v, &s, &rc, keten_client_agency(c), o.json);
		code = EXIT_OK;
	}
	keten_client_destroy(&c);
out:
	for (size_t i = 0; i < T_COUNT; i++)
		free(loaded[i]);
	return code;
}
