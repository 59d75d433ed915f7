/* Signed notes, checkpoints, cosignatures and proof bundles, byte for
 * byte as PROTOCOL.md 10 says; never reads a file or trusts a length. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bytes.h"
#include "note.h"

#define B64 sodium_base64_VARIANT_ORIGINAL

static const char em_dash[] = "\xe2\x80\x94 "; /* "— ", 4 bytes */
static const char cosig_tag[] = "cosignature/v1\n";
static const char proof_tag[] = "c2sp.org/tlog-proof@v1\n";
/* The longest bundle note_proof_parse reads. */
#define NOTE_PROOF_MAX KETEN_PROOF_BUNDLE_MAX

/* A key name: non-empty, no whitespace, no '+' (signed-note). */
static bool
valid_name(const char *s, size_t len)
{
	if (len == 0 || len > NOTE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == '+' ||
		    (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

void
note_key_id(uint8_t out[NOTE_KEY_ID], const char *name, uint8_t type,
            const uint8_t pk[32])
{
	crypto_hash_sha256_state st;
	uint8_t h[32], sep[2] = {'\n', type};

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
	crypto_hash_sha256_update(&st, sep, 2);
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	memcpy(out, h, NOTE_KEY_ID);
}

int
note_key_init(struct note_key *k, const char *name, uint8_t type,
              const uint8_t pk[32])
{
	size_t len = strlen(name);

	memset(k, 0, sizeof(*k));
	if (!valid_name(name, len))
		return -1;
	memcpy(k->name, name, len);
	memcpy(k->pk, pk, 32);
	note_key_id(k->id, k->name, type, pk);
	return 0;
}

int
note_broker_key(struct note_key *k, const char *region, const uint8_t pk[32])
{
	char name[sizeof(NOTE_ORIGIN) + KETEN_ID_MAX];
	size_t len = strlen(region);

	memset(k, 0, sizeof(*k));
	if (len == 0 || len > KETEN_ID_MAX)
		return -1;
	memcpy(name, NOTE_ORIGIN, sizeof(NOTE_ORIGIN) - 1);
	memcpy(name + sizeof(NOTE_ORIGIN) - 1, region, len + 1);
	return note_key_init(k, name, NOTE_ED25519, pk);
}

void
note_b64_encode(char *out, size_t cap, const uint8_t *bin, size_t len)
{
	sodium_bin2base64(out, cap, bin, len, B64);
}

/* Decodes canonical padded base64 of any length into out (cap bytes);
 * *len gets the byte count. Only the last group can be non-canonical
 * (bits below the padding), so it alone is re-encoded and compared. */
static int
b64_decode(uint8_t *out, size_t cap, size_t *len, const char *b64,
           size_t b64_len)
{
	const char *end;
	char again[5];
	size_t n, tail;

	*len = 0;
	if (b64_len == 0 || b64_len % 4 != 0 || b64_len / 4 * 3 > cap + 2)
		return -1;
	if (sodium_base642bin(out, cap, b64, b64_len, NULL, &n, &end, B64) !=
	        0 ||
	    end != b64 + b64_len || n == 0)
		return -1;
	tail = n - (b64_len / 4 - 1) * 3;
	if (tail < 1 || tail > 3)
		return -1;
	sodium_bin2base64(again, sizeof(again), out + n - tail, tail, B64);
	if (memcmp(again, b64 + b64_len - 4, 4) != 0)
		return -1;
	*len = n;
	return 0;
}

int
note_b64_decode(uint8_t *out, size_t want, const char *b64, size_t b64_len)
{
	size_t n;

	if (want == 0 || b64_len != NOTE_B64_LEN(want) ||
	    b64_decode(out, want, &n, b64, b64_len) != 0 || n != want)
		return -1;
	return 0;
}

/* Well-formed UTF-8 with no control character but "\n"; the offset of
 * the first bad byte, or len. */
static size_t
text_check(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], need;
		uint32_t cp;
		if (c < 0x80) {
			if ((c < 0x20 && c != '\n') || c == 0x7f)
				return i;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return i;
		}
		if (len - i <= need)
			return i;
		for (unsigned j = 1; j <= need; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		/* overlong, surrogate or beyond U+10FFFF */
		if ((need == 2 &&
		     (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0x80 && cp <= 0x9f)) /* C1 controls */
			return i;
		i += need + 1;
	}
	return len;
}

/* One signature line, without its "\n": "— <name> <base64>". */
static int
split_sig(struct note_sig *s, const char *line, size_t len,
          struct keten_error *err, size_t no)
{
	uint8_t bin[NOTE_MAX];
	const char *sp;
	size_t n;

	if (len < sizeof(em_dash) - 1 ||
	    memcmp(line, em_dash, sizeof(em_dash) - 1) != 0)
		return error_set(err, KETEN_E_MALFORMED,
		                 "signature line %zu does not start with "
		                 "an em dash and a space",
		                 no);
	line += sizeof(em_dash) - 1;
	len -= sizeof(em_dash) - 1;
	if ((sp = memchr(line, ' ', len)) == NULL)
		return error_set(err, KETEN_E_MALFORMED,
		                 "signature line %zu has no signature after "
		                 "its key name",
		                 no);
	s->name = line;
	s->name_len = (size_t)(sp - line);
	s->b64 = sp + 1;
	s->b64_len = len - s->name_len - 1;
	if (!valid_name(s->name, s->name_len))
		return error_set(err, KETEN_E_MALFORMED,
		                 "signature line %zu has an invalid key name",
		                 no);
	if (b64_decode(bin, sizeof(bin), &n, s->b64, s->b64_len) != 0 ||
	    n < NOTE_KEY_ID + 1)
		return error_set(err, KETEN_E_MALFORMED,
		                 "signature line %zu is not canonical base64 "
		                 "of a key ID and a signature",
		                 no);
	memcpy(s->id, bin, NOTE_KEY_ID);
	return KETEN_OK;
}

int
note_split(struct note *n, const char *buf, size_t len, struct keten_error *err)
{
	size_t bad, at = 0, cut = 0;
	int rc;

	memset(n, 0, sizeof(*n));
	if (len > NOTE_MAX)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the signed note has %zu bytes, more than %d",
		                 len, NOTE_MAX);
	if ((bad = text_check(buf, len)) != len)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the signed note has a control character or "
		                 "invalid UTF-8 at byte %zu",
		                 bad);
	/* The text ends at the last blank line; signature lines are never
	 * empty. */
	for (size_t i = len; i >= 2; i--)
		if (buf[i - 1] == '\n' && buf[i - 2] == '\n') {
			cut = i - 1;
			break;
		}
	if (cut < 2)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the signed note has no blank line before its "
		                 "signatures, or no text");
	if (len == 0 || buf[len - 1] != '\n')
		return error_set(err, KETEN_E_MALFORMED,
		                 "the signed note does not end in a newline");
	n->text = buf;
	n->text_len = cut;
	at = cut + 1;
	while (at < len) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t ll = (size_t)(nl - (buf + at));
		if (n->n_sigs == NOTE_SIGS_MAX)
			return error_set(err, KETEN_E_MALFORMED,
			                 "the signed note has more than %d "
			                 "signature lines",
			                 NOTE_SIGS_MAX);
		if ((rc = split_sig(&n->sigs[n->n_sigs], buf + at, ll, err,
		                    n->n_sigs + 1)) != KETEN_OK)
			return rc;
		n->n_sigs++;
		at += ll + 1;
	}
	if (n->n_sigs == 0)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the signed note has no signature line");
	return KETEN_OK;
}

const struct note_sig *
note_find(const struct note *n, const struct note_key *k)
{
	size_t len = strlen(k->name);

	for (size_t i = 0; i < n->n_sigs; i++) {
		const struct note_sig *s = &n->sigs[i];
		if (s->name_len == len && memcmp(s->name, k->name, len) == 0 &&
		    memcmp(s->id, k->id, NOTE_KEY_ID) == 0)
			return s;
	}
	return NULL;
}

/* ---- checkpoints ---- */

size_t
note_checkpoint_body(char *out, size_t cap, const char *origin,
                     const struct keten_checkpoint *c)
{
	char root[NOTE_B64_LEN(32) + 1], head[NOTE_B64_LEN(32) + 1],
	    access[NOTE_B64_LEN(32) + 1];
	int n;

	note_b64_encode(root, sizeof(root), c->root, 32);
	note_b64_encode(head, sizeof(head), c->head_hash, 32);
	note_b64_encode(access, sizeof(access), c->access_head, 32);
	n = snprintf(out, cap,
	             "%s\n%" PRIu64 "\n%s\nhead %s\naccess %" PRIu64
	             " %s\ntime %" PRId64 "\n",
	             origin, c->size, root, head, c->access_size, access,
	             c->signed_at_us);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	/* The last extension line, from storage schema 6 on (PROTOCOL.md
	 * 22): none for 0, so an older note reads back as roster 0. */
	if (c->roster_seq != 0) {
		int m = snprintf(out + n, cap - (size_t)n,
		                 "roster %" PRIu64 "\n", c->roster_seq);
		if (m < 0 || (size_t)m >= cap - (size_t)n)
			return 0;
		n += m;
	}
	return (size_t)n;
}

size_t
note_checkpoint_format(char *out, size_t cap, const struct note_key *k,
                       const struct keten_checkpoint *c)
{
	uint8_t sig[NOTE_KEY_ID + 64];
	char b64[NOTE_B64_LEN(sizeof(sig)) + 1];
	size_t n = note_checkpoint_body(out, cap, k->name, c);
	int m;

	if (n == 0)
		return 0;
	memcpy(sig, k->id, NOTE_KEY_ID);
	memcpy(sig + NOTE_KEY_ID, c->signature, 64);
	note_b64_encode(b64, sizeof(b64), sig, sizeof(sig));
	m = snprintf(out + n, cap - n, "\n%s%s %s\n", em_dash, k->name, b64);
	return m < 0 || (size_t)m >= cap - n ? 0 : n + (size_t)m;
}

void
note_checkpoint_sign(struct keten_checkpoint *c, const char *origin,
                     const uint8_t sk[64])
{
	char text[NOTE_CHECKPOINT_BODY_MAX];
	size_t n = note_checkpoint_body(text, sizeof(text), origin, c);

	/* An origin too long for a body (config_load refuses one): never
	 * a signature over nothing, but one that verifies nowhere. */
	if (n == 0) {
		memset(c->signature, 0, sizeof(c->signature));
		return;
	}
	crypto_sign_detached(c->signature, NULL, (const uint8_t *)text, n, sk);
}

int
note_checkpoint_verify(const struct keten_checkpoint *c,
                       const struct note_key *k)
{
	char text[NOTE_CHECKPOINT_BODY_MAX];
	size_t n = note_checkpoint_body(text, sizeof(text), k->name, c);

	if (n == 0)
		return -1;
	return crypto_sign_verify_detached(c->signature, (const uint8_t *)text,
	                                   n, k->pk) == 0
	           ? 0
	           : -1;
}

bool
note_checkpoint_same(const struct keten_checkpoint *a,
                     const struct keten_checkpoint *b)
{
	return a->size == b->size && a->access_size == b->access_size &&
	       a->signed_at_us == b->signed_at_us &&
	       memcmp(a->head_hash, b->head_hash, 32) == 0 &&
	       memcmp(a->root, b->root, 32) == 0 &&
	       a->roster_seq == b->roster_seq &&
	       memcmp(a->access_head, b->access_head, 32) == 0 &&
	       memcmp(a->signature, b->signature, 64) == 0;
}

/* A decimal of at most 20 digits, no sign, no leading zero; the bytes
 * it took, or 0. */
static size_t
read_u64(uint64_t *v, const char *s, size_t len)
{
	size_t i = 0;

	*v = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		unsigned d = (unsigned)(s[i] - '0');
		if (*v > (UINT64_MAX - d) / 10)
			return 0;
		*v = *v * 10 + d;
		i++;
	}
	if (i == 0 || (i > 1 && s[0] == '0'))
		return 0;
	return i;
}

/* The next line of [*p, end) without its "\n", or NULL at the end. */
static const char *
next_line(const char **p, const char *end, size_t *len)
{
	const char *s = *p, *nl;

	if (s >= end || (nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
		return NULL;
	*len = (size_t)(nl - s);
	*p = nl + 1;
	return s;
}

/* "<prefix><decimal>" exactly. */
static int
read_num_line(uint64_t *v, const char *line, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);

	return len > pl && memcmp(line, prefix, pl) == 0 &&
	               read_u64(v, line + pl, len - pl) == len - pl
	           ? 0
	           : -1;
}

/* "<prefix><base64 of 32 bytes>" exactly. */
static int
read_hash_line(uint8_t out[32], const char *line, size_t len,
               const char *prefix)
{
	size_t pl = strlen(prefix);

	return len == pl + NOTE_B64_LEN(32) && memcmp(line, prefix, pl) == 0 &&
	               note_b64_decode(out, 32, line + pl, len - pl) == 0
	           ? 0
	           : -1;
}

/* Reads the text of a checkpoint note into c (not its signature). */
static int
checkpoint_text(struct keten_checkpoint *c, const char *text, size_t len,
                const char *origin, struct keten_error *err)
{
	const char *p = text, *end = text + len, *l;
	size_t ll;
	uint64_t t;

	if ((l = next_line(&p, end, &ll)) == NULL || ll != strlen(origin) ||
	    memcmp(l, origin, ll) != 0)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the checkpoint's origin line is not \"%s\"",
		                 origin);
	if ((l = next_line(&p, end, &ll)) == NULL ||
	    read_num_line(&c->size, l, ll, "") != 0)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the checkpoint's second line is not a tree "
		                 "size in decimal without leading zeros");
	if ((l = next_line(&p, end, &ll)) == NULL ||
	    read_hash_line(c->root, l, ll, "") != 0)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the checkpoint's third line is not the "
		                 "base64 of a 32-byte root hash");
	if ((l = next_line(&p, end, &ll)) == NULL ||
	    read_hash_line(c->head_hash, l, ll, "head ") != 0)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the checkpoint's fourth line is not \"head\" "
		                 "and the base64 of a 32-byte hash");
	if ((l = next_line(&p, end, &ll)) == NULL || ll < 7 ||
	    memcmp(l, "access ", 7) != 0 ||
	    (t = read_u64(&c->access_size, l + 7, ll - 7)) == 0 ||
	    read_hash_line(c->access_head, l + 7 + t, ll - 7 - t, " ") != 0)
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the checkpoint's fifth line is not \"access\", "
		    "a decimal size and the base64 of a hash");
	if ((l = next_line(&p, end, &ll)) == NULL ||
	    read_num_line(&t, l, ll, "time ") != 0 || t > INT64_MAX)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the checkpoint's sixth line is not \"time\" "
		                 "and microseconds in decimal");
	c->signed_at_us = (int64_t)t;
	if ((l = next_line(&p, end, &ll)) != NULL &&
	    (read_num_line(&c->roster_seq, l, ll, "roster ") != 0 ||
	     c->roster_seq == 0 || c->roster_seq > c->size))
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the checkpoint's seventh line is not \"roster\" "
		    "and the seq of a roster record within its size");
	if (p != end)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the checkpoint has more than seven lines");
	return KETEN_OK;
}

int
note_checkpoint_parse(struct keten_checkpoint *c, const char *buf, size_t len,
                      const struct note_key *k, struct keten_error *err)
{
	char again[NOTE_CHECKPOINT_BODY_MAX];
	uint8_t sig[NOTE_KEY_ID + 64];
	const struct note_sig *s;
	struct note n;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((rc = note_split(&n, buf, len, err)) != KETEN_OK)
		return rc;
	if ((rc = checkpoint_text(c, n.text, n.text_len, k->name, err)) !=
	    KETEN_OK)
		return rc;
	/* Each field was read strictly; this catches anything else. */
	if (note_checkpoint_body(again, sizeof(again), k->name, c) !=
	        n.text_len ||
	    memcmp(again, n.text, n.text_len) != 0)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the checkpoint's text is not in canonical "
		                 "form");
	if ((s = note_find(&n, k)) == NULL)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the checkpoint carries no signature by %s "
		                 "with key ID %02x%02x%02x%02x",
		                 k->name, k->id[0], k->id[1], k->id[2],
		                 k->id[3]);
	if (note_b64_decode(sig, sizeof(sig), s->b64, s->b64_len) != 0)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the signature by %s is not an Ed25519 "
		                 "signature",
		                 k->name);
	memcpy(c->signature, sig + NOTE_KEY_ID, 64);
	return KETEN_OK;
}

/* ---- cosignatures ---- */

/* "cosignature/v1\ntime <timestamp>\n" || text, in out (NOTE_MAX + 64). */
static size_t
cosig_message(uint8_t *out, size_t cap, uint64_t timestamp, const char *text,
              size_t text_len)
{
	int n = snprintf((char *)out, cap, "%stime %" PRIu64 "\n", cosig_tag,
	                 timestamp);

	if (n < 0 || (size_t)n + text_len > cap)
		return 0;
	memcpy(out + n, text, text_len);
	return (size_t)n + text_len;
}

void
note_cosig_sign(struct note_cosig *cs, uint64_t timestamp, const char *text,
                size_t text_len, const uint8_t sk[64])
{
	uint8_t msg[NOTE_MAX + 64];
	size_t n = cosig_message(msg, sizeof(msg), timestamp, text, text_len);

	cs->timestamp = timestamp;
	/* A text beyond NOTE_MAX (note_split refuses one): as above. */
	if (n == 0) {
		memset(cs->sig, 0, sizeof(cs->sig));
		return;
	}
	crypto_sign_detached(cs->sig, NULL, msg, n, sk);
}

int
note_cosig_verify(const struct note_cosig *cs, const char *text,
                  size_t text_len, const struct note_key *k)
{
	uint8_t msg[NOTE_MAX + 64];
	size_t n =
	    cosig_message(msg, sizeof(msg), cs->timestamp, text, text_len);

	if (n == 0)
		return -1;
	return crypto_sign_verify_detached(cs->sig, msg, n, k->pk) == 0 ? 0
	                                                                : -1;
}

size_t
note_cosig_line(char *out, size_t cap, const struct note_key *k,
                const struct note_cosig *cs)
{
	uint8_t bin[NOTE_COSIG_LEN];
	char b64[NOTE_B64_LEN(NOTE_COSIG_LEN) + 1];
	int n;

	memcpy(bin, k->id, NOTE_KEY_ID);
	bytes_put_be64(bin + NOTE_KEY_ID, cs->timestamp);
	memcpy(bin + NOTE_KEY_ID + 8, cs->sig, 64);
	note_b64_encode(b64, sizeof(b64), bin, sizeof(bin));
	n = snprintf(out, cap, "%s%s %s\n", em_dash, k->name, b64);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int
note_cosig_decode(struct note_cosig *cs, const struct note_sig *s)
{
	uint8_t bin[NOTE_COSIG_LEN];

	if (note_b64_decode(bin, sizeof(bin), s->b64, s->b64_len) != 0)
		return -1;
	cs->timestamp = bytes_get_be64(bin + NOTE_KEY_ID);
	memcpy(cs->sig, bin + NOTE_KEY_ID + 8, 64);
	return 0;
}

/* ---- proof bundles ---- */

int
note_proof_format(char **out, size_t *len, const struct note_proof *p)
{
	size_t cap, at;
	char *b;
	int n;

	*out = NULL;
	*len = 0;
	if (p->n_path > MERKLE_PATH_MAX || p->note_len > NOTE_MAX ||
	    p->extra_len > NOTE_PROOF_MAX / 2)
		return KETEN_E_USAGE;
	cap = sizeof(proof_tag) + 6 + NOTE_B64_LEN(p->extra_len) + 1 + 6 + 20 +
	      1 + p->n_path * (NOTE_B64_LEN(32) + 1) + 1 + p->note_len + 1;
	if ((b = malloc(cap)) == NULL)
		return KETEN_E_NOMEM;
	memcpy(b, proof_tag, sizeof(proof_tag) - 1);
	at = sizeof(proof_tag) - 1;
	if (p->extra != NULL && p->extra_len > 0) {
		memcpy(b + at, "extra ", 6);
		at += 6;
		note_b64_encode(b + at, cap - at, p->extra, p->extra_len);
		at += NOTE_B64_LEN(p->extra_len);
		b[at++] = '\n';
	}
	n = snprintf(b + at, cap - at, "index %" PRIu64 "\n", p->index);
	at += (size_t)n;
	for (size_t i = 0; i < p->n_path; i++) {
		note_b64_encode(b + at, cap - at, p->path[i], 32);
		at += NOTE_B64_LEN(32);
		b[at++] = '\n';
	}
	b[at++] = '\n';
	memcpy(b + at, p->note, p->note_len);
	at += p->note_len;
	*out = b;
	*len = at;
	return KETEN_OK;
}

int
note_proof_parse(struct note_proof *p, uint8_t **extra, const char *buf,
                 size_t len, struct keten_error *err)
{
	const char *s = buf, *end = buf + len, *l;
	size_t ll, n;

	memset(p, 0, sizeof(*p));
	*extra = NULL;
	if (len > NOTE_PROOF_MAX)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the proof has %zu bytes, more than %u", len,
		                 NOTE_PROOF_MAX);
	if ((l = next_line(&s, end, &ll)) == NULL ||
	    ll != sizeof(proof_tag) - 2 ||
	    memcmp(l, proof_tag, sizeof(proof_tag) - 2) != 0)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the first line is not \"c2sp.org/"
		                 "tlog-proof@v1\"");
	if ((l = next_line(&s, end, &ll)) != NULL && ll > 6 &&
	    memcmp(l, "extra ", 6) == 0) {
		size_t cap = (ll - 6) / 4 * 3;
		if ((*extra = malloc(cap > 0 ? cap : 1)) == NULL)
			return KETEN_E_NOMEM;
		if (b64_decode(*extra, cap, &n, l + 6, ll - 6) != 0) {
			free(*extra);
			*extra = NULL;
			return error_set(err, KETEN_E_MALFORMED,
			                 "the extra line is not canonical "
			                 "base64");
		}
		p->extra = *extra;
		p->extra_len = n;
		l = next_line(&s, end, &ll);
	}
	if (l == NULL || read_num_line(&p->index, l, ll, "index ") != 0)
		goto bad_index;
	while ((l = next_line(&s, end, &ll)) != NULL && ll > 0) {
		if (p->n_path == MERKLE_PATH_MAX ||
		    read_hash_line(p->path[p->n_path], l, ll, "") != 0) {
			free(*extra);
			*extra = NULL;
			return error_set(
			    err, KETEN_E_MALFORMED,
			    "proof line %zu is not the base64 of a "
			    "32-byte hash, or there are more than %d",
			    p->n_path + 1, MERKLE_PATH_MAX);
		}
		p->n_path++;
	}
	if (l == NULL || s == end) {
		free(*extra);
		*extra = NULL;
		return error_set(err, KETEN_E_MALFORMED,
		                 "the proof has no checkpoint after its "
		                 "empty line");
	}
	p->note = s;
	p->note_len = (size_t)(end - s);
	return KETEN_OK;
bad_index:
	free(*extra);
	*extra = NULL;
	return error_set(err, KETEN_E_MALFORMED,
	                 "no \"index\" line with a decimal leaf index "
	                 "without leading zeros");
}
