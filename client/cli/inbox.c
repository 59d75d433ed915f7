/* keten inbox and keten ack: a person reading the agency's messages; and
 * how one message is shown, by these and by keten watch. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

#include "cli.h"

/* Where a field's text starts: after "    %-18s ". */
#define TEXT_COLUMN (4 + 18 + 1)

/* A sealed text, written by the sender: continuation lines line up under
 * the first, and nothing in it reaches the terminal raw (cli_text.c). */
static void
show_text(const char *label, const char *s)
{
	if (s == NULL || *s == '\0')
		return;
	printf("    %-18s ", label);
	cli_put_lines(stdout, s, TEXT_COLUMN);
	putchar('\n');
}

/* One line whose value, written by someone else, is shown safely. */
static void
show_line(const char *label, const char *s)
{
	printf("    %-18s ", label);
	cli_put_text(stdout, s);
	putchar('\n');
}

static void
show_person(const char *label, const struct keten_person *p)
{
	printf("    %-18s ", label);
	cli_put_text(stdout, p->name);
	if (p->date_of_birth && *p->date_of_birth) {
		fputs(", born ", stdout);
		cli_put_text(stdout, p->date_of_birth);
	}
	if (p->bsn && *p->bsn) {
		fputs(", BSN ", stdout);
		cli_put_text(stdout, p->bsn);
	}
	putchar('\n');
}

static void
show_referral(const struct keten_referral_content *c)
{
	show_person("child", &c->child);
	for (size_t i = 0; i < c->n_household; i++)
		show_person("household", &c->household[i]);
	show_text("parental authority", c->parental_authority);
	for (size_t i = 0; i < c->n_concerns; i++)
		show_text("concern", c->concerns[i]);
	show_text("safety", c->safety_assessment);
	show_text("asked", c->request);
	show_text("legal basis", c->legal_basis);
	printf("    %-18s informed: %s, consented: %s\n", "family",
	       c->family_informed ? "yes" : "no",
	       c->family_consented ? "yes" : "no");
	show_text("notes", c->notes);
}

static void
show_dossier(const struct keten_dossier *d)
{
	show_text("known", d->known);
	show_text("safety conditions", d->safety_conditions);
	show_text("monitoring plan", d->monitoring_plan);
	printf("    %-18s %s\n", "family informed",
	       d->family_informed ? "yes" : "no");
	show_text("notes", d->notes);
}

static int
is_offer(enum keten_message_type t)
{
	return t == KETEN_MSG_REFERRAL || t == KETEN_MSG_HANDOVER;
}

static void
show_human(const struct keten_message *m)
{
	char case_hex[33], offer[33], when[32], due[32];

	keten_hex(case_hex, m->case_id, sizeof(m->case_id));
	cli_time(when, m->received_at_us);
	printf("#%" PRIu64 " %s from %s, case %s\n", m->seq,
	       keten_message_type_name(m->type), m->sender, case_hex);
	if (is_offer(m->type)) {
		if (m->respond_by_us) {
			cli_time(due, m->respond_by_us);
			printf("    %-18s %s (respond by %s)\n", "urgency",
			       cli_words_urgency(m->urgency), due);
		} else {
			printf("    %-18s %s (respond by: the region's "
			       "default)\n",
			       "urgency", cli_words_urgency(m->urgency));
		}
	}
	if (m->has_offer_id) {
		/* the first 8 hex digits tell offers apart for a person */
		keten_hex(offer, m->offer_id, sizeof(m->offer_id));
		printf("    %-18s %.8s\n", "about offer", offer);
	}
	if (m->type == KETEN_MSG_DECLINE)
		printf("    %-18s %s\n", "reason",
		       keten_decline_reason_name(m->reason));
	if (m->type == KETEN_MSG_CLOSE)
		printf("    %-18s %s\n", "outcome",
		       keten_outcome_name(m->outcome));
	printf("    %-18s %s\n", "received", when);
	if (m->status != KETEN_OK) {
		printf("    %-18s FAILED: ", "verification");
		cli_put_text(stdout, m->status_message);
		putchar('\n');
		return;
	}
	printf("    %-18s signature of %s ok%s\n", "verification", m->sender,
	       m->content || m->dossier || m->note ? ", content hash ok" : "");
	if (m->type == KETEN_MSG_REFERRAL && m->content != NULL)
		show_referral(m->content);
	else if (m->type == KETEN_MSG_HANDOVER && m->dossier != NULL)
		show_dossier(m->dossier);
	else if (m->note != NULL)
		show_text("note", m->note);
	else if (is_offer(m->type))
		show_line("content", m->status_message);
}

static void
json_person(const struct keten_person *p)
{
	fputs("{\"name\":", stdout);
	json_str(stdout, p->name);
	fputs(",\"date_of_birth\":", stdout);
	json_str(stdout, p->date_of_birth);
	fputs(",\"bsn\":", stdout);
	json_str(stdout, p->bsn);
	putchar('}');
}

static void
json_referral(const struct keten_referral_content *c)
{
	fputs(",\"content\":{\"child\":", stdout);
	json_person(&c->child);
	fputs(",\"household\":[", stdout);
	for (size_t i = 0; i < c->n_household; i++) {
		if (i)
			putchar(',');
		json_person(&c->household[i]);
	}
	fputs("],\"parental_authority\":", stdout);
	json_str(stdout, c->parental_authority);
	fputs(",\"concerns\":[", stdout);
	for (size_t i = 0; i < c->n_concerns; i++) {
		if (i)
			putchar(',');
		json_str(stdout, c->concerns[i]);
	}
	fputs("],\"safety_assessment\":", stdout);
	json_str(stdout, c->safety_assessment);
	fputs(",\"request\":", stdout);
	json_str(stdout, c->request);
	fputs(",\"legal_basis\":", stdout);
	json_str(stdout, c->legal_basis);
	printf(",\"family_informed\":%s,\"family_consented\":%s,"
	       "\"notes\":",
	       c->family_informed ? "true" : "false",
	       c->family_consented ? "true" : "false");
	json_str(stdout, c->notes);
	putchar('}');
}

static void
json_dossier(const struct keten_dossier *d)
{
	fputs(",\"dossier\":{\"known\":", stdout);
	json_str(stdout, d->known);
	fputs(",\"safety_conditions\":", stdout);
	json_str(stdout, d->safety_conditions);
	fputs(",\"monitoring_plan\":", stdout);
	json_str(stdout, d->monitoring_plan);
	printf(",\"family_informed\":%s,\"notes\":",
	       d->family_informed ? "true" : "false");
	json_str(stdout, d->notes);
	putchar('}');
}

static void
show_json(const struct keten_message *m)
{
	char case_hex[33], hash[65], offer[33], when[32], due[32];

	keten_hex(case_hex, m->case_id, sizeof(m->case_id));
	keten_hex(hash, m->record_hash, 32);
	cli_time(when, m->received_at_us);
	printf("{\"seq\":%" PRIu64 ",\"type\":\"%s\",\"sender\":", m->seq,
	       keten_message_type_name(m->type));
	json_str(stdout, m->sender);
	fputs(",\"recipient\":", stdout);
	json_str(stdout, m->recipient);
	printf(",\"case\":\"%s\",\"record_hash\":\"%s\",\"received_at\":\"%s\"",
	       case_hex, hash, when);
	if (is_offer(m->type)) {
		printf(",\"urgency\":\"%s\",\"respond_by\":",
		       cli_words_urgency(m->urgency));
		if (m->respond_by_us) {
			cli_time(due, m->respond_by_us);
			printf("\"%s\"", due);
		} else {
			fputs("null", stdout);
		}
	}
	if (m->has_offer_id) {
		keten_hex(offer, m->offer_id, sizeof(m->offer_id));
		printf(",\"offer_id\":\"%s\"", offer);
	}
	if (m->type == KETEN_MSG_DECLINE)
		printf(",\"reason\":\"%s\"",
		       keten_decline_reason_name(m->reason));
	if (m->type == KETEN_MSG_CLOSE)
		printf(",\"outcome\":\"%s\"", keten_outcome_name(m->outcome));
	printf(",\"verified\":%s", m->status == KETEN_OK ? "true" : "false");
	if (m->status != KETEN_OK) {
		fputs(",\"error\":", stdout);
		json_str(stdout, m->status_message);
	}
	if (m->content != NULL)
		json_referral(m->content);
	if (m->dossier != NULL)
		json_dossier(m->dossier);
	if (m->note != NULL) {
		fputs(",\"note\":", stdout);
		json_str(stdout, m->note);
	}
	puts("}");
}

void
cli_message_print(const struct keten_message *m, int json)
{
	if (json)
		show_json(m);
	else
		show_human(m);
}

/* What to do about a message that did not verify, by why it did not. */
static const char *
unverified_advice(const struct keten_message *m)
{
	if (m->forged)
		return "It looks forged: report it to the broker's operator "
		       "and your auditor. Once they have checked, "
		       "--skip-forged skips it and records the skip in the "
		       "key file's .skipped file.";
	if (m->status == KETEN_E_DECRYPT)
		return "It is addressed to this agency and correctly signed, "
		       "but this agency's box key does not open it: if it was "
		       "sealed before this agency's keys changed, give the "
		       "earlier key file with --old-key FILE; else check that "
		       "the key file is this agency's current one, and tell "
		       "the sender and the broker's operator.";
	if (m->status == KETEN_E_CONTENT_HASH)
		return "The content the broker delivered is not what the "
		       "sender signed: report it to the broker's operator and "
		       "your auditor.";
	if (m->status == KETEN_E_RECIPIENT)
		return "The broker delivered a message for another agency: "
		       "report it to the broker's operator.";
	return NULL;
}

void
cli_unverified(const char *verb, const struct keten_message *m,
               const char *then)
{
	const char *advice = unverified_advice(m);

	fprintf(stderr, "keten %s: message #%" PRIu64 " from '", verb, m->seq);
	cli_put_text(stderr, m->sender[0] ? m->sender : "?");
	fputs("' could not be verified: ", stderr);
	cli_put_text(stderr, m->status_message);
	fprintf(stderr, ". It is NOT acknowledged. %s", then);
	if (advice != NULL) {
		fprintf(stderr, " %s\n", advice);
		return;
	}
	fputs(" If this persists, ask your region's operator about '", stderr);
	cli_put_text(stderr, m->sender[0] ? m->sender : "?");
	fputs("' and its keys (keten audit verify lists the region's "
	      "roster).\n",
	      stderr);
}

int
cli_skip_forged(const char *verb, struct keten_inbox *in, size_t i,
                struct keten_client *c, const char *key,
                struct keten_error *err)
{
	const struct keten_message *m = &in->messages[i];
	int rc;

	if ((rc = keten_inbox_skip_forged(in, i, c, err)) != KETEN_OK)
		return rc;
	fprintf(stderr, "keten %s: skipped message #%" PRIu64 " from '", verb,
	        m->seq);
	cli_put_text(stderr, m->sender);
	fputs("' as forged (", stderr);
	cli_put_text(stderr, m->status_message);
	fputs("); recorded in ", stderr);
	cli_put_text(stderr, key);
	fputs(".skipped\n", stderr);
	return KETEN_OK;
}

/* The index of the first message of in that stops the cursor (it did not
 * verify and was not skipped), or in->n. */
static size_t
first_unverified(const struct keten_inbox *in)
{
	uint64_t limit = keten_inbox_ack_limit(in);
	size_t i;

	for (i = 0; i < in->n; i++)
		if (in->messages[i].status != KETEN_OK &&
		    in->messages[i].seq > limit)
			break;
	return i;
}

/* Fetches the inbox; if a message in it did not verify, refreshes the
 * roster and fetches again, so that the verdict is the refreshed one. */
static int
inbox_fetch(struct keten_inbox **in, struct keten_client *c, size_t max,
            struct keten_error *err)
{
	struct keten_error why;
	int rc;

	if ((rc = keten_fetch(in, c, max, err)) != KETEN_OK ||
	    first_unverified(*in) == (*in)->n)
		return rc;
	if (keten_client_refresh(c, &why) != KETEN_OK) {
		fputs("keten inbox: cannot refresh the roster: ", stderr);
		cli_put_text(stderr, why.message);
		fputc('\n', stderr);
	}
	keten_inbox_free(in);
	return keten_fetch(in, c, max, err);
}

int
cmd_inbox(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"ack", no_argument, NULL, 'a'},
	    {"max", required_argument, NULL, 'm'},
	    {"skip-forged", no_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_client *c;
	struct keten_inbox *in;
	struct keten_error err;
	uint64_t limit, cursor;
	long max = 0;
	char *end;
	size_t stop;
	int ch, ack = 0, skip = 0, rc = EXIT_OK;

	cli_common_defaults(&o);
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'a':
			ack = 1;
			break;
		case 'S':
			skip = 1;
			break;
		case 'm':
			errno = 0;
			max = strtol(optarg, &end, 10);
			if (errno || *end || max < 1 || max > 1024) {
				fprintf(stderr, "keten inbox: --max takes 1 to "
				                "1024\n");
				return EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(
			    "usage: keten inbox [--ack [--skip-forged]] [--max "
			    "N] [OPTIONS]\n\n"
			    "Shows the messages addressed to this agency that "
			    "it has not yet\nacknowledged, oldest first: each "
			    "sender's signature is checked and\nthe sealed "
			    "content opened. --ack then acknowledges them, so "
			    "the\nbroker's cursor moves past them; without "
			    "it they are shown again.\nWith --json, one JSON "
			    "object per message per line.\n\n"
			    "A message that does not verify is never "
			    "acknowledged: the roster is\nrefreshed (from "
			    "the broker's log) and the message "
			    "verified\nonce more; if it still fails, --ack "
			    "acknowledges only the messages\nbefore it, says "
			    "why and what to do, and the exit status is 1.\n"
			    "Only a message proven forged (a known signer "
			    "whose signature does not\nverify, or a body that "
			    "names another sender) may be skipped, with\n"
			    "--skip-forged; each skip is recorded in the key "
			    "file's path +\n'.skipped'.\n\n"
			    "  --ack           acknowledge what was shown, up "
			    "to the first message\n"
			    "                  that did not verify\n"
			    "  --skip-forged   with --ack: skip a message "
			    "proven forged, and record it\n"
			    "  --max N         show at most N (default "
			    "64)\n" CLI_COMMON_HELP,
			    stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (skip && !ack) {
		fprintf(stderr, "keten inbox: --skip-forged skips a message "
		                "only to acknowledge past it; add --ack\n");
		return EXIT_USAGE;
	}
	c = cli_connect(&o);
	if (inbox_fetch(&in, c, (size_t)max, &err) != KETEN_OK) {
		keten_client_destroy(&c);
		return cli_fail("inbox", &err);
	}
	if (in->n == 0 && !o.json)
		printf("no new messages for %s\n", keten_client_agency(c));
	for (size_t i = 0; i < in->n; i++)
		cli_message_print(&in->messages[i], o.json);
	if (in->more && !o.json)
		printf("(more waiting: acknowledge these to see them)\n");
	stop = first_unverified(in);
	if (skip && stop < in->n && in->messages[stop].forged) {
		if (cli_skip_forged("inbox", in, stop, c, o.key, &err) ==
		    KETEN_OK)
			stop = first_unverified(in);
		else
			cli_fail("inbox", &err);
	}
	limit = keten_inbox_ack_limit(in);
	if (ack && limit > 0) {
		if (keten_ack(&cursor, c, limit, &err) != KETEN_OK) {
			keten_inbox_free(&in);
			keten_client_destroy(&c);
			return cli_fail("inbox", &err);
		}
		if (!o.json)
			printf("acknowledged up to #%" PRIu64 "\n", cursor);
	}
	if (stop < in->n) {
		cli_unverified("inbox", &in->messages[stop],
		               "keten inbox refreshed the roster and verified "
		               "it again; run keten inbox again to retry.");
		rc = EXIT_REFUSED;
	}
	keten_inbox_free(&in);
	keten_client_destroy(&c);
	return rc;
}

int
cmd_ack(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_client *c;
	struct keten_error err;
	unsigned long long seq;
	uint64_t cursor;
	char *end;
	int ch;

	cli_common_defaults(&o);
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		if (ch == 'h') {
			fputs(
			    "usage: keten ack SEQ [OPTIONS]\n\nAcknowledges "
			    "every message to this agency up to and\nincluding "
			    "sequence number SEQ (as shown by 'keten "
			    "inbox').\n\n" CLI_COMMON_HELP,
			    stdout);
			return EXIT_OK;
		}
		return EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "keten ack: give one sequence number\n");
		return EXIT_USAGE;
	}
	errno = 0;
	seq = strtoull(argv[optind], &end, 10);
	if (errno || *end || seq == 0) {
		fprintf(stderr, "keten ack: '%s' is not a sequence number\n",
		        argv[optind]);
		return EXIT_USAGE;
	}
	c = cli_connect(&o);
	if (keten_ack(&cursor, c, seq, &err) != KETEN_OK) {
		keten_client_destroy(&c);
		return cli_fail("ack", &err);
	}
	printf("acknowledged up to #%" PRIu64 "\n", cursor);
	keten_client_destroy(&c);
	return EXIT_OK;
}
