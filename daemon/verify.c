/*
 * Verify workers: decode, check signatures and policy, answer reads. Every
 * check happens here, once, before the writer; must never write to LMDB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_witness.h"
#include "broker.h"
#include "clock.h"
#include "envelope.h"
#include "job.h"
#include "chain.h"
#include "log.h"
#include "metrics.h"
#include "note.h"
#include "policy.h"
#include "record.h"

struct worker {
	struct broker *b;
	void *in, *writer, *replies;
};

#define KINDS_ALL     0x3e
#define KINDS_AUDITOR (1u << KETEN_KIND_AUDITOR)
#define KINDS_SENDERS (KINDS_ALL & ~KINDS_AUDITOR)
#define ROLE_WITNESS  (1u << 16) /* not a kind: a witness's connection */

/* A handler returns KETEN_OK to pass the job on to the writer (a write,
 * or a read whose reply waits for its access log entry to commit),
 * ANSWERED when j->out is the reply, PARKED when the read found nothing
 * and waits with the I/O thread, or a refusal code. */
#define ANSWERED (-1)
#define PARKED   (-2)
typedef int (*handler_fn)(struct worker *, struct job *, struct keten_error *);

static int handle_submit(struct worker *, struct job *, struct keten_error *);
static int handle_fetch(struct worker *, struct job *, struct keten_error *);
static int handle_ack(struct worker *, struct job *, struct keten_error *);
static int handle_ping(struct worker *, struct job *, struct keten_error *);
static int handle_cases(struct worker *, struct job *, struct keten_error *);
static int handle_case(struct worker *, struct job *, struct keten_error *);
static int handle_replay(struct worker *, struct job *, struct keten_error *);
static int handle_cosign(struct worker *, struct job *, struct keten_error *);
static int handle_consistency(struct worker *, struct job *,
                              struct keten_error *);
static int handle_roster(struct worker *, struct job *, struct keten_error *);

/* Requests are data: who may call each, and what handles it. */
static const struct handler {
	enum wire_request_kind kind;
	const char *name;
	unsigned kinds; /* bit per enum keten_kind, and ROLE_WITNESS */
	handler_fn fn;
} handlers[] = {
    {WIRE_REQ_SUBMIT, "submit", KINDS_SENDERS, handle_submit},
    {WIRE_REQ_FETCH, "fetch", KINDS_ALL, handle_fetch},
    {WIRE_REQ_ACK, "ack", KINDS_ALL, handle_ack},
    {WIRE_REQ_PING, "ping", KINDS_ALL | ROLE_WITNESS, handle_ping},
    {WIRE_REQ_CASES, "list cases", KINDS_ALL, handle_cases},
    {WIRE_REQ_CASE, "read a case", KINDS_ALL, handle_case},
    {WIRE_REQ_REPLAY, "replay the log", KINDS_AUDITOR, handle_replay},
    {WIRE_REQ_COSIGN, "cosign a checkpoint", ROLE_WITNESS, handle_cosign},
    {WIRE_REQ_CONSISTENCY, "prove consistency", KINDS_ALL | ROLE_WITNESS,
     handle_consistency},
    {WIRE_REQ_ROSTER, "read the roster", KINDS_ALL | ROLE_WITNESS,
     handle_roster},
};

/* The reply is encoded; it leaves once the access log holds this read
 * (NEN 7513: no disclosure that is not accounted). */
static int
account(struct job *j, enum access_kind kind, const struct delivered *recs,
        size_t n, uint32_t count)
{
	struct access_entry *a = &j->item.access;

	if (j->out == NULL) /* could not encode: nothing is disclosed */
		return ANSWERED;
	j->item.op = STORE_ACCESS;
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	snprintf(a->agency, sizeof(a->agency), "%s", j->agency->id);
	if (n > 0) {
		a->first_seq = recs[0].seq;
		a->last_seq = recs[n - 1].seq;
	}
	a->n = count;
	return KETEN_OK;
}

/* A fetch or replay may wait at most WAIT_MAX_MS: checked before it
 * reads anything. */
static int
wait_valid(const struct job *j, struct keten_error *err)
{
	if (j->req.wait_ms > WAIT_MAX_MS)
		return error_set(err, KETEN_E_FIELD,
		                 "wait_ms is %u; a read waits at most %u ms",
		                 j->req.wait_ms, WAIT_MAX_MS);
	return KETEN_OK;
}

/* A read that found nothing: wait for a commit, if the request asks to
 * and this is not already its last turn. */
static int
maybe_park(struct job *j, uint64_t head_seq, struct keten_error *err)
{
	if (j->req.wait_ms == 0 || j->no_wait)
		return KETEN_OK;
	if (zmq_msg_size(&j->frame) > WAIT_REQUEST_MAX)
		return error_set(err, KETEN_E_FIELD,
		                 "a waiting read is at most %d bytes; this one "
		                 "is %zu",
		                 WAIT_REQUEST_MAX, zmq_msg_size(&j->frame));
	if (j->wait_until_us == 0) /* the first turn sets the deadline */
		j->wait_until_us = j->t0_us + (int64_t)j->req.wait_ms * 1000;
	j->park_head = head_seq;
	/* A fetch answers from above max(after_seq, cursor), a replay from
	 * from_seq: a commit at or below that cannot answer it. */
	j->park_replay = j->req.kind == WIRE_REQ_REPLAY;
	if (j->park_replay)
		j->park_after = j->req.from_seq ? j->req.from_seq - 1 : 0;
	else
		j->park_after = j->req.fetch_after;
	if (j->park_after < head_seq)
		j->park_after = head_seq;
	return PARKED;
}

/* The roster a connection signs with: its own agency's key, no other. */
static const struct agency *
connection_signer(const void *arg, const char *signer, uint64_t seq,
                  struct keten_error *err)
{
	const struct agency *a = arg;

	(void)seq; /* a submission: the connection's key, now */
	if (strcmp(signer, a->id) != 0) {
		error_set(err, KETEN_E_SIGNER,
		          "the envelope is signed as '%s' but this connection "
		          "is authenticated as '%s'",
		          signer, a->id);
		return NULL;
	}
	return a;
}

static int
handle_submit(struct worker *w, struct job *j, struct keten_error *err)
{
	const struct config *c = j->gen->cfg;
	const struct record_roster roster = {.find = connection_signer,
	                                     .arg = j->agency};
	const struct body *b = &j->rec.body;
	const struct agency *to = NULL;
	uint8_t hash[KETEN_HASH_LEN];
	int rc;

	(void)w;
	if ((rc = record_open(&j->rec, &roster, RECORD_SEQ_NOW, j->req.envelope,
	                      j->req.envelope_len, RECORD_SIG_CHECK, err)) !=
	    KETEN_OK)
		return rc;
	/* A close goes to every party; anything else to one agency. */
	if (b->type != KETEN_MSG_CLOSE &&
	    (to = liveconf_member(c, b->h.recipient)) == NULL)
		return error_set(err, KETEN_E_RECIPIENT,
		                 "recipient '%s' is not an agency in region %s",
		                 b->h.recipient, c->region);
	if (to != NULL && to->kind == KETEN_KIND_AUDITOR)
		return error_set(err, KETEN_E_RECIPIENT,
		                 "%s is an auditor and receives no messages",
		                 to->id);
	if (to != NULL &&
	    (rc = policy_route_check(c, j->rec.agency, j->rec.type, to, err)) !=
	        KETEN_OK)
		return rc;
	if (b->has_content && j->req.sealed_len == 0)
		return error_set(
		    err, KETEN_E_FIELD,
		    "the sealed content is missing; this %s carries a "
		    "content_hash, so it must carry content sealed to %s",
		    keten_message_type_name(b->type),
		    to ? to->id : "its recipient");
	if (!b->has_content && j->req.sealed_len != 0)
		return error_set(
		    err, KETEN_E_FIELD,
		    "sealed content was sent with this %s, whose body "
		    "has no content_hash",
		    keten_message_type_name(b->type));
	if (b->has_content) {
		envelope_content_hash(hash, j->req.sealed, j->req.sealed_len);
		if (memcmp(hash, b->content_hash, KETEN_HASH_LEN) != 0)
			return error_set(
			    err, KETEN_E_CONTENT_HASH,
			    "the sealed content's hash differs from the "
			    "content_hash the sender signed; it was altered "
			    "or belongs to another message");
	}
	j->item.op = STORE_SUBMIT;
	j->item.envelope = j->req.envelope;
	j->item.envelope_len = j->req.envelope_len;
	j->item.sealed = j->req.sealed;
	j->item.sealed_len = j->req.sealed_len;
	j->item.known_size = j->req.known_size;
	memcpy(j->item.message_id, b->h.message_id, KETEN_MSG_ID_LEN);
	memcpy(j->item.signer_pk, j->rec.agency->sign_pk, 32);
	/* The writer fills in seq and time; case rules are checked there,
	 * against the state of the transaction that records it. */
	case_msg_of(&j->item.msg, b, 0, 0);
	return KETEN_OK;
}

static int
handle_ack(struct worker *w, struct job *j, struct keten_error *err)
{
	(void)w;
	if (j->req.ack_seq == 0)
		return error_set(err, KETEN_E_BAD_ACK,
		                 "acknowledge a sequence number of 1 or more");
	j->item.op = STORE_ACK;
	j->item.agency = j->agency->id;
	j->item.ack_seq = j->req.ack_seq;
	return KETEN_OK;
}

static int
handle_fetch(struct worker *w, struct job *j, struct keten_error *err)
{
	struct store_fetch f;
	struct reply r = {.kind = WIRE_REP_FETCH};
	size_t max = j->req.fetch_max ? j->req.fetch_max : FETCH_MAX_DEFAULT;
	int rc;

	if (max > FETCH_MAX_LIMIT)
		max = FETCH_MAX_LIMIT;
	if ((rc = wait_valid(j, err)) != KETEN_OK)
		return rc;
	/* Leave room in the reply frame for framing around the records. */
	rc = store_fetch(w->b->store, &f, j->agency->id, j->req.fetch_after,
	                 max, j->gen->cfg->max_message_bytes * 4,
	                 j->req.known_size, err);
	if (rc != KETEN_OK)
		return rc;
	if (f.n == 0 && (rc = maybe_park(j, f.head_seq, err)) != KETEN_OK) {
		store_fetch_free(&f);
		return rc;
	}
	r.fetch.items = f.items;
	r.fetch.n = f.n;
	r.fetch.cursor = f.cursor;
	r.fetch.more = f.more;
	r.fetch.has_cp = f.has_cp;
	r.fetch.cp = f.cp;
	r.consistency = f.consistency;
	job_reply(j, &r, &j->gen->cfg->broker_key);
	metrics_add(METRIC_DELIVERIES, (int64_t)f.n);
	log_debug("event=fetch agency=%s n=%zu cursor=%llu", j->agency->id, f.n,
	          (unsigned long long)f.cursor);
	rc = f.n > 0 ? account(j, ACCESS_FETCH, f.items, f.n, (uint32_t)f.n)
	             : ANSWERED;
	store_fetch_free(&f);
	return rc;
}

/* Who the connection is, the latest checkpoint with the consistency
 * proof from the client's known size, and the witnesses' cosignatures. */
static int
handle_ping(struct worker *w, struct job *j, struct keten_error *err)
{
	struct reply r = {.kind = WIRE_REP_PING};
	struct store_ping sp;
	char who[sizeof(JOB_WITNESS_PREFIX) + CONFIG_WITNESS_NAME_MAX];
	int rc;

	if ((rc = store_ping(w->b->store, &sp, j->req.known_size, err)) !=
	    KETEN_OK)
		return rc;
	if (j->agency != NULL)
		r.ping.agency = j->agency->id;
	else {
		snprintf(who, sizeof(who), JOB_WITNESS_PREFIX "%s",
		         j->witness->name);
		r.ping.agency = who;
	}
	r.ping.head_seq = sp.head_seq;
	r.ping.has_cp = sp.has_cp;
	r.ping.cp = sp.cp;
	r.consistency = sp.consistency;
	r.ping.n_cosigned = sp.n_cosigned;
	for (size_t i = 0; i < sp.n_cosigned; i++) {
		r.ping.cosigned[i] = sp.cosigned[i];
		r.ping.cosigned_len[i] = sp.cosigned_len[i];
	}
	job_reply(j, &r, &j->gen->cfg->broker_key);
	store_ping_free(&sp);
	return ANSWERED;
}

/* The proof between two sizes of the log, and the latest checkpoint with
 * its proof from known_size (PROTOCOL.md 10.10). Discloses no record: not
 * accounted. */
static int
handle_consistency(struct worker *w, struct job *j, struct keten_error *err)
{
	struct reply r = {.kind = WIRE_REP_CONSISTENCY};
	struct store_consistency sc;
	int rc;

	if ((rc = store_consistency(w->b->store, &sc, j->req.from_size,
	                            j->req.to_size, j->req.known_size, err)) !=
	    KETEN_OK)
		return rc;
	r.link.from_size = j->req.from_size;
	r.link.to_size = sc.to_size;
	r.link.proof = sc.proof;
	r.link.has_cp = sc.has_cp;
	r.link.cp = sc.cp;
	r.consistency = sc.consistency;
	job_reply(j, &r, &j->gen->cfg->broker_key);
	return ANSWERED;
}

/* The roster records after after_seq with their proofs (PROTOCOL.md
 * 22.6). Who belongs to the region is no one's case content: not
 * accounted. */
static int
handle_roster(struct worker *w, struct job *j, struct keten_error *err)
{
	struct reply r = {.kind = WIRE_REP_ROSTER};
	struct store_roster_records sr;
	int rc;

	if ((rc = store_roster_records(w->b->store, &sr, j->req.after_seq,
	                               j->req.known_size, err)) != KETEN_OK)
		return rc;
	r.roster.records = sr.records;
	r.roster.n = sr.n;
	r.roster.more = sr.more;
	r.roster.has_cp = sr.has_cp;
	r.roster.cp = sr.cp;
	r.consistency = sr.consistency;
	job_reply(j, &r, &j->gen->cfg->broker_key);
	store_roster_records_free(&sr);
	return ANSWERED;
}

/* Auditors see every case; anyone else only the cases they are part of. */
static const char *
case_viewer(const struct job *j)
{
	return j->agency->kind == KETEN_KIND_AUDITOR ? NULL : j->agency->id;
}

static void
summarize(struct wire_case *wc, const struct case_state *st,
          const struct config *c)
{
	wc->st = *st;
	case_offer_due(&wc->ack_due_us, &wc->decide_due_us, st, c);
}

static int
handle_cases(struct worker *w, struct job *j, struct keten_error *err)
{
	struct store_cases sc;
	struct reply r = {.kind = WIRE_REP_CASES};
	size_t max = j->req.cases_max ? j->req.cases_max : CASES_MAX_DEFAULT;
	int rc;

	if (max > CASES_MAX_LIMIT)
		max = CASES_MAX_LIMIT;
	rc = store_cases(w->b->store, &sc, case_viewer(j),
	                 j->req.has_case_id ? j->req.case_id : NULL, max, err);
	if (rc != KETEN_OK)
		return rc;
	if (sc.n > 0 &&
	    (r.cases.items = calloc(sc.n, sizeof(*r.cases.items))) == NULL) {
		free(sc.items);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < sc.n; i++)
		summarize(&r.cases.items[i], &sc.items[i], j->gen->cfg);
	r.cases.n = sc.n;
	r.cases.more = sc.more;
	r.cases.now_us = clock_now_us();
	job_reply(j, &r, &j->gen->cfg->broker_key);
	free(r.cases.items);
	free(sc.items);
	return sc.n > 0 ? account(j, ACCESS_CASES, NULL, 0, (uint32_t)sc.n)
	                : ANSWERED;
}

static int
handle_case(struct worker *w, struct job *j, struct keten_error *err)
{
	struct store_case sc;
	struct reply r = {.kind = WIRE_REP_CASE};
	int rc;

	rc = store_case(w->b->store, &sc, case_viewer(j), j->req.case_id,
	                j->req.after_seq, j->gen->cfg->max_message_bytes * 4,
	                err);
	if (rc != KETEN_OK)
		return rc;
	summarize(&r.kase.summary, &sc.st, j->gen->cfg);
	r.kase.records = sc.records;
	r.kase.n = sc.n;
	r.kase.more = sc.more;
	r.kase.now_us = clock_now_us();
	job_reply(j, &r, &j->gen->cfg->broker_key);
	rc = account(j, ACCESS_CASE, sc.records, sc.n, (uint32_t)sc.n);
	j->item.access.has_case = true;
	memcpy(j->item.access.case_id, j->req.case_id, KETEN_CASE_ID_LEN);
	store_case_free(&sc);
	return rc;
}

/* The whole log, envelopes only (docs/PROTOCOL.md, "Replaying the log"). */
static int
handle_replay(struct worker *w, struct job *j, struct keten_error *err)
{
	struct store_replay sr;
	struct reply r = {.kind = WIRE_REP_REPLAY};
	size_t max = j->req.replay_max ? j->req.replay_max : REPLAY_MAX_DEFAULT;
	int rc;

	if (max > REPLAY_MAX_LIMIT)
		max = REPLAY_MAX_LIMIT;
	if ((rc = wait_valid(j, err)) != KETEN_OK)
		return rc;
	rc = store_replay(w->b->store, &sr, j->req.from_seq, max,
	                  j->gen->cfg->max_message_bytes * 4, j->req.known_size,
	                  err);
	if (rc != KETEN_OK)
		return rc;
	if (sr.n == 0 && (rc = maybe_park(j, sr.head_seq, err)) != KETEN_OK) {
		store_replay_free(&sr);
		return rc;
	}
	r.replay.records = sr.records;
	r.replay.n = sr.n;
	r.replay.more = sr.more;
	r.replay.head_seq = sr.head_seq;
	memcpy(r.replay.head_hash, sr.head_hash, KETEN_HASH_LEN);
	r.replay.has_cp = sr.has_cp;
	r.replay.cp = sr.cp;
	r.consistency = sr.consistency;
	job_reply(j, &r, &j->gen->cfg->broker_key);
	log_debug("event=replay agency=%s from=%llu n=%zu", j->agency->id,
	          (unsigned long long)j->req.from_seq, sr.n);
	/* Every read of the log by an auditor is accounted, even one that
	 * only learnt the head; not a follow's wait that ended with nothing
	 * new (it learnt nothing the last entry does not show). */
	if (sr.n == 0 && j->req.wait_ms > 0)
		rc = ANSWERED;
	else
		rc =
		    account(j, ACCESS_REPLAY, sr.records, sr.n, (uint32_t)sr.n);
	store_replay_free(&sr);
	return rc;
}

/*
 * A witness's cosignature (PROTOCOL.md 10.5): the note must be this
 * broker's checkpoint, signed by it, of a tree this log has, followed by
 * exactly one cosignature line by the connected witness that verifies
 * with its cosign_key. The writer stores it.
 */
static int
handle_cosign(struct worker *w, struct job *j, struct keten_error *err)
{
	const struct config *c = j->gen->cfg;
	const struct note_key *bk = &c->broker_key;
	const struct witness *wit = j->witness;
	struct note_key wk;
	struct keten_checkpoint cp;
	struct note n;
	struct note_cosig cs;
	const struct note_sig *sig;
	char want[NOTE_CHECKPOINT_MAX + NOTE_NAME_MAX + 128];
	uint8_t root[KETEN_HASH_LEN];
	uint64_t head;
	size_t len, line;
	int rc;

	if (note_key_init(&wk, wit->name, NOTE_COSIG_V1, wit->cosign_pk) != 0)
		return error_set(err, KETEN_E_INTERNAL, "bad key name");
	if (note_checkpoint_parse(&cp, j->req.note, j->req.note_len, bk, err) !=
	    KETEN_OK)
		return error_set(err, KETEN_E_FIELD,
		                 "the cosigned note is not a checkpoint of "
		                 "region %s: %s",
		                 c->region, err->message);
	if (note_checkpoint_verify(&cp, bk) != 0)
		return error_set(err, KETEN_E_BADSIG,
		                 "the checkpoint of %llu records that witness "
		                 "%s cosigned was never signed by this broker",
		                 (unsigned long long)cp.size, wit->name);
	if (note_split(&n, j->req.note, j->req.note_len, err) != KETEN_OK)
		return error_set(err, KETEN_E_FIELD, "%s", err->message);
	/* The auditor's check of a stored cosignature, the same rule. */
	if (audit_witness_cosig(&cs, &sig, &n, wit) != 0)
		return error_set(
		    err, KETEN_E_BADSIG,
		    "the note carries no cosignature by witness %s of the "
		    "checkpoint of %llu records that verifies with its "
		    "cosign_key in the region config (key ID "
		    "%02x%02x%02x%02x)",
		    wit->name, (unsigned long long)cp.size, wk.id[0], wk.id[1],
		    wk.id[2], wk.id[3]);
	/* Exactly the checkpoint note and this one cosignature line: what
	 * is stored and handed out is canonical. */
	len = note_checkpoint_format(want, sizeof(want), bk, &cp);
	line =
	    len ? note_cosig_line(want + len, sizeof(want) - len, &wk, &cs) : 0;
	if (line == 0 || len + line != j->req.note_len ||
	    memcmp(want, j->req.note, len + line) != 0)
		return error_set(err, KETEN_E_FIELD,
		                 "a cosign note is the checkpoint note, its "
		                 "broker signature line and one cosignature "
		                 "line by witness %s, nothing else",
		                 wit->name);
	if ((rc = store_root_at(w->b->store, root, &head, cp.size, err)) !=
	    KETEN_OK)
		return rc;
	if (memcmp(root, cp.root, KETEN_HASH_LEN) != 0)
		return error_set(err, KETEN_E_FIELD,
		                 "the cosigned checkpoint's root is not this "
		                 "broker's tree head at %llu records",
		                 (unsigned long long)cp.size);
	j->item.op = STORE_COSIGN;
	j->item.witness = wit;
	j->item.note = j->req.note;
	j->item.note_len = j->req.note_len;
	j->item.cosign_size = cp.size;
	j->item.cosign_time = cs.timestamp;
	return KETEN_OK;
}

static void
process(struct worker *w, struct job *j)
{
	struct keten_error err;
	const struct handler *h = NULL;
	int rc;

	error_clear(&err);
	/* A parked read comes back here: decode it afresh. */
	j->parked = false;
	wire_request_clear(&j->req);
	memset(&j->item, 0, sizeof(j->item));
	free(j->out);
	j->out = NULL;
	j->out_len = 0;
	rc = wire_request_decode(&j->req, zmq_msg_data(&j->frame),
	                         zmq_msg_size(&j->frame), &err);
	for (size_t i = 0;
	     rc == KETEN_OK && i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].kind == j->req.kind)
			h = &handlers[i];
	if (rc == KETEN_OK && h == NULL)
		rc = error_set(&err, KETEN_E_UNKNOWN_TYPE, "unknown request");
	if (rc == KETEN_OK && j->agency == NULL && !(h->kinds & ROLE_WITNESS))
		rc = error_set(&err, KETEN_E_FORBIDDEN,
		               "%s is a witness and may only ping, ask for a "
		               "consistency proof and cosign, "
		               "not %s",
		               j->witness->name, h->name);
	else if (rc == KETEN_OK && j->agency != NULL &&
	         !(h->kinds & (1u << j->agency->kind))) {
		const char *kind = config_kind_name(j->agency->kind);
		rc = error_set(&err, KETEN_E_FORBIDDEN,
		               "%s is %s %s and may not %s", j->agency->id,
		               strchr("aeiou", kind[0]) ? "an" : "a", kind,
		               h->name);
	}
	if (rc == KETEN_OK)
		rc = h->fn(w, j, &err);
	if (rc == KETEN_OK) {
		if (job_send(w->writer, j, 0) != 0)
			fatalx("event=writer_send_failed err=%s",
			       log_q(zmq_strerror(zmq_errno())));
		return;
	}
	j->parked = rc == PARKED;
	if (j->parked) /* decoded afresh when it wakes: hold only the frame */
		wire_request_clear(&j->req);
	if (rc > 0 && rc < 100) {
		/* Local failures (I/O, memory) are not the peer's fault and
		 * their codes are not wire codes: say the broker is unwell. */
		log_err("event=request_failed agency=%s code=%d reason=%s",
		        log_q(job_peer(j)), rc, log_q(err.message));
		rc = error_set(
		    &err, KETEN_E_UNAVAILABLE,
		    "the broker could not serve this request (%s); retry later",
		    keten_strerror(rc));
	}
	if (rc > 0) {
		log_info("event=refused agency=%s code=%d reason=%s",
		         log_q(job_peer(j)), rc, log_q(err.message));
		job_reply_error(j, rc, err.message);
	}
	if (job_send(w->replies, j, 0) != 0)
		fatalx("event=reply_send_failed err=%s",
		       log_q(zmq_strerror(zmq_errno())));
}

void *
verify_main(void *arg)
{
	struct worker w = {.b = arg};
	struct job *j;

	w.in = zmq_socket(w.b->zctx, ZMQ_PULL);
	w.writer = zmq_socket(w.b->zctx, ZMQ_PUSH);
	w.replies = zmq_socket(w.b->zctx, ZMQ_PUSH);
	if (!w.in || !w.writer || !w.replies ||
	    zmq_setsockopt(w.in, ZMQ_RCVHWM, &(int){VERIFY_QUEUE},
	                   sizeof(int)) != 0 ||
	    zmq_connect(w.in, EP_VERIFY) != 0 ||
	    zmq_connect(w.writer, EP_WRITER) != 0 ||
	    zmq_connect(w.replies, EP_REPLIES) != 0)
		fatalx("event=worker_start_failed err=%s",
		       log_q(zmq_strerror(zmq_errno())));
	for (;;) {
		zmq_pollitem_t pi = {.socket = w.in, .events = ZMQ_POLLIN};
		int stopping = atomic_load(&w.b->stopping);

		if (zmq_poll(&pi, 1, stopping ? 0 : 100) < 0 &&
		    zmq_errno() != EINTR)
			fatalx("event=worker_poll_failed");
		if (pi.revents & ZMQ_POLLIN) {
			if (job_recv(w.in, &j, ZMQ_DONTWAIT) == 0) {
				metrics_add(METRIC_VERIFY_QUEUE, -1);
				process(&w, j);
			}
			continue;
		}
		if (stopping)
			break; /* flag seen, then queue found empty */
	}
	j = NULL;
	if (job_send(w.writer, NULL, 0) != 0) /* tell the writer we are done */
		fatalx("event=writer_send_failed");
	atomic_fetch_add(&w.b->workers_done, 1);
	zmq_close(w.in);
	zmq_close(w.writer);
	zmq_close(w.replies);
	return NULL;
}
