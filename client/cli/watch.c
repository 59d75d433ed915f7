/* keten watch: follows the agency's inbox live through a subscription
 * (keten_receive), showing each message as keten inbox does. Never
 * acknowledges a message before it has been written out, nor one that
 * did not verify (unless skipped as proven forged, and recorded). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define WAIT_DEFAULT_S 25
#define BATCH_MAX      64
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000

static void
help(FILE *f)
{
	fputs(
	    "usage: keten watch [--ack] [--skip-forged] [--from SEQ] [--count "
	    "N]\n"
	    "                   [--wait SEC] [OPTIONS]\n\n"
	    "Follows this agency's inbox live: waits at the broker for new "
	    "messages\nand shows each as 'keten inbox' does, its sender's "
	    "signature checked\nand its sealed content opened, as soon as it "
	    "is recorded. Starts after\nthe acknowledged cursor (or after SEQ, "
	    "with --from) and goes on until\nstopped, across broker restarts "
	    "too: when the broker cannot be reached\nit says so on standard "
	    "error and tries again. With --json, one JSON\nobject per message "
	    "per line, written out as it comes (JSON Lines).\n\n"
	    "Delivery is at least once. Without --ack the broker's cursor "
	    "stays\nwhere it is, so the next watch or inbox shows the same "
	    "messages again.\nWith --ack each batch is acknowledged once it "
	    "has been written out,\nnever before; a watch stopped between the "
	    "two shows those messages\nagain when started anew.\n\n"
	    "A message that fails verification is never acknowledged and "
	    "never\npassed: the watch stops before it, says on standard error "
	    "why and what\nto do, and keeps trying again, each time after "
	    "refreshing the roster\n(from the broker's log), so an "
	    "agency that joined is verified\nas soon as the log records it, "
	    "without a restart. Only a message proven\nforged (a known signer "
	    "whose signature does not verify, or a body that\nnames another "
	    "sender) may be passed, with --skip-forged: it is shown\nwith the "
	    "reason, and the skip recorded in the key file's path +\n"
	    "'.skipped' before it is acknowledged.\n\n"
	    "Ctrl-C or SIGTERM stops it, exit status 0: at once while it "
	    "waits,\nor after the message it is showing and acknowledging; a "
	    "second\nsignal stops it at once. Exit status 1 if the broker "
	    "refuses, 2 for\nusage or if the output cannot be written.\n\n"
	    "  --ack           acknowledge each batch once it is written out\n"
	    "  --skip-forged   pass a message proven forged, recording the "
	    "skip\n"
	    "  --from SEQ      start after message SEQ (never before the "
	    "cursor;\n"
	    "                  --ack then also acknowledges those skipped)\n"
	    "  --count N       exit after N messages (with --ack: once they "
	    "are\n"
	    "                  acknowledged)\n"
	    "  --wait SEC      how long each request waits at the broker, 1 "
	    "to 60\n"
	    "                  (default 25)\n" CLI_COMMON_HELP,
	    f);
}

static int
transient(int code)
{
	return code == KETEN_E_TIMEOUT || code == KETEN_E_CONNECT ||
	       code == KETEN_E_UNAVAILABLE;
}

/* A pause that doubles up to BACKOFF_MAX_MS. A stop signal cuts it short
 * (nanosleep is never restarted). */
static void
pause_backoff(int *backoff_ms)
{
	struct timespec ts;

	ts.tv_sec = *backoff_ms / 1000;
	ts.tv_nsec = (long)(*backoff_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !cli_stop_asked())
		;
	*backoff_ms *= 2;
	if (*backoff_ms > BACKOFF_MAX_MS)
		*backoff_ms = BACKOFF_MAX_MS;
}

/* One line per failed attempt, then a pause. */
static void
retry_later(int *backoff_ms, const struct keten_error *err)
{
	fputs("keten watch: broker unreachable (", stderr);
	cli_put_text(stderr, err->message);
	fputs("); retrying\n", stderr);
	pause_backoff(backoff_ms);
}

/* The message the watch stopped before, as last reported. */
struct blocked {
	uint64_t seq; /* 0: none */
	char why[KETEN_ERROR_MAX];
	char refresh_why[KETEN_ERROR_MAX]; /* the last refresh's failure */
	int backoff_ms;
};

/* Message m did not verify, and the watch stops before it: says so once
 * (again only if the reason changes), refreshes the roster and moves the
 * subscription back so that m comes again. The first retry of a message
 * is at once (after the refresh: a verdict that counts for a skip); later
 * ones wait, doubling. */
static void
watch_blocked(struct blocked *b, struct keten_client *c,
              const struct keten_message *m)
{
	struct keten_error err;
	int again = b->seq == m->seq;

	if (!again || strcmp(b->why, m->status_message) != 0)
		cli_unverified("watch", m,
		               "keten watch retries after refreshing the "
		               "roster.");
	if (!again)
		b->backoff_ms = BACKOFF_MIN_MS;
	b->seq = m->seq;
	snprintf(b->why, sizeof(b->why), "%s", m->status_message);
	if (again)
		pause_backoff(&b->backoff_ms);
	if (keten_client_refresh(c, &err) == KETEN_OK) {
		b->refresh_why[0] = '\0';
	} else if (strcmp(b->refresh_why, err.message) != 0) {
		fputs("keten watch: cannot refresh the roster: ", stderr);
		cli_put_text(stderr, err.message);
		fputc('\n', stderr);
		snprintf(b->refresh_why, sizeof(b->refresh_why), "%s",
		         err.message);
	}
	keten_subscribe(c, m->seq - 1);
}

/* After a connection failure or a timeout, a new client: the old socket
 * may still queue requests for a broker that is gone (each would become
 * a waiting read when it is back), or hold a refusal of its transport key
 * by a broker since restarted with another config. The subscription's
 * position carries over. */
static void
reconnect(struct keten_client **c, const struct cli_common *o)
{
	uint64_t at = keten_subscription(*c);

	keten_client_destroy(c);
	*c = cli_connect(o); /* exits if the config or key went bad */
	keten_subscribe(*c, at);
}

/* Acknowledges up to seq, trying again while the broker cannot be
 * reached, unless a stop is asked meanwhile. */
static int
ack_upto(struct keten_client **c, const struct cli_common *o, uint64_t seq)
{
	struct keten_error err;
	uint64_t cursor;
	int rc, backoff_ms = BACKOFF_MIN_MS;

	while ((rc = keten_ack(&cursor, *c, seq, &err)) != KETEN_OK) {
		if (!transient(rc))
			return cli_fail("watch", &err);
		if (cli_stop_asked()) {
			fprintf(stderr,
			        "keten watch: stopped before the messages up "
			        "to #%" PRIu64 " were acknowledged; the next "
			        "watch shows them again\n",
			        seq);
			return EXIT_CONNECT;
		}
		retry_later(&backoff_ms, &err);
		if (rc != KETEN_E_UNAVAILABLE)
			reconnect(c, o);
	}
	if (!o->json) {
		printf("acknowledged up to #%" PRIu64 "\n", cursor);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr,
			        "keten watch: cannot write the output\n");
			return EXIT_USAGE;
		}
	}
	return EXIT_OK;
}

/* Parses a whole non-negative decimal number no larger than max. */
static int
parse_count(unsigned long long *v, const char *arg, unsigned long long max)
{
	char *end;

	errno = 0;
	if (arg[0] < '0' || arg[0] > '9')
		return -1;
	*v = strtoull(arg, &end, 10);
	return errno || *end || *v > max ? -1 : 0;
}

int
cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_COMMON_OPTIONS,
	    {"ack", no_argument, NULL, 'a'},
	    {"skip-forged", no_argument, NULL, 'S'},
	    {"from", required_argument, NULL, 'F'},
	    {"count", required_argument, NULL, 'n'},
	    {"wait", required_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_common o;
	struct keten_client *c;
	struct keten_inbox *in;
	const struct keten_message *stop;
	struct keten_error err;
	struct blocked blocked = {0};
	unsigned long long from = 0, count = 0, wait_s = WAIT_DEFAULT_S, v;
	uint64_t shown = 0, last = 0, limit;
	int ch, rc, ack = 0, skip = 0, have_from = 0;
	int backoff_ms = BACKOFF_MIN_MS;

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
		case 'F':
			if (parse_count(&from, optarg, UINT64_MAX) != 0) {
				fprintf(stderr,
				        "keten watch: --from takes a sequence "
				        "number, not '%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			have_from = 1;
			break;
		case 'n':
			if (parse_count(&v, optarg, UINT64_MAX) != 0 ||
			    v == 0) {
				fprintf(stderr,
				        "keten watch: --count takes a number "
				        "of messages of 1 or more, not '%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			count = v;
			break;
		case 'W':
			if (parse_count(&v, optarg, KETEN_WAIT_MAX_MS / 1000) !=
			        0 ||
			    v == 0) {
				fprintf(stderr,
				        "keten watch: --wait takes 1 to %d "
				        "seconds, not '%s'\n",
				        KETEN_WAIT_MAX_MS / 1000, optarg);
				return EXIT_USAGE;
			}
			wait_s = v;
			break;
		case 'h':
			help(stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "keten watch: unexpected argument '%s'\n",
		        argv[optind]);
		return EXIT_USAGE;
	}
	c = cli_connect(&o); /* exits if it cannot */
	if (have_from)
		keten_subscribe(c, from);
	cli_stop_install();
	while (!cli_stop_asked() && (count == 0 || shown < count)) {
		size_t max = BATCH_MAX;

		if (count > 0 && count - shown < max)
			max = (size_t)(count - shown);
		rc = keten_receive(&in, c, max, (int)wait_s * 1000, &err);
		if (transient(rc)) {
			retry_later(&backoff_ms, &err);
			if (rc != KETEN_E_UNAVAILABLE)
				reconnect(&c, &o);
			continue;
		}
		if (rc != KETEN_OK) {
			keten_client_destroy(&c);
			return cli_fail("watch", &err);
		}
		backoff_ms = BACKOFF_MIN_MS;
		/* From here until acknowledged, a stop waits for us. */
		cli_stop_busy(1);
		limit = keten_inbox_ack_limit(in);
		stop = NULL;
		for (size_t i = 0; i < in->n; i++) {
			const struct keten_message *m = &in->messages[i];

			/* Nothing passes a message that did not verify but
			 * one proven forged, skipped and recorded. */
			if (m->status != KETEN_OK && m->seq > limit) {
				if (!skip || !m->forged) {
					stop = m;
					break;
				}
				if ((rc = cli_skip_forged("watch", in, i, c,
				                          o.key, &err)) !=
				    KETEN_OK) {
					/* USAGE: no verdict after a refresh
					 * yet, which watch_blocked gets. */
					if (rc != KETEN_E_USAGE)
						cli_fail("watch", &err);
					stop = m;
					break;
				}
				limit = keten_inbox_ack_limit(in);
			}
			if (m->seq == blocked.seq)
				blocked.seq = 0; /* it passes now */
			cli_message_print(m, o.json);
			if (fflush(stdout) != 0 || ferror(stdout)) {
				fprintf(stderr,
				        "keten watch: cannot write "
				        "the output; not acknowledging\n");
				keten_inbox_free(&in);
				keten_client_destroy(&c);
				return EXIT_USAGE;
			}
			last = m->seq;
			shown++;
			if (cli_stop_asked())
				break; /* the rest comes again */
		}
		if (ack && last > 0 &&
		    (rc = ack_upto(&c, &o, last)) != EXIT_OK) {
			keten_inbox_free(&in);
			keten_client_destroy(&c);
			return rc;
		}
		/* After what came before it is acknowledged: the client
		 * ack_upto may have made anew follows the same roster file. */
		if (stop != NULL && !cli_stop_asked())
			watch_blocked(&blocked, c, stop);
		keten_inbox_free(&in);
		last = 0;
		cli_stop_busy(0);
	}
	keten_client_destroy(&c);
	return EXIT_OK;
}
