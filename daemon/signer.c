/* Broker checkpoint signing. Must never copy, log or return the secret key. */
#include <stdlib.h>

#include "chain.h"
#include "signer.h"

struct signer {
	struct keys *keys; /* sodium_malloc'd, wiped on destroy */
};

int
signer_new(struct signer **out, struct keys **k, struct keten_error *err)
{
	struct signer *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	s->keys = *k;
	*k = NULL;
	*out = s;
	return KETEN_OK;
}

void
signer_checkpoint(void *s, struct keten_checkpoint *c)
{
	const struct signer *sg = s;

	chain_checkpoint_sign(c, sg->keys->sign_sk);
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
