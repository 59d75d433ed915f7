/*
 * wire: every encoder round-trips through its decoder, and every decoder
 * refuses what it must (truncation, garbage, wrong sizes, bad ids, unknown
 * kinds) with the right code and a sentence. Malformed frames are written
 * here by hand, field by field, so the test does not trust protobuf-c to
 * build them and documents the wire as it goes.
 */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "note.h"
#include "wire_pb.h"

static struct keten_error err;

/* ---- a tiny protobuf writer for hand-made frames ---- */

struct pb {
	uint8_t b[4096];
	size_t n;
};

static void
pb_room(const struct pb *p, size_t len)
{
	if (len > sizeof(p->b) - p->n)
		abort(); /* a frame too big for the test's buffer */
}

static void
pb_varint(struct pb *p, uint64_t v)
{
	pb_room(p, 10);
	while (v >= 0x80) {
		p->b[p->n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p->b[p->n++] = (uint8_t)v;
}

static void
pb_uint(struct pb *p, int field, uint64_t v)
{
	pb_varint(p, (uint64_t)field << 3);
	pb_varint(p, v);
}

static void
pb_bytes(struct pb *p, int field, const void *data, size_t len)
{
	pb_varint(p, ((uint64_t)field << 3) | 2);
	pb_varint(p, len);
	pb_room(p, len);
	memcpy(p->b + p->n, data, len);
	p->n += len;
}

static void
pb_str(struct pb *p, int field, const char *s)
{
	pb_bytes(p, field, s, strlen(s));
}

static void
pb_msg(struct pb *p, int field, const struct pb *m)
{
	pb_bytes(p, field, m->b, m->n);
}

static uint8_t sig64[64], mid[16], cid[16], hash32[32];
static struct note_key tkey; /* the broker's, for checkpoint notes */

static void
init_fixtures(void)
{
	uint8_t pk[32];

	memset(pk, 0x42, sizeof(pk));
	CHECK_INT(note_broker_key(&tkey, "flevoland", pk), 0);
	for (int i = 0; i < 64; i++)
		sig64[i] = (uint8_t)(0xc0 ^ i);
	for (int i = 0; i < 16; i++) {
		mid[i] = (uint8_t)(0x10 + i);
		cid[i] = (uint8_t)(0x20 + i);
	}
	for (int i = 0; i < 32; i++)
		hash32[i] = (uint8_t)(0x40 + i);
}

/* An Envelope with the given fields, in field order. */
static void
make_env(struct pb *p, uint64_t version, uint64_t type, const char *signer,
         const void *body, size_t body_len, const uint8_t *sig, size_t sig_len)
{
	p->n = 0;
	if (version)
		pb_uint(p, 1, version);
	if (type)
		pb_uint(p, 2, type);
	if (signer)
		pb_str(p, 3, signer);
	if (body_len)
		pb_bytes(p, 4, body, body_len);
	if (sig)
		pb_bytes(p, 5, sig, sig_len);
}

/* Decodes from an exact-size heap copy, so ASan sees any over-read. */
static int
env_decode(struct envelope *e, const uint8_t *b, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;

	memcpy(copy, b, n);
	memset(&err, 0, sizeof(err));
	rc = wire_envelope_decode(e, copy, n, &err);
	free(copy);
	/* e->body points into the decoder's memory, not copy: still valid. */
	return rc;
}

/* A refusal carries its code in err and a sentence. */
static int
refused(int rc, int code)
{
	return rc == code && err.code == code && strlen(err.message) > 10;
}

/* ---- envelope ---- */

static void
test_envelope(void)
{
	const uint8_t body[] = {1, 2, 3, 0, 255, 9};
	struct envelope e, d;
	struct pb p;
	uint8_t *out = NULL;
	size_t len = 0;
	char id64[65];

	memset(&e, 0, sizeof(e));
	e.version = WIRE_VERSION;
	e.type = KETEN_MSG_REFERRAL;
	strcpy(e.signer, "lt-almere");
	e.body = body;
	e.body_len = sizeof(body);
	memcpy(e.signature, sig64, 64);
	CHECK_INT(wire_envelope_encode(&out, &len, &e), KETEN_OK);

	/* The encoder writes the canonical field-order bytes. */
	make_env(&p, 1, 1, "lt-almere", body, sizeof(body), sig64, 64);
	CHECK_INT(len, p.n);
	CHECK(out != NULL && len == p.n && memcmp(out, p.b, len) == 0);

	CHECK_INT(env_decode(&d, out, len), KETEN_OK);
	CHECK_INT(d.version, 1);
	CHECK_INT(d.type, KETEN_MSG_REFERRAL);
	CHECK(strcmp(d.signer, "lt-almere") == 0);
	CHECK_INT(d.body_len, sizeof(body));
	CHECK(d.body != NULL && memcmp(d.body, body, sizeof(body)) == 0);
	CHECK(memcmp(d.signature, sig64, 64) == 0);
	CHECK(d.pb != NULL);
	wire_envelope_clear(&d);
	CHECK(d.pb == NULL && d.body == NULL);
	wire_envelope_clear(&d); /* twice is harmless */

	/*
	 * Every strict prefix fails (the signature is the last field and
	 * must be 64 bytes), with a message; none crashes.
	 */
	{
		int ok = 0, bad_err = 0;

		for (size_t n = 0; n < len; n++) {
			int rc = env_decode(&d, out, n);
			if (rc == KETEN_OK) {
				ok++;
				wire_envelope_clear(&d);
			} else if (err.code != rc || err.message[0] == '\0') {
				bad_err++;
			}
		}
		CHECK_INT(ok, 0);
		CHECK_INT(bad_err, 0);
	}
	free(out);

	/* An empty body is allowed by the decoder. */
	make_env(&p, 1, 1, "a", NULL, 0, sig64, 64);
	CHECK_INT(env_decode(&d, p.b, p.n), KETEN_OK);
	CHECK_INT(d.body_len, 0);
	wire_envelope_clear(&d);

	/* Garbage. */
	{
		const uint8_t g1[] = {0xff, 0xff, 0xff, 0xff};
		const uint8_t g2[] = {0x08};             /* key, no value */
		const uint8_t g3[] = {0x22, 0x7f, 0x01}; /* body: 127 bytes? */
		const uint8_t g4[] = {0x00, 0x00};       /* field 0 */
		const uint8_t g5[] = {0x22, 0xff, 0xff, 0xff, 0xff, 0x0f};
		const uint8_t g6[] = {0x20, 0x01}; /* body as a varint */

		CHECK(
		    refused(env_decode(&d, g1, sizeof(g1)), KETEN_E_MALFORMED));
		CHECK(
		    refused(env_decode(&d, g2, sizeof(g2)), KETEN_E_MALFORMED));
		CHECK(
		    refused(env_decode(&d, g3, sizeof(g3)), KETEN_E_MALFORMED));
		CHECK(
		    refused(env_decode(&d, g4, sizeof(g4)), KETEN_E_MALFORMED));
		CHECK(
		    refused(env_decode(&d, g5, sizeof(g5)), KETEN_E_MALFORMED));
		CHECK(
		    refused(env_decode(&d, g6, sizeof(g6)), KETEN_E_MALFORMED));
		CHECK(
		    refused(env_decode(&d, (const uint8_t *)"hello, world", 12),
		            KETEN_E_MALFORMED));
	}
	/* Empty input is a valid empty protobuf, but not a valid envelope. */
	CHECK(env_decode(&d, (const uint8_t *)"", 0) != KETEN_OK);

	/* Signature of the wrong size, or missing. */
	make_env(&p, 1, 1, "lt-almere", body, sizeof(body), sig64, 63);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_BADSIG));
	CHECK_STR_HAS(err.message, "64");
	{
		uint8_t sig65[65];

		memcpy(sig65, sig64, 64);
		sig65[64] = 0;
		make_env(&p, 1, 1, "lt-almere", body, sizeof(body), sig65, 65);
		CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_BADSIG));
	}
	make_env(&p, 1, 1, "lt-almere", body, sizeof(body), NULL, 0);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_BADSIG));
	CHECK(d.pb == NULL); /* refused decodes leave nothing to free */

	/* Invalid signer ids. */
	make_env(&p, 1, 1, "LT-ALMERE", body, sizeof(body), sig64, 64);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_FIELD));
	CHECK_STR_HAS(err.message, "signer");
	make_env(&p, 1, 1, "", body, sizeof(body), sig64, 64);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_FIELD));
	make_env(&p, 1, 1, NULL, body, sizeof(body), sig64, 64);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_FIELD));
	memset(id64, 'a', 64);
	id64[64] = '\0';
	make_env(&p, 1, 1, id64, body, sizeof(body), sig64, 64);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_FIELD));
	id64[63] = '\0'; /* 63 is fine */
	make_env(&p, 1, 1, id64, body, sizeof(body), sig64, 64);
	CHECK_INT(env_decode(&d, p.b, p.n), KETEN_OK);
	CHECK_INT(strlen(d.signer), 63);
	wire_envelope_clear(&d);
	p.n = 0;
	pb_uint(&p, 1, 1);
	pb_uint(&p, 2, 1);
	pb_bytes(&p, 3, "lt\0x", 4); /* an embedded NUL */
	pb_bytes(&p, 4, body, sizeof(body));
	pb_bytes(&p, 5, sig64, 64);
	/* "lt\0x" is not an agency id; read as C string it would be "lt". */
	CHECK(env_decode(&d, p.b, p.n) != KETEN_OK);
	wire_envelope_clear(&d);

	/* Unknown types. */
	make_env(&p, 1, 13, "lt-almere", body, sizeof(body), sig64, 64);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_UNKNOWN_TYPE));
	CHECK_STR_HAS(err.message, "type 13");
	/* The roster's own types decode as envelopes (roster.c opens them);
	 * no body decodes as one. */
	make_env(&p, 1, KETEN_MSG_ROSTER, "broker", body, sizeof(body), sig64,
	         64);
	CHECK_INT(env_decode(&d, p.b, p.n), KETEN_OK);
	CHECK_INT(d.type, KETEN_MSG_ROSTER);
	wire_envelope_clear(&d);
	{
		struct body b;
		CHECK_INT(wire_body_decode(&b, KETEN_MSG_ROTATION, body,
		                           sizeof(body), &err),
		          KETEN_E_UNKNOWN_TYPE);
	}
	make_env(&p, 1, 0, "lt-almere", body, sizeof(body), sig64, 64);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_UNKNOWN_TYPE));
	make_env(&p, 1, 0xffffffffULL, "lt-almere", body, sizeof(body), sig64,
	         64);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_UNKNOWN_TYPE));
}

/* ---- body ---- */

static void
make_header(struct pb *h, const uint8_t *m, size_t mlen, const char *sender,
            const char *recipient, const uint8_t *c, size_t clen, int64_t sent)
{
	h->n = 0;
	if (mlen)
		pb_bytes(h, 1, m, mlen);
	if (sender)
		pb_str(h, 2, sender);
	if (recipient)
		pb_str(h, 3, recipient);
	if (clen)
		pb_bytes(h, 4, c, clen);
	if (sent)
		pb_uint(h, 5, (uint64_t)sent);
}

static void
make_body(struct pb *p, const struct pb *h, const uint8_t *hash,
          size_t hash_len, int64_t urgency, int detail)
{
	struct pb ri;

	p->n = 0;
	if (h)
		pb_msg(p, 1, h);
	if (hash_len)
		pb_bytes(p, 2, hash, hash_len);
	if (detail) {
		ri.n = 0;
		if (urgency)
			pb_uint(&ri, 1, (uint64_t)urgency);
		pb_uint(&ri, 2, 1700000999000000ULL);
		pb_msg(p, 10, &ri);
	}
}

static int
body_decode(struct body *b, const uint8_t *buf, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;

	memcpy(copy, buf, n);
	memset(&err, 0, sizeof(err));
	rc = wire_body_decode(b, KETEN_MSG_REFERRAL, copy, n, &err);
	free(copy);
	return rc;
}

static void
test_body(void)
{
	struct body b, d;
	struct pb p, h;
	uint8_t *out = NULL;
	size_t len = 0;
	char id64[65];

	memset(&b, 0, sizeof(b));
	memcpy(b.h.message_id, mid, 16);
	strcpy(b.h.sender, "lt-almere");
	strcpy(b.h.recipient, "vt-flevoland");
	memcpy(b.h.case_id, cid, 16);
	b.h.sent_at_us = 1700000000000000LL;
	memcpy(b.content_hash, hash32, 32);
	b.has_content = true;
	b.type = KETEN_MSG_REFERRAL;
	b.u.offer.respond_by_us = 1700000999000000LL;
	for (int u = KETEN_URGENCY_ROUTINE; u <= KETEN_URGENCY_IMMEDIATE; u++) {
		b.u.offer.urgency = u;
		CHECK_INT(wire_body_encode(&out, &len, &b), KETEN_OK);
		CHECK_INT(body_decode(&d, out, len), KETEN_OK);
		CHECK(memcmp(d.h.message_id, mid, 16) == 0);
		CHECK(strcmp(d.h.sender, "lt-almere") == 0);
		CHECK(strcmp(d.h.recipient, "vt-flevoland") == 0);
		CHECK(memcmp(d.h.case_id, cid, 16) == 0);
		CHECK(d.h.sent_at_us == 1700000000000000LL);
		CHECK(memcmp(d.content_hash, hash32, 32) == 0);
		CHECK_INT(d.type, KETEN_MSG_REFERRAL);
		CHECK_INT(d.u.offer.urgency, u);
		CHECK(d.u.offer.respond_by_us == 1700000999000000LL);
		if (u < KETEN_URGENCY_IMMEDIATE)
			free(out);
	}
	/* The encoder writes the field-order bytes made by hand. */
	make_header(&h, mid, 16, "lt-almere", "vt-flevoland", cid, 16,
	            1700000000000000LL);
	make_body(&p, &h, hash32, 32, 3, 1);
	CHECK(len == p.n && memcmp(out, p.b, len) == 0);

	/* Every strict prefix fails without crashing. */
	{
		int ok = 0;

		for (size_t n = 0; n < len; n++)
			ok += body_decode(&d, out, n) == KETEN_OK;
		CHECK_INT(ok, 0);
	}
	free(out);

	/* A negative time round-trips. */
	b.h.sent_at_us = -1;
	b.u.offer.urgency = 1;
	CHECK_INT(wire_body_encode(&out, &len, &b), KETEN_OK);
	CHECK_INT(body_decode(&d, out, len), KETEN_OK);
	CHECK(d.h.sent_at_us == -1);
	free(out);

	/* An unknown detail type cannot be encoded. */
	b.type = 99;
	out = NULL;
	CHECK_INT(wire_body_encode(&out, &len, &b), KETEN_E_INTERNAL);
	CHECK(out == NULL);

	/* Garbage. */
	CHECK(refused(body_decode(&d, (const uint8_t *)"\xff\xff\xff", 3),
	              KETEN_E_MALFORMED));
	CHECK(refused(body_decode(&d, (const uint8_t *)"\x0a\x10xx", 4),
	              KETEN_E_MALFORMED));

	/* No header at all. */
	make_body(&p, NULL, hash32, 32, 1, 1);
	CHECK(refused(body_decode(&d, p.b, p.n), KETEN_E_FIELD));
	CHECK_STR_HAS(err.message, "header");

	/* message_id of 15, 17 and 0 bytes. */
	{
		uint8_t big[40];
		size_t sizes[] = {0, 1, 15, 17, 32};

		memset(big, 7, sizeof(big));
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			make_header(&h, big, sizes[i], "lt-almere", "vt-x", cid,
			            16, 1);
			make_body(&p, &h, hash32, 32, 1, 1);
			CHECK(
			    refused(body_decode(&d, p.b, p.n), KETEN_E_FIELD));
			CHECK_STR_HAS(err.message, "message_id");

			make_header(&h, mid, 16, "lt-almere", "vt-x", big,
			            sizes[i], 1);
			make_body(&p, &h, hash32, 32, 1, 1);
			CHECK(
			    refused(body_decode(&d, p.b, p.n), KETEN_E_FIELD));
			CHECK_STR_HAS(err.message, "case_id");
		}
		size_t hsizes[] = {0, 16, 31, 33, 40};
		size_t nh = sizeof(hsizes) / sizeof(hsizes[0]);

		for (size_t i = 0; i < nh; i++) {
			make_header(&h, mid, 16, "lt-almere", "vt-x", cid, 16,
			            1);
			make_body(&p, &h, big, hsizes[i], 1, 1);
			CHECK(
			    refused(body_decode(&d, p.b, p.n), KETEN_E_FIELD));
			CHECK_STR_HAS(err.message, "content_hash");
		}
	}

	/* Invalid sender and recipient ids. */
	memset(id64, 'a', 64);
	id64[64] = '\0';
	{
		const char *badids[] = {"", "LT-almere", "-lt", "lt almere",
		                        id64};

		for (size_t i = 0; i < 5; i++) {
			make_header(&h, mid, 16, badids[i], "vt-x", cid, 16, 1);
			make_body(&p, &h, hash32, 32, 1, 1);
			CHECK(
			    refused(body_decode(&d, p.b, p.n), KETEN_E_FIELD));
			CHECK_STR_HAS(err.message, "sender");

			make_header(&h, mid, 16, "lt-almere", badids[i], cid,
			            16, 1);
			make_body(&p, &h, hash32, 32, 1, 1);
			CHECK(refused(body_decode(&d, p.b, p.n),
			              KETEN_E_RECIPIENT));
			CHECK_STR_HAS(err.message, "recipient");
		}
	}
	make_header(&h, mid, 16, NULL, "vt-x", cid, 16, 1);
	make_body(&p, &h, hash32, 32, 1, 1);
	CHECK(refused(body_decode(&d, p.b, p.n), KETEN_E_FIELD));
	/* An embedded NUL: "vt-x\0y" must not pass as "vt-x". */
	h.n = 0;
	pb_bytes(&h, 1, mid, 16);
	pb_str(&h, 2, "lt-almere");
	pb_bytes(&h, 3, "vt-x\0y", 6);
	pb_bytes(&h, 4, cid, 16);
	make_body(&p, &h, hash32, 32, 1, 1);
	CHECK(refused(body_decode(&d, p.b, p.n), KETEN_E_RECIPIENT));

	/* Urgency out of range: 0 (unset), 4, and -1. */
	make_header(&h, mid, 16, "lt-almere", "vt-x", cid, 16, 1);
	make_body(&p, &h, hash32, 32, 0, 1);
	CHECK(refused(body_decode(&d, p.b, p.n), KETEN_E_FIELD));
	CHECK_STR_HAS(err.message, "urgency 0");
	make_body(&p, &h, hash32, 32, 4, 1);
	CHECK(refused(body_decode(&d, p.b, p.n), KETEN_E_FIELD));
	CHECK_STR_HAS(err.message, "urgency 4");
	make_body(&p, &h, hash32, 32, -1, 1);
	CHECK(refused(body_decode(&d, p.b, p.n), KETEN_E_FIELD));
	make_body(&p, &h, hash32, 32, 3, 1);
	CHECK_INT(body_decode(&d, p.b, p.n), KETEN_OK);
	CHECK(strcmp(d.h.recipient, "vt-x") == 0);

	/* No detail: not a referral. */
	make_body(&p, &h, hash32, 32, 1, 0);
	CHECK(refused(body_decode(&d, p.b, p.n), KETEN_E_FIELD));
	CHECK_STR_HAS(err.message, "does not fit its type, referral");
}

/* ---- request ---- */

static int
req_decode(struct request *r, const uint8_t *buf, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;

	memcpy(copy, buf, n);
	memset(&err, 0, sizeof(err));
	rc = wire_request_decode(r, copy, n, &err);
	free(copy);
	return rc;
}

static void
test_request(void)
{
	const uint8_t env[] = "envelope bytes";
	const uint8_t sealed[] = "sealed content bytes, longer";
	struct request r, d;
	uint8_t *out = NULL;
	size_t len = 0;
	struct pb p;

	memset(&r, 0, sizeof(r));
	r.request_id = 0xfedcba9876543210ULL;
	r.kind = WIRE_REQ_SUBMIT;
	r.envelope = env;
	r.envelope_len = sizeof(env);
	r.sealed = sealed;
	r.sealed_len = sizeof(sealed);
	CHECK_INT(wire_request_encode(&out, &len, &r), KETEN_OK);
	CHECK_INT(req_decode(&d, out, len), KETEN_OK);
	CHECK(d.request_id == 0xfedcba9876543210ULL);
	CHECK_INT(d.kind, WIRE_REQ_SUBMIT);
	CHECK_INT(d.envelope_len, sizeof(env));
	CHECK(d.envelope && memcmp(d.envelope, env, sizeof(env)) == 0);
	CHECK_INT(d.sealed_len, sizeof(sealed));
	CHECK(d.sealed && memcmp(d.sealed, sealed, sizeof(sealed)) == 0);
	wire_request_clear(&d);
	CHECK(d.pb == NULL);
	{
		int ok = 0;

		for (size_t n = 0; n < len; n++) {
			if (req_decode(&d, out, n) == KETEN_OK) {
				ok++;
				wire_request_clear(&d);
			}
		}
		CHECK_INT(ok, 0);
	}
	free(out);

	memset(&r, 0, sizeof(r));
	r.request_id = 5;
	r.kind = WIRE_REQ_FETCH;
	r.fetch_max = 17;
	CHECK_INT(wire_request_encode(&out, &len, &r), KETEN_OK);
	CHECK_INT(req_decode(&d, out, len), KETEN_OK);
	CHECK_INT(d.request_id, 5);
	CHECK_INT(d.kind, WIRE_REQ_FETCH);
	CHECK_INT(d.fetch_max, 17);
	wire_request_clear(&d);
	free(out);

	/* fetch_max 0 ("the broker's default") is still a fetch. */
	r.fetch_max = 0;
	CHECK_INT(wire_request_encode(&out, &len, &r), KETEN_OK);
	CHECK_INT(req_decode(&d, out, len), KETEN_OK);
	CHECK_INT(d.kind, WIRE_REQ_FETCH);
	CHECK_INT(d.fetch_max, 0);
	wire_request_clear(&d);
	free(out);

	memset(&r, 0, sizeof(r));
	r.request_id = 6;
	r.kind = WIRE_REQ_ACK;
	r.ack_seq = 1ULL << 40;
	CHECK_INT(wire_request_encode(&out, &len, &r), KETEN_OK);
	CHECK_INT(req_decode(&d, out, len), KETEN_OK);
	CHECK_INT(d.kind, WIRE_REQ_ACK);
	CHECK(d.ack_seq == 1ULL << 40);
	wire_request_clear(&d);
	free(out);

	memset(&r, 0, sizeof(r));
	r.request_id = 7;
	r.kind = WIRE_REQ_PING;
	CHECK_INT(wire_request_encode(&out, &len, &r), KETEN_OK);
	/* Exactly: request_id 7, then an empty field 13. */
	CHECK(len == 4 && memcmp(out, "\x08\x07\x6a\x00", 4) == 0);
	CHECK_INT(req_decode(&d, out, len), KETEN_OK);
	CHECK_INT(d.request_id, 7);
	CHECK_INT(d.kind, WIRE_REQ_PING);
	wire_request_clear(&d);
	free(out);

	/* No operation named. */
	p.n = 0;
	pb_uint(&p, 1, 9);
	CHECK(refused(req_decode(&d, p.b, p.n), KETEN_E_UNKNOWN_TYPE));
	CHECK(d.pb == NULL);
	CHECK(refused(req_decode(&d, (const uint8_t *)"", 0),
	              KETEN_E_UNKNOWN_TYPE));
	/* An operation from the future (field 20): still unknown. */
	p.n = 0;
	pb_uint(&p, 1, 9);
	pb_bytes(&p, 20, "", 0);
	CHECK(refused(req_decode(&d, p.b, p.n), KETEN_E_UNKNOWN_TYPE));
	/* Garbage. */
	CHECK(refused(req_decode(&d, (const uint8_t *)"\xff\xff\xff\xff", 4),
	              KETEN_E_MALFORMED));
	CHECK(refused(req_decode(&d, (const uint8_t *)"\x52\x05\x0a", 3),
	              KETEN_E_MALFORMED));
	CHECK_STR_HAS(err.message, "3 bytes");
}

/* ---- reply ---- */

static int
rep_roundtrip(struct reply *d, const struct reply *r)
{
	uint8_t *out = NULL;
	size_t len = 0;
	int rc;

	memset(&err, 0, sizeof(err));
	if ((rc = wire_reply_encode(&out, &len, r, &tkey)) != KETEN_OK)
		return rc;
	rc = wire_reply_decode(d, out, len, &tkey, &err);
	/* d's pointers are into the decoder's own memory. */
	memset(out, 0xee, len);
	free(out);
	return rc;
}

static int
rep_decode(struct reply *r, const uint8_t *buf, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;

	memcpy(copy, buf, n);
	memset(&err, 0, sizeof(err));
	rc = wire_reply_decode(r, copy, n, &tkey, &err);
	free(copy);
	return rc;
}

/* A checkpoint whose fields all differ, v varying them. */
static void
make_cp(struct keten_checkpoint *c, uint8_t v)
{
	memset(c, 0, sizeof(*c));
	c->size = 1003 + v;
	c->access_size = 77 + v;
	c->signed_at_us = 1700000000000099LL + v;
	for (int i = 0; i < 32; i++) {
		c->head_hash[i] = (uint8_t)(0x90 + i + v);
		c->root[i] = (uint8_t)(0x30 + i + v);
		c->access_head[i] = (uint8_t)(0x50 - i + v);
	}
	for (int i = 0; i < 64; i++)
		c->signature[i] = (uint8_t)(sig64[i] + v);
}

static int
zeros(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* n hashes, each byte different from every other hash's. */
static void
make_path(uint8_t *path, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n * 32; i++)
		path[i] = (uint8_t)(v + i);
}

/*
 * A Checkpoint by hand: the note of size 2, head_hash, root, access_size
 * 5, access_head, signed_at_us 1700000000000000 and signature sig64 by
 * tkey; or, for `bad`, one that must be refused: 2 a size with a leading
 * zero, 3 another region's origin, 5 signed by another key ID, 7 the
 * protocol version 1 checkpoint (fields 1 to 7, no note).
 */
static void
make_cp_pb(struct pb *p, int bad)
{
	struct keten_checkpoint c;
	struct note_key k = tkey;
	char note[NOTE_CHECKPOINT_MAX + 1];
	size_t n;

	memset(&c, 0, sizeof(c));
	c.size = 2;
	memcpy(c.head_hash, hash32, 32);
	memcpy(c.root, hash32, 32);
	c.access_size = 5;
	memcpy(c.access_head, hash32, 32);
	c.signed_at_us = 1700000000000000LL;
	memcpy(c.signature, sig64, 64);
	if (bad == 3)
		CHECK_INT(note_broker_key(&k, "gooiland", tkey.pk), 0);
	if (bad == 5)
		k.id[0] ^= 1;
	n = note_checkpoint_format(note + 1, sizeof(note) - 1, &k, &c);
	p->n = 0;
	if (bad == 2) { /* "keten/flevoland\n2\n": the '2' at 16 */
		memmove(note, note + 1, 16);
		note[16] = '0';
		n++;
		pb_bytes(p, 8, note, n);
	} else if (bad == 7) {
		pb_uint(p, 1, 2);
		pb_bytes(p, 2, hash32, 32);
		pb_bytes(p, 3, hash32, 32);
		pb_uint(p, 4, 5);
		pb_bytes(p, 5, hash32, 32);
		pb_uint(p, 6, 1700000000000000ULL);
		pb_bytes(p, 7, sig64, 64);
	} else {
		pb_bytes(p, 8, note + 1, n);
	}
}

/*
 * A Reply with a Receipt by hand: seq 1, record_hash, message_id,
 * received_at_us, prev_hash, a checkpoint (unless bad is -1) and n_path
 * path hashes. bad is a Receipt field to give the wrong size (2, 3, 8;
 * 10: the last path hash), or 20 + a Checkpoint field.
 */
static void
make_receipt_pb(struct pb *p, int bad, size_t n_path)
{
	struct pb rc, cp;
	uint8_t h[33];

	rc.n = 0;
	pb_uint(&rc, 1, 1);
	pb_bytes(&rc, 2, hash32, bad == 2 ? 31 : 32);
	pb_bytes(&rc, 3, mid, bad == 3 ? 15 : 16);
	pb_uint(&rc, 4, 1700000000000000ULL);
	pb_bytes(&rc, 8, hash32, bad == 8 ? 1 : 32);
	if (bad != -1) {
		make_cp_pb(&cp, bad > 20 ? bad - 20 : 0);
		pb_msg(&rc, 9, &cp);
	}
	for (size_t i = 0; i < n_path; i++) {
		make_path(h, 1, (uint8_t)i);
		h[32] = 0xff;
		pb_bytes(&rc, 10, h, bad == 10 && i + 1 == n_path ? 33 : 32);
	}
	p->n = 0;
	pb_uint(p, 1, 3);
	pb_msg(p, 11, &rc);
}

static void
test_reply(void)
{
	struct reply r, d;
	struct delivered items[3];
	const uint8_t e0[] = "env-0", e1[] = "envelope-one", e2[] = "2";
	const uint8_t s0[] = "sealed-0", s2[] = "sealed-two";
	uint8_t path0[3 * 32], path2[1 * 32];
	struct pb p;

	/* error */
	memset(&r, 0, sizeof(r));
	r.request_id = 11;
	r.kind = WIRE_REP_ERROR;
	r.error.code = KETEN_E_ROUTE;
	r.error.message = "local_team may not send this to raad";
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.request_id, 11);
	CHECK_INT(d.kind, WIRE_REP_ERROR);
	CHECK_INT(d.error.code, KETEN_E_ROUTE);
	CHECK(strcmp(d.error.message, r.error.message) == 0);
	wire_reply_clear(&d);
	r.error.message = NULL; /* a code alone decodes to "" */
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK(d.error.message != NULL && d.error.message[0] == '\0');
	wire_reply_clear(&d);

	/* receipt */
	memset(&r, 0, sizeof(r));
	r.request_id = 12;
	r.kind = WIRE_REP_RECEIPT;
	r.receipt.seq = 1000;
	memcpy(r.receipt.record_hash, hash32, 32);
	memcpy(r.receipt.message_id, mid, 16);
	r.receipt.received_at_us = 1700000000000042LL;
	for (int i = 0; i < 32; i++)
		r.receipt.prev_hash[i] = (uint8_t)(0x70 + i);
	make_cp(&r.receipt.cp, 0);
	r.receipt.n_path = 5;
	make_path(&r.receipt.path[0][0], 5, 0x01);
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.kind, WIRE_REP_RECEIPT);
	CHECK_INT(d.request_id, 12);
	CHECK(d.receipt.seq == 1000);
	CHECK(d.receipt.received_at_us == 1700000000000042LL);
	CHECK(memcmp(d.receipt.record_hash, hash32, 32) == 0);
	CHECK(memcmp(d.receipt.message_id, mid, 16) == 0);
	CHECK(memcmp(d.receipt.prev_hash, r.receipt.prev_hash, 32) == 0);
	CHECK(note_checkpoint_same(&d.receipt.cp, &r.receipt.cp));
	CHECK_INT(d.receipt.cp.size, 1003);
	CHECK_INT(d.receipt.cp.access_size, 77);
	CHECK_INT(d.receipt.cp.signed_at_us, 1700000000000099LL);
	CHECK_INT(d.receipt.n_path, 5);
	CHECK(memcmp(d.receipt.path, r.receipt.path, 5 * 32) == 0);
	CHECK(zeros(&d.receipt.path[0][0] + 5 * 32,
	            sizeof(d.receipt.path) - 5 * 32));
	wire_reply_clear(&d);
	/* No path (a tree of one record), and the longest path. */
	r.receipt.n_path = 0;
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.receipt.n_path, 0);
	CHECK(note_checkpoint_same(&d.receipt.cp, &r.receipt.cp));
	CHECK(zeros(d.receipt.path, sizeof(d.receipt.path)));
	wire_reply_clear(&d);
	r.receipt.n_path = WIRE_PATH_MAX;
	make_path(&r.receipt.path[0][0], WIRE_PATH_MAX, 0x07);
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.receipt.n_path, WIRE_PATH_MAX);
	CHECK(memcmp(d.receipt.path, r.receipt.path, sizeof(r.receipt.path)) ==
	      0);
	wire_reply_clear(&d);
	/* One more than a path can hold: the encoder refuses it. */
	r.receipt.n_path = WIRE_PATH_MAX + 1;
	{
		uint8_t *out = NULL;
		size_t len = 0;

		CHECK_INT(wire_reply_encode(&out, &len, &r, &tkey),
		          KETEN_E_MALFORMED);
		CHECK(out == NULL);
		/* A checkpoint needs the broker's key to be written... */
		r.receipt.n_path = 1;
		CHECK_INT(wire_reply_encode(&out, &len, &r, NULL),
		          KETEN_E_USAGE);
		CHECK(out == NULL);
		/* ...and one of another key is not the broker's. */
		CHECK_INT(wire_reply_encode(&out, &len, &r, &tkey), KETEN_OK);
		{
			struct note_key k = tkey;
			k.pk[0] ^= 1;
			note_key_id(k.id, k.name, NOTE_ED25519, k.pk);
			CHECK(refused(wire_reply_decode(&d, out, len, &k, &err),
			              KETEN_E_MALFORMED));
			CHECK_STR_HAS(err.message, "no signature by "
			                           "keten/flevoland");
		}
		free(out);
	}

	/* fetch with several items, one with its content destroyed */
	memset(&r, 0, sizeof(r));
	memset(items, 0, sizeof(items));
	r.request_id = 13;
	r.kind = WIRE_REP_FETCH;
	items[0].seq = 4;
	items[0].received_at_us = 100;
	memcpy(items[0].record_hash, hash32, 32);
	items[0].envelope = e0;
	items[0].envelope_len = sizeof(e0);
	items[0].sealed = s0;
	items[0].sealed_len = sizeof(s0);
	items[1].seq = 9;
	items[1].received_at_us = 200;
	memset(items[1].record_hash, 0x11, 32);
	items[1].envelope = e1;
	items[1].envelope_len = sizeof(e1);
	items[2].seq = 12;
	items[2].received_at_us = 300;
	memset(items[2].record_hash, 0x22, 32);
	items[2].envelope = e2;
	items[2].envelope_len = sizeof(e2);
	items[2].sealed = s2;
	items[2].sealed_len = sizeof(s2);
	/* Proofs of different lengths, the middle one none. */
	make_path(path0, 3, 0x00);
	make_path(path2, 1, 0xa0);
	items[0].path = path0;
	items[0].n_path = 3;
	items[2].path = path2;
	items[2].n_path = 1;
	r.fetch.items = items;
	r.fetch.n = 3;
	r.fetch.cursor = 3;
	r.fetch.more = true;
	r.fetch.has_cp = true;
	make_cp(&r.fetch.cp, 9);
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.kind, WIRE_REP_FETCH);
	CHECK_INT(d.fetch.n, 3);
	CHECK_INT(d.fetch.cursor, 3);
	CHECK(d.fetch.more);
	CHECK(d.fetch.has_cp);
	CHECK(note_checkpoint_same(&d.fetch.cp, &r.fetch.cp));
	CHECK_INT(d.fetch.cp.size, 1012);
	CHECK(d.paths != NULL);
	if (d.fetch.n == 3) {
		CHECK_INT(d.fetch.items[0].n_path, 3);
		CHECK_INT(d.fetch.items[1].n_path, 0);
		CHECK_INT(d.fetch.items[2].n_path, 1);
		CHECK(d.fetch.items[0].path != NULL &&
		      memcmp(d.fetch.items[0].path, path0, sizeof(path0)) == 0);
		CHECK(d.fetch.items[2].path != NULL &&
		      memcmp(d.fetch.items[2].path, path2, sizeof(path2)) == 0);
		/* Copies, not views of the frame (rep_roundtrip wiped it). */
		CHECK(d.fetch.items[0].path != path0);
		CHECK_INT(d.fetch.items[0].seq, 4);
		CHECK_INT(d.fetch.items[1].seq, 9);
		CHECK_INT(d.fetch.items[2].seq, 12);
		CHECK_INT(d.fetch.items[2].received_at_us, 300);
		CHECK(memcmp(d.fetch.items[0].record_hash, hash32, 32) == 0);
		CHECK_INT(d.fetch.items[1].record_hash[31], 0x11);
		CHECK_INT(d.fetch.items[1].envelope_len, sizeof(e1));
		CHECK(memcmp(d.fetch.items[1].envelope, e1, sizeof(e1)) == 0);
		CHECK_INT(d.fetch.items[1].sealed_len, 0);
		CHECK_INT(d.fetch.items[0].sealed_len, sizeof(s0));
		CHECK(memcmp(d.fetch.items[0].sealed, s0, sizeof(s0)) == 0);
		CHECK(memcmp(d.fetch.items[2].sealed, s2, sizeof(s2)) == 0);
		CHECK(memcmp(d.fetch.items[2].envelope, e2, sizeof(e2)) == 0);
	}
	wire_reply_clear(&d);
	CHECK(d.fetch.items == NULL && d.pb == NULL);
	/* Without a checkpoint: has_cp stays false, cp zero. */
	r.fetch.has_cp = false;
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK(!d.fetch.has_cp);
	CHECK(zeros(&d.fetch.cp, sizeof(d.fetch.cp)));
	CHECK_INT(d.fetch.n, 3);
	if (d.fetch.n == 3)
		CHECK(d.fetch.items[2].n_path == 1 &&
		      memcmp(d.fetch.items[2].path, path2, 32) == 0);
	wire_reply_clear(&d);
	/* An empty fetch: no proofs to hold. */
	r.fetch.n = 0;
	r.fetch.items = NULL;
	r.fetch.more = false;
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.kind, WIRE_REP_FETCH);
	CHECK_INT(d.fetch.n, 0);
	CHECK(!d.fetch.more);
	CHECK(!d.fetch.has_cp);
	CHECK(d.paths == NULL);
	wire_reply_clear(&d);
	/* Items none of which has a proof. */
	memset(items, 0, sizeof(items));
	items[0].seq = 5;
	items[1].seq = 6;
	r.fetch.items = items;
	r.fetch.n = 2;
	r.fetch.has_cp = true;
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.fetch.n, 2);
	CHECK(d.fetch.has_cp && note_checkpoint_same(&d.fetch.cp, &r.fetch.cp));
	if (d.fetch.n == 2)
		CHECK(d.fetch.items[0].n_path == 0 &&
		      d.fetch.items[1].n_path == 0 &&
		      d.fetch.items[1].seq == 6);
	CHECK(d.paths == NULL);
	wire_reply_clear(&d);

	/* replay, with the latest checkpoint and without */
	memset(&r, 0, sizeof(r));
	memset(items, 0, sizeof(items));
	r.request_id = 16;
	r.kind = WIRE_REP_REPLAY;
	for (int i = 0; i < 2; i++) {
		items[i].seq = 7 + (uint64_t)i;
		items[i].received_at_us = 700 + i;
		memset(items[i].record_hash, 0x31 + i, 32);
		memset(items[i].prev_hash, 0x30 + i, 32);
		items[i].envelope = i ? e1 : e0;
		items[i].envelope_len = i ? sizeof(e1) : sizeof(e0);
	}
	r.replay.records = items;
	r.replay.n = 2;
	r.replay.more = true;
	r.replay.head_seq = 1012;
	memset(r.replay.head_hash, 0x5a, 32);
	r.replay.has_cp = true;
	make_cp(&r.replay.cp, 9);
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.kind, WIRE_REP_REPLAY);
	CHECK_INT(d.request_id, 16);
	CHECK_INT(d.replay.n, 2);
	CHECK(d.replay.more);
	CHECK_INT(d.replay.head_seq, 1012);
	CHECK(memcmp(d.replay.head_hash, r.replay.head_hash, 32) == 0);
	CHECK(d.replay.has_cp);
	CHECK(note_checkpoint_same(&d.replay.cp, &r.replay.cp));
	if (d.replay.n == 2) {
		CHECK_INT(d.replay.records[1].seq, 8);
		CHECK_INT(d.replay.records[1].received_at_us, 701);
		CHECK_INT(d.replay.records[1].record_hash[0], 0x32);
		CHECK_INT(d.replay.records[1].prev_hash[31], 0x31);
		CHECK(memcmp(d.replay.records[1].envelope, e1, sizeof(e1)) ==
		      0);
		CHECK_INT(d.replay.records[0].n_path, 0);
	}
	CHECK(zeros(&d.fetch, sizeof(d.fetch)));
	wire_reply_clear(&d);
	r.replay.has_cp = false;
	r.replay.more = false;
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.kind, WIRE_REP_REPLAY);
	CHECK_INT(d.replay.n, 2);
	CHECK(!d.replay.more);
	CHECK(!d.replay.has_cp);
	CHECK(zeros(&d.replay.cp, sizeof(d.replay.cp)));
	CHECK_INT(d.replay.head_seq, 1012);
	wire_reply_clear(&d);

	/* ack */
	memset(&r, 0, sizeof(r));
	r.request_id = 14;
	r.kind = WIRE_REP_ACK;
	r.ack_cursor = 77;
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.kind, WIRE_REP_ACK);
	CHECK_INT(d.ack_cursor, 77);
	wire_reply_clear(&d);

	/* ping */
	memset(&r, 0, sizeof(r));
	r.request_id = 15;
	r.kind = WIRE_REP_PING;
	r.ping.agency = "lt-almere";
	r.ping.head_seq = 99;
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK_INT(d.kind, WIRE_REP_PING);
	CHECK(strcmp(d.ping.agency, "lt-almere") == 0);
	CHECK_INT(d.ping.head_seq, 99);
	wire_reply_clear(&d);
	r.ping.agency = NULL;
	CHECK_INT(rep_roundtrip(&d, &r), KETEN_OK);
	CHECK(d.ping.agency != NULL && d.ping.agency[0] == '\0');
	wire_reply_clear(&d);

	/* Refusals: garbage, no kind, fields of the wrong size. */
	CHECK(refused(rep_decode(&d, (const uint8_t *)"\xff\xff", 2),
	              KETEN_E_MALFORMED));
	p.n = 0;
	pb_uint(&p, 1, 3);
	CHECK(refused(rep_decode(&d, p.b, p.n), KETEN_E_MALFORMED));
	CHECK(d.pb == NULL);
	/* A receipt with one field of the wrong size: its own (2, 3, 8), a
	 * path hash (10), or its checkpoint's (20 + 2, 3, 5, 7). */
	{
		static const int bad[] = {2, 3, 8, 10, 22, 23, 25, 27};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			make_receipt_pb(&p, bad[i], 3);
			CHECK(refused(rep_decode(&d, p.b, p.n),
			              KETEN_E_MALFORMED));
			CHECK(d.pb == NULL);
		}
	}
	/* A path hash of the wrong size, even as the only one. */
	make_receipt_pb(&p, 10, 1);
	CHECK(refused(rep_decode(&d, p.b, p.n), KETEN_E_MALFORMED));
	/* No checkpoint, with or without a path: nothing it could prove. */
	make_receipt_pb(&p, -1, 0);
	CHECK(refused(rep_decode(&d, p.b, p.n), KETEN_E_MALFORMED));
	CHECK(zeros(&d, sizeof(d)));
	make_receipt_pb(&p, -1, 2);
	CHECK(refused(rep_decode(&d, p.b, p.n), KETEN_E_MALFORMED));
	/* More path hashes than a tree of 2^64 leaves needs. */
	make_receipt_pb(&p, 0, WIRE_PATH_MAX + 1);
	CHECK(refused(rep_decode(&d, p.b, p.n), KETEN_E_MALFORMED));
	/* The same receipt with every size right decodes, field by field. */
	make_receipt_pb(&p, 0, WIRE_PATH_MAX);
	CHECK_INT(rep_decode(&d, p.b, p.n), KETEN_OK);
	CHECK_INT(d.request_id, 3);
	CHECK_INT(d.receipt.seq, 1);
	CHECK_INT(d.receipt.n_path, WIRE_PATH_MAX);
	{
		uint8_t h[32];

		make_path(h, 1, WIRE_PATH_MAX - 1);
		CHECK(memcmp(d.receipt.path[WIRE_PATH_MAX - 1], h, 32) == 0);
	}
	CHECK_INT(d.receipt.cp.size, 2);
	CHECK_INT(d.receipt.cp.access_size, 5);
	CHECK_INT(d.receipt.cp.signed_at_us, 1700000000000000LL);
	CHECK(memcmp(d.receipt.cp.head_hash, hash32, 32) == 0);
	CHECK(memcmp(d.receipt.cp.root, hash32, 32) == 0);
	CHECK(memcmp(d.receipt.cp.access_head, hash32, 32) == 0);
	CHECK(memcmp(d.receipt.cp.signature, sig64, 64) == 0);
	wire_reply_clear(&d);
	make_receipt_pb(&p, 0, 0);
	CHECK_INT(rep_decode(&d, p.b, p.n), KETEN_OK);
	CHECK_INT(d.receipt.n_path, 0);
	wire_reply_clear(&d);
	/* A fetch whose second item has a short record hash; the same
	 * with it right decodes. */
	for (int short_hash = 1; short_hash >= 0; short_hash--) {
		struct pb f, it;

		f.n = 0;
		it.n = 0;
		pb_uint(&it, 1, 1);
		pb_bytes(&it, 3, hash32, 32);
		pb_bytes(&it, 6, hash32, 32);
		pb_msg(&f, 1, &it);
		it.n = 0;
		pb_uint(&it, 1, 2);
		pb_bytes(&it, 3, hash32, short_hash ? 31 : 32);
		pb_bytes(&it, 6, hash32, 32);
		pb_msg(&f, 1, &it);
		p.n = 0;
		pb_msg(&p, 12, &f);
		if (short_hash) {
			CHECK(refused(rep_decode(&d, p.b, p.n),
			              KETEN_E_MALFORMED));
			CHECK(d.fetch.items == NULL);
		} else {
			CHECK_INT(rep_decode(&d, p.b, p.n), KETEN_OK);
			CHECK_INT(d.fetch.n, 2);
			wire_reply_clear(&d);
		}
	}
	/* Fetches by hand: item 1 with two path hashes, item 2 with
	 * `hashes` of which the last is `last` bytes, and a checkpoint
	 * whose field `cp_bad` has the wrong size (-1: no checkpoint). */
	{
		static const struct {
			size_t hashes, last;
			int cp_bad, ok;
		} cases[] = {
		    {1, 32, 0, 1},
		    {0, 32, 0, 1},
		    {WIRE_PATH_MAX, 32, 0, 1},
		    {3, 32, -1, 1},
		    {1, 31, 0, 0},
		    {3, 33, 0, 0},
		    {1, 0, 0, 0},
		    {WIRE_PATH_MAX + 1, 32, 0, 0},
		    {1, 32, 2, 0},
		    {1, 32, 7, 0},
		};
		struct pb f, it, cp;
		uint8_t h[33];

		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			f.n = 0;
			it.n = 0;
			pb_uint(&it, 1, 1);
			pb_bytes(&it, 3, hash32, 32);
			pb_bytes(&it, 6, hash32, 32);
			make_path(h, 1, 0x10);
			pb_bytes(&it, 7, h, 32);
			make_path(h, 1, 0x30);
			pb_bytes(&it, 7, h, 32);
			pb_msg(&f, 1, &it);
			it.n = 0;
			pb_uint(&it, 1, 2);
			pb_bytes(&it, 3, hash32, 32);
			pb_bytes(&it, 6, hash32, 32);
			for (size_t i = 0; i < cases[c].hashes; i++) {
				make_path(h, 1, (uint8_t)(0x80 + i));
				pb_bytes(&it, 7, h,
				         i + 1 == cases[c].hashes
				             ? cases[c].last
				             : 32);
			}
			pb_msg(&f, 1, &it);
			if (cases[c].cp_bad >= 0) {
				make_cp_pb(&cp, cases[c].cp_bad);
				pb_msg(&f, 4, &cp);
			}
			p.n = 0;
			pb_msg(&p, 12, &f);
			if (!cases[c].ok) {
				CHECK(refused(rep_decode(&d, p.b, p.n),
				              KETEN_E_MALFORMED));
				CHECK(zeros(&d, sizeof(d)));
				continue;
			}
			CHECK_INT(rep_decode(&d, p.b, p.n), KETEN_OK);
			CHECK_INT(d.fetch.n, 2);
			CHECK(d.fetch.has_cp == (cases[c].cp_bad == 0));
			if (d.fetch.n != 2)
				goto next;
			CHECK_INT(d.fetch.items[0].n_path, 2);
			CHECK_INT(d.fetch.items[1].n_path, cases[c].hashes);
			make_path(h, 1, 0x30);
			CHECK(memcmp(d.fetch.items[0].path + 32, h, 32) == 0);
			if (cases[c].hashes > 0) {
				size_t last = cases[c].hashes - 1;
				make_path(h, 1, (uint8_t)(0x80 + last));
				CHECK(memcmp(d.fetch.items[1].path + 32 * last,
				             h, 32) == 0);
			}
			if (d.fetch.has_cp)
				CHECK(d.fetch.cp.size == 2 &&
				      memcmp(d.fetch.cp.signature, sig64, 64) ==
				          0);
		next:
			wire_reply_clear(&d);
		}
	}
	/* A replay whose checkpoint has a field of the wrong size; the same
	 * with it right; without one. */
	{
		static const int cp_bad[] = {5, 0, -1};
		struct pb rp, cp;

		for (size_t c = 0; c < 3; c++) {
			int bad = cp_bad[c];

			rp.n = 0;
			pb_uint(&rp, 3, 9);
			pb_bytes(&rp, 4, hash32, 32);
			if (bad >= 0) {
				make_cp_pb(&cp, bad);
				pb_msg(&rp, 5, &cp);
			}
			p.n = 0;
			pb_msg(&p, 17, &rp);
			if (bad == 5) {
				CHECK(refused(rep_decode(&d, p.b, p.n),
				              KETEN_E_MALFORMED));
				continue;
			}
			CHECK_INT(rep_decode(&d, p.b, p.n), KETEN_OK);
			CHECK_INT(d.kind, WIRE_REP_REPLAY);
			CHECK_INT(d.replay.head_seq, 9);
			CHECK(d.replay.has_cp == (bad == 0));
			if (bad == 0)
				CHECK(d.replay.cp.size == 2 &&
				      d.replay.cp.access_size == 5);
			wire_reply_clear(&d);
		}
	}
}

/* ---- sealed content ---- */

static void
test_content(void)
{
	struct keten_person hh[2] = {
	    {"Anna de Vries", "1985-03-02", "123456782"},
	    {"Piet de Vries", "1983-11-30", "111222333"},
	};
	const char *concerns[] = {"neglect", "school absence", "housing"};
	struct keten_referral_content c = {
	    .child = {"Jan de Vries", "2015-06-01", "999999990"},
	    .household = hh,
	    .n_household = 2,
	    .parental_authority = "both parents",
	    .concerns = concerns,
	    .n_concerns = 3,
	    .safety_assessment = "no acute danger",
	    .request = "investigate",
	    .legal_basis = "Jeugdwet 7.1.1",
	    .family_informed = true,
	    .family_consented = false,
	    .notes = "contact the school first",
	};
	struct content d;
	uint8_t *out = NULL;
	size_t len = 0;

	CHECK_INT(wire_content_encode(&out, &len, &c), KETEN_OK);
	memset(&err, 0, sizeof(err));
	CHECK_INT(wire_content_decode(&d, KETEN_MSG_REFERRAL, out, len, &err),
	          KETEN_OK);
	memset(out, 0, len); /* the decoded strings are not in out */
	free(out);
	CHECK(strcmp(d.referral.child.name, "Jan de Vries") == 0);
	CHECK(strcmp(d.referral.child.date_of_birth, "2015-06-01") == 0);
	CHECK(strcmp(d.referral.child.bsn, "999999990") == 0);
	CHECK_INT(d.referral.n_household, 2);
	if (d.referral.n_household == 2) {
		CHECK(strcmp(d.referral.household[0].name, "Anna de Vries") ==
		      0);
		CHECK(strcmp(d.referral.household[1].bsn, "111222333") == 0);
		CHECK(strcmp(d.referral.household[1].date_of_birth,
		             "1983-11-30") == 0);
	}
	CHECK_INT(d.referral.n_concerns, 3);
	if (d.referral.n_concerns == 3) {
		CHECK(strcmp(d.referral.concerns[0], "neglect") == 0);
		CHECK(strcmp(d.referral.concerns[2], "housing") == 0);
	}
	CHECK(strcmp(d.referral.parental_authority, "both parents") == 0);
	CHECK(strcmp(d.referral.safety_assessment, "no acute danger") == 0);
	CHECK(strcmp(d.referral.request, "investigate") == 0);
	CHECK(strcmp(d.referral.legal_basis, "Jeugdwet 7.1.1") == 0);
	CHECK(strcmp(d.referral.notes, "contact the school first") == 0);
	CHECK(d.referral.family_informed);
	CHECK(!d.referral.family_consented);
	wire_content_clear(&d);
	CHECK(d.pb == NULL && d.arrays == NULL);

	/* NULL strings and no lists: every string decodes to "". */
	{
		struct keten_referral_content e;

		memset(&e, 0, sizeof(e));
		e.family_consented = true;
		CHECK_INT(wire_content_encode(&out, &len, &e), KETEN_OK);
		CHECK_INT(
		    wire_content_decode(&d, KETEN_MSG_REFERRAL, out, len, &err),
		    KETEN_OK);
		free(out);
		CHECK(d.referral.child.name && d.referral.child.name[0] == 0);
		CHECK(d.referral.notes && d.referral.notes[0] == 0);
		CHECK(d.referral.request && d.referral.request[0] == 0);
		CHECK_INT(d.referral.n_household, 0);
		CHECK_INT(d.referral.n_concerns, 0);
		CHECK(d.referral.family_consented);
		CHECK(!d.referral.family_informed);
		wire_content_clear(&d);
	}
	/* An empty buffer: no child at all, still no NULL strings. */
	CHECK_INT(wire_content_decode(&d, KETEN_MSG_REFERRAL,
	                              (const uint8_t *)"", 0, &err),
	          KETEN_OK);
	CHECK(d.referral.child.name != NULL && d.referral.child.bsn != NULL);
	CHECK(d.referral.notes != NULL);
	wire_content_clear(&d);

	memset(&err, 0, sizeof(err));
	CHECK(
	    refused(wire_content_decode(&d, KETEN_MSG_REFERRAL,
	                                (const uint8_t *)"\x0a\x05xy", 4, &err),
	            KETEN_E_MALFORMED));
	CHECK(d.pb == NULL);
}

/*
 * Envelope versions other than 1. Run last: this refusal has read freed
 * memory (its message used the protobuf after wire_envelope_clear), and
 * ASan aborts on that, so every other check runs first.
 */
static void
test_envelope_version(void)
{
	const uint8_t body[] = {1, 2, 3};
	struct envelope e, d;
	struct pb p;
	uint8_t *out = NULL;
	size_t len = 0;

	/* Versions other than 1. */
	make_env(&p, 2, 1, "lt-almere", body, sizeof(body), sig64, 64);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_VERSION));
	CHECK_STR_HAS(err.message, "version 2");
	make_env(&p, 0, 1, "lt-almere", body, sizeof(body), sig64, 64);
	CHECK(refused(env_decode(&d, p.b, p.n), KETEN_E_VERSION));

	/* The encoder passes anything through: the decoder is the gate. */
	memset(&e, 0, sizeof(e));
	e.version = 7;
	e.type = KETEN_MSG_REFERRAL;
	strcpy(e.signer, "lt-almere");
	e.body = body;
	e.body_len = sizeof(body);
	memcpy(e.signature, sig64, 64);
	CHECK_INT(wire_envelope_encode(&out, &len, &e), KETEN_OK);
	CHECK(refused(env_decode(&d, out, len), KETEN_E_VERSION));
	CHECK_STR_HAS(err.message, "version 7");
	free(out);
}

/* common/wire.c asserts that each C enum value equals the proto's; this
 * catches a value the proto gains that the C enums (and the words) lack:
 * protobuf-c knows each enum's values only at run time. */
static void
test_enums_match_proto(void)
{
	CHECK_INT(keten__message_type__descriptor.n_values,
	          KETEN_MSG_ROTATION + 1);
	CHECK_INT(keten__agency_kind__descriptor.n_values,
	          KETEN_KIND_AUDITOR + 1);
	CHECK_INT(keten__roster_action__descriptor.n_values,
	          ROSTER_ACTION_MAX + 1);
	CHECK_INT(keten__decline_reason__descriptor.n_values,
	          KETEN_DECLINE_MAX + 1);
	CHECK_INT(keten__outcome__descriptor.n_values, KETEN_OUTCOME_MAX + 1);
	CHECK_INT(keten__case_status__descriptor.n_values,
	          KETEN_CASE_CLOSED + 1);
	for (int t = 1; t <= KETEN_MSG_TYPE_MAX; t++)
		CHECK(strcmp(keten_message_type_name(t), "?") != 0 &&
		      keten_message_type_parse(keten_message_type_name(t)) ==
		          (enum keten_message_type)t);
	for (int r = 1; r <= KETEN_DECLINE_MAX; r++)
		CHECK(keten_decline_reason_parse(keten_decline_reason_name(
		          r)) == (enum keten_decline_reason)r);
	for (int o = 1; o <= KETEN_OUTCOME_MAX; o++)
		CHECK(keten_outcome_parse(keten_outcome_name(o)) ==
		      (enum keten_outcome)o);
	CHECK(strcmp(keten_message_type_name(KETEN_MSG_TYPE_MAX + 1), "?") ==
	      0);
	CHECK(strcmp(keten_outcome_name(0), "?") == 0);
	CHECK(strcmp(keten_case_status_name(0), "none") == 0);
	CHECK(keten_decline_reason_parse(NULL) == 0);
}

int
main(void)
{
	init_fixtures();
	test_enums_match_proto();
	test_envelope();
	test_body();
	test_request();
	test_reply();
	test_content();
	test_envelope_version();
	return check_done("test_wire");
}
