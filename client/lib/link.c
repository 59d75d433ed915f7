/*
 * Linking checkpoints to the client's state (PROTOCOL.md 10.9): the
 * checkpoints of a pipeline that no reply's own proof linked, and the
 * consistency requests (10.10) that link them once nothing is in flight.
 * Must never move the state along a checkpoint no proof links to it.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client.h"
#include "merkle.h"

#define LINK_ID (1ull << 62)

static bool
same(const struct keten_checkpoint *a, uint64_t size, const uint8_t *root)
{
	return a->size == size &&
	       sodium_memcmp(a->root, root, KETEN_HASH_LEN) == 0;
}

static void
drop(struct keten_client *c, size_t i)
{
	c->pending[i] = c->pending[--c->n_pending];
}

int
link_hold(struct keten_client *c, const struct keten_checkpoint *cp,
          struct keten_error *err)
{
	struct keten_checkpoint *grown;

	for (size_t i = 0; i < c->n_pending; i++)
		if (same(&c->pending[i], cp->size, cp->root))
			return KETEN_OK; /* one batch's replies share theirs */
	if (c->n_pending == c->cap_pending) {
		size_t cap = c->cap_pending ? 2 * c->cap_pending : 8;
		if ((grown = realloc(c->pending, cap * sizeof(*grown))) == NULL)
			return error_set(err, KETEN_E_NOMEM, "out of memory");
		c->pending = grown;
		c->cap_pending = cap;
	}
	c->pending[c->n_pending++] = *cp;
	return KETEN_OK;
}

void
link_settle(struct keten_client *c)
{
	for (size_t i = c->n_pending; i-- > 0;)
		if (same(&c->pending[i], c->state.size, c->state.root))
			drop(c, i);
}

/* The answer r (rc: client_wait's code) to a consistency request from
 * p's size sent with k: T held to the state like any checkpoint, then
 * p proven a prefix of T (which is the state, extends it, or is held in
 * p's place). KETEN_OK: p is settled; KETEN_E_FORKED; or another error,
 * p still unlinked. */
static int
link_answer(struct keten_client *c, const struct keten_checkpoint *p,
            const struct state_known *k, const struct reply *r, int rc,
            struct keten_error *err)
{
	if (rc == KETEN_E_FIELD) {
		/* The broker denies a size it signed: its log was cut. */
		state_forked(err, p, NULL);
		return client_poison(c, err);
	}
	if (rc != KETEN_OK)
		return rc;
	if (r->kind != WIRE_REP_CONSISTENCY || !r->link.has_cp ||
	    r->link.from_size != p->size || r->link.to_size != r->link.cp.size)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the broker answered a consistency request "
		                 "from %llu records with something else",
		                 (unsigned long long)p->size);
	if ((rc = client_checkpoint(c, &r->link.cp, k, &r->consistency, err)) !=
	    KETEN_OK)
		return rc;
	if (merkle_consistency_verify(p->size, r->link.cp.size, p->root,
	                              r->link.cp.root,
	                              (const uint8_t(*)[32])r->link.proof.hash,
	                              r->link.proof.n) != 0) {
		state_forked(err, p, NULL);
		return client_poison(c, err);
	}
	c->links++;
	for (size_t i = c->n_pending; i-- > 0;)
		if (same(&c->pending[i], p->size, p->root))
			drop(c, i);
	return KETEN_OK;
}

static void
link_request(struct request *req, const struct keten_checkpoint *p)
{
	memset(req, 0, sizeof(*req));
	req->kind = WIRE_REQ_CONSISTENCY;
	req->from_size = p->size;
}

void
link_start(struct keten_client *c)
{
	struct keten_error ignored;
	struct request req;

	size_t i;

	/* Only one the state has passed: any other may still be dropped
	 * when the state reaches it. */
	for (i = 0; i < c->n_pending; i++)
		if (c->pending[i].size < c->state.size)
			break;
	if (c->link_ticket != 0 || i == c->n_pending)
		return;
	c->link_p = c->pending[i];
	link_request(&req, &c->link_p);
	/* Out of the tickets' sequence, which callers may count on: ids
	 * start below 2^48 (client.c). */
	req.request_id = LINK_ID | c->link_next++;
	/* A send that fails shows again in the wait for the receipts. */
	if (client_send(c, &c->link_ticket, &req, &ignored) != KETEN_OK)
		c->link_ticket = 0;
	c->link_k = c->sent;
}

int
link_reply(struct keten_client *c, const struct reply *r, int rc,
           struct keten_error *err)
{
	c->link_ticket = 0;
	rc = link_answer(c, &c->link_p, &c->link_k, r, rc, err);
	/* Only a fork counts: any other failure is retried later. */
	return rc == KETEN_E_FORKED ? rc : KETEN_OK;
}

int
link_all(struct keten_client *c, struct keten_error *err)
{
	int rc = KETEN_OK;

	if (c->linking || c->n_inflight > 0)
		return KETEN_OK;
	c->linking = true;
	c->link_ticket = 0; /* its late answer is dropped; linked here */
	while (rc == KETEN_OK && c->n_pending > 0) {
		struct keten_checkpoint p = c->pending[c->n_pending - 1];
		struct request req;
		struct reply r;
		memset(&r, 0, sizeof(r));
		link_request(&req, &p);
		rc = client_call(c, &r, &req, err);
		rc = link_answer(c, &p, &c->sent, &r, rc, err);
		wire_reply_clear(&r);
	}
	c->linking = false;
	/* The .pending file follows: those loaded from it and linked
	 * leave it; after a failure, what is still held goes in it, so
	 * that neither a destroy nor a crash forgets it. */
	if (rc == KETEN_OK && c->n_loaded > 0)
		return client_pending_flush(c, err);
	if (rc != KETEN_OK && rc != KETEN_E_FORKED && c->n_pending > 0) {
		struct keten_error ignored;
		(void)!client_pending_flush(c, &ignored);
	}
	return rc;
}
