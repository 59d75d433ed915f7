/*
 * Replies, broker to client: receipts, deliveries, cases, replays and their
 * checkpoints and proofs. Must never trust a length, an id or a count it
 * has not checked.
 */
#include <stdlib.h>
#include <string.h>

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

static void
cp_to_pb(Keten__Checkpoint *pc, const struct keten_checkpoint *c)
{
	keten__checkpoint__init(pc);
	pc->size = c->size;
	pc->head_hash = wire_bin(c->head_hash, KETEN_HASH_LEN);
	pc->root = wire_bin(c->root, KETEN_HASH_LEN);
	pc->access_size = c->access_size;
	pc->access_head = wire_bin(c->access_head, KETEN_HASH_LEN);
	pc->signed_at_us = c->signed_at_us;
	pc->signature = wire_bin(c->signature, WIRE_SIG_LEN);
}

/* 0, or -1 if absent or a field has the wrong size. */
static int
cp_from_pb(struct keten_checkpoint *c, const Keten__Checkpoint *pc)
{
	if (pc == NULL)
		return -1;
	c->size = pc->size;
	c->access_size = pc->access_size;
	c->signed_at_us = pc->signed_at_us;
	return wire_copy_fixed(c->head_hash, KETEN_HASH_LEN, pc->head_hash) ||
	               wire_copy_fixed(c->root, KETEN_HASH_LEN, pc->root) ||
	               wire_copy_fixed(c->access_head, KETEN_HASH_LEN,
	                               pc->access_head) ||
	               wire_copy_fixed(c->signature, WIRE_SIG_LEN,
	                               pc->signature)
	           ? -1
	           : 0;
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

int
wire_reply_encode(uint8_t **out, size_t *len, const struct reply *r)
{
	Keten__Reply m = KETEN__REPLY__INIT;
	Keten__Error e = KETEN__ERROR__INIT;
	Keten__Receipt rc = KETEN__RECEIPT__INIT;
	Keten__FetchReply f = KETEN__FETCH_REPLY__INIT;
	Keten__AckReply a = KETEN__ACK_REPLY__INIT;
	Keten__PingReply p = KETEN__PING_REPLY__INIT;
	Keten__CasesReply cs = KETEN__CASES_REPLY__INIT;
	Keten__CaseReply c1 = KETEN__CASE_REPLY__INIT;
	Keten__ReplayReply rp = KETEN__REPLAY_REPLY__INIT;
	Keten__Checkpoint cpb;
	ProtobufCBinaryData path[WIRE_PATH_MAX];
	struct pb_delivered dv = {0};
	struct pb_case *pc = NULL;
	Keten__CaseSummary **cps = NULL;
	int ret;

	m.request_id = r->request_id;
	switch (r->kind) {
	case WIRE_REP_ERROR:
		e.code = (uint32_t)r->error.code;
		e.message = (char *)(uintptr_t)r->error.message;
		m.kind_case = KETEN__REPLY__KIND_ERROR;
		m.error = &e;
		break;
	case WIRE_REP_RECEIPT:
		rc.seq = r->receipt.seq;
		rc.record_hash =
		    wire_bin(r->receipt.record_hash, KETEN_HASH_LEN);
		rc.message_id =
		    wire_bin(r->receipt.message_id, KETEN_MSG_ID_LEN);
		rc.received_at_us = r->receipt.received_at_us;
		rc.prev_hash = wire_bin(r->receipt.prev_hash, KETEN_HASH_LEN);
		cp_to_pb(&cpb, &r->receipt.cp);
		rc.checkpoint = &cpb;
		if (r->receipt.n_path > WIRE_PATH_MAX)
			return KETEN_E_MALFORMED;
		for (size_t i = 0; i < r->receipt.n_path; i++)
			path[i] = wire_bin(r->receipt.path[i], KETEN_HASH_LEN);
		rc.n_path = r->receipt.n_path;
		rc.path = path;
		m.kind_case = KETEN__REPLY__KIND_RECEIPT;
		m.receipt = &rc;
		break;
	case WIRE_REP_FETCH:
		if ((ret = delivered_to_pb(&dv, r->fetch.items, r->fetch.n)) !=
		    KETEN_OK)
			return ret;
		f.n_messages = r->fetch.n;
		f.messages = dv.ptrs;
		f.cursor = r->fetch.cursor;
		f.more = r->fetch.more;
		if (r->fetch.has_cp) {
			cp_to_pb(&cpb, &r->fetch.cp);
			f.checkpoint = &cpb;
		}
		m.kind_case = KETEN__REPLY__KIND_FETCH;
		m.fetch = &f;
		break;
	case WIRE_REP_ACK:
		a.cursor = r->ack_cursor;
		m.kind_case = KETEN__REPLY__KIND_ACK;
		m.ack = &a;
		break;
	case WIRE_REP_PING:
		p.agency =
		    (char *)(uintptr_t)(r->ping.agency ? r->ping.agency : "");
		p.head_seq = r->ping.head_seq;
		m.kind_case = KETEN__REPLY__KIND_PING;
		m.ping = &p;
		break;
	case WIRE_REP_CASES:
		if (r->cases.n > 0) {
			pc = calloc(r->cases.n, sizeof(*pc));
			cps = calloc(r->cases.n, sizeof(*cps));
			if (pc == NULL || cps == NULL) {
				free(pc);
				free(cps);
				return KETEN_E_NOMEM;
			}
		}
		for (size_t i = 0; i < r->cases.n; i++) {
			case_to_pb(&pc[i], &r->cases.items[i]);
			cps[i] = &pc[i].cs;
		}
		cs.n_cases = r->cases.n;
		cs.cases = cps;
		cs.more = r->cases.more;
		cs.now_us = r->cases.now_us;
		m.kind_case = KETEN__REPLY__KIND_CASES;
		m.cases = &cs;
		break;
	case WIRE_REP_CASE:
		if ((pc = calloc(1, sizeof(*pc))) == NULL ||
		    delivered_to_pb(&dv, r->kase.records, r->kase.n) !=
		        KETEN_OK) {
			free(pc);
			return KETEN_E_NOMEM;
		}
		case_to_pb(pc, &r->kase.summary);
		c1.summary = &pc->cs;
		c1.n_records = r->kase.n;
		c1.records = dv.ptrs;
		c1.more = r->kase.more;
		c1.now_us = r->kase.now_us;
		m.kind_case = KETEN__REPLY__KIND_CASE;
		m.case_ = &c1;
		break;
	case WIRE_REP_REPLAY:
		if ((ret = delivered_to_pb(&dv, r->replay.records,
		                           r->replay.n)) != KETEN_OK)
			return ret;
		rp.n_records = r->replay.n;
		rp.records = dv.ptrs;
		if (r->replay.has_cp) {
			cp_to_pb(&cpb, &r->replay.cp);
			rp.checkpoint = &cpb;
		}
		rp.more = r->replay.more;
		rp.head_seq = r->replay.head_seq;
		rp.head_hash = wire_bin(r->replay.head_hash, KETEN_HASH_LEN);
		m.kind_case = KETEN__REPLY__KIND_REPLAY;
		m.replay = &rp;
		break;
	}
	ret = wire_pack(out, len, &m.base);
	pb_delivered_free(&dv);
	free(pc);
	free(cps);
	return ret;
}

int
wire_reply_decode(struct reply *r, const uint8_t *buf, size_t len,
                  struct keten_error *err)
{
	Keten__Reply *m;
	int bad = 0;

	memset(r, 0, sizeof(*r));
	if ((m = keten__reply__unpack(NULL, len, buf)) == NULL)
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the broker's reply is not a valid protobuf Reply");
	r->pb = m;
	r->request_id = m->request_id;
	switch (m->kind_case) {
	case KETEN__REPLY__KIND_ERROR:
		r->kind = WIRE_REP_ERROR;
		r->error.code = (int)m->error->code;
		r->error.message = m->error->message ? m->error->message : "";
		break;
	case KETEN__REPLY__KIND_RECEIPT: {
		Keten__Receipt *rc = m->receipt;
		r->kind = WIRE_REP_RECEIPT;
		r->receipt.seq = rc->seq;
		r->receipt.received_at_us = rc->received_at_us;
		bad = wire_copy_fixed(r->receipt.record_hash, KETEN_HASH_LEN,
		                      rc->record_hash) ||
		      wire_copy_fixed(r->receipt.message_id, KETEN_MSG_ID_LEN,
		                      rc->message_id) ||
		      wire_copy_fixed(r->receipt.prev_hash, KETEN_HASH_LEN,
		                      rc->prev_hash) ||
		      cp_from_pb(&r->receipt.cp, rc->checkpoint) ||
		      rc->n_path > WIRE_PATH_MAX;
		for (size_t i = 0; !bad && i < rc->n_path; i++)
			bad = wire_copy_fixed(r->receipt.path[i],
			                      KETEN_HASH_LEN, rc->path[i]);
		r->receipt.n_path = bad ? 0 : rc->n_path;
		break;
	}
	case KETEN__REPLY__KIND_FETCH:
		r->kind = WIRE_REP_FETCH;
		r->fetch.cursor = m->fetch->cursor;
		r->fetch.more = m->fetch->more;
		r->fetch.n = m->fetch->n_messages;
		bad =
		    delivered_from_pb(&r->fetch.items, &r->paths,
		                      m->fetch->messages, m->fetch->n_messages);
		r->fetch.has_cp = m->fetch->checkpoint != NULL;
		if (!bad && r->fetch.has_cp)
			bad = cp_from_pb(&r->fetch.cp, m->fetch->checkpoint);
		break;
	case KETEN__REPLY__KIND_ACK:
		r->kind = WIRE_REP_ACK;
		r->ack_cursor = m->ack->cursor;
		break;
	case KETEN__REPLY__KIND_PING:
		r->kind = WIRE_REP_PING;
		r->ping.agency = m->ping->agency ? m->ping->agency : "";
		r->ping.head_seq = m->ping->head_seq;
		break;
	case KETEN__REPLY__KIND_CASES:
		r->kind = WIRE_REP_CASES;
		r->cases.more = m->cases->more;
		r->cases.now_us = m->cases->now_us;
		r->cases.n = m->cases->n_cases;
		if (r->cases.n > 0 &&
		    (r->cases.items =
		         calloc(r->cases.n, sizeof(*r->cases.items))) == NULL)
			bad = 1;
		for (size_t i = 0; i < r->cases.n && !bad; i++)
			bad = case_from_pb(&r->cases.items[i],
			                   m->cases->cases[i]);
		break;
	case KETEN__REPLY__KIND_CASE:
		r->kind = WIRE_REP_CASE;
		r->kase.more = m->case_->more;
		r->kase.now_us = m->case_->now_us;
		r->kase.n = m->case_->n_records;
		bad = case_from_pb(&r->kase.summary, m->case_->summary) ||
		      delivered_from_pb(&r->kase.records, &r->paths,
		                        m->case_->records, m->case_->n_records);
		break;
	case KETEN__REPLY__KIND_REPLAY:
		r->kind = WIRE_REP_REPLAY;
		r->replay.more = m->replay->more;
		r->replay.head_seq = m->replay->head_seq;
		r->replay.n = m->replay->n_records;
		bad =
		    wire_copy_fixed(r->replay.head_hash, KETEN_HASH_LEN,
		                    m->replay->head_hash) ||
		    delivered_from_pb(&r->replay.records, &r->paths,
		                      m->replay->records, m->replay->n_records);
		r->replay.has_cp = m->replay->checkpoint != NULL;
		if (!bad && r->replay.has_cp)
			bad = cp_from_pb(&r->replay.cp, m->replay->checkpoint);
		break;
	default:
		bad = 1;
	}
	if (bad) {
		wire_reply_clear(r);
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the broker's reply has a field of the wrong size or kind");
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
	free(r->paths);
	memset(r, 0, sizeof(*r));
}
