/*
 * The holder of the broker's secret signing key: the only code that sees
 * it. Small on purpose, so it can become its own process later.
 */
#ifndef KETEN_SIGNER_H
#define KETEN_SIGNER_H

#include "error.h"
#include "keys.h"
#include "wire.h"

struct signer;

/* Takes ownership of *k (and sets it to NULL): the caller keeps no copy.
 * origin names the checkpoints it signs ("keten/<region>"). */
int signer_new(struct signer **out, struct keys **k, const char *origin,
               struct keten_error *err) WUR;
/* Signs a checkpoint in place. Thread-safe: reads the key only. The
 * signature of the type store_open wants (a void * for the signer). */
void signer_checkpoint(void *s, struct keten_checkpoint *c);
/* Wipes the key and frees; NULL is a no-op. */
void signer_destroy(struct signer **s);

#endif
