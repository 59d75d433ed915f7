/* What needs no broker: key files, the offline audit, hex. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "clock.h"
#include "client.h"
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
	struct keys *k;
	int rc;

	error_clear(err);
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = keys_generate(&k, agency_id, err)) != KETEN_OK)
		return rc;
	if ((rc = keys_save(k, key_path, err)) == KETEN_OK)
		fill_public(pub, k);
	keys_destroy(&k);
	return rc;
}

int
keten_key_public(struct keten_public_keys *pub,
                 char agency_id[KETEN_ID_MAX + 1], const char *key_path,
                 struct keten_error *err)
{
	struct keys *k;
	int rc;

	error_clear(err);
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = keys_load(&k, key_path, err)) != KETEN_OK)
		return rc;
	fill_public(pub, k);
	if (agency_id)
		strcpy(agency_id, k->id);
	keys_destroy(&k);
	return KETEN_OK;
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
	if ((rc = config_load(&c, config_path, err)) != KETEN_OK)
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
