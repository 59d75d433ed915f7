/*
 * The roster's statements on the wire (docs/PROTOCOL.md 22): Roster, the
 * body of a roster record, and Rotation, the body of a rotation statement.
 * Checks form only (lengths, ids, text); what a change means is roster.c's.
 * Must never hand out a string or key it has not bounded.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wire_pb.h"

/* ---- encoding ---- */

/* An absent key (all zero) is an empty field. */
static ProtobufCBinaryData
key_bin(const uint8_t k[KETEN_KEY_LEN])
{
	return sodium_is_zero(k, KETEN_KEY_LEN) ? wire_bin(NULL, 0)
	                                        : wire_bin(k, KETEN_KEY_LEN);
}

static void
keys_to_pb(Keten__RosterKeys *pb, const struct roster_keys *k)
{
	keten__roster_keys__init(pb);
	pb->sign = key_bin(k->sign);
	pb->box = key_bin(k->box);
	pb->transport = key_bin(k->transport);
}

static int
keys_any(const struct roster_keys *k)
{
	return !sodium_is_zero(k->sign, KETEN_KEY_LEN) ||
	       !sodium_is_zero(k->box, KETEN_KEY_LEN) ||
	       !sodium_is_zero(k->transport, KETEN_KEY_LEN);
}

int
wire_roster_encode(uint8_t **out, size_t *len, const char *region,
                   uint64_t prev_seq, const struct roster_change *c, size_t n)
{
	Keten__Roster m = KETEN__ROSTER__INIT;
	Keten__RosterChange *pc, **pp;
	Keten__RosterKeys *pk;
	int rc;

	if (n == 0 || n > WIRE_ROSTER_CHANGES_MAX)
		return KETEN_E_USAGE;
	pc = calloc(n, sizeof(*pc));
	pp = calloc(n, sizeof(*pp));
	pk = calloc(n, sizeof(*pk));
	if (pc == NULL || pp == NULL || pk == NULL) {
		rc = KETEN_E_NOMEM;
		goto done;
	}
	m.region = wire_id_bin(region);
	m.prev_seq = prev_seq;
	for (size_t i = 0; i < n; i++) {
		keten__roster_change__init(&pc[i]);
		pc[i].action = (Keten__RosterAction)c[i].action;
		pc[i].agency = wire_id_bin(c[i].agency);
		pc[i].kind = (Keten__AgencyKind)c[i].kind;
		/* protobuf-c reads strings as NUL-terminated: borrowed */
		pc[i].name = (char *)(uintptr_t)c[i].name;
		if (keys_any(&c[i].keys)) {
			keys_to_pb(&pk[i], &c[i].keys);
			pc[i].keys = &pk[i];
		}
		pc[i].rotation = wire_bin(c[i].rotation, c[i].rotation_len);
		pc[i].compromised_at_us = c[i].compromised_at_us;
		pc[i].reason = (char *)(uintptr_t)c[i].reason;
		pp[i] = &pc[i];
	}
	m.n_changes = n;
	m.changes = pp;
	rc = wire_pack(out, len, &m.base);
done:
	free(pc);
	free(pp);
	free(pk);
	return rc;
}

int
wire_rotation_encode(uint8_t **out, size_t *len, const struct wire_rotation *r)
{
	Keten__Rotation m = KETEN__ROTATION__INIT;
	Keten__RosterKeys k;

	m.region = wire_id_bin(r->region);
	m.agency = wire_id_bin(r->agency);
	keys_to_pb(&k, &r->keys);
	m.keys = &k;
	m.made_at_us = r->made_at_us;
	return wire_pack(out, len, &m.base);
}

/* ---- decoding ---- */

/* A key field: empty (left zero) or 32 bytes that are not all zero. */
static int
key_from_pb(uint8_t dst[KETEN_KEY_LEN], ProtobufCBinaryData b)
{
	if (b.len == 0)
		return 0;
	if (wire_copy_fixed(dst, KETEN_KEY_LEN, b) != 0 ||
	    sodium_is_zero(dst, KETEN_KEY_LEN))
		return -1;
	return 0;
}

static int
keys_from_pb(struct roster_keys *k, const Keten__RosterKeys *pb)
{
	memset(k, 0, sizeof(*k));
	if (pb == NULL)
		return 0;
	return key_from_pb(k->sign, pb->sign) != 0 ||
	               key_from_pb(k->box, pb->box) != 0 ||
	               key_from_pb(k->transport, pb->transport) != 0
	           ? -1
	           : 0;
}

/* Whether s is at most max bytes of UTF-8 without control characters. */
static int
text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	const unsigned char *p = (const unsigned char *)s;

	if (n > max)
		return 0;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t more;
		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c >= 0xe0 && c <= 0xef)
			more = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			more = 3;
		else
			return 0;
		if (i + more >= n)
			return 0;
		for (size_t k = 1; k <= more; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		/* overlong 3- and 4-byte forms, surrogates, > U+10FFFF */
		if ((c == 0xe0 && p[i + 1] < 0xa0) ||
		    (c == 0xed && p[i + 1] > 0x9f) ||
		    (c == 0xf0 && p[i + 1] < 0x90) ||
		    (c == 0xf4 && p[i + 1] > 0x8f))
			return 0;
		/* C1 controls U+0080..U+009F */
		if (c == 0xc2 && p[i + 1] < 0xa0)
			return 0;
		i += 1 + more;
	}
	return 1;
}

static int
change_from_pb(struct roster_change *c, const Keten__RosterChange *pb, size_t i,
               struct keten_error *err)
{
	memset(c, 0, sizeof(*c));
	if ((int)pb->action < 1 || (int)pb->action > ROSTER_ACTION_MAX)
		return error_set(err, KETEN_E_FIELD,
		                 "roster change %zu: action %d is not a known "
		                 "action (1-%d)",
		                 i, (int)pb->action, ROSTER_ACTION_MAX);
	c->action = (enum roster_action)pb->action;
	if (pb->agency.len != 0 && wire_copy_id(c->agency, pb->agency) != 0)
		return error_set(err, KETEN_E_FIELD,
		                 "roster change %zu: agency is not a valid "
		                 "agency id",
		                 i);
	if ((int)pb->kind < 0 || (int)pb->kind > KETEN_KIND_AUDITOR)
		return error_set(err, KETEN_E_FIELD,
		                 "roster change %zu: kind %d is not a known "
		                 "kind (1-%d)",
		                 i, (int)pb->kind, KETEN_KIND_AUDITOR);
	c->kind = (enum keten_kind)pb->kind;
	if (!text_ok(pb->name, WIRE_ROSTER_NAME_MAX))
		return error_set(err, KETEN_E_FIELD,
		                 "roster change %zu: name is longer than %d "
		                 "bytes, not UTF-8, or has control characters",
		                 i, WIRE_ROSTER_NAME_MAX);
	strcpy(c->name, pb->name); /* bounded by text_ok */
	if (keys_from_pb(&c->keys, pb->keys) != 0)
		return error_set(err, KETEN_E_FIELD,
		                 "roster change %zu: a key is not 32 bytes (or "
		                 "is all zeros)",
		                 i);
	c->rotation = pb->rotation.len ? pb->rotation.data : NULL;
	c->rotation_len = pb->rotation.len;
	c->compromised_at_us = pb->compromised_at_us;
	if (!text_ok(pb->reason, WIRE_ROSTER_REASON_MAX))
		return error_set(err, KETEN_E_FIELD,
		                 "roster change %zu: reason is longer than %d "
		                 "bytes, not UTF-8, or has control characters",
		                 i, WIRE_ROSTER_REASON_MAX);
	strcpy(c->reason, pb->reason);
	return KETEN_OK;
}

/* protobuf-c cuts a string at a NUL, keeps unknown fields and accepts
 * fields in any order: bytes that do not pack again to exactly
 * themselves are refused, so what was signed is what is read (PROTOCOL.md
 * 22.2). Unknown fields pack back, so they are refused by name. */
static bool
canonical(const ProtobufCMessage *m, const uint8_t *buf, size_t len)
{
	uint8_t *again;
	bool same;

	if (m->n_unknown_fields != 0 ||
	    protobuf_c_message_get_packed_size(m) != len)
		return false;
	if (len == 0)
		return true;
	if ((again = malloc(len)) == NULL)
		return false;
	same = protobuf_c_message_pack(m, again) == len &&
	       memcmp(again, buf, len) == 0;
	free(again);
	return same;
}

static bool
keys_known(const Keten__RosterKeys *k)
{
	return k == NULL || k->base.n_unknown_fields == 0;
}

/* No unknown field anywhere in a roster record's body. */
static bool
roster_known(const Keten__Roster *m)
{
	for (size_t i = 0; i < m->n_changes; i++)
		if (m->changes[i]->base.n_unknown_fields != 0 ||
		    !keys_known(m->changes[i]->keys))
			return false;
	return true;
}

int
wire_roster_decode(struct wire_roster *r, const uint8_t *buf, size_t len,
                   struct keten_error *err)
{
	Keten__Roster *m;
	int rc = KETEN_OK;

	memset(r, 0, sizeof(*r));
	if ((m = keten__roster__unpack(NULL, len, buf)) == NULL)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the roster record's body is not a valid "
		                 "protobuf Roster");
	r->pb = m;
	if (!canonical(&m->base, buf, len) || !roster_known(m))
		rc = error_set(err, KETEN_E_MALFORMED,
		               "the roster record's body is not in canonical "
		               "form (fields out of order or repeated, an "
		               "unknown field, a default value written, or a "
		               "string with a NUL)");
	else if (wire_copy_id(r->region, m->region) != 0)
		rc = error_set(err, KETEN_E_FIELD,
		               "the roster's region is not a valid id");
	else if (m->n_changes == 0 || m->n_changes > WIRE_ROSTER_CHANGES_MAX)
		rc = error_set(err, KETEN_E_FIELD,
		               "a roster record has 1 to %d changes, not %zu",
		               WIRE_ROSTER_CHANGES_MAX, m->n_changes);
	else if ((r->changes = calloc(m->n_changes, sizeof(*r->changes))) ==
	         NULL)
		rc = error_set(err, KETEN_E_NOMEM,
		               "out of memory decoding a roster record");
	for (size_t i = 0; rc == KETEN_OK && i < m->n_changes; i++)
		rc = change_from_pb(&r->changes[i], m->changes[i], i, err);
	if (rc != KETEN_OK) {
		wire_roster_clear(r);
		return rc;
	}
	r->prev_seq = m->prev_seq;
	r->n = m->n_changes;
	return KETEN_OK;
}

void
wire_roster_clear(struct wire_roster *r)
{
	if (r->pb != NULL)
		keten__roster__free_unpacked(r->pb, NULL);
	free(r->changes);
	memset(r, 0, sizeof(*r));
}

int
wire_rotation_decode(struct wire_rotation *r, const uint8_t *buf, size_t len,
                     struct keten_error *err)
{
	Keten__Rotation *m;
	int rc = KETEN_OK;

	memset(r, 0, sizeof(*r));
	if ((m = keten__rotation__unpack(NULL, len, buf)) == NULL)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the rotation statement's body is not a valid "
		                 "protobuf Rotation");
	if (!canonical(&m->base, buf, len) || !keys_known(m->keys))
		rc = error_set(err, KETEN_E_MALFORMED,
		               "the rotation statement's body is not in "
		               "canonical form (fields out of order or "
		               "repeated, an unknown field, a default value "
		               "written, or a string with a NUL)");
	else if (wire_copy_id(r->region, m->region) != 0 ||
	         wire_copy_id(r->agency, m->agency) != 0)
		rc = error_set(err, KETEN_E_FIELD,
		               "the rotation statement's region or agency is "
		               "not a valid id");
	else if (keys_from_pb(&r->keys, m->keys) != 0)
		rc = error_set(err, KETEN_E_FIELD,
		               "a key of the rotation statement is not 32 "
		               "bytes (or is all zeros)");
	r->made_at_us = m->made_at_us;
	keten__rotation__free_unpacked(m, NULL);
	if (rc != KETEN_OK)
		memset(r, 0, sizeof(*r));
	return rc;
}
