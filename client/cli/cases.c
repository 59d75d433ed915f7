/*
 * keten cases, and the case lines and JSON objects it shares with keten
 * audit cases and keten case show. It prints what the broker (or the
 * audit replay) computed; it never judges a case itself.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- one case: a line, and JSON ---- */

void
cli_cases_status(char out[48], const struct keten_case *k)
{
	if (k->status == KETEN_CASE_CLOSED && k->outcome)
		snprintf(out, 48, "closed (%s)",
		         keten_outcome_name(k->outcome));
	else
		snprintf(out, 48, "%s", keten_case_status_name(k->status));
}

static void
offer_text(char out[256], const struct keten_case *k, int64_t at_us)
{
	char when[40], q[32] = "";

	if (!k->has_offer) {
		snprintf(out, 256, "-");
		return;
	}
	if (k->offer.questions)
		snprintf(q, sizeof(q), ", %" PRIu32 " question%s",
		         k->offer.questions,
		         k->offer.questions == 1 ? "" : "s");
	if (k->offer.acknowledged_at_us) {
		cli_time_since(when, k->offer.acknowledged_at_us, at_us);
		snprintf(out, 256, "%s %s -> %s, acked %s%s",
		         keten_message_type_name(k->offer.type), k->offer.from,
		         k->offer.to, when, q);
	} else {
		cli_time_since(when, k->offer.offered_at_us, at_us);
		snprintf(out, 256, "%s %s -> %s, sent %s, not acked%s",
		         keten_message_type_name(k->offer.type), k->offer.from,
		         k->offer.to, when, q);
	}
}

/* Which due time passed, as far as this side can tell; the broker (or
 * the audit replay) decided that one did. */
static void
overdue_text(char out[64], const struct keten_case *k, int64_t at_us)
{
	char when[40];

	if (!k->overdue) {
		out[0] = '\0';
	} else if (k->has_offer && !k->offer.acknowledged_at_us &&
	           k->offer.acknowledge_due_us &&
	           at_us >= k->offer.acknowledge_due_us) {
		cli_time_ago(when, k->offer.acknowledge_due_us, at_us);
		snprintf(out, 64, "OVERDUE (ack due %s)", when);
	} else if (k->has_offer && k->offer.decide_due_us &&
	           at_us >= k->offer.decide_due_us) {
		cli_time_ago(when, k->offer.decide_due_us, at_us);
		snprintf(out, 64, "OVERDUE (decision due %s)", when);
	} else {
		snprintf(out, 64, "OVERDUE");
	}
}

void
cli_cases_json(const struct keten_case *k)
{
	char hex[33], mid[33];

	keten_hex(hex, k->case_id, sizeof(k->case_id));
	printf("{\"case\":\"%s\",\"status\":\"%s\",\"holder\":", hex,
	       keten_case_status_name(k->status));
	json_str(stdout, k->holder);
	printf(",\"opened_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64,
	       k->opened_seq, k->last_seq);
	cli_time_json("opened_at", k->opened_at_us);
	cli_time_json("updated_at", k->updated_at_us);
	printf(",\"messages\":%" PRIu32 ",\"outcome\":", k->messages);
	if (k->status == KETEN_CASE_CLOSED && k->outcome)
		printf("\"%s\"", keten_outcome_name(k->outcome));
	else
		fputs("null", stdout);
	fputs(",\"offer\":", stdout);
	if (k->has_offer) {
		keten_hex(mid, k->offer.message_id,
		          sizeof(k->offer.message_id));
		printf("{\"message_id\":\"%s\",\"seq\":%" PRIu64
		       ",\"type\":\"%s\",\"from\":",
		       mid, k->offer.seq,
		       keten_message_type_name(k->offer.type));
		json_str(stdout, k->offer.from);
		fputs(",\"to\":", stdout);
		json_str(stdout, k->offer.to);
		cli_time_json("offered_at", k->offer.offered_at_us);
		cli_time_json("acknowledged_at", k->offer.acknowledged_at_us);
		cli_time_json("respond_by", k->offer.respond_by_us);
		cli_time_json("acknowledge_due", k->offer.acknowledge_due_us);
		cli_time_json("decide_due", k->offer.decide_due_us);
		printf(",\"questions\":%" PRIu32 "}", k->offer.questions);
	} else {
		fputs("null", stdout);
	}
	printf(",\"overdue\":%s,\"parties\":[", k->overdue ? "true" : "false");
	for (size_t i = 0; i < k->n_parties && i < KETEN_CASE_PARTIES_MAX;
	     i++) {
		fputs(i ? ",{\"agency\":" : "{\"agency\":", stdout);
		json_str(stdout, k->parties[i].agency);
		printf(",\"referred\":%s}",
		       k->parties[i].referred ? "true" : "false");
	}
	putchar(']');
	putchar('}');
}

size_t
cli_cases_print(const struct keten_case *cs, size_t n, int64_t at_us, int json,
                int overdue_only)
{
	char hex[33], status[48], offer[256], age[32], flag[64];
	int w_status = 6, w_holder = 6, w_offer = 5;
	size_t shown = 0, overdue = 0;

	for (size_t i = 0; i < n; i++) {
		if (overdue_only && !cs[i].overdue)
			continue;
		cli_cases_status(status, &cs[i]);
		offer_text(offer, &cs[i], at_us);
		if ((int)strlen(status) > w_status)
			w_status = (int)strlen(status);
		if ((int)strlen(cs[i].holder) > w_holder)
			w_holder = (int)strlen(cs[i].holder);
		if ((int)strlen(offer) > w_offer)
			w_offer = (int)strlen(offer);
		shown++;
	}
	if (!json && shown)
		printf("%-32s  %-*s  %-*s  %-*s  %s\n", "CASE", w_status,
		       "STATUS", w_holder, "HOLDER", w_offer, "OFFER", "AGE");
	for (size_t i = 0; i < n; i++) {
		if (overdue_only && !cs[i].overdue)
			continue;
		overdue += cs[i].overdue;
		if (json) {
			cli_cases_json(&cs[i]);
			putchar('\n');
			continue;
		}
		keten_hex(hex, cs[i].case_id, sizeof(cs[i].case_id));
		cli_cases_status(status, &cs[i]);
		offer_text(offer, &cs[i], at_us);
		cli_time_age(age, cs[i].opened_at_us, at_us);
		overdue_text(flag, &cs[i], at_us);
		printf("%s  %-*s  %-*s  %-*s  ", hex, w_status, status,
		       w_holder, cs[i].holder, w_offer, offer);
		/* no trailing blanks when there is no flag */
		if (*flag)
			printf("%-6s  %s\n", age, flag);
		else
			printf("%s\n", age);
	}
	if (!json && !shown) {
		char when[32];

		cli_time(when, at_us);
		printf(overdue_only ? "no overdue cases at %s\n"
		                    : "no cases (as of %s)\n",
		       when);
	}
	return overdue;
}

/* ---- keten cases ---- */

int
cmd_cases(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"overdue", no_argument, NULL, 'O'},
	    {"at", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_client *c;
	struct keten_case *cs;
	struct keten_error err;
	int64_t at_us = 0;
	size_t n, overdue;
	int ch, overdue_only = 0;

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
			if (cli_time_parse_at(&at_us, "cases", optarg) != 0)
				return EXIT_USAGE;
			break;
		case 'h':
			fputs(
			    "usage: keten cases [--overdue] [--at TIME] "
			    "[OPTIONS]\n\n"
			    "Lists the cases this agency is a party to (an "
			    "auditor: every case),\none line each: the case "
			    "id, "
			    "its status, the holder, the open offer\n(or -), "
			    "how long ago it was opened, and OVERDUE when the "
			    "open offer\nis past its acknowledgement or "
			    "decision deadline. With --json, one\nJSON object "
			    "per case per line.\n\n"
			    "  --overdue         list only overdue cases, and "
			    "exit 1 if there are\n"
			    "                    any (0 if none): for "
			    "monitoring\n"
			    "  --at TIME         judge overdue at another "
			    "moment: an ISO 8601 UTC\n"
			    "                    time (2026-11-30T17:00:00Z) "
			    "or "
			    "+DURATION from now\n"
			    "                    (+2d, +3h, +2wd; -DURATION "
			    "for "
			    "the past)\n" CLI_COMMON_HELP,
			    stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr,
		        "keten cases: unexpected '%s' (see 'keten "
		        "cases --help')\n",
		        argv[optind]);
		return EXIT_USAGE;
	}
	c = cli_connect(&o);
	if (keten_cases(&cs, &n, c, at_us, &err) != KETEN_OK) {
		keten_client_destroy(&c);
		return cli_fail("cases", &err);
	}
	overdue = cli_cases_print(cs, n, at_us ? at_us : cli_time_now(), o.json,
	                          overdue_only);
	free(cs);
	keten_client_destroy(&c);
	return overdue_only && overdue ? EXIT_REFUSED : EXIT_OK;
}
