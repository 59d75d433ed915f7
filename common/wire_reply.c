/*
 * Replies, broker to client: receipts, deliveries, cases, replays and their
 * checkpoints and proofs. Must never trust a length, an id or a count it
 * has not checked.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "note.h"
#include "wire_pb.h"

/* Room for one case summary's protobuf-c structs. */
struct pb_case {
	Keten__CaseSummary cs;
	Keten__Offer o;
	Keten__Party party[CASE_PARTIES_MAX];
	Keten__Party *pp[CASE_PARTIES_MAX];
};

static void
case_to_pb(struct pb_case *p, const struct wire_case *wc)
{
	const struct case_state *st = &wc->st;

	keten__case_summary__init(&p->cs);
	p->cs.case_id = wire_bin(st->id, KETEN_CASE_ID_LEN);
	p->cs.status = (Keten__CaseStatus)st->status;
	p->cs.holder = wire_id_bin(st->parties[st->holder].id);
	p->cs.opened_seq = st->opened_seq;
	p->cs.opened_at_us = st->opened_at_us;
	p->cs.last_seq = st->last_seq;
	p->cs.updated_at_us = st->updated_at_us;
	p->cs.messages = st->messages;
	p->cs.outcome = (Keten__Outcome)st->outcome;
	for (int i = 0; i < st->n_parties; i++) {
		keten__party__init(&p->party[i]);
		p->party[i].agency = wire_id_bin(st->parties[i].id);
		p->party[i].referred = st->parties[i].referred;
		p->pp[i] = &p->party[i];
	}
	p->cs.n_parties = st->n_parties;
	p->cs.parties = p->pp;
	if (st->status != KETEN_CASE_OFFERED)
		return;
	keten__offer__init(&p->o);
	p->o.message_id = wire_bin(st->offer.message_id, KETEN_MSG_ID_LEN);
	p->o.seq = st->offer.seq;
	p->o.type = (Keten__MessageType)st->offer.type;
	p->o.from = p->cs.holder;
	p->o.to = wire_id_bin(st->parties[st->offer.to].id);
	p->o.offered_at_us = st->offer.at_us;
	p->o.acknowledged_at_us = st->offer.acked_us;
	p->o.respond_by_us = st->offer.respond_by_us;
	p->o.acknowledge_due_us = wc->ack_due_us;
	p->o.decide_due_us = wc->decide_due_us;
	p->o.questions = st->offer.questions;
	p->cs.offer = &p->o;
}

static int
same_id(const char *id, ProtobufCBinaryData b)
{
	return b.len == strlen(id) && memcmp(id, b.data, b.len) == 0;
}

/* The index of the party named b, or -1. */
static int
party_index(const struct case_state *st, ProtobufCBinaryData b)
{
	for (int i = 0; i < st->n_parties; i++)
		if (same_id(st->parties[i].id, b))
			return i;
	return -1;
}

static int
case_from_pb(struct wire_case *wc, const Keten__CaseSummary *cs)
{
	struct case_state *st = &wc->st;
	int i;

	memset(wc, 0, sizeof(*wc));
	if (cs == NULL || cs->n_parties == 0 ||
	    cs->n_parties > CASE_PARTIES_MAX ||
	    wire_copy_fixed(st->id, KETEN_CASE_ID_LEN, cs->case_id) != 0 ||
	    (int)cs->status < KETEN_CASE_OFFERED ||
	    (int)cs->status > KETEN_CASE_CLOSED)
		return -1;
	st->status = (enum keten_case_status)cs->status;
	st->n_parties = (uint8_t)cs->n_parties;
	for (size_t k = 0; k < cs->n_parties; k++) {
		if (wire_copy_id(st->parties[k].id, cs->parties[k]->agency) !=
		    0)
			return -1;
		st->parties[k].referred = cs->parties[k]->referred;
	}
	if ((i = party_index(st, cs->holder)) < 0)
		return -1;
	st->holder = (uint8_t)i;
	st->opened_seq = cs->opened_seq;
	st->opened_at_us = cs->opened_at_us;
	st->last_seq = cs->last_seq;
	st->updated_at_us = cs->updated_at_us;
	st->messages = cs->messages;
	st->outcome = (enum keten_outcome)cs->outcome;
	if (st->status != KETEN_CASE_OFFERED)
		return 0;
	if (cs->offer == NULL ||
	    wire_copy_fixed(st->offer.message_id, KETEN_MSG_ID_LEN,
	                    cs->offer->message_id) != 0 ||
	    (i = party_index(st, cs->offer->to)) < 0 ||
	    !same_id(st->parties[st->holder].id, cs->offer->from))
		return -1;
	st->offer.to = (uint8_t)i;
	st->offer.seq = cs->offer->seq;
	st->offer.type = (enum keten_message_type)cs->offer->type;
	st->offer.at_us = cs->offer->offered_at_us;
	st->offer.acked_us = cs->offer->acknowledged_at_us;
	st->offer.respond_by_us = cs->offer->respond_by_us;
	st->offer.questions = cs->offer->questions;
	wc->ack_due_us = cs->offer->acknowledge_due_us;
	wc->decide_due_us = cs->offer->decide_due_us;
	return 0;
}

/* protobuf-c views of n delivered records and their proofs, in calloc'd
 * arrays; free with pb_delivered_free. */
struct pb_delivered {
	Keten__Delivered *items, **ptrs;
	ProtobufCBinaryData *path;
};

static void
pb_delivered_free(struct pb_delivered *p)
{
	free(p->items);
	free(p->ptrs);
	free(p->path);
}

static int
delivered_to_pb(struct pb_delivered *p, const struct delivered *d, size_t n)
{
	size_t n_path = 0, k = 0;

	memset(p, 0, sizeof(*p));
	if (n == 0)
		return KETEN_OK;
	for (size_t i = 0; i < n; i++) {
		if (d[i].n_path > WIRE_PATH_MAX)
			return KETEN_E_MALFORMED;
		n_path += d[i].n_path;
	}
	p->items = calloc(n, sizeof(*p->items));
	p->ptrs = calloc(n, sizeof(*p->ptrs));
	p->path = n_path ? calloc(n_path, sizeof(*p->path)) : NULL;
	if (p->items == NULL || p->ptrs == NULL ||
	    (n_path > 0 && p->path == NULL)) {
		pb_delivered_free(p);
		return KETEN_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		Keten__Delivered *x = &p->items[i];
		keten__delivered__init(x);
		x->seq = d[i].seq;
		x->received_at_us = d[i].received_at_us;
		x->record_hash = wire_bin(d[i].record_hash, KETEN_HASH_LEN);
		x->prev_hash = wire_bin(d[i].prev_hash, KETEN_HASH_LEN);
		x->envelope = wire_bin(d[i].envelope, d[i].envelope_len);
		x->sealed_content = wire_bin(d[i].sealed, d[i].sealed_len);
		x->n_path = d[i].n_path;
		x->path = d[i].n_path ? &p->path[k] : NULL;
		for (size_t j = 0; j < d[i].n_path; j++)
			p->path[k++] = wire_bin(d[i].path + j * KETEN_HASH_LEN,
			                        KETEN_HASH_LEN);
		p->ptrs[i] = x;
	}
	return KETEN_OK;
}

/* Views of n protobuf-c records, pointing into them, and their proofs
 * copied into one block (*paths, malloc'd); 0 or -1. */
static int
delivered_from_pb(struct delivered **out, uint8_t **paths,
                  Keten__Delivered **in, size_t n)
{
	size_t n_path = 0, k = 0;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((*out = calloc(n, sizeof(**out))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (in[i]->n_path > WIRE_PATH_MAX)
			return -1;
		n_path += in[i]->n_path;
	}
	if (n_path > 0 && (*paths = malloc(n_path * KETEN_HASH_LEN)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct delivered *d = &(*out)[i];
		d->seq = in[i]->seq;
		d->received_at_us = in[i]->received_at_us;
		if (wire_copy_fixed(d->record_hash, KETEN_HASH_LEN,
		                    in[i]->record_hash) ||
		    wire_copy_fixed(d->prev_hash, KETEN_HASH_LEN,
		                    in[i]->prev_hash))
			return -1;
		d->envelope = in[i]->envelope.data;
		d->envelope_len = in[i]->envelope.len;
		d->sealed = in[i]->sealed_content.data;
		d->sealed_len = in[i]->sealed_content.len;
		d->n_path = in[i]->n_path;
		d->path = d->n_path ? *paths + k * KETEN_HASH_LEN : NULL;
		for (size_t j = 0; j < d->n_path; j++, k++)
			if (wire_copy_fixed(*paths + k * KETEN_HASH_LEN,
			                    KETEN_HASH_LEN, in[i]->path[j]))
				return -1;
	}
	return 0;
}

/*
 * Each kind of reply is a pair, to and from protobuf-c, side by side, and
 * one row of reply_kinds. An encoder fills the room's structs and hangs
 * them on room->m; a decoder returns 0, or -1 for a field of the wrong
 * size or kind (or no memory for the views).
 */

/* The protobuf-c structs one reply is encoded from, on the encoder's
 * stack; what they need allocated is freed by room_free. */
struct room {
	Keten__Reply m;
	union {
		Keten__Error error;
		Keten__Receipt receipt;
		Keten__FetchReply fetch;
		Keten__AckReply ack;
		Keten__PingReply ping;
		Keten__CasesReply cases;
		Keten__CaseReply kase;
		Keten__ReplayReply replay;
		Keten__CosignReply cosign;
		Keten__ConsistencyReply link;
		Keten__RosterReply roster;
	} u;
	Keten__Checkpoint cp;
	const struct note_key *key; /* the broker's: names the checkpoint */
	char note[NOTE_CHECKPOINT_MAX];
	ProtobufCBinaryData path[WIRE_PATH_MAX];
	ProtobufCBinaryData consistency[WIRE_PATH_MAX];
	ProtobufCBinaryData proof[WIRE_PATH_MAX]; /* a consistency reply's */
	ProtobufCBinaryData cosigned[WIRE_COSIGNED_MAX];
	struct pb_delivered dv;
	struct pb_case *pc;
	Keten__CaseSummary **cps;
};

/*
 * The last checkpoint this thread wrote as a note, and the last note it
 * read: the replies of one commit (a batch's receipts, a fetch's pages)
 * share their checkpoint, and formatting or strictly parsing a note is
 * four base64 conversions. One entry a thread, compared in full.
 */
static _Thread_local struct {
	bool has;
	struct note_key key;
	struct keten_checkpoint cp;
	size_t n;
	char note[NOTE_CHECKPOINT_MAX];
} written, read_back;

/* note_checkpoint_format through `written`. */
static size_t
note_of(char *out, size_t cap, const struct note_key *k,
        const struct keten_checkpoint *c)
{
	if (written.has && written.n <= cap &&
	    memcmp(&written.cp, c, sizeof(*c)) == 0 &&
	    memcmp(&written.key, k, sizeof(*k)) == 0) {
		memcpy(out, written.note, written.n);
		return written.n;
	}
	written.n =
	    note_checkpoint_format(written.note, sizeof(written.note), k, c);
	written.has = written.n > 0 && written.n <= cap;
	if (!written.has)
		return note_checkpoint_format(out, cap, k, c);
	written.key = *k;
	written.cp = *c;
	memcpy(out, written.note, written.n);
	return written.n;
}

/* note_checkpoint_parse through `read_back`: only notes that parsed are
 * remembered, so a refusal is always the parser's own. */
static int
cp_of_note(struct keten_checkpoint *c, const char *note, size_t len,
           const struct note_key *k, struct keten_error *why)
{
	if (read_back.has && read_back.n == len &&
	    memcmp(read_back.note, note, len) == 0 &&
	    memcmp(&read_back.key, k, sizeof(*k)) == 0) {
		*c = read_back.cp;
		return KETEN_OK;
	}
	if (note_checkpoint_parse(c, note, len, k, why) != KETEN_OK)
		return KETEN_E_MALFORMED;
	read_back.has = len <= sizeof(read_back.note);
	if (read_back.has) {
		read_back.n = len;
		memcpy(read_back.note, note, len);
		read_back.key = *k;
		read_back.cp = *c;
	}
	return KETEN_OK;
}

/* The checkpoint as its signed note (PROTOCOL.md 10.2), with the reply's
 * consistency proof. */
static int
cp_to_pb(struct room *x, const struct reply *r,
         const struct keten_checkpoint *c)
{
	size_t n;

	keten__checkpoint__init(&x->cp);
	if (x->key == NULL ||
	    (n = note_of(x->note, sizeof(x->note), x->key, c)) == 0)
		return KETEN_E_USAGE;
	if (r->consistency.n > WIRE_PATH_MAX)
		return KETEN_E_INTERNAL;
	x->cp.note = wire_bin((const uint8_t *)x->note, n);
	for (size_t i = 0; i < r->consistency.n; i++)
		x->consistency[i] =
		    wire_bin(r->consistency.hash[i], KETEN_HASH_LEN);
	x->cp.consistency = x->consistency;
	x->cp.n_consistency = r->consistency.n;
	return KETEN_OK;
}

static void
room_free(struct room *x)
{
	pb_delivered_free(&x->dv);
	free(x->pc);
	free(x->cps);
}

static int
error_to_pb(struct room *x, const struct reply *r)
{
	Keten__Error *e = &x->u.error;

	keten__error__init(e);
	e->code = (uint32_t)r->error.code;
	e->message = (char *)(uintptr_t)r->error.message;
	x->m.error = e;
	return KETEN_OK;
}

static int
error_from_pb(struct reply *r, const Keten__Reply *m)
{
	r->error.code = (int)m->error->code;
	r->error.message = m->error->message ? m->error->message : "";
	return 0;
}

static int
receipt_to_pb(struct room *x, const struct reply *r)
{
	Keten__Receipt *rc = &x->u.receipt;
	int ret;

	keten__receipt__init(rc);
	rc->seq = r->receipt.seq;
	rc->record_hash = wire_bin(r->receipt.record_hash, KETEN_HASH_LEN);
	rc->message_id = wire_bin(r->receipt.message_id, KETEN_MSG_ID_LEN);
	rc->received_at_us = r->receipt.received_at_us;
	rc->prev_hash = wire_bin(r->receipt.prev_hash, KETEN_HASH_LEN);
	if (r->receipt.n_path > WIRE_PATH_MAX)
		return KETEN_E_MALFORMED;
	if ((ret = cp_to_pb(x, r, &r->receipt.cp)) != KETEN_OK)
		return ret;
	rc->checkpoint = &x->cp;
	for (size_t i = 0; i < r->receipt.n_path; i++)
		x->path[i] = wire_bin(r->receipt.path[i], KETEN_HASH_LEN);
	rc->n_path = r->receipt.n_path;
	rc->path = x->path;
	x->m.receipt = rc;
	return KETEN_OK;
}

static int
receipt_from_pb(struct reply *r, const Keten__Reply *m)
{
	const Keten__Receipt *rc = m->receipt;
	int bad;

	r->receipt.seq = rc->seq;
	r->receipt.received_at_us = rc->received_at_us;
	bad = wire_copy_fixed(r->receipt.record_hash, KETEN_HASH_LEN,
	                      rc->record_hash) ||
	      wire_copy_fixed(r->receipt.message_id, KETEN_MSG_ID_LEN,
	                      rc->message_id) ||
	      wire_copy_fixed(r->receipt.prev_hash, KETEN_HASH_LEN,
	                      rc->prev_hash) ||
	      rc->checkpoint == NULL || rc->n_path > WIRE_PATH_MAX;
	for (size_t i = 0; !bad && i < rc->n_path; i++)
		bad = wire_copy_fixed(r->receipt.path[i], KETEN_HASH_LEN,
		                      rc->path[i]);
	r->receipt.n_path = bad ? 0 : rc->n_path;
	return bad ? -1 : 0;
}

static int
fetch_to_pb(struct room *x, const struct reply *r)
{
	Keten__FetchReply *f = &x->u.fetch;
	int ret;

	keten__fetch_reply__init(f);
	if ((ret = delivered_to_pb(&x->dv, r->fetch.items, r->fetch.n)) !=
	    KETEN_OK)
		return ret;
	f->n_messages = r->fetch.n;
	f->messages = x->dv.ptrs;
	f->cursor = r->fetch.cursor;
	f->more = r->fetch.more;
	if (r->fetch.has_cp) {
		if ((ret = cp_to_pb(x, r, &r->fetch.cp)) != KETEN_OK)
			return ret;
		f->checkpoint = &x->cp;
	}
	x->m.fetch = f;
	return KETEN_OK;
}

static int
fetch_from_pb(struct reply *r, const Keten__Reply *m)
{
	const Keten__FetchReply *f = m->fetch;

	r->fetch.cursor = f->cursor;
	r->fetch.more = f->more;
	r->fetch.n = f->n_messages;
	r->fetch.has_cp = f->checkpoint != NULL;
	return delivered_from_pb(&r->fetch.items, &r->paths, f->messages,
	                         f->n_messages);
}

static int
ack_to_pb(struct room *x, const struct reply *r)
{
	keten__ack_reply__init(&x->u.ack);
	x->u.ack.cursor = r->ack_cursor;
	x->m.ack = &x->u.ack;
	return KETEN_OK;
}

static int
ack_from_pb(struct reply *r, const Keten__Reply *m)
{
	r->ack_cursor = m->ack->cursor;
	return 0;
}

static int
ping_to_pb(struct room *x, const struct reply *r)
{
	Keten__PingReply *p = &x->u.ping;

	keten__ping_reply__init(p);
	p->agency = (char *)(uintptr_t)(r->ping.agency ? r->ping.agency : "");
	p->head_seq = r->ping.head_seq;
	if (r->ping.has_cp) {
		int rc = cp_to_pb(x, r, &r->ping.cp);
		if (rc != KETEN_OK)
			return rc;
		p->checkpoint = &x->cp;
	}
	if (r->ping.n_cosigned > WIRE_COSIGNED_MAX)
		return KETEN_E_INTERNAL;
	for (size_t i = 0; i < r->ping.n_cosigned; i++)
		x->cosigned[i] = wire_bin((const uint8_t *)r->ping.cosigned[i],
		                          r->ping.cosigned_len[i]);
	p->cosigned = x->cosigned;
	p->n_cosigned = r->ping.n_cosigned;
	x->m.ping = p;
	return KETEN_OK;
}

static int
ping_from_pb(struct reply *r, const Keten__Reply *m)
{
	const Keten__PingReply *p = m->ping;

	r->ping.agency = p->agency ? p->agency : "";
	r->ping.head_seq = p->head_seq;
	r->ping.has_cp = p->checkpoint != NULL;
	if (p->n_cosigned > WIRE_COSIGNED_MAX)
		return -1;
	for (size_t i = 0; i < p->n_cosigned; i++) {
		r->ping.cosigned[i] = (const char *)p->cosigned[i].data;
		r->ping.cosigned_len[i] = p->cosigned[i].len;
	}
	r->ping.n_cosigned = p->n_cosigned;
	return 0;
}

static int
cosign_to_pb(struct room *x, const struct reply *r)
{
	keten__cosign_reply__init(&x->u.cosign);
	x->u.cosign.size = r->cosign_size;
	x->m.cosign = &x->u.cosign;
	return KETEN_OK;
}

static int
cosign_from_pb(struct reply *r, const Keten__Reply *m)
{
	r->cosign_size = m->cosign->size;
	return 0;
}

static int
link_to_pb(struct room *x, const struct reply *r)
{
	Keten__ConsistencyReply *l = &x->u.link;
	int rc;

	keten__consistency_reply__init(l);
	if (r->link.has_cp) {
		if ((rc = cp_to_pb(x, r, &r->link.cp)) != KETEN_OK)
			return rc;
		l->checkpoint = &x->cp;
	}
	if (r->link.proof.n > WIRE_PATH_MAX)
		return KETEN_E_INTERNAL;
	for (size_t i = 0; i < r->link.proof.n; i++)
		x->proof[i] = wire_bin(r->link.proof.hash[i], KETEN_HASH_LEN);
	l->proof = x->proof;
	l->n_proof = r->link.proof.n;
	l->from_size = r->link.from_size;
	l->to_size = r->link.to_size;
	x->m.consistency = l;
	return KETEN_OK;
}

static int
link_from_pb(struct reply *r, const Keten__Reply *m)
{
	const Keten__ConsistencyReply *l = m->consistency;

	r->link.from_size = l->from_size;
	r->link.to_size = l->to_size;
	r->link.has_cp = l->checkpoint != NULL;
	if (l->n_proof > WIRE_PATH_MAX)
		return -1;
	for (size_t i = 0; i < l->n_proof; i++)
		if (wire_copy_fixed(r->link.proof.hash[i], KETEN_HASH_LEN,
		                    l->proof[i]) != 0)
			return -1;
	r->link.proof.n = l->n_proof;
	return 0;
}

static int
cases_to_pb(struct room *x, const struct reply *r)
{
	Keten__CasesReply *cs = &x->u.cases;

	keten__cases_reply__init(cs);
	if (r->cases.n > 0) {
		x->pc = calloc(r->cases.n, sizeof(*x->pc));
		x->cps = calloc(r->cases.n, sizeof(*x->cps));
		if (x->pc == NULL || x->cps == NULL)
			return KETEN_E_NOMEM;
	}
	for (size_t i = 0; i < r->cases.n; i++) {
		case_to_pb(&x->pc[i], &r->cases.items[i]);
		x->cps[i] = &x->pc[i].cs;
	}
	cs->n_cases = r->cases.n;
	cs->cases = x->cps;
	cs->more = r->cases.more;
	cs->now_us = r->cases.now_us;
	x->m.cases = cs;
	return KETEN_OK;
}

static int
cases_from_pb(struct reply *r, const Keten__Reply *m)
{
	r->cases.more = m->cases->more;
	r->cases.now_us = m->cases->now_us;
	r->cases.n = m->cases->n_cases;
	if (r->cases.n > 0 &&
	    (r->cases.items = calloc(r->cases.n, sizeof(*r->cases.items))) ==
	        NULL)
		return -1;
	for (size_t i = 0; i < r->cases.n; i++)
		if (case_from_pb(&r->cases.items[i], m->cases->cases[i]) != 0)
			return -1;
	return 0;
}

static int
case_reply_to_pb(struct room *x, const struct reply *r)
{
	Keten__CaseReply *c1 = &x->u.kase;
	int ret;

	keten__case_reply__init(c1);
	if ((x->pc = calloc(1, sizeof(*x->pc))) == NULL)
		return KETEN_E_NOMEM;
	if ((ret = delivered_to_pb(&x->dv, r->kase.records, r->kase.n)) !=
	    KETEN_OK)
		return ret;
	case_to_pb(x->pc, &r->kase.summary);
	c1->summary = &x->pc->cs;
	c1->n_records = r->kase.n;
	c1->records = x->dv.ptrs;
	c1->more = r->kase.more;
	c1->now_us = r->kase.now_us;
	x->m.case_ = c1;
	return KETEN_OK;
}

static int
case_reply_from_pb(struct reply *r, const Keten__Reply *m)
{
	const Keten__CaseReply *c1 = m->case_;

	r->kase.more = c1->more;
	r->kase.now_us = c1->now_us;
	r->kase.n = c1->n_records;
	if (case_from_pb(&r->kase.summary, c1->summary) != 0)
		return -1;
	return delivered_from_pb(&r->kase.records, &r->paths, c1->records,
	                         c1->n_records);
}

static int
replay_to_pb(struct room *x, const struct reply *r)
{
	Keten__ReplayReply *rp = &x->u.replay;
	int ret;

	keten__replay_reply__init(rp);
	if ((ret = delivered_to_pb(&x->dv, r->replay.records, r->replay.n)) !=
	    KETEN_OK)
		return ret;
	rp->n_records = r->replay.n;
	rp->records = x->dv.ptrs;
	if (r->replay.has_cp) {
		if ((ret = cp_to_pb(x, r, &r->replay.cp)) != KETEN_OK)
			return ret;
		rp->checkpoint = &x->cp;
	}
	rp->more = r->replay.more;
	rp->head_seq = r->replay.head_seq;
	rp->head_hash = wire_bin(r->replay.head_hash, KETEN_HASH_LEN);
	x->m.replay = rp;
	return KETEN_OK;
}

static int
replay_from_pb(struct reply *r, const Keten__Reply *m)
{
	const Keten__ReplayReply *rp = m->replay;

	r->replay.more = rp->more;
	r->replay.head_seq = rp->head_seq;
	r->replay.n = rp->n_records;
	r->replay.has_cp = rp->checkpoint != NULL;
	return wire_copy_fixed(r->replay.head_hash, KETEN_HASH_LEN,
	                       rp->head_hash) != 0 ||
	               delivered_from_pb(&r->replay.records, &r->paths,
	                                 rp->records, rp->n_records) != 0
	           ? -1
	           : 0;
}

static int
roster_to_pb(struct room *x, const struct reply *r)
{
	Keten__RosterReply *rr = &x->u.roster;
	int ret;

	keten__roster_reply__init(rr);
	if (r->roster.n > WIRE_ROSTER_REPLY_MAX)
		return KETEN_E_MALFORMED;
	if ((ret = delivered_to_pb(&x->dv, r->roster.records, r->roster.n)) !=
	    KETEN_OK)
		return ret;
	rr->n_records = r->roster.n;
	rr->records = x->dv.ptrs;
	if (r->roster.has_cp) {
		if ((ret = cp_to_pb(x, r, &r->roster.cp)) != KETEN_OK)
			return ret;
		rr->checkpoint = &x->cp;
	}
	rr->more = r->roster.more;
	x->m.roster = rr;
	return KETEN_OK;
}

static int
roster_from_pb(struct reply *r, const Keten__Reply *m)
{
	const Keten__RosterReply *rr = m->roster;

	if (rr->n_records > WIRE_ROSTER_REPLY_MAX)
		return -1;
	r->roster.more = rr->more;
	r->roster.n = rr->n_records;
	r->roster.has_cp = rr->checkpoint != NULL;
	return delivered_from_pb(&r->roster.records, &r->paths, rr->records,
	                         rr->n_records);
}

static const struct reply_kind {
	enum wire_reply_kind kind;
	Keten__Reply__KindCase pb;
	int (*to_pb)(struct room *x, const struct reply *r);
	int (*from_pb)(struct reply *r, const Keten__Reply *m);
} reply_kinds[] = {
    {WIRE_REP_ERROR, KETEN__REPLY__KIND_ERROR, error_to_pb, error_from_pb},
    {WIRE_REP_RECEIPT, KETEN__REPLY__KIND_RECEIPT, receipt_to_pb,
     receipt_from_pb},
    {WIRE_REP_FETCH, KETEN__REPLY__KIND_FETCH, fetch_to_pb, fetch_from_pb},
    {WIRE_REP_ACK, KETEN__REPLY__KIND_ACK, ack_to_pb, ack_from_pb},
    {WIRE_REP_PING, KETEN__REPLY__KIND_PING, ping_to_pb, ping_from_pb},
    {WIRE_REP_CASES, KETEN__REPLY__KIND_CASES, cases_to_pb, cases_from_pb},
    {WIRE_REP_CASE, KETEN__REPLY__KIND_CASE, case_reply_to_pb,
     case_reply_from_pb},
    {WIRE_REP_REPLAY, KETEN__REPLY__KIND_REPLAY, replay_to_pb, replay_from_pb},
    {WIRE_REP_COSIGN, KETEN__REPLY__KIND_COSIGN, cosign_to_pb, cosign_from_pb},
    {WIRE_REP_CONSISTENCY, KETEN__REPLY__KIND_CONSISTENCY, link_to_pb,
     link_from_pb},
    {WIRE_REP_ROSTER, KETEN__REPLY__KIND_ROSTER, roster_to_pb, roster_from_pb},
};

#define REPLY_KINDS (sizeof(reply_kinds) / sizeof(reply_kinds[0]))

/* The reply's checkpoint, if it has one: where it goes, and its note. */
static const Keten__Checkpoint *
reply_cp(struct reply *r, const Keten__Reply *m, struct keten_checkpoint **c)
{
	switch (r->kind) {
	case WIRE_REP_RECEIPT:
		*c = &r->receipt.cp;
		return m->receipt->checkpoint;
	case WIRE_REP_FETCH:
		*c = &r->fetch.cp;
		return m->fetch->checkpoint;
	case WIRE_REP_REPLAY:
		*c = &r->replay.cp;
		return m->replay->checkpoint;
	case WIRE_REP_PING:
		*c = &r->ping.cp;
		return m->ping->checkpoint;
	case WIRE_REP_CONSISTENCY:
		*c = &r->link.cp;
		return m->consistency->checkpoint;
	case WIRE_REP_ROSTER:
		*c = &r->roster.cp;
		return m->roster->checkpoint;
	default:
		return NULL;
	}
}

static int
consistency_from_pb(struct consistency *out, const Keten__Checkpoint *pc)
{
	if (pc->n_consistency > WIRE_PATH_MAX)
		return -1;
	for (size_t i = 0; i < pc->n_consistency; i++)
		if (wire_copy_fixed(out->hash[i], KETEN_HASH_LEN,
		                    pc->consistency[i]) != 0)
			return -1;
	out->n = pc->n_consistency;
	return 0;
}

int
wire_reply_encode(uint8_t **out, size_t *len, const struct reply *r,
                  const struct note_key *broker)
{
	struct room x;
	int ret = KETEN_OK;

	memset(&x, 0, sizeof(x));
	x.key = broker;
	keten__reply__init(&x.m);
	x.m.request_id = r->request_id;
	for (size_t i = 0; i < REPLY_KINDS; i++)
		if (reply_kinds[i].kind == r->kind) {
			x.m.kind_case = reply_kinds[i].pb;
			ret = reply_kinds[i].to_pb(&x, r);
			break;
		}
	if (ret == KETEN_OK)
		ret = wire_pack(out, len, &x.m.base);
	room_free(&x);
	return ret;
}

int
wire_reply_decode(struct reply *r, const uint8_t *buf, size_t len,
                  const struct note_key *broker, struct keten_error *err)
{
	const Keten__Checkpoint *pc;
	struct keten_checkpoint *c;
	struct keten_error why;
	Keten__Reply *m;
	int bad = 1;

	memset(r, 0, sizeof(*r));
	if ((m = keten__reply__unpack(NULL, len, buf)) == NULL)
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the broker's reply is not a valid protobuf Reply");
	r->pb = m;
	r->request_id = m->request_id;
	for (size_t i = 0; i < REPLY_KINDS; i++)
		if (reply_kinds[i].pb == m->kind_case) {
			r->kind = reply_kinds[i].kind;
			bad = reply_kinds[i].from_pb(r, m);
			break;
		}
	if (bad) {
		wire_reply_clear(r);
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the broker's reply has a field of the wrong size or kind");
	}
	if ((pc = reply_cp(r, m, &c)) != NULL &&
	    consistency_from_pb(&r->consistency, pc) != 0) {
		wire_reply_clear(r);
		return error_set(err, KETEN_E_MALFORMED,
		                 "the broker's consistency proof has more than "
		                 "%d hashes or one of the wrong size",
		                 WIRE_PATH_MAX);
	}
	if (pc != NULL && cp_of_note(c, (const char *)pc->note.data,
	                             pc->note.len, broker, &why) != KETEN_OK) {
		wire_reply_clear(r);
		return error_set(err, KETEN_E_MALFORMED,
		                 "the broker's checkpoint is malformed: %s",
		                 why.message);
	}
	return KETEN_OK;
}

void
wire_reply_clear(struct reply *r)
{
	if (r->pb != NULL)
		keten__reply__free_unpacked(r->pb, NULL);
	free(r->fetch.items);
	free(r->cases.items);
	free(r->kase.records);
	free(r->replay.records);
	free(r->roster.records);
	free(r->paths);
	memset(r, 0, sizeof(*r));
}
