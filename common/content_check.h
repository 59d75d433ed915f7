/*
 * What a referral's (and a handover's) own fields must hold before they are
 * sealed: BSNs, dates, names, the decision deadline. Pure functions: they
 * read no clock and never copy a checked value into an error sentence.
 */
#ifndef KETEN_CONTENT_CHECK_H
#define KETEN_CONTENT_CHECK_H

#include <stdint.h>

#include "error.h"

/* The bounds (keten_public.h, docs/API.md "Content checks"): the earliest
 * date of birth; how far ahead a decision deadline may lie, a year with a
 * leap day, so "the end of the day a year from now" fits. */
#define CONTENT_DATE_MIN            KETEN_DATE_MIN
#define CONTENT_RESPOND_BY_MAX_DAYS KETEN_RESPOND_BY_MAX_DAYS
/* A date is "not in the future" up to the date it is now anywhere on
 * Earth: UTC+14 (Kiribati) is the furthest ahead. */
#define CONTENT_TZ_AHEAD_US ((int64_t)14 * 3600 * 1000000)

/*
 * NULL if bsn is a citizen service number: exactly nine ASCII digits, not
 * all zero, passing the eleven-test (9*d1 + 8*d2 + ... + 2*d8 - d9 is a
 * multiple of 11). Otherwise the rule it breaks, as words that follow "is".
 */
const char *content_check_bsn(const char *bsn);

/*
 * NULL if date is YYYY-MM-DD (ten characters), a day the Gregorian calendar
 * has, from CONTENT_DATE_MIN up to the date it is at now_us in UTC+14.
 * Otherwise the rule it breaks, as words that follow "is".
 */
const char *content_check_date(const char *date, int64_t now_us);

/* Whether name holds something other than white space (NULL: no). */
int content_check_name(const char *name);

/*
 * Checks a referral's content at now_us: the child's name is not blank;
 * each household member has a name that is not blank; every date of birth
 * given passes content_check_date and every BSN given content_check_bsn
 * (an empty or NULL one is "not known" and allowed). KETEN_OK, or
 * KETEN_E_FIELD with a sentence naming the field (by position for a
 * household member, never its value) and the rule; KETEN_E_USAGE if
 * n_household > 0 with no household array.
 */
int content_check_referral(const struct keten_referral_content *c,
                           int64_t now_us, struct keten_error *err) WUR;

/*
 * Checks an offer's decision deadline at now_us: 0 (the region's default)
 * or after now_us and at most CONTENT_RESPOND_BY_MAX_DAYS days after it.
 * KETEN_OK, or KETEN_E_FIELD naming respond_by and the rule.
 */
int content_check_respond_by(int64_t respond_by_us, int64_t now_us,
                             struct keten_error *err) WUR;

#endif
