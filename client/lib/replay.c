/*
 * An auditor's replay of the log from a running broker: page by page,
 * every record verified by common/audit.c's stream before the caller
 * sees it. Never trusts the broker's hashes or its head.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "chain.h"
#include "client.h"
#include "clock.h"

#define REPLAY_PAGE 1024

void
client_record_public(struct keten_record *out, const struct audit_info *info)
{
	memset(out, 0, sizeof(*out));
	out->seq = info->seq;
	out->received_at_us = info->received_at_us;
	out->sent_at_us = info->sent_at_us;
	memcpy(out->record_hash, info->record_hash, 32);
	memcpy(out->prev_hash, info->prev_hash, 32);
	out->type = info->type;
	memcpy(out->sender, info->sender, sizeof(out->sender));
	memcpy(out->recipient, info->recipient, sizeof(out->recipient));
	memcpy(out->case_id, info->case_id, KETEN_CASE_ID_LEN);
	memcpy(out->message_id, info->message_id, KETEN_MSG_ID_LEN);
}

/* Verifies one delivered record and hands it to fn. */
static int
one(struct audit_stream *st, const struct delivered *d, keten_record_fn fn,
    void *arg, struct keten_error *err)
{
	struct record rec = {.seq = d->seq,
	                     .received_at_us = d->received_at_us,
	                     .envelope = d->envelope,
	                     .envelope_len = d->envelope_len};
	size_t len = CHAIN_RECORD_HEADER + d->envelope_len;
	struct audit_info info;
	struct keten_record out;
	uint8_t *buf;
	int rc;

	memcpy(rec.prev_hash, d->prev_hash, 32);
	if ((buf = malloc(len)) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	chain_record_encode(buf, &rec);
	rc = audit_stream_record(st, &info, d->seq, buf, len, err);
	free(buf);
	if (rc != KETEN_OK)
		return rc;
	if (sodium_memcmp(info.record_hash, d->record_hash, 32) != 0)
		return error_set(err, KETEN_E_CHAIN,
		                 "record %llu: the broker sent a record hash "
		                 "that is not the record's",
		                 (unsigned long long)d->seq);
	if (fn == NULL)
		return KETEN_OK;
	client_record_public(&out, &info);
	return fn(arg, &out);
}

/* At the end of a replay (or each time a follow catches up) the last
 * record verified must be the head the broker reported in the same
 * snapshot: as the offline audit, name the first record that is not where
 * it should be. With nothing replayed and no known hash for the record
 * before, only the head's number can be compared. */
static int
head_check(struct keten_audit *out, uint64_t last, const uint8_t *last_hash,
           uint64_t head_seq, const uint8_t *head_hash, bool anchored,
           struct keten_error *err)
{
	if (head_seq == last &&
	    (!anchored || sodium_memcmp(last_hash, head_hash, 32) == 0))
		return KETEN_OK;
	out->bad_seq = last < head_seq ? last + 1 : head_seq;
	if (out->bad_seq == 0)
		out->bad_seq = 1;
	if (head_seq < last)
		return error_set(err, KETEN_E_CHAIN,
		                 "the broker's log ends at record %llu, before "
		                 "record %llu (records removed, or the replay "
		                 "starts past the end)",
		                 (unsigned long long)head_seq,
		                 (unsigned long long)last);
	return error_set(err, KETEN_E_CHAIN,
	                 "the broker's head is record %llu but the replay "
	                 "ended at record %llu%s",
	                 (unsigned long long)head_seq, (unsigned long long)last,
	                 head_seq == last ? " with another hash" : "");
}

/* The replay, and with follow_ms > 0 the follow after it. */
static int
replay(struct keten_audit *out, struct keten_client *c, uint64_t from_seq,
       const uint8_t *prev_hash, int follow_ms, keten_record_fn fn, void *arg,
       struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_REPLAY};
	struct audit_stream *st;
	uint64_t head_seq = 0, last;
	uint8_t head_hash[32], last_hash[32];
	struct keten_checkpoint cp;
	bool more = true, has_cp = false;
	int rc;

	error_clear(err);
	memset(out, 0, sizeof(out[0]));
	if (from_seq == 0)
		from_seq = 1;
	/* The chain's roster, as libketen follows it (PROTOCOL.md 22.6):
	 * what the stream needs from N > 1, and before the first roster
	 * record of an upgraded log. */
	if ((rc = client_roster_fetch(c, err)) != KETEN_OK)
		return rc;
	if ((rc = audit_stream_new(&st, c->cfg, from_seq, prev_hash, err)) !=
	    KETEN_OK)
		return rc;
	if (c->roster != NULL)
		audit_stream_roster(st, c->roster);
	req.from_seq = from_seq;
	req.replay_max = REPLAY_PAGE;
	while (rc == KETEN_OK && (more || follow_ms > 0)) {
		struct reply r = {0};
		/* Caught up: wait for the next commit. */
		req.wait_ms = more ? 0 : (uint32_t)follow_ms;
		if (req.wait_ms > 0)
			rc = client_call_until(
			    c, &r, &req,
			    clock_mono_us() +
			        ((int64_t)follow_ms + c->timeout_ms) * 1000,
			    err);
		else
			rc = client_call(c, &r, &req, err);
		if (rc != KETEN_OK) {
			wire_reply_clear(&r); /* an error reply, perhaps */
			break;
		}
		if (r.kind != WIRE_REP_REPLAY) {
			wire_reply_clear(&r);
			rc = error_set(err, KETEN_E_MALFORMED,
			               "the broker answered a replay request "
			               "with something else");
			break;
		}
		/* Before the records: the log is held to it when the
		 * stream reaches its size. */
		if (r.replay.has_cp && r.replay.cp.size != r.replay.head_seq) {
			wire_reply_clear(&r);
			rc =
			    error_set(err, KETEN_E_CHAIN,
			              "the broker's checkpoint and head of the "
			              "same read disagree (%llu and %llu "
			              "records)",
			              (unsigned long long)r.replay.cp.size,
			              (unsigned long long)r.replay.head_seq);
			break;
		}
		if (r.replay.has_cp) {
			cp = r.replay.cp;
			has_cp = true;
			rc = audit_stream_checkpoint(st, &cp, err);
			if (rc == KETEN_OK)
				rc = client_checkpoint(c, &cp, &c->sent,
				                       &r.consistency, err);
		}
		for (size_t i = 0; i < r.replay.n && rc == KETEN_OK; i++)
			rc = one(st, &r.replay.records[i], fn, arg, err);
		head_seq = r.replay.head_seq;
		memcpy(head_hash, r.replay.head_hash, 32);
		last = audit_stream_last(st, last_hash);
		/* A page that is not the last must move the replay on; the
		 * last possible record ends it. */
		more = r.replay.more && r.replay.n > 0 && last < UINT64_MAX;
		req.from_seq = last + 1;
		wire_reply_clear(&r);
		if (rc == KETEN_OK && !more && follow_ms > 0)
			rc = head_check(
			    out, last, last_hash, head_seq, head_hash,
			    last >= from_seq || prev_hash != NULL, err);
		/* At the head: the config's broker key must be the chain's. */
		if (rc == KETEN_OK && !more && follow_ms > 0)
			rc = audit_stream_end(st, err);
	}
	if (rc != KETEN_OK && rc != KETEN_E_CHAIN && err != NULL &&
	    err->message[0] == '\0')
		error_set(err, rc, "the record handler stopped the replay");
	last = audit_stream_last(st, last_hash);
	out->head_seq = last;
	out->records = last - (from_seq - 1);
	memcpy(out->head_hash, last_hash, 32);
	if (rc == KETEN_E_CHAIN && out->bad_seq == 0) {
		out->bad_seq = audit_stream_bad(st);
	} else if (rc == KETEN_OK && follow_ms == 0) {
		rc = head_check(out, last, last_hash, head_seq, head_hash,
		                out->records > 0 || prev_hash != NULL, err);
		if (rc == KETEN_OK)
			rc = audit_stream_end(st, err);
		/* Nothing replayed, nothing known: report the broker's head
		 * hash as it is (the caller can compare it with its own). */
		if (rc == KETEN_OK && out->records == 0 && prev_hash == NULL)
			memcpy(out->head_hash, head_hash, 32);
	}
	/* The newest checkpoint, if the replay ended at its size: the
	 * stream held the log to it there. */
	if (rc == KETEN_OK && has_cp && cp.size == last && last > 0 &&
	    (out->records > 0 || prev_hash != NULL)) {
		out->has_checkpoint = true;
		out->checkpoint = cp;
	}
	audit_stream_free(&st);
	return rc;
}

int
keten_audit_replay(struct keten_audit *out, struct keten_client *c,
                   uint64_t from_seq, const uint8_t *prev_hash,
                   keten_record_fn fn, void *arg, struct keten_error *err)
{
	return replay(out, c, from_seq, prev_hash, 0, fn, arg, err);
}

int
keten_audit_follow(struct keten_audit *out, struct keten_client *c,
                   uint64_t from_seq, const uint8_t *prev_hash, int wait_ms,
                   keten_record_fn fn, void *arg, struct keten_error *err)
{
	if (wait_ms <= 0 || wait_ms > KETEN_WAIT_MAX_MS) {
		error_clear(err);
		memset(out, 0, sizeof(*out));
		return error_set(err, KETEN_E_USAGE,
		                 "wait_ms is %d; it must be 1 to %d", wait_ms,
		                 KETEN_WAIT_MAX_MS);
	}
	return replay(out, c, from_seq, prev_hash, wait_ms, fn, arg, err);
}
