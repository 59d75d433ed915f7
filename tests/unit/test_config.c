/*
 * config: a region file loads with its defaults, and every invalid file is
 * refused with KETEN_E_CONFIG and a sentence naming the file, the line and
 * the reason. Files are written to a fresh mkdtemp directory.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../check.h"
#include "config.h"
#include "keys.h"
#include "text.h"
#include "wire.h"

#define MAX_LINES    96
#define LINE_MAX_LEN 300

static char dir[512], realdir[PATH_MAX]; /* dir: short, so paths fit */
static struct keten_error err;

/* The lines of the file being built; lines[0] is line 1. */
static char lines[MAX_LINES][LINE_MAX_LEN];
static int nlines;

/* Public keys, base64: broker sign/transport, two agencies' three each. */
static char b_sign[TEXT_KEY_B64_LEN], b_curve[TEXT_KEY_B64_LEN];
static char a_sign[2][TEXT_KEY_B64_LEN], a_box[2][TEXT_KEY_B64_LEN];
static char a_curve[2][TEXT_KEY_B64_LEN];
static uint8_t a_curve_bin[2][32], a_sign_bin[2][32];

static void
make_keys(void)
{
	uint8_t pk[32], sk[64];

	(void)crypto_sign_keypair(pk, sk);
	text_key_to_b64(b_sign, pk);
	(void)crypto_box_keypair(pk, sk);
	text_key_to_b64(b_curve, pk);
	for (int i = 0; i < 2; i++) {
		(void)crypto_sign_keypair(a_sign_bin[i], sk);
		text_key_to_b64(a_sign[i], a_sign_bin[i]);
		(void)crypto_box_keypair(pk, sk);
		text_key_to_b64(a_box[i], pk);
		(void)crypto_box_keypair(a_curve_bin[i], sk);
		text_key_to_b64(a_curve[i], a_curve_bin[i]);
	}
	sodium_memzero(sk, sizeof(sk));
}

static void set_line(int n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Replaces line n (1-based). */
static void
set_line(int n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lines[n - 1], LINE_MAX_LEN, fmt, ap);
	va_end(ap);
}

/* Inserts text as the new line n; later lines move down. */
static void
insert_line(int n, const char *text)
{
	memmove(lines[n], lines[n - 1],
	        (size_t)(nlines - n + 1) * LINE_MAX_LEN);
	snprintf(lines[n - 1], LINE_MAX_LEN, "%s", text);
	nlines++;
}

/* Appends text as the last line. */
static void
append_line(const char *text)
{
	insert_line(nlines + 1, text);
}

/* Deletes lines first..last (1-based, inclusive). */
static void
delete_lines(int first, int last)
{
	int k = last - first + 1;

	memmove(lines[first - 1], lines[last],
	        (size_t)(nlines - last) * LINE_MAX_LEN);
	nlines -= k;
}

/*
 * The valid base file. Line numbers matter to the tests below:
 *  1 region   2 listen   3 data_dir   4 broker:   5 key_file   6 sign_key
 *  7 transport_key   8 limits:   9 workers   10 agencies:
 * 11-16 the first agency (id on 11), 17-22 the second (id on 17).
 */
static void
base(void)
{
	nlines = 22;
	set_line(1, "region: flevoland");
	set_line(2, "listen: tcp://127.0.0.1:7450");
	set_line(3, "data_dir: data");
	set_line(4, "broker:");
	set_line(5, "  key_file: broker.key");
	set_line(6, "  sign_key: %s", b_sign);
	set_line(7, "  transport_key: %s", b_curve);
	set_line(8, "limits:");
	set_line(9, "  workers: 4");
	set_line(10, "agencies:");
	set_line(11, "  - id: lt-almere");
	set_line(12, "    name: Lokaal team Almere");
	set_line(13, "    kind: local_team");
	set_line(14, "    sign_key: %s", a_sign[0]);
	set_line(15, "    box_key: %s", a_box[0]);
	set_line(16, "    transport_key: %s", a_curve[0]);
	set_line(17, "  - id: vt-flevoland");
	set_line(18, "    name: Veilig Thuis Flevoland");
	set_line(19, "    kind: veilig_thuis");
	set_line(20, "    sign_key: %s", a_sign[1]);
	set_line(21, "    box_key: %s", a_box[1]);
	set_line(22, "    transport_key: %s", a_curve[1]);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

static void
write_lines(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	for (int i = 0; i < nlines; i++)
		fprintf(f, "%s\n", lines[i]);
	fclose(f);
}

/* Writes the current lines to dir/name and loads them. */
static int
load(struct config **c, const char *name, char *path)
{
	snprintf(path, PATH_MAX, "%s/%s", dir, name);
	write_lines(path);
	*c = NULL;
	memset(&err, 0, sizeof(err));
	return config_load(c, path, &err);
}

/*
 * Loads the current lines and expects a refusal whose message has the
 * path, ":line: " and the reason; a failed part prints the message.
 */
static void
expect_refused(const char *name, int line, const char *reason)
{
	char path[PATH_MAX], at[PATH_MAX + 16];
	struct config *c = NULL;

	CHECK_INT(load(&c, name, path), KETEN_E_CONFIG);
	CHECK_INT(err.code, KETEN_E_CONFIG);
	CHECK(c == NULL);
	snprintf(at, sizeof(at), "%s:%d: ", path, line);
	CHECK_STR_HAS(err.message, at);
	CHECK_STR_HAS(err.message, reason);
	config_destroy(&c);
}

static void
test_valid(void)
{
	char path[PATH_MAX], want[PATH_MAX + 32];
	struct config *c = NULL;
	const struct agency *a;

	base();
	CHECK_INT(load(&c, "valid.yaml", path), KETEN_OK);
	if (c == NULL) {
		fprintf(stderr, "valid config refused: %s\n", err.message);
		return;
	}
	CHECK(strcmp(c->path, path) == 0);
	CHECK(strcmp(c->region, "flevoland") == 0);
	CHECK(strcmp(c->listen, "tcp://127.0.0.1:7450") == 0);
	CHECK(strcmp(c->connect, c->listen) == 0); /* defaults to listen */
	snprintf(want, sizeof(want), "%s/data", realdir);
	CHECK(strcmp(c->data_dir, want) == 0);
	snprintf(want, sizeof(want), "%s/broker.key", realdir);
	CHECK(strcmp(c->broker_key_file, want) == 0);
	CHECK(c->data_dir[0] == '/');
	{
		uint8_t k[32];

		CHECK_INT(text_key_from_b64(k, b_sign), 0);
		CHECK(memcmp(c->broker_sign_pk, k, 32) == 0);
		CHECK_INT(text_key_from_b64(k, b_curve), 0);
		CHECK(memcmp(c->broker_curve_pk, k, 32) == 0);
	}
	/* Limits: workers given, the rest defaults. */
	CHECK_INT(c->workers, 4);
	CHECK_INT(c->max_message_bytes, CONFIG_DEFAULT_MAX_MESSAGE);
	CHECK(c->map_size == (size_t)CONFIG_DEFAULT_MAP_MB << 20);
	CHECK_INT(c->batch_max, CONFIG_DEFAULT_BATCH_MAX);

	CHECK_INT(c->n_agencies, 2);
	if (c->n_agencies == 2) {
		CHECK(strcmp(c->agencies[0].id, "lt-almere") == 0);
		CHECK(strcmp(c->agencies[0].name, "Lokaal team Almere") == 0);
		CHECK_INT(c->agencies[0].kind, KETEN_KIND_LOCAL_TEAM);
		CHECK_INT(c->agencies[0].line, 11);
		CHECK(memcmp(c->agencies[0].sign_pk, a_sign_bin[0], 32) == 0);
		CHECK(memcmp(c->agencies[0].curve_pk, a_curve_bin[0], 32) == 0);
		CHECK(strcmp(c->agencies[1].id, "vt-flevoland") == 0);
		CHECK_INT(c->agencies[1].kind, KETEN_KIND_VEILIG_THUIS);
		CHECK_INT(c->agencies[1].line, 17);
	}
	a = config_find(c, "vt-flevoland");
	CHECK(a != NULL && a->kind == KETEN_KIND_VEILIG_THUIS);
	CHECK(config_find(c, "vt-utrecht") == NULL);
	CHECK(config_find(c, "") == NULL);
	a = config_find_transport(c, a_curve_bin[0]);
	CHECK(a != NULL && strcmp(a->id, "lt-almere") == 0);
	CHECK(config_find_transport(c, c->broker_curve_pk) == NULL);
	config_destroy(&c);
	CHECK(c == NULL);
	config_destroy(&c); /* NULL is a no-op */
	config_destroy(NULL);

	/* Explicit connect, absolute paths, every limit, every kind. */
	base();
	set_line(3, "data_dir: /var/lib/keten");
	set_line(5, "  key_file: /etc/keten/broker.key");
	set_line(9, "  workers: 64");
	insert_line(10, "  max_message_bytes: 4096");
	insert_line(11, "  map_size_mb: 10");
	insert_line(12, "  batch_max: 65536");
	insert_line(3, "connect: tcp://broker.example:7450");
	CHECK_INT(load(&c, "valid2.yaml", path), KETEN_OK);
	if (c != NULL) {
		CHECK(strcmp(c->connect, "tcp://broker.example:7450") == 0);
		CHECK(strcmp(c->data_dir, "/var/lib/keten") == 0);
		CHECK(strcmp(c->broker_key_file, "/etc/keten/broker.key") == 0);
		CHECK_INT(c->workers, 64);
		CHECK_INT(c->max_message_bytes, 4096);
		CHECK(c->map_size == (size_t)10 << 20);
		CHECK_INT(c->batch_max, 65536);
	}
	config_destroy(&c);

	{
		const char *words[] = {"local_team", "veilig_thuis", "gi",
		                       "raad", "auditor"};
		const enum keten_kind k[] = {
		    KETEN_KIND_LOCAL_TEAM, KETEN_KIND_VEILIG_THUIS,
		    KETEN_KIND_GI, KETEN_KIND_RAAD, KETEN_KIND_AUDITOR};

		for (int i = 0; i < 5; i++) {
			base();
			set_line(19, "    kind: %s", words[i]);
			CHECK_INT(load(&c, "kinds.yaml", path), KETEN_OK);
			CHECK(c != NULL && c->agencies[1].kind == k[i]);
			CHECK(strcmp(config_kind_name(k[i]), words[i]) == 0);
			config_destroy(&c);
		}
		CHECK(strcmp(config_kind_name(KETEN_KIND_NONE), "?") == 0);
		CHECK(strcmp(config_kind_name((enum keten_kind)42), "?") == 0);
	}

	/* Comments, blank lines and quoting are fine; lines still count. */
	base();
	insert_line(1, "# Region Flevoland");
	insert_line(2, "");
	set_line(3, "region: \"flevoland\"");
	CHECK_INT(load(&c, "comments.yaml", path), KETEN_OK);
	CHECK(c != NULL && c->agencies[0].line == 13);
	config_destroy(&c);

	/* No broker key_file: allowed (clients need no secret). */
	base();
	delete_lines(5, 5);
	CHECK_INT(load(&c, "nokeyfile.yaml", path), KETEN_OK);
	CHECK(c != NULL && c->broker_key_file[0] == '\0');
	config_destroy(&c);
}

static void
test_invalid(void)
{
	char path[PATH_MAX];
	struct config *c = NULL;

	base();
	insert_line(4, "colour: blue");
	expect_refused("unknown-top.yaml", 4, "unknown setting 'colour'");

	base();
	insert_line(14, "    phone: 036-1234567");
	expect_refused("unknown-agency-key.yaml", 14,
	               "unknown agency setting 'phone'");

	base();
	insert_line(6, "  colour: blue");
	expect_refused("unknown-broker-key.yaml", 6,
	               "unknown broker setting 'colour'");

	base();
	insert_line(10, "  threads: 4");
	expect_refused("unknown-limit.yaml", 10, "unknown limit 'threads'");

	base();
	set_line(13, "    kind: police");
	expect_refused("bad-kind.yaml", 13, "unknown kind 'police'");
	base();
	set_line(19, "    kind: Local_Team");
	expect_refused("bad-kind2.yaml", 19, "unknown kind");

	base();
	set_line(15, "    box_key: not-base64!");
	expect_refused("bad-key.yaml", 15, "'box_key' must be a 32-byte key");
	{
		uint8_t k[31] = {0};
		char b64[64];

		sodium_bin2base64(b64, sizeof(b64), k, sizeof(k),
		                  sodium_base64_VARIANT_ORIGINAL);
		base();
		set_line(20, "    sign_key: %s", b64);
		expect_refused("short-key.yaml", 20, "'sign_key' must be");
	}
	base();
	set_line(7, "  transport_key: %.43s", b_curve); /* no padding */
	expect_refused("broker-key.yaml", 7, "'transport_key' must be");

	base();
	set_line(17, "  - id: lt-almere");
	expect_refused("dup-id.yaml", 17,
	               "agency 'lt-almere' is defined twice");

	base();
	set_line(22, "    transport_key: %s", a_curve[0]);
	expect_refused(
	    "dup-transport.yaml", 17,
	    "agency 'vt-flevoland' has the same transport_key as 'lt-almere'");

	base();
	set_line(16, "    transport_key: %s", b_curve);
	expect_refused("broker-transport.yaml", 11, "broker's transport_key");

	base();
	set_line(11, "  - id: LT-Almere");
	expect_refused("bad-id.yaml", 11, "agency id 'LT-Almere' is invalid");

	base();
	delete_lines(12, 12);
	expect_refused("agency-missing-name.yaml", 11, "agency needs id, name");

	/* Missing required settings: reported at the top mapping (line 1). */
	base();
	delete_lines(1, 1);
	expect_refused("no-region.yaml", 1, "'region' is missing");
	base();
	delete_lines(2, 2);
	expect_refused("no-listen.yaml", 1, "'listen' is missing");
	base();
	delete_lines(3, 3);
	expect_refused("no-data-dir.yaml", 1, "'data_dir' is missing");
	base();
	delete_lines(4, 7);
	expect_refused("no-broker.yaml", 1, "'broker' is missing");
	base();
	delete_lines(7, 7);
	expect_refused("broker-no-transport.yaml", 5,
	               "'broker' has sign_key but no transport_key: give "
	               "both (keten keygen --show BROKER_KEY_FILE");
	base();
	delete_lines(6, 6);
	expect_refused("broker-no-sign.yaml", 5,
	               "'broker' has transport_key but no sign_key");
	base();
	set_line(10, "agencies: lt-almere");
	delete_lines(11, 22);
	expect_refused("agencies-scalar.yaml", 10, "'agencies' must be a list");

	base();
	set_line(2, "listen: ipc:///tmp/keten.sock");
	expect_refused("ipc-listen.yaml", 2, "'listen' must be a tcp://");
	base();
	set_line(1, "region: Flevoland");
	expect_refused("bad-region.yaml", 1, "region 'Flevoland' is invalid");
	base();
	set_line(1, "region: [a, b]");
	expect_refused("region-list.yaml", 1,
	               "'region' must be a single value");
	base();
	set_line(3, "data_dir: \"\"");
	expect_refused("empty-data-dir.yaml", 3, "'data_dir' is empty");

	/* Limits out of range or not numbers. */
	base();
	set_line(9, "  workers: 0");
	expect_refused("workers-0.yaml", 9, "between 1 and 64");
	base();
	set_line(9, "  workers: 65");
	expect_refused("workers-65.yaml", 9, "between 1 and 64");
	base();
	set_line(9, "  workers: -1");
	expect_refused("workers-neg.yaml", 9,
	               "'workers' must be a whole number");
	base();
	set_line(9, "  workers: 4x");
	expect_refused("workers-4x.yaml", 9,
	               "'workers' must be a whole number");
	base();
	set_line(9, "  max_message_bytes: 4095");
	expect_refused("max-msg.yaml", 9, "between 4096 and 67108864");
	base();
	set_line(9, "  max_message_bytes: 67108865");
	expect_refused("max-msg2.yaml", 9, "between 4096 and 67108864");
	/* libzmq holds 4 of the largest frame per connection: a smaller
	 * inbound bound given beside large messages is refused. */
	base();
	insert_line(10, "  max_message_bytes: 16777216");
	insert_line(11, "  peer_inbound_mb: 64");
	expect_refused("peer-in-small.yaml", 9,
	               "limits.peer_inbound_mb (64 MiB) must hold four");
	CHECK_STR_HAS(err.message, "max_message_bytes (16777216)");
	base();
	set_line(9, "  batch_max: 99999999999999999999999");
	expect_refused("batch-overflow.yaml", 9, "'batch_max' must be");
	base();
	set_line(9, "  map_size_mb: 0");
	expect_refused("map-0.yaml", 9, "'map_size_mb' must be");
	base();
	set_line(8, "limits: 5");
	delete_lines(9, 9);
	expect_refused("limits-scalar.yaml", 8, "'limits' must be a mapping");

	/* Not YAML: an unclosed flow sequence, a tab, a second colon. */
	base();
	set_line(12, "    name: [Lokaal team");
	insert_line(13, "    what: is this");
	expect_refused("syntax.yaml", 13, "did not find expected ',' or ']'");
	base();
	set_line(15, "\tbox_key: %s", a_box[0]);
	expect_refused("tab.yaml", 15, "tab character");
	base();
	set_line(6, "  sign_key: %s: %s", b_sign, b_sign);
	expect_refused("colon.yaml", 6, "mapping values are not allowed");

	/* Not a mapping at all. */
	base();
	nlines = 1;
	set_line(1, "- just a list");
	expect_refused("list.yaml", 1, "must be a YAML mapping");
	set_line(1, "just a string");
	expect_refused("string.yaml", 1, "must be a YAML mapping");

	/* Empty and comment-only files: refused, naming the file. */
	snprintf(path, sizeof(path), "%s/empty.yaml", dir);
	write_text(path, "");
	memset(&err, 0, sizeof(err));
	CHECK_INT(config_load(&c, path, &err), KETEN_E_CONFIG);
	CHECK(c == NULL);
	CHECK_STR_HAS(err.message, path);
	snprintf(path, sizeof(path), "%s/comment.yaml", dir);
	write_text(path, "# nothing here yet\n");
	CHECK_INT(config_load(&c, path, &err), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, path);

	/* A file that does not exist. */
	snprintf(path, sizeof(path), "%s/absent.yaml", dir);
	memset(&err, 0, sizeof(err));
	CHECK_INT(config_load(&c, path, &err), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, path);
	CHECK_STR_HAS(err.message, "cannot open");
	CHECK(c == NULL);
}

/* Whether row i of c's table is type from -> to. */
static int
route_is(const struct config *c, size_t i, uint32_t type, enum keten_kind from,
         enum keten_kind to)
{
	return i < c->n_routes && c->routes[i].type == type &&
	       c->routes[i].from == from && c->routes[i].to == to;
}

static void
test_routes_deadlines(void)
{
	char path[PATH_MAX];
	struct config *c = NULL;

	/* Without routes: and deadlines: the defaults, in order. */
	base();
	CHECK_INT(load(&c, "defaults.yaml", path), KETEN_OK);
	if (c == NULL) {
		fprintf(stderr, "default config refused: %s\n", err.message);
		return;
	}
	CHECK_INT(c->n_routes, 7);
	CHECK(route_is(c, 0, KETEN_MSG_REFERRAL, KETEN_KIND_LOCAL_TEAM,
	               KETEN_KIND_VEILIG_THUIS));
	CHECK(route_is(c, 1, KETEN_MSG_HANDOVER, KETEN_KIND_LOCAL_TEAM,
	               KETEN_KIND_VEILIG_THUIS));
	CHECK(route_is(c, 2, KETEN_MSG_HANDOVER, KETEN_KIND_VEILIG_THUIS,
	               KETEN_KIND_GI));
	CHECK(
	    route_is(c, 3, KETEN_MSG_HANDOVER, KETEN_KIND_GI, KETEN_KIND_RAAD));
	CHECK(route_is(c, 4, KETEN_MSG_HANDOVER, KETEN_KIND_VEILIG_THUIS,
	               KETEN_KIND_LOCAL_TEAM));
	CHECK(
	    route_is(c, 5, KETEN_MSG_HANDOVER, KETEN_KIND_RAAD, KETEN_KIND_GI));
	CHECK(route_is(c, 6, KETEN_MSG_FEEDBACK, KETEN_KIND_NONE,
	               KETEN_KIND_NONE));
	CHECK_INT(config_n_default_routes, 7);
	CHECK(memcmp(c->routes, config_default_routes,
	             7 * sizeof(struct route)) == 0);
	CHECK(c->routes != config_default_routes); /* its own copy */
	CHECK_INT(c->deadline_acknowledge.working_days, 1);
	CHECK_INT(c->deadline_acknowledge.us, 0);
	CHECK_INT(c->deadline_referral.working_days, 5);
	CHECK_INT(c->deadline_referral.us, 0);
	CHECK_INT(c->deadline_handover.working_days, 10);
	CHECK_INT(c->deadline_handover.us, 0);
	CHECK(strcmp(config_route_kind_name(KETEN_KIND_NONE), "any") == 0);
	CHECK(strcmp(config_route_kind_name(KETEN_KIND_GI), "gi") == 0);
	config_destroy(&c);

	/* A table of its own replaces the default entirely; flow and block
	 * rows mix; deadlines not given keep their default. */
	base();
	append_line("routes:");
	append_line("  - {type: referral, from: local_team, to: veilig_thuis}");
	append_line("  - type: handover");
	append_line("    from: veilig_thuis");
	append_line("    to: gi");
	append_line("  - {type: referral, from: veilig_thuis, to: gi}");
	append_line("  - {type: feedback, from: gi, to: any}");
	append_line("deadlines:");
	append_line("  acknowledge: 12h");
	append_line("  referral: \"3d\"");
	CHECK_INT(load(&c, "custom.yaml", path), KETEN_OK);
	if (c == NULL) {
		fprintf(stderr, "custom config refused: %s\n", err.message);
		return;
	}
	CHECK_INT(c->n_routes, 4);
	CHECK(route_is(c, 0, KETEN_MSG_REFERRAL, KETEN_KIND_LOCAL_TEAM,
	               KETEN_KIND_VEILIG_THUIS));
	CHECK(route_is(c, 1, KETEN_MSG_HANDOVER, KETEN_KIND_VEILIG_THUIS,
	               KETEN_KIND_GI));
	CHECK(route_is(c, 2, KETEN_MSG_REFERRAL, KETEN_KIND_VEILIG_THUIS,
	               KETEN_KIND_GI));
	CHECK(
	    route_is(c, 3, KETEN_MSG_FEEDBACK, KETEN_KIND_GI, KETEN_KIND_NONE));
	CHECK_INT(c->deadline_acknowledge.us, (int64_t)12 * 3600 * 1000000);
	CHECK_INT(c->deadline_acknowledge.working_days, 0);
	CHECK_INT(c->deadline_referral.us, (int64_t)3 * 86400 * 1000000);
	CHECK_INT(c->deadline_referral.working_days, 0);
	CHECK_INT(c->deadline_handover.working_days, 10);
	CHECK_INT(c->deadline_handover.us, 0);
	config_destroy(&c);

	/* One row; keys in any order, anywhere in the file. */
	base();
	insert_line(1, "routes: [{to: any, from: any, type: feedback}]");
	insert_line(1, "deadlines: {handover: 20wd, acknowledge: 30m}");
	CHECK_INT(load(&c, "one-route.yaml", path), KETEN_OK);
	if (c != NULL) {
		CHECK_INT(c->n_routes, 1);
		CHECK(route_is(c, 0, KETEN_MSG_FEEDBACK, KETEN_KIND_NONE,
		               KETEN_KIND_NONE));
		CHECK_INT(c->deadline_handover.working_days, 20);
		CHECK_INT(c->deadline_acknowledge.us,
		          (int64_t)30 * 60 * 1000000);
		CHECK_INT(c->deadline_referral.working_days, 5);
		CHECK_INT(c->agencies[0].line, 13);
	}
	config_destroy(&c);
}

static void
test_routes_refused(void)
{
	static const char *const answers[] = {"acknowledge",  "accept",
	                                      "decline",      "withdraw",
	                                      "info_request", "info_reply"};
	char text[LINE_MAX_LEN], want[LINE_MAX_LEN];

	/* Empty: a list without rows, or every row commented out. */
	base();
	append_line("routes: []");
	expect_refused("routes-empty.yaml", 23,
	               "routes is empty: no message could be sent; omit it "
	               "for the default table");
	base();
	append_line("routes:");
	append_line("#  - {type: referral, from: local_team, to: gi}");
	expect_refused("routes-null.yaml", 23, "routes is empty");

	base();
	append_line("routes: referral");
	expect_refused("routes-scalar.yaml", 23, "'routes' must be a list");
	base();
	append_line("routes: {type: referral, from: local_team, to: gi}");
	expect_refused("routes-map.yaml", 23, "'routes' must be a list");
	base();
	append_line("routes:");
	append_line("  - referral local_team veilig_thuis");
	expect_refused("route-scalar.yaml", 24, "each route must be a mapping");

	/* Unknown and missing keys. */
	base();
	append_line("routes:");
	append_line("  - type: referral");
	append_line("    from: local_team");
	append_line("    to: veilig_thuis");
	append_line("    via: gi");
	expect_refused("route-unknown-key.yaml", 27,
	               "unknown route setting 'via'");
	base();
	append_line("routes:");
	append_line("  - {type: referral, from: local_team}");
	expect_refused("route-no-to.yaml", 24,
	               "a route needs type, from and to");
	base();
	append_line("routes:");
	append_line("  - {type: referral, type: handover, from: gi, to: raad}");
	expect_refused("route-key-twice.yaml", 24, "'type' is given twice");

	/* Types: only referral, handover and feedback have routes. */
	base();
	append_line("routes:");
	append_line("  - {type: accept, from: veilig_thuis, to: local_team}");
	expect_refused("route-accept.yaml", 24,
	               "accept has no route: answers go back along the offer "
	               "they answer; only referral, handover and feedback "
	               "are routed");
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		base();
		append_line("routes:");
		append_line("  - {type: feedback, from: any, to: any}");
		snprintf(text, sizeof(text),
		         "  - {type: %s, from: gi, to: raad}", answers[i]);
		append_line(text);
		snprintf(want, sizeof(want),
		         "%s has no route: answers go back along the offer",
		         answers[i]);
		expect_refused("route-answer.yaml", 25, want);
	}
	base();
	append_line("routes:");
	append_line("  - {type: close, from: gi, to: any}");
	expect_refused("route-close.yaml", 24,
	               "close has no route: it goes from the case's holder "
	               "to every agency in the case");
	base();
	append_line("routes:");
	append_line("  - {type: letter, from: gi, to: raad}");
	expect_refused("route-letter.yaml", 24,
	               "unknown message type 'letter' in route: use "
	               "referral, handover or feedback");
	base();
	append_line("routes:");
	append_line("  - {type: Referral, from: gi, to: raad}");
	expect_refused("route-case.yaml", 24, "unknown message type");
	base();
	append_line("routes:");
	append_line("  - {type: [referral], from: gi, to: raad}");
	expect_refused("route-type-list.yaml", 24, "unknown message type");

	/* Kinds: a kind word or any; never auditor. */
	base();
	append_line("routes:");
	append_line("  - {type: referral, from: police, to: veilig_thuis}");
	expect_refused("route-police.yaml", 24,
	               "unknown kind 'police' in route 'from': use "
	               "local_team, veilig_thuis, gi, raad or any");
	base();
	append_line("routes:");
	append_line("  - type: handover");
	append_line("    from: gi");
	append_line("    to: Raad");
	expect_refused("route-to-case.yaml", 26,
	               "unknown kind 'Raad' in route 'to'");
	base();
	append_line("routes:");
	append_line("  - {type: feedback, from: auditor, to: any}");
	expect_refused("route-from-auditor.yaml", 24,
	               "'from: auditor' cannot be routed: an auditor sends "
	               "and receives nothing");
	base();
	append_line("routes:");
	append_line("  - {type: referral, from: local_team, to: veilig_thuis}");
	append_line("  - type: feedback");
	append_line("    from: gi");
	append_line("    to: auditor");
	expect_refused("route-to-auditor.yaml", 27,
	               "an auditor sends and receives nothing");

	/* The same row twice, and a row that an "any" row already allows,
	 * whichever comes first. */
	base();
	append_line("routes:");
	append_line("  - {type: handover, from: gi, to: raad}");
	append_line("  - {type: referral, from: gi, to: raad}");
	append_line("  - {type: handover, from: raad, to: gi}");
	append_line("  - type: handover");
	append_line("    to: raad");
	append_line("    from: gi");
	expect_refused("route-twice.yaml", 27,
	               "route handover gi -> raad is given twice (first on "
	               "line 24)");
	base();
	append_line("routes:");
	append_line("  - {type: feedback, from: any, to: any}");
	append_line("  - {type: feedback, from: gi, to: raad}");
	expect_refused("route-covered.yaml", 25,
	               "route feedback gi -> raad is already allowed by "
	               "feedback any -> any on line 24");
	base();
	append_line("routes:");
	append_line("  - {type: feedback, from: gi, to: raad}");
	append_line("  - {type: feedback, from: any, to: raad}");
	expect_refused("route-covers.yaml", 25,
	               "route feedback any -> raad also allows feedback gi "
	               "-> raad on line 24");
	base();
	append_line("routes:");
	append_line("  - {type: feedback, from: any, to: any}");
	append_line("  - {type: feedback, from: any, to: any}");
	expect_refused("route-any-twice.yaml", 25,
	               "route feedback any -> any is given twice (first on "
	               "line 24)");
	base();
	append_line("routes:");
	append_line("  - {type: referral, from: local_team, to: veilig_thuis}");
	insert_line(23, "routes: []");
	expect_refused("routes-twice.yaml", 24, "'routes' is given twice");
}

static void
test_deadlines_refused(void)
{
	static const char *const bad_forms[] = {
	    "5",    "5x",   "-1d",   "+1d",    "0s",
	    "1.5h", "5 d",  "3651d", "3651wd", "99999999999999999999999s",
	    "5w",   "\"\"",
	};
	char text[LINE_MAX_LEN], want[LINE_MAX_LEN];

	for (size_t i = 0; i < sizeof(bad_forms) / sizeof(bad_forms[0]); i++) {
		base();
		append_line("deadlines:");
		append_line("  acknowledge: 1wd");
		snprintf(text, sizeof(text), "  referral: %s", bad_forms[i]);
		append_line(text);
		snprintf(want, sizeof(want), "not '%s'",
		         strcmp(bad_forms[i], "\"\"") == 0 ? "" : bad_forms[i]);
		expect_refused("deadline-bad.yaml", 25,
		               "'deadlines.referral' must be a whole number "
		               "above 0 and a unit: 45s, 30m, 12h, 3d or 5wd "
		               "(working days), at most 3650 days");
		expect_refused("deadline-bad.yaml", 25, want);
	}
	base();
	append_line("deadlines:");
	append_line("  handover:");
	expect_refused("deadline-null.yaml", 24,
	               "'deadlines.handover' must be");
	base();
	append_line("deadlines:");
	append_line("  acknowledge: [1wd]");
	expect_refused("deadline-list.yaml", 24,
	               "'deadlines.acknowledge' must be one duration: 45s, "
	               "30m, 12h, 3d or 5wd");
	base();
	append_line("deadlines:");
	append_line("  decision: 5wd");
	expect_refused("deadline-unknown.yaml", 24,
	               "unknown deadline 'decision': use acknowledge, "
	               "referral or handover");
	base();
	append_line("deadlines:");
	append_line("  referral: 5wd");
	append_line("  referral: 3wd");
	expect_refused("deadline-twice.yaml", 25, "'referral' is given twice");
	base();
	append_line("deadlines: 5wd");
	expect_refused("deadlines-scalar.yaml", 23,
	               "'deadlines' must be a mapping");
}

/* Removes what the test wrote: the plain files in dir, then dir. */
/* Witnesses' keys, base64: cosigning and transport. */
static char w_sign[CONFIG_WITNESSES_MAX + 1][TEXT_KEY_B64_LEN];
static char w_curve[CONFIG_WITNESSES_MAX + 1][TEXT_KEY_B64_LEN];
static uint8_t w_curve_bin[2][32];

/* Appends witness i (keys i) under name, from line nlines + 1. */
static void
add_witness(int i, const char *name)
{
	char l[LINE_MAX_LEN];

	snprintf(l, sizeof(l), "  - name: %s", name);
	append_line(l);
	snprintf(l, sizeof(l), "    cosign_key: %s", w_sign[i]);
	append_line(l);
	snprintf(l, sizeof(l), "    transport_key: %s", w_curve[i]);
	append_line(l);
}

/* The base file with two witnesses: "witnesses:" on line 23, the first
 * witness on 24-26 (name on 24), the second on 27-29. */
static void
base_witnesses(void)
{
	base();
	append_line("witnesses:");
	add_witness(0, "lt-almere.example/witness");
	add_witness(1, "inspectie.example/witness");
}

static void
test_witnesses(void)
{
	char path[PATH_MAX], name[32];
	struct config *c = NULL;
	const struct witness *w;
	uint8_t pk[32], sk[64];

	for (int i = 0; i <= CONFIG_WITNESSES_MAX; i++) {
		(void)crypto_sign_keypair(pk, sk);
		text_key_to_b64(w_sign[i], pk);
		(void)crypto_box_keypair(pk, sk);
		text_key_to_b64(w_curve[i], pk);
		if (i < 2)
			memcpy(w_curve_bin[i], pk, 32);
	}
	sodium_memzero(sk, sizeof(sk));

	/* Two witnesses; without witness_quorum one cosignature is enough. */
	base_witnesses();
	CHECK_INT(load(&c, "witnesses.yaml", path), KETEN_OK);
	if (c == NULL) {
		fprintf(stderr, "witnesses refused: %s\n", err.message);
		return;
	}
	CHECK_INT(c->n_witnesses, 2);
	CHECK_INT(c->witness_quorum, 1);
	CHECK((w = config_find_witness(c, "inspectie.example/witness")) !=
	      NULL);
	CHECK(w != NULL && w->line == 27);
	CHECK(config_find_witness_transport(c, w_curve_bin[0]) ==
	      config_find_witness(c, "lt-almere.example/witness"));
	CHECK(config_find_witness(c, "lt-almere") == NULL);
	CHECK(config_find_witness_transport(c, a_curve_bin[0]) == NULL);
	config_destroy(&c);
	append_line("witness_quorum: 2");
	CHECK_INT(load(&c, "quorum.yaml", path), KETEN_OK);
	CHECK(c != NULL && c->witness_quorum == 2);
	config_destroy(&c);

	/* Each refusal names its line and reason. */
	base_witnesses();
	set_line(27, "  - name: lt-almere.example/witness");
	expect_refused("w-twice.yaml", 27,
	               "witness 'lt-almere.example/witness' is defined twice");
	base_witnesses();
	set_line(24, "  - name: lt almere");
	expect_refused("w-space.yaml", 24,
	               "witness name 'lt almere' is invalid: use 1-127 "
	               "printable ASCII characters, no space and no '+'");
	base_witnesses();
	set_line(24, "  - name: lt+almere");
	expect_refused("w-plus.yaml", 24,
	               "witness name 'lt+almere' is invalid");
	base_witnesses();
	append_line("witness_quorum: 0");
	expect_refused("w-q0.yaml", 30,
	               "'witness_quorum' must be a whole number between 1 "
	               "and 1024");
	base_witnesses();
	append_line("witness_quorum: 3");
	expect_refused("w-q3.yaml", 30,
	               "witness_quorum is 3 but 2 witnesses are named");
	base();
	append_line("witness_quorum: 1");
	expect_refused("w-q-none.yaml", 23,
	               "witness_quorum is 1 but 0 witnesses are named");
	base_witnesses();
	set_line(29, "    transport_key: %s", a_curve[1]);
	expect_refused("w-agency.yaml", 27,
	               "witness 'inspectie.example/witness' has the same "
	               "transport_key as agency 'vt-flevoland'");
	base_witnesses();
	set_line(29, "    transport_key: %s", w_curve[0]);
	expect_refused("w-curve.yaml", 27,
	               "has the same transport_key as witness "
	               "'lt-almere.example/witness'");
	base_witnesses();
	set_line(29, "    transport_key: %s", b_curve);
	expect_refused("w-broker.yaml", 27, "uses the broker's transport_key");
	base_witnesses();
	delete_lines(28, 28);
	expect_refused("w-nokey.yaml", 27,
	               "a witness needs name, cosign_key and transport_key");

	/* At most CONFIG_WITNESSES_MAX. */
	base();
	append_line("witnesses:");
	for (int i = 0; i <= CONFIG_WITNESSES_MAX; i++) {
		snprintf(name, sizeof(name), "w%d.example/witness", i);
		add_witness(i, name);
	}
	expect_refused("w-many.yaml", 24,
	               "17 witnesses are named; at most 16 may be");
}

/* A rotation statement stands in as any bytes: config only decodes it. */
static const uint8_t stmt[5] = {0x0a, 0x03, 'k', 0xff, 0x00};
#define STMT_B64 "CgNr/wA="

/* Issue 16: no agencies, rotation: (broker and agency), revoked:, and
 * the reserved id broker. */
static void
test_roster_fields(void)
{
	char path[PATH_MAX], line[LINE_MAX_LEN];
	struct config *c = NULL;

	/* No agencies at all, or []: a client's or auditor's config loads;
	 * a broker's is refused, so that a reload can never record every
	 * agency as gone. */
	base();
	delete_lines(10, 22);
	CHECK_INT(load(&c, "no-agencies.yaml", path), KETEN_E_CONFIG);
	CHECK(strstr(err.message, "'agencies' is missing") != NULL);
	CHECK_INT(config_load_client(&c, path, &err), KETEN_OK);
	CHECK(c != NULL && c->n_agencies == 0 && c->agencies == NULL);
	CHECK(c == NULL || config_find(c, "lt-almere") == NULL);
	config_destroy(&c);
	base();
	delete_lines(11, 22);
	set_line(10, "agencies: []");
	CHECK_INT(load(&c, "empty-agencies.yaml", path), KETEN_E_CONFIG);
	CHECK(strstr(err.message, ":10:") != NULL &&
	      strstr(err.message, "'agencies' is empty") != NULL);
	CHECK_INT(config_load_client(&c, path, &err), KETEN_OK);
	CHECK(c != NULL && c->n_agencies == 0);
	config_destroy(&c);

	/* Rotation statements are decoded and kept, with their lines. */
	base();
	insert_line(8, "  rotation: " STMT_B64);
	insert_line(18, "    rotation: " STMT_B64);
	CHECK_INT(load(&c, "rotation.yaml", path), KETEN_OK);
	if (c != NULL) {
		CHECK_INT(c->broker_rotation_len, sizeof(stmt));
		CHECK(c->broker_rotation != NULL &&
		      memcmp(c->broker_rotation, stmt, sizeof(stmt)) == 0);
		CHECK_INT(c->broker_rotation_line, 8);
		CHECK(c->agencies[0].rotation != NULL &&
		      c->agencies[0].rotation_len == sizeof(stmt) &&
		      memcmp(c->agencies[0].rotation, stmt, sizeof(stmt)) == 0);
		CHECK_INT(c->agencies[0].rotation_line, 18);
		CHECK(c->agencies[1].rotation == NULL);
		CHECK_INT(c->agencies[1].rotation_len, 0);
	} else {
		fprintf(stderr, "rotation refused: %s\n", err.message);
	}
	config_destroy(&c);
	CHECK(c == NULL);
	base();
	CHECK_INT(load(&c, "no-rotation.yaml", path), KETEN_OK);
	CHECK(c != NULL && c->broker_rotation == NULL &&
	      c->broker_rotation_len == 0 && c->agencies[0].rotation == NULL);
	config_destroy(&c);

	/* Bad rotations: not base64, no padding, empty, a list; and a bad
	 * second agency after a good rotation (nothing leaks: ASan). */
	{
		const char *bad_b64[] = {"not base64!", "CgNr/wA", "\"\"",
		                         "[a, b]"};

		for (size_t i = 0; i < 4; i++) {
			base();
			snprintf(line, sizeof(line), "    rotation: %s",
			         bad_b64[i]);
			insert_line(17, line);
			expect_refused(
			    "bad-rotation.yaml", 17,
			    "'rotation' must be the base64 statement "
			    "printed by 'keten keygen --rotate'");
			base();
			snprintf(line, sizeof(line), "  rotation: %s",
			         bad_b64[i]);
			insert_line(8, line);
			expect_refused("bad-broker-rotation.yaml", 8,
			               "'broker.rotation' must be the base64");
		}
	}
	base();
	insert_line(17, "    rotation: " STMT_B64);
	set_line(20, "    kind: wizard");
	expect_refused("rotation-then-bad.yaml", 20, "unknown kind 'wizard'");
	{
		/* one byte over the limit (too long a line for lines[]) */
		static char big[CONFIG_ROTATION_MAX * 2];
		uint8_t *bin = calloc(1, CONFIG_ROTATION_MAX + 1);
		FILE *f;

		CHECK(bin != NULL);
		if (bin != NULL) {
			sodium_bin2base64(big, sizeof(big), bin,
			                  CONFIG_ROTATION_MAX + 1,
			                  sodium_base64_VARIANT_ORIGINAL);
			free(bin);
			base();
			snprintf(path, sizeof(path), "%s/big.yaml", dir);
			if ((f = fopen(path, "w")) == NULL) {
				perror(path);
				exit(2);
			}
			for (int i = 0; i < nlines; i++) {
				if (i == 7)
					fprintf(f, "  rotation: %s\n", big);
				fprintf(f, "%s\n", lines[i]);
			}
			fclose(f);
			memset(&err, 0, sizeof(err));
			CHECK_INT(config_load(&c, path, &err), KETEN_E_CONFIG);
			CHECK_STR_HAS(err.message, ":8: 'broker.rotation'");
			CHECK_STR_HAS(err.message, "at most 4096 bytes");
			config_destroy(&c);
		}
	}

	/* The reserved id. */
	base();
	set_line(17, "  - id: broker");
	expect_refused("broker-agency.yaml", 17,
	               "agency id 'broker' is reserved");

	/* revoked: a top-level list; times in UTC to the microsecond. */
	base();
	append_line("revoked:");
	append_line("  - agency: vt-flevoland");
	snprintf(line, sizeof(line), "    sign_key: %s", a_sign[1]);
	append_line(line);
	append_line("    compromised_at: 2026-12-05T09:00:00Z");
	append_line("    reason: \"laptop stolen\"");
	append_line("  - agency: gi-save"); /* not (or no longer) a member */
	snprintf(line, sizeof(line), "    sign_key: %s", a_sign[0]);
	append_line(line);
	append_line("    compromised_at: 2024-02-29T23:59:59.25Z");
	append_line("    reason: Sleutel gelekt — €");
	CHECK_INT(load(&c, "revoked.yaml", path), KETEN_OK);
	if (c != NULL) {
		CHECK_INT(c->n_revoked, 2);
		CHECK(strcmp(c->revoked[0].agency, "vt-flevoland") == 0);
		CHECK(memcmp(c->revoked[0].sign_pk, a_sign_bin[1], 32) == 0);
		CHECK(c->revoked[0].compromised_at_us ==
		      INT64_C(1796461200) * 1000000);
		CHECK(strcmp(c->revoked[0].reason, "laptop stolen") == 0);
		CHECK_INT(c->revoked[0].line, 24);
		CHECK(strcmp(c->revoked[1].agency, "gi-save") == 0);
		CHECK(c->revoked[1].compromised_at_us ==
		      INT64_C(1709251199) * 1000000 + 250000);
		CHECK(strcmp(c->revoked[1].reason, "Sleutel gelekt — €") == 0);
		CHECK_INT(c->revoked[1].line, 28);
	} else {
		fprintf(stderr, "revoked refused: %s\n", err.message);
	}
	config_destroy(&c);
	base();
	append_line("revoked: []");
	CHECK_INT(load(&c, "revoked-empty.yaml", path), KETEN_OK);
	CHECK(c != NULL && c->n_revoked == 0);
	config_destroy(&c);

	/* Every bad revoked field names its line and the field. */
	{
		static const struct {
			int line; /* 24 agency, 25 sign_key, 26 time, 27 reason
			           */
			const char *text, *why;
		} bad_rev[] = {
		    {24, "  - agency: Bad Id", "'revoked.agency' must be an "},
		    {24, "  - agency: broker", "the broker's key is replaced"},
		    {25,
		     "    sign_key: c2hvcnQ=", "'revoked.sign_key' must be"},
		    {26, "    compromised_at: 2026-12-05 09:00:00",
		     "'revoked.compromised_at' must be an RFC 3339 time"},
		    {26, "    compromised_at: 2026-12-05T09:00:00+01:00",
		     "in UTC"},
		    {26, "    compromised_at: 2026-02-30T09:00:00Z",
		     "not '2026-02-30T09:00:00Z'"},
		    {26, "    compromised_at: 2026-12-05T09:00:00.Z",
		     "RFC 3339"},
		    {26, "    compromised_at: 2026-12-05T09:00:00.1234567Z",
		     "RFC 3339"},
		    {26, "    compromised_at: 1969-12-31T23:59:59Z",
		     "RFC 3339"},
		    {27, "    reason: \"\"", "'revoked.reason' must be text"},
		    {27, "    reason: \"a\\tb\"",
		     "'revoked.reason' must be UTF-8 text without control"},
		    {27, "    reason: \"\\x85\"", "without control"}, /* C1 */
		    {27, "    color: red", "unknown setting 'color'"},
		};

		for (size_t i = 0; i < sizeof(bad_rev) / sizeof(bad_rev[0]);
		     i++) {
			base();
			append_line("revoked:");
			append_line("  - agency: vt-flevoland");
			snprintf(line, sizeof(line), "    sign_key: %s",
			         a_sign[1]);
			append_line(line);
			append_line("    compromised_at: 2026-12-05T09:00:00Z");
			append_line("    reason: stolen");
			if (strstr(bad_rev[i].text, "color") != NULL)
				append_line(bad_rev[i].text);
			else
				set_line(bad_rev[i].line, "%s",
				         bad_rev[i].text);
			expect_refused("bad-revoked.yaml",
			               strstr(bad_rev[i].text, "color")
			                   ? 28
			                   : bad_rev[i].line,
			               bad_rev[i].why);
		}
	}
	/* A reason of 255 bytes is taken, of 256 refused. */
	{
		char reason[CONFIG_REASON_MAX + 2];

		for (int len = 255; len <= 256; len++) {
			memset(reason, 'r', (size_t)len);
			reason[len] = '\0';
			base();
			append_line("revoked:");
			append_line("  - agency: vt-flevoland");
			snprintf(line, sizeof(line), "    sign_key: %s",
			         a_sign[1]);
			append_line(line);
			append_line("    compromised_at: 2026-12-05T09:00:00Z");
			append_line("");
			set_line(nlines, "    reason: %s", reason);
			if (len == 255) {
				CHECK_INT(load(&c, "reason.yaml", path),
				          KETEN_OK);
				CHECK(c != NULL &&
				      strlen(c->revoked[0].reason) == 255);
				config_destroy(&c);
			} else {
				expect_refused("reason.yaml", 27,
				               "1 to 255 bytes");
			}
		}
	}
	/* Missing fields, not a list, not a mapping, a key revoked twice. */
	base();
	append_line("revoked:");
	append_line("  - agency: vt-flevoland");
	append_line("    reason: stolen");
	expect_refused("rev-missing.yaml", 24,
	               "a revoked key needs agency, sign_key, compromised_at "
	               "and reason");
	base();
	append_line("revoked: vt-flevoland");
	expect_refused("rev-scalar.yaml", 23, "'revoked' must be a list");
	base();
	append_line("revoked:");
	append_line("  - vt-flevoland");
	expect_refused("rev-item.yaml", 24, "each revoked key must be a");
	base();
	append_line("revoked:");
	for (int i = 0; i < 2; i++) {
		append_line(i ? "  - agency: lt-almere"
		              : "  - agency: vt-flevoland");
		snprintf(line, sizeof(line), "    sign_key: %s", a_sign[1]);
		append_line(line);
		append_line("    compromised_at: 2026-12-05T09:00:00Z");
		append_line("    reason: stolen");
	}
	expect_refused("rev-twice.yaml", 28,
	               "this sign_key is revoked twice (first on line 24)");
}

/* dir/name holding text (malloc'd by the caller), loaded. */
static int
load_text(struct config **c, const char *name, const char *text, char *path)
{
	snprintf(path, PATH_MAX, "%s/%s", dir, name);
	write_text(path, text);
	*c = NULL;
	memset(&err, 0, sizeof(err));
	return config_load(c, path, &err);
}

/* "x: " and depth - 1 nested lists (the root mapping is level 1). */
static char *
nested(unsigned depth)
{
	char *t = malloc(2 * depth + 8);
	size_t n = 0;

	if (t == NULL)
		exit(2);
	n += (size_t)sprintf(t, "x: ");
	for (unsigned i = 1; i < depth; i++)
		t[n++] = '[';
	for (unsigned i = 1; i < depth; i++)
		t[n++] = ']';
	t[n++] = '\n';
	t[n] = '\0';
	return t;
}

/*
 * The file before its YAML: type, mode, size, depth and keys per mapping,
 * each at its bound and one past it.
 */
static void
test_file_bounds(void)
{
	char path[PATH_MAX], *t;
	struct config *c = NULL;
	size_t len;

	/* 32 levels parse (and fail on the unknown key); 33 do not. */
	t = nested(CONFIG_DEPTH_MAX);
	CHECK_INT(load_text(&c, "deep32.yaml", t, path), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, "unknown setting 'x'");
	free(t);
	t = nested(CONFIG_DEPTH_MAX + 1);
	CHECK_INT(load_text(&c, "deep33.yaml", t, path), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, ":1: nested more than 32 levels deep");
	CHECK_STR_HAS(err.message, path);
	free(t);
	t = nested(100000);
	CHECK_INT(load_text(&c, "deep.yaml", t, path), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, "nested more than 32 levels deep");
	free(t);

	/* 256 keys in one mapping are read; 257 are refused on line 257. */
	if ((t = malloc(16 * (CONFIG_KEYS_MAX + 1) + 1)) == NULL)
		exit(2);
	len = 0;
	for (int i = 0; i < CONFIG_KEYS_MAX; i++)
		len += (size_t)sprintf(t + len, "k%d: 1\n", i);
	CHECK_INT(load_text(&c, "keys256.yaml", t, path), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, ":1: unknown setting 'k0'");
	sprintf(t + len, "k%d: 1\n", CONFIG_KEYS_MAX);
	CHECK_INT(load_text(&c, "keys257.yaml", t, path), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, ":257: a mapping has more than 256 keys");
	free(t);

	/* 65536 values in all are read (the root mapping, "x", the list
	 * and 65533 items); one more is refused where it stands. */
	if ((t = malloc(2 * CONFIG_NODES_MAX + 16)) == NULL)
		exit(2);
	len = (size_t)sprintf(t, "x: [");
	for (int i = 0; i < CONFIG_NODES_MAX - 3; i++)
		len += (size_t)sprintf(t + len, "1,");
	strcpy(t + len - 1, "]\n");
	CHECK_INT(load_text(&c, "nodes.yaml", t, path), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, ":1: unknown setting 'x'");
	strcpy(t + len - 1, ",1]\n");
	CHECK_INT(load_text(&c, "nodes1.yaml", t, path), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, ":1: more than 65536 values in all; a "
	                           "region config may have at most 65536");
	free(t);

	/* Anchors and aliases, wherever they stand. */
	CHECK_INT(load_text(&c, "anchor.yaml", "region: &r flevoland\n", path),
	          KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, "anchor.yaml:1: &r: anchors and aliases "
	                           "(&x, *x) are not allowed in a region "
	                           "config");
	CHECK_INT(load_text(&c, "anchor2.yaml", "a: 1\nb: &l [1]\n", path),
	          KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, ":2: &l: anchors and aliases");
	CHECK_INT(load_text(&c, "anchor3.yaml", "a: 1\n\nb: &m {c: 1}\n", path),
	          KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, ":3: &m: anchors and aliases");
	CHECK_INT(load_text(&c, "alias.yaml", "a: 1\nb: *a\n", path),
	          KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, ":2: *a: anchors and aliases");

	/* The valid base padded to exactly 1 MiB loads; one byte more not. */
	base();
	write_lines(path);
	{
		FILE *f = fopen(path, "r");
		char *all = malloc(CONFIG_FILE_MAX + 2);

		if (f == NULL || all == NULL)
			exit(2);
		len = fread(all, 1, CONFIG_FILE_MAX, f);
		fclose(f);
		all[len++] = '#';
		memset(all + len, 'x', CONFIG_FILE_MAX - len - 1);
		all[CONFIG_FILE_MAX - 1] = '\n';
		all[CONFIG_FILE_MAX] = '\0';
		CHECK_INT(load_text(&c, "mib.yaml", all, path), KETEN_OK);
		config_destroy(&c);
		all[CONFIG_FILE_MAX - 1] = 'x';
		all[CONFIG_FILE_MAX] = '\n';
		all[CONFIG_FILE_MAX + 1] = '\0';
		CHECK_INT(load_text(&c, "mib1.yaml", all, path),
		          KETEN_E_CONFIG);
		CHECK_STR_HAS(err.message,
		              "is 1048577 bytes; a region config may be at "
		              "most 1048576 bytes (1 MiB)");
		free(all);
	}

	/* Not a regular file; writable by others; a key file. */
	snprintf(path, sizeof(path), "%s/sub.yaml", dir);
	CHECK_INT(mkdir(path, 0700), 0);
	CHECK_INT(config_load(&c, path, &err), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, "sub.yaml: is a directory, not a config "
	                           "file");
	CHECK_INT(rmdir(path), 0);
	CHECK_INT(mkfifo(path, 0600), 0);
	CHECK_INT(config_load(&c, path, &err), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, "sub.yaml: is a FIFO, not a regular file");
	CHECK_INT(unlink(path), 0);
	base();
	CHECK_INT(load(&c, "open.yaml", path), KETEN_OK);
	config_destroy(&c);
	CHECK_INT(chmod(path, 0620), 0);
	CHECK_INT(config_load(&c, path, &err), KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, "mode 0620 lets group or others write");
	CHECK_STR_HAS(err.message, "(chmod go-w ");
	CHECK_INT(chmod(path, 0444), 0); /* readable by all is fine */
	CHECK_INT(config_load(&c, path, &err), KETEN_OK);
	config_destroy(&c);
	CHECK_INT(load_text(&c, "key.yaml", "KETENKEY\x02\x05", path),
	          KETEN_E_CONFIG);
	CHECK_STR_HAS(err.message, "is a keten key file, not a region config");
	CHECK(c == NULL);
}

/*
 * The owner rule run as root: a config or directory that another user
 * (nobody) owns is refused, with the advice to check as that user or to
 * chown to root, never to chown to root's own uid as if root ran
 * ketend. Needs root to chown; otherwise said and not counted.
 */
static void
test_owner_rule(void)
{
	char path[PATH_MAX], sub[PATH_MAX], want[3 * PATH_MAX];
	struct config *c = NULL;
	struct passwd *pw;
	const char *name;

	if (geteuid() != 0) {
		printf("test_config: owner rule under root NOT checked: this "
		       "runs as uid %lu, and only root can chown a file to "
		       "nobody\n",
		       (unsigned long)geteuid());
		return;
	}
	pw = getpwuid(65534);
	name = pw != NULL ? pw->pw_name : "65534";
	base();
	CHECK_INT(load(&c, "owned.yaml", path), KETEN_OK);
	config_destroy(&c);
	CHECK_INT(chown(path, 65534, (gid_t)-1), 0);
	CHECK_INT(config_load(&c, path, &err), KETEN_E_CONFIG);
	snprintf(want, sizeof(want),
	         "%s: this config file belongs to %s (uid 65534), and root "
	         "runs this: if ketend runs as %s, run this as %s (sudo -u %s "
	         "...), else chown it to root",
	         path, name, name, name, name);
	CHECK_STR_HAS(err.message, want);
	CHECK(strstr(err.message, "chown 0") == NULL);
	CHECK_INT(unlink(path), 0);

	/* Its directory, owned by nobody: nobody could swap the file. */
	snprintf(sub, sizeof(sub), "%s/byother", dir);
	CHECK_INT(mkdir(sub, 0755), 0);
	CHECK_INT(chown(sub, 65534, (gid_t)-1), 0);
	base();
	CHECK_INT(load(&c, "byother/x.yaml", path), KETEN_E_CONFIG);
	snprintf(want, sizeof(want),
	         "%s: its directory %s belongs to %s (uid 65534)", path, sub,
	         name);
	CHECK_STR_HAS(err.message, want);
	CHECK_STR_HAS(err.message, "else chown it to root");
	CHECK_INT(unlink(path), 0);
	CHECK_INT(rmdir(sub), 0);
}

/*
 * Under systemd (StateDirectory=), a relative data_dir is taken under the
 * first of $STATE_DIRECTORY's paths; an absolute one, a client's config
 * and a start without the variable are as before.
 */
static void
test_state_directory(void)
{
	char path[PATH_MAX], want[PATH_MAX + 32];
	struct config *c = NULL;

	base();
	CHECK_INT(setenv("STATE_DIRECTORY", "/var/lib/keten:/var/lib/other", 1),
	          0);
	CHECK_INT(load(&c, "state.yaml", path), KETEN_OK);
	if (c != NULL)
		CHECK(strcmp(c->data_dir, "/var/lib/keten/data") == 0);
	config_destroy(&c);

	/* One path, and a data_dir below it. */
	CHECK_INT(setenv("STATE_DIRECTORY", "/var/lib/keten", 1), 0);
	set_line(3, "data_dir: region/flevoland");
	CHECK_INT(load(&c, "state.yaml", path), KETEN_OK);
	if (c != NULL)
		CHECK(strcmp(c->data_dir, "/var/lib/keten/region/flevoland") ==
		      0);
	config_destroy(&c);

	/* An absolute data_dir stays where it says. */
	set_line(3, "data_dir: /srv/keten");
	CHECK_INT(load(&c, "state.yaml", path), KETEN_OK);
	if (c != NULL)
		CHECK(strcmp(c->data_dir, "/srv/keten") == 0);
	config_destroy(&c);

	/* A client's config is not ketend's: beside the config file. */
	set_line(3, "data_dir: data");
	write_lines(path);
	memset(&err, 0, sizeof(err));
	CHECK_INT(config_load_client(&c, path, &err), KETEN_OK);
	snprintf(want, sizeof(want), "%s/data", realdir);
	if (c != NULL)
		CHECK(strcmp(c->data_dir, want) == 0);
	config_destroy(&c);

	/* systemd sets absolute paths; anything else is refused. */
	CHECK_INT(setenv("STATE_DIRECTORY", "var/lib/keten", 1), 0);
	expect_refused("state-relative.yaml", 3,
	               "$STATE_DIRECTORY's first path 'var/lib/keten' is "
	               "not absolute");

	/* Empty or unset: beside the config file, as without systemd. */
	CHECK_INT(setenv("STATE_DIRECTORY", "", 1), 0);
	CHECK_INT(load(&c, "state.yaml", path), KETEN_OK);
	if (c != NULL)
		CHECK(strcmp(c->data_dir, want) == 0);
	config_destroy(&c);
	CHECK_INT(unsetenv("STATE_DIRECTORY"), 0);
	CHECK_INT(load(&c, "state.yaml", path), KETEN_OK);
	if (c != NULL)
		CHECK(strcmp(c->data_dir, want) == 0);
	config_destroy(&c);
}

/*
 * Issue 18: ketend's config may leave out the broker's public keys when
 * it names the broker's key file (the package's example cannot know the
 * keys postinst makes). ketend's loader reads them from the file, and
 * the checks against them still run; a client's loader refuses and says
 * how to get them.
 */
static void
test_broker_keys_from_file(void)
{
	char path[PATH_MAX], kpath[PATH_MAX + 16], apath[PATH_MAX + 16];
	char want[2 * PATH_MAX + 64], curve[TEXT_KEY_B64_LEN];
	struct config *c = NULL;
	struct keys *k = NULL, *a = NULL;

	snprintf(kpath, sizeof(kpath), "%s/broker.key", realdir);
	snprintf(apath, sizeof(apath), "%s/agency.key", realdir);
	CHECK_INT(keys_generate(&k, CONFIG_BROKER_ID, &err), KETEN_OK);
	CHECK_INT(keys_save(k, kpath, &err), KETEN_OK);
	CHECK_INT(keys_generate(&a, "lt-almere", &err), KETEN_OK);
	CHECK_INT(keys_save(a, apath, &err), KETEN_OK);
	if (k == NULL || a == NULL) {
		keys_destroy(&k);
		keys_destroy(&a);
		return;
	}

	/* key_file alone: the halves come from the file. */
	base();
	delete_lines(6, 7);
	CHECK_INT(load(&c, "keys-from-file.yaml", path), KETEN_OK);
	CHECK(c != NULL && c->broker_keys_from_file);
	CHECK(c != NULL && memcmp(c->broker_sign_pk, k->sign_pk, 32) == 0);
	CHECK(c != NULL && memcmp(c->broker_curve_pk, k->curve_pk, 32) == 0);
	/* The checkpoint key name is made from the sign key read. */
	CHECK(c != NULL && memcmp(c->broker_key.pk, k->sign_pk, 32) == 0);
	CHECK(c != NULL && strcmp(c->broker_key_file, kpath) == 0);
	config_destroy(&c);

	/* A client cannot read the broker's key file: refused, with the
	 * command that prints the lines to add. */
	CHECK_INT(config_load_client(&c, path, &err), KETEN_E_CONFIG);
	CHECK(c == NULL);
	snprintf(want, sizeof(want),
	         "%s:5: 'broker' needs sign_key and "
	         "transport_key",
	         path);
	CHECK_STR_HAS(err.message, want);
	snprintf(want, sizeof(want),
	         "'keten keygen --show %s' prints the "
	         "lines to add",
	         kpath);
	CHECK_STR_HAS(err.message, want);

	/* Given, they are what is used (ketend's start compares them with
	 * the file, daemon/main.c). */
	base();
	CHECK_INT(load(&c, "keys-given.yaml", path), KETEN_OK);
	CHECK(c != NULL && !c->broker_keys_from_file);
	CHECK(c != NULL && memcmp(c->broker_sign_pk, k->sign_pk, 32) != 0);
	config_destroy(&c);

	/* The check against the broker's transport key still runs, with
	 * the key read from the file. */
	base();
	delete_lines(6, 7);
	text_key_to_b64(curve, k->curve_pk);
	set_line(14, "    transport_key: %s", curve);
	expect_refused("agency-broker-key.yaml", 9,
	               "agency 'lt-almere' uses the broker's "
	               "transport_key");

	/* Neither the keys nor the file: nothing to read them from. */
	base();
	delete_lines(5, 7);
	insert_line(5, "  rotation: " STMT_B64);
	expect_refused("no-key-file.yaml", 5, "'broker' needs key_file");

	/* The file is missing, or is an agency's. */
	base();
	delete_lines(6, 7);
	set_line(5, "  key_file: missing.key");
	CHECK(load(&c, "missing-key-file.yaml", path) != KETEN_OK);
	CHECK(c == NULL);
	CHECK_STR_HAS(err.message, "/missing.key");
	/* keys_load's own refusal, unchanged: a key others may read. */
	CHECK_INT(chmod(kpath, 0644), 0);
	set_line(5, "  key_file: broker.key");
	CHECK_INT(load(&c, "open-key-file.yaml", path), KETEN_E_KEYFILE);
	CHECK(c == NULL);
	CHECK_STR_HAS(err.message, "chmod 600");
	CHECK_INT(chmod(kpath, 0600), 0);
	base();
	delete_lines(6, 7);
	set_line(5, "  key_file: agency.key");
	expect_refused("agency-key-file.yaml", 5,
	               "holds the keys of agency 'lt-almere', not the "
	               "broker's (keten keygen --broker makes those)");
	keys_destroy(&k);
	keys_destroy(&a);
}

/* metrics.listen: off without the section; an IPv4 or bracketed IPv6
 * address and port parsed; anything else refused naming the address. */
static void
test_metrics(void)
{
	static const char *bad[] = {"127.0.0.1",      "127.0.0.1:",
	                            "127.0.0.1:0",    "127.0.0.1:65536",
	                            ":9474",          "localhost:9474",
	                            "::1:9474",       "[::1]9474",
	                            "[::1]:x",        "tcp://127.0.0.1:9474",
	                            "127.0.0.1:94x74"};
	char path[PATH_MAX], l[LINE_MAX_LEN];
	struct config *c = NULL;
	const struct sockaddr_in *a4;
	const struct sockaddr_in6 *a6;

	base();
	CHECK_INT(load(&c, "nometrics.yaml", path), KETEN_OK);
	CHECK(c->metrics_listen[0] == '\0');
	config_destroy(&c);

	append_line("metrics:");
	append_line("  listen: 127.0.0.1:9474");
	CHECK_INT(load(&c, "metrics.yaml", path), KETEN_OK);
	CHECK(strcmp(c->metrics_listen, "127.0.0.1:9474") == 0);
	a4 = (const struct sockaddr_in *)&c->metrics_addr;
	CHECK_INT(a4->sin_family, AF_INET);
	CHECK_INT(ntohs(a4->sin_port), 9474);
	CHECK_INT(ntohl(a4->sin_addr.s_addr), 0x7f000001);
	CHECK_INT(c->metrics_addr_len, sizeof(*a4));
	config_destroy(&c);

	set_line(24, "  listen: \"[::1]:65535\"");
	CHECK_INT(load(&c, "metrics6.yaml", path), KETEN_OK);
	a6 = (const struct sockaddr_in6 *)&c->metrics_addr;
	CHECK_INT(a6->sin6_family, AF_INET6);
	CHECK_INT(ntohs(a6->sin6_port), 65535);
	CHECK(IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr));
	config_destroy(&c);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[LINE_MAX_LEN];
		snprintf(l, sizeof(l), "  listen: \"%s\"", bad[i]);
		set_line(24, "%s", l);
		snprintf(want, sizeof(want),
		         "metrics.listen '%s' is not an address and port",
		         bad[i]);
		expect_refused("badmetrics.yaml", 24, want);
	}
	set_line(24, "  port: 9474");
	expect_refused("metricskey.yaml", 24, "unknown metrics setting 'port'");
	delete_lines(24, 24);
	expect_refused("metricsempty.yaml", 23, "'metrics' must be a mapping");
}

static void
cleanup(void)
{
	char path[PATH_MAX + 256];
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) != 0)
			perror(path);
	}
	closedir(d);
	if (rmdir(dir) != 0)
		perror(dir);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	if (sodium_init() < 0)
		return 1;
	snprintf(dir, sizeof(dir), "%s/keten-config-XXXXXX",
	         tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL || realpath(dir, realdir) == NULL) {
		perror(dir);
		return 1;
	}
	/* Run under a unit with StateDirectory=, data_dir would move. */
	unsetenv("STATE_DIRECTORY");
	make_keys();
	test_valid();
	test_invalid();
	test_routes_deadlines();
	test_routes_refused();
	test_deadlines_refused();
	test_witnesses();
	test_roster_fields();
	test_file_bounds();
	test_owner_rule();
	test_state_directory();
	test_broker_keys_from_file();
	test_metrics();
	cleanup();
	return check_done("test_config");
}
