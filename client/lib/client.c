/*
 * libketen's connection to the broker: one CURVE DEALER socket per client,
 * request ids to match replies, a socket monitor to tell a refused key from
 * a broker that is not there. Never logs; errors go to the caller.
 */
#define _GNU_SOURCE /* getaddrinfo_a, in glibc's libc since 2.34 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "client.h"
#include "clock.h"
#include "note.h"
#include "roster.h"
#include "text.h"

#define DEFAULT_TIMEOUT_MS 10000
#define SKIP_SUFFIX        ".skipped" /* after the key file's path */
/* The smallest hard frame limit a broker can have (2 * 4096 + 65536,
 * PROTOCOL.md 4.5): a closed connection after a request no bigger than
 * this is not the broker refusing its size. */
#define HARD_MAX_LEAST (2 * 4096 + 65536)

static int
open_socket(struct keten_client *c, const uint8_t curve_pk[32],
            const uint8_t curve_sk[32], struct keten_error *err)
{
	char mon[64];
	int linger = 0;
	/* The broker's biggest replies carry about 5 x max_message_bytes of
	 * records, or up to ~1.4 MB of case summaries (PROTOCOL.md 4.5);
	 * anything far beyond is not keten, and libzmq drops the connection
	 * instead of allocating it. */
	int64_t maxmsg = (int64_t)c->cfg->max_message_bytes * 8 + (4 << 20);

	if ((c->zctx = zmq_ctx_new()) == NULL ||
	    (c->sock = zmq_socket(c->zctx, ZMQ_DEALER)) == NULL)
		return error_set(err, KETEN_E_NOMEM,
		                 "cannot create a ZeroMQ socket");
	if (zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY,
	                   c->cfg->broker_curve_pk, 32) ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, curve_pk, 32) ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, curve_sk, 32))
		return error_set(err, KETEN_E_INTERNAL,
		                 "cannot set CURVE keys: %s",
		                 zmq_strerror(zmq_errno()));
	snprintf(mon, sizeof(mon), "inproc://keten-monitor-%p", (void *)c);
	if (zmq_socket_monitor(c->sock, mon,
	                       ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
	                           ZMQ_EVENT_DISCONNECTED |
	                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
	                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
	                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
	    (c->mon = zmq_socket(c->zctx, ZMQ_PAIR)) == NULL ||
	    zmq_setsockopt(c->mon, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_connect(c->mon, mon) != 0)
		return error_set(err, KETEN_E_INTERNAL,
		                 "cannot monitor the connection: %s",
		                 zmq_strerror(zmq_errno()));
	/* Connected by client_resolve, to the address it found: libzmq
	 * would resolve the name in its I/O thread without a time limit,
	 * and zmq_ctx_term would wait for it. */
	return KETEN_OK;
}

/* A client with its config loaded, not yet connected. */
static int
client_alloc(struct keten_client **out, const char *config_path,
             struct keten_error *err)
{
	struct keten_client *c;
	int rc;

	error_clear(err);
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	randombytes_buf(&c->next_id, sizeof(c->next_id));
	c->next_id = (c->next_id >> 16) | 1; /* never 0, room to grow */
	if ((rc = config_load_client(&c->cfg, config_path, err)) != KETEN_OK) {
		free(c);
		return rc;
	}
	if (c->cfg->connect[0] == '\0') {
		rc = error_set(err, KETEN_E_CONFIG,
		               "%s names no broker to connect to: add "
		               "'connect: tcp://HOST:PORT'",
		               c->cfg->path);
		config_destroy(&c->cfg);
		free(c);
		return rc;
	}
	/* Until the chain's roster is known, only the configured broker
	 * key signs a state note (roster.c widens the set). */
	c->bkset.k = &c->cfg->broker_key;
	c->bkset.n = 1;
	c->bk_now = c->cfg->broker_key;
	*out = c;
	return KETEN_OK;
}

int
client_new_witness(struct keten_client **out, const char *config_path,
                   const char *name, const uint8_t curve_pk[32],
                   const uint8_t curve_sk[32], struct keten_error *err)
{
	struct keten_client *c;
	int rc;

	if ((rc = client_alloc(&c, config_path, err)) != KETEN_OK)
		return rc;
	snprintf(c->who, sizeof(c->who), "witness %s", name);
	if ((rc = open_socket(c, curve_pk, curve_sk, err)) != KETEN_OK) {
		keten_client_destroy(&c);
		return rc;
	}
	*out = c;
	return KETEN_OK;
}

int
keten_client_new(struct keten_client **out, const char *config_path,
                 const char *key_path, struct keten_error *err)
{
	const struct agency *me;
	struct keten_client *c;
	int rc;

	if ((rc = client_alloc(&c, config_path, err)) != KETEN_OK)
		return rc;
	if ((rc = keys_load(&c->keys, key_path, err)) != KETEN_OK)
		goto fail;
	/* The roster comes from the chain (PROTOCOL.md 22.6): a config
	 * that still lists this agency must at least agree with the key
	 * file, or it would mislead whoever reads it. */
	if ((me = config_find(c->cfg, c->keys->id)) != NULL &&
	    (sodium_memcmp(me->sign_pk, c->keys->sign_pk, 32) != 0 ||
	     sodium_memcmp(me->box_pk, c->keys->box_pk, 32) != 0 ||
	     sodium_memcmp(me->curve_pk, c->keys->curve_pk, 32) != 0)) {
		rc = error_set(
		    err, KETEN_E_KEYFILE,
		    "the public keys in %s for '%s' (line %d) do not match key "
		    "file %s",
		    config_path, me->id, me->line, key_path);
		goto fail;
	}
	snprintf(c->self.id, sizeof(c->self.id), "%s", c->keys->id);
	memcpy(c->self.sign_pk, c->keys->sign_pk, 32);
	memcpy(c->self.box_pk, c->keys->box_pk, 32);
	memcpy(c->self.curve_pk, c->keys->curve_pk, 32);
	c->me = &c->self;
	if ((c->keys_path = strdup(key_path)) == NULL) {
		rc = error_set(err, KETEN_E_NOMEM, "out of memory");
		goto fail;
	}
	snprintf(c->who, sizeof(c->who), "%s", c->me->id);
	if ((c->state_path = malloc(strlen(key_path) + sizeof(STATE_SUFFIX))) ==
	    NULL) {
		rc = error_set(err, KETEN_E_NOMEM, "out of memory");
		goto fail;
	}
	strcpy(c->state_path, key_path);
	strcat(c->state_path, STATE_SUFFIX);
	if ((c->skip_path = malloc(strlen(key_path) + sizeof(SKIP_SUFFIX))) ==
	    NULL) {
		rc = error_set(err, KETEN_E_NOMEM, "out of memory");
		goto fail;
	}
	strcpy(c->skip_path, key_path);
	strcat(c->skip_path, SKIP_SUFFIX);
	if ((rc = open_socket(c, c->keys->curve_pk, c->keys->curve_sk, err)) !=
	    KETEN_OK)
		goto fail;
	*out = c;
	return KETEN_OK;
fail:
	keten_client_destroy(&c);
	return rc;
}

void
keten_client_destroy(struct keten_client **cp)
{
	struct keten_error ignored;
	struct keten_client *c;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	/* Best effort: a state not written only shortens what a later
	 * client can check. */
	if (!c->forked && client_state_flush(c, &ignored) != KETEN_OK)
		c->state_dirty = false;
	/* Checkpoints not yet linked outlive the client: the next one
	 * with this state file links them before its first request. */
	if (client_pending_flush(c, &ignored) != KETEN_OK)
		c->n_loaded = 0;
	if (c->sock) {
		zmq_socket_monitor(c->sock, NULL, 0);
		zmq_close(c->sock);
	}
	if (c->mon)
		zmq_close(c->mon);
	if (c->zctx)
		zmq_ctx_term(c->zctx);
	keys_destroy(&c->keys);
	for (size_t i = 0; i < c->n_old_keys; i++)
		keys_destroy(&c->old_keys[i]);
	roster_destroy(&c->roster);
	for (size_t i = 0; i < c->n_retired; i++)
		roster_destroy(&c->retired[i]);
	free(c->retired);
	free(c->bks);
	free(c->keys_path);
	config_destroy(&c->cfg);
	free(c->inflight);
	free(c->pending);
	free(c->loaded);
	free(c->state_path);
	free(c->skip_path);
	free(c);
	*cp = NULL;
}

int
keten_client_refresh(struct keten_client *c, struct keten_error *err)
{
	struct agency *tmp;
	struct config *fresh;
	size_t n;
	int rc;

	error_clear(err);
	if ((rc = config_load_client(&fresh, c->cfg->path, err)) != KETEN_OK)
		return rc;
	if (strcmp(fresh->region, c->cfg->region) != 0) {
		rc = error_set(err, KETEN_E_CONFIG,
		               "%s now describes region '%s', not '%s'; the "
		               "client keeps the roster it has",
		               c->cfg->path, fresh->region, c->cfg->region);
		goto out;
	}
	/* The roster is the chain's: whatever it recorded since. The
	 * config's agencies (if it still lists any) are kept for the
	 * sentences that name a config line; its endpoint, broker key and
	 * limits stay those the connection and state were made with. */
	tmp = c->cfg->agencies;
	n = c->cfg->n_agencies;
	c->cfg->agencies = fresh->agencies;
	c->cfg->n_agencies = fresh->n_agencies;
	fresh->agencies = tmp;
	fresh->n_agencies = n;
	if ((rc = client_roster_fetch(c, err)) != KETEN_OK)
		goto out;
	c->refresh_gen++;
out:
	config_destroy(&fresh);
	return rc;
}

const char *
keten_client_agency(const struct keten_client *c)
{
	return c->me->id;
}

void
keten_client_set_timeout(struct keten_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
}

int
keten_client_set_state(struct keten_client *c, const char *path)
{
	struct keten_error ignored;
	char *copy = NULL;

	if (path != NULL && (copy = strdup(path)) == NULL)
		return KETEN_E_NOMEM;
	/* The held checkpoints stay held (to be linked to the new state);
	 * the old file's .pending keeps them too, best effort. */
	(void)!client_pending_flush(c, &ignored);
	(void)!client_state_flush(c, &ignored);
	c->n_loaded = 0;
	free(c->state_path);
	c->state_path = copy;
	/* A new file is the state from now on: read it at the next call.
	 * In memory only, the state held so far stays. */
	if (copy != NULL) {
		c->state_loaded = false;
		c->state_dirty = false;
		memset(&c->state, 0, sizeof(c->state));
		c->state_gen++;
	}
	return KETEN_OK;
}

int
client_state_ready(struct keten_client *c, struct keten_error *err)
{
	int rc;

	if (c->forked) {
		*err = c->forked_err;
		return c->forked_err.code;
	}
	if (c->state_loaded)
		return KETEN_OK;
	/* A state note may be signed by any broker key of the chain's
	 * history: the roster first (its requests go out with no state),
	 * then the file. */
	if (c->state_path != NULL && c->roster == NULL) {
		if (c->roster_fetching)
			return KETEN_OK;
		return client_roster_fetch(c, err);
	}
	if (c->state_path == NULL) {
		c->state_loaded = true;
		return KETEN_OK;
	}
	c->state_gen++;
	if ((rc = state_load(&c->state, c->state_path, &c->bkset, c->cfg,
	                     err)) != KETEN_OK)
		return rc;
	/* With it, what an earlier client held for linking: linked before
	 * the first request (client_send). */
	if (c->loaded == NULL &&
	    (c->loaded = calloc(STATE_PENDING_MAX, sizeof(*c->loaded))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	if ((rc = state_pending_load(c->loaded, &c->n_loaded, STATE_PENDING_MAX,
	                             c->state_path, &c->bkset, c->cfg, err)) !=
	    KETEN_OK)
		return rc;
	for (size_t i = 0; i < c->n_loaded; i++)
		if ((rc = link_hold(c, &c->loaded[i], err)) != KETEN_OK)
			return rc;
	link_settle(c);
	c->state_loaded = true;
	return KETEN_OK;
}

void
client_read_monitor(struct keten_client *c)
{
	zmq_msg_t m;
	uint16_t event;

	for (;;) {
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return;
		}
		if (zmq_msg_size(&m) >= 6 && zmq_msg_more(&m)) {
			memcpy(&event, zmq_msg_data(&m), 2);
			if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
				c->connected = 1;
				c->handshakes++;
			} else if (event == ZMQ_EVENT_DISCONNECTED)
				c->disconnects++;
			else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
				c->auth_failed = 1;
			else
				c->proto_failed = 1;
		}
		zmq_msg_close(&m);
	}
}

/*
 * getaddrinfo for name, bounded by timeout_ms: a name server that drops
 * packets makes glibc wait 5 s per attempt and server, far past the
 * client's timeout. 0 with the first address, numeric, in num; a
 * getaddrinfo error; or EAI_CANCELED when the time ran out. A lookup that
 * cannot be cancelled (its thread is in the middle of it) keeps its block,
 * which that thread still writes: it is left to it, a few hundred bytes per
 * timed-out lookup.
 */
static int
client_lookup(char *num, size_t num_size, const char *name, int timeout_ms)
{
	struct lookup {
		struct gaicb cb;
		struct addrinfo hints;
		char name[256];
	} * l;
	struct gaicb *list[1];
	int64_t deadline = clock_mono_us() + (int64_t)timeout_ms * 1000;
	int64_t left;
	struct timespec ts;
	int rc;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return EAI_MEMORY;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->hints.ai_socktype = SOCK_STREAM;
	l->cb.ar_name = l->name;
	l->cb.ar_request = &l->hints;
	list[0] = &l->cb;
	if ((rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) != 0) {
		free(l);
		return rc;
	}
	while ((rc = gai_error(&l->cb)) == EAI_INPROGRESS) {
		if ((left = deadline - clock_mono_us()) <= 0) {
			if (gai_cancel(&l->cb) == EAI_NOTCANCELED)
				return EAI_CANCELED; /* l is the thread's */
			rc = gai_error(&l->cb);
			if (rc == EAI_CANCELED || rc == EAI_INPROGRESS) {
				free(l);
				return EAI_CANCELED;
			}
			break;
		}
		ts.tv_sec = (time_t)(left / 1000000);
		ts.tv_nsec = (long)(left % 1000000) * 1000;
		(void)gai_suspend((const struct gaicb *const *)list, 1, &ts);
	}
	if (rc == 0) {
		rc = getnameinfo(l->cb.ar_result->ai_addr,
		                 l->cb.ar_result->ai_addrlen, num,
		                 (socklen_t)num_size, NULL, 0, NI_NUMERICHOST);
		freeaddrinfo(l->cb.ar_result);
	}
	free(l);
	return rc;
}

/*
 * Resolves the host of a tcp:// endpoint ("tcp://HOST:PORT",
 * "tcp://SRC;HOST:PORT", "[V6]" in brackets) within the timeout and
 * connects to the address found, or a sentence says why not: libzmq
 * would retry a name that does not resolve in silence until the timeout,
 * and resolve it without a bound. Anything else goes to libzmq as it is.
 */
static int
client_resolve(struct keten_client *c, struct keten_error *err)
{
	const char *host = c->cfg->connect + 6, *semi, *colon;
	const char *ep = c->cfg->connect;
	char name[256], num[INET6_ADDRSTRLEN + 8], buf[sizeof(name) + 320];
	size_t n;
	int rc;

	if (strncmp(c->cfg->connect, "tcp://", 6) != 0)
		goto ok;
	if ((semi = strchr(host, ';')) != NULL)
		host = semi + 1;
	if ((colon = strrchr(host, ':')) == NULL)
		goto ok;
	n = (size_t)(colon - host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(name))
		goto ok;
	memcpy(name, host, n);
	name[n] = '\0';
	if ((rc = client_lookup(num, sizeof(num), name, c->timeout_ms)) == 0) {
		/* The same endpoint, with the address for the name. */
		if (snprintf(buf, sizeof(buf), "%.*s%s%s%s%s",
		             (int)(host - c->cfg->connect) -
		                 (host[-1] == '[' ? 1 : 0),
		             c->cfg->connect, strchr(num, ':') ? "[" : "", num,
		             strchr(num, ':') ? "]" : "",
		             colon) < (int)sizeof(buf))
			ep = buf;
		goto ok;
	}
	if (rc == EAI_CANCELED)
		return error_set(err, KETEN_E_CONNECT,
		                 "cannot resolve host %s: the name service "
		                 "did not answer within %d ms (--timeout); "
		                 "retry, or check `connect:` in %s",
		                 name, c->timeout_ms, c->cfg->path);
	/* A name service that did not answer may answer later: that is
	 * not reaching the broker (exit 3); a name that does not exist is
	 * the config's (exit 2). */
	if (rc == EAI_AGAIN)
		return error_set(err, KETEN_E_CONNECT,
		                 "cannot resolve host %s (%s); the name "
		                 "service did not answer: retry, or check "
		                 "`connect:` in %s",
		                 name, gai_strerror(rc), c->cfg->path);
	return error_set(err, KETEN_E_CONFIG,
	                 "cannot resolve host %s (%s); check `connect:` in %s",
	                 name,
	                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc),
	                 c->cfg->path);
ok:
	if (zmq_connect(c->sock, ep) != 0)
		return error_set(err, KETEN_E_CONNECT,
		                 "cannot connect to '%s': %s", c->cfg->connect,
		                 zmq_strerror(zmq_errno()));
	c->resolved = true;
	return KETEN_OK;
}

/* The connection was closed while a request above the least hard frame
 * limit was on its way. That is what a broker with a smaller
 * max_message_bytes than this config's does (PROTOCOL.md 4.5: above its
 * hard limit its libzmq drops the connection and sends nothing), but
 * also what a restart or a cut looks like: the sentence says both. */
static bool
client_dropped(const struct keten_client *c)
{
	return c->disconnects != c->sent_disconnects &&
	       c->sent_len > HARD_MAX_LEAST;
}

static int
client_dropped_error(struct keten_client *c, struct keten_error *err)
{
	c->sent_disconnects = c->disconnects; /* told once */
	return error_set(err, KETEN_E_CONNECT,
	                 "the broker at %s closed the connection during a "
	                 "request of %zu bytes; a broker whose "
	                 "limits.max_message_bytes is below %s's %zu drops "
	                 "such requests: give both the same value",
	                 c->cfg->connect, c->sent_len, c->cfg->path,
	                 c->cfg->max_message_bytes);
}

static int
no_answer(struct keten_client *c, struct keten_error *err)
{
	if (c->auth_failed)
		return error_set(
		    err, KETEN_E_CONNECT,
		    "the broker at %s refused %s's transport key; is it in "
		    "the broker's region config?",
		    c->cfg->connect, c->who);
	if (!c->connected && c->proto_failed)
		return error_set(err, KETEN_E_CONNECT,
		                 "the CURVE handshake with %s failed; check "
		                 "broker.transport_key in %s",
		                 c->cfg->connect, c->cfg->path);
	if (!c->connected)
		return error_set(
		    err, KETEN_E_CONNECT,
		    "no connection to the broker at %s within %d ms; is ketend "
		    "running?",
		    c->cfg->connect, c->timeout_ms);
	if (client_dropped(c))
		return client_dropped_error(c, err);
	return error_set(err, KETEN_E_TIMEOUT,
	                 "the broker at %s did not answer within %d ms",
	                 c->cfg->connect, c->timeout_ms);
}

int
client_send(struct keten_client *c, uint64_t *id, struct request *r,
            struct keten_error *err)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if (!c->resolved && (rc = client_resolve(c, err)) != KETEN_OK)
		return rc;
	if ((rc = client_state_ready(c, err)) != KETEN_OK)
		return rc;
	/* Checkpoints left unlinked (a drain that failed) are linked
	 * before anything else is sent. */
	if ((rc = link_all(c, err)) != KETEN_OK)
		return rc;
	/* A proof from what we hold comes back with the checkpoint. */
	r->known_size = c->state.size;
	c->sent.size = c->state.size;
	memcpy(c->sent.root, c->state.root, KETEN_HASH_LEN);
	c->sent.gen = c->state_gen;
	/* Ids of a pipeline's submissions follow each other (tickets);
	 * a request with its own id (link.c) keeps it. */
	if (r->request_id == 0)
		r->request_id = c->next_id++;
	if (wire_request_encode(&buf, &len, r) != KETEN_OK)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	/* The client config's limit should be the broker's: a bigger frame
	 * is refused (or, above twice that, the connection dropped) after
	 * the upload; say so now, having sent nothing. The number is this
	 * config's, which may not be the broker's (a client config that
	 * leaves it out has the default): say whose it is. */
	if (len > c->cfg->max_message_bytes) {
		free(buf);
		return error_set(
		    err, KETEN_E_TOO_BIG,
		    "the request is %zu bytes; this client's config allows "
		    "at most %zu (limits.max_message_bytes in %s; give it "
		    "the broker's value); nothing was sent",
		    len, c->cfg->max_message_bytes, c->cfg->path);
	}
	client_read_monitor(c);
	c->sent_len = len;
	c->sent_disconnects = c->disconnects;
	/* A DEALER whose handshake was refused has no pipe and would block
	 * forever: bound the send by the timeout too. */
	zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &c->timeout_ms,
	               sizeof(c->timeout_ms));
	rc = zmq_send(c->sock, buf, len, 0);
	free(buf);
	if (rc < 0 && zmq_errno() == EAGAIN) {
		client_read_monitor(c);
		return no_answer(c, err);
	}
	if (rc < 0)
		return error_set(err, KETEN_E_CONNECT,
		                 "cannot send to the broker: %s",
		                 zmq_strerror(zmq_errno()));
	*id = r->request_id;
	return KETEN_OK;
}

int
client_wait(struct keten_client *c, struct reply *r, uint64_t want,
            struct keten_error *err)
{
	int64_t deadline = clock_mono_us() + (int64_t)c->timeout_ms * 1000;

	memset(r, 0, sizeof(*r));
	for (;;) {
		zmq_pollitem_t pi[2] = {
		    {.socket = c->sock, .events = ZMQ_POLLIN},
		    {.socket = c->mon, .events = ZMQ_POLLIN},
		};
		int64_t left = (deadline - clock_mono_us()) / 1000;
		struct keten_error why;
		zmq_msg_t m;
		int rc;

		if (left <= 0 || c->auth_failed)
			return no_answer(c, err);
		if (client_dropped(c))
			return client_dropped_error(c, err);
		if (zmq_poll(pi, 2, (long)left) < 0) {
			if (zmq_errno() == EINTR)
				continue;
			return error_set(err, KETEN_E_CONNECT,
			                 "poll failed: %s",
			                 zmq_strerror(zmq_errno()));
		}
		if (pi[1].revents & ZMQ_POLLIN)
			client_read_monitor(c);
		if (!(pi[0].revents & ZMQ_POLLIN))
			continue;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, c->sock, 0) < 0) {
			zmq_msg_close(&m);
			continue;
		}
		c->connected = 1;
		/* Its checkpoint's signature line names a broker key: the
		 * newest we know, else one of the chain's earlier ones. */
		rc = wire_reply_decode(r, zmq_msg_data(&m), zmq_msg_size(&m),
		                       &c->bk_now, err);
		for (size_t i = 0; rc == KETEN_E_MALFORMED && i < c->bkset.n;
		     i++)
			rc = wire_reply_decode(r, zmq_msg_data(&m),
			                       zmq_msg_size(&m), &c->bkset.k[i],
			                       &why);
		zmq_msg_close(&m);
		if (rc == KETEN_E_MALFORMED && strstr(err->message, "key ID"))
			return error_set(
			    err, KETEN_E_CONFIG,
			    "the broker at %s signs its checkpoints with a key "
			    "that is neither broker.sign_key in %s nor one the "
			    "chain recorded after it (%s): check the broker's "
			    "key with the region's operator",
			    c->cfg->connect, c->cfg->path, err->message);
		if (rc != KETEN_OK)
			return rc;
		/* A refusal of a frame the broker could not read at all
		 * carries id 0; with one call outstanding it is ours. */
		if (want != 0 && r->request_id != want &&
		    !(r->request_id == 0 && r->kind == WIRE_REP_ERROR)) {
			wire_reply_clear(
			    r); /* a late answer to an old request */
			continue;
		}
		if (r->kind == WIRE_REP_ERROR) {
			/* Only 100-199 are broker refusals: any other code
			 * would pass for a local error (a timeout, say). r
			 * stays valid so callers can read its request id. */
			if (r->error.code < 100 || r->error.code > 199)
				return error_set(err, KETEN_E_MALFORMED,
				                 "the broker sent error code "
				                 "%d, which is not "
				                 "a broker refusal: %.120s",
				                 r->error.code,
				                 r->error.message);
			return error_set(err, r->error.code, "%s",
			                 r->error.message);
		}
		return KETEN_OK;
	}
}

int
client_call(struct keten_client *c, struct reply *r, struct request *req,
            struct keten_error *err)
{
	uint64_t id = 0;
	int rc;

	if (c->n_inflight > 0)
		return error_set(
		    err, KETEN_E_USAGE,
		    "%zu pipelined submissions are still in flight; finish "
		    "them first",
		    c->n_inflight);
	if ((rc = client_send(c, &id, req, err)) != KETEN_OK)
		return rc;
	rc = client_wait(c, r, id, err);
	if (rc != KETEN_OK)
		wire_reply_clear(r);
	return rc;
}

/* Sends req and waits for its answer until deadline (monotonic µs),
 * sending it again whenever the connection was made anew meanwhile (a
 * restarted broker forgot the waiting read). */
int
client_call_until(struct keten_client *c, struct reply *r, struct request *req,
                  int64_t deadline, struct keten_error *err)
{
	int saved = c->timeout_ms, rc;

	if (c->n_inflight > 0)
		return error_set(err, KETEN_E_USAGE,
		                 "%zu pipelined submissions are still in "
		                 "flight; finish them first",
		                 c->n_inflight);
	for (;;) {
		unsigned hs;
		uint64_t id = 0;

		/* A request sent before the first handshake is delivered by
		 * it: only a handshake after one that was seen means a new
		 * connection (and a broker that may have forgotten it). */
		client_read_monitor(c);
		hs = c->handshakes;

		if ((rc = client_send(c, &id, req, err)) != KETEN_OK)
			return rc;
		for (;;) {
			int64_t left = (deadline - clock_mono_us()) / 1000;
			if (left <= 0) {
				c->timeout_ms = saved;
				return error_set(
				    err, KETEN_E_TIMEOUT,
				    "the broker at %s did not answer in time",
				    c->cfg->connect);
			}
			/* Short slices, to notice a reconnection. */
			c->timeout_ms = left > 1000 ? 1000 : (int)left;
			rc = client_wait(c, r, id, err);
			c->timeout_ms = saved;
			if (rc != KETEN_E_TIMEOUT && rc != KETEN_E_CONNECT)
				return rc;
			if (c->auth_failed)
				return rc;
			if (hs > 0 && c->handshakes != hs)
				break; /* ask again on the new connection */
		}
	}
}

int
keten_ping(struct keten_client *c, uint64_t *head_seq, struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_PING};
	struct reply r;
	int rc;

	error_clear(err);
	if ((rc = client_call(c, &r, &req, err)) != KETEN_OK)
		return rc;
	if (r.kind != WIRE_REP_PING)
		rc =
		    error_set(err, KETEN_E_MALFORMED,
		              "the broker answered a ping with something else");
	else if (strcmp(r.ping.agency, c->me->id) != 0)
		rc = error_set(err, KETEN_E_CONNECT,
		               "the broker authenticated us as '%s', not '%s'",
		               r.ping.agency, c->me->id);
	else if (r.ping.has_cp)
		rc = client_checkpoint(c, &r.ping.cp, &c->sent, &r.consistency,
		                       err);
	if (rc == KETEN_OK && head_seq)
		*head_seq = r.ping.head_seq;
	wire_reply_clear(&r);
	return rc;
}

int
keten_client_add_old_key(struct keten_client *c, const char *key_path,
                         struct keten_error *err)
{
	struct keys *k = NULL;
	int rc;

	error_clear(err);
	if (c == NULL || key_path == NULL)
		return error_set(
		    err, KETEN_E_USAGE,
		    "keten_client_add_old_key needs a client and a "
		    "key file");
	if (c->n_old_keys == CLIENT_OLD_KEYS_MAX)
		return error_set(err, KETEN_E_USAGE,
		                 "at most %d earlier key files",
		                 CLIENT_OLD_KEYS_MAX);
	if ((rc = keys_load(&k, key_path, err)) != KETEN_OK)
		return rc;
	if (strcmp(k->id, c->keys->id) != 0) {
		rc = error_set(err, KETEN_E_KEYFILE,
		               "%s holds keys of '%s', not of '%s': an earlier "
		               "key file must be this agency's",
		               key_path, k->id, c->keys->id);
		keys_destroy(&k);
		return rc;
	}
	c->old_keys[c->n_old_keys++] = k;
	return KETEN_OK;
}
