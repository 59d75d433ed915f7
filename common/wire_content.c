/*
 * Sealed content (referral, dossier, note) as the sender seals it and the
 * recipient opens it. Must never see it before it is opened, nor log it.
 */
#include <stdlib.h>
#include <string.h>

#include "wire_pb.h"

static char *
str(const char *s)
{
	return (char *)(uintptr_t)(s ? s : "");
}

static void
person_to_pb(Keten__Person *p, const struct keten_person *in)
{
	keten__person__init(p);
	p->name = str(in->name);
	p->date_of_birth = str(in->date_of_birth);
	p->bsn = str(in->bsn);
}

int
wire_content_encode(uint8_t **out, size_t *len,
                    const struct keten_referral_content *c)
{
	Keten__ReferralContent m = KETEN__REFERRAL_CONTENT__INIT;
	Keten__Person child, *hh = NULL, **hp = NULL;
	int rc;

	person_to_pb(&child, &c->child);
	m.child = &child;
	if (c->n_household > 0) {
		hh = calloc(c->n_household, sizeof(*hh));
		hp = calloc(c->n_household, sizeof(*hp));
		if (hh == NULL || hp == NULL) {
			free(hh);
			free(hp);
			return KETEN_E_NOMEM;
		}
		for (size_t i = 0; i < c->n_household; i++) {
			person_to_pb(&hh[i], &c->household[i]);
			hp[i] = &hh[i];
		}
	}
	m.n_household = c->n_household;
	m.household = hp;
	m.parental_authority = str(c->parental_authority);
	m.n_concerns = c->n_concerns;
	m.concerns = (char **)(uintptr_t)c->concerns;
	m.safety_assessment = str(c->safety_assessment);
	m.request = str(c->request);
	m.legal_basis = str(c->legal_basis);
	m.family_informed = c->family_informed;
	m.family_consented = c->family_consented;
	m.notes = str(c->notes);
	rc = wire_pack(out, len, &m.base);
	free(hh);
	free(hp);
	return rc;
}

static void
person_from_pb(struct keten_person *p, const Keten__Person *in)
{
	p->name = in ? in->name : "";
	p->date_of_birth = in ? in->date_of_birth : "";
	p->bsn = in ? in->bsn : "";
}

int
wire_dossier_encode(uint8_t **out, size_t *len, const struct keten_dossier *d)
{
	Keten__Dossier m = KETEN__DOSSIER__INIT;

	m.known = str(d->known);
	m.safety_conditions = str(d->safety_conditions);
	m.monitoring_plan = str(d->monitoring_plan);
	m.family_informed = d->family_informed;
	m.notes = str(d->notes);
	return wire_pack(out, len, &m.base);
}

int
wire_note_encode(uint8_t **out, size_t *len, const char *text)
{
	Keten__Note m = KETEN__NOTE__INIT;

	m.text = str(text);
	return wire_pack(out, len, &m.base);
}

static int
referral_decode(struct content *c, const uint8_t *buf, size_t len,
                struct keten_error *err)
{
	Keten__ReferralContent *m;
	struct keten_person *hh = NULL;

	if ((m = keten__referral_content__unpack(NULL, len, buf)) == NULL)
		return error_set(
		    err, KETEN_E_MALFORMED,
		    "the sealed content is not a valid ReferralContent");
	if (m->n_household > 0 &&
	    (hh = calloc(m->n_household, sizeof(*hh))) == NULL) {
		keten__referral_content__free_unpacked(m, NULL);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n_household; i++)
		person_from_pb(&hh[i], m->household[i]);
	c->pb = m;
	c->arrays = hh;
	person_from_pb(&c->referral.child, m->child);
	c->referral.household = hh;
	c->referral.n_household = m->n_household;
	c->referral.parental_authority = m->parental_authority;
	c->referral.concerns = (const char *const *)m->concerns;
	c->referral.n_concerns = m->n_concerns;
	c->referral.safety_assessment = m->safety_assessment;
	c->referral.request = m->request;
	c->referral.legal_basis = m->legal_basis;
	c->referral.family_informed = m->family_informed;
	c->referral.family_consented = m->family_consented;
	c->referral.notes = m->notes;
	return KETEN_OK;
}

int
wire_content_decode(struct content *c, enum keten_message_type type,
                    const uint8_t *buf, size_t len, struct keten_error *err)
{
	memset(c, 0, sizeof(*c));
	c->type = type;
	if (type == KETEN_MSG_REFERRAL)
		return referral_decode(c, buf, len, err);
	if (type == KETEN_MSG_HANDOVER) {
		Keten__Dossier *m = keten__dossier__unpack(NULL, len, buf);
		if (m == NULL)
			return error_set(
			    err, KETEN_E_MALFORMED,
			    "the sealed content is not a valid Dossier");
		c->pb = m;
		c->dossier.known = m->known;
		c->dossier.safety_conditions = m->safety_conditions;
		c->dossier.monitoring_plan = m->monitoring_plan;
		c->dossier.family_informed = m->family_informed;
		c->dossier.notes = m->notes;
		return KETEN_OK;
	}
	{
		Keten__Note *m = keten__note__unpack(NULL, len, buf);
		if (m == NULL)
			return error_set(
			    err, KETEN_E_MALFORMED,
			    "the sealed content is not a valid Note");
		c->pb = m;
		c->note = m->text;
	}
	return KETEN_OK;
}

void
wire_content_clear(struct content *c)
{
	/* Every kind is freed through its own descriptor's free. */
	if (c->pb != NULL)
		protobuf_c_message_free_unpacked(c->pb, NULL);
	free(c->arrays);
	memset(c, 0, sizeof(*c));
}
