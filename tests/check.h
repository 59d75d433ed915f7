/*
 * The tests' assertions: each failed check prints where and what, and the
 * test exits non-zero at the end. No test framework to install.
 */
#ifndef KETEN_CHECK_H
#define KETEN_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                            \
	do {                                                                   \
		check_count++;                                                 \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			check_failures++;                                      \
		}                                                              \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		check_count++;                                                 \
		if (a_ != b_) {                                                \
			fprintf(stderr,                                        \
			        "%s:%d: CHECK failed: %s == %s "               \
			        "(%lld != %lld)\n",                            \
			        __FILE__, __LINE__, #a, #b, a_, b_);           \
			check_failures++;                                      \
		}                                                              \
	} while (0)

#define CHECK_STR_HAS(s, sub)                                                  \
	do {                                                                   \
		check_count++;                                                 \
		if (strstr((s), (sub)) == NULL) {                              \
			fprintf(stderr,                                        \
			        "%s:%d: CHECK failed: '%s' does "              \
			        "not contain '%s'\n",                          \
			        __FILE__, __LINE__, (s), (sub));               \
			check_failures++;                                      \
		}                                                              \
	} while (0)

static inline int
check_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
