/*
 * The words for the protocol's enumerations: message types, decline
 * reasons, outcomes and case status, one table each, read by the broker,
 * the config, the library and (through it) the CLI. Must never hold a word
 * twice or spell one differently from docs/PROTOCOL.md.
 */
#include <string.h>

#include "keten_public.h"

static const char *const type_words[KETEN_MSG_TYPE_MAX + 1] = {
    [KETEN_MSG_REFERRAL] = "referral",
    [KETEN_MSG_ACKNOWLEDGE] = "acknowledge",
    [KETEN_MSG_ACCEPT] = "accept",
    [KETEN_MSG_DECLINE] = "decline",
    [KETEN_MSG_HANDOVER] = "handover",
    [KETEN_MSG_WITHDRAW] = "withdraw",
    [KETEN_MSG_INFO_REQUEST] = "info_request",
    [KETEN_MSG_INFO_REPLY] = "info_reply",
    [KETEN_MSG_FEEDBACK] = "feedback",
    [KETEN_MSG_CLOSE] = "close",
};

static const char *const reason_words[KETEN_DECLINE_MAX + 1] = {
    [KETEN_DECLINE_NOT_COMPETENT] = "not_competent",
    [KETEN_DECLINE_NO_CAPACITY] = "no_capacity",
    [KETEN_DECLINE_INSUFFICIENT_INFO] = "insufficient_info",
    [KETEN_DECLINE_WRONG_REGION] = "wrong_region",
    [KETEN_DECLINE_OTHER] = "other",
};

static const char *const outcome_words[KETEN_OUTCOME_MAX + 1] = {
    [KETEN_OUTCOME_COMPLETED] = "completed",
    [KETEN_OUTCOME_VOLUNTARY_CARE] = "voluntary_care",
    [KETEN_OUTCOME_NO_CONCERNS] = "no_concerns",
    [KETEN_OUTCOME_MOVED] = "moved",
    [KETEN_OUTCOME_OTHER] = "other",
};

/* words[1..max]: the word for v, or unknown. */
static const char *
words_name(const char *const *words, unsigned max, unsigned v,
           const char *unknown)
{
	return v >= 1 && v <= max ? words[v] : unknown;
}

/* The value whose word is word, or 0. */
static unsigned
words_parse(const char *const *words, unsigned max, const char *word)
{
	for (unsigned v = 1; word != NULL && v <= max; v++)
		if (strcmp(words[v], word) == 0)
			return v;
	return 0;
}

const char *
keten_message_type_name(enum keten_message_type t)
{
	return words_name(type_words, KETEN_MSG_TYPE_MAX, t, "?");
}

enum keten_message_type
keten_message_type_parse(const char *word)
{
	return words_parse(type_words, KETEN_MSG_TYPE_MAX, word);
}

const char *
keten_decline_reason_name(enum keten_decline_reason r)
{
	return words_name(reason_words, KETEN_DECLINE_MAX, r, "?");
}

enum keten_decline_reason
keten_decline_reason_parse(const char *word)
{
	return words_parse(reason_words, KETEN_DECLINE_MAX, word);
}

const char *
keten_outcome_name(enum keten_outcome o)
{
	return words_name(outcome_words, KETEN_OUTCOME_MAX, o, "?");
}

enum keten_outcome
keten_outcome_parse(const char *word)
{
	return words_parse(outcome_words, KETEN_OUTCOME_MAX, word);
}

const char *
keten_case_status_name(enum keten_case_status s)
{
	static const char *const status_words[] = {
	    [KETEN_CASE_OFFERED] = "offered",
	    [KETEN_CASE_HELD] = "held",
	    [KETEN_CASE_CLOSED] = "closed",
	};

	/* A case no referral opened (CASE_NONE) has always read "none". */
	return words_name(status_words, KETEN_CASE_CLOSED, s, "none");
}
