/*
 * The words a person types for a value and reads back: urgencies, which
 * libketen does not name. Decline reasons and outcomes are libketen's
 * words; this file never spells them.
 */
#include <string.h>

#include "cli.h"

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
