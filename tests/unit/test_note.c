/*
 * note: signed notes, the checkpoint note, cosignatures and proof
 * bundles. Known answers were computed outside this program (Python
 * hashlib and cryptography); every malformed input must be refused.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "note.h"

static uint8_t bpk[32], bsk[64], wpk[32], wsk[64], opk[32], osk[64];
static struct note_key broker, witness, other;

static void
seq_bytes(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

static void
make_cp(struct keten_checkpoint *c)
{
	memset(c, 0, sizeof(*c));
	c->size = 579;
	seq_bytes(c->head_hash, 32, 0x10);
	seq_bytes(c->root, 32, 0x30);
	c->access_size = 12;
	seq_bytes(c->access_head, 32, 0x50);
	c->signed_at_us = 1700000000600000;
	note_checkpoint_sign(c, broker.name, bsk);
}

/* Parses s as a checkpoint by broker; KETEN_OK or the code. */
static int
parse(struct keten_checkpoint *c, const char *s, size_t len)
{
	struct keten_error err = {0};
	int rc = note_checkpoint_parse(c, s, len, &broker, &err);

	if (rc != KETEN_OK)
		CHECK(err.message[0] != '\0'); /* always a reason */
	return rc;
}

static void
test_b64(void)
{
	uint8_t bin[40], back[40];
	char b64[NOTE_B64_LEN(40) + 1];

	seq_bytes(bin, sizeof(bin), 0xf0);
	for (size_t n = 1; n <= sizeof(bin); n++) {
		note_b64_encode(b64, sizeof(b64), bin, n);
		CHECK_INT(strlen(b64), NOTE_B64_LEN(n));
		CHECK_INT(note_b64_decode(back, n, b64, strlen(b64)), 0);
		CHECK(memcmp(back, bin, n) == 0);
		/* The wrong length asked for. */
		CHECK_INT(note_b64_decode(back, n + 1, b64, strlen(b64)), -1);
		if (n > 1)
			CHECK_INT(
			    note_b64_decode(back, n - 1, b64, strlen(b64)), -1);
	}
	/* One byte 00 is "AA=="; "AB==" has bits below the padding. */
	CHECK_INT(note_b64_decode(back, 1, "AA==", 4), 0);
	CHECK_INT(note_b64_decode(back, 1, "AB==", 4), -1);
	CHECK_INT(note_b64_decode(back, 2, "AAA=", 4), 0);
	CHECK_INT(note_b64_decode(back, 2, "AAB=", 4), -1);
	CHECK_INT(note_b64_decode(back, 1, "AA", 2), -1);     /* no padding */
	CHECK_INT(note_b64_decode(back, 1, "AA=A", 4), -1);   /* misplaced */
	CHECK_INT(note_b64_decode(back, 3, "AA-_", 4), -1);   /* URL-safe */
	CHECK_INT(note_b64_decode(back, 3, "AA A", 4), -1);   /* space */
	CHECK_INT(note_b64_decode(back, 3, "AAAA\n", 5), -1); /* newline */
	CHECK_INT(note_b64_decode(back, 3, "AAAA", 4), 0);
}

static void
test_key_id(void)
{
	static const uint8_t want_b[4] = {0x77, 0x0a, 0x17, 0x06},
	                     want_w[4] = {0x37, 0x73, 0x28, 0x11},
	                     want_w1[4] = {0x7d, 0xe0, 0xa7, 0x46};
	struct note_key k;
	uint8_t id[4];

	CHECK_INT(strcmp(broker.name, "keten/flevoland"), 0);
	CHECK(memcmp(broker.id, want_b, 4) == 0);
	CHECK(memcmp(witness.id, want_w, 4) == 0);
	/* The type byte is part of the ID. */
	note_key_id(id, "keten/flevoland", NOTE_COSIG_V1, wpk);
	CHECK(memcmp(id, want_w1, 4) == 0);
	note_key_id(id, "keten/flevoland", NOTE_ED25519, wpk);
	CHECK(memcmp(id, want_w1, 4) != 0);
	/* Names: no space, no '+', not empty, not too long. */
	CHECK_INT(note_key_init(&k, "a b", NOTE_ED25519, bpk), -1);
	CHECK_INT(note_key_init(&k, "a+b", NOTE_ED25519, bpk), -1);
	CHECK_INT(note_key_init(&k, "", NOTE_ED25519, bpk), -1);
	CHECK_INT(note_key_init(&k, "a\tb", NOTE_ED25519, bpk), -1);
	CHECK_INT(note_broker_key(&k, "", bpk), -1);
	CHECK_INT(note_broker_key(&k,
	                          "0123456789012345678901234567890123456789"
	                          "012345678901234567890123",
	                          bpk),
	          -1);
}

static void
test_checkpoint(void)
{
	static const char want_body[] =
	    "keten/flevoland\n"
	    "579\n"
	    "MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk8=\n"
	    "head EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8=\n"
	    "access 12 UFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa2xtbm8=\n"
	    "time 1700000000600000\n";
	char note[NOTE_CHECKPOINT_MAX], body[NOTE_CHECKPOINT_BODY_MAX];
	struct keten_checkpoint c, d;
	size_t n, nb;

	make_cp(&c);
	nb = note_checkpoint_body(body, sizeof(body), broker.name, &c);
	CHECK_INT(nb, sizeof(want_body) - 1);
	CHECK(memcmp(body, want_body, nb) == 0);
	n = note_checkpoint_format(note, sizeof(note), &broker, &c);
	CHECK(n > nb);
	CHECK(memcmp(note, want_body, nb) == 0);
	/* blank line, "— keten/flevoland ", 92 base64 characters, "\n" */
	CHECK_INT(n, nb + 1 + 4 + strlen(broker.name) + 1 + 92 + 1);
	CHECK(memcmp(note + nb, "\n\xe2\x80\x94 keten/flevoland dwoXB", 24) ==
	      0);
	CHECK_INT(parse(&d, note, n), KETEN_OK);
	CHECK(note_checkpoint_same(&c, &d));
	CHECK_INT(note_checkpoint_verify(&d, &broker), 0);
	/* The signature is over the text: any field changed breaks it. */
	d.signed_at_us++;
	CHECK(!note_checkpoint_same(&c, &d));
	CHECK_INT(note_checkpoint_verify(&d, &broker), -1);
	d = c;
	d.root[5] ^= 1;
	CHECK_INT(note_checkpoint_verify(&d, &broker), -1);
	d = c;
	d.access_size = 13;
	CHECK_INT(note_checkpoint_verify(&d, &broker), -1);
	CHECK_INT(note_checkpoint_verify(&c, &other), -1);
	/* Too small a buffer writes nothing. */
	CHECK_INT(note_checkpoint_format(note, n, &broker, &c), 0);
	CHECK_INT(note_checkpoint_body(body, nb, broker.name, &c), 0);

	/* Every truncation is refused, and every changed byte makes the
	 * note refused or its signature fail. */
	n = note_checkpoint_format(note, sizeof(note), &broker, &c);
	for (size_t len = 0; len < n; len++)
		CHECK(parse(&d, note, len) != KETEN_OK);
	for (size_t i = 0; i < n; i++) {
		for (unsigned x = 1; x < 256; x <<= 1) {
			note[i] ^= (char)x;
			if (parse(&d, note, n) == KETEN_OK)
				CHECK_INT(note_checkpoint_verify(&d, &broker),
				          -1);
			note[i] ^= (char)x;
		}
	}
	/* The empty log. */
	memset(&c, 0, sizeof(c));
	note_checkpoint_sign(&c, broker.name, bsk);
	n = note_checkpoint_format(note, sizeof(note), &broker, &c);
	CHECK(memcmp(note, "keten/flevoland\n0\n", 18) == 0);
	CHECK_INT(parse(&d, note, n), KETEN_OK);
	CHECK(note_checkpoint_same(&c, &d));
	CHECK_INT(note_checkpoint_verify(&d, &broker), 0);
}

/* The good note with old replaced by new (once); its length. */
static size_t
edit(char *out, size_t cap, const char *in, size_t len, const char *old,
     const char *new)
{
	const char *at = memmem(in, len, old, strlen(old));
	size_t pre, ol = strlen(old), nl = strlen(new);

	if (at == NULL || len - ol + nl > cap) {
		CHECK(at != NULL);
		return 0;
	}
	pre = (size_t)(at - in);
	memcpy(out, in, pre);
	memcpy(out + pre, new, nl);
	memcpy(out + pre + nl, at + ol, len - pre - ol);
	return len - ol + nl;
}

/* The roster extension line (PROTOCOL.md 22): last, written only for a
 * roster_seq, read back; a note without it reads as roster 0. */
static void
test_checkpoint_roster(void)
{
	char note[NOTE_CHECKPOINT_MAX], body[NOTE_CHECKPOINT_BODY_MAX];
	struct keten_checkpoint c, d;
	size_t n, nb;

	make_cp(&c);
	n = note_checkpoint_format(note, sizeof(note), &broker, &c);
	CHECK_INT(parse(&d, note, n), KETEN_OK);
	CHECK(d.roster_seq == 0);
	CHECK(strstr(note, "roster") == NULL);

	c.roster_seq = 579; /* the newest record may be a roster record */
	note_checkpoint_sign(&c, broker.name, bsk);
	nb = note_checkpoint_body(body, sizeof(body), broker.name, &c);
	CHECK(nb > 21 &&
	      memcmp(body + nb - 21, "000600000\nroster 579\n", 21) == 0);
	n = note_checkpoint_format(note, sizeof(note), &broker, &c);
	CHECK_INT(parse(&d, note, n), KETEN_OK);
	CHECK(d.roster_seq == 579);
	CHECK(note_checkpoint_same(&c, &d));
	CHECK_INT(note_checkpoint_verify(&d, &broker), 0);
	/* The line is signed: dropping it breaks the signature. */
	d.roster_seq = 0;
	CHECK(note_checkpoint_verify(&d, &broker) != 0);
	CHECK(!note_checkpoint_same(&c, &d));
}

static void
test_checkpoint_malformed(void)
{
	static const struct {
		const char *old, *new, *why;
	} bad[] = {
	    {"579\n", "0579\n", "leading zero"},
	    {"579\n", "+579\n", "sign"},
	    {"579\n", "579 \n", "trailing space"},
	    {"579\n", "18446744073709551616\n", "overflow"},
	    {"keten/flevoland\n", "keten/gooiland\n", "wrong origin"},
	    {"keten/flevoland\n", "Keten/flevoland\n", "origin case"},
	    {"MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk8=",
	     "MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9=", "non-canonical"},
	    {"MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk8=",
	     "MDEyMzQ1Njc4OTo7PD0-P0BBQkNERUZHSElKS0xNTk8=", "bad base64"},
	    {"MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk8=",
	     "MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk8", "no padding"},
	    {"head ", "head  ", "two spaces"},
	    {"access 12 ", "access 012 ", "leading zero in access"},
	    {"time 1700000000600000\n", "time 01700000000600000\n",
	     "leading zero in time"},
	    {"time 1700000000600000\n", "time -1\n", "negative time"},
	    {"time 1700000000600000\n", "time 1700000000600000\nx\n",
	     "extra line"},
	    {"time 1700000000600000\n", "time 1700000000600000\nroster 0\n",
	     "roster 0 is written as no line"},
	    {"time 1700000000600000\n", "time 1700000000600000\nroster 580\n",
	     "roster record beyond the size"},
	    {"time 1700000000600000\n", "time 1700000000600000\nroster 07\n",
	     "leading zero in roster"},
	    {"time 1700000000600000\n",
	     "time 1700000000600000\nroster 7\nroster 8\n", "two roster lines"},
	    {"time 1700000000600000\n", "", "missing line"},
	    {"579\n", "579\r\n", "carriage return"},
	    {"579\n", "5\t79\n", "tab"},
	    {"579\n",
	     "57\x01"
	     "9\n",
	     "control character"},
	    {"head ", "head\xc3 ", "invalid UTF-8"},
	    {"\n\n\xe2\x80\x94", "\n\xe2\x80\x94", "no blank line"},
	    {"\xe2\x80\x94 keten", "- keten", "hyphen for em dash"},
	    {"\xe2\x80\x94 keten", "\xe2\x80\x94keten", "no space"},
	};
	char note[NOTE_CHECKPOINT_MAX], t[NOTE_MAX + 512];
	struct keten_checkpoint c, d;
	size_t n, m;

	make_cp(&c);
	n = note_checkpoint_format(note, sizeof(note), &broker, &c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = edit(t, sizeof(t), note, n, bad[i].old, bad[i].new);
		if (parse(&d, t, m) == KETEN_OK)
			fprintf(stderr, "accepted: %s\n", bad[i].why);
		CHECK(parse(&d, t, m) != KETEN_OK);
	}
	/* No final newline, a NUL inside. */
	CHECK(parse(&d, note, n - 1) != KETEN_OK);
	memcpy(t, note, n);
	t[3] = '\0';
	CHECK(parse(&d, t, n) != KETEN_OK);

	/* Unknown signature lines, before and after, are ignored... */
	{
		struct note_cosig cs;
		char line[512];
		size_t ll, body;

		body = note_checkpoint_body(t, sizeof(t), broker.name, &c);
		note_cosig_sign(&cs, 1700000001, t, body, wsk);
		ll = note_cosig_line(line, sizeof(line), &witness, &cs);
		m = body + 1;
		t[body] = '\n';
		memcpy(t + m, line, ll);
		m += ll;
		memcpy(t + m, note + body + 1, n - body - 1);
		m += n - body - 1;
		memcpy(t + m, line, ll);
		m += ll;
		CHECK_INT(parse(&d, t, m), KETEN_OK);
		CHECK(note_checkpoint_same(&c, &d));
		/* ...up to NOTE_SIGS_MAX lines in all. */
		while (m + ll < sizeof(t)) {
			struct note nn;
			struct keten_error err;
			int ok = note_split(&nn, t, m, &err) == KETEN_OK;
			if (!ok)
				break;
			memcpy(t + m, line, ll);
			m += ll;
		}
		{
			struct note nn;
			struct keten_error err;
			CHECK(note_split(&nn, t, m, &err) != KETEN_OK);
			/* The note split up to the limit exactly. */
			CHECK_INT(note_split(&nn, t, m - ll, &err), KETEN_OK);
			CHECK_INT(nn.n_sigs, NOTE_SIGS_MAX);
		}
	}
	/* A signature by the broker's name but another key is not the
	 * broker's: refused, naming the key ID looked for. */
	{
		struct keten_error err = {0};
		note_checkpoint_sign(&c, broker.name, osk);
		n = note_checkpoint_format(note, sizeof(note), &other, &c);
		CHECK_INT(note_checkpoint_parse(&d, note, n, &broker, &err),
		          KETEN_E_MALFORMED);
		CHECK(strstr(err.message, "770a1706") != NULL);
		CHECK_INT(note_checkpoint_parse(&d, note, n, &other, &err),
		          KETEN_OK);
		CHECK_INT(note_checkpoint_verify(&d, &other), 0);
		CHECK_INT(note_checkpoint_verify(&d, &broker), -1);
	}
	/* More than NOTE_MAX bytes. */
	memset(t, 'a', sizeof(t));
	CHECK(parse(&d, t, NOTE_MAX + 1) != KETEN_OK);
}

static void
test_cosig(void)
{
	char body[NOTE_CHECKPOINT_BODY_MAX], line[512], note[NOTE_MAX];
	struct keten_checkpoint c;
	struct note_cosig cs, back;
	struct keten_error err;
	const struct note_sig *s;
	struct note n;
	size_t nb, ll, len;

	make_cp(&c);
	nb = note_checkpoint_body(body, sizeof(body), broker.name, &c);
	note_cosig_sign(&cs, 1700000001, body, nb, wsk);
	CHECK_INT(note_cosig_verify(&cs, body, nb, &witness), 0);
	CHECK_INT(note_cosig_verify(&cs, body, nb, &other), -1);
	cs.timestamp++;
	CHECK_INT(note_cosig_verify(&cs, body, nb, &witness), -1);
	cs.timestamp--;
	body[nb - 2] ^= 1;
	CHECK_INT(note_cosig_verify(&cs, body, nb, &witness), -1);
	body[nb - 2] ^= 1;
	/* The message is "cosignature/v1\ntime <t>\n" || text. */
	{
		uint8_t msg[NOTE_MAX];
		int k = snprintf((char *)msg, sizeof(msg),
		                 "cosignature/v1\ntime 1700000001\n");
		memcpy(msg + k, body, nb);
		CHECK_INT(crypto_sign_verify_detached(cs.sig, msg,
		                                      (size_t)k + nb, wpk),
		          0);
	}
	ll = note_cosig_line(line, sizeof(line), &witness, &cs);
	/* "— " name " " base64 of 76 bytes (104 characters) "\n" */
	CHECK_INT(ll, 4 + strlen(witness.name) + 1 + 104 + 1);
	len = note_checkpoint_format(note, sizeof(note), &broker, &c);
	memcpy(note + len, line, ll);
	len += ll;
	CHECK_INT(note_split(&n, note, len, &err), KETEN_OK);
	CHECK_INT(n.n_sigs, 2);
	CHECK_INT(n.text_len, nb);
	CHECK((s = note_find(&n, &witness)) != NULL);
	CHECK(s == &n.sigs[1]);
	CHECK(note_find(&n, &other) == NULL);
	CHECK_INT(note_cosig_decode(&back, s), 0);
	CHECK(back.timestamp == 1700000001);
	CHECK(memcmp(back.sig, cs.sig, 64) == 0);
	CHECK_INT(note_cosig_verify(&back, n.text, n.text_len, &witness), 0);
	/* The broker's own line is not a cosignature (68 bytes, not 76). */
	CHECK_INT(note_cosig_decode(&back, &n.sigs[0]), -1);
	CHECK_INT(note_cosig_line(line, ll, &witness, &cs), 0);
}

static void
test_proof(void)
{
	static const uint8_t extra[5] = {1, 2, 3, 4, 5};
	char note[NOTE_CHECKPOINT_MAX];
	struct keten_checkpoint c;
	struct note_proof p, q;
	struct keten_error err;
	uint8_t *x;
	char *b, *t;
	size_t len;

	make_cp(&c);
	memset(&p, 0, sizeof(p));
	p.extra = extra;
	p.extra_len = sizeof(extra);
	p.index = 577;
	p.n_path = 3;
	for (int i = 0; i < 3; i++)
		seq_bytes(p.path[i], 32, (uint8_t)(i * 32));
	p.note = note;
	p.note_len = note_checkpoint_format(note, sizeof(note), &broker, &c);
	CHECK_INT(note_proof_format(&b, &len, &p), KETEN_OK);
	CHECK(memcmp(b,
	             "c2sp.org/tlog-proof@v1\nextra AQIDBAU=\nindex 577\n"
	             "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
	             93) == 0);
	CHECK_INT(note_proof_parse(&q, &x, b, len, &err), KETEN_OK);
	CHECK(x != NULL && q.extra == x && q.extra_len == 5);
	CHECK(x != NULL && memcmp(x, extra, 5) == 0);
	CHECK(q.index == 577 && q.n_path == 3);
	CHECK(memcmp(q.path, p.path, 3 * 32) == 0);
	CHECK_INT(q.note_len, p.note_len);
	CHECK(memcmp(q.note, note, p.note_len) == 0);
	free(x);
	/* Every truncation before the checkpoint is refused. */
	for (size_t l = 0; l < len - p.note_len; l++) {
		CHECK(note_proof_parse(&q, &x, b, l, &err) != KETEN_OK);
		CHECK(x == NULL);
	}
	/* Malformed lines. */
	if ((t = malloc(len + 64)) == NULL)
		abort();
	{
		static const struct {
			const char *old, *new;
		} bad[] = {
		    {"@v1", "@v2"},
		    {"index 577", "index 0577"},
		    {"index 577", "index -1"},
		    {"index 577", "idx 577"},
		    {"extra AQIDBAU=", "extra AQIDBAV="},
		    {"extra AQIDBAU=", "extra AQIDBA"},
		    {"Hh8=\n", "Hh8=x\n"},
		    {"Hh8=\n", "Hh8\n"},
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			size_t m =
			    edit(t, len + 64, b, len, bad[i].old, bad[i].new);
			CHECK(note_proof_parse(&q, &x, t, m, &err) != KETEN_OK);
			CHECK(x == NULL);
		}
	}
	free(t);
	free(b);
	/* No extra, no path; 65 hashes refused. */
	p.extra = NULL;
	p.extra_len = 0;
	p.n_path = 0;
	CHECK_INT(note_proof_format(&b, &len, &p), KETEN_OK);
	CHECK(memcmp(b, "c2sp.org/tlog-proof@v1\nindex 577\n\nketen/", 40) ==
	      0);
	CHECK_INT(note_proof_parse(&q, &x, b, len, &err), KETEN_OK);
	CHECK(x == NULL && q.extra == NULL && q.n_path == 0);
	free(b);
	p.n_path = MERKLE_PATH_MAX;
	CHECK_INT(note_proof_format(&b, &len, &p), KETEN_OK);
	CHECK_INT(note_proof_parse(&q, &x, b, len, &err), KETEN_OK);
	CHECK_INT(q.n_path, MERKLE_PATH_MAX);
	{
		size_t hl = NOTE_B64_LEN(32) + 1, at = 33, m = len + hl;
		if ((t = malloc(m)) == NULL)
			abort();
		memcpy(t, b, at);
		memcpy(t + at, b + at, hl); /* one hash line twice */
		memcpy(t + at + hl, b + at, len - at);
		CHECK(note_proof_parse(&q, &x, t, m, &err) != KETEN_OK);
		free(t);
	}
	free(b);
}

int
main(void)
{
	uint8_t seed[32];

	if (sodium_init() < 0)
		return 1;
	seq_bytes(seed, 32, 0x20);
	crypto_sign_seed_keypair(bpk, bsk, seed);
	seq_bytes(seed, 32, 0x40);
	crypto_sign_seed_keypair(wpk, wsk, seed);
	memset(seed, 0x99, 32);
	crypto_sign_seed_keypair(opk, osk, seed);
	CHECK_INT(note_broker_key(&broker, "flevoland", bpk), 0);
	CHECK_INT(note_key_init(&witness, "witness.example/auditor",
	                        NOTE_COSIG_V1, wpk),
	          0);
	CHECK_INT(note_broker_key(&other, "flevoland", opk), 0);
	test_b64();
	test_key_id();
	test_checkpoint();
	test_checkpoint_roster();
	test_checkpoint_malformed();
	test_cosig();
	test_proof();
	return check_done("test_note");
}
