/*
 * ketend: start-up, signals and shutdown. Loads the config and the broker's
 * keys, hands the signing key to signer.c and the transport key to the
 * ROUTER, then wipes its own copies.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "backup.h"
#include "broker.h"
#include "clock.h"
#include "fileck.h"
#include "keten_version.h"
#include "keys.h"
#include "ledger_layout.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "roster_sync.h"
#include "text.h"
#include "wire.h"

/* The generated header reads these constants; a mismatch is a build bug. */
_Static_assert(KETEN_PROTOCOL_VERSION == WIRE_PROTOCOL_VERSION,
               "keten_version.h is older than common/wire.h");
_Static_assert(KETEN_SCHEMA_VERSION == LAYOUT_SCHEMA_VERSION,
               "keten_version.h is older than common/ledger_layout.h");

static void
usage(FILE *f)
{
	fputs("usage: ketend [-c CONFIG] [--log-level LEVEL]\n"
	      "              [--allow-clock-behind]\n"
	      "       ketend --check-config [CONFIG]\n"
	      "       ketend --backup DIR [-c CONFIG]\n"
	      "       ketend --version\n"
	      "\n"
	      "The keten referral broker: records signed messages between\n"
	      "youth-protection agencies in a hash chain and delivers them.\n"
	      "\n"
	      "  -c, --config FILE        region config (YAML) to serve;\n"
	      "                           default " KETEND_DEFAULT_CONFIG "\n"
	      "  -n, --check-config [FILE]\n"
	      "                           validate FILE (or -c's, or the\n"
	      "                           default), the broker key file and\n"
	      "                           the data directory as the start\n"
	      "                           does; print its agencies, routes\n"
	      "                           and deadlines, exit\n"
	      "      --backup DIR         copy CONFIG's data directory,\n"
	      "                           live or not, into the new or\n"
	      "                           empty DIR (0700, files 0600),\n"
	      "                           verify it as keten audit verify\n"
	      "                           does, print its head, exit\n"
	      "      --log-level LEVEL    error, warn, info (default), debug\n"
	      "      --allow-clock-behind start though the clock is behind\n"
	      "                           the log's time (ketend(8))\n"
	      "  -V, --version            print the release, the protocol\n"
	      "                           and the storage schema, exit\n"
	      "  -h, --help               this text\n"
	      "\n"
	      "A relative data_dir is taken under $STATE_DIRECTORY when\n"
	      "systemd sets it (StateDirectory=), else under CONFIG's\n"
	      "directory. Under systemd (Type=notify) ketend reports\n"
	      "readiness, reloads and stops, and feeds WatchdogSec=.\n"
	      "\n"
	      "Signals: HUP reloads CONFIG, USR1 logs a status line,\n"
	      "TERM, INT and QUIT stop cleanly.\n"
	      "\n"
	      "Exit status: 0 clean stop (SIGTERM/SIGINT/SIGQUIT) or valid\n"
	      "config; "
	      "1 invalid config or start-up failure, or no verified\n"
	      "backup; 2 usage error.\n"
	      "See ketend(8) in docs/ketend.md.\n",
	      f);
}

/*
 * The broker's key file, loaded and matched against broker.sign_key and
 * transport_key of c; the sentence in err if not. Shared by the start
 * and --check-config, so that both say the same.
 */
static int
start_broker_keys(struct keys **k, const struct config *c,
                  struct keten_error *err)
{
	int rc;

	if (c->broker_key_file[0] == '\0')
		return error_set(err, KETEN_E_CONFIG,
		                 "%s has no broker.key_file", c->path);
	if ((rc = keys_load(k, c->broker_key_file, err)) != KETEN_OK)
		return rc;
	if (sodium_memcmp((*k)->sign_pk, c->broker_sign_pk, 32) != 0 ||
	    sodium_memcmp((*k)->curve_pk, c->broker_curve_pk, 32) != 0) {
		keys_destroy(k);
		return error_set(err, KETEN_E_KEYFILE,
		                 "the keys in %s do not match "
		                 "broker.sign_key/transport_key in %s",
		                 c->broker_key_file, c->path);
	}
	return KETEN_OK;
}

/*
 * The data directory as --check-config sees it, without creating it:
 * a directory no one but its owner may write, or missing with a parent
 * ketend can create it in (store_open creates it, mode 0700, and checks
 * it the same way). *missing says which.
 */
static int
start_data_dir(int *missing, const struct config *c, struct keten_error *err)
{
	char parent[PATH_MAX], *p;
	int rc;

	if ((rc = fileck_dir(missing, c->data_dir, "data directory", KETEN_E_IO,
	                     err)) != KETEN_OK)
		return rc;
	snprintf(parent, sizeof(parent), "%s", c->data_dir);
	p = dirname(parent);
	if (*missing && access(p, W_OK | X_OK) != 0)
		return error_set(err, KETEN_E_IO,
		                 "%s: data directory does not exist and "
		                 "cannot be created in %s: %s",
		                 c->data_dir, p, strerror(errno));
	/* Whoever may write its parent may put another log in its place. */
	return fileck_parent(c->data_dir, "data directory", KETEN_E_IO, err);
}

static int
check_config(const char *path)
{
	struct config *c;
	struct keys *k = NULL;
	struct keten_error err;
	char ack[CLOCK_DURATION_STR_MAX], ref[CLOCK_DURATION_STR_MAX],
	    hand[CLOCK_DURATION_STR_MAX];
	int missing = 0;

	if (config_load(&c, path, &err) != KETEN_OK) {
		fprintf(stderr, "ketend: %s\n", err.message);
		return 1;
	}
	/* Everything the start checks before it opens the store. */
	if (start_broker_keys(&k, c, &err) != KETEN_OK ||
	    start_data_dir(&missing, c, &err) != KETEN_OK) {
		fprintf(stderr, "ketend: %s\n", err.message);
		keys_destroy(&k);
		config_destroy(&c);
		return 1;
	}
	keys_destroy(&k);
	printf("%s: valid\nregion %s\nlisten %s\ndata_dir %s%s\n", path,
	       c->region, c->listen, c->data_dir,
	       missing ? " (missing: ketend creates it, mode 0700)" : "");
	if (c->broker_keys_from_file)
		printf("broker key_file %s (broker.sign_key and transport_key "
		       "read from it; keten and libketen need them in the "
		       "config: keten keygen --show %s prints them)\n",
		       c->broker_key_file, c->broker_key_file);
	else
		printf("broker key_file %s (matches broker.sign_key and "
		       "transport_key)\n",
		       c->broker_key_file);
	printf("max_message_bytes %zu\nworkers %u\nagencies %zu\n",
	       c->max_message_bytes, c->workers, c->n_agencies);
	if (c->metrics_listen[0] != '\0')
		printf("metrics listen %s\n", c->metrics_listen);
	for (size_t i = 0; i < c->n_agencies; i++)
		printf("  %-24s %-13s %s\n", c->agencies[i].id,
		       config_kind_name(c->agencies[i].kind),
		       c->agencies[i].name);
	printf("routes (who may send what to whom):\n");
	for (size_t i = 0; i < c->n_routes; i++) {
		const struct route *r = &c->routes[i];

		printf("  %-12s %-12s -> ", keten_message_type_name(r->type),
		       config_route_kind_name(r->from));
		if (r->type == KETEN_MSG_FEEDBACK)
			printf("%-12s (only to an agency that referred the "
			       "case)\n",
			       config_route_kind_name(r->to));
		else
			printf("%s\n", config_route_kind_name(r->to));
	}
	printf("answers: acknowledge, accept, decline and info_request go "
	       "from an open offer's recipient to the holder; info_reply and "
	       "withdraw from the holder to the offer's recipient; close from "
	       "the holder to every agency in the case.\n");
	clock_format_duration(ack, sizeof(ack), &c->deadline_acknowledge);
	clock_format_duration(ref, sizeof(ref), &c->deadline_referral);
	clock_format_duration(hand, sizeof(hand), &c->deadline_handover);
	printf("deadlines: acknowledge %s, referral decision %s, handover "
	       "decision %s (decision counted from the acknowledgement)\n",
	       ack, ref, hand);
	config_destroy(&c);
	return 0;
}

/* A clock before 1970 is wrong whatever the log says: nothing is opened
 * under it. 0, or -1 (logged). */
static int
clock_before_epoch(void)
{
	int64_t now_us = clock_now_us();

	if (now_us >= 0)
		return 0;
	log_err("event=start_failed reason=\"the clock reads before 1970 "
	        "(%lld s before the epoch), so it is wrong; set it right "
	        "(NTP, chrony) and start again\"",
	        (long long)(-now_us / 1000000));
	return -1;
}

/* The clock against the log's time, before anything is recorded: behind
 * it by more than the tolerance refuses the start unless the operator
 * allows it (docs/ketend.md, "The clock"). 0, or -1 (logged). */
static int
clock_behind_log(const struct store_writer *sw, const struct config *c,
                 bool allow)
{
	int64_t behind_us = store_writer_time(sw) - clock_now_us();
	long long behind_s = (long long)(behind_us / 1000000);

	if (behind_us <= (int64_t)c->clock_behind_tolerance_s * 1000000)
		return 0;
	if (!allow) {
		log_err("event=start_failed behind_s=%lld reason=\"the clock "
		        "is %lld s behind the log's time (its newest "
		        "checkpoint), more than "
		        "limits.clock_behind_tolerance_s (%u s): set the "
		        "clock right (NTP, chrony) and start again, or start "
		        "with --allow-clock-behind to let the log's time stand "
		        "still until the clock catches up (PROTOCOL.md 9.1)\"",
		        behind_s, behind_s, c->clock_behind_tolerance_s);
		return -1;
	}
	log_warn("event=clock_behind behind_s=%lld override=allow-clock-behind "
	         "reason=\"the stored checkpoint is dated after this clock's "
	         "time (the clock was set ahead once, or is wrong now); the "
	         "log's time stands still at the checkpoint's until the clock "
	         "catches up (PROTOCOL.md 9.1)\"",
	         behind_s);
	return 0;
}

/* Every connection is a descriptor: the soft limit goes up to the hard
 * one (the unit's LimitNOFILE=), and the log says what it is. */
static void
raise_open_files(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t soft = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = soft;
	}
	log_info("event=open_files soft=%llu hard=%llu",
	         (unsigned long long)rl.rlim_cur,
	         (unsigned long long)rl.rlim_max);
}

static int
serve(const char *path, bool allow_clock_behind)
{
	struct broker b;
	struct store_writer *sw = NULL;
	struct writer_start ws;
	struct config *c = NULL;
	struct liveconf_gen *start = NULL; /* generation 1, for the store */
	struct keys *k = NULL;
	struct signer *sg = NULL;
	struct metrics *mx = NULL;
	struct keten_error err;
	uint8_t curve_sk[32];
	pthread_t zap, writer, *workers = NULL;
	sigset_t block;
	int rc = 1;

	memset(&b, 0, sizeof(b));
	raise_open_files();
	/* Before any thread exists (libzmq's too): signals are only ever
	 * taken through transport.c's signalfd. */
	transport_signals(&block);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (config_load(&c, path, &err) != KETEN_OK) {
		log_err("event=start_failed reason=%s", log_q(err.message));
		return 1;
	}
	if (start_broker_keys(&k, c, &err) != KETEN_OK) {
		log_err("event=start_failed reason=%s", log_q(err.message));
		config_destroy(&c);
		return 1;
	}
	/* From here the holder owns c; the store borrows generation 1's
	 * broker key, so main keeps a reference until the store closes. */
	if (liveconf_new(&b.live, c, &err) != KETEN_OK) {
		keys_destroy(&k);
		return 1;
	}
	start = liveconf_acquire(b.live);
	memcpy(curve_sk, k->curve_sk, 32);
	if (signer_new(&sg, &k, c->broker_key.name, &err) != KETEN_OK)
		goto out;
	if (clock_before_epoch() != 0)
		goto out;
	if (store_open(&b.store, &sw, c->data_dir, c->map_size, c->map_max,
	               c->region, &c->broker_key, signer_checkpoint, sg,
	               store_verify_chain, c, &err) != KETEN_OK) {
		log_err("event=start_failed reason=%s", log_q(err.message));
		goto out;
	}
	if (clock_behind_log(sw, c, allow_clock_behind) != 0)
		goto out;
	/* The roster the config asks for, recorded before anything is
	 * served (docs/PROTOCOL.md 22.7). */
	if (roster_sync(b.store, sw, c, sg, &err) != KETEN_OK) {
		log_err("event=start_failed reason=%s", log_q(err.message));
		goto out;
	}
	b.signer = sg;
	if (metrics_start(&mx, &b, &err) != KETEN_OK) {
		log_err("event=start_failed reason=%s", log_q(err.message));
		goto out;
	}
	if ((b.zctx = zmq_ctx_new()) == NULL ||
	    (workers = calloc(c->workers, sizeof(*workers))) == NULL)
		goto out;
	ws.b = &b;
	ws.w = sw;
	if (pthread_create(&zap, NULL, zap_main, &b) != 0 ||
	    pthread_create(&writer, NULL, writer_main, &ws) != 0)
		fatalx("event=thread_start_failed");
	for (unsigned i = 0; i < c->workers; i++)
		if (pthread_create(&workers[i], NULL, verify_main, &b) != 0)
			fatalx("event=thread_start_failed");
	/* ZAP must be bound before the CURVE ROUTER takes peers. */
	while (!atomic_load(&b.zap_ready))
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	rc = transport_run(&b, curve_sk) == 0 ? 0 : 1;
	sodium_memzero(curve_sk, sizeof(curve_sk));
	for (unsigned i = 0; i < c->workers; i++)
		pthread_join(workers[i], NULL);
	pthread_join(writer, NULL);
	pthread_join(zap, NULL);
	log_info("event=stopped");
out:
	metrics_stop(&mx); /* it reads the store */
	sodium_memzero(curve_sk, sizeof(curve_sk));
	if (b.zctx)
		zmq_ctx_term(b.zctx);
	free(workers);
	store_close(&b.store, &sw);
	signer_destroy(&sg);
	keys_destroy(&k);
	liveconf_release(&start);
	liveconf_destroy(&b.live);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", optional_argument, NULL, 'n'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"allow-clock-behind", no_argument, NULL, 'B'},
	    {"backup", required_argument, NULL, 'K'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *check = NULL, *backup = NULL;
	enum log_level level = LOG_INFO;
	bool allow_clock_behind = false, checking = false;
	int ch;

	/* --check-config's FILE is optional: "--check-config FILE" leaves it
	 * as the one operand, "--check-config=FILE" and "-nFILE" as optarg. */
	while ((ch = getopt_long(argc, argv, "c:n::Vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'n':
			checking = true;
			check = optarg;
			break;
		case 'L':
			if (strcmp(optarg, "error") == 0)
				level = LOG_ERR;
			else if (strcmp(optarg, "warn") == 0)
				level = LOG_WARN;
			else if (strcmp(optarg, "info") == 0)
				level = LOG_INFO;
			else if (strcmp(optarg, "debug") == 0)
				level = LOG_DEBUG;
			else {
				fprintf(stderr,
				        "ketend: unknown log level '%s'\n",
				        optarg);
				return 2;
			}
			break;
		case 'B':
			allow_clock_behind = true;
			break;
		case 'K':
			backup = optarg;
			break;
		case 'V':
			puts("ketend " KETEN_VERSION_TEXT);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (checking && check == NULL && optind + 1 == argc)
		check = argv[optind++];
	if (optind != argc || (check != NULL && config != NULL) ||
	    (checking && backup != NULL)) {
		usage(stderr);
		return 2;
	}
	if (check != NULL)
		config = check;
	if (config == NULL)
		config = KETEND_DEFAULT_CONFIG;
	if (sodium_init() < 0) {
		fprintf(stderr, "ketend: libsodium failed to initialise\n");
		return 1;
	}
	if (backup != NULL)
		return backup_run(backup, config);
	log_init("ketend", level);
	if (checking)
		return check_config(config);
	notify_init();
	return serve(config, allow_clock_behind);
}
