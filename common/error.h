/*
 * The project's one error type: codes from keten_public.h, a sentence for a
 * person. Never put a secret or any case content into an error message.
 */
#ifndef KETEN_ERROR_H
#define KETEN_ERROR_H

#include "keten_public.h"

#define WUR __attribute__((warn_unused_result))

/* Sets err (if not NULL) and returns code, so callers can `return
 * error_set(...)`. */
int error_set(struct keten_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to KETEN_OK and an empty message. */
void error_clear(struct keten_error *err);

#endif
