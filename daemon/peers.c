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
#include "peers.h"

#define MIB ((uint64_t)1 << 20)
/* What a client sends before its first message: greeting (64), HELLO
 * (2 + 200) and INITIATE (9 + 257 + its boxed metadata, under 512 even
 * with a 255-byte routing id). Never counted as unread. */
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
#define EP_MONITOR "inproc://keten-peers"

struct conn {
	bool used, authed, dropping;
	uint32_t serial;
	size_t pos; /* in live[] */
	int64_t accepted_us, next_log_us;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char who[CONFIG_WITNESS_NAME_MAX + 1];
	char where[64];
	uint64_t consumed; /* wire bytes of the frames the broker read */
	uint64_t sent;     /* wire bytes of the replies it queued */
	uint64_t unread;   /* received but not read by the broker */
	uint64_t queued;   /* queued but not yet written to the kernel */
	uint64_t replies_dropped;
	uint64_t full_at;   /* queued when a reply was last dropped; 0 */
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
	size_t fd_limit, base_fds;
	int64_t next_tick_us, trim_at_us, next_near_log_us;
	bool suspect; /* a peer is past a quarter of its inbound bound */
	/* Handshakes that succeeded (the monitor does not say on which
	 * descriptor) whose connection the ticks have not found yet, and
	 * how many more ticks look for them. */
	unsigned auth_pending, auth_scans;
	uint64_t dropped_in, dropped_fd, replies_dropped;
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
	int linger = 0;

	*out = NULL;
	if (p == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	p->router = router;
	if (zmq_socket_monitor(
	        router, EP_MONITOR,
	        ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
	            ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED) != 0 ||
	    (p->mon = zmq_socket(zctx, ZMQ_PAIR)) == NULL ||
	    zmq_setsockopt(p->mon, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
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
	if (p->by_fd[fd].used) /* its DISCONNECTED went missing */
		gone(p, fd);
	c = &p->by_fd[fd];
	memset(c, 0, sizeof(*c));
	c->used = true;
	if (++p->serial == 0)
		p->serial = 1;
	c->serial = p->serial;
	c->accepted_us = clock_mono_us();
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
			if (event == ZMQ_EVENT_ACCEPTED) {
				accepted(p, (int)value);
			} else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
				p->auth_pending++;
				p->auth_scans = 50; /* a second of ticks */
			} else {
				gone(p, (int)value);
			}
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

uint64_t
peers_conn(struct peers *p, int fd, const char *who)
{
	struct conn *c;

	/* The monitor told of this connection before its first message
	 * could arrive, and of a previous one on fd before fd was reused:
	 * what it has waiting settles whose fd it is. */
	peers_events(p);
	if (fd < 0 || (size_t)fd >= p->cap || !p->by_fd[fd].used)
		return 0;
	c = &p->by_fd[fd];
	c->authed = true;
	if (who != NULL && c->who[0] == '-')
		snprintf(c->who, sizeof(c->who), "%.*s", (int)strcspn(who, " "),
		         who);
	return (uint64_t)c->serial << 32 | (uint32_t)fd;
}

void
peers_read(struct peers *p, uint64_t id, size_t n)
{
	struct conn *c = lookup(p, id);

	if (c != NULL)
		c->consumed += PEERS_FRAME_WIRE(n);
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

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    ioctl(fd, SIOCINQ, &inq) != 0 || ioctl(fd, SIOCOUTQ, &outq) != 0)
		return -1;
	in = ti.tcpi_bytes_received - (uint64_t)inq;
	written = ti.tcpi_bytes_acked + (uint64_t)outq;
	p->total_in -= c->unread;
	p->total_out -= c->queued;
	c->unread = in > c->consumed + HANDSHAKE_IN
	                ? in - c->consumed - HANDSHAKE_IN
	                : 0;
	c->queued = c->sent > written ? c->sent - written : 0;
	p->total_in += c->unread;
	p->total_out += c->queued;
	if (!c->authed && written > AUTH_OUT)
		c->authed = true;
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
	/* Marked either way, so that no loop picks it again. */
	c->dropping = true;
	p->n_dropping++;
	if (!same_peer(c, fd) || shutdown(fd, SHUT_RDWR) != 0) {
		log_warn("event=peer_drop_failed agency=%s address=%s "
		         "reason=\"%s\"",
		         c->who, c->where, strerror(errno));
		return;
	}
	if (strcmp(reason, "connections_near_limit") == 0) {
		p->dropped_fd++;
		return; /* one line for all: connections_near_limit */
	}
	p->dropped_in++;
	log_warn("event=peer_dropped agency=%s address=%s reason=%s "
	         "bytes=%llu total_unread=%llu",
	         c->who, c->where, reason, (unsigned long long)c->unread,
	         (unsigned long long)p->total_in);
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
	         c->who, c->where, (unsigned long long)c->queued,
	         (unsigned long long)p->total_out, n, bound,
	         (unsigned long long)c->replies_dropped);
}

bool
peers_may_send(struct peers *p, uint64_t id, size_t n)
{
	struct conn *c = lookup(p, id);
	uint64_t w = PEERS_FRAME_WIRE(n);

	if (c == NULL || refresh(p, c, (int)(uint32_t)id) != 0)
		return true; /* unknown, or going: libzmq drops it */
	/* One reply always fits an empty queue, however large it is. */
	if (c->queued > 0 && c->queued + w > p->peer_out) {
		c->full_at = c->queued;
		reply_dropped(p, c, n, "peer_outbound_mb");
		return false;
	}
	if (p->total_out > 0 && p->total_out + w > p->budget_out) {
		reply_dropped(p, c, n, "outbound_budget_mb");
		return false;
	}
	c->sent += w;
	c->queued += w;
	p->total_out += w;
	return true;
}

bool
peers_congested(struct peers *p, uint64_t id)
{
	struct conn *c = lookup(p, id);
	int64_t now = clock_mono_us();

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

/* The connection with the most unread bytes not yet being dropped. */
static int
largest_unread(struct peers *p)
{
	int best = -1;

	for (size_t i = 0; i < p->n_live; i++) {
		const struct conn *c = &p->by_fd[p->live[i]];
		if (!c->dropping &&
		    (best < 0 || c->unread > p->by_fd[best].unread))
			best = p->live[i];
	}
	return best;
}

/* The oldest connection past its grace not yet authenticated nor being
 * dropped. */
static int
oldest_unauthenticated(struct peers *p, int64_t now)
{
	int best = -1;

	for (size_t i = 0; i < p->n_live; i++) {
		const struct conn *c = &p->by_fd[p->live[i]];
		if (!c->dropping && !c->authed &&
		    now - c->accepted_us >= GRACE_US &&
		    (best < 0 || c->accepted_us < p->by_fd[best].accepted_us))
			best = p->live[i];
	}
	return best;
}

/* While the open descriptors come within the reserve of the limit, the
 * oldest connections that have not authenticated make room, so that an
 * agency can still connect. */
static void
headroom(struct peers *p, int64_t now)
{
	size_t reserve = p->fd_limit / 8 > 64 ? p->fd_limit / 8 : 64;
	size_t ceiling = p->fd_limit > reserve ? p->fd_limit - reserve : 0;
	size_t open = p->base_fds + p->n_live, unauth = 0, dropped = 0;
	int fd;

	if (open <= ceiling)
		return;
	for (size_t i = 0; i < p->n_live; i++)
		unauth += !p->by_fd[p->live[i]].authed;
	while (open - p->n_dropping > ceiling &&
	       (fd = oldest_unauthenticated(p, now)) >= 0) {
		drop(p, &p->by_fd[fd], fd, "connections_near_limit");
		dropped++;
	}
	if (now >= p->next_near_log_us) {
		p->next_near_log_us = now + LOG_EVERY_US;
		log_warn("event=connections_near_limit connections=%zu "
		         "unauthenticated=%zu open_files=%zu limit=%zu "
		         "reserve=%zu dropped=%zu dropped_total=%llu",
		         p->n_live, unauth, open, p->fd_limit, reserve, dropped,
		         (unsigned long long)p->dropped_fd);
	}
}

long
peers_tick(struct peers *p)
{
	int64_t now = clock_mono_us();
	uint64_t held = 0; /* unread by peers not being dropped */
	int fd;

	if (p->trim_at_us != 0 && now >= p->trim_at_us) {
		/* glibc keeps freed chunks in its arenas; a peer's megabytes
		 * go back to the system only when asked. */
		p->trim_at_us = 0;
		malloc_trim(0);
	}
	if (p->n_live == 0)
		return p->trim_at_us ? (p->trim_at_us - now) / 1000 + 1 : -1;
	if (now < p->next_tick_us)
		return (long)((p->next_tick_us - now + 999) / 1000);
	peers_events(p);
	p->suspect = false;
	for (size_t i = 0; i < p->n_live; i++) {
		struct conn *c = &p->by_fd[p->live[i]];
		/* Before its handshake libzmq reads nothing but the
		 * handshake: a connection is looked at once it may have
		 * authenticated, so that idle ones cost no system calls. */
		if (!c->authed && p->auth_scans == 0)
			continue;
		bool was = c->authed;
		if (refresh(p, c, p->live[i]) != 0 || c->dropping)
			continue;
		if (!was && c->authed && p->auth_pending > 0)
			p->auth_pending--;
		if (c->unread > p->peer_in)
			drop(p, c, p->live[i], "peer_inbound_mb");
		else if (c->unread > p->peer_in / 4)
			p->suspect = true;
	}
	for (size_t i = 0; i < p->n_live; i++)
		if (!p->by_fd[p->live[i]].dropping)
			held += p->by_fd[p->live[i]].unread;
	if (p->auth_scans > 0 && (p->auth_pending == 0 || --p->auth_scans == 0))
		p->auth_scans = p->auth_pending = 0;
	while (held > p->budget_in && (fd = largest_unread(p)) >= 0 &&
	       p->by_fd[fd].unread > 0) {
		held -= p->by_fd[fd].unread;
		drop(p, &p->by_fd[fd], fd, "inbound_budget_mb");
	}
	headroom(p, now);
	p->next_tick_us =
	    now + (p->suspect ? PEERS_SUSPECT_MS : PEERS_TICK_MS) * 1000;
	return p->suspect ? PEERS_SUSPECT_MS : PEERS_TICK_MS;
}

void
peers_describe(const struct peers *p, char *buf, size_t cap)
{
	snprintf(buf, cap,
	         "connections=%zu unread_bytes=%llu queued_bytes=%llu "
	         "peers_dropped=%llu replies_dropped=%llu "
	         "dropped_near_fd_limit=%llu",
	         p->n_live, (unsigned long long)p->total_in,
	         (unsigned long long)p->total_out,
	         (unsigned long long)p->dropped_in,
	         (unsigned long long)p->replies_dropped,
	         (unsigned long long)p->dropped_fd);
}
