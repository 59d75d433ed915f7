/* Raw frames for tests of refusals. */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "clock.h"
#include "config.h"
#include "envelope.h"
#include "keys.h"
#include "raw.h"

static void die(const char *what) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "raw: %s\n", what);
	exit(99);
}

void
raw_connect_keys(struct raw *r, const struct harness *h, const uint8_t pk[32],
                 const uint8_t sk[32])
{
	struct config *c;
	struct keten_error err;
	char ep[64];
	int linger = 0;

	if (config_load(&c, h->config, &err) != 0)
		die(err.message);
	r->ctx = zmq_ctx_new();
	r->sock = zmq_socket(r->ctx, ZMQ_DEALER);
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", h->port);
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
raw_connect(struct raw *r, const struct harness *h, const char *id)
{
	struct keys *k;
	struct keten_error err;

	if (keys_load(&k, harness_key(h, id), &err) != 0)
		die(err.message);
	raw_connect_keys(r, h, k->curve_pk, k->curve_sk);
	keys_destroy(&k);
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
	if (c->same_id_as_last)
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
