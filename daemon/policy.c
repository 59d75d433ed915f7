/* Route policy from the config's table; knows nothing of transport or
 * storage, and never decides a case's answers (that is common/case.c). */
#include <stddef.h>

#include "policy.h"
#include "wire.h"

/* "any" is KETEN_KIND_NONE; auditors are refused before this is asked. */
static int
kind_matches(enum keten_kind want, enum keten_kind kind)
{
	return want == KETEN_KIND_NONE || want == kind;
}

int
policy_route_check(const struct config *c, const struct agency *from,
                   uint32_t type, const struct agency *to,
                   struct keten_error *err)
{
	if (type != KETEN_MSG_REFERRAL && type != KETEN_MSG_HANDOVER &&
	    type != KETEN_MSG_FEEDBACK)
		return KETEN_OK;
	if (from->kind == KETEN_KIND_AUDITOR || to->kind == KETEN_KIND_AUDITOR)
		return error_set(err, KETEN_E_ROUTE,
		                 "an auditor sends and receives nothing (%s "
		                 "-> %s is not a route)",
		                 from->id, to->id);
	for (size_t i = 0; i < c->n_routes; i++)
		if (c->routes[i].type == type &&
		    kind_matches(c->routes[i].from, from->kind) &&
		    kind_matches(c->routes[i].to, to->kind))
			return KETEN_OK;
	return error_set(
	    err, KETEN_E_ROUTE,
	    "a %s may not send a %s to a %s (%s -> %s is not a route in "
	    "this region)",
	    config_kind_name(from->kind), keten_message_type_name(type),
	    config_kind_name(to->kind), from->id, to->id);
}
