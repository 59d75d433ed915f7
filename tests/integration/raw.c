/* Raw frames for tests of refusals, and a false broker's log. */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "chain.h"
#include "clock.h"
#include "config.h"
#include "envelope.h"
#include "keys.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"
#include "merkle.h"
#include "raw.h"

static void die(const char *what) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "raw: %s\n", what);
	exit(99);
}

/* stalled: a peer that takes at most one reply and then stops reading
 * (libzmq's receive queue of one, a small kernel buffer). */
static void
connect_keys(struct raw *r, const struct harness *h, const uint8_t pk[32],
             const uint8_t sk[32], bool stalled)
{
	struct config *c;
	struct keten_error err;
	char ep[64];
	int linger = 0, one = 1, small = 4096;

	if (config_load(&c, h->config, &err) != 0)
		die(err.message);
	r->ctx = zmq_ctx_new();
	r->sock = zmq_socket(r->ctx, ZMQ_DEALER);
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", h->port);
	if (stalled &&
	    (zmq_setsockopt(r->sock, ZMQ_RCVHWM, &one, sizeof(one)) ||
	     zmq_setsockopt(r->sock, ZMQ_RCVBUF, &small, sizeof(small))))
		die("stalled socket options");
	if (zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_setsockopt(r->sock, ZMQ_CURVE_SERVERKEY, c->broker_curve_pk,
	                   32) ||
	    zmq_setsockopt(r->sock, ZMQ_CURVE_PUBLICKEY, pk, 32) ||
	    zmq_setsockopt(r->sock, ZMQ_CURVE_SECRETKEY, sk, 32) ||
	    zmq_connect(r->sock, ep))
		die("connect");
	r->broker = c->broker_key;
	config_destroy(&c);
}

void
raw_connect_keys(struct raw *r, const struct harness *h, const uint8_t pk[32],
                 const uint8_t sk[32])
{
	connect_keys(r, h, pk, sk, false);
}

static void
connect_agency(struct raw *r, const struct harness *h, const char *id,
               bool stalled)
{
	struct keys *k;
	struct keten_error err;

	if (keys_load(&k, harness_key(h, id), &err) != 0)
		die(err.message);
	connect_keys(r, h, k->curve_pk, k->curve_sk, stalled);
	keys_destroy(&k);
}

void
raw_connect(struct raw *r, const struct harness *h, const char *id)
{
	connect_agency(r, h, id, false);
}

void
raw_connect_stalled(struct raw *r, const struct harness *h, const char *id)
{
	connect_agency(r, h, id, true);
}

int
raw_call(struct raw *r, struct reply *rep, const uint8_t *const *frames,
         const size_t *lens, size_t nframes, int timeout_ms)
{
	zmq_pollitem_t pi = {.socket = r->sock, .events = ZMQ_POLLIN};
	zmq_msg_t m;
	struct keten_error err;
	int rc;

	zmq_setsockopt(r->sock, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms));
	for (size_t i = 0; i < nframes; i++)
		if (zmq_send(r->sock, frames[i], lens[i],
		             i + 1 < nframes ? ZMQ_SNDMORE : 0) < 0)
			return -1; /* no peer: refused at the handshake */
	if (zmq_poll(&pi, 1, timeout_ms) <= 0)
		return -1;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, r->sock, 0) < 0)
		die("recv");
	rc = wire_reply_decode(rep, zmq_msg_data(&m), zmq_msg_size(&m),
	                       &r->broker, &err);
	zmq_msg_close(&m);
	if (rc != 0)
		die(err.message);
	return 0;
}

int
raw_call1(struct raw *r, struct reply *rep, const uint8_t *frame, size_t len,
          int timeout_ms)
{
	return raw_call(r, rep, &frame, &len, 1, timeout_ms);
}

void
raw_close(struct raw *r)
{
	zmq_close(r->sock);
	zmq_ctx_term(r->ctx);
}

void
craft_init(struct craft *c, const char *from, const char *to)
{
	memset(c, 0, sizeof(*c));
	c->signer = c->sign_as = c->sender = from;
	c->recipient = to;
	c->version = WIRE_VERSION;
	c->env_type = c->body_type = KETEN_MSG_REFERRAL;
	c->marker = "craft";
}

uint8_t *
craft_submit(size_t *len, const struct harness *h, const struct craft *c)
{
	static uint8_t last_id[KETEN_MSG_ID_LEN];
	struct keten_referral_content ct = harness_content(c->marker);
	struct config *cfg;
	struct keys *k;
	struct keten_error err;
	const struct agency *to;
	struct body b;
	struct envelope e;
	struct request req = {.kind = WIRE_REQ_SUBMIT, .request_id = 7};
	uint8_t *plain, *sealed, *body, *env, *out, box_pk[32], box_sk[32];
	size_t plain_len, sealed_len, body_len, env_len;

	if (config_load(&cfg, h->config, &err) != 0 ||
	    keys_load(&k, harness_key(h, c->sign_as), &err) != 0)
		die(err.message);
	to = config_find(cfg, c->recipient);
	crypto_box_keypair(box_pk, box_sk);
	if (wire_content_encode(&plain, &plain_len, &ct) != 0 ||
	    envelope_seal(&sealed, &sealed_len, plain, plain_len,
	                  to ? to->box_pk : box_pk) != 0)
		die("seal");
	memset(&b, 0, sizeof(b));
	if (c->message_id)
		memcpy(b.h.message_id, c->message_id, sizeof(last_id));
	else if (c->same_id_as_last)
		memcpy(b.h.message_id, last_id, sizeof(last_id));
	else
		randombytes_buf(b.h.message_id, sizeof(b.h.message_id));
	memcpy(last_id, b.h.message_id, sizeof(last_id));
	if (c->case_id)
		memcpy(b.h.case_id, c->case_id, sizeof(b.h.case_id));
	else
		randombytes_buf(b.h.case_id, sizeof(b.h.case_id));
	strcpy(b.h.sender, c->sender);
	strcpy(b.h.recipient, c->recipient);
	b.h.sent_at_us = clock_now_us();
	envelope_content_hash(b.content_hash, sealed, sealed_len);
	b.has_content = true;
	b.type = KETEN_MSG_REFERRAL; /* the only detail the encoder knows */
	b.u.offer.urgency = KETEN_URGENCY_URGENT;
	b.u.offer.respond_by_us = b.h.sent_at_us + 1000000;
	if (wire_body_encode(&body, &body_len, &b) != 0)
		die("body");
	memset(&e, 0, sizeof(e));
	e.version = c->version;
	e.type = c->env_type;
	strcpy(e.signer, c->signer);
	e.body = body;
	e.body_len = body_len;
	if (envelope_sign(e.signature, e.version, e.type, body, body_len,
	                  k->sign_sk) != 0)
		die("sign");
	if (c->flip_sig)
		e.signature[10] ^= 0x01;
	if (wire_envelope_encode(&env, &env_len, &e) != 0)
		die("envelope");
	if (c->flip_sealed)
		sealed[sealed_len / 2] ^= 0x01;
	req.envelope = env;
	req.envelope_len = env_len;
	req.sealed = c->no_sealed ? NULL : sealed;
	req.sealed_len = c->no_sealed ? 0 : sealed_len;
	if (wire_request_encode(&out, len, &req) != 0)
		die("request");
	free(plain);
	free(sealed);
	free(body);
	free(env);
	keys_destroy(&k);
	config_destroy(&cfg);
	return out;
}

uint8_t *
craft_request(size_t *len, enum wire_request_kind kind, uint64_t arg)
{
	struct request req = {.kind = kind, .request_id = 9};
	uint8_t *out;

	req.ack_seq = arg;
	req.fetch_max = (uint32_t)arg;
	if (wire_request_encode(&out, len, &req) != 0)
		die("request");
	return out;
}

static void *
broker_main(void *arg)
{
	struct raw_broker *rb = arg;
	void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_ROUTER);
	int one = 1, linger = 0;
	char ep[64];

	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", rb->port);
	zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one));
	zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, rb->curve_sk, 32);
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_bind(sock, ep) != 0)
		die("the false broker cannot bind");
	atomic_store(&rb->ready, true);
	while (!atomic_load(&rb->stop)) {
		zmq_pollitem_t pi = {sock, 0, ZMQ_POLLIN, 0};
		zmq_msg_t parts[4];
		int n = 0, more = 1;
		size_t ml = sizeof(more);

		if (zmq_poll(&pi, 1, 50) <= 0)
			continue;
		while (more && n < 4) {
			zmq_msg_init(&parts[n]);
			if (zmq_msg_recv(&parts[n], sock, 0) < 0)
				break;
			zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
			n++;
		}
		if (n >= 2 && !more)
			rb->fn(rb->arg, sock, parts, n);
		for (int i = 0; i < n; i++)
			zmq_msg_close(&parts[i]);
	}
	zmq_close(sock);
	zmq_ctx_term(ctx);
	return NULL;
}

void
raw_broker_start(struct raw_broker *rb, const struct harness *h,
                 const uint8_t curve_sk[32], raw_answer_fn fn, void *arg)
{
	rb->port = h->port;
	memcpy(rb->curve_sk, curve_sk, 32);
	rb->fn = fn;
	rb->arg = arg;
	atomic_store(&rb->stop, false);
	atomic_store(&rb->ready, false);
	if (pthread_create(&rb->th, NULL, broker_main, rb) != 0)
		die("cannot start the false broker");
	while (!atomic_load(&rb->ready))
		nanosleep(&(struct timespec){0, 1000000}, NULL);
}

void
raw_broker_stop(struct raw_broker *rb)
{
	atomic_store(&rb->stop, true);
	pthread_join(rb->th, NULL);
	sodium_memzero(rb->curve_sk, sizeof(rb->curve_sk));
}

/* The envelope env altered as f says: malloc'd bytes. */
static uint8_t *
raw_forge(size_t *len, const uint8_t *env, size_t env_len, enum raw_forgery f)
{
	struct envelope e;
	struct body b;
	struct keten_error err;
	uint8_t *body = NULL, *out = NULL;
	size_t body_len = 0;

	if (wire_envelope_decode(&e, env, env_len, &err) != KETEN_OK ||
	    wire_body_decode(&b, e.type, e.body, e.body_len, &err) != KETEN_OK)
		die("a record to forge does not decode");
	if (f == RAW_FORGE_URGENCY) {
		b.u.offer.urgency = b.u.offer.urgency == KETEN_URGENCY_IMMEDIATE
		                        ? KETEN_URGENCY_ROUTINE
		                        : KETEN_URGENCY_IMMEDIATE;
	} else {
		strcpy(b.h.sender, "lt-nowhere");
		strcpy(e.signer, "lt-nowhere");
	}
	if (wire_body_encode(&body, &body_len, &b) != KETEN_OK)
		die("forge: body");
	e.body = body;
	e.body_len = body_len;
	if (wire_envelope_encode(&out, len, &e) != KETEN_OK)
		die("forge: envelope");
	wire_envelope_clear(&e);
	free(body);
	return out;
}

static int
raw_log_keep_node(void *arg, unsigned level, uint64_t index,
                  const uint8_t hash[32])
{
	struct raw_log *L = arg;

	if (level < 8 && index < RAW_LOG_MAX)
		memcpy(L->node[level][index], hash, 32);
	return 0;
}

static int
raw_log_get_node(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	const struct raw_log *L = arg;

	if (level >= 8 || index >= RAW_LOG_MAX)
		return -1;
	memcpy(out, L->node[level][index], 32);
	return 0;
}

void
raw_log_make(struct raw_log *L, const struct harness *h, const char *agency,
             uint64_t n, const enum raw_forgery *forge, uint64_t cursor)
{
	struct merkle_frontier f;
	struct lmdb_edit e;
	struct config *cfg;
	struct keys *broker;
	struct keten_error err;
	char path[400];
	MDB_dbi log, content;
	uint8_t prev[32];

	if (n == 0 || n > RAW_LOG_MAX)
		die("raw_log_make: n out of range");
	snprintf(path, sizeof(path), "%s/broker.key", h->dir);
	if (config_load(&cfg, h->config, &err) != 0 ||
	    keys_load(&broker, path, &err) != 0)
		die(err.message);
	memset(L, 0, sizeof(*L));
	L->agency = agency;
	L->n = n;
	merkle_frontier_init(&f);
	chain_genesis(prev, cfg->region);
	lmdb_edit_begin(&e, h->data, LMDB_EDIT_READ_ONLY, 0, 0);
	log = lmdb_edit_db(&e, LAYOUT_DB_LOG);
	content = lmdb_edit_db(&e, LAYOUT_DB_CONTENT);
	for (uint64_t seq = 1; seq <= n; seq++) {
		uint8_t key[LAYOUT_SEQ_KEY_LEN], leaf[32], *rec;
		struct record r;
		struct envelope env;
		MDB_val k = layout_seq_key(key, seq), v;
		size_t rec_len;

		if (mdb_get(e.txn, log, &k, &v) != 0 ||
		    chain_record_decode(&r, v.mv_data, v.mv_size) != 0 ||
		    wire_envelope_decode(&env, r.envelope, r.envelope_len,
		                         &err) != KETEN_OK)
			die("raw_log_make: a record is missing or damaged");
		L->roster[seq] = env.type == KETEN_MSG_ROSTER;
		wire_envelope_clear(&env);
		if (forge && forge[seq] != RAW_KEEP && !L->roster[seq]) {
			L->env[seq] = raw_forge(&L->env_len[seq], r.envelope,
			                        r.envelope_len, forge[seq]);
		} else {
			L->env[seq] = malloc(r.envelope_len);
			if (L->env[seq] == NULL)
				die("out of memory");
			memcpy(L->env[seq], r.envelope, r.envelope_len);
			L->env_len[seq] = r.envelope_len;
		}
		/* A roster record has no sealed content. */
		if (!L->roster[seq]) {
			if (mdb_get(e.txn, content, &k, &v) != 0 ||
			    (L->sealed[seq] = malloc(v.mv_size)) == NULL)
				die("raw_log_make: content");
			memcpy(L->sealed[seq], v.mv_data, v.mv_size);
			L->sealed_len[seq] = v.mv_size;
		} else {
			L->cp.roster_seq = seq;
		}
		L->at_us[seq] = r.received_at_us;
		memcpy(r.prev_hash, prev, 32);
		memcpy(L->prev[seq], prev, 32);
		r.envelope = L->env[seq];
		r.envelope_len = L->env_len[seq];
		rec_len = CHAIN_RECORD_HEADER + r.envelope_len;
		if ((rec = malloc(rec_len)) == NULL)
			die("out of memory");
		chain_record_encode(rec, &r);
		chain_record_hash(L->hash[seq], rec, rec_len);
		free(rec);
		memcpy(prev, L->hash[seq], 32);
		merkle_leaf(leaf, L->hash[seq]);
		if (merkle_frontier_push(&f, leaf, raw_log_keep_node, L) != 0)
			die("raw_log_make: tree");
	}
	lmdb_edit_abort(&e);
	L->cp.size = n;
	memcpy(L->cp.head_hash, prev, 32);
	merkle_frontier_root(&f, L->cp.root);
	L->cp.signed_at_us = L->at_us[n];
	snprintf(path, sizeof(path), "%s%s", NOTE_ORIGIN, cfg->region);
	note_checkpoint_sign(&L->cp, path, broker->sign_sk);
	if (note_broker_key(&L->key, cfg->region, broker->sign_pk) != 0)
		die("raw_log_make: broker key");
	atomic_store(&L->cursor, cursor);
	atomic_store(&L->acks, 0);
	keys_destroy(&broker);
	config_destroy(&cfg);
}

/* d: record seq of L as delivered, with its path (room in path). */
static void
raw_log_deliver(const struct raw_log *L, struct delivered *d,
                uint8_t path[MERKLE_PATH_MAX][32], uint64_t seq)
{
	size_t np = 0;

	memset(d, 0, sizeof(*d));
	d->seq = seq;
	d->received_at_us = L->at_us[seq];
	memcpy(d->record_hash, L->hash[seq], 32);
	memcpy(d->prev_hash, L->prev[seq], 32);
	d->envelope = L->env[seq];
	d->envelope_len = L->env_len[seq];
	d->sealed = L->sealed[seq];
	d->sealed_len = L->sealed_len[seq];
	if (merkle_path(path, &np, seq - 1, L->n, raw_log_get_node,
	                (void *)L) != 0)
		die("raw_log: path");
	d->path = &path[0][0];
	d->n_path = np;
}

void
raw_log_answer(void *arg, void *sock, zmq_msg_t *parts, int n)
{
	struct raw_log *L = arg;
	struct request req;
	struct reply rep = {0};
	struct delivered items[RAW_LOG_MAX];
	struct keten_error err;
	uint8_t paths[RAW_LOG_MAX][MERKLE_PATH_MAX][32];
	uint8_t *out = NULL;
	size_t len = 0, *count = NULL;
	struct delivered **list = NULL;
	uint64_t after = 0;
	bool roster = false;

	if (wire_request_decode(&req, zmq_msg_data(&parts[n - 1]),
	                        zmq_msg_size(&parts[n - 1]), &err) != KETEN_OK)
		return;
	rep.request_id = req.request_id;
	if (req.kind == WIRE_REQ_PING) {
		rep.kind = WIRE_REP_PING;
		rep.ping.agency = L->agency;
		rep.ping.head_seq = L->n;
	} else if (req.kind == WIRE_REQ_ROSTER) {
		rep.kind = WIRE_REP_ROSTER;
		rep.roster.has_cp = true;
		rep.roster.cp = L->cp;
		list = &rep.roster.records;
		count = &rep.roster.n;
		after = req.after_seq;
		roster = true;
	} else if (req.kind == WIRE_REQ_FETCH) {
		uint64_t cursor = atomic_load(&L->cursor);
		rep.kind = WIRE_REP_FETCH;
		rep.fetch.cursor = cursor;
		rep.fetch.has_cp = true;
		rep.fetch.cp = L->cp;
		list = &rep.fetch.items;
		count = &rep.fetch.n;
		after = req.fetch_after > cursor ? req.fetch_after : cursor;
	} else if (req.kind == WIRE_REQ_ACK) {
		uint64_t cursor = atomic_load(&L->cursor);
		if (req.ack_seq > cursor)
			atomic_store(&L->cursor, req.ack_seq);
		atomic_fetch_add(&L->acks, 1);
		rep.kind = WIRE_REP_ACK;
		rep.ack_cursor = atomic_load(&L->cursor);
	} else {
		rep.kind = WIRE_REP_ERROR;
		rep.error.code = KETEN_E_UNKNOWN_TYPE;
		rep.error.message = "not played by this false broker";
	}
	if (list != NULL) {
		for (uint64_t seq = after + 1; seq <= L->n; seq++)
			if (L->roster[seq] == roster) {
				size_t j = (*count)++;
				raw_log_deliver(L, &items[j], paths[j], seq);
			}
		*list = items;
	}
	wire_request_clear(&req);
	if (wire_reply_encode(&out, &len, &rep, &L->key) != KETEN_OK)
		die("raw_log: reply");
	for (int i = 0; i < n - 1; i++)
		zmq_send(sock, zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i]),
		         ZMQ_SNDMORE);
	zmq_send(sock, out, len, 0);
	free(out);
}

void
raw_log_free(struct raw_log *L)
{
	for (uint64_t seq = 1; seq <= L->n; seq++) {
		free(L->env[seq]);
		free(L->sealed[seq]);
	}
	memset(L, 0, sizeof(*L));
}
