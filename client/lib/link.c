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

/* Links p: a consistency request from p's size to the latest checkpoint
 * T, which its own proof links to the state (known_size = the state's
 * size) and the requested proof to p. */
static int
link_one(struct keten_client *c, const struct keten_checkpoint *p,
         struct keten_error *err)
{
	struct request req = {.kind = WIRE_REQ_CONSISTENCY};
	struct reply r;
	int rc;

	req.from_size = p->size;
	rc = client_call(c, &r, &req, err);
	if (rc == KETEN_E_FIELD) {
		/* The broker denies a size it signed: its log was cut. */
		state_forked(err, p);
		return client_poison(c, err);
	}
	if (rc != KETEN_OK)
		return rc;
	if (r.kind != WIRE_REP_CONSISTENCY || !r.link.has_cp ||
	    r.link.from_size != p->size || r.link.to_size != r.link.cp.size)
		rc = error_set(err, KETEN_E_MALFORMED,
		               "the broker answered a consistency request "
		               "from %llu records with something else",
		               (unsigned long long)p->size);
	else if ((rc = client_checkpoint(c, &r.link.cp, &c->sent,
	                                 &r.consistency, err)) != KETEN_OK)
		;
	else if (!same(&c->state, r.link.cp.size, r.link.cp.root))
		rc = error_set(err, KETEN_E_MALFORMED,
		               "the broker's checkpoint of %llu records came "
		               "without a proof from the client's state",
		               (unsigned long long)r.link.cp.size);
	else if (merkle_consistency_verify(
	             p->size, r.link.cp.size, p->root, r.link.cp.root,
	             (const uint8_t(*)[32])r.link.proof.hash,
	             r.link.proof.n) != 0) {
		state_forked(err, p);
		rc = client_poison(c, err);
	}
	wire_reply_clear(&r);
	return rc;
}

int
link_all(struct keten_client *c, struct keten_error *err)
{
	int rc = KETEN_OK;

	if (c->linking || c->n_inflight > 0)
		return KETEN_OK;
	c->linking = true;
	while (rc == KETEN_OK && c->n_pending > 0) {
		struct keten_checkpoint p = c->pending[c->n_pending - 1];
		if ((rc = link_one(c, &p, err)) == KETEN_OK) {
			c->links++;
			for (size_t i = c->n_pending; i-- > 0;)
				if (same(&c->pending[i], p.size, p.root))
					drop(c, i);
		}
	}
	c->linking = false;
	return rc;
}
