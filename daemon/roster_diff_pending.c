/*
 * TEMPORARY, until common/roster_diff.c (engineer B2) is merged: only the
 * first roster record (BROKER and a JOIN per agency), no later difference.
 * Delete this file when roster_diff.c lands: both define roster_diff.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster_diff.h"

int
roster_diff(struct roster_change **out, size_t *n, const struct roster *r,
            const struct config *c, struct keten_error *err)
{
	struct roster_change *ch;

	*out = NULL;
	*n = 0;
	if (roster_last_seq(r) != 0)
		return KETEN_OK;
	if ((ch = calloc(c->n_agencies + 1, sizeof(*ch))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	ch[0].action = ROSTER_BROKER;
	memcpy(ch[0].keys.sign, c->broker_sign_pk, 32);
	memcpy(ch[0].keys.transport, c->broker_curve_pk, 32);
	for (size_t i = 0; i < c->n_agencies; i++) {
		const struct agency *a = &c->agencies[i];
		struct roster_change *x = &ch[i + 1];
		x->action = ROSTER_JOIN;
		strcpy(x->agency, a->id);
		x->kind = a->kind;
		snprintf(x->name, sizeof(x->name), "%s", a->name);
		memcpy(x->keys.sign, a->sign_pk, 32);
		memcpy(x->keys.box, a->box_pk, 32);
		memcpy(x->keys.transport, a->curve_pk, 32);
	}
	*out = ch;
	*n = c->n_agencies + 1;
	return KETEN_OK;
}

void
roster_changes_free(struct roster_change *changes, size_t n)
{
	(void)n;
	free(changes);
}
