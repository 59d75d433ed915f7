/*
 * The inbox's decode of opened sealed content, as each kind: a referral's
 * content, a handover's dossier, any other message's note. The sender is
 * authenticated but may still be wrong or hostile; the recipient's client
 * must hold.
 */
#include <string.h>

#include "fuzz.h"
#include "wire.h"

static int
same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static void
same_person(const struct keten_person *a, const struct keten_person *b)
{
	FUZZ_CHECK(same_str(a->name, b->name));
	FUZZ_CHECK(same_str(a->date_of_birth, b->date_of_birth));
	FUZZ_CHECK(same_str(a->bsn, b->bsn));
}

/* Every string a caller may print is a readable C string. */
static void
check_person(const struct keten_person *p)
{
	FUZZ_CHECK(p->name != NULL && p->date_of_birth != NULL &&
	           p->bsn != NULL);
	(void)strlen(p->name);
	(void)strlen(p->date_of_birth);
	(void)strlen(p->bsn);
}

static void
check(const struct keten_referral_content *c)
{
	check_person(&c->child);
	FUZZ_CHECK(c->n_household == 0 || c->household != NULL);
	for (size_t i = 0; i < c->n_household; i++)
		check_person(&c->household[i]);
	FUZZ_CHECK(c->n_concerns == 0 || c->concerns != NULL);
	for (size_t i = 0; i < c->n_concerns; i++)
		FUZZ_CHECK(c->concerns[i] != NULL);
	FUZZ_CHECK(c->parental_authority != NULL);
	FUZZ_CHECK(c->safety_assessment != NULL && c->request != NULL);
	FUZZ_CHECK(c->legal_basis != NULL && c->notes != NULL);
}

static void
round_trip(const struct keten_referral_content *c)
{
	struct content again;
	const struct keten_referral_content *a = &again.referral;
	struct keten_error err;
	uint8_t *out = NULL;
	size_t len = 0;

	FUZZ_CHECK(wire_content_encode(&out, &len, c) == KETEN_OK);
	FUZZ_CHECK(wire_content_decode(&again, KETEN_MSG_REFERRAL, out, len,
	                               &err) == KETEN_OK);
	same_person(&a->child, &c->child);
	FUZZ_CHECK(a->n_household == c->n_household);
	for (size_t i = 0; i < c->n_household; i++)
		same_person(&a->household[i], &c->household[i]);
	FUZZ_CHECK(a->n_concerns == c->n_concerns);
	for (size_t i = 0; i < c->n_concerns; i++)
		FUZZ_CHECK(same_str(a->concerns[i], c->concerns[i]));
	FUZZ_CHECK(same_str(a->parental_authority, c->parental_authority));
	FUZZ_CHECK(same_str(a->safety_assessment, c->safety_assessment));
	FUZZ_CHECK(same_str(a->request, c->request));
	FUZZ_CHECK(same_str(a->legal_basis, c->legal_basis));
	FUZZ_CHECK(a->family_informed == c->family_informed);
	FUZZ_CHECK(a->family_consented == c->family_consented);
	FUZZ_CHECK(same_str(a->notes, c->notes));
	wire_content_clear(&again);
	free(out);
}

/* A handover's dossier: every string readable, and it survives encode ->
 * decode. */
static void
dossier(const struct keten_dossier *d)
{
	struct content again;
	const struct keten_dossier *a = &again.dossier;
	struct keten_error err;
	uint8_t *out = NULL;
	size_t len = 0;

	FUZZ_CHECK(d->known != NULL && d->safety_conditions != NULL);
	FUZZ_CHECK(d->monitoring_plan != NULL && d->notes != NULL);
	FUZZ_CHECK(wire_dossier_encode(&out, &len, d) == KETEN_OK);
	FUZZ_CHECK(wire_content_decode(&again, KETEN_MSG_HANDOVER, out, len,
	                               &err) == KETEN_OK);
	FUZZ_CHECK(same_str(a->known, d->known));
	FUZZ_CHECK(same_str(a->safety_conditions, d->safety_conditions));
	FUZZ_CHECK(same_str(a->monitoring_plan, d->monitoring_plan));
	FUZZ_CHECK(a->family_informed == d->family_informed);
	FUZZ_CHECK(same_str(a->notes, d->notes));
	wire_content_clear(&again);
	free(out);
}

/* Any other message's note, decoded as type. */
static void
note(const char *text, uint32_t type)
{
	struct content again;
	struct keten_error err;
	uint8_t *out = NULL;
	size_t len = 0;

	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(wire_note_encode(&out, &len, text) == KETEN_OK);
	FUZZ_CHECK(wire_content_decode(&again, type, out, len, &err) ==
	           KETEN_OK);
	FUZZ_CHECK(same_str(again.note, text));
	wire_content_clear(&again);
	free(out);
}

/* Whatever was not decoded stays empty: a caller reads only the member
 * its type names (inbox.c). */
static void
only_member(const struct content *c)
{
	const struct keten_referral_content none_r = {0};
	const struct keten_dossier none_d = {0};

	if (c->type != KETEN_MSG_REFERRAL)
		FUZZ_CHECK(memcmp(&c->referral, &none_r, sizeof(none_r)) == 0 &&
		           c->arrays == NULL);
	if (c->type != KETEN_MSG_HANDOVER)
		FUZZ_CHECK(memcmp(&c->dossier, &none_d, sizeof(none_d)) == 0);
	if (c->type == KETEN_MSG_REFERRAL || c->type == KETEN_MSG_HANDOVER)
		FUZZ_CHECK(c->note == NULL);
}

/* The input as the content of one message type. */
static void
decode_as(uint32_t type, const uint8_t *data, size_t size)
{
	struct content c;
	struct keten_error err;
	int rc;

	error_clear(&err);
	if ((rc = wire_content_decode(&c, type, data, size, &err)) !=
	    KETEN_OK) {
		fuzz_check_refusal(rc, &err);
		FUZZ_CHECK(c.pb == NULL && c.arrays == NULL);
		return;
	}
	FUZZ_CHECK(c.type == type && c.pb != NULL);
	only_member(&c);
	if (type == KETEN_MSG_REFERRAL) {
		check(&c.referral);
		round_trip(&c.referral);
	} else if (type == KETEN_MSG_HANDOVER) {
		dossier(&c.dossier);
	} else {
		note(c.note, type);
	}
	wire_content_clear(&c);
	FUZZ_CHECK(c.pb == NULL && c.arrays == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* As every type's plaintext: a referral's content, a handover's
	 * dossier, every other type's note. */
	for (uint32_t t = 1; t <= KETEN_MSG_TYPE_MAX; t++)
		decode_as(t, data, size);
	return 0;
}
