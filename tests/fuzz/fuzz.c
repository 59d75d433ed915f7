/*
 * Checks shared by the targets: an envelope and its body, decoded, checked
 * and round-tripped. Aborts only on a broken invariant, never on input.
 */
#include <string.h>

#include "fuzz.h"
#include "text.h"
#include "wire.h"

void
fuzz_check_refusal(int rc, const struct keten_error *err)
{
	FUZZ_CHECK(rc != KETEN_OK);
	FUZZ_CHECK(err->code == rc);
	FUZZ_CHECK(err->message[0] != '\0');
	FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
}

static void
check_body(uint32_t type, const uint8_t *buf, size_t len)
{
	struct body b, again;
	struct keten_error err;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int rc;

	error_clear(&err);
	if ((rc = wire_body_decode(&b, type, buf, len, &err)) != KETEN_OK) {
		fuzz_check_refusal(rc, &err);
		return;
	}
	FUZZ_CHECK(b.type == type);
	FUZZ_CHECK(text_valid_id(b.h.sender));
	/* Only a close has no recipient. */
	FUZZ_CHECK(type == KETEN_MSG_CLOSE ? b.h.recipient[0] == '\0'
	                                   : text_valid_id(b.h.recipient));
	FUZZ_CHECK(wire_type_content(type) <= 0 || b.has_content);
	FUZZ_CHECK(wire_type_content(type) >= 0 || !b.has_content);
	FUZZ_CHECK(b.has_offer_id == wire_type_needs_offer(type));
	if (type == KETEN_MSG_REFERRAL || type == KETEN_MSG_HANDOVER)
		FUZZ_CHECK(b.u.offer.urgency >= KETEN_URGENCY_ROUTINE &&
		           b.u.offer.urgency <= KETEN_URGENCY_IMMEDIATE);

	FUZZ_CHECK(wire_body_encode(&out, &out_len, &b) == KETEN_OK);
	FUZZ_CHECK(wire_body_decode(&again, type, out, out_len, &err) ==
	           KETEN_OK);
	FUZZ_CHECK(
	    memcmp(b.h.message_id, again.h.message_id, KETEN_MSG_ID_LEN) == 0);
	FUZZ_CHECK(strcmp(b.h.sender, again.h.sender) == 0);
	FUZZ_CHECK(strcmp(b.h.recipient, again.h.recipient) == 0);
	FUZZ_CHECK(memcmp(b.h.case_id, again.h.case_id, KETEN_CASE_ID_LEN) ==
	           0);
	FUZZ_CHECK(b.h.sent_at_us == again.h.sent_at_us);
	FUZZ_CHECK(b.has_content == again.has_content);
	FUZZ_CHECK(memcmp(b.content_hash, again.content_hash, KETEN_HASH_LEN) ==
	           0);
	FUZZ_CHECK(memcmp(b.offer_id, again.offer_id, KETEN_MSG_ID_LEN) == 0);
	FUZZ_CHECK(memcmp(&b.u, &again.u, sizeof(b.u)) == 0);
	free(out);
}

void
fuzz_envelope_and_body(const uint8_t *buf, size_t len)
{
	struct envelope e, again;
	struct keten_error err;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int rc;

	error_clear(&err);
	if ((rc = wire_envelope_decode(&e, buf, len, &err)) != KETEN_OK) {
		fuzz_check_refusal(rc, &err);
		FUZZ_CHECK(e.pb == NULL); /* nothing left to free */
		return;
	}
	FUZZ_CHECK(e.pb != NULL);
	FUZZ_CHECK(e.version == WIRE_VERSION);
	FUZZ_CHECK(e.type >= 1 && e.type <= KETEN_MSG_ROTATION);
	FUZZ_CHECK(text_valid_id(e.signer));
	FUZZ_CHECK(e.body_len == 0 || e.body != NULL);

	FUZZ_CHECK(wire_envelope_encode(&out, &out_len, &e) == KETEN_OK);
	FUZZ_CHECK(wire_envelope_decode(&again, out, out_len, &err) ==
	           KETEN_OK);
	FUZZ_CHECK(again.version == e.version && again.type == e.type);
	FUZZ_CHECK(strcmp(again.signer, e.signer) == 0);
	FUZZ_CHECK(again.body_len == e.body_len);
	FUZZ_CHECK(e.body_len == 0 ||
	           memcmp(again.body, e.body, e.body_len) == 0);
	FUZZ_CHECK(memcmp(again.signature, e.signature, WIRE_SIG_LEN) == 0);
	wire_envelope_clear(&again);
	free(out);

	/* The body as every type, not only the one the envelope says. */
	for (uint32_t t = 1; t <= KETEN_MSG_TYPE_MAX; t++)
		check_body(t, e.body, e.body_len);
	wire_envelope_clear(&e);
	FUZZ_CHECK(e.pb == NULL);
}
