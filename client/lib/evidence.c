/*
 * What an auditor keeps or hands over outside a data directory: the log
 * held to a checkpoint saved elsewhere, the stored checkpoint saved, and
 * the offline proof bundle of one record (docs/PROTOCOL.md 10). Never
 * writes to a data directory; trusts no file it reads.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "bundle.h"
#include "audit_witness.h"
#include "client.h"
#include "ledger.h"
#include "note.h"
#include "savefile.h"
#include "structwalk.h"
#include "text.h"

_Static_assert(KETEN_COSIGNERS_MAX == AUDIT_COSIGNED_MAX,
               "keten_audit holds every witness a config may name");
_Static_assert(KETEN_WITNESS_NAME_MAX == CONFIG_WITNESS_NAME_MAX,
               "one witness name length");
_Static_assert(KETEN_PROOF_QUORUM == (int)BUNDLE_QUORUM &&
                   KETEN_PROOF_COSIGNED == (int)BUNDLE_COSIGNED &&
                   KETEN_PROOF_STORED == (int)BUNDLE_STORED,
               "one list of proof sources");

/* The witnesses' cosignatures the audit held to the log, and the quorum. */
static void
cosigned_public(struct keten_audit *out, const struct audit_result *res,
                const struct config *c)
{
	for (size_t i = 0; i < res->n_cosigned; i++) {
		const struct audit_cosigned *e = &res->cosigned[i];
		struct keten_cosigned *p = &out->cosigned[out->n_cosigned];
		if (e->state != AUDIT_COSIG_HELD)
			continue;
		snprintf(p->witness, sizeof(p->witness), "%s", e->witness);
		p->checkpoint = e->cp;
		p->cosigned_at_us = e->cosigned_at <= INT64_MAX / 1000000
		                        ? (int64_t)e->cosigned_at * 1000000
		                        : INT64_MAX;
		out->n_cosigned++;
	}
	out->n_unnamed = res->n_unnamed;
	out->n_witnesses = c->n_witnesses;
	out->witness_quorum = c->witness_quorum;
	out->has_quorum = res->has_quorum;
	out->quorum_size = res->quorum_size;
}

/* The chain's roster of dir, read before its audit, which holds the log
 * to a checkpoint file checked against it: the pages checked in a child
 * first, as the audit does, then the audit's pre-pass. */
static int
dir_roster(struct roster **r, const struct config *c, const char *dir,
           struct keten_error *err)
{
	struct ledger *l = NULL;
	int rc;

	if ((rc = structwalk_check(dir, err)) != KETEN_OK ||
	    (rc = ledger_open(&l, dir, err)) != KETEN_OK)
		return rc;
	rc = audit_prepass(r, l, c->region, err);
	ledger_close(&l);
	return rc;
}

/* Reads the signed checkpoint note in the file at path and checks that
 * the region's broker signed it with the key in force at its size in r,
 * the chain's roster (the config's for a log without roster records):
 * a checkpoint of any era is checked with a config of any era. */
static int
anchor_load(struct keten_checkpoint *cp, const struct config *c,
            const struct roster *r, const char *path, struct keten_error *err)
{
	char buf[NOTE_MAX + 1];
	struct keten_error why;
	struct note_key k;
	size_t len;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL)
		return error_set(err, KETEN_E_IO, "cannot read %s: %s", path,
		                 strerror(errno));
	len = fread(buf, 1, sizeof(buf), f);
	if (ferror(f)) {
		fclose(f);
		return error_set(err, KETEN_E_IO, "cannot read %s", path);
	}
	fclose(f);
	if (len > NOTE_MAX)
		return error_set(err, KETEN_E_RECEIPT,
		                 "%s is not a checkpoint: more than %d bytes",
		                 path, NOTE_MAX);
	audit_witness_broker_key(&k, c, r, buf, len);
	if (note_checkpoint_parse(cp, buf, len, &k, &why) != KETEN_OK)
		return error_set(err, KETEN_E_RECEIPT,
		                 "%s is not a checkpoint of region %s's "
		                 "broker: %s",
		                 path, c->region, why.message);
	if (roster_note_key_for_size(&k, r, cp->size, &c->broker_key) != 0 ||
	    note_checkpoint_verify(cp, &k) != 0)
		return error_set(err, KETEN_E_RECEIPT,
		                 "the checkpoint of %llu records in %s is not "
		                 "signed by the broker key %s",
		                 (unsigned long long)cp->size, path,
		                 roster_last_seq(r) > 0
		                     ? "the log records in force at its size"
		                     : "in the region config");
	return KETEN_OK;
}

/* The roster history of res, public. */
static int
roster_public(struct keten_audit_roster *out, const struct audit_result *res)
{
	out->none = res->roster_none;
	if (res->n_roster_events > 0 &&
	    (out->changes =
	         calloc(res->n_roster_events, sizeof(*out->changes))) == NULL)
		return KETEN_E_NOMEM;
	for (size_t i = 0; i < res->n_roster_events; i++) {
		const struct roster_change *c = &res->roster_events[i].change;
		struct keten_roster_change *p = &out->changes[i];
		p->seq = res->roster_events[i].seq;
		p->action = (unsigned)c->action;
		snprintf(p->agency, sizeof(p->agency), "%s", c->agency);
		p->kind = c->kind;
		snprintf(p->name, sizeof(p->name), "%s", c->name);
		if (!sodium_is_zero(c->keys.sign, 32))
			text_key_to_b64(p->sign_key, c->keys.sign);
		p->compromised_at_us = c->compromised_at_us;
		snprintf(p->reason, sizeof(p->reason), "%s", c->reason);
	}
	out->n_changes = res->n_roster_events;
	if (res->n_review > 0 &&
	    (out->review = calloc(res->n_review, sizeof(*out->review))) == NULL)
		return KETEN_E_NOMEM;
	for (size_t i = 0; i < res->n_review; i++) {
		const struct audit_review *v = &res->review[i];
		struct keten_review *p = &out->review[i];
		p->seq = v->seq;
		snprintf(p->signer, sizeof(p->signer), "%s", v->signer);
		p->received_at_us = v->received_at_us;
		p->revoked_seq = v->revoked_seq;
		p->compromised_at_us = v->compromised_at_us;
		snprintf(p->reason, sizeof(p->reason), "%s", v->reason);
	}
	out->n_review = res->n_review;
	out->n_review_all = res->n_review_all;
	return KETEN_OK;
}

void
keten_audit_roster_free(struct keten_audit_roster *roster)
{
	if (roster == NULL)
		return;
	free(roster->changes);
	free(roster->review);
	memset(roster, 0, sizeof(*roster));
}

int
keten_audit_verify_from(struct keten_audit *out, const char *config_path,
                        const char *data_dir, const char *checkpoint_path,
                        struct keten_error *err)
{
	return keten_audit_verify_roster(out, NULL, config_path, data_dir,
	                                 checkpoint_path, err);
}

int
keten_audit_verify_roster(struct keten_audit *out,
                          struct keten_audit_roster *roster,
                          const char *config_path, const char *data_dir,
                          const char *checkpoint_path, struct keten_error *err)
{
	struct config *c;
	struct audit_result res;
	struct keten_checkpoint anchor;
	struct roster *r = NULL;
	struct note_key k;
	int rc;

	error_clear(err);
	memset(out, 0, sizeof(*out));
	if (roster != NULL)
		memset(roster, 0, sizeof(*roster));
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = config_load_client(&c, config_path, err)) != KETEN_OK)
		return rc;
	if (checkpoint_path != NULL &&
	    ((rc = dir_roster(&r, c, data_dir, err)) != KETEN_OK ||
	     (rc = anchor_load(&anchor, c, r, checkpoint_path, err)) !=
	         KETEN_OK)) {
		roster_destroy(&r);
		config_destroy(&c);
		return rc;
	}
	roster_destroy(&r);
	rc = audit_verify_dir_from(&res, c, data_dir,
	                           checkpoint_path ? &anchor : NULL, err);
	cosigned_public(out, &res, c);
	config_destroy(&c);
	out->records = res.records;
	out->head_seq = res.head_seq;
	memcpy(out->head_hash, res.head_hash, 32);
	out->bad_seq = res.bad_seq;
	out->cases = res.n_cases;
	out->has_checkpoint = res.has_cp && rc == KETEN_OK;
	if (out->has_checkpoint) {
		out->checkpoint = res.cp;
		/* The key the audit verified it with (cp_signed's). */
		if (roster_note_key_for_size(&k, res.roster, res.cp.size,
		                             NULL) == 0)
			text_key_to_b64(out->checkpoint_key, k.pk);
	}
	out->has_anchor = checkpoint_path != NULL;
	if (out->has_anchor)
		out->anchor = anchor;
	out->anchor_status = (enum keten_anchor)res.anchor;
	if (roster != NULL && roster_public(roster, &res) != KETEN_OK &&
	    rc == KETEN_OK)
		rc = error_set(err, KETEN_E_NOMEM, "out of memory");
	audit_result_free(&res);
	return rc;
}

int
keten_audit_save_checkpoint(const struct keten_audit *a,
                            const char *config_path, const char *path,
                            struct keten_error *err)
{
	struct config *c;
	char note[NOTE_MAX];
	struct note_key k;
	uint8_t pk[32];
	size_t len = 0;
	int rc;

	error_clear(err);
	if (a == NULL || path == NULL || !a->has_checkpoint)
		return error_set(err, KETEN_E_USAGE,
		                 "the audit verified no stored checkpoint to "
		                 "save");
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = config_load_client(&c, config_path, err)) != KETEN_OK)
		return rc;
	/* Its signature line names the key that signed it: the one in
	 * force at its size, which the audit kept (the config's before any
	 * roster record). */
	k = c->broker_key;
	if (a->checkpoint_key[0] != '\0' &&
	    (text_key_from_b64(pk, a->checkpoint_key) != 0 ||
	     note_broker_key(&k, c->region, pk) != 0))
		rc = error_set(err, KETEN_E_USAGE,
		               "the audit's checkpoint_key is not a key");
	else if (note_checkpoint_verify(&a->checkpoint, &k) != 0)
		rc = error_set(err, KETEN_E_USAGE,
		               "the checkpoint of %llu records is not signed "
		               "by the broker key %s",
		               (unsigned long long)a->checkpoint.size,
		               a->checkpoint_key[0] != '\0'
		                   ? "the audit names (checkpoint_key)"
		                   : "in the region config, and the audit "
		                     "names no other (checkpoint_key)");
	else if ((len = note_checkpoint_format(note, sizeof(note), &k,
	                                       &a->checkpoint)) == 0)
		rc = error_set(err, KETEN_E_INTERNAL,
		               "cannot write the checkpoint's note");
	config_destroy(&c);
	if (rc != KETEN_OK)
		return rc;
	return savefile_write(path, note, len, 0644, err);
}

int
keten_proof_bundle_save(const char *path, const char *bundle, size_t len,
                        struct keten_error *err)
{
	error_clear(err);
	if (path == NULL || bundle == NULL)
		return error_set(err, KETEN_E_USAGE, "no path or no bundle");
	return savefile_write(path, bundle, len, 0644, err);
}

int
keten_audit_proof(char **bundle, size_t *len, enum keten_proof_source *source,
                  const char *config_path, const char *data_dir, uint64_t seq,
                  bool stored, struct keten_error *err)
{
	struct config *c;
	struct audit_result res;
	struct keten_checkpoint cp;
	enum bundle_source src = BUNDLE_STORED;
	int rc;

	error_clear(err);
	*bundle = NULL;
	*len = 0;
	if (source != NULL)
		*source = KETEN_PROOF_STORED;
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = config_load_client(&c, config_path, err)) != KETEN_OK)
		return rc;
	rc = audit_verify_dir(&res, c, data_dir, err);
	if (rc == KETEN_OK) {
		cp = res.cp;
		if (!stored)
			src = bundle_pick(&cp, &res, c, seq);
	}
	if (rc == KETEN_OK && src == BUNDLE_STORED && !res.has_cp)
		rc = error_set(err, KETEN_E_USAGE,
		               "the data directory holds no signed checkpoint "
		               "yet: nothing to prove record %llu against",
		               (unsigned long long)seq);
	else if (rc == KETEN_OK && src == BUNDLE_STORED && seq > cp.size)
		rc = error_set(err, KETEN_E_USAGE,
		               "record %llu is not in the stored checkpoint of "
		               "%llu records",
		               (unsigned long long)seq,
		               (unsigned long long)cp.size);
	else if (rc == KETEN_OK)
		rc = bundle_build(bundle, len, c, res.roster, data_dir, &cp,
		                  seq, err);
	audit_result_free(&res);
	config_destroy(&c);
	if (rc == KETEN_OK && source != NULL)
		*source = (enum keten_proof_source)src;
	return rc;
}

int
keten_proof_bundle_check(struct keten_proven *out, const char *config_path,
                         const char *bundle, size_t len,
                         struct keten_error *err)
{
	struct config *c;
	struct bundle_info info;
	int rc;

	error_clear(err);
	memset(out, 0, sizeof(*out));
	if (config_path == NULL || bundle == NULL)
		return error_set(err, KETEN_E_USAGE,
		                 "keten_proof_bundle_check needs a config path "
		                 "and a bundle");
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = config_load_client(&c, config_path, err)) != KETEN_OK)
		return rc;
	rc = bundle_check(&info, c, bundle, len, err);
	config_destroy(&c);
	if (rc != KETEN_OK)
		return rc;
	client_record_public(&out->record, &info.rec);
	out->checkpoint = info.cp;
	for (size_t i = 0;
	     i < info.n_cosigners && out->n_cosigners < KETEN_COSIGNERS_MAX;
	     i++)
		if (info.cosigner_len[i] <= KETEN_WITNESS_NAME_MAX)
			snprintf(out->cosigners[out->n_cosigners++],
			         sizeof(out->cosigners[0]), "%.*s",
			         (int)info.cosigner_len[i], info.cosigner[i]);
	return KETEN_OK;
}
