/*
 * keten case show: one case, its summary and its whole history, as
 * libketen verified and replayed it. It prints; it never checks a record
 * itself (libketen does, before it returns the history).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void
case_help(FILE *f)
{
	fputs(
	    "usage: keten case show CASE [OPTIONS]\n\n"
	    "Shows one case: its status, holder, the agencies in it and who\n"
	    "referred, the open offer with its due times, and then its whole\n"
	    "history in order, one line per record. Every record is checked\n"
	    "first: its hash, its sender's signature, and the case rules\n"
	    "replayed from the first record, which must end where the\n"
	    "broker says. Exit status 1 if the broker does not know the case\n"
	    "(or it is not this agency's) or the history does not verify.\n"
	    "\n" CLI_COMMON_HELP,
	    f);
}

static int
event_is_answer(enum keten_message_type t)
{
	return t == KETEN_MSG_ACKNOWLEDGE || t == KETEN_MSG_ACCEPT ||
	       t == KETEN_MSG_DECLINE || t == KETEN_MSG_WITHDRAW ||
	       t == KETEN_MSG_INFO_REQUEST;
}

static void
event_what(char out[160], const struct keten_case_event *e)
{
	char due[32];

	switch (e->type) {
	case KETEN_MSG_REFERRAL:
	case KETEN_MSG_HANDOVER:
		if (e->respond_by_us) {
			cli_time(due, e->respond_by_us);
			snprintf(out, 160, "%s %s, respond by %s",
			         keten_message_type_name(e->type),
			         cli_words_urgency(e->urgency), due);
		} else {
			snprintf(out, 160, "%s %s",
			         keten_message_type_name(e->type),
			         cli_words_urgency(e->urgency));
		}
		break;
	case KETEN_MSG_DECLINE:
		snprintf(out, 160, "decline %s",
		         keten_decline_reason_name(e->reason));
		break;
	case KETEN_MSG_CLOSE:
		snprintf(out, 160, "close %s", keten_outcome_name(e->outcome));
		break;
	default:
		snprintf(out, 160, "%s", keten_message_type_name(e->type));
		break;
	}
}

static void
event_route(char out[160], const struct keten_case_event *e)
{
	snprintf(out, 160, "%s -> %s", e->sender,
	         e->recipient[0] ? e->recipient : "all parties");
}

static void
show_line(const char *label, const char *value)
{
	printf("  %-13s %s\n", label, value);
}

static void
show_summary(const struct keten_case *k, int64_t now_us)
{
	char hex[33], line[512], t[32], t2[32], when[40];
	size_t len = 0;

	keten_hex(hex, k->case_id, sizeof(k->case_id));
	printf("case %s\n", hex);
	cli_cases_status(line, k);
	show_line("status", line);
	show_line("holder", k->holder);
	line[0] = '\0';
	for (size_t i = 0; i < k->n_parties && i < KETEN_CASE_PARTIES_MAX &&
	                   len < sizeof(line);
	     i++)
		len += (size_t)snprintf(
		    line + len, sizeof(line) - len, "%s%s%s", i ? ", " : "",
		    k->parties[i].agency,
		    k->parties[i].referred ? " (referred)" : "");
	show_line("parties", line);
	cli_time(t, k->opened_at_us);
	cli_time_since(when, k->opened_at_us, now_us);
	snprintf(line, sizeof(line), "%s (record %" PRIu64 "), %s", t,
	         k->opened_seq, when);
	show_line("opened", line);
	cli_time(t, k->updated_at_us);
	snprintf(line, sizeof(line),
	         "%s (record %" PRIu64 "), %" PRIu32 " message%s", t,
	         k->last_seq, k->messages, k->messages == 1 ? "" : "s");
	show_line("last", line);
	if (!k->has_offer) {
		show_line("offer", "-");
	} else {
		snprintf(line, sizeof(line), "%s %s -> %s (record %" PRIu64 ")",
		         keten_message_type_name(k->offer.type), k->offer.from,
		         k->offer.to, k->offer.seq);
		show_line("offer", line);
		cli_time(t, k->offer.offered_at_us);
		cli_time_since(when, k->offer.offered_at_us, now_us);
		snprintf(line, sizeof(line), "%s, %s", t, when);
		show_line("  offered", line);
		if (k->offer.acknowledged_at_us) {
			cli_time(t, k->offer.acknowledged_at_us);
			cli_time_since(when, k->offer.acknowledged_at_us,
			               now_us);
			snprintf(line, sizeof(line), "%s, %s", t, when);
			show_line("  acked", line);
		} else if (k->offer.acknowledge_due_us) {
			cli_time(t, k->offer.acknowledge_due_us);
			cli_time_ago(when, k->offer.acknowledge_due_us, now_us);
			snprintf(line, sizeof(line), "not yet; due %s, %s", t,
			         when);
			show_line("  acked", line);
		} else {
			show_line("  acked", "not yet");
		}
		if (k->offer.decide_due_us) {
			cli_time(t, k->offer.decide_due_us);
			cli_time_ago(when, k->offer.decide_due_us, now_us);
			snprintf(line, sizeof(line), "%s, %s", t, when);
		} else {
			snprintf(line, sizeof(line),
			         "counted from acknowledgement");
		}
		show_line("  decide by", line);
		if (k->offer.respond_by_us) {
			cli_time(t2, k->offer.respond_by_us);
			show_line("  respond by", t2);
		}
		if (k->offer.questions) {
			snprintf(line, sizeof(line), "%" PRIu32,
			         k->offer.questions);
			show_line("  questions", line);
		}
	}
	show_line("overdue", k->overdue ? "YES" : "no");
}

static void
show_history(const struct keten_case_history *h)
{
	const struct keten_case_event *e;
	char route[160], what[160], t[32], after[48];
	int w_route = 0, w_what = 0, w_seq = 1;

	for (size_t i = 0; i < h->n; i++) {
		e = &h->events[i];
		event_route(route, e);
		event_what(what, e);
		if ((int)strlen(route) > w_route)
			w_route = (int)strlen(route);
		if ((int)strlen(what) > w_what)
			w_what = (int)strlen(what);
		snprintf(t, sizeof(t), "%" PRIu64, e->seq);
		if ((int)strlen(t) > w_seq)
			w_seq = (int)strlen(t);
	}
	printf("\nhistory\n");
	for (size_t i = 0; i < h->n; i++) {
		e = &h->events[i];
		event_route(route, e);
		event_what(what, e);
		cli_time(t, e->received_at_us);
		after[0] = '\0';
		if (event_is_answer(e->type) && e->offer_age_us > 0) {
			char d[32];

			cli_time_span(d, e->offer_age_us);
			snprintf(after, sizeof(after), "  after %s", d);
		}
		printf("  %*" PRIu64 "  %s  %-*s  %-*s  holder %s%s\n", w_seq,
		       e->seq, t, w_route, route, w_what, what, e->holder,
		       after);
	}
}

static void
history_json(const struct keten_case_history *h)
{
	const struct keten_case_event *e;
	char mid[33];

	fputs("{\"case\":", stdout);
	cli_cases_json(&h->summary);
	fputs(",\"events\":[", stdout);
	for (size_t i = 0; i < h->n; i++) {
		e = &h->events[i];
		keten_hex(mid, e->message_id, sizeof(e->message_id));
		printf("%s{\"seq\":%" PRIu64, i ? "," : "", e->seq);
		cli_time_json("received_at", e->received_at_us);
		cli_time_json("sent_at", e->sent_at_us);
		printf(",\"type\":\"%s\",\"sender\":",
		       keten_message_type_name(e->type));
		json_str(stdout, e->sender);
		fputs(",\"recipient\":", stdout);
		if (e->recipient[0])
			json_str(stdout, e->recipient);
		else
			fputs("null", stdout);
		printf(",\"message_id\":\"%s\"", mid);
		if (e->type == KETEN_MSG_REFERRAL ||
		    e->type == KETEN_MSG_HANDOVER) {
			printf(",\"urgency\":\"%s\"",
			       cli_words_urgency(e->urgency));
			cli_time_json("respond_by", e->respond_by_us);
		}
		if (e->type == KETEN_MSG_DECLINE)
			printf(",\"reason\":\"%s\"",
			       keten_decline_reason_name(e->reason));
		if (e->type == KETEN_MSG_CLOSE)
			printf(",\"outcome\":\"%s\"",
			       keten_outcome_name(e->outcome));
		fputs(",\"holder\":", stdout);
		json_str(stdout, e->holder);
		if (event_is_answer(e->type))
			printf(",\"offer_age_s\":%" PRId64,
			       e->offer_age_us / 1000000);
		putchar('}');
	}
	printf("],\"verified\":true,\"records\":%zu}\n", h->n);
}

static int
case_show(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_client *c;
	struct keten_case_history *h;
	struct keten_error err;
	uint8_t case_id[KETEN_CASE_ID_LEN];
	int ch;

	cli_common_defaults(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, CLI_COMMON_SHORT "h", opts,
	                         NULL)) != -1) {
		if (cli_common_option(&o, ch, optarg))
			continue;
		if (ch == 'h') {
			case_help(stdout);
			return EXIT_OK;
		}
		return EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "keten case show: give one case id\n");
		return EXIT_USAGE;
	}
	if (keten_case_id_parse(case_id, argv[optind]) != KETEN_OK) {
		fprintf(stderr,
		        "keten case show: '%s' is not a case id (32 hex "
		        "digits, as 'keten cases' shows them)\n",
		        argv[optind]);
		return EXIT_USAGE;
	}
	c = cli_connect(&o);
	if (keten_case_history(&h, c, case_id, &err) != KETEN_OK) {
		keten_client_destroy(&c);
		return cli_fail("case show", &err);
	}
	if (o.json) {
		history_json(h);
	} else {
		show_summary(&h->summary, cli_time_now());
		show_history(h);
		printf("\nverified: %zu record%s, hashes and signatures "
		       "check, replayed holder = %s\n",
		       h->n, h->n == 1 ? "" : "s",
		       h->n ? h->events[h->n - 1].holder : "-");
	}
	keten_case_history_free(&h);
	keten_client_destroy(&c);
	return EXIT_OK;
}

int
cmd_case(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return case_show(argc - 1, argv + 1);
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		case_help(stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "keten case: say 'keten case show CASE' (see 'keten "
	                "case --help')\n");
	return EXIT_USAGE;
}
