/*
 * Per-connection accounts of the ROUTER's peers, from libzmq's socket
 * monitor and the kernel's TCP counters (docs/ketend.md, "Durability and
 * limits"). It never closes a descriptor libzmq owns, only shuts one down.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* glibc's struct tcp_info stops before the byte counters; the kernel's
 * (Linux 4.6+ for bytes_received, 3.15 for bytes_acked) has them. */
#include <linux/sockios.h>
#include <linux/tcp.h>

#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "peers.h"

#define MIB ((uint64_t)1 << 20)
/* What a client sends before its first message: greeting (64), HELLO
 * (2 + 200) and INITIATE (9 + 257 + its boxed metadata, under 512 even
 * with a 255-byte routing id). Never counted as unread; a connection that
 * sends more before its handshake is through is shut down (libzmq would
 * fill a handshake frame up to ZMQ_MAXMSGSIZE for it). */
#define HANDSHAKE_IN 1024
/* What the broker writes in a handshake that ZAP refuses: greeting (64),
 * WELCOME (2 + 168) and ERROR with a 3-digit status (2 + 10). Once it has
 * written more, it wrote READY (2 + 65), which libzmq sends only after ZAP
 * admitted the peer: the connection is authenticated. */
#define HANDSHAKE_REFUSED_OUT (64 + 170 + 12)
#define AUTH_OUT              (HANDSHAKE_REFUSED_OUT + 16)
/* A peer that held more than this makes the next tick trim the heap. */
#define TRIM_BYTES    MIB
#define TRIM_DELAY_US 200000 /* libzmq frees its pipes a moment after */
#define LOG_EVERY_US  5000000
/* How long a new connection is left to authenticate before it may make
 * room near the open-file limit: dropping the newest would let a peer
 * that reconnects at once churn out an agency's connection before its
 * handshake is through. */
#define GRACE_US 1000000
/* How long a connection found at its outbound bound is taken to stay
 * there before its kernel counters are read again: a peer that
 * pipelines requests it does not read the answers to would otherwise
 * cost three system calls per request (measured: a third of the I/O
 * thread's time). */
#define RECHECK_US 1000
/* How long a queue must have made no progress (nothing of it acked by
 * the peer) before the outbound budget may evict it: a client that is
 * reading is never the one shut down. */
#define STALL_US   1000000
#define EP_MONITOR "inproc://keten-peers"
/* Connections whose kernel counters one tick reads, round-robin, besides
 * the suspect ones: a tick's system calls stay bounded however many
 * connections there are. */
#define SLICE         256
#define TRIM_EVERY_US 5000000 /* malloc_trim at most this often */

struct conn {
	bool used, dropping;
	/* A guess from byte counts, not a fact: the broker wrote more than
	 * a refused handshake (so it wrote READY), or a message came. */
	bool past_handshake;
	bool suspect;    /* past a quarter of its inbound bound: every tick */
	uint8_t rid_len; /* its ROUTER routing id, from its first message */
	uint8_t rid[255];
	uint32_t serial;
	uint64_t checked;     /* the tick that last read its counters */
	uint64_t drop_failed; /* the tick a shutdown of it failed */
	size_t pos;           /* in live[] */
	int64_t accepted_us, next_log_us;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char who[CONFIG_WITNESS_NAME_MAX + 1];
	char where[64];
	/* The kernel's raw counters at the last read: a connection's never
	 * go backwards, so lower ones mean a new socket on this fd. */
	uint64_t last_received, last_acked;
	uint64_t consumed; /* wire bytes of the frames the broker read */
	uint64_t sent;     /* wire bytes of the replies it queued */
	uint64_t unread;   /* received but not read by the broker */
	uint64_t queued;   /* queued but not yet written to the kernel */
	uint64_t replies_dropped;
	uint64_t full_at; /* queued when a reply was last dropped; 0 */
	/* When its queue was last empty or the peer last acked more: the
	 * outbound budget evicts only queues stalled STALL_US since. */
	int64_t progress_us;
	int64_t recheck_us; /* while full: when to read its counters again */
};

struct peers {
	void *mon, *router;
	struct conn *by_fd;
	size_t cap;
	int *live;
	size_t n_live, cap_live, n_dropping;
	uint32_t serial;
	uint64_t peer_in, peer_out, budget_in, budget_out;
	uint64_t total_in, total_out;
	/* Unread bytes of connections that are gone: libzmq still holds
	 * their complete messages in the ROUTER and hands them over later
	 * (each is discarded, and subtracted, as it is read). */
	uint64_t leftover;
	size_t fd_limit, base_fds, max_conns;
	size_t rr; /* where the next slice starts in live[] */
	uint64_t ticks;
	int64_t next_tick_us, next_slice_us, trim_at_us, trimmed_us;
	int64_t next_near_log_us, next_gone_log_us;
	bool suspect;     /* a peer is past a quarter of its inbound bound */
	bool out_pressed; /* a reply was refused for the outbound budget */
	uint64_t dropped_in, dropped_fd, replies_dropped, discarded;
};

static size_t
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	if (d == NULL)
		return 64; /* a guess; the reserve absorbs it */
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* less the directory's own */
}

int
peers_new(struct peers **out, void *zctx, void *router, const struct config *c,
          struct keten_error *err)
{
	struct peers *p = calloc(1, sizeof(*p));
	struct rlimit rl;
	int linger = 0, unlimited = 0;

	*out = NULL;
	if (p == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	p->router = router;
	if (zmq_socket_monitor(router, EP_MONITOR,
	                       ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
	                           ZMQ_EVENT_CLOSED) != 0 ||
	    (p->mon = zmq_socket(zctx, ZMQ_PAIR)) == NULL ||
	    zmq_setsockopt(p->mon, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    /* libzmq's I/O thread blocks sending an event the pipe has no
	     * room for (zmq_socket_monitor in 4.3 sends without DONTWAIT),
	     * stalling every connection: the pipe has no bound. */
	    zmq_setsockopt(p->mon, ZMQ_RCVHWM, &unlimited, sizeof(unlimited)) !=
	        0 ||
	    zmq_connect(p->mon, EP_MONITOR) != 0) {
		int rc = error_set(err, KETEN_E_INTERNAL,
		                   "cannot monitor the broker's socket: %s",
		                   zmq_strerror(zmq_errno()));
		peers_destroy(&p);
		return rc;
	}
	p->fd_limit =
	    getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
	        ? (size_t)rl.rlim_cur
	        : 1024;
	p->base_fds = open_fds();
	peers_set_limits(p, c);
	*out = p;
	return KETEN_OK;
}

void
peers_destroy(struct peers **pp)
{
	struct peers *p = *pp;

	if (p == NULL)
		return;
	/* Unregistering takes the lock libzmq holds while it sends an
	 * event: what waits is taken first. */
	if (p->mon != NULL)
		peers_events(p);
	if (p->router != NULL)
		zmq_socket_monitor(p->router, NULL, 0);
	if (p->mon != NULL)
		zmq_close(p->mon);
	free(p->by_fd);
	free(p->live);
	free(p);
	*pp = NULL;
}

void
peers_set_limits(struct peers *p, const struct config *c)
{
	p->peer_in = c->peer_inbound_bytes;
	p->peer_out = c->peer_outbound_bytes;
	p->budget_in = c->inbound_budget_bytes;
	p->budget_out = c->outbound_budget_bytes;
	p->max_conns = c->max_connections;
}

void *
peers_socket(struct peers *p)
{
	return p->mon;
}

static void
conn_where(struct conn *c)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (c->addr.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&c->addr;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
	} else if (c->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&c->addr;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
	}
	snprintf(c->where, sizeof(c->where), "%s:%u", ip, port);
}

static void gone(struct peers *p, int fd);

static void
accepted(struct peers *p, int fd)
{
	struct conn *c;

	if (fd < 0)
		return;
	if ((size_t)fd >= p->cap) {
		size_t ncap = p->cap ? p->cap : 256;
		while (ncap <= (size_t)fd)
			ncap *= 2;
		struct conn *n = realloc(p->by_fd, ncap * sizeof(*n));
		if (n == NULL)
			return; /* not accounted: the ROUTER still bounds it */
		memset(n + p->cap, 0, (ncap - p->cap) * sizeof(*n));
		p->by_fd = n;
		p->cap = ncap;
	}
	if (p->n_live == p->cap_live) {
		size_t ncap = p->cap_live ? 2 * p->cap_live : 256;
		int *n = realloc(p->live, ncap * sizeof(*n));
		if (n == NULL)
			return;
		p->live = n;
		p->cap_live = ncap;
	}
	/* Events come in order and none is lost (the pipe has no bound):
	 * this is only for a descriptor accounted twice. */
	if (p->by_fd[fd].used)
		gone(p, fd);
	c = &p->by_fd[fd];
	memset(c, 0, sizeof(*c));
	c->used = true;
	if (++p->serial == 0)
		p->serial = 1;
	c->serial = p->serial;
	c->accepted_us = c->progress_us = clock_mono_us();
	c->addr_len = sizeof(c->addr);
	if (getpeername(fd, (struct sockaddr *)&c->addr, &c->addr_len) != 0)
		c->addr_len = 0;
	conn_where(c);
	strcpy(c->who, "-");
	c->pos = p->n_live;
	p->live[p->n_live++] = fd;
}

static void
gone(struct peers *p, int fd)
{
	struct conn *c;
	int last;

	if (fd < 0 || (size_t)fd >= p->cap || !p->by_fd[fd].used)
		return; /* the listener's own CLOSED, or never accounted */
	c = &p->by_fd[fd];
	if (c->unread + c->queued > TRIM_BYTES && p->trim_at_us == 0)
		p->trim_at_us = clock_mono_us() + TRIM_DELAY_US;
	p->total_in -= c->unread;
	p->total_out -= c->queued;
	/* Its complete messages may still wait in the ROUTER. */
	if (c->past_handshake)
		p->leftover += c->unread;
	if (c->dropping)
		p->n_dropping--;
	last = p->live[--p->n_live];
	p->live[c->pos] = last;
	p->by_fd[last].pos = c->pos;
	c->used = false;
}

void
peers_events(struct peers *p)
{
	zmq_msg_t ev, addr;
	uint16_t event;
	uint32_t value;

	for (;;) {
		zmq_msg_init(&ev);
		if (zmq_msg_recv(&ev, p->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&ev);
			metrics_set(METRIC_CONNECTIONS, (int64_t)p->n_live);
			return;
		}
		/* Two frames: event (2 bytes) and value (4), then the
		 * endpoint (zmq_socket_monitor(3)). */
		zmq_msg_init(&addr);
		if (zmq_msg_more(&ev))
			zmq_msg_recv(&addr, p->mon, 0);
		if (zmq_msg_size(&ev) >= 6) {
			memcpy(&event, zmq_msg_data(&ev), 2);
			memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
			if (event == ZMQ_EVENT_ACCEPTED)
				accepted(p, (int)value);
			else
				gone(p, (int)value);
		}
		zmq_msg_close(&addr);
		zmq_msg_close(&ev);
	}
}

static struct conn *
lookup(struct peers *p, uint64_t id)
{
	uint32_t fd = (uint32_t)id;

	if (p == NULL || id == 0 || fd >= p->cap || !p->by_fd[fd].used ||
	    p->by_fd[fd].serial != (uint32_t)(id >> 32))
		return NULL;
	return &p->by_fd[fd];
}

/* libzmq's own routing ids (5 bytes: 0, then a 32-bit counter) grow with
 * each connection it admits: a higher one is a later connection. */
static bool
rid_later(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	uint32_t x, y;

	if (alen != 5 || blen != 5 || a[0] != 0 || b[0] != 0)
		return false;
	x = (uint32_t)a[1] << 24 | (uint32_t)a[2] << 16 | (uint32_t)a[3] << 8 |
	    a[4];
	y = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 |
	    b[4];
	return (int32_t)(x - y) > 0;
}

/* Counts a request of a gone connection as discarded; one line per few
 * seconds says how many were. */
static uint64_t
discard(struct peers *p, int fd)
{
	int64_t now = clock_mono_us();

	p->discarded++;
	if (now >= p->next_gone_log_us) {
		p->next_gone_log_us = now + LOG_EVERY_US;
		log_warn("event=request_discarded reason=connection_gone "
		         "fd=%d leftover=%llu discarded=%llu",
		         fd, (unsigned long long)p->leftover,
		         (unsigned long long)p->discarded);
	}
	return PEERS_GONE;
}

uint64_t
peers_conn(struct peers *p, int fd, const uint8_t *rid, size_t rid_len,
           const char *who)
{
	struct conn *c;

	/* A connection's ACCEPTED is sent to the monitor before its
	 * handshake starts, and libzmq sends a DISCONNECTED before it
	 * closes the fd: with the waiting events taken (one non-blocking
	 * read when none waits), an fd not in the table is a gone
	 * connection's, and an entry in it is not one whose fd was reused
	 * since (its DISCONNECTED would have ended it). Only a request a
	 * gone connection left can still name the fd: the routing id tells
	 * them apart below. */
	peers_events(p);
	if (fd < 0 || (size_t)fd >= p->cap || !p->by_fd[fd].used ||
	    rid_len == 0 || rid_len > sizeof(c->rid))
		return discard(p, fd);
	c = &p->by_fd[fd];
	if (c->rid_len != rid_len || memcmp(c->rid, rid, rid_len) != 0) {
		/* Discarding a live request costs its client a timeout;
		 * working a gone one's only wastes a reply that cannot be
		 * routed. So it is discarded only when the fd is bound to a
		 * provably later connection (both ids libzmq's own); else it
		 * is this fd's first message, or the first one bound it to a
		 * gone connection's leftover (whatever its id), and the fd is
		 * bound to this one. */
		if (c->rid_len != 0 &&
		    rid_later(c->rid, c->rid_len, rid, rid_len))
			return discard(p, fd); /* an earlier connection's */
		memcpy(c->rid, rid, rid_len);
		c->rid_len = (uint8_t)rid_len;
	}
	c->past_handshake = true;
	if (who != NULL && c->who[0] == '-')
		snprintf(c->who, sizeof(c->who), "%.*s", (int)strcspn(who, " "),
		         who);
	return (uint64_t)c->serial << 32 | (uint32_t)fd;
}

void
peers_consumed(struct peers *p, uint64_t id, size_t n)
{
	struct conn *c;
	uint64_t w = PEERS_FRAME_WIRE(n);

	if (id == PEERS_GONE) {
		p->leftover = p->leftover > w ? p->leftover - w : 0;
		return;
	}
	if ((c = lookup(p, id)) == NULL)
		return;
	c->consumed += w;
	/* What it read is no longer unread, now rather than at the next
	 * refresh: the budgets never count a submitter just read. */
	w = w < c->unread ? w : c->unread;
	c->unread -= w;
	p->total_in -= w;
}

/* Resets c's counts for a new socket found on its fd, as accepted()
 * would: the counts of the connection that had it are not this one's. */
static void
renew(struct peers *p, struct conn *c)
{
	p->total_in -= c->unread;
	p->total_out -= c->queued;
	c->consumed = c->sent = c->unread = c->queued = 0;
	c->last_received = c->last_acked = 0;
	c->full_at = 0;
}

/* Reads the kernel's counters of c (on fd): what the peer sent that
 * libzmq read from the socket and the broker did not, and what the broker
 * queued that libzmq has not yet written to it. Kernel buffers are the
 * kernel's (net.ipv4.tcp_rmem, tcp_wmem), not counted here. */
static int
refresh(struct peers *p, struct conn *c, int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int inq = 0, outq = 0;
	uint64_t in, written;
	bool progressed;

	memset(&ti, 0, sizeof(ti));
	/* Three reads, one after the other, in the order in which each
	 * error favours the peer. SIOCOUTQ before TCP_INFO: bytes acked
	 * between them are in both outq and tcpi_bytes_acked, so what was
	 * written is over-stated and the queue under-stated (the other way,
	 * they were in neither, and a queue looked up to a send buffer
	 * larger than it was). SIOCINQ after TCP_INFO: bytes that arrive
	 * between them are in inq but not in tcpi_bytes_received, so what
	 * libzmq took is under-stated; and since a new connection's inq can
	 * exceed what TCP_INFO counted, it is at least 0, never a
	 * wrapped-around 2^64 (which dropped an honest connection as past
	 * its handshake's bytes). */
	if (ioctl(fd, SIOCOUTQ, &outq) != 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    ioctl(fd, SIOCINQ, &inq) != 0)
		return -1;
	in = ti.tcpi_bytes_received > (uint64_t)inq
	         ? ti.tcpi_bytes_received - (uint64_t)inq
	         : 0;
	written = ti.tcpi_bytes_acked + (uint64_t)outq;
	progressed = ti.tcpi_bytes_acked > c->last_acked;
	/* A connection's counters never go backwards: lower ones are a new
	 * socket on this fd whose ACCEPTED is not yet taken (microseconds
	 * after the previous one's DISCONNECTED). Computed from the old
	 * connection's consumed and sent, it would look full. */
	if (ti.tcpi_bytes_received < c->last_received ||
	    ti.tcpi_bytes_acked < c->last_acked)
		renew(p, c);
	c->last_received = ti.tcpi_bytes_received;
	c->last_acked = ti.tcpi_bytes_acked;
	p->total_in -= c->unread;
	p->total_out -= c->queued;
	c->unread = in > c->consumed + HANDSHAKE_IN
	                ? in - c->consumed - HANDSHAKE_IN
	                : 0;
	c->queued = c->sent > written ? c->sent - written : 0;
	if (progressed || c->queued == 0)
		c->progress_us = clock_mono_us();
	p->total_in += c->unread;
	p->total_out += c->queued;
	if (written > AUTH_OUT)
		c->past_handshake = true;
	c->checked = p->ticks;
	return 0;
}

static bool
same_peer(const struct conn *c, int fd)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);

	return getpeername(fd, (struct sockaddr *)&a, &len) == 0 &&
	       len == c->addr_len && c->addr_len > 0 &&
	       memcmp(&a, &c->addr, len) == 0;
}

/* Ends c's connection: libzmq sees the end of the stream, closes fd,
 * drops what it buffered for it and tells the monitor. */
static void
drop(struct peers *p, struct conn *c, int fd, const char *reason)
{
	if (c->dropping)
		return;
	if (!same_peer(c, fd) || shutdown(fd, SHUT_RDWR) != 0) {
		/* Not marked dropping: its bytes stay in the accounts
		 * (its DISCONNECTED, on its way if the fd was reused, ends
		 * it); not picked again this tick. */
		c->drop_failed = p->ticks;
		log_warn(
		    "event=peer_drop_failed agency=%s address=%s "
		    "reason=%s",
		    log_q(c->who), log_q(c->where),
		    log_q(same_peer(c, fd) ? strerror(errno) : "fd_reused"));
		return;
	}
	c->dropping = true;
	p->n_dropping++;
	if (strcmp(reason, "connections_near_limit") == 0) {
		p->dropped_fd++;
		return; /* one line for all: connections_near_limit */
	}
	p->dropped_in++;
	log_warn("event=peer_dropped agency=%s address=%s reason=%s "
	         "bytes=%llu queued=%llu total_unread=%llu total_queued=%llu",
	         log_q(c->who), log_q(c->where), reason,
	         (unsigned long long)c->unread, (unsigned long long)c->queued,
	         (unsigned long long)p->total_in,
	         (unsigned long long)p->total_out);
}

/* Counts a reply of n bytes to c as dropped; one line per peer per few
 * seconds says so. */
static void
reply_dropped(struct peers *p, struct conn *c, size_t n, const char *bound)
{
	int64_t now = clock_mono_us();

	c->replies_dropped++;
	p->replies_dropped++;
	if (now < c->next_log_us)
		return;
	c->next_log_us = now + LOG_EVERY_US;
	log_warn("event=reply_dropped agency=%s address=%s queued=%llu "
	         "total_queued=%llu bytes=%zu bound=%s dropped=%llu",
	         log_q(c->who), log_q(c->where), (unsigned long long)c->queued,
	         (unsigned long long)p->total_out, n, bound,
	         (unsigned long long)c->replies_dropped);
}

bool
peers_may_send(struct peers *p, uint64_t id, size_t n)
{
	struct conn *c;
	uint64_t w = PEERS_FRAME_WIRE(n);
	const char *bound = NULL;
	bool fresh;

	peers_events(p);
	if ((c = lookup(p, id)) == NULL)
		return true; /* unknown, or gone: libzmq drops it */
	/* Going if its counters cannot be read: then sent, and counted, so
	 * that peers_unsent undoes only what was counted. */
	fresh = refresh(p, c, (int)(uint32_t)id) == 0;
	/* One reply always fits an empty queue, however large it is: an
	 * idle peer is never refused for what others hold (the tick drops
	 * the largest queue when they pass the budget). */
	if (fresh && c->queued > 0 && c->queued + w > p->peer_out)
		bound = "peer_outbound_mb";
	else if (fresh && c->queued > 0 && p->total_out + w > p->budget_out)
		bound = "outbound_budget_mb";
	if (bound != NULL) {
		/* Only its own bound marks it full: a budget refusal says
		 * nothing of this peer, whose next requests are worked. */
		if (bound[0] == 'o')
			p->out_pressed = true;
		else
			c->full_at = c->queued;
		reply_dropped(p, c, n, bound);
		return false;
	}
	c->sent += w;
	c->queued += w;
	p->total_out += w;
	return true;
}

void
peers_unsent(struct peers *p, uint64_t id, size_t n, const char *why)
{
	struct conn *c = lookup(p, id);
	uint64_t w = PEERS_FRAME_WIRE(n);

	if (c == NULL)
		return;
	/* peers_may_send counted it for every connection lookup found (and
	 * none was renewed in between without a refresh): never more. */
	c->sent -= w < c->sent ? w : c->sent;
	w = w < c->queued ? w : c->queued;
	c->queued -= w;
	p->total_out -= w;
	reply_dropped(p, c, n, why);
}

bool
peers_congested(struct peers *p, uint64_t id)
{
	struct conn *c;
	int64_t now = clock_mono_us();

	peers_events(p);
	c = lookup(p, id);
	/* Full since a reply was dropped, until the peer takes some. */
	if (c == NULL || c->full_at == 0)
		return false;
	if (now >= c->recheck_us) {
		if (refresh(p, c, (int)(uint32_t)id) != 0 ||
		    c->queued < c->full_at) {
			c->full_at = 0;
			return false;
		}
		c->recheck_us = now + RECHECK_US;
	}
	reply_dropped(p, c, 0, "peer_outbound_mb");
	return true;
}

/* The connection not yet being dropped with the most unread bytes (out
 * false) or queued ones (out true: only among queues stalled STALL_US
 * before now). */
static int
largest(struct peers *p, bool out, int64_t now)
{
	int best = -1;
	uint64_t most = 0;

	for (size_t i = 0; i < p->n_live; i++) {
		const struct conn *c = &p->by_fd[p->live[i]];
		uint64_t v = out ? c->queued : c->unread;
		if (out && now - c->progress_us < STALL_US)
			continue;
		if (!c->dropping && c->drop_failed != p->ticks && v > most) {
			best = p->live[i];
			most = v;
		}
	}
	return best;
}

/* The oldest connection not yet authenticated nor being dropped (newest
 * false; past its grace if grace), or the newest authenticated one
 * (newest true). */
static int
pick(struct peers *p, int64_t now, bool newest, bool grace)
{
	int best = -1;

	for (size_t i = 0; i < p->n_live; i++) {
		const struct conn *c = &p->by_fd[p->live[i]];
		if (c->dropping || c->drop_failed == p->ticks ||
		    c->past_handshake != newest ||
		    (!newest && grace && now - c->accepted_us < GRACE_US))
			continue;
		if (best < 0 ||
		    (newest ? c->accepted_us > p->by_fd[best].accepted_us
		            : c->accepted_us < p->by_fd[best].accepted_us))
			best = p->live[i];
	}
	return best;
}

/* While the open descriptors come within the reserve of the limit, the
 * oldest connections past their grace that have not authenticated make
 * room, so that an agency can still connect. Past
 * limits.max_connections, the oldest unauthenticated ones go, in their
 * grace or not (the bound holds, and a churning peer's older connections
 * go before an agency's handshake in progress); authenticated ones go,
 * the newest first, only while they alone pass it: an established one
 * keeps its place, never lost to keyless connections. */
static void
headroom(struct peers *p, int64_t now)
{
	size_t reserve = p->fd_limit / 8 > 64 ? p->fd_limit / 8 : 64;
	size_t ceiling = p->fd_limit > reserve ? p->fd_limit - reserve : 0;
	size_t open = p->base_fds + p->n_live, unauth = 0, dropped = 0;
	size_t auth = 0; /* authenticated and not being dropped */
	int fd;

	if (open <= ceiling && p->n_live <= p->max_conns)
		return;
	for (size_t i = 0; i < p->n_live; i++) {
		const struct conn *c = &p->by_fd[p->live[i]];
		unauth += !c->past_handshake;
		auth += c->past_handshake && !c->dropping;
	}
	while (open - p->n_dropping > ceiling &&
	       (fd = pick(p, now, false, true)) >= 0) {
		drop(p, &p->by_fd[fd], fd, "connections_near_limit");
		dropped += p->by_fd[fd].dropping;
	}
	while (p->n_live - p->n_dropping > p->max_conns &&
	       (fd = pick(p, now, false, false)) >= 0) {
		drop(p, &p->by_fd[fd], fd, "connections_near_limit");
		dropped += p->by_fd[fd].dropping;
	}
	while (auth > p->max_conns && (fd = pick(p, now, true, false)) >= 0) {
		drop(p, &p->by_fd[fd], fd, "max_connections");
		auth--;
	}
	if (now >= p->next_near_log_us) {
		p->next_near_log_us = now + LOG_EVERY_US;
		log_warn("event=connections_near_limit connections=%zu "
		         "unauthenticated=%zu open_files=%zu limit=%zu "
		         "reserve=%zu max_connections=%zu dropped=%zu "
		         "dropped_total=%llu",
		         p->n_live, unauth, open, p->fd_limit, reserve,
		         p->max_conns, dropped,
		         (unsigned long long)p->dropped_fd);
	}
}

/* Reads fd's counters (once a tick) and shuts it down past its bound:
 * before its handshake is through, any byte past the handshake's. */
static void
check(struct peers *p, int fd)
{
	struct conn *c = &p->by_fd[fd];

	if (c->dropping || c->checked == p->ticks || refresh(p, c, fd) != 0)
		return;
	c->suspect = false;
	if (!c->past_handshake && c->unread > 0)
		drop(p, c, fd, "handshake_bytes");
	else if (c->unread > p->peer_in)
		drop(p, c, fd, "peer_inbound_mb");
	else if (c->unread > p->peer_in / 4)
		c->suspect = p->suspect = true;
}

/* Returns releasable memory to the system once a large peer went, at
 * most every few seconds: malloc_trim takes each arena's lock while the
 * workers allocate. */
static void
trim(struct peers *p, int64_t now)
{
	if (p->trim_at_us == 0 || now < p->trim_at_us)
		return;
	if (p->trimmed_us != 0 && now - p->trimmed_us < TRIM_EVERY_US) {
		p->trim_at_us = p->trimmed_us + TRIM_EVERY_US;
		return;
	}
	/* glibc keeps freed chunks in its arenas; a peer's megabytes go
	 * back to the system only when asked. */
	p->trim_at_us = 0;
	p->trimmed_us = now;
	malloc_trim(0);
}

long
peers_tick(struct peers *p)
{
	int64_t now = clock_mono_us();
	uint64_t held = 0, out = 0; /* of peers not being dropped */
	int ev = 0, fd;
	bool pressed;
	size_t len = sizeof(ev);

	/* No entry may stand for a reused fd in the slice below. */
	peers_events(p);
	trim(p, now);
	/* Nothing to read in the ROUTER: no gone connection left any. */
	if (p->leftover > 0 &&
	    zmq_getsockopt(p->router, ZMQ_EVENTS, &ev, &len) == 0 &&
	    !(ev & ZMQ_POLLIN))
		p->leftover = 0;
	if (p->n_live == 0)
		return p->trim_at_us ? (p->trim_at_us - now) / 1000 + 1 : -1;
	if (now < p->next_tick_us)
		return (long)((p->next_tick_us - now + 999) / 1000);
	p->ticks++;
	p->suspect = false;
	/* A slice of them every PEERS_TICK_MS, round-robin; the suspect
	 * ones every tick. */
	if (now >= p->next_slice_us) {
		p->next_slice_us = now + PEERS_TICK_MS * 1000;
		for (size_t i = 0; i < SLICE && i < p->n_live; i++) {
			if (p->rr >= p->n_live)
				p->rr = 0;
			check(p, p->live[p->rr++]);
		}
	}
	for (size_t i = 0; i < p->n_live; i++)
		if (p->by_fd[p->live[i]].suspect)
			check(p, p->live[i]);
	for (size_t i = 0; i < p->n_live; i++) {
		const struct conn *c = &p->by_fd[p->live[i]];
		if (!c->dropping) {
			held += c->unread;
			out += c->queued;
		}
	}
	/* What gone connections left counts, but only the living can be
	 * dropped for it. */
	held += p->leftover;
	while (held > p->budget_in && (fd = largest(p, false, now)) >= 0) {
		held -= p->by_fd[fd].unread;
		drop(p, &p->by_fd[fd], fd, "inbound_budget_mb");
	}
	/* The refusals keep the queues within the budget: one since the
	 * last tick, or a total past it, makes the largest stalled queue go,
	 * so that peers that never read cannot hold the budget against
	 * every other. The totals are from each slice's last read: under
	 * pressure every connection is read again first (at most
	 * max_connections of them, and only then), and a queue the peer is
	 * taking is never the one evicted. */
	pressed = p->out_pressed;
	p->out_pressed = false;
	if (pressed || out > p->budget_out) {
		out = 0;
		for (size_t i = 0; i < p->n_live; i++)
			check(p, p->live[i]);
		for (size_t i = 0; i < p->n_live; i++)
			if (!p->by_fd[p->live[i]].dropping)
				out += p->by_fd[p->live[i]].queued;
	}
	while ((out > p->budget_out || pressed) &&
	       (fd = largest(p, true, now)) >= 0) {
		pressed = false;
		out -= p->by_fd[fd].queued;
		drop(p, &p->by_fd[fd], fd, "outbound_budget_mb");
	}
	headroom(p, now);
	p->next_tick_us = p->next_slice_us;
	if (p->suspect && now + PEERS_SUSPECT_MS * 1000 < p->next_tick_us)
		p->next_tick_us = now + PEERS_SUSPECT_MS * 1000;
	return (long)((p->next_tick_us - now + 999) / 1000);
}

void
peers_describe(const struct peers *p, char *buf, size_t cap)
{
	snprintf(
	    buf, cap,
	    "connections=%zu unread_bytes=%llu queued_bytes=%llu "
	    "peers_dropped=%llu replies_dropped=%llu "
	    "dropped_near_fd_limit=%llu leftover_bytes=%llu "
	    "requests_discarded=%llu",
	    p->n_live, (unsigned long long)p->total_in,
	    (unsigned long long)p->total_out, (unsigned long long)p->dropped_in,
	    (unsigned long long)p->replies_dropped,
	    (unsigned long long)p->dropped_fd, (unsigned long long)p->leftover,
	    (unsigned long long)p->discarded);
}
