/*
 * keten's case verbs: the steps after a referral (acknowledge, accept,
 * decline, handover, withdraw, ask, answer, feedback, close) and the views
 * of cases (cases, case show). The broker enforces the case rules; this
 * file never second-guesses them, it only checks what a person typed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* A TEXT option's @FILE is read whole; the broker's limit is far lower. */
#define TEXT_FILE_MAX ((size_t)16 << 20)

/* ---- times and spans ---- */

int64_t
cli_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "2d", "1h30m", "90s": units w d h m s, in any order, summed. */
static int
parse_span(int64_t *us, const char *s)
{
	int64_t total = 0, unit;
	unsigned long long v;
	char *end;

	if (*s == '\0')
		return -1;
	while (*s) {
		if (*s < '0' || *s > '9')
			return -1;
		errno = 0;
		v = strtoull(s, &end, 10);
		switch (*end) {
		case 'w':
			unit = 7 * 86400;
			break;
		case 'd':
			unit = 86400;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'm':
			unit = 60;
			break;
		case 's':
			unit = 1;
			break;
		default:
			return -1;
		}
		/* a hundred years is more than any deadline needs */
		if (errno ||
		    v > 100ULL * 366 * 86400 / (unsigned long long)unit)
			return -1;
		total += (int64_t)v * unit;
		if (total > 100LL * 366 * 86400)
			return -1;
		s = end + 1;
	}
	*us = total * 1000000;
	return 0;
}

int
cli_parse_time(int64_t *us, const char *arg, int64_t now_us)
{
	struct tm tm, back;
	int64_t span;
	time_t t;
	int n = -1;

	if (arg[0] == '+' || arg[0] == '-') {
		if (parse_span(&span, arg + 1) != 0)
			return -1;
		*us = arg[0] == '+' ? now_us + span : now_us - span;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (sscanf(arg, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon,
	           &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n < 0 || arg[n] != '\0' || tm.tm_year < 1970)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	back = tm;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	/* timegm normalises 2026-02-30 to March: refuse what it changed */
	if (tm.tm_mday != back.tm_mday || tm.tm_mon != back.tm_mon ||
	    tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min ||
	    tm.tm_sec != back.tm_sec)
		return -1;
	*us = (int64_t)t * 1000000;
	return 0;
}

void
cli_duration(char out[32], int64_t us)
{
	static const struct {
		int64_t s;
		char c;
	} units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
	const char *sign = us < 0 ? "-" : "";
	int64_t s = (us < 0 ? -us : us) / 1000000, hi, lo;
	size_t i;

	if (s == 0 && us != 0) {
		snprintf(out, 32, "%s<1s", sign);
		return;
	}
	for (i = 0; i < 3 && s < units[i].s; i++)
		;
	hi = s / units[i].s;
	lo = i < 3 ? s % units[i].s / units[i + 1].s : 0;
	if (lo)
		snprintf(out, 32, "%s%" PRId64 "%c%" PRId64 "%c", sign, hi,
		         units[i].c, lo, units[i + 1].c);
	else
		snprintf(out, 32, "%s%" PRId64 "%c", sign, hi, units[i].c);
}

/* "2h ago", or "in 2h" when the moment lies after the reference. */
static void
ago(char out[40], int64_t then_us, int64_t at_us)
{
	char d[32];

	cli_duration(d, then_us > at_us ? then_us - at_us : at_us - then_us);
	snprintf(out, 40, then_us > at_us ? "in %s" : "%s ago", d);
}

const char *
cli_urgency_name(enum keten_urgency u)
{
	switch (u) {
	case KETEN_URGENCY_ROUTINE:
		return "routine";
	case KETEN_URGENCY_URGENT:
		return "urgent";
	case KETEN_URGENCY_IMMEDIATE:
		return "immediate";
	}
	return "?";
}

static enum keten_urgency
urgency_parse(const char *word)
{
	for (int u = KETEN_URGENCY_ROUTINE; u <= KETEN_URGENCY_IMMEDIATE; u++)
		if (strcmp(word, cli_urgency_name((enum keten_urgency)u)) == 0)
			return (enum keten_urgency)u;
	return 0;
}

static void
json_time(const char *key, int64_t us)
{
	char t[32];

	if (us == 0) {
		printf(",\"%s\":null", key);
		return;
	}
	cli_time(t, us);
	printf(",\"%s\":\"%s\"", key, t);
}

/* ---- one case: a line, and JSON ---- */

static void
status_text(char out[48], const struct keten_case *k)
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
		ago(when, k->offer.acknowledged_at_us, at_us);
		snprintf(out, 256, "%s %s -> %s, acked %s%s",
		         keten_message_type_name(k->offer.type), k->offer.from,
		         k->offer.to, when, q);
	} else {
		ago(when, k->offer.offered_at_us, at_us);
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
		ago(when, k->offer.acknowledge_due_us, at_us);
		snprintf(out, 64, "OVERDUE (ack due %s)", when);
	} else if (k->has_offer && k->offer.decide_due_us &&
	           at_us >= k->offer.decide_due_us) {
		ago(when, k->offer.decide_due_us, at_us);
		snprintf(out, 64, "OVERDUE (decision due %s)", when);
	} else {
		snprintf(out, 64, "OVERDUE");
	}
}

static void
case_json(const struct keten_case *k)
{
	char hex[33], mid[33];

	keten_hex(hex, k->case_id, sizeof(k->case_id));
	printf("{\"case\":\"%s\",\"status\":\"%s\",\"holder\":", hex,
	       keten_case_status_name(k->status));
	json_str(stdout, k->holder);
	printf(",\"opened_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64,
	       k->opened_seq, k->last_seq);
	json_time("opened_at", k->opened_at_us);
	json_time("updated_at", k->updated_at_us);
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
		json_time("offered_at", k->offer.offered_at_us);
		json_time("acknowledged_at", k->offer.acknowledged_at_us);
		json_time("respond_by", k->offer.respond_by_us);
		json_time("acknowledge_due", k->offer.acknowledge_due_us);
		json_time("decide_due", k->offer.decide_due_us);
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
		status_text(status, &cs[i]);
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
			case_json(&cs[i]);
			putchar('\n');
			continue;
		}
		keten_hex(hex, cs[i].case_id, sizeof(cs[i].case_id));
		status_text(status, &cs[i]);
		offer_text(offer, &cs[i], at_us);
		cli_duration(age, at_us - cs[i].opened_at_us);
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

/* ---- TEXT options: literal, or @FILE ---- */

/* Reads path whole; prints why not and returns NULL. Caller frees. */
static char *
read_text_file(const char *verb, const char *opt, const char *path)
{
	FILE *f;
	char *buf = NULL, *grown;
	size_t len = 0, cap = 0, got;
	int e = 0;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "keten %s: --%s @%s: cannot open %s: %s\n",
		        verb, opt, path, path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - len < 2) {
			if (cap >= TEXT_FILE_MAX) {
				fprintf(stderr,
				        "keten %s: --%s @%s: the file is "
				        "larger than %zu MiB\n",
				        verb, opt, path, TEXT_FILE_MAX >> 20);
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			if ((grown = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "keten %s: out of memory\n",
				        verb);
				goto fail;
			}
			buf = grown;
		}
		errno = 0;
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
	}
	e = errno;
	if (ferror(f)) {
		fprintf(stderr, "keten %s: --%s @%s: cannot read %s: %s\n",
		        verb, opt, path, path, strerror(e ? e : EIO));
		goto fail;
	}
	fclose(f);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL || !cli_utf8_valid(buf, len)) {
		fprintf(stderr,
		        "keten %s: --%s @%s: the file is not UTF-8 "
		        "text (%s)\n",
		        verb, opt, path,
		        memchr(buf, '\0', len) ? "it holds a NUL byte"
		                               : "an invalid byte sequence");
		free(buf);
		return NULL;
	}
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

/* ---- the steps: one table row per verb ---- */

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

#define TEXT_HELP                                                              \
	"TEXT may be @FILE to read it from a file (UTF-8); write @@ for a\n"   \
	"literal leading @.\n\n"

static const struct step_verb {
	const char *name;
	enum keten_message_type type;
	unsigned options, required;
	const char *help; /* from the synopsis up to the common options */
} step_verbs[] = {
    {"acknowledge", KETEN_MSG_ACKNOWLEDGE, O_NOTE, 0,
     "usage: keten acknowledge CASE [--note TEXT] [OPTIONS]\n\n"
     "Confirms receipt of the case offered to this agency (the\n"
     "ontvangstbevestiging). The decision deadline starts counting now\n"
     "when the sender left it to the region's default. Not to be confused\n"
     "with 'keten ack', which moves the inbox cursor.\n\n"
     "  --note TEXT          a note to the holder (sealed)\n\n" TEXT_HELP},
    {"accept", KETEN_MSG_ACCEPT, O_NOTE, 0,
     "usage: keten accept CASE [--note TEXT] [OPTIONS]\n\n"
     "Takes the case offered to this agency: from now on this agency\n"
     "holds it.\n\n"
     "  --note TEXT          a note to the previous holder "
     "(sealed)\n\n" TEXT_HELP},
    {"decline", KETEN_MSG_DECLINE, O_REASON | O_NOTE, O_REASON,
     "usage: keten decline CASE --reason REASON [--note TEXT] [OPTIONS]\n\n"
     "Refuses the case offered to this agency; it stays with the agency\n"
     "that offered it.\n\n"
     "  --reason REASON      why (required), one of:\n"
     "                         not_competent      not this agency's task\n"
     "                         no_capacity        no room to take it on\n"
     "                         insufficient_info  too little to decide on\n"
     "                         wrong_region       belongs to another region\n"
     "                         other              the note says why\n"
     "  --note TEXT          an explanation to the holder "
     "(sealed)\n\n" TEXT_HELP},
    {"handover", KETEN_MSG_HANDOVER,
     O_TO | O_URGENCY | O_RESPOND_BY | O_KNOWN | O_SAFETY | O_MONITORING |
         O_INFORMED | O_NOTES,
     O_TO | O_KNOWN,
     "usage: keten handover CASE --to AGENCY --known TEXT [OPTIONS]\n\n"
     "Offers a case this agency holds to another agency (warme\n"
     "overdracht), with a dossier sealed to that agency. Until it\n"
     "accepts, this agency still holds the case.\n\n"
     "  --to AGENCY          the agency offered the case (required)\n"
     "  --urgency LEVEL      routine (default), urgent, immediate\n"
     "  --respond-by WHEN    decision deadline: 2026-11-30T17:00:00Z, a\n"
     "                       date (2026-11-30: the end of that day, UTC)\n"
     "                       or +DURATION from now (+5d, +36h); default:\n"
     "                       the region's, counted from acknowledgement\n"
     "  --known TEXT         what is known about child and family "
     "(required)\n"
     "  --safety TEXT        safety conditions (veiligheidsvoorwaarden)\n"
     "  --monitoring TEXT    monitoring plan\n"
     "  --family-informed    the family knows of the handover\n"
     "  --notes TEXT         anything else\n\n" TEXT_HELP},
    {"withdraw", KETEN_MSG_WITHDRAW, O_NOTE, 0,
     "usage: keten withdraw CASE [--note TEXT] [OPTIONS]\n\n"
     "Takes back this agency's open offer of a case it holds.\n\n"
     "  --note TEXT          a note to the agency offered it "
     "(sealed)\n\n" TEXT_HELP},
    {"ask", KETEN_MSG_INFO_REQUEST, O_TEXT, O_TEXT,
     "usage: keten ask CASE --text QUESTIONS [OPTIONS]\n\n"
     "Asks the holder questions about the case offered to this agency\n"
     "before deciding on it.\n\n"
     "  --text QUESTIONS     the questions (required, sealed)\n\n" TEXT_HELP},
    {"answer", KETEN_MSG_INFO_REPLY, O_TEXT, O_TEXT,
     "usage: keten answer CASE --text ANSWERS [OPTIONS]\n\n"
     "Answers the questions asked about this agency's open offer.\n\n"
     "  --text ANSWERS       the answers (required, sealed)\n\n" TEXT_HELP},
    {"feedback", KETEN_MSG_FEEDBACK, O_TO | O_TEXT, O_TO | O_TEXT,
     "usage: keten feedback CASE --to AGENCY --text TEXT [OPTIONS]\n\n"
     "Informs an agency that referred the case earlier how it goes\n"
     "(terugkoppeling aan melder). Only the holder sends feedback.\n\n"
     "  --to AGENCY          an agency that referred the case (required)\n"
     "  --text TEXT          the update (required, sealed)\n\n" TEXT_HELP},
    {"close", KETEN_MSG_CLOSE, O_OUTCOME, O_OUTCOME,
     "usage: keten close CASE --outcome OUTCOME [OPTIONS]\n\n"
     "Closes a case this agency holds; every agency in the case is told.\n"
     "Nothing can follow a close.\n\n"
     "  --outcome OUTCOME    how it ended (required), one of:\n"
     "                         completed       the help or measure is "
     "finished\n"
     "                         voluntary_care  continued in voluntary care\n"
     "                         no_concerns     concerns not confirmed\n"
     "                         moved           the family left the region\n"
     "                         other\n\n"},
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
	fputs(v->help, f);
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
	char full[32];
	int y, m, d, n = -1;

	if (sscanf(arg, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10 &&
	    arg[n] == '\0') {
		snprintf(full, sizeof(full), "%sT23:59:59Z", arg);
		return cli_parse_time(us, full, now_us);
	}
	return cli_parse_time(us, arg, now_us);
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
				fprintf(stderr,
				        "keten decline: --reason is "
				        "not_competent, no_capacity, "
				        "insufficient_info, wrong_region or "
				        "other, not '%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'o':
			if ((s.outcome = keten_outcome_parse(optarg)) == 0) {
				fprintf(stderr,
				        "keten close: --outcome is completed, "
				        "voluntary_care, no_concerns, moved or "
				        "other, not '%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'u':
			if ((s.urgency = urgency_parse(optarg)) == 0) {
				fprintf(stderr,
				        "keten handover: --urgency is routine, "
				        "urgent or immediate, not '%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'b':
			if (parse_respond_by(&s.respond_by_us, optarg,
			                     cli_now_us()) != 0) {
				fprintf(stderr,
				        "keten handover: --respond-by takes "
				        "2026-11-30T17:00:00Z, 2026-11-30 or "
				        "+DURATION (+5d, +36h), not '%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			if (s.respond_by_us <= cli_now_us()) {
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

		if (t < 0 || text[t] == NULL)
			continue;
		if (text[t][0] == '@' && text[t][1] != '@') {
			if ((loaded[t] = read_text_file(v->name, name,
			                                text[t] + 1)) == NULL)
				goto out;
			text[t] = loaded[t];
		} else if (text[t][0] == '@') {
			text[t]++; /* "@@..." is a literal "@..." */
		}
		if ((v->required & step_options[i].bit) && text[t][0] == '\0') {
			fprintf(stderr, "keten %s: --%s is empty\n", v->name,
			        name);
			goto out;
		}
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

/* ---- keten cases ---- */

static int
parse_at(int64_t *at_us, const char *verb, const char *arg)
{
	if (cli_parse_time(at_us, arg, cli_now_us()) == 0)
		return 0;
	fprintf(stderr,
	        "keten %s: --at takes an ISO 8601 UTC time "
	        "(2026-11-30T17:00:00Z) or +DURATION (+2d, +3h, +90s), "
	        "not '%s'\n",
	        verb, arg);
	return -1;
}

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
			if (parse_at(&at_us, "cases", optarg) != 0)
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
			    "                    (+2d, +3h, +90s; -DURATION "
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
	overdue = cli_cases_print(cs, n, at_us ? at_us : cli_now_us(), o.json,
	                          overdue_only);
	free(cs);
	keten_client_destroy(&c);
	return overdue_only && overdue ? EXIT_REFUSED : EXIT_OK;
}

/* ---- keten case show ---- */

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
			         cli_urgency_name(e->urgency), due);
		} else {
			snprintf(out, 160, "%s %s",
			         keten_message_type_name(e->type),
			         cli_urgency_name(e->urgency));
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
	char hex[33], line[512], t[32], t2[32], when[40], d[32];
	size_t len = 0;

	keten_hex(hex, k->case_id, sizeof(k->case_id));
	printf("case %s\n", hex);
	status_text(line, k);
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
	cli_duration(d, now_us - k->opened_at_us);
	snprintf(line, sizeof(line), "%s (record %" PRIu64 "), %s ago", t,
	         k->opened_seq, d);
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
		ago(when, k->offer.offered_at_us, now_us);
		snprintf(line, sizeof(line), "%s, %s", t, when);
		show_line("  offered", line);
		if (k->offer.acknowledged_at_us) {
			cli_time(t, k->offer.acknowledged_at_us);
			ago(when, k->offer.acknowledged_at_us, now_us);
			snprintf(line, sizeof(line), "%s, %s", t, when);
			show_line("  acked", line);
		} else if (k->offer.acknowledge_due_us) {
			cli_time(t, k->offer.acknowledge_due_us);
			ago(when, k->offer.acknowledge_due_us, now_us);
			snprintf(line, sizeof(line), "not yet; due %s, %s", t,
			         when);
			show_line("  acked", line);
		} else {
			show_line("  acked", "not yet");
		}
		if (k->offer.decide_due_us) {
			cli_time(t, k->offer.decide_due_us);
			ago(when, k->offer.decide_due_us, now_us);
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

			cli_duration(d, e->offer_age_us);
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
	case_json(&h->summary);
	fputs(",\"events\":[", stdout);
	for (size_t i = 0; i < h->n; i++) {
		e = &h->events[i];
		keten_hex(mid, e->message_id, sizeof(e->message_id));
		printf("%s{\"seq\":%" PRIu64, i ? "," : "", e->seq);
		json_time("received_at", e->received_at_us);
		json_time("sent_at", e->sent_at_us);
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
			       cli_urgency_name(e->urgency));
			json_time("respond_by", e->respond_by_us);
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
		show_summary(&h->summary, cli_now_us());
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
