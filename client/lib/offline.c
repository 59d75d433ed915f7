/* What needs no broker: key files, the offline audit, hex. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "clock.h"
#include "client.h"
#include "roster.h"
#include "text.h"

static void
fill_public(struct keten_public_keys *pub, const struct keys *k)
{
	text_key_to_b64(pub->sign_key, k->sign_pk);
	text_key_to_b64(pub->box_key, k->box_pk);
	text_key_to_b64(pub->transport_key, k->curve_pk);
}

int
keten_keygen(struct keten_public_keys *pub, const char *key_path,
             const char *agency_id, struct keten_error *err)
{
	return keten_keygen_agency(pub, key_path, agency_id, KETEN_KIND_NONE,
	                           NULL, err);
}

int
keten_keygen_agency(struct keten_public_keys *pub, const char *key_path,
                    const char *agency_id, enum keten_kind kind,
                    const char *name, struct keten_error *err)
{
	struct keys *k;
	int rc;

	error_clear(err);
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = keys_generate(&k, agency_id, err)) != KETEN_OK)
		return rc;
	if ((rc = keys_set_identity(k, kind, name, err)) == KETEN_OK &&
	    (rc = keys_save(k, key_path, err)) == KETEN_OK)
		fill_public(pub, k);
	keys_destroy(&k);
	return rc;
}

static void
fill_info(struct keten_key_info *out, const struct keys *k)
{
	memset(out, 0, sizeof(*out));
	fill_public(&out->pub, k);
	strcpy(out->agency, k->id);
	out->kind = k->kind;
	strcpy(out->name, k->name);
	out->version = k->version;
}

int
keten_key_info(struct keten_key_info *out, const char *key_path,
               struct keten_error *err)
{
	struct keys *k;
	int rc;

	error_clear(err);
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = keys_load(&k, key_path, err)) != KETEN_OK)
		return rc;
	fill_info(out, k);
	keys_destroy(&k);
	return KETEN_OK;
}

int
keten_key_public(struct keten_public_keys *pub,
                 char agency_id[KETEN_ID_MAX + 1], const char *key_path,
                 struct keten_error *err)
{
	struct keten_key_info info;
	int rc;

	if ((rc = keten_key_info(&info, key_path, err)) != KETEN_OK)
		return rc;
	*pub = info.pub;
	if (agency_id)
		strcpy(agency_id, info.agency);
	return KETEN_OK;
}

/* The successor of old for a rotation, with kind and name recorded: old's
 * own, or kind/name if old records none (a version-1 file). */
static int
rotate_successor(struct keys **out, const struct keys *old,
                 enum keten_kind kind, const char *name,
                 struct keten_error *err)
{
	int rc;

	if (old->kind != KETEN_KIND_NONE &&
	    (kind != KETEN_KIND_NONE || name != NULL) &&
	    (kind != old->kind || name == NULL || strcmp(name, old->name) != 0))
		return error_set(
		    err, KETEN_E_USAGE,
		    "the key file already records kind and name; "
		    "a rotation keeps them (a kind never changes; a "
		    "new name is set in the region config)");
	if ((rc = keys_successor(out, old, err)) != KETEN_OK)
		return rc;
	if (old->kind == KETEN_KIND_NONE && strcmp(old->id, "broker") != 0 &&
	    (rc = keys_set_identity(*out, kind, name, err)) != KETEN_OK)
		keys_destroy(out);
	return rc;
}

/* The statement (PROTOCOL.md 22) in which old's signing key endorses
 * new's keys, in base64; *b64 is malloc'd. */
static int
rotate_statement(char **b64, const struct keys *old, const struct keys *new,
                 const char *region, struct keten_error *err)
{
	struct roster_keys keys;
	uint8_t *stmt = NULL;
	size_t len, cap;
	int rc;

	memset(&keys, 0, sizeof(keys));
	memcpy(keys.sign, new->sign_pk, 32);
	if (strcmp(new->id, "broker") != 0) /* nothing is sealed to it */
		memcpy(keys.box, new->box_pk, 32);
	memcpy(keys.transport, new->curve_pk, 32);
	if ((rc = roster_rotation_sign(&stmt, &len, region, old->id,
	                               old->sign_sk, &keys, clock_now_us(),
	                               err)) != KETEN_OK)
		return rc;
	cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	if ((*b64 = malloc(cap)) == NULL)
		rc = error_set(err, KETEN_E_NOMEM, "out of memory");
	else
		sodium_bin2base64(*b64, cap, stmt, len,
		                  sodium_base64_VARIANT_ORIGINAL);
	free(stmt);
	return rc;
}

int
keten_keygen_rotate(struct keten_key_info *out, char **rotation,
                    const char *new_path, const char *old_path,
                    const char *region, const char *config_path,
                    enum keten_kind kind, const char *name,
                    struct keten_error *err)
{
	struct keys *old = NULL, *new = NULL;
	struct config *c = NULL;
	int rc;

	error_clear(err);
	*rotation = NULL;
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((region == NULL) == (config_path == NULL))
		return error_set(
		    err, KETEN_E_USAGE,
		    "a rotation names its region: give a region id "
		    "or a region config, not both");
	if (config_path != NULL &&
	    (rc = config_load_client(&c, config_path, err)) != KETEN_OK)
		return rc;
	if (region == NULL)
		region = c->region;
	if (!text_valid_id(region)) {
		rc = error_set(
		    err, KETEN_E_USAGE,
		    "region '%.64s' is invalid: use a-z, 0-9 and '-'", region);
		goto out;
	}
	if ((rc = keys_load(&old, old_path, err)) != KETEN_OK ||
	    (rc = rotate_successor(&new, old, kind, name, err)) != KETEN_OK ||
	    (rc = rotate_statement(rotation, old, new, region, err)) !=
	        KETEN_OK)
		goto out;
	/* signed before the file exists: a failure leaves no new key file */
	if ((rc = keys_save(new, new_path, err)) != KETEN_OK) {
		free(*rotation);
		*rotation = NULL;
		goto out;
	}
	fill_info(out, new);
out:
	keys_destroy(&old);
	keys_destroy(&new);
	config_destroy(&c);
	return rc;
}

int
keten_audit_verify(struct keten_audit *out, const char *config_path,
                   const char *data_dir, struct keten_error *err)
{
	return keten_audit_verify_from(out, config_path, data_dir, NULL, err);
}

int
keten_audit_cases(struct keten_case **out, size_t *n, const char *config_path,
                  const char *data_dir, int64_t at_us, struct keten_error *err)
{
	struct config *c;
	struct audit_result res;
	struct keten_case *all = NULL;
	int rc;

	error_clear(err);
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = config_load_client(&c, config_path, err)) != KETEN_OK)
		return rc;
	if (at_us == 0)
		at_us = clock_now_us();
	rc = audit_verify_dir(&res, c, data_dir, err);
	if (rc == KETEN_OK &&
	    (all = calloc(res.n_cases ? res.n_cases : 1, sizeof(*all))) == NULL)
		rc = error_set(err, KETEN_E_NOMEM, "out of memory");
	for (size_t i = 0; rc == KETEN_OK && i < res.n_cases; i++) {
		struct wire_case wc = {0};
		casebook_case(res.cases, i, &wc.st);
		case_offer_due(&wc.ack_due_us, &wc.decide_due_us, &wc.st, c);
		client_case_public(&all[i], &wc, at_us);
	}
	if (rc == KETEN_OK) {
		*out = all;
		*n = res.n_cases;
	}
	audit_result_free(&res);
	config_destroy(&c);
	return rc;
}

void
keten_hex(char *out, const uint8_t *bin, size_t len)
{
	text_hex(out, bin, len);
}
