/*
 * Fetching this agency's messages, verifying each sender's signature and
 * content hash, and opening the sealed content. Plaintext is wiped when the
 * inbox is freed. Never lets an acknowledgement pass a message that did
 * not verify, unless it was skipped as proven forged and recorded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "chain.h"
#include "client.h"
#include "clock.h"
#include "envelope.h"
#include "record.h"
#include "roster.h"

struct inbox_priv {
	struct content *contents;
	uint64_t gen;       /* the client's refresh_gen when verified */
	uint64_t ack_limit; /* keten_inbox_ack_limit */
};

static void bad(struct keten_message *m, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
bad(struct keten_message *m, int code, const char *fmt, ...)
{
	va_list ap;

	m->status = code;
	va_start(ap, fmt);
	vsnprintf(m->status_message, sizeof(m->status_message), fmt, ap);
	va_end(ap);
}

/* Why a delivered message is refused, around its signer's id ("" when
 * the envelope does not decode): all KETEN_E_SENDER_SIG. */
static const struct {
	const char *before, *after;
} refusal[RECORD_N_FAULTS] = {
    [RECORD_UNDECODABLE] = {"the envelope does not decode", ""},
    [RECORD_UNKNOWN_SIGNER] = {"signer '",
                               "' is not in the region roster this client "
                               "knows"},
    [RECORD_BADSIG] = {"the signature of ",
                       " does not verify with its key in the region roster"},
    [RECORD_BADBODY] = {"the body from ", " is invalid"},
    [RECORD_NOT_SENDER] = {"the body signed by ", " names another sender"},
};

static void
open_one(struct keten_message *m, struct content *ct, struct keten_client *c,
         const struct delivered *d)
{
	struct signed_record o;
	struct record_roster roster;
	const struct body *b = &o.body;
	struct keten_error tmp;
	struct record rec;
	uint8_t hash[32], *plain = NULL;
	size_t plain_len;
	int rc;

	m->seq = d->seq;
	m->received_at_us = d->received_at_us;
	memcpy(m->record_hash, d->record_hash, 32);
	rec.seq = d->seq;
	memcpy(rec.prev_hash, d->prev_hash, 32);
	rec.received_at_us = d->received_at_us;
	rec.envelope = d->envelope;
	rec.envelope_len = d->envelope_len;
	chain_record_hash_of(hash, &rec);
	if (sodium_memcmp(hash, d->record_hash, 32) != 0) {
		bad(m, KETEN_E_SENDER_SIG,
		    "record %llu's hash does not match its envelope",
		    (unsigned long long)d->seq);
		return;
	}
	/* Against the roster in force at its seq (PROTOCOL.md 22.4); a
	 * signer or key we do not know may be one recorded since we
	 * fetched the roster: judged again once after a fetch. */
	if ((rc = client_roster_sync(c, &tmp)) != KETEN_OK) {
		bad(m, KETEN_E_SENDER_SIG,
		    "the region's roster could not be read to verify it: %s",
		    tmp.message);
		return;
	}
	roster = roster_record_roster(c->roster);
	rc = record_open(&o, &roster, d->seq, d->envelope, d->envelope_len,
	                 RECORD_SIG_CHECK, &tmp);
	if ((o.fault == RECORD_UNKNOWN_SIGNER || o.fault == RECORD_BADSIG) &&
	    client_roster_newer(c)) {
		roster = roster_record_roster(c->roster);
		rc = record_open(&o, &roster, d->seq, d->envelope,
		                 d->envelope_len, RECORD_SIG_CHECK, &tmp);
	}
	strcpy(m->sender, o.signer); /* "" if the envelope does not decode */
	if (rc != KETEN_OK && o.fault == RECORD_UNKNOWN_SIGNER) {
		/* The roster's own reason: never a member, not yet, left or
		 * revoked at record N. */
		bad(m, KETEN_E_SENDER_SIG,
		    "signer '%s' is not in the region roster at this record: "
		    "%s",
		    o.signer, tmp.message);
		m->forged = false;
		return;
	}
	if (rc != KETEN_OK) {
		bad(m, KETEN_E_SENDER_SIG, "%s%s%s", refusal[o.fault].before,
		    o.signer, refusal[o.fault].after);
		/* Proof of forgery: a signer the roster knows whose key
		 * does not sign it, or a body that claims another sender.
		 * An unknown signer may only be one we have not heard of. */
		m->forged =
		    o.fault == RECORD_BADSIG || o.fault == RECORD_NOT_SENDER;
		return;
	}
	m->type = b->type;
	strcpy(m->recipient, b->h.recipient);
	memcpy(m->message_id, b->h.message_id, KETEN_MSG_ID_LEN);
	memcpy(m->case_id, b->h.case_id, KETEN_CASE_ID_LEN);
	m->sent_at_us = b->h.sent_at_us;
	if (b->type == KETEN_MSG_REFERRAL || b->type == KETEN_MSG_HANDOVER) {
		m->urgency = (enum keten_urgency)b->u.offer.urgency;
		m->respond_by_us = b->u.offer.respond_by_us;
	}
	m->has_offer_id = b->has_offer_id;
	memcpy(m->offer_id, b->offer_id, KETEN_MSG_ID_LEN);
	if (b->type == KETEN_MSG_DECLINE)
		m->reason = b->u.decline_reason;
	if (b->type == KETEN_MSG_CLOSE)
		m->outcome = b->u.outcome;
	/* A close is addressed to no one: the broker gives it to every
	 * party of the case. */
	if (b->type != KETEN_MSG_CLOSE &&
	    strcmp(b->h.recipient, c->me->id) != 0) {
		bad(m, KETEN_E_RECIPIENT, "addressed to %s, not to us",
		    b->h.recipient);
		return;
	}
	m->status = KETEN_OK;
	if (!b->has_content)
		return;
	if (d->sealed_len == 0) { /* destroyed: the record still verifies */
		snprintf(m->status_message, sizeof(m->status_message),
		         "content destroyed");
		return;
	}
	envelope_content_hash(hash, d->sealed, d->sealed_len);
	if (sodium_memcmp(hash, b->content_hash, 32) != 0) {
		bad(m, KETEN_E_CONTENT_HASH,
		    "the content does not match what %s signed", o.signer);
		return;
	}
	/* Sealed to the box key in force when it was sent: the current
	 * one, or an earlier key file the caller gave. */
	rc = envelope_open(&plain, &plain_len, d->sealed, d->sealed_len,
	                   c->keys->box_pk, c->keys->box_sk);
	for (size_t k = 0; rc != KETEN_OK && k < c->n_old_keys; k++)
		rc = envelope_open(&plain, &plain_len, d->sealed, d->sealed_len,
		                   c->old_keys[k]->box_pk,
		                   c->old_keys[k]->box_sk);
	if (rc != KETEN_OK) {
		bad(m, KETEN_E_DECRYPT,
		    "the content cannot be opened with %s's "
		    "box key%s",
		    c->me->id,
		    c->n_old_keys > 0 ? " nor with the earlier key files given"
		                      : "");
		return;
	}
	if (wire_content_decode(ct, b->type, plain, plain_len, &tmp) !=
	    KETEN_OK)
		bad(m, KETEN_E_DECRYPT, "the opened content does not fit a %s",
		    keten_message_type_name(b->type));
	else if (b->type == KETEN_MSG_REFERRAL)
		m->content = &ct->referral;
	else if (b->type == KETEN_MSG_HANDOVER)
		m->dossier = &ct->dossier;
	else
		m->note = ct->note;
	sodium_memzero(plain, plain_len);
	free(plain);
}

/* Whether m may be handed on: it verified, or it is the one skipped. */
static bool
inbox_passes(const struct keten_client *c, const struct keten_message *m)
{
	return m->status == KETEN_OK || (c->skipped && m->seq == c->skipped);
}

/* Moves the client's stop by in's messages from index i on, and sets
 * in's ack limit: the last seq before both the first message in it that
 * did not verify and the client's stop. A message seen failing anew
 * starts its stop at this refresh generation; one that verifies now
 * lifts it. */
static void
inbox_stop(struct keten_client *c, struct keten_inbox *in, size_t i)
{
	struct inbox_priv *priv = in->priv;

	for (; i < in->n; i++) {
		const struct keten_message *m = &in->messages[i];

		if (inbox_passes(c, m)) {
			if (m->seq == c->stop.seq)
				c->stop.seq = 0;
			continue;
		}
		if (c->stop.seq == 0 || m->seq < c->stop.seq) {
			c->stop.seq = m->seq;
			c->stop.gen = priv->gen;
		}
		if (m->seq == c->stop.seq)
			snprintf(c->stop.why, sizeof(c->stop.why), "%s",
			         m->status_message);
		break;
	}
	priv->ack_limit = 0;
	for (size_t j = 0; j < in->n; j++) {
		const struct keten_message *m = &in->messages[j];
		if (!inbox_passes(c, m) ||
		    (c->stop.seq != 0 && m->seq >= c->stop.seq))
			break;
		priv->ack_limit = m->seq;
	}
}

/* The inbox of a fetch reply r (which it clears), each message verified
 * and opened. Messages must ascend, each after `after`. */
static int
inbox_of(struct keten_inbox **out, struct keten_client *c, struct reply *r,
         uint64_t after, struct keten_error *err)
{
	struct keten_inbox *in;
	struct inbox_priv *priv;
	size_t n = r->fetch.n;

	for (size_t i = 0; i < n; i++) {
		if (r->fetch.items[i].seq <= after) {
			uint64_t seq = r->fetch.items[i].seq;
			wire_reply_clear(r);
			return error_set(
			    err, KETEN_E_MALFORMED,
			    "the broker delivered record %llu, which "
			    "is not after record %llu",
			    (unsigned long long)seq, (unsigned long long)after);
		}
		after = r->fetch.items[i].seq;
	}
	if (n > 0 && !r->fetch.has_cp) {
		wire_reply_clear(r);
		return error_set(
		    err, KETEN_E_RECEIPT,
		    "the broker delivered records without a signed "
		    "checkpoint");
	}
	in = calloc(1, sizeof(*in));
	priv = calloc(1, sizeof(*priv));
	if (in == NULL || priv == NULL ||
	    (n > 0 &&
	     ((in->messages = calloc(n, sizeof(*in->messages))) == NULL ||
	      (priv->contents = calloc(n, sizeof(*priv->contents))) == NULL))) {
		if (in)
			free(in->messages);
		free(in);
		if (priv)
			free(priv->contents);
		free(priv);
		wire_reply_clear(r);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	in->priv = priv;
	in->n = n;
	in->cursor = r->fetch.cursor;
	in->more = r->fetch.more;
	/* Each record in the log the broker signed, before anything of it
	 * is believed. */
	for (size_t i = 0; i < n; i++) {
		const struct delivered *d = &r->fetch.items[i];
		int rc = client_proof(&in->messages[i].proof, c, d->seq,
		                      d->record_hash, &r->fetch.cp,
		                      (const uint8_t(*)[32])d->path, d->n_path,
		                      &c->sent, &r->consistency, err);
		if (rc != KETEN_OK) {
			wire_reply_clear(r);
			keten_inbox_free(&in);
			return rc;
		}
	}
	for (size_t i = 0; i < n; i++)
		open_one(&in->messages[i], &priv->contents[i], c,
		         &r->fetch.items[i]);
	wire_reply_clear(r);
	priv->gen = c->refresh_gen;
	inbox_stop(c, in, 0);
	*out = in;
	return KETEN_OK;
}

static int
not_fetch(struct reply *r, struct keten_error *err)
{
	wire_reply_clear(r);
	return error_set(err, KETEN_E_MALFORMED,
	                 "the broker answered a fetch with something else");
}

int
keten_fetch(struct keten_inbox **out, struct keten_client *c, size_t max,
            struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_FETCH};
	struct reply r;
	int rc;

	error_clear(err);
	req.fetch_max = max > 1024 ? 1024 : (uint32_t)max;
	if ((rc = client_call(c, &r, &req, err)) != KETEN_OK)
		return rc;
	if (r.kind != WIRE_REP_FETCH)
		return not_fetch(&r, err);
	return inbox_of(out, c, &r, r.fetch.cursor, err);
}

void
keten_subscribe(struct keten_client *c, uint64_t after_seq)
{
	c->sub_after = after_seq;
}

uint64_t
keten_subscription(const struct keten_client *c)
{
	return c->sub_after;
}

int
keten_receive(struct keten_inbox **out, struct keten_client *c, size_t max,
              int wait_ms, struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_FETCH};
	struct reply r;
	uint64_t after;
	int rc;

	error_clear(err);
	memset(&r, 0, sizeof(r));
	if (wait_ms < 0 || wait_ms > KETEN_WAIT_MAX_MS)
		return error_set(err, KETEN_E_USAGE,
		                 "wait_ms is %d; it must be 0 to %d", wait_ms,
		                 KETEN_WAIT_MAX_MS);
	req.fetch_max = max > 1024 ? 1024 : (uint32_t)max;
	req.fetch_after = c->sub_after;
	req.wait_ms = (uint32_t)wait_ms;
	rc = client_call_until(
	    c, &r, &req,
	    clock_mono_us() + ((int64_t)wait_ms + c->timeout_ms) * 1000, err);
	if (rc != KETEN_OK) {
		wire_reply_clear(&r);
		return rc;
	}
	if (r.kind != WIRE_REP_FETCH)
		return not_fetch(&r, err);
	after = c->sub_after > r.fetch.cursor ? c->sub_after : r.fetch.cursor;
	if ((rc = inbox_of(out, c, &r, after, err)) != KETEN_OK)
		return rc;
	c->sub_after =
	    (*out)->n > 0 ? (*out)->messages[(*out)->n - 1].seq : after;
	return KETEN_OK;
}

void
keten_inbox_free(struct keten_inbox **inp)
{
	struct keten_inbox *in;
	struct inbox_priv *priv;

	if (inp == NULL || (in = *inp) == NULL)
		return;
	priv = in->priv;
	for (size_t i = 0; i < in->n; i++)
		wire_content_clear(&priv->contents[i]);
	free(priv->contents);
	free(priv);
	free(in->messages);
	free(in);
	*inp = NULL;
}

uint64_t
keten_inbox_ack_limit(const struct keten_inbox *in)
{
	const struct inbox_priv *priv = in->priv;

	return priv->ack_limit;
}

/* Appends one line for m to the client's skip file and makes it durable:
 * a skip nobody can find later would be an acknowledgement unread. */
static int
skip_record(const struct keten_client *c, const struct keten_message *m,
            struct keten_error *err)
{
	char hash[KETEN_HASH_LEN * 2 + 1], at[32], line[KETEN_ERROR_MAX + 256];
	time_t now = time(NULL);
	struct tm tm;
	size_t len, off = 0;
	int fd, n;

	keten_hex(hash, m->record_hash, KETEN_HASH_LEN);
	gmtime_r(&now, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(
	    line, sizeof(line), "%s seq=%llu record=%s signer=%s reason=%s\n",
	    at, (unsigned long long)m->seq, hash, m->sender, m->status_message);
	if (n <= 0)
		return error_set(err, KETEN_E_INTERNAL, "cannot format a line");
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	for (size_t i = 0; i + 1 < len; i++) /* one line, whatever it says */
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	line[len - 1] = '\n';
	if ((fd = open(c->skip_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	               0600)) < 0)
		return error_set(err, KETEN_E_IO, "cannot open %s: %s",
		                 c->skip_path, strerror(errno));
	while (off < len) {
		ssize_t w = write(fd, line + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off < len || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		return error_set(err, KETEN_E_IO, "cannot write %s: %s",
		                 c->skip_path, strerror(e));
	}
	if (close(fd) != 0)
		return error_set(err, KETEN_E_IO, "cannot write %s: %s",
		                 c->skip_path, strerror(errno));
	return KETEN_OK;
}

int
keten_inbox_skip_forged(struct keten_inbox *in, size_t i,
                        struct keten_client *c, struct keten_error *err)
{
	const struct inbox_priv *priv;
	const struct keten_message *m;
	int rc;

	error_clear(err);
	if (in == NULL || c == NULL || i >= in->n)
		return error_set(err, KETEN_E_USAGE,
		                 "no such message in this inbox");
	priv = in->priv;
	m = &in->messages[i];
	if (m->status == KETEN_OK)
		return error_set(err, KETEN_E_USAGE,
		                 "message #%llu verified; there is nothing to "
		                 "skip",
		                 (unsigned long long)m->seq);
	if (!m->forged)
		return error_set(
		    err, KETEN_E_USAGE,
		    "message #%llu is not proven forged (%s); it may not be "
		    "skipped",
		    (unsigned long long)m->seq, m->status_message);
	if (m->seq != c->stop.seq)
		return error_set(err, KETEN_E_USAGE,
		                 "message #%llu is not the first this client "
		                 "could not verify; skip in order",
		                 (unsigned long long)m->seq);
	if (priv->gen <= c->stop.gen)
		return error_set(
		    err, KETEN_E_USAGE,
		    "message #%llu has not been verified again since a "
		    "roster refresh; call keten_client_refresh and receive it "
		    "again before skipping it",
		    (unsigned long long)m->seq);
	if ((rc = skip_record(c, m, err)) != KETEN_OK)
		return rc;
	c->skipped = m->seq;
	c->stop.seq = 0;
	inbox_stop(c, in, i + 1);
	return KETEN_OK;
}

int
keten_ack(uint64_t *cursor, struct keten_client *c, uint64_t seq,
          struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_ACK};
	struct reply r;
	int rc;

	error_clear(err);
	if (c->stop.seq != 0 && seq >= c->stop.seq)
		return error_set(
		    err, KETEN_E_USAGE,
		    "acknowledging up to #%llu would pass message #%llu, "
		    "which this client could not verify (%s); it is not "
		    "acknowledged. Refresh the roster (keten_client_refresh), "
		    "receive it again, and acknowledge only up to "
		    "keten_inbox_ack_limit",
		    (unsigned long long)seq, (unsigned long long)c->stop.seq,
		    c->stop.why);
	req.ack_seq = seq;
	if ((rc = client_call(c, &r, &req, err)) != KETEN_OK)
		return rc;
	if (r.kind != WIRE_REP_ACK)
		rc =
		    error_set(err, KETEN_E_MALFORMED,
		              "the broker answered an ack with something else");
	else if (cursor)
		*cursor = r.ack_cursor;
	wire_reply_clear(&r);
	return rc;
}
