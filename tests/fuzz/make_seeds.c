/*
 * Writes the fuzz targets' seed corpora: valid encodings made with the
 * wire encoders, and a valid region config. Deterministic (fixed keys,
 * Ed25519 signatures, no sealing), so a rerun changes no committed file.
 * Usage: make_seeds DIR   (writes DIR/<target>/<name>)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "chain.h"
#include "envelope.h"
#include "text.h"
#include "wire.h"

static const char *root;

static void
die(const char *what)
{
	fprintf(stderr, "make_seeds: %s\n", what);
	exit(1);
}

static void
put(const char *target, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	if ((f = fopen(path, "wb")) == NULL)
		die(path);
	if (len > 0 && fwrite(buf, 1, len, f) != len)
		die(path);
	if (fclose(f) != 0)
		die(path);
}

static void
fill(uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v + i);
}

/* A key pair from a fixed seed: the same signature on every run. */
static void
sign_keys(uint8_t pk[32], uint8_t sk[64], uint8_t v)
{
	uint8_t seed[32];

	fill(seed, sizeof(seed), v);
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0)
		die("crypto_sign_seed_keypair");
}

static const char *concerns[] = {"neglect", "school absence"};
static const struct keten_person household[] = {
    {"A. de Vries", "1985-03-02", "111222333"},
    {"B. de Vries", "1987-11-20", "444555666"},
};

static void
content(uint8_t **out, size_t *len)
{
	struct keten_referral_content c = {
	    .child = {"C. de Vries", "2015-06-01", "123456782"},
	    .household = household,
	    .n_household = 2,
	    .parental_authority = "both parents",
	    .concerns = concerns,
	    .n_concerns = 2,
	    .safety_assessment = "no acute danger",
	    .request = "assess and support",
	    .legal_basis = "Jeugdwet 7.3.11",
	    .family_informed = true,
	    .family_consented = false,
	    .notes = "seed",
	};
	struct keten_referral_content empty = {0};

	if (wire_content_encode(out, len, &c) != KETEN_OK)
		die("wire_content_encode");
	put("content", "full", *out, *len);
	{
		uint8_t *e;
		size_t elen;
		if (wire_content_encode(&e, &elen, &empty) != KETEN_OK)
			die("wire_content_encode");
		put("content", "empty", e, elen);
		free(e);
	}
}

/* A signed referral envelope around a body committing to sealed. */
static void
envelope(uint8_t **out, size_t *len, const uint8_t *sealed, size_t sealed_len,
         const uint8_t sk[64])
{
	struct body b = {.type = WIRE_TYPE_REFERRAL};
	struct envelope e = {.version = WIRE_VERSION,
	                     .type = WIRE_TYPE_REFERRAL};
	uint8_t *body;
	size_t body_len;

	fill(b.h.message_id, KETEN_MSG_ID_LEN, 1);
	strcpy(b.h.sender, "lt-almere");
	strcpy(b.h.recipient, "vt-flevoland");
	fill(b.h.case_id, KETEN_CASE_ID_LEN, 100);
	b.h.sent_at_us = 1700000000000000;
	envelope_content_hash(b.content_hash, sealed, sealed_len);
	b.has_content = true;
	b.u.offer.urgency = KETEN_URGENCY_URGENT;
	b.u.offer.respond_by_us = 1700086400000000;
	if (wire_body_encode(&body, &body_len, &b) != KETEN_OK)
		die("wire_body_encode");
	strcpy(e.signer, "lt-almere");
	e.body = body;
	e.body_len = body_len;
	if (envelope_sign(e.signature, e.version, e.type, body, body_len, sk) !=
	    KETEN_OK)
		die("envelope_sign");
	if (wire_envelope_encode(out, len, &e) != KETEN_OK)
		die("wire_envelope_encode");
	free(body);
}

static void
request(const char *name, const struct request *r)
{
	uint8_t *buf;
	size_t len;

	if (wire_request_encode(&buf, &len, r) != KETEN_OK)
		die("wire_request_encode");
	put("request", name, buf, len);
	free(buf);
}

static void
reply(const char *name, const struct reply *r)
{
	uint8_t *buf;
	size_t len;

	if (wire_reply_encode(&buf, &len, r) != KETEN_OK)
		die("wire_reply_encode");
	put("reply", name, buf, len);
	free(buf);
}

static void
requests(const uint8_t *env, size_t env_len, const uint8_t *sealed,
         size_t sealed_len)
{
	struct request r = {.request_id = 7, .kind = WIRE_REQ_SUBMIT};
	uint8_t short_env[] = {0x08, 0x01, 0x10, 0x01, 0x1a, 0x02, 'l', 't'};

	r.envelope = env;
	r.envelope_len = env_len;
	r.sealed = sealed;
	r.sealed_len = sealed_len;
	request("submit", &r);
	r.envelope = short_env; /* no signature: refused */
	r.envelope_len = sizeof(short_env);
	request("submit-nosig", &r);
	request("fetch", &(struct request){.request_id = 8,
	                                   .kind = WIRE_REQ_FETCH,
	                                   .fetch_max = 16});
	request("ack", &(struct request){.request_id = 9,
	                                 .kind = WIRE_REQ_ACK,
	                                 .ack_seq = 42});
	request("ping",
	        &(struct request){.request_id = 10, .kind = WIRE_REQ_PING});
}

static void
replies(const uint8_t *env, size_t env_len, const uint8_t *sealed,
        size_t sealed_len, const uint8_t sk[64])
{
	struct reply r = {.request_id = 7, .kind = WIRE_REP_RECEIPT};
	struct delivered d[2];

	r.receipt.seq = 1;
	fill(r.receipt.record_hash, KETEN_HASH_LEN, 10);
	fill(r.receipt.message_id, KETEN_MSG_ID_LEN, 1);
	r.receipt.received_at_us = 1700000000000100;
	r.receipt.head_seq = 1;
	memcpy(r.receipt.head_hash, r.receipt.record_hash, KETEN_HASH_LEN);
	fill(r.receipt.prev_hash, KETEN_HASH_LEN, 50);
	chain_receipt_sign(&r.receipt, sk);
	reply("receipt", &r);

	for (size_t i = 0; i < 2; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].seq = i + 1;
		d[i].received_at_us = 1700000000000100 + (int64_t)i;
		fill(d[i].record_hash, KETEN_HASH_LEN, (uint8_t)(20 + i));
		fill(d[i].prev_hash, KETEN_HASH_LEN, (uint8_t)(40 + i));
		d[i].envelope = env;
		d[i].envelope_len = env_len;
		d[i].sealed = sealed;
		d[i].sealed_len = i == 0 ? sealed_len : 0; /* 2nd destroyed */
	}
	reply("fetch", &(struct reply){.request_id = 8,
	                               .kind = WIRE_REP_FETCH,
	                               .fetch = {d, 2, 0, true}});
	reply("error",
	      &(struct reply){.request_id = 7,
	                      .kind = WIRE_REP_ERROR,
	                      .error = {KETEN_E_ROUTE, "route refused"}});
	reply("ack", &(struct reply){.request_id = 9,
	                             .kind = WIRE_REP_ACK,
	                             .ack_cursor = 2});
	reply("ping", &(struct reply){.request_id = 10,
	                              .kind = WIRE_REP_PING,
	                              .ping = {"vt-flevoland", 2}});
}

static void
records(const uint8_t *env, size_t env_len)
{
	struct record r = {.seq = 1,
	                   .received_at_us = 1700000000000100,
	                   .envelope = env,
	                   .envelope_len = env_len};
	uint8_t *buf = malloc(CHAIN_RECORD_HEADER + env_len);

	if (buf == NULL)
		die("out of memory");
	chain_genesis(r.prev_hash, "flevoland");
	chain_record_encode(buf, &r);
	put("record", "first", buf, CHAIN_RECORD_HEADER + env_len);
	r.envelope_len = 0;
	chain_record_encode(buf, &r);
	put("record", "header-only", buf, CHAIN_RECORD_HEADER);
	free(buf);
}

static void
key_b64(char out[TEXT_KEY_B64_LEN], uint8_t v)
{
	uint8_t k[32];

	fill(k, sizeof(k), v);
	text_key_to_b64(out, k);
}

/* Any 32 bytes parse as a key; transport keys must differ. */
static void
configs(void)
{
	char k[8][TEXT_KEY_B64_LEN], text[4096];
	int n;

	for (int i = 0; i < 8; i++)
		key_b64(k[i], (uint8_t)(i * 32));
	n = snprintf(text, sizeof(text),
	             "region: flevoland\n"
	             "listen: tcp://127.0.0.1:7450\n"
	             "connect: tcp://broker.example:7450\n"
	             "data_dir: data\n"
	             "broker:\n"
	             "  key_file: broker.key\n"
	             "  sign_key: %s\n"
	             "  transport_key: %s\n"
	             "limits:\n"
	             "  max_message_bytes: 65536\n"
	             "  map_size_mb: 64\n"
	             "  map_max_mb: 1024\n"
	             "  workers: 4\n"
	             "  batch_max: 128\n"
	             "agencies:\n"
	             "  - id: lt-almere\n"
	             "    name: Lokaal team Almere\n"
	             "    kind: local_team\n"
	             "    sign_key: %s\n"
	             "    box_key: %s\n"
	             "    transport_key: %s\n"
	             "  - id: vt-flevoland\n"
	             "    name: Veilig Thuis Flevoland\n"
	             "    kind: veilig_thuis\n"
	             "    sign_key: %s\n"
	             "    box_key: %s\n"
	             "    transport_key: %s\n",
	             k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]);
	put("config", "full.yaml", text, (size_t)n);
	n = snprintf(text, sizeof(text),
	             "region: r1\n"
	             "listen: tcp://*:7450\n"
	             "data_dir: /var/lib/keten\n"
	             "broker: {sign_key: %s, transport_key: %s}\n"
	             "agencies:\n"
	             "  - {id: gi-1, name: GI, kind: gi, sign_key: %s,\n"
	             "     box_key: %s, transport_key: %s}\n",
	             k[0], k[1], k[2], k[3], k[4]);
	put("config", "minimal.yaml", text, (size_t)n);
	/* Every kind, quoting, an alias; mutations reach the duplicate
	 * checks between agencies from here. */
	n = snprintf(text, sizeof(text),
	             "region: \"utrecht\"\n"
	             "listen: 'tcp://0.0.0.0:7450'\n"
	             "data_dir: /srv/keten\n"
	             "broker:\n"
	             "  key_file: /etc/keten/broker.key\n"
	             "  sign_key: %s\n"
	             "  transport_key: %s\n"
	             "agencies:\n"
	             "  - {id: lt-a, name: &n Team, kind: local_team,\n"
	             "     sign_key: %s, box_key: %s, transport_key: %s}\n"
	             "  - {id: vt-u, name: *n, kind: veilig_thuis,\n"
	             "     sign_key: %s, box_key: %s, transport_key: %s}\n"
	             "  - {id: gi-u, name: GI, kind: gi,\n"
	             "     sign_key: %s, box_key: %s, transport_key: %s}\n"
	             "  - {id: raad, name: Raad, kind: raad,\n"
	             "     sign_key: %s, box_key: %s, transport_key: %s}\n"
	             "  - {id: audit, name: Audit, kind: auditor,\n"
	             "     sign_key: %s, box_key: %s, transport_key: %s}\n",
	             k[0], k[1], k[2], k[3], k[4], k[2], k[3], k[5], k[2], k[3],
	             k[6], k[2], k[3], k[7], k[2], k[3], k[0]);
	put("config", "kinds.yaml", text, (size_t)n);
}

int
main(int argc, char **argv)
{
	uint8_t pk[32], sk[64];
	uint8_t *plain, *env;
	size_t plain_len, env_len;

	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) != 0 && errno != EEXIST)
		die(root);
	if (sodium_init() < 0)
		die("sodium_init");
	sign_keys(pk, sk, 1);
	content(&plain, &plain_len);
	/* The broker only hashes sealed bytes; unsealed content serves. */
	envelope(&env, &env_len, plain, plain_len, sk);
	requests(env, env_len, plain, plain_len);
	replies(env, env_len, plain, plain_len, sk);
	records(env, env_len);
	configs();
	free(env);
	free(plain);
	sodium_memzero(sk, sizeof(sk));
	return 0;
}
