/*
 * The roster's history and its rules (docs/PROTOCOL.md 22), folded from
 * roster records. Pure: no I/O, no clock. Must never apply part of a
 * record: a refused record leaves the roster as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "roster.h"

int
roster_new(struct roster **out, const char *region, struct keten_error *err)
{
	(void)region;
	*out = NULL;
	return error_set(err, KETEN_E_INTERNAL, "roster: not yet");
}

void
roster_destroy(struct roster **r)
{
	(void)r;
}

int
roster_apply(struct roster *r, uint64_t seq, int64_t received_at_us,
             const uint8_t *env, size_t len, struct keten_error *err)
{
	(void)r, (void)seq, (void)received_at_us, (void)env, (void)len;
	return error_set(err, KETEN_E_INTERNAL, "roster: not yet");
}

int
roster_check(const struct roster *r, uint64_t seq, int64_t received_at_us,
             const uint8_t *env, size_t len, struct keten_error *err)
{
	(void)r, (void)seq, (void)received_at_us, (void)env, (void)len;
	return error_set(err, KETEN_E_INTERNAL, "roster: not yet");
}

const struct agency *
roster_find(const struct roster *r, const char *id, uint64_t seq,
            struct keten_error *err)
{
	(void)r, (void)id, (void)seq;
	error_set(err, KETEN_E_INTERNAL, "roster: not yet");
	return NULL;
}

const struct roster_keyset *
roster_keyset_of(const struct roster *r, const char *id,
                 const uint8_t sign_pk[32])
{
	(void)r, (void)id, (void)sign_pk;
	return NULL;
}

const char *
roster_region(const struct roster *r)
{
	(void)r;
	return "";
}

size_t
roster_members(const struct roster *r)
{
	(void)r;
	return 0;
}

const struct roster_member *
roster_member(const struct roster *r, size_t i)
{
	(void)r, (void)i;
	return NULL;
}

const struct roster_member *
roster_member_find(const struct roster *r, const char *id)
{
	(void)r, (void)id;
	return NULL;
}

size_t
roster_broker_keys(const struct roster *r, const struct roster_keyset **keysets)
{
	(void)r;
	*keysets = NULL;
	return 0;
}

uint64_t
roster_last_seq(const struct roster *r)
{
	(void)r;
	return 0;
}

size_t
roster_records(const struct roster *r, const uint64_t **seqs)
{
	(void)r;
	*seqs = NULL;
	return 0;
}

const uint8_t *
roster_broker_key_at(const struct roster *r, uint64_t seq)
{
	(void)r, (void)seq;
	return NULL;
}

const uint8_t *
roster_broker_key_for_size(const struct roster *r, uint64_t size)
{
	(void)r, (void)size;
	return NULL;
}

bool
roster_broker_trusted(const struct roster *r, const uint8_t pk[32])
{
	(void)r, (void)pk;
	return false;
}

static const struct agency *
roster_door_find(const void *arg, const char *signer, uint64_t seq,
                 struct keten_error *err)
{
	return roster_find(arg, signer, seq, err);
}

struct record_roster
roster_record_roster(const struct roster *r)
{
	struct record_roster rr = {.find = roster_door_find, .arg = r};

	return rr;
}

int
roster_rotation_sign(uint8_t **out, size_t *len, const char *region,
                     const char *agency, const uint8_t old_sign_sk[64],
                     const struct roster_keys *new_keys, int64_t made_at_us,
                     struct keten_error *err)
{
	(void)region, (void)agency, (void)old_sign_sk, (void)new_keys;
	(void)made_at_us;
	*out = NULL;
	*len = 0;
	return error_set(err, KETEN_E_INTERNAL, "roster: not yet");
}

int
roster_record_encode(uint8_t **env, size_t *len, const char *region,
                     uint64_t prev_seq, const struct roster_change *c, size_t n,
                     roster_sign_fn sign, void *sign_arg,
                     struct keten_error *err)
{
	(void)region, (void)prev_seq, (void)c, (void)n, (void)sign;
	(void)sign_arg;
	*env = NULL;
	*len = 0;
	return error_set(err, KETEN_E_INTERNAL, "roster: not yet");
}
