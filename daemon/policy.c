/* Route policy; knows nothing of transport or storage. */
#include <stddef.h>

#include "policy.h"
#include "wire.h"

static const struct route {
	uint32_t type;
	enum keten_kind from;
	enum keten_kind to;
} routes[] = {
    /* The default chain: a local team reports to Veilig Thuis. */
    {WIRE_TYPE_REFERRAL, KETEN_KIND_LOCAL_TEAM, KETEN_KIND_VEILIG_THUIS},
};

static const char *
type_name(uint32_t type)
{
	return type == WIRE_TYPE_REFERRAL ? "referral" : "message";
}

int
policy_route_check(const struct agency *from, uint32_t type,
                   const struct agency *to, struct keten_error *err)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (routes[i].type == type && routes[i].from == from->kind &&
		    routes[i].to == to->kind)
			return KETEN_OK;
	return error_set(
	    err, KETEN_E_ROUTE,
	    "a %s may not send a %s to a %s (%s -> %s is not a route in "
	    "this region)",
	    config_kind_name(from->kind), type_name(type),
	    config_kind_name(to->kind), from->id, to->id);
}
