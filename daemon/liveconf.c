/*
 * The region config in force and its older generations still in use
 * (liveconf.h). Must never free a generation someone holds, nor let a
 * reload change the region, the data directory or the broker's keys.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "liveconf.h"
#include "log.h"

struct liveconf {
	pthread_mutex_t mu;       /* guards cur (the pointer, not the gen) */
	struct liveconf_gen *cur; /* the holder's reference */
	unsigned next_generation; /* the I/O thread's alone */
};

static int
gen_new(struct liveconf_gen **out, struct config *take, unsigned generation,
        struct keten_error *err)
{
	struct liveconf_gen *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		config_destroy(&take);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	g->cfg = take;
	g->generation = generation;
	atomic_init(&g->refs, 1);
	*out = g;
	return KETEN_OK;
}

int
liveconf_new(struct liveconf **out, struct config *take,
             struct keten_error *err)
{
	struct liveconf *l = calloc(1, sizeof(*l));
	int rc;

	if (l == NULL) {
		config_destroy(&take);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	if ((rc = gen_new(&l->cur, take, 1, err)) != KETEN_OK) {
		free(l);
		return rc;
	}
	l->next_generation = 2;
	pthread_mutex_init(&l->mu, NULL);
	*out = l;
	return KETEN_OK;
}

void
liveconf_destroy(struct liveconf **l)
{
	if (l == NULL || *l == NULL)
		return;
	liveconf_release(&(*l)->cur);
	pthread_mutex_destroy(&(*l)->mu);
	free(*l);
	*l = NULL;
}

struct liveconf_gen *
liveconf_acquire(struct liveconf *l)
{
	struct liveconf_gen *g;

	/* The increment happens while the holder's own reference keeps g
	 * alive: a swap cannot drop it between the load and the hold. */
	pthread_mutex_lock(&l->mu);
	g = liveconf_hold(l->cur);
	pthread_mutex_unlock(&l->mu);
	return g;
}

struct liveconf_gen *
liveconf_hold(struct liveconf_gen *g)
{
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	return g;
}

void
liveconf_release(struct liveconf_gen **g)
{
	struct config *c;

	if (g == NULL || *g == NULL)
		return;
	/* acq_rel: every read of the config by the other holders happens
	 * before the free below. */
	if (atomic_fetch_sub_explicit(&(*g)->refs, 1, memory_order_acq_rel) ==
	    1) {
		c = (struct config *)(*g)->cfg;
		config_destroy(&c);
		free(*g);
	}
	*g = NULL;
}

int
liveconf_prepare(struct liveconf_gen **out, struct liveconf *l,
                 struct config *take, struct keten_error *err)
{
	return gen_new(out, take, l->next_generation, err);
}

void
liveconf_install(struct liveconf *l, struct liveconf_gen *g)
{
	struct liveconf_gen *old;

	pthread_mutex_lock(&l->mu);
	old = l->cur;
	l->cur = g;
	pthread_mutex_unlock(&l->mu);
	l->next_generation = g->generation + 1;
	liveconf_release(&old);
}

int
liveconf_compatible(struct config *next, const struct config *cur,
                    char *restart, size_t restart_cap, struct keten_error *err)
{
	size_t used = 0;

	if (strcmp(next->region, cur->region) != 0)
		return error_set(err, KETEN_E_CONFIG,
		                 "%s: region is '%s' but the broker serves "
		                 "region '%s'; a region is never renamed",
		                 next->path, next->region, cur->region);
	if (strcmp(next->data_dir, cur->data_dir) != 0)
		return error_set(
		    err, KETEN_E_CONFIG,
		    "%s: data_dir is %s but the broker runs on %s; "
		    "moving the log takes a restart",
		    next->path, next->data_dir, cur->data_dir);
	if (strcmp(next->broker_key_file, cur->broker_key_file) != 0 ||
	    sodium_memcmp(next->broker_sign_pk, cur->broker_sign_pk, 32) != 0 ||
	    sodium_memcmp(next->broker_curve_pk, cur->broker_curve_pk, 32) != 0)
		return error_set(
		    err, KETEN_E_CONFIG,
		    "%s: the broker's key_file, sign_key or transport_key "
		    "differs from the one in force; the broker's key changes "
		    "only as a recorded rotation, not on reload",
		    next->path);
	restart[0] = '\0';
#define KEEP(field, differs)                                                   \
	do {                                                                   \
		if (differs) {                                                 \
			used += (size_t)snprintf(                              \
			    restart + used,                                    \
			    used < restart_cap ? restart_cap - used : 0,       \
			    "%s%s", used ? "," : "", #field);                  \
			if (used >= restart_cap)                               \
				used = restart_cap - 1;                        \
		}                                                              \
	} while (0)
	KEEP(listen, strcmp(next->listen, cur->listen) != 0);
	KEEP(workers, next->workers != cur->workers);
	KEEP(map_size, next->map_size != cur->map_size);
	KEEP(map_max, next->map_max != cur->map_max);
	KEEP(metrics.listen,
	     strcmp(next->metrics_listen, cur->metrics_listen) != 0);
#undef KEEP
	memcpy(next->listen, cur->listen, sizeof(next->listen));
	next->workers = cur->workers;
	next->map_size = cur->map_size;
	next->map_max = cur->map_max;
	memcpy(next->metrics_listen, cur->metrics_listen,
	       sizeof(next->metrics_listen));
	return KETEN_OK;
}

static bool
same_duration(const struct duration *a, const struct duration *b)
{
	return a->us == b->us && a->working_days == b->working_days;
}

static const char *
same(bool s)
{
	return s ? "same" : "changed";
}

void
liveconf_describe(char *buf, size_t cap, const struct config *cur,
                  const struct config *next)
{
	size_t added = 0, removed = 0, rekeyed = 0;
	bool routes, deadlines, limits, witnesses;

	for (size_t i = 0; i < next->n_agencies; i++) {
		const struct agency *n = &next->agencies[i];
		const struct agency *o = liveconf_member(cur, n->id);
		if (o == NULL)
			added++;
		else if (memcmp(o->sign_pk, n->sign_pk, 32) != 0 ||
		         memcmp(o->box_pk, n->box_pk, 32) != 0 ||
		         memcmp(o->curve_pk, n->curve_pk, 32) != 0 ||
		         o->kind != n->kind)
			rekeyed++;
	}
	for (size_t i = 0; i < cur->n_agencies; i++)
		if (liveconf_member(next, cur->agencies[i].id) == NULL)
			removed++;
	routes = cur->n_routes == next->n_routes &&
	         (cur->n_routes == 0 ||
	          memcmp(cur->routes, next->routes,
	                 cur->n_routes * sizeof(*cur->routes)) == 0);
	deadlines =
	    same_duration(&cur->deadline_acknowledge,
	                  &next->deadline_acknowledge) &&
	    same_duration(&cur->deadline_referral, &next->deadline_referral) &&
	    same_duration(&cur->deadline_handover, &next->deadline_handover);
	limits = cur->max_message_bytes == next->max_message_bytes &&
	         cur->batch_max == next->batch_max &&
	         cur->peer_inbound_bytes == next->peer_inbound_bytes &&
	         cur->peer_outbound_bytes == next->peer_outbound_bytes &&
	         cur->inbound_budget_bytes == next->inbound_budget_bytes &&
	         cur->outbound_budget_bytes == next->outbound_budget_bytes &&
	         cur->max_connections == next->max_connections;
	witnesses = cur->n_witnesses == next->n_witnesses &&
	            cur->witness_quorum == next->witness_quorum;
	for (size_t i = 0; witnesses && i < cur->n_witnesses; i++) {
		const struct witness *o = &cur->witnesses[i];
		const struct witness *n = &next->witnesses[i];
		witnesses = strcmp(o->name, n->name) == 0 &&
		            memcmp(o->cosign_pk, n->cosign_pk, 32) == 0 &&
		            memcmp(o->curve_pk, n->curve_pk, 32) == 0;
	}
	snprintf(buf, cap,
	         "agencies_added=%zu agencies_removed=%zu agencies_rekeyed=%zu "
	         "routes=%s deadlines=%s limits=%s witnesses=%s",
	         added, removed, rekeyed, same(routes), same(deadlines),
	         same(limits), same(witnesses));
}

const struct revocation *
liveconf_revoked(const struct config *c, const char *id)
{
	const struct agency *a = config_find(c, id);

	for (size_t i = 0; a != NULL && i < c->n_revoked; i++)
		if (strcmp(c->revoked[i].agency, id) == 0 &&
		    memcmp(c->revoked[i].sign_pk, a->sign_pk, 32) == 0)
			return &c->revoked[i];
	return NULL;
}

const struct agency *
liveconf_member(const struct config *c, const char *id)
{
	const struct agency *a = config_find(c, id);

	return a != NULL && liveconf_revoked(c, id) == NULL ? a : NULL;
}

const struct agency *
liveconf_member_by_transport(const struct config *c, const uint8_t pk[32])
{
	const struct agency *a = config_find_transport(c, pk);

	return a != NULL && liveconf_revoked(c, a->id) == NULL ? a : NULL;
}

size_t
liveconf_index(const struct config *c, const struct agency *a)
{
	if (a < c->agencies || a >= c->agencies + c->n_agencies)
		fatalx("event=agency_of_another_config agency=%s", a->id);
	return (size_t)(a - c->agencies);
}
