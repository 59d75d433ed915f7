/*
 * content_check: the rules a referral's BSNs, dates, names and deadline
 * must meet before libketen seals them. Each rule, kept and broken.
 */
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "content_check.h"

#define S_US    1000000LL
#define DAY_US  (86400 * S_US)
#define NOON_US (1777636800LL * S_US) /* 2026-05-01T12:00:00Z */

/* rule is non-NULL and says what. */
#define BROKEN(rule, words)                                                    \
	do {                                                                   \
		const char *r_ = (rule);                                       \
		CHECK(r_ != NULL);                                             \
		CHECK_STR_HAS(r_ ? r_ : "(null)", words);                      \
	} while (0)

static void
test_bsn(void)
{
	/* 9*1+8*1+7*1+6*2+5*2+4*2+3*3+2*3-3 = 66 = 6*11 */
	CHECK(content_check_bsn("111222333") == NULL);
	CHECK(content_check_bsn("999999990") == NULL); /* 396 = 36*11 */
	CHECK(content_check_bsn("123456782") == NULL); /* 154 = 14*11 */
	/* The issue's: 147 = 13*11 + 4; and one digit off a good one. */
	BROKEN(content_check_bsn("123456789"), "eleven-test");
	BROKEN(content_check_bsn("111222334"), "eleven-test");
	BROKEN(content_check_bsn("211222333"), "eleven-test");
	BROKEN(content_check_bsn("12345"), "nine digits");
	BROKEN(content_check_bsn("1112223330"), "nine digits");
	BROKEN(content_check_bsn("11122233"), "nine digits");
	BROKEN(content_check_bsn("11122233x"), "nine digits");
	BROKEN(content_check_bsn(" 11122233"), "nine digits");
	BROKEN(content_check_bsn("x"), "nine digits");
	BROKEN(content_check_bsn(""), "nine digits");
	BROKEN(content_check_bsn(NULL), "nine digits");
	BROKEN(content_check_bsn("000000000"), "all zeros");
}

static void
test_date(void)
{
	CHECK(content_check_date("2016-04-12", NOON_US) == NULL);
	CHECK(content_check_date("2016-02-29", NOON_US) == NULL); /* leap */
	CHECK(content_check_date("2000-02-29", NOON_US) == NULL); /* 400 */
	CHECK(content_check_date("2016-12-31", NOON_US) == NULL);
	CHECK(content_check_date("1900-01-01", NOON_US) == NULL); /* bound */
	CHECK(content_check_date("2026-05-01", NOON_US) == NULL); /* today */
	/* 12:00 UTC is 02:00 on 2 May in UTC+14: born there today. */
	CHECK(content_check_date("2026-05-02", NOON_US) == NULL);
	BROKEN(content_check_date("2026-05-02", NOON_US - 2 * 3600 * S_US - 1),
	       "in the future");
	CHECK(content_check_date("2026-05-02", NOON_US - 2 * 3600 * S_US) ==
	      NULL);
	BROKEN(content_check_date("2026-05-03", NOON_US), "in the future");
	BROKEN(content_check_date("2031-01-01", NOON_US), "in the future");

	BROKEN(content_check_date("2016-02-30", NOON_US), "calendar");
	BROKEN(content_check_date("2015-02-29", NOON_US), "calendar");
	BROKEN(content_check_date("1900-02-29", NOON_US), "calendar");
	BROKEN(content_check_date("2016-04-31", NOON_US), "calendar");
	BROKEN(content_check_date("1980-13-01", NOON_US), "calendar");
	BROKEN(content_check_date("2016-00-10", NOON_US), "calendar");
	BROKEN(content_check_date("2016-01-00", NOON_US), "calendar");
	BROKEN(content_check_date("2016-01-32", NOON_US), "calendar");

	BROKEN(content_check_date("12-04-2016", NOON_US), "YYYY-MM-DD");
	BROKEN(content_check_date("2016-4-12", NOON_US), "YYYY-MM-DD");
	BROKEN(content_check_date("2016/04/12", NOON_US), "YYYY-MM-DD");
	BROKEN(content_check_date("2016-04-12 ", NOON_US), "YYYY-MM-DD");
	BROKEN(content_check_date("2016-04-1x", NOON_US), "YYYY-MM-DD");
	BROKEN(content_check_date("+016-04-12", NOON_US), "YYYY-MM-DD");
	BROKEN(content_check_date("", NOON_US), "YYYY-MM-DD");
	BROKEN(content_check_date(NULL, NOON_US), "YYYY-MM-DD");

	BROKEN(content_check_date("1899-12-31", NOON_US), "before 1900-01-01");
	BROKEN(content_check_date("1890-01-01", NOON_US), "before 1900-01-01");
}

static void
test_name(void)
{
	CHECK(content_check_name("Jan"));
	CHECK(content_check_name("  J "));
	CHECK(!content_check_name(""));
	CHECK(!content_check_name("   "));
	CHECK(!content_check_name(" \t\r\n"));
	CHECK(!content_check_name(NULL));
}

/* content_check_referral refuses with code and a message holding each
 * of the words given (w2, w3 may be NULL). */
static void
refused(const struct keten_referral_content *c, int code, const char *w1,
        const char *w2, const char *w3)
{
	struct keten_error err;

	memset(&err, 0, sizeof(err));
	CHECK_INT(content_check_referral(c, NOON_US, &err), code);
	CHECK_INT(err.code, code);
	CHECK_STR_HAS(err.message, w1);
	if (w2)
		CHECK_STR_HAS(err.message, w2);
	if (w3)
		CHECK_STR_HAS(err.message, w3);
}

static void
test_referral(void)
{
	struct keten_person hh[2] = {{"Sanne de Vries", "1988-09-30", ""},
	                             {"Jan", NULL, NULL}};
	struct keten_referral_content c;
	struct keten_error err;

	memset(&c, 0, sizeof(c));
	c.child.name = "Noor de Vries";
	c.child.date_of_birth = "2016-04-12";
	c.child.bsn = "111222333";
	c.household = hh;
	c.n_household = 2;
	CHECK_INT(content_check_referral(&c, NOON_US, &err), KETEN_OK);
	/* Date of birth and BSN stay optional: "" or NULL is "not known". */
	c.child.date_of_birth = "";
	c.child.bsn = NULL;
	CHECK_INT(content_check_referral(&c, NOON_US, &err), KETEN_OK);

	c.child.name = " ";
	refused(&c, KETEN_E_FIELD, "the child's name", "child.name", "empty");
	c.child.name = NULL;
	refused(&c, KETEN_E_FIELD, "child.name", NULL, NULL);
	c.child.name = "Noor";
	c.child.date_of_birth = "2031-01-01";
	refused(&c, KETEN_E_FIELD, "the child's date of birth",
	        "child.date_of_birth", "in the future");
	c.child.date_of_birth = "12-04-2016";
	refused(&c, KETEN_E_FIELD, "child.date_of_birth", "YYYY-MM-DD", NULL);
	c.child.date_of_birth = "2016-04-12";
	c.child.bsn = "123456789";
	refused(&c, KETEN_E_FIELD, "the child's BSN", "child.bsn",
	        "eleven-test");
	/* The sentence names the field, never the value. */
	CHECK_INT(content_check_referral(&c, NOON_US, &err), KETEN_E_FIELD);
	CHECK(strstr(err.message, "123456789") == NULL);
	c.child.bsn = "12345";
	refused(&c, KETEN_E_FIELD, "child.bsn", "nine digits", NULL);
	c.child.bsn = "";

	/* The household entry 'Jan;1980-13-01;x': the member by
	 * position, the date first. */
	hh[1].date_of_birth = "1980-13-01";
	hh[1].bsn = "x";
	refused(&c, KETEN_E_FIELD, "household member 2's date of birth",
	        "household[1].date_of_birth", "calendar date");
	hh[1].date_of_birth = "1980-12-01";
	refused(&c, KETEN_E_FIELD, "household member 2's BSN",
	        "household[1].bsn", "nine digits");
	hh[1].bsn = "";
	CHECK_INT(content_check_referral(&c, NOON_US, &err), KETEN_OK);
	hh[0].name = "";
	refused(&c, KETEN_E_FIELD, "household member 1's name",
	        "household[0].name", NULL);
	hh[0].name = "Sanne";
	c.household = NULL;
	refused(&c, KETEN_E_USAGE, "household is NULL", NULL, NULL);
	c.n_household = 0;
	CHECK_INT(content_check_referral(&c, NOON_US, &err), KETEN_OK);
}

static void
test_respond_by(void)
{
	struct keten_error err;

	CHECK_INT(content_check_respond_by(0, NOON_US, &err), KETEN_OK);
	CHECK_INT(content_check_respond_by(NOON_US + 1, NOON_US, &err),
	          KETEN_OK);
	CHECK_INT(
	    content_check_respond_by(NOON_US + 366 * DAY_US, NOON_US, &err),
	    KETEN_OK);
	CHECK_INT(
	    content_check_respond_by(NOON_US + 366 * DAY_US + 1, NOON_US, &err),
	    KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "respond_by");
	CHECK_STR_HAS(err.message, "more than 366 days ahead");
	/* --respond-by 2126-01-01 */
	CHECK_INT(content_check_respond_by(4922899200LL * S_US, NOON_US, &err),
	          KETEN_E_FIELD);
	CHECK_INT(content_check_respond_by(INT64_MAX, NOON_US, &err),
	          KETEN_E_FIELD);
	CHECK_INT(content_check_respond_by(NOON_US, NOON_US, &err),
	          KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "passed already");
	CHECK_INT(content_check_respond_by(-1, NOON_US, &err), KETEN_E_FIELD);
	CHECK_STR_HAS(err.message, "passed already");
}

int
main(void)
{
	test_bsn();
	test_date();
	test_name();
	test_referral();
	test_respond_by();
	return check_done("test_content_check");
}
