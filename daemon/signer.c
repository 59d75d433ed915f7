/*
 * The broker's signatures: checkpoints and roster records. Must never
 * copy, log or return the secret key.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "note.h"
#include "signer.h"

struct signer {
	struct keys *keys; /* sodium_malloc'd, wiped on destroy */
	char origin[NOTE_NAME_MAX + 1];
};

int
signer_new(struct signer **out, struct keys **k, const char *origin,
           struct keten_error *err)
{
	struct signer *s;

	if (strlen(origin) > NOTE_NAME_MAX)
		return error_set(err, KETEN_E_INTERNAL, "origin too long");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	strcpy(s->origin, origin);
	s->keys = *k;
	*k = NULL;
	*out = s;
	return KETEN_OK;
}

void
signer_checkpoint(void *s, struct keten_checkpoint *c)
{
	const struct signer *sg = s;

	note_checkpoint_sign(c, sg->origin, sg->keys->sign_sk);
}

int
signer_roster_sign(void *s, uint8_t sig[64], const uint8_t *msg, size_t mlen)
{
	const struct signer *sg = s;

	return crypto_sign_detached(sig, NULL, msg, mlen, sg->keys->sign_sk) ==
	               0
	           ? KETEN_OK
	           : KETEN_E_INTERNAL;
}

void
signer_destroy(struct signer **s)
{
	if (s == NULL || *s == NULL)
		return;
	keys_destroy(&(*s)->keys);
	free(*s);
	*s = NULL;
}
