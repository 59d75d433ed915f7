/*
 * The cases an audit replays, kept compactly: a struct case_state is 1,168
 * bytes, nearly all of it sixteen 64-byte party ids, so an audit of a log of
 * a million cases would hold over a gigabyte of mostly empty names. The
 * book keeps each party as a number into one table of the ids it has seen
 * (192 bytes a case) and expands a case to a struct case_state only while
 * a record is replayed against it.
 *
 * Cases are numbered in the order they were first stored, which in a replay
 * is the order they were opened.
 */
#ifndef KETEN_CASEBOOK_H
#define KETEN_CASEBOOK_H

#include <stddef.h>
#include <stdint.h>

#include "case.h"

struct casebook;

/* NULL if out of memory. */
struct casebook *casebook_new(void);
void casebook_free(struct casebook **b);

/* Case id's state into st, and its number into *at; for a case not in the
 * book, a zeroed st (CASE_NONE, as case_step expects) and *at SIZE_MAX. */
void casebook_get(const struct casebook *b, const uint8_t *id,
                  struct case_state *st, size_t *at);
/* Stores st as case number at (SIZE_MAX: a new case, numbered next).
 * -1 if out of memory. */
int casebook_put(struct casebook *b, size_t at, const struct case_state *st);

size_t casebook_count(const struct casebook *b);
/* Case number i (i < casebook_count) into st. */
void casebook_case(const struct casebook *b, size_t i, struct case_state *st);

#endif
