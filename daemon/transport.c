/*
 * ZeroMQ transport: the ZAP handler that admits only the region's transport
 * keys, and the I/O thread that owns the ROUTER socket. The I/O thread never
 * blocks on a peer: replies to a peer whose queue is full are dropped by the
 * ROUTER (the client times out and retries; see PROTOCOL.md). It also holds
 * the subscriptions' waiting reads (PROTOCOL.md, "Subscribing"): at most
 * one per connection, each until a commit may have something for it or
 * its wait ends, so a waiting subscriber costs one small job and no thread.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "broker.h"
#include "clock.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "peers.h"
#include "text.h"

/* ---- ZAP (RFC 27) ---- */

#define ZAP_FRAMES 8

static void
zap_reply(void *sock, zmq_msg_t *reqid, const char *status, const char *text,
          const char *user)
{
	zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(sock, zmq_msg_data(reqid), zmq_msg_size(reqid), ZMQ_SNDMORE);
	zmq_send(sock, status, strlen(status), ZMQ_SNDMORE);
	zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
	zmq_send(sock, "", 0, 0);
}

/* The User-Id of an admitted peer: who it is and the transport key it
 * proved, so that after a reload the I/O thread can tell a connection of
 * a removed or re-keyed agency (read_request). */
#define ZAP_USER_MAX                                                           \
	(sizeof(JOB_WITNESS_PREFIX) + CONFIG_WITNESS_NAME_MAX + KETEN_ID_MAX + \
	 TEXT_KEY_B64_LEN + 2)

static void
zap_handle(struct broker *b, void *sock)
{
	zmq_msg_t f[ZAP_FRAMES];
	int n = 0, more = 1;
	const struct agency *a = NULL;
	const struct witness *w = NULL;
	char addr[64] = "?", key[TEXT_KEY_B64_LEN] = "?";
	char user[ZAP_USER_MAX];
	/* The generation in force for this one authentication: a reload
	 * may replace it meanwhile, never free it under us. */
	struct liveconf_gen *g = liveconf_acquire(b->live);

	while (more && n < ZAP_FRAMES) {
		zmq_msg_init(&f[n]);
		if (zmq_msg_recv(&f[n], sock, 0) < 0) {
			zmq_msg_close(&f[n]);
			goto out;
		}
		more = zmq_msg_more(&f[n]);
		n++;
	}
	while (more) { /* more frames than any ZAP request has: drain */
		zmq_msg_t extra;
		zmq_msg_init(&extra);
		zmq_msg_recv(&extra, sock, 0);
		more = zmq_msg_more(&extra);
		zmq_msg_close(&extra);
	}
	if (n < 7) {
		if (n >= 2)
			zap_reply(sock, &f[1], "500", "bad ZAP request", "");
		goto out;
	}
	if (zmq_msg_size(&f[3]) < sizeof(addr))
		snprintf(addr, sizeof(addr), "%.*s", (int)zmq_msg_size(&f[3]),
		         (const char *)zmq_msg_data(&f[3]));
	if (zmq_msg_size(&f[5]) == 5 &&
	    memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
	    zmq_msg_size(&f[6]) == 32) {
		text_key_to_b64(key, zmq_msg_data(&f[6]));
		a = liveconf_member_by_transport(g->cfg, zmq_msg_data(&f[6]));
		w = config_find_witness_transport(g->cfg, zmq_msg_data(&f[6]));
	}
	if (w != NULL) {
		/* A witness may only ping and cosign (verify.c). */
		snprintf(user, sizeof(user), JOB_WITNESS_PREFIX "%s %s",
		         w->name, key);
		log_info("event=auth witness=%s address=%s", log_q(w->name),
		         log_q(addr));
		zap_reply(sock, &f[1], "200", "OK", user);
	} else if (a == NULL) {
		log_warn("event=auth_refused address=%s transport_key=%s "
		         "generation=%u",
		         log_q(addr), log_q(key), g->generation);
		zap_reply(sock, &f[1], "400", "transport key not in region",
		          "");
	} else {
		snprintf(user, sizeof(user), "%s %s", a->id, key);
		log_info("event=auth agency=%s address=%s", a->id, log_q(addr));
		zap_reply(sock, &f[1], "200", "OK", user);
	}
out:
	for (int i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
	liveconf_release(&g);
}

void *
zap_main(void *arg)
{
	struct broker *b = arg;
	void *sock = zmq_socket(b->zctx, ZMQ_REP);
	int linger = 0;

	if (sock == NULL || zmq_bind(sock, EP_ZAP) != 0)
		fatalx("event=zap_start_failed err=%s",
		       log_q(zmq_strerror(zmq_errno())));
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	atomic_store(&b->zap_ready, true);
	while (!atomic_load(&b->stopping)) {
		zmq_pollitem_t pi = {.socket = sock, .events = ZMQ_POLLIN};
		if (zmq_poll(&pi, 1, 100) > 0)
			zap_handle(b, sock);
	}
	zmq_close(sock);
	return NULL;
}

/* ---- I/O thread ---- */

/* Requests from connections at their outbound bound are read and dropped
 * unworked (read_request). A peer that pipelines them without reading
 * its answers sends as fast as they are read: after this many in one turn
 * the I/O thread reads no new request for REST_US, so that such peers get
 * a bounded share of a core and wait in the kernel's buffers (measured:
 * 500,000 requests a second read and dropped, the I/O thread and
 * libzmq's busy, before; under 100,000 after). Others' requests wait at
 * most that long meanwhile. */
#define DROPPED_PER_TURN 32
#define REST_US          250

struct parked {
	struct job *j;
	bool ready; /* to go back to the workers as soon as they take it */
};

struct io {
	struct broker *b;
	struct liveconf_gen *gen; /* in force: every new job holds it too */
	struct peers *peers;      /* each connection's account */
	void *router, *verify, *replies;
	void *writer;           /* reloads go to the writer's hook */
	struct job *reload_out; /* a reload not yet taken by the writer */
	bool reload_pending;    /* one is with the writer */
	bool reload_again;      /* SIGHUP came while one was under way */
	size_t hard_max;
	size_t start_max; /* max_message_bytes at start: a reload's ceiling */
	int writer_done;  /* the writer sent its last reply */
	int stopping;
	struct parked *parked;
	size_t n_parked, cap_parked, n_ready;
	uint64_t head; /* the newest committed seq the writer told of */
	/* Per agency of gen, by position (rebuilt by id on a reload): */
	uint64_t *last_rec; /* head when its inbox grew */
	unsigned *n_by;     /* its waiting reads */
	uint64_t arrivals;  /* requests read, to order a connection's reads */
	int64_t next_due;   /* no waiting read ends before this (mono µs) */
	uint64_t unworked;  /* requests dropped: their peer is at its bound */
	int rest_fd;        /* a timerfd: reading resumes when it fires */
	bool resting;       /* no new request is read until it does */
};

static void
send_reply(struct io *io, struct job *j)
{
	/* Beyond its bound or the budget the reply is dropped, as the
	 * ROUTER drops one for a gone peer: its client retries. */
	if (j->out != NULL && peers_may_send(io->peers, j->conn, j->out_len)) {
		/* ROUTER_MANDATORY: a gone peer (EHOSTUNREACH) or one at its
		 * high-water mark (EAGAIN) refuses the first frame; once it
		 * is taken, the last is too. */
		if (zmq_send(io->router, j->rid, j->rid_len,
		             ZMQ_SNDMORE | ZMQ_DONTWAIT) != (int)j->rid_len)
			peers_unsent(io->peers, j->conn, j->out_len,
			             zmq_errno() == EAGAIN ? "router_sndhwm"
			                                   : "peer_gone");
		else
			zmq_send(io->router, j->out, j->out_len, ZMQ_DONTWAIT);
	}
	job_free(j);
}

/* Whether a commit since j parked may have given it something. */
static bool
may_have(const struct io *io, const struct job *j)
{
	if (j->park_replay) /* the whole log */
		return io->head > j->park_after;
	return io->last_rec[liveconf_index(io->gen->cfg, j->agency)] >
	       j->park_after;
}

static void
mark_ready(struct io *io, struct parked *p)
{
	if (!p->ready) {
		p->ready = true;
		io->n_ready++;
	}
}

static void
unpark(struct io *io, size_t i)
{
	if (io->parked[i].ready)
		io->n_ready--;
	io->n_by[liveconf_index(io->gen->cfg, io->parked[i].j->agency)]--;
	io->parked[i] = io->parked[--io->n_parked];
}

static void send_reply(struct io *io, struct job *j);

/* The refusal of a request from a connection whose agency the config in
 * force no longer holds (or holds with other keys); 0 if it still may. */
static int
gone(char *msg, size_t cap, const struct config *c, const char *who,
     bool rekeyed)
{
	bool witness = strncmp(who, JOB_WITNESS_PREFIX,
	                       sizeof(JOB_WITNESS_PREFIX) - 1) == 0;
	const char *what = witness ? "witness" : "agency";
	const char *name = witness ? who + sizeof(JOB_WITNESS_PREFIX) - 1 : who;

	const struct revocation *rv = witness ? NULL : liveconf_revoked(c, who);

	if (rv != NULL)
		return snprintf(
		    msg, cap,
		    "agency '%s': its keys are revoked (%.40s); the "
		    "broker refuses them: ask the region's operator "
		    "for new keys",
		    who, rv->reason);
	if (rekeyed)
		return snprintf(msg, cap,
		                "%s '%s' connected with a transport key that "
		                "the region config of %s no longer holds for "
		                "it; reconnect with its current key file",
		                what, name, c->region);
	return snprintf(msg, cap,
	                "%s '%s' is no longer in the region config of %s; "
	                "the broker refuses its requests (ask the region's "
	                "operator)",
	                what, name, c->region);
}

static void
refuse_gone(struct io *io, struct job *j, const char *msg)
{
	log_info("event=refused agency=%s code=%d reason=%s",
	         log_q(job_peer(j)), KETEN_E_FORBIDDEN, log_q(msg));
	job_reply_error(j, KETEN_E_FORBIDDEN, msg);
	send_reply(io, j);
}

/* Moves a job made under an older generation onto the one in force, by
 * agency id and transport key. Returns 0, or -1 when its agency is gone
 * (msg says so). */
static int
rebase(struct io *io, struct job *j, char *msg, size_t cap)
{
	const struct agency *a;

	if (j->gen == io->gen)
		return 0;
	a = liveconf_member(io->gen->cfg, j->agency->id);
	if (a == NULL || memcmp(a->curve_pk, j->agency->curve_pk, 32) != 0) {
		gone(msg, cap, io->gen->cfg, j->agency->id, a != NULL);
		return -1;
	}
	j->agency = a;
	liveconf_release(&j->gen);
	j->gen = liveconf_hold(io->gen);
	return 0;
}

static int verify_push(struct io *io, struct job *j);

/* A waiting read that may not wait: back to the workers to be answered
 * with what there is, or, if they take nothing now, told to retry. */
static void
answer_now(struct io *io, struct job *j)
{
	j->no_wait = true;
	if (verify_push(io, j) == 0)
		return;
	job_reply_error(j, KETEN_E_UNAVAILABLE,
	                "the broker is busy; retry shortly");
	send_reply(io, j);
}

static void
park(struct io *io, struct job *j)
{
	char msg[KETEN_ERROR_MAX];

	if (io->stopping) { /* its client asks again after the restart */
		job_free(j);
		return;
	}
	if (rebase(io, j, msg, sizeof(msg)) != 0) {
		refuse_gone(io, j, msg);
		return;
	}
	/* One waiting read per connection: the newer one (by arrival)
	 * stays, the other is answered as it stands (its client gave up on
	 * it). An old read coming back from a wake-up may meet a newer one. */
	for (size_t i = 0; i < io->n_parked; i++) {
		struct parked *p = &io->parked[i];
		if (p->j->rid_len == j->rid_len &&
		    memcmp(p->j->rid, j->rid, j->rid_len) == 0) {
			if (p->j->arrival > j->arrival) {
				answer_now(io, j);
				return;
			}
			p->j->no_wait = true;
			mark_ready(io, p);
			break;
		}
	}
	/* One agency cannot take the others' room (nor hold more than a
	 * few hundred requests' memory). */
	if (io->n_by[liveconf_index(io->gen->cfg, j->agency)] >=
	    PARKED_PER_AGENCY) {
		answer_now(io, j);
		return;
	}
	if (io->n_parked == io->cap_parked) {
		size_t ncap = io->cap_parked ? 2 * io->cap_parked : 64;
		struct parked *np;
		if (io->n_parked >= PARKED_MAX ||
		    (np = realloc(io->parked, ncap * sizeof(*np))) == NULL) {
			/* Full: answer it as it stands (empty); the client
			 * asks again. */
			answer_now(io, j);
			return;
		}
		io->parked = np;
		io->cap_parked = ncap;
	}
	io->parked[io->n_parked] = (struct parked){.j = j};
	io->n_by[liveconf_index(io->gen->cfg, j->agency)]++;
	if (j->wait_until_us < io->next_due)
		io->next_due = j->wait_until_us;
	if (may_have(io, j))
		mark_ready(io, &io->parked[io->n_parked]);
	io->n_parked++;
}

static void
notice(struct io *io, struct job *n)
{
	const struct config *c = n->gen->cfg; /* the writer's generation */

	if (n->notice_head > io->head)
		io->head = n->notice_head;
	for (size_t a = 0; a < c->n_agencies; a++) {
		const struct agency *mine =
		    n->gen == io->gen
		        ? &c->agencies[a]
		        : liveconf_member(io->gen->cfg, c->agencies[a].id);
		if (n->notice_woke[a] && mine != NULL)
			io->last_rec[liveconf_index(io->gen->cfg, mine)] =
			    n->notice_head;
	}
	for (size_t i = 0; i < io->n_parked; i++)
		if (may_have(io, io->parked[i].j))
			mark_ready(io, &io->parked[i]);
	job_free(n);
}

/* Waits that ended become ready; returns ms until the next one ends.
 * Scans the waiting reads only when one is due, not on every turn of a
 * busy loop. */
static long
expire(struct io *io)
{
	int64_t now = clock_mono_us(), next = INT64_MAX;

	if (io->n_parked == 0)
		return -1;
	if (now < io->next_due)
		return (long)((io->next_due - now + 999) / 1000);
	for (size_t i = 0; i < io->n_parked; i++) {
		struct parked *p = &io->parked[i];
		if (p->ready)
			continue;
		if (p->j->wait_until_us <= now) {
			p->j->no_wait = true;
			mark_ready(io, p);
		} else if (p->j->wait_until_us < next) {
			next = p->j->wait_until_us;
		}
	}
	io->next_due = next;
	if (next == INT64_MAX)
		return -1;
	return (long)((next - now + 999) / 1000);
}

static int verify_writable(struct io *io);

/* Hands j to the verify workers without waiting: 0, or -1 if their queue
 * is full (j is still the caller's). */
static int
verify_push(struct io *io, struct job *j)
{
	metrics_add(METRIC_VERIFY_QUEUE, 1); /* before: a worker may take it */
	if (job_send(io->verify, j, ZMQ_DONTWAIT) == 0)
		return 0;
	metrics_add(METRIC_VERIFY_QUEUE, -1);
	return -1;
}

/* Ready reads go back to the workers while they take them. */
static void
dispatch_ready(struct io *io)
{
	for (size_t i = 0; io->n_ready > 0 && i < io->n_parked;) {
		struct job *j = io->parked[i].j;
		if (!io->parked[i].ready) {
			i++;
			continue;
		}
		if (!verify_writable(io) || verify_push(io, j) != 0)
			return;
		unpark(io, i); /* the last one moved to i */
	}
}

static void reload_end(struct io *io, struct job *j);

static void
drain_replies(struct io *io)
{
	struct job *j;

	while (job_recv(io->replies, &j, ZMQ_DONTWAIT) == 0) {
		if (j == NULL)
			io->writer_done = 1;
		else if (j->reload != NULL)
			reload_end(io, j);
		else if (j->notice)
			notice(io, j);
		else if (j->parked)
			park(io, j);
		else
			send_reply(io, j);
	}
}

/*
 * Who sent j, from its connection's User-Id ("<id> <transport key>" or
 * "witness:<name> <transport key>", zap_handle), in the config in force:
 * 0 with j->agency or j->witness set, or -1 with j refused and answered
 * (its agency was removed or re-keyed by a reload since it connected).
 */
static int
admit(struct io *io, struct job *j, const char *user)
{
	const struct config *c = io->gen->cfg;
	const char *space = strrchr(user, ' ');
	char who[ZAP_USER_MAX], key[TEXT_KEY_B64_LEN], msg[KETEN_ERROR_MAX];
	const uint8_t *pk = NULL;
	size_t len = space ? (size_t)(space - user) : 0;

	if (space == NULL || len >= sizeof(who))
		fatalx("event=bad_user_id"); /* zap_handle wrote it */
	memcpy(who, user, len);
	who[len] = '\0';
	if (strncmp(who, JOB_WITNESS_PREFIX, sizeof(JOB_WITNESS_PREFIX) - 1) ==
	    0) {
		j->witness = config_find_witness(
		    c, who + sizeof(JOB_WITNESS_PREFIX) - 1);
		pk = j->witness ? j->witness->curve_pk : NULL;
	} else {
		j->agency = liveconf_member(c, who);
		pk = j->agency ? j->agency->curve_pk : NULL;
	}
	if (pk != NULL) {
		text_key_to_b64(key, pk);
		if (strcmp(key, space + 1) == 0)
			return 0;
	}
	j->agency = NULL;
	j->witness = NULL;
	gone(msg, sizeof(msg), c, who, pk != NULL);
	refuse_gone(io, j, msg);
	return -1;
}

/* Reads one request from the ROUTER; returns 0, or -1 when none waits. */
static int
read_request(struct io *io)
{
	struct job *j = job_new();
	const char *user;
	size_t size;
	int more;

	if (j == NULL)
		fatalx("event=out_of_memory");
	int n = zmq_recv(io->router, j->rid, sizeof(j->rid), ZMQ_DONTWAIT);
	if (n < 0) {
		job_free(j);
		return -1;
	}
	j->rid_len = (size_t)n;
	j->t0_us = clock_mono_us();
	j->arrival = ++io->arrivals;
	if (zmq_msg_recv(&j->frame, io->router, 0) < 0) {
		job_free(j);
		return 0;
	}
	more = zmq_msg_more(&j->frame);
	user = zmq_msg_gets(&j->frame, "User-Id");
	j->conn = peers_conn(io->peers, zmq_msg_get(&j->frame, ZMQ_SRCFD),
	                     j->rid, j->rid_len, user);
	peers_consumed(io->peers, j->conn, zmq_msg_size(&j->frame));
	j->peek_id = wire_request_peek_id(zmq_msg_data(&j->frame),
	                                  zmq_msg_size(&j->frame));
	j->gen = liveconf_hold(io->gen);
	size = zmq_msg_size(&j->frame);
	if (more) {
		/* libzmq has the whole message by now (it delivers none of
		 * it before its last frame): what bounds it is peers.c. */
		zmq_msg_t extra;
		int again;
		do {
			zmq_msg_init(&extra);
			zmq_msg_recv(&extra, io->router, 0);
			again = zmq_msg_more(&extra);
			peers_consumed(io->peers, j->conn,
			               zmq_msg_size(&extra));
			zmq_msg_close(&extra);
		} while (again);
	}
	if (j->conn == PEERS_GONE) {
		/* Left in the ROUTER by a connection that is gone: its reply
		 * could not be routed, and its client, which got no receipt,
		 * retries (PROTOCOL.md 4.6). No work for the workers. */
		job_free(j);
		return 0;
	}
	if (more) {
		job_reply_error(
		    j, KETEN_E_MALFORMED,
		    "a request is exactly one frame; this one had more");
		send_reply(io, j);
		return 0;
	}
	if (user == NULL) { /* ZAP admitted it */
		log_err("event=unauthenticated_frame");
		job_free(j);
		return 0;
	}
	if (admit(io, j, user) != 0)
		return 0;
	if (peers_congested(io->peers, j->conn)) {
		/* Its reply could not be queued: no work for the workers
		 * (the client retries, as for any dropped reply). */
		io->unworked++;
		job_free(j);
		return 0;
	}
	if (size > j->gen->cfg->max_message_bytes) {
		char msg[160];
		snprintf(
		    msg, sizeof(msg),
		    "the request is %zu bytes; this broker accepts at most %zu "
		    "(limits.max_message_bytes)",
		    size, j->gen->cfg->max_message_bytes);
		log_info("event=refused agency=%s code=%d bytes=%zu",
		         log_q(job_peer(j)), KETEN_E_TOO_BIG, size);
		job_reply_error(j, KETEN_E_TOO_BIG, msg);
		send_reply(io, j);
		return 0;
	}
	if (verify_push(io, j) != 0) {
		job_reply_error(j, KETEN_E_UNAVAILABLE,
		                "the broker is busy; retry shortly");
		send_reply(io, j);
	}
	return 0;
}

/* Reads up to 256 requests (a bounded number per turn keeps replies
 * flowing), or until DROPPED_PER_TURN of them were dropped unworked: then
 * reading rests for REST_US. */
static void
read_requests(struct io *io)
{
	uint64_t unworked = io->unworked;
	struct itimerspec rest = {.it_value.tv_nsec = REST_US * 1000L};

	for (int i = 0; i < 256; i++) {
		if (!verify_writable(io) || read_request(io) != 0)
			return;
		if (io->unworked - unworked >= DROPPED_PER_TURN) {
			io->resting =
			    timerfd_settime(io->rest_fd, 0, &rest, NULL) == 0;
			return;
		}
	}
}

/* The rest is over: the timer fired. */
static void
rest_end(struct io *io)
{
	uint64_t expirations;

	if (read(io->rest_fd, &expirations, sizeof(expirations)) ==
	        (ssize_t)sizeof(expirations) ||
	    errno != EAGAIN)
		io->resting = false;
}

static int
verify_writable(struct io *io)
{
	int ev = 0;
	size_t len = sizeof(ev);

	zmq_getsockopt(io->verify, ZMQ_EVENTS, &ev, &len);
	return (ev & ZMQ_POLLOUT) != 0;
}

/* The per-agency arrays for generation g, carried over by agency id from
 * the ones of io->gen (if any); n_by counted afresh by the caller. */
static int
agency_arrays(struct io *io, const struct config *next)
{
	uint64_t *last_rec = calloc(next->n_agencies + 1, sizeof(*last_rec));
	unsigned *n_by = calloc(next->n_agencies + 1, sizeof(*n_by));

	if (last_rec == NULL || n_by == NULL) {
		free(last_rec);
		free(n_by);
		return -1;
	}
	for (size_t i = 0; io->last_rec != NULL && i < next->n_agencies; i++) {
		const struct agency *o =
		    liveconf_member(io->gen->cfg, next->agencies[i].id);
		if (o != NULL)
			last_rec[i] =
			    io->last_rec[liveconf_index(io->gen->cfg, o)];
	}
	free(io->last_rec);
	free(io->n_by);
	io->last_rec = last_rec;
	io->n_by = n_by;
	return 0;
}

/* Frames up to twice the limit plus 64 KiB get a TOO_BIG reply; beyond,
 * libzmq drops the connection before allocating more. libzmq checks the
 * option against the CURVE MESSAGE body, the payload and its overhead
 * (peers.h), so that is added. The listener copies the option when it
 * binds: a reload cannot raise it. */
static int
set_hard_max(struct io *io, const struct config *c)
{
	int64_t maxmsg;

	io->start_max = c->max_message_bytes;
	io->hard_max = config_hard_max(c);
	maxmsg = (int64_t)io->hard_max + PEERS_CURVE_BODY_OVERHEAD;
	return zmq_setsockopt(io->router, ZMQ_MAXMSGSIZE, &maxmsg,
	                      sizeof(maxmsg));
}

/* Replies queued per peer, whatever their size: a backstop behind
 * limits.peer_outbound_mb (peers.c), libzmq's default made explicit. */
#define ROUTER_SNDHWM 1000

/* The ROUTER's receive mark: libzmq 4.3.4 holds that many complete
 * requests of a connection in its pipe, plus one its engine decoded and
 * could not push and one the ROUTER prefetched (every zmq_poll asks for
 * ZMQ_EVENTS, even with events 0), before it stops reading the socket.
 * So the mark is as many of the largest frame as limits.peer_inbound_mb
 * holds, less those 2 (at least 2; the config asks for 4 frames), and a
 * pipelining client waits in TCP instead of passing its bound; unread
 * bytes past the bound then mean a partial message, which no honest
 * client leaves (PROTOCOL.md 4.6). Copied by the listener at its bind: a
 * reload cannot change it. */
static int
router_rcvhwm(const struct config *c)
{
	/* libzmq 4.3 stalls a ROUTER pipe whose mark is 1 (its first
	 * message never arrives): 2 at least. */
	uint64_t n = c->peer_inbound_bytes / config_hard_max(c);

	n = n > 4 ? n - 2 : 2;
	return n > INT_MAX ? INT_MAX : (int)n;
}

static int
setup(struct io *io, const uint8_t curve_sk[32])
{
	const struct config *c = io->gen->cfg;
	struct keten_error err;
	int one = 1, linger = 2000, backlog = 4096, hwm = ROUTER_SNDHWM,
	    queue = VERIFY_QUEUE;
	int handshake = (int)c->handshake_ms, rcvhwm = router_rcvhwm(c);

	if (agency_arrays(io, c) != 0)
		return -1;
	io->router = zmq_socket(io->b->zctx, ZMQ_ROUTER);
	io->verify = zmq_socket(io->b->zctx, ZMQ_PUSH);
	io->replies = zmq_socket(io->b->zctx, ZMQ_PULL);
	io->writer = zmq_socket(io->b->zctx, ZMQ_PUSH);
	if (!io->router || !io->verify || !io->replies || !io->writer ||
	    zmq_setsockopt(io->verify, ZMQ_SNDHWM, &queue, sizeof(queue)) ||
	    zmq_bind(io->verify, EP_VERIFY) ||
	    zmq_bind(io->replies, EP_REPLIES) ||
	    zmq_connect(io->writer, EP_WRITER))
		fatalx("event=inproc_setup_failed reason=%s",
		       log_q(zmq_strerror(zmq_errno())));
	if (zmq_setsockopt(io->router, ZMQ_CURVE_SERVER, &one, sizeof(one)) ||
	    zmq_setsockopt(io->router, ZMQ_CURVE_SECRETKEY, curve_sk, 32) ||
	    zmq_setsockopt(io->router, ZMQ_ZAP_DOMAIN, c->region,
	                   strlen(c->region)) ||
	    set_hard_max(io, c) ||
	    zmq_setsockopt(io->router, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
	    zmq_setsockopt(io->router, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm)) ||
	    /* A reply libzmq cannot queue is refused, not lost unseen. */
	    zmq_setsockopt(io->router, ZMQ_ROUTER_MANDATORY, &one,
	                   sizeof(one)) ||
	    zmq_setsockopt(io->router, ZMQ_HANDSHAKE_IVL, &handshake,
	                   sizeof(handshake)) ||
	    /* A listen queue deep enough that an agency's connection waits
	     * in it, not dropped, while a flood fills the open-file limit
	     * (libzmq's default is 100; the kernel caps it at somaxconn). */
	    zmq_setsockopt(io->router, ZMQ_BACKLOG, &backlog,
	                   sizeof(backlog)) ||
	    zmq_setsockopt(io->router, ZMQ_LINGER, &linger, sizeof(linger)))
		return -1;
	/* Before the bind, so that no connection goes unaccounted. */
	if (peers_new(&io->peers, io->b->zctx, io->router, c, &err) !=
	    KETEN_OK) {
		log_err("event=bind_failed reason=%s", log_q(err.message));
		return -1;
	}
	if (zmq_bind(io->router, c->listen) != 0) {
		log_err("event=bind_failed endpoint=%s reason=%s",
		        log_q(c->listen), log_q(zmq_strerror(zmq_errno())));
		return -1;
	}
	return 0;
}

/* READY=1 to systemd, with what is served and how (why: "" at start). */
static void
notify_serving(const struct io *io, const char *why)
{
	const struct config *c = io->gen->cfg;
	char status[400];

	snprintf(status, sizeof(status),
	         "serving region %s on %s, %zu agencies, config generation "
	         "%u%s%s",
	         c->region, c->listen, c->n_agencies, io->gen->generation,
	         why[0] ? "; " : "", why);
	notify_ready(status);
}

/* ---- reload (SIGHUP) ---- */

/* Reads the config file again; if it loads and may replace the one in
 * force, hands it to the writer's roster hook (reload_end follows). */
static void
reload_begin(struct io *io)
{
	const struct config *cur = io->gen->cfg;
	struct config *next = NULL;
	struct liveconf_gen *g = NULL;
	struct keten_error err;
	char restart[128];

	if (io->reload_pending || io->reload_out != NULL) {
		io->reload_again = true; /* read again once this one is done */
		return;
	}
	io->reload_again = false;
	notify_reloading();
	error_clear(&err);
	if (config_load(&next, cur->path, &err) != KETEN_OK ||
	    liveconf_compatible(next, cur, restart, sizeof(restart), &err) !=
	        KETEN_OK) {
		log_err("event=reload result=refused generation=%u "
		        "reason=%s note=\"the config in force stays\"",
		        io->gen->generation, log_q(err.message));
		config_destroy(&next);
		notify_serving(io, "the last reload was refused");
		return;
	}
	if (next->max_message_bytes > io->start_max) {
		size_t len = strlen(restart);
		snprintf(restart + len, sizeof(restart) - len, "%s%s",
		         len ? "," : "", "max_message_bytes");
		next->max_message_bytes = io->start_max;
	}
	if (next->handshake_ms != cur->handshake_ms) {
		size_t len = strlen(restart);
		snprintf(restart + len, sizeof(restart) - len, "%s%s",
		         len ? "," : "", "handshake_ms");
		next->handshake_ms = cur->handshake_ms;
	}
	if (restart[0] != '\0')
		log_warn("event=reload_restart_needed fields=%s note=\"these "
		         "fields take effect at the next start; their old "
		         "values stay\"",
		         restart);
	if (liveconf_prepare(&g, io->b->live, next, &err) != KETEN_OK ||
	    (io->reload_out = job_new()) == NULL) {
		log_err("event=reload result=refused reason=\"out of memory\"");
		liveconf_release(&g);
		notify_serving(io, "the last reload was refused");
		return;
	}
	io->reload_out->reload = g;
	io->reload_out->gen = liveconf_hold(io->gen);
}

/* The writer may be busy: the reload goes when it takes it. */
static void
reload_send(struct io *io)
{
	if (io->reload_out == NULL ||
	    job_send(io->writer, io->reload_out, ZMQ_DONTWAIT) != 0)
		return;
	io->reload_out = NULL;
	io->reload_pending = true;
}

/* Puts the writer-approved generation in force: the per-agency arrays
 * follow by id, and waiting reads of agencies that are gone are answered
 * with the refusal. Returns how many were. */
static size_t
reload_apply(struct io *io, struct liveconf_gen *g)
{
	struct liveconf_gen *old = io->gen;
	char msg[KETEN_ERROR_MAX];
	size_t refused = 0;

	if (agency_arrays(io, g->cfg) != 0)
		fatalx("event=out_of_memory");
	liveconf_install(io->b->live, liveconf_hold(g));
	io->gen = liveconf_hold(g);
	peers_set_limits(io->peers, g->cfg);
	for (size_t i = 0; i < io->n_parked;) {
		struct job *j = io->parked[i].j;
		if (rebase(io, j, msg, sizeof(msg)) == 0) {
			io->n_by[liveconf_index(g->cfg, j->agency)]++;
			i++;
			continue;
		}
		if (io->parked[i].ready)
			io->n_ready--;
		io->parked[i] = io->parked[--io->n_parked];
		refuse_gone(io, j, msg);
		refused++;
	}
	liveconf_release(&old);
	return refused;
}

static void
reload_end(struct io *io, struct job *j)
{
	char changed[256];
	size_t refused;

	io->reload_pending = false;
	if (io->stopping) {
		job_free(j);
		return;
	}
	if (j->item.status != KETEN_OK) {
		log_err("event=reload result=refused generation=%u "
		        "reason=%s note=\"the config in force stays\"",
		        io->gen->generation, log_q(j->item.err.message));
		notify_serving(io, "the last reload was refused");
	} else {
		liveconf_describe(changed, sizeof(changed), io->gen->cfg,
		                  j->reload->cfg);
		refused = reload_apply(io, j->reload);
		log_info("event=reload result=ok generation=%u config=%s %s "
		         "waiting_reads_refused=%zu",
		         io->gen->generation, log_q(io->gen->cfg->path),
		         changed, refused);
		notify_serving(io, "reloaded");
	}
	job_free(j);
	if (io->reload_again)
		reload_begin(io);
}

/* SIGUSR1: one line of what the broker holds. */
static void
status(struct io *io)
{
	uint8_t hash[32];
	uint64_t head = 0;
	char conns[256];

	peers_describe(io->peers, conns, sizeof(conns));
	if (store_head(io->b->store, &head, hash) != KETEN_OK)
		head = io->head;
	log_info("event=status generation=%u config=%s head=%llu "
	         "requests=%llu waiting_reads=%zu waiting_ready=%zu "
	         "agencies=%zu reload_pending=%d %s",
	         io->gen->generation, log_q(io->gen->cfg->path),
	         (unsigned long long)head, (unsigned long long)io->arrivals,
	         io->n_parked, io->n_ready, io->gen->cfg->n_agencies,
	         io->reload_pending || io->reload_out != NULL, conns);
}

static const char *
signal_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "INT";
	case SIGTERM:
		return "TERM";
	case SIGQUIT:
		return "QUIT";
	case SIGHUP:
		return "HUP";
	case SIGUSR1:
		return "USR1";
	}
	return "?";
}

/* The signals ketend takes, blocked in every thread (main.c) and read
 * from transport_run's signalfd. */
void
transport_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

int
transport_run(struct broker *b, const uint8_t curve_sk[32])
{
	struct io io = {.b = b, .next_due = INT64_MAX, .rest_fd = -1};
	struct signalfd_siginfo si;
	sigset_t sigs;
	int rc = 0, sfd = -1, stop_signal = 0;

	io.gen = liveconf_acquire(b->live);
	if (setup(&io, curve_sk) != 0) {
		log_err("event=transport_setup_failed reason=%s",
		        log_q(zmq_strerror(zmq_errno())));
		rc = -1;
		goto stop;
	}
	/* The signals stay blocked in every thread (main.c) and arrive here
	 * as a readable fd, polled with the sockets: a signal between the
	 * loop's check and zmq_poll cannot be lost. */
	transport_signals(&sigs);
	if ((sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_err("event=signalfd_failed reason=%s",
		        log_q(strerror(errno)));
		rc = -1;
		goto stop;
	}
	io.rest_fd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (io.rest_fd < 0) {
		log_err("event=timerfd_failed reason=%s",
		        log_q(strerror(errno)));
		rc = -1;
		goto stop;
	}
	log_info("event=ready region=%s endpoint=%s agencies=%zu",
	         io.gen->cfg->region, log_q(io.gen->cfg->listen),
	         io.gen->cfg->n_agencies);
	notify_serving(&io, "");

	while (!stop_signal) {
		long timeout = expire(&io), tick = peers_tick(io.peers);
		/* Every turn, busy or idle: a wedged loop misses these, and
		 * that is what systemd's watchdog is to catch. */
		long keepalive = notify_watchdog();
		int writable;

		dispatch_ready(&io);
		reload_send(&io);
		writable = verify_writable(&io);
		if (io.n_ready > 0 && writable)
			timeout = 0;
		if (io.reload_out != NULL && (timeout < 0 || timeout > 10))
			timeout = 10; /* the writer takes it soon */
		if (tick >= 0 && (timeout < 0 || timeout > tick))
			timeout = tick;
		/* /healthz: the loop turns at least once a second. */
		if (timeout < 0 || timeout > 1000)
			timeout = 1000;
		metrics_set(METRIC_LOOP_US, clock_mono_us());
		metrics_set(METRIC_WAITING_READS, (int64_t)io.n_parked);
		if (keepalive >= 0 && (timeout < 0 || timeout > keepalive))
			timeout = keepalive;
		zmq_pollitem_t pi[6] = {
		    {.socket = io.replies, .events = ZMQ_POLLIN},
		    {.socket = io.router,
		     .events = writable && !io.resting ? ZMQ_POLLIN : 0},
		    {.socket = io.verify, .events = writable ? 0 : ZMQ_POLLOUT},
		    {.socket = NULL, .fd = sfd, .events = ZMQ_POLLIN},
		    {.socket = peers_socket(io.peers), .events = ZMQ_POLLIN},
		    {.socket = NULL, .fd = io.rest_fd, .events = ZMQ_POLLIN},
		};
		if (zmq_poll(pi, 6, timeout) < 0) {
			if (zmq_errno() == EINTR)
				continue;
			log_err("event=poll_failed reason=%s",
			        log_q(zmq_strerror(zmq_errno())));
			rc = -1;
			break;
		}
		while ((pi[3].revents & ZMQ_POLLIN) && !stop_signal &&
		       read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			int sig = (int)si.ssi_signo;
			log_info("event=signal signal=%s pid=%u",
			         signal_name(sig), si.ssi_pid);
			if (sig == SIGHUP)
				reload_begin(&io);
			else if (sig == SIGUSR1)
				status(&io);
			else
				stop_signal = sig;
		}
		if (pi[4].revents & ZMQ_POLLIN)
			peers_events(io.peers);
		if (pi[5].revents & ZMQ_POLLIN)
			rest_end(&io);
		if (pi[0].revents & ZMQ_POLLIN)
			drain_replies(&io);
		if (pi[1].revents & ZMQ_POLLIN)
			read_requests(&io);
	}
	if (stop_signal) {
		log_info("event=stop signal=%s", signal_name(stop_signal));
		notify_stopping();
	}
stop:
	/* Stop dispatching; workers drain, the writer commits what it has and
	 * says so with a NULL job; then the last replies go out. */
	atomic_store(&b->stopping, true);
	io.stopping = 1;
	for (size_t i = 0; i < io.n_parked; i++)
		job_free(io.parked[i].j);
	io.n_parked = io.n_ready = 0;
	job_free(io.reload_out);
	io.reload_out = NULL;
	while (!io.writer_done) {
		zmq_pollitem_t pi = {.socket = io.replies,
		                     .events = ZMQ_POLLIN};
		/* The writer's last commit may take a while. */
		(void)notify_watchdog();
		if (zmq_poll(&pi, 1, 50) > 0)
			drain_replies(&io);
	}
	drain_replies(&io);
	peers_destroy(&io.peers);
	zmq_close(io.router); /* lingers up to 2 s to flush replies */
	zmq_close(io.verify);
	zmq_close(io.replies);
	if (io.writer != NULL)
		zmq_close(io.writer);
	free(io.parked);
	free(io.last_rec);
	free(io.n_by);
	if (sfd >= 0)
		close(sfd);
	if (io.rest_fd >= 0)
		close(io.rest_fd);
	liveconf_release(&io.gen);
	return rc;
}
