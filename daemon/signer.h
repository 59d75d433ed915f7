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
/* Signs msg (mlen bytes: a roster record's PAE, docs/PROTOCOL.md 22.1)
 * into sig with the broker's signing key: roster_sign_fn, s the signer.
 * KETEN_OK or KETEN_E_INTERNAL. Thread-safe: reads the key only. */
int signer_roster_sign(void *s, uint8_t sig[64], const uint8_t *msg,
                       size_t mlen);
/* Wipes the key and frees; NULL is a no-op. */
void signer_destroy(struct signer **s);

#endif
