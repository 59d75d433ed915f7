/*
 * What the fuzz targets share: libFuzzer's entry point and checks that abort
 * on a broken invariant, so libFuzzer keeps the input. Never fixes anything
 * up: a target must see exactly what the broker or a client would.
 */
#ifndef KETEN_FUZZ_H
#define KETEN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",       \
			        __FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* A refusal carries its own code and a sentence for a person. */
void fuzz_check_refusal(int rc, const struct keten_error *err);

/*
 * Decodes an envelope as the broker, the auditor and the inbox do, checks
 * what a successful decode promises, re-encodes it and decodes it again,
 * then does the same for its body. Frees everything it decoded.
 */
void fuzz_envelope_and_body(const uint8_t *buf, size_t len);

#endif
