/*
 * Metrics and health (docs/ketend.md, "Metrics and health"): relaxed atomics
 * that the broker's threads move, printed as Prometheus text exposition 0.0.4
 * by libmicrohttpd's one thread. Must never block a broker thread, open a
 * write transaction, or label a value with an agency, a case or content.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "broker.h"
#include "case.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

/* The I/O loop turns at least once a second (transport.c); a loop that
 * has not turned for this long is stuck. */
#define HEALTH_LOOP_US (5 * 1000000LL)
/* Overdue offers are counted over every case: at most this often. */
#define OVERDUE_EVERY_US (10 * 1000000LL)
#define OVERDUE_PAGE     256
/* Scrapers at once, and how long an idle or slow one is kept (s). */
#define HTTP_CONNECTIONS 8
#define HTTP_TIMEOUT_S   5

#define REFUSAL_FIRST KETEN_E_MALFORMED    /* 100 */
#define REFUSAL_LAST  KETEN_E_ACKNOWLEDGED /* 124 */
#define REFUSAL_SLOTS 200 /* wire codes are 100-199 (PROTOCOL.md 14) */

/* The commit-latency buckets' upper bounds, seconds: an fsync'd LMDB
 * commit takes a millisecond or a few on an SSD, tens on a busy disk. */
static const double commit_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define COMMIT_BUCKETS (sizeof(commit_le) / sizeof(commit_le[0]) + 1)

static atomic_llong values[METRIC_N];
static atomic_ullong refusals[REFUSAL_SLOTS];
static atomic_ullong commit_bucket[COMMIT_BUCKETS]; /* not cumulative */
static atomic_ullong commit_sum_us;

struct metrics {
	struct broker *b;
	struct MHD_Daemon *d;
	/* The listener thread's own: the overdue counts and when. */
	int64_t overdue_at_us; /* clock_mono_us; 0: never counted */
	uint64_t overdue[2];   /* referral, handover */
	bool overdue_ok;
};

void
metrics_add(enum metric m, int64_t n)
{
	atomic_fetch_add_explicit(&values[m], n, memory_order_relaxed);
}

void
metrics_set(enum metric m, int64_t v)
{
	atomic_store_explicit(&values[m], v, memory_order_relaxed);
}

void
metrics_max(enum metric m, int64_t v)
{
	long long cur = atomic_load_explicit(&values[m], memory_order_relaxed);

	while (cur < v && !atomic_compare_exchange_weak_explicit(
	                      &values[m], &cur, v, memory_order_relaxed,
	                      memory_order_relaxed))
		;
}

void
metrics_cosigned(uint64_t at_s)
{
	int64_t now_s = clock_now_us() / 1000000;

	metrics_max(METRIC_COSIGNED_AT_S,
	            at_s > (uint64_t)now_s ? now_s : (int64_t)at_s);
}

void
metrics_refusal(int code)
{
	if (code >= REFUSAL_FIRST && code < REFUSAL_SLOTS)
		atomic_fetch_add_explicit(&refusals[code], 1,
		                          memory_order_relaxed);
}

void
metrics_commit(uint64_t records, uint64_t entries, int64_t us)
{
	size_t b = 0;

	while (b < COMMIT_BUCKETS - 1 && (double)us / 1e6 > commit_le[b])
		b++;
	atomic_fetch_add_explicit(&commit_bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&commit_sum_us, (unsigned long long)us,
	                          memory_order_relaxed);
	metrics_add(METRIC_COMMITS, 1);
	metrics_add(METRIC_RECORDS, (int64_t)records);
	metrics_add(METRIC_ACCESS_ENTRIES, (int64_t)entries);
}

static int64_t
get(enum metric m)
{
	return atomic_load_explicit(&values[m], memory_order_relaxed);
}

/* ---- the listener's thread ---- */

/* Counts the open offers past a deadline under the config in force,
 * paging through every case in read-only transactions; kept for
 * OVERDUE_EVERY_US. On a read error the last counts stay, marked stale. */
static void
count_overdue(struct metrics *m)
{
	int64_t mono = clock_mono_us(), now = clock_now_us();
	struct liveconf_gen *g;
	struct store_cases page;
	struct keten_error err;
	uint8_t after[KETEN_CASE_ID_LEN];
	uint64_t n[2] = {0, 0};
	bool first = true;

	if (m->overdue_at_us != 0 && mono - m->overdue_at_us < OVERDUE_EVERY_US)
		return;
	m->overdue_at_us = mono;
	g = liveconf_acquire(m->b->live);
	do {
		if (store_cases(m->b->store, &page, NULL, first ? NULL : after,
		                OVERDUE_PAGE, &err) != KETEN_OK) {
			log_warn("event=metrics_overdue_failed reason=%s",
			         log_q(err.message));
			m->overdue_ok = false;
			liveconf_release(&g);
			return;
		}
		for (size_t i = 0; i < page.n; i++)
			if (case_overdue(&page.items[i], g->cfg, now))
				n[page.items[i].offer.type ==
				  KETEN_MSG_HANDOVER]++;
		if (page.n > 0)
			memcpy(after, page.items[page.n - 1].id, sizeof(after));
		first = false;
		free(page.items);
	} while (page.more);
	liveconf_release(&g);
	m->overdue[0] = n[0];
	m->overdue[1] = n[1];
	m->overdue_ok = true;
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The metrics that are one value each, as the threads keep them. */
static const struct {
	const char *name, *type, *help;
	enum metric m;
} plain[] = {
    {"keten_records_total", "counter",
     "Records appended to the log since the broker started.", METRIC_RECORDS},
    {"keten_commits_total", "counter",
     "Write transactions committed to disk since the broker started.",
     METRIC_COMMITS},
    {"keten_verify_queue_depth", "gauge",
     "Requests handed to the verify workers and not yet taken.",
     METRIC_VERIFY_QUEUE},
    {"keten_connections", "gauge", "Open client connections.",
     METRIC_CONNECTIONS},
    {"keten_waiting_reads", "gauge",
     "Subscriptions' reads waiting for a record.", METRIC_WAITING_READS},
    {"keten_deliveries_total", "counter",
     "Records sent to recipients in fetch replies.", METRIC_DELIVERIES},
    {"keten_access_entries_total", "counter",
     "Entries committed to the access log since the broker started.",
     METRIC_ACCESS_ENTRIES},
    {"keten_map_used_bytes", "gauge", "Bytes of the LMDB map in use.",
     METRIC_MAP_USED},
    {"keten_map_size_bytes", "gauge",
     "Bytes of the LMDB map (it grows up to limits.map_max_mb).",
     METRIC_MAP_SIZE},
    {"keten_map_max_bytes", "gauge",
     "limits.map_max_mb in bytes: the map's ceiling (0: none, the disk is).",
     METRIC_MAP_MAX},
    {"keten_checkpoint_size", "gauge",
     "Records in the latest signed checkpoint.", METRIC_CHECKPOINT_SIZE},
};

/* A float in the exposition's words: NaN, +Inf, or a number. */
static void
one_float(FILE *f, const char *name, const char *help, double v)
{
	family(f, name, "gauge", help);
	if (isnan(v))
		fprintf(f, "%s NaN\n", name);
	else if (isinf(v))
		fprintf(f, "%s +Inf\n", name);
	else
		fprintf(f, "%s %.3f\n", name, v);
}

static void
render_commits(FILE *f)
{
	unsigned long long cum = 0;

	family(f, "keten_commit_seconds", "histogram",
	       "Time to write and fsync one batch's transaction.");
	for (size_t b = 0; b < COMMIT_BUCKETS; b++) {
		cum += atomic_load_explicit(&commit_bucket[b],
		                            memory_order_relaxed);
		if (b < COMMIT_BUCKETS - 1)
			fprintf(f,
			        "keten_commit_seconds_bucket{le=\"%g\"} %llu\n",
			        commit_le[b], cum);
		else
			fprintf(
			    f,
			    "keten_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
			    cum);
	}
	fprintf(
	    f, "keten_commit_seconds_sum %.6f\n",
	    (double)atomic_load_explicit(&commit_sum_us, memory_order_relaxed) /
	        1e6);
	fprintf(f, "keten_commit_seconds_count %llu\n", cum);
}

static void
render(struct metrics *m, FILE *f)
{
	int64_t now = clock_now_us();
	int64_t cosigned = get(METRIC_COSIGNED_AT_S);
	struct liveconf_gen *g = liveconf_acquire(m->b->live);
	double witness_age;

	if (g->cfg->n_witnesses == 0)
		witness_age = NAN; /* no witness: nothing to be late */
	else if (cosigned == 0)
		witness_age = INFINITY; /* witnesses, and none cosigned */
	else
		witness_age = (double)(now / 1000000 - cosigned);
	liveconf_release(&g);
	count_overdue(m);
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		family(f, plain[i].name, plain[i].type, plain[i].help);
		fprintf(f, "%s %lld\n", plain[i].name,
		        (long long)get(plain[i].m));
	}
	render_commits(f);
	family(f, "keten_refusals_total", "counter",
	       "Requests refused, by wire error code (PROTOCOL.md 14).");
	for (int c = REFUSAL_FIRST; c < REFUSAL_SLOTS; c++) {
		unsigned long long v =
		    atomic_load_explicit(&refusals[c], memory_order_relaxed);
		if (c <= REFUSAL_LAST || v > 0)
			fprintf(f, "keten_refusals_total{code=\"%d\"} %llu\n",
			        c, v);
	}
	/* A log with no checkpoint yet (none signed): no age, NaN. */
	one_float(f, "keten_checkpoint_age_seconds",
	          "Seconds since the latest checkpoint was signed; NaN "
	          "before the first.",
	          get(METRIC_CHECKPOINT_AT_US) == 0
	              ? NAN
	              : (double)(now - get(METRIC_CHECKPOINT_AT_US)) / 1e6);
	one_float(f, "keten_witness_cosignature_age_seconds",
	          "Seconds since the newest stored witness cosignature; "
	          "NaN without witnesses, +Inf if none cosigned.",
	          witness_age);
	family(f, "keten_offers_overdue", "gauge",
	       "Open offers past their deadline, by offer kind; NaN if the "
	       "cases could not be read.");
	for (int k = 0; k < 2; k++)
		if (m->overdue_ok)
			fprintf(f, "keten_offers_overdue{kind=\"%s\"} %llu\n",
			        k ? "handover" : "referral",
			        (unsigned long long)m->overdue[k]);
		else
			fprintf(f, "keten_offers_overdue{kind=\"%s\"} NaN\n",
			        k ? "handover" : "referral");
}

/* Why the broker is not ready, or NULL if it is. */
static const char *
unready(const struct metrics *m)
{
	int64_t turned = get(METRIC_LOOP_US);

	if (atomic_load(&m->b->stopping))
		return "stopping";
	if (turned == 0)
		return "the I/O loop has not started";
	if (clock_mono_us() - turned > HEALTH_LOOP_US)
		return "the I/O loop has not turned for 5 seconds";
	return NULL;
}

static enum MHD_Result
answer(struct MHD_Connection *conn, unsigned status, const char *type,
       const char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO; /* out of memory: MHD closes the connection */
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) !=
	        MHD_YES ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET") !=
	         MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

#define TEXT "text/plain; charset=utf-8"

static enum MHD_Result
metrics_serve(struct metrics *m, struct MHD_Connection *conn)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	enum MHD_Result rc;

	if (f == NULL)
		return MHD_NO;
	render(m, f);
	if (fclose(f) != 0) {
		free(buf);
		return MHD_NO;
	}
	rc = answer(conn, MHD_HTTP_OK,
	            "text/plain; version=0.0.4; charset=utf-8", buf, len);
	free(buf);
	return rc;
}

static enum MHD_Result
metrics_request(void *cls, struct MHD_Connection *conn, const char *url,
                const char *method, const char *version,
                const char *upload_data, size_t *upload_data_size,
                void **con_cls)
{
	struct metrics *m = cls;
	const char *why;
	char line[128];

	(void)version;
	(void)upload_data;
	(void)con_cls;
	*upload_data_size = 0; /* a body is not read: the answer is 405 */
	if (strcmp(url, "/metrics") != 0 && strcmp(url, "/healthz") != 0)
		return answer(conn, MHD_HTTP_NOT_FOUND, TEXT, "not found\n",
		              10);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT,
		              "only GET\n", 9);
	if (strcmp(url, "/metrics") == 0)
		return metrics_serve(m, conn);
	if ((why = unready(m)) == NULL)
		return answer(conn, MHD_HTTP_OK, TEXT, "ok\n", 3);
	snprintf(line, sizeof(line), "%s\n", why);
	return answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT, line,
	              strlen(line));
}

static bool
loopback(const struct config *c)
{
	const struct sockaddr_in *a4 = (const void *)&c->metrics_addr;
	const struct sockaddr_in6 *a6 = (const void *)&c->metrics_addr;

	if (c->metrics_addr.ss_family == AF_INET)
		return (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
}

int
metrics_start(struct metrics **out, struct broker *b, struct keten_error *err)
{
	struct liveconf_gen *g = liveconf_acquire(b->live);
	const struct config *c = g->cfg;
	struct metrics *m;
	uint64_t at;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;

	*out = NULL;
	if (c->metrics_listen[0] == '\0') {
		liveconf_release(&g);
		return KETEN_OK;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		liveconf_release(&g);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	m->b = b;
	if (store_witness_newest(b->store, c, &at) == KETEN_OK)
		metrics_cosigned(at);
	if (c->metrics_addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	m->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, metrics_request, m, MHD_OPTION_SOCK_ADDR,
	    (const struct sockaddr *)&c->metrics_addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
	    MHD_OPTION_END);
	if (m->d == NULL) {
		int rc = error_set(err, KETEN_E_IO,
		                   "cannot listen for metrics on %s "
		                   "(metrics.listen in %s): %s",
		                   c->metrics_listen, c->path,
		                   errno ? strerror(errno)
		                         : "libmicrohttpd "
		                           "refused it");
		free(m);
		liveconf_release(&g);
		return rc;
	}
	if (!loopback(c))
		log_warn("event=metrics_not_loopback address=%s "
		         "reason=\"the metrics listener has no "
		         "authentication; anyone who can reach this address "
		         "reads the broker's counters (no personal data): "
		         "firewall it, or listen on 127.0.0.1\"",
		         c->metrics_listen);
	log_info("event=metrics_listening address=%s", c->metrics_listen);
	liveconf_release(&g);
	*out = m;
	return KETEN_OK;
}

void
metrics_stop(struct metrics **m)
{
	if (m == NULL || *m == NULL)
		return;
	MHD_stop_daemon((*m)->d);
	free(*m);
	*m = NULL;
}
