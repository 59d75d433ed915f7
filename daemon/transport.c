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
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "broker.h"
#include "clock.h"
#include "job.h"
#include "log.h"
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

static void
zap_handle(struct broker *b, void *sock)
{
	zmq_msg_t f[ZAP_FRAMES];
	int n = 0, more = 1;
	const struct agency *a = NULL;
	const struct witness *w = NULL;
	char addr[64] = "?", key[TEXT_KEY_B64_LEN] = "?";
	char user[sizeof(JOB_WITNESS_PREFIX) + CONFIG_WITNESS_NAME_MAX];

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
		a = config_find_transport(b->cfg, zmq_msg_data(&f[6]));
		w = config_find_witness_transport(b->cfg, zmq_msg_data(&f[6]));
	}
	if (w != NULL) {
		/* A witness may only ping and cosign (verify.c). */
		snprintf(user, sizeof(user), JOB_WITNESS_PREFIX "%s", w->name);
		log_info("event=auth witness=%s address=%s", w->name, addr);
		zap_reply(sock, &f[1], "200", "OK", user);
	} else if (a == NULL) {
		log_warn("event=auth_refused address=%s transport_key=%s", addr,
		         key);
		zap_reply(sock, &f[1], "400", "transport key not in region",
		          "");
	} else {
		log_info("event=auth agency=%s address=%s", a->id, addr);
		zap_reply(sock, &f[1], "200", "OK", a->id);
	}
out:
	for (int i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
}

void *
zap_main(void *arg)
{
	struct broker *b = arg;
	void *sock = zmq_socket(b->zctx, ZMQ_REP);
	int linger = 0;

	if (sock == NULL || zmq_bind(sock, EP_ZAP) != 0)
		fatalx("event=zap_start_failed err=%s",
		       zmq_strerror(zmq_errno()));
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

struct parked {
	struct job *j;
	bool ready; /* to go back to the workers as soon as they take it */
};

struct io {
	struct broker *b;
	void *router, *verify, *replies;
	size_t hard_max;
	int writer_done; /* the writer sent its last reply */
	int stopping;
	struct parked *parked;
	size_t n_parked, cap_parked, n_ready;
	uint64_t head;      /* the newest committed seq the writer told of */
	uint64_t *last_rec; /* per config agency: head when its inbox grew */
	unsigned *n_by;     /* per config agency: its waiting reads */
	uint64_t arrivals;  /* requests read, to order a connection's reads */
	int64_t next_due;   /* no waiting read ends before this (mono µs) */
};

static void
send_reply(struct io *io, struct job *j)
{
	if (j->out != NULL) {
		/* Without ROUTER_MANDATORY a gone or full peer drops silently.
		 */
		if (zmq_send(io->router, j->rid, j->rid_len,
		             ZMQ_SNDMORE | ZMQ_DONTWAIT) == (int)j->rid_len)
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
	return io->last_rec[j->agency - io->b->cfg->agencies] > j->park_after;
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
	io->n_by[io->parked[i].j->agency - io->b->cfg->agencies]--;
	io->parked[i] = io->parked[--io->n_parked];
}

static void send_reply(struct io *io, struct job *j);

/* A waiting read that may not wait: back to the workers to be answered
 * with what there is, or, if they take nothing now, told to retry. */
static void
answer_now(struct io *io, struct job *j)
{
	j->no_wait = true;
	if (job_send(io->verify, j, ZMQ_DONTWAIT) == 0)
		return;
	job_reply_error(j, KETEN_E_UNAVAILABLE,
	                "the broker is busy; retry shortly");
	send_reply(io, j);
}

static void
park(struct io *io, struct job *j)
{
	if (io->stopping) { /* its client asks again after the restart */
		job_free(j);
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
	if (io->n_by[j->agency - io->b->cfg->agencies] >= PARKED_PER_AGENCY) {
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
	io->n_by[j->agency - io->b->cfg->agencies]++;
	if (j->wait_until_us < io->next_due)
		io->next_due = j->wait_until_us;
	if (may_have(io, j))
		mark_ready(io, &io->parked[io->n_parked]);
	io->n_parked++;
}

static void
notice(struct io *io, struct job *n)
{
	const struct config *c = io->b->cfg;

	if (n->notice_head > io->head)
		io->head = n->notice_head;
	for (size_t a = 0; a < c->n_agencies; a++)
		if (n->notice_woke[a])
			io->last_rec[a] = n->notice_head;
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
		if (!verify_writable(io) ||
		    job_send(io->verify, j, ZMQ_DONTWAIT) != 0)
			return;
		unpark(io, i); /* the last one moved to i */
	}
}

static void
drain_replies(struct io *io)
{
	struct job *j;

	while (job_recv(io->replies, &j, ZMQ_DONTWAIT) == 0) {
		if (j == NULL)
			io->writer_done = 1;
		else if (j->notice)
			notice(io, j);
		else if (j->parked)
			park(io, j);
		else
			send_reply(io, j);
	}
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
	j->peek_id = wire_request_peek_id(zmq_msg_data(&j->frame),
	                                  zmq_msg_size(&j->frame));
	user = zmq_msg_gets(&j->frame, "User-Id");
	j->agency = user ? config_find(io->b->cfg, user) : NULL;
	if (user != NULL && strncmp(user, JOB_WITNESS_PREFIX,
	                            sizeof(JOB_WITNESS_PREFIX) - 1) == 0)
		j->witness = config_find_witness(
		    io->b->cfg, user + sizeof(JOB_WITNESS_PREFIX) - 1);
	size = zmq_msg_size(&j->frame);
	if (more) {
		zmq_msg_t extra;
		do {
			zmq_msg_init(&extra);
			zmq_msg_recv(&extra, io->router, 0);
			more = zmq_msg_more(&extra);
			zmq_msg_close(&extra);
		} while (more);
		job_reply_error(
		    j, KETEN_E_MALFORMED,
		    "a request is exactly one frame; this one had more");
		send_reply(io, j);
		return 0;
	}
	if (j->agency == NULL && j->witness == NULL) { /* ZAP admitted it */
		log_err("event=unauthenticated_frame");
		job_free(j);
		return 0;
	}
	if (size > io->b->cfg->max_message_bytes) {
		char msg[160];
		snprintf(
		    msg, sizeof(msg),
		    "the request is %zu bytes; this broker accepts at most %zu "
		    "(limits.max_message_bytes)",
		    size, io->b->cfg->max_message_bytes);
		log_info("event=refused agency=%s code=%d bytes=%zu",
		         job_peer(j), KETEN_E_TOO_BIG, size);
		job_reply_error(j, KETEN_E_TOO_BIG, msg);
		send_reply(io, j);
		return 0;
	}
	if (job_send(io->verify, j, ZMQ_DONTWAIT) != 0) {
		job_reply_error(j, KETEN_E_UNAVAILABLE,
		                "the broker is busy; retry shortly");
		send_reply(io, j);
	}
	return 0;
}

static int
verify_writable(struct io *io)
{
	int ev = 0;
	size_t len = sizeof(ev);

	zmq_getsockopt(io->verify, ZMQ_EVENTS, &ev, &len);
	return (ev & ZMQ_POLLOUT) != 0;
}

static int
setup(struct io *io, const uint8_t curve_sk[32])
{
	const struct config *c = io->b->cfg;
	int one = 1, linger = 2000;
	int64_t maxmsg;

	/* Frames up to twice the limit plus 64 KiB get a TOO_BIG reply; beyond,
	 * libzmq drops the connection before allocating more. */
	io->hard_max = 2 * c->max_message_bytes + 65536;
	maxmsg = (int64_t)io->hard_max;
	if ((io->last_rec = calloc(c->n_agencies, sizeof(*io->last_rec))) ==
	        NULL ||
	    (io->n_by = calloc(c->n_agencies, sizeof(*io->n_by))) == NULL)
		return -1;
	io->router = zmq_socket(io->b->zctx, ZMQ_ROUTER);
	io->verify = zmq_socket(io->b->zctx, ZMQ_PUSH);
	io->replies = zmq_socket(io->b->zctx, ZMQ_PULL);
	if (!io->router || !io->verify || !io->replies ||
	    zmq_bind(io->verify, EP_VERIFY) ||
	    zmq_bind(io->replies, EP_REPLIES))
		fatalx("event=inproc_setup_failed reason=\"%s\"",
		       zmq_strerror(zmq_errno()));
	if (zmq_setsockopt(io->router, ZMQ_CURVE_SERVER, &one, sizeof(one)) ||
	    zmq_setsockopt(io->router, ZMQ_CURVE_SECRETKEY, curve_sk, 32) ||
	    zmq_setsockopt(io->router, ZMQ_ZAP_DOMAIN, c->region,
	                   strlen(c->region)) ||
	    zmq_setsockopt(io->router, ZMQ_MAXMSGSIZE, &maxmsg,
	                   sizeof(maxmsg)) ||
	    zmq_setsockopt(io->router, ZMQ_LINGER, &linger, sizeof(linger)))
		return -1;
	if (zmq_bind(io->router, c->listen) != 0) {
		log_err("event=bind_failed endpoint=%s reason=\"%s\"",
		        c->listen, zmq_strerror(zmq_errno()));
		return -1;
	}
	return 0;
}

int
transport_run(struct broker *b, const uint8_t curve_sk[32])
{
	struct io io = {.b = b, .next_due = INT64_MAX};
	struct signalfd_siginfo si;
	sigset_t stop;
	int rc = 0, sfd = -1, got_signal = 0;

	if (setup(&io, curve_sk) != 0) {
		log_err("event=transport_setup_failed reason=\"%s\"",
		        zmq_strerror(zmq_errno()));
		rc = -1;
		goto stop;
	}
	/* SIGINT/SIGTERM stay blocked in every thread (main.c) and arrive
	 * here as a readable fd, polled with the sockets: a signal between
	 * the loop's check and zmq_poll cannot be lost. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	if ((sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_err("event=signalfd_failed reason=\"%s\"", strerror(errno));
		rc = -1;
		goto stop;
	}
	log_info("event=ready region=%s endpoint=%s agencies=%zu",
	         b->cfg->region, b->cfg->listen, b->cfg->n_agencies);

	while (!got_signal) {
		long timeout = expire(&io);
		int writable;

		dispatch_ready(&io);
		writable = verify_writable(&io);
		if (io.n_ready > 0 && writable)
			timeout = 0;
		zmq_pollitem_t pi[4] = {
		    {.socket = io.replies, .events = ZMQ_POLLIN},
		    {.socket = io.router, .events = writable ? ZMQ_POLLIN : 0},
		    {.socket = io.verify, .events = writable ? 0 : ZMQ_POLLOUT},
		    {.socket = NULL, .fd = sfd, .events = ZMQ_POLLIN},
		};
		if (zmq_poll(pi, 4, timeout) < 0) {
			if (zmq_errno() == EINTR)
				continue;
			log_err("event=poll_failed reason=\"%s\"",
			        zmq_strerror(zmq_errno()));
			rc = -1;
			break;
		}
		if ((pi[3].revents & ZMQ_POLLIN) &&
		    read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			got_signal = (int)si.ssi_signo;
		if (pi[0].revents & ZMQ_POLLIN)
			drain_replies(&io);
		/* A bounded number per turn keeps replies flowing. */
		for (int i = 0; i < 256 && (pi[1].revents & ZMQ_POLLIN); i++)
			if (!verify_writable(&io) || read_request(&io) != 0)
				break;
	}
	if (got_signal)
		log_info("event=stopping signal=%d", got_signal);
stop:
	/* Stop dispatching; workers drain, the writer commits what it has and
	 * says so with a NULL job; then the last replies go out. */
	atomic_store(&b->stopping, true);
	io.stopping = 1;
	for (size_t i = 0; i < io.n_parked; i++)
		job_free(io.parked[i].j);
	io.n_parked = io.n_ready = 0;
	while (!io.writer_done) {
		zmq_pollitem_t pi = {.socket = io.replies,
		                     .events = ZMQ_POLLIN};
		if (zmq_poll(&pi, 1, 50) > 0)
			drain_replies(&io);
	}
	drain_replies(&io);
	zmq_close(io.router); /* lingers up to 2 s to flush replies */
	zmq_close(io.verify);
	zmq_close(io.replies);
	free(io.parked);
	free(io.last_rec);
	free(io.n_by);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
