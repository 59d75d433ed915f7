/*
 * The checks on what a sender writes into a referral or handover, applied
 * by libketen before sealing (the broker cannot see content). Reads no
 * clock and never quotes a checked value: BSNs and birth dates stay out of
 * error sentences, which systems log.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "content_check.h"

static int
content_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

const char *
content_check_bsn(const char *bsn)
{
	int sum = 0, any = 0;

	if (bsn == NULL || strlen(bsn) != 9)
		return "not nine digits";
	for (int i = 0; i < 9; i++) {
		if (!content_digit(bsn[i]))
			return "not nine digits";
		/* weights 9, 8, ..., 2 for the first eight, -1 for the last */
		sum += (bsn[i] - '0') * (i < 8 ? 9 - i : -1);
		any |= bsn[i] != '0';
	}
	if (!any)
		return "all zeros (leave a BSN that is not known empty)";
	if (sum % 11 != 0)
		return "not a BSN: it fails the eleven-test (elfproef)";
	return NULL;
}

static int
content_days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30,
	                             31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

const char *
content_check_date(const char *date, int64_t now_us)
{
	static const char form[] = "DDDD-DD-DD";
	char today[16];
	struct tm tm;
	time_t t;
	int y, m, d;

	if (date == NULL || strlen(date) != sizeof(form) - 1)
		return "not in the form YYYY-MM-DD";
	for (size_t i = 0; i < sizeof(form) - 1; i++)
		if (form[i] == 'D' ? !content_digit(date[i]) : date[i] != '-')
			return "not in the form YYYY-MM-DD";
	y = (date[0] - '0') * 1000 + (date[1] - '0') * 100 +
	    (date[2] - '0') * 10 + (date[3] - '0');
	m = (date[5] - '0') * 10 + (date[6] - '0');
	d = (date[8] - '0') * 10 + (date[9] - '0');
	if (m < 1 || m > 12 || d < 1 || d > content_days_in_month(y, m))
		return "not a calendar date (no such day)";
	/* Both YYYY-MM-DD with four-digit years: strcmp orders them. */
	if (strcmp(date, CONTENT_DATE_MIN) < 0)
		return "before " CONTENT_DATE_MIN;
	t = (time_t)((now_us + CONTENT_TZ_AHEAD_US) / 1000000);
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(today, sizeof(today), "%Y-%m-%d", &tm) != 10)
		return "not checkable against today's date";
	if (strcmp(date, today) > 0)
		return "in the future";
	return NULL;
}

int
content_check_name(const char *name)
{
	if (name == NULL)
		return 0;
	for (; *name; name++)
		if (strchr(" \t\r\n\v\f", *name) == NULL)
			return 1;
	return 0;
}

/* Checks one person: who ("the child's", "household member 2's") and
 * path ("child", "household[1]") name it in the sentence. */
static int
content_check_person(const struct keten_person *p, const char *who,
                     const char *path, int64_t now_us, struct keten_error *err)
{
	const char *rule;

	if (!content_check_name(p->name))
		return error_set(err, KETEN_E_FIELD,
		                 "%s name (%s.name) is empty: a name is "
		                 "required",
		                 who, path);
	if (p->date_of_birth != NULL && p->date_of_birth[0] != '\0' &&
	    (rule = content_check_date(p->date_of_birth, now_us)) != NULL)
		return error_set(err, KETEN_E_FIELD,
		                 "%s date of birth (%s.date_of_birth) is %s",
		                 who, path, rule);
	if (p->bsn != NULL && p->bsn[0] != '\0' &&
	    (rule = content_check_bsn(p->bsn)) != NULL)
		return error_set(err, KETEN_E_FIELD, "%s BSN (%s.bsn) is %s",
		                 who, path, rule);
	return KETEN_OK;
}

int
content_check_referral(const struct keten_referral_content *c, int64_t now_us,
                       struct keten_error *err)
{
	char who[48], path[32];
	int rc;

	if (c->n_household > 0 && c->household == NULL)
		return error_set(err, KETEN_E_USAGE,
		                 "n_household is %zu but household is NULL",
		                 c->n_household);
	if ((rc = content_check_person(&c->child, "the child's", "child",
	                               now_us, err)) != KETEN_OK)
		return rc;
	for (size_t i = 0; i < c->n_household; i++) {
		snprintf(who, sizeof(who), "household member %zu's", i + 1);
		snprintf(path, sizeof(path), "household[%zu]", i);
		if ((rc = content_check_person(&c->household[i], who, path,
		                               now_us, err)) != KETEN_OK)
			return rc;
	}
	return KETEN_OK;
}

int
content_check_respond_by(int64_t respond_by_us, int64_t now_us,
                         struct keten_error *err)
{
	const int64_t horizon_us =
	    (int64_t)CONTENT_RESPOND_BY_MAX_DAYS * 86400 * 1000000;

	if (respond_by_us == 0) /* the region's default */
		return KETEN_OK;
	if (respond_by_us <= now_us)
		return error_set(err, KETEN_E_FIELD,
		                 "the decision deadline (respond_by) has "
		                 "passed already: it must lie after now");
	if (respond_by_us > now_us + horizon_us)
		return error_set(err, KETEN_E_FIELD,
		                 "the decision deadline (respond_by) is more "
		                 "than %d days ahead, the horizon a deadline "
		                 "may lie within",
		                 CONTENT_RESPOND_BY_MAX_DAYS);
	return KETEN_OK;
}
