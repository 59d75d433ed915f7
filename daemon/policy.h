/*
 * What each agency kind may send to which kind, by the region config's
 * route table; policy_route_check is the single place it is enforced.
 */
#ifndef KETEN_POLICY_H
#define KETEN_POLICY_H

#include <stdint.h>

#include "config.h"
#include "error.h"

/*
 * KETEN_OK if the config's route table lets `from` send `type` to `to`. Only
 * referral, handover and feedback are routed; every other type returns
 * KETEN_OK here (the case state machine decides who may answer). A route's
 * "any" matches every kind but auditor. Otherwise KETEN_E_ROUTE with a
 * sentence naming both kinds and both agencies.
 */
int policy_route_check(const struct config *c, const struct agency *from,
                       uint32_t type, const struct agency *to,
                       struct keten_error *err) WUR;

#endif
