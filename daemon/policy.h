/*
 * What each agency kind may send to which kind. The routes are a table;
 * policy_route_check is the single place they are enforced.
 */
#ifndef KETEN_POLICY_H
#define KETEN_POLICY_H

#include <stdint.h>

#include "config.h"
#include "error.h"

/* KETEN_OK if an agency of `from` may send `type` to one of `to`;
 * otherwise KETEN_E_ROUTE with a sentence naming both agencies. */
int policy_route_check(const struct agency *from, uint32_t type,
                       const struct agency *to, struct keten_error *err) WUR;

#endif
