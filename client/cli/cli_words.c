/*
 * The word lists a person types and reads: decline reasons and outcomes,
 * whose words are libketen's (one table, read here through its public
 * _name functions), and urgencies, which libketen does not name. This file
 * never spells a decline reason or an outcome.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* What each value means, for --help, by value; the words are libketen's.
 * A value past the end of a list has no note. */
static const char *const reason_notes[] = {
    [KETEN_DECLINE_NOT_COMPETENT] = "not this agency's task",
    [KETEN_DECLINE_NO_CAPACITY] = "no room to take it on",
    [KETEN_DECLINE_INSUFFICIENT_INFO] = "too little to decide on",
    [KETEN_DECLINE_WRONG_REGION] = "belongs to another region",
    [KETEN_DECLINE_OTHER] = "the note says why",
};

static const char *const outcome_notes[] = {
    [KETEN_OUTCOME_COMPLETED] = "the help or measure is finished",
    [KETEN_OUTCOME_VOLUNTARY_CARE] = "continued in voluntary care",
    [KETEN_OUTCOME_NO_CONCERNS] = "concerns not confirmed",
    [KETEN_OUTCOME_MOVED] = "the family left the region",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *
cli_words_urgency(enum keten_urgency u)
{
	switch (u) {
	case KETEN_URGENCY_ROUTINE:
		return "routine";
	case KETEN_URGENCY_URGENT:
		return "urgent";
	case KETEN_URGENCY_IMMEDIATE:
		return "immediate";
	}
	return "?";
}

enum keten_urgency
cli_words_urgency_parse(const char *word)
{
	for (int u = KETEN_URGENCY_ROUTINE; u <= KETEN_URGENCY_IMMEDIATE; u++)
		if (strcmp(word, cli_words_urgency((enum keten_urgency)u)) == 0)
			return (enum keten_urgency)u;
	return 0;
}

/* The word for value (from 1) in list, or NULL past its end: libketen's
 * _name functions say "?" (or NULL) for a value outside the enum. */
static const char *
words_name(enum cli_words list, int value)
{
	const char *w = NULL;

	switch (list) {
	case CLI_WORDS_NONE:
		break;
	case CLI_WORDS_REASON:
		w = keten_decline_reason_name((enum keten_decline_reason)value);
		break;
	case CLI_WORDS_OUTCOME:
		w = keten_outcome_name((enum keten_outcome)value);
		break;
	case CLI_WORDS_URGENCY:
		w = cli_words_urgency((enum keten_urgency)value);
		break;
	}
	return w == NULL || strcmp(w, "?") == 0 ? NULL : w;
}

static const char *
words_note(enum cli_words list, int value)
{
	const char *const *notes = NULL;
	size_t n = 0;

	if (list == CLI_WORDS_REASON) {
		notes = reason_notes;
		n = NELEM(reason_notes);
	} else if (list == CLI_WORDS_OUTCOME) {
		notes = outcome_notes;
		n = NELEM(outcome_notes);
	}
	return (size_t)value < n ? notes[value] : NULL;
}

void
cli_words_help(FILE *f, enum cli_words list, int indent)
{
	const char *w, *note;
	int width = 0;

	for (int v = 1; (w = words_name(list, v)) != NULL; v++)
		if ((int)strlen(w) > width)
			width = (int)strlen(w);
	for (int v = 1; (w = words_name(list, v)) != NULL; v++) {
		note = words_note(list, v);
		if (note != NULL)
			fprintf(f, "%*s%-*s  %s\n", indent, "", width, w, note);
		else
			fprintf(f, "%*s%s\n", indent, "", w);
	}
}

void
cli_words_refused(const char *verb, const char *opt, enum cli_words list,
                  const char *arg)
{
	const char *w, *next;

	fprintf(stderr, "keten %s: --%s is ", verb, opt);
	for (int v = 1; (w = words_name(list, v)) != NULL; v++) {
		next = words_name(list, v + 1);
		fprintf(stderr, "%s%s", v > 1 ? (next ? ", " : " or ") : "", w);
	}
	fprintf(stderr, ", not '%s'\n", arg);
}
