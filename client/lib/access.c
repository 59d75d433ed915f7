/*
 * The offline audit of the access log (NEN 7513): who read which records
 * when, each entry linked to the one before. Read-only, like the audit of
 * the message log; safe while the broker runs.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "access.h"
#include "audit.h"
#include "client.h"
#include "ledger.h"
#include "note.h"
#include "text.h"

struct walk {
	const struct config *cfg;
	/* The chain's roster (docs/PROTOCOL.md 22); NULL for a log without
	 * roster records, whose readers are the config's agencies. */
	const struct roster *roster;
	keten_access_fn fn;
	void *arg;
	uint64_t n;
	int64_t last_at;
	uint8_t prev[KETEN_HASH_LEN];
	uint64_t bad;
	struct keten_error *err;
	/* The broker's signed checkpoint: the access log must reach its
	 * access_size with its access_head (PROTOCOL.md 21). */
	bool has_cp;
	struct keten_checkpoint cp;
};

static int
bad(struct walk *w, uint64_t seq, const char *why)
{
	w->bad = seq;
	return error_set(w->err, KETEN_E_CHAIN, "access log entry %llu: %s",
	                 (unsigned long long)seq, why);
}

static int
one(void *arg, uint64_t key, const uint8_t *val, size_t len)
{
	struct walk *w = arg;
	struct access_entry e;
	struct keten_access out;

	if (access_decode(&e, val, len) != 0)
		return bad(w, w->n + 1, "does not decode");
	if (key != w->n + 1 || e.seq != key)
		return bad(w, w->n + 1, "is missing or out of order");
	if (sodium_memcmp(e.prev_hash, w->prev, KETEN_HASH_LEN) != 0)
		return bad(w, key,
		           "does not link to the entry before (altered, "
		           "removed or inserted)");
	/* A reader that was ever a member: one that left since still read. */
	if (w->roster != NULL ? roster_member_find(w->roster, e.agency) == NULL
	                      : config_find(w->cfg, e.agency) == NULL)
		return bad(w, key,
		           w->roster != NULL
		               ? "names a reader that was never a "
		                 "member of the region"
		               : "names a reader that is not in "
		                 "the region");
	if (e.at_us < w->last_at)
		return bad(w, key, "is dated before the entry before it");
	if (e.first_seq > e.last_seq || (e.first_seq == 0) != (e.last_seq == 0))
		return bad(w, key, "names an impossible range of records");
	if (e.has_case != (e.kind == ACCESS_CASE))
		return bad(w, key,
		           "names a case for a read that had none, or "
		           "none for a case read");
	w->last_at = e.at_us;
	w->n++;
	access_hash(w->prev, val, len);
	if (w->has_cp && w->n == w->cp.access_size &&
	    sodium_memcmp(w->prev, w->cp.access_head, KETEN_HASH_LEN) != 0)
		return bad(w, key,
		           "differs from the access log the broker signed "
		           "(altered after it was signed)");
	if (w->fn == NULL)
		return KETEN_OK;
	memset(&out, 0, sizeof(out));
	out.seq = e.seq;
	out.at_us = e.at_us;
	snprintf(out.kind, sizeof(out.kind), "%s", access_kind_name(e.kind));
	memcpy(out.agency, e.agency, sizeof(out.agency));
	out.first_seq = e.first_seq;
	out.last_seq = e.last_seq;
	out.count = e.n;
	out.has_case = e.has_case;
	memcpy(out.case_id, e.case_id, KETEN_CASE_ID_LEN);
	memcpy(out.entry_hash, w->prev, KETEN_HASH_LEN);
	return w->fn(w->arg, &out);
}

int
keten_audit_access(struct keten_audit *out, const char *config_path,
                   const char *data_dir, keten_access_fn fn, void *arg,
                   struct keten_error *err)
{
	struct config *c;
	struct ledger *l = NULL;
	struct roster *r = NULL;
	struct note_key k;
	struct walk w = {.fn = fn, .arg = arg, .err = err};
	uint64_t head_seq;
	uint8_t head_hash[KETEN_HASH_LEN];
	char region[KETEN_ID_MAX + 1] = "";
	int rc;

	error_clear(err);
	memset(out, 0, sizeof(*out));
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = config_load_client(&c, config_path, err)) != KETEN_OK)
		return rc;
	w.cfg = c;
	access_genesis(w.prev, c->region);
	/* The chain's roster first: the readers and the checkpoint's key. */
	if ((rc = ledger_open(&l, data_dir, err)) == KETEN_OK &&
	    (rc = audit_prepass(&r, l, c->region, err)) == KETEN_OK) {
		w.roster = roster_last_seq(r) > 0 ? r : NULL;
		rc = audit_checkpoint_load(&w.cp, &w.has_cp, l, c, r, err);
	}
	if (rc == KETEN_OK && w.has_cp && w.cp.access_size == 0 &&
	    sodium_memcmp(w.cp.access_head, w.prev, KETEN_HASH_LEN) != 0)
		rc =
		    error_set(err, KETEN_E_CHAIN,
		              "the stored checkpoint signs an empty access log "
		              "with a head other than this region's access "
		              "genesis");
	if (rc == KETEN_OK)
		rc = ledger_walk_access(l, one, &w, &head_seq, head_hash,
		                        region, err);
	/* Another region's log does not link to this region's genesis:
	 * say so, rather than that entry 1 is bad. */
	if ((rc == KETEN_OK || rc == KETEN_E_CHAIN) && region[0] != '\0' &&
	    strcmp(region, c->region) != 0) {
		w.bad = 0;
		rc = error_set(err, KETEN_E_CONFIG,
		               "%s belongs to region '%s', not '%s'", data_dir,
		               region, c->region);
	}
	if (rc == KETEN_OK &&
	    (head_seq != w.n ||
	     (w.n > 0 &&
	      sodium_memcmp(head_hash, w.prev, KETEN_HASH_LEN) != 0))) {
		w.bad = head_seq > w.n ? w.n + 1 : (w.n ? w.n : 1);
		rc = error_set(err, KETEN_E_CHAIN,
		               "the stored access head is entry %llu, but the "
		               "access log ends at entry %llu%s",
		               (unsigned long long)head_seq,
		               (unsigned long long)w.n,
		               head_seq == w.n ? " with another hash" : "");
	}
	if (rc == KETEN_OK && w.has_cp && w.n < w.cp.access_size) {
		w.bad = w.n + 1;
		rc = error_set(err, KETEN_E_CHAIN,
		               "the broker signed an access log of %llu "
		               "entries, but this one ends at %llu (entries "
		               "removed at the end)",
		               (unsigned long long)w.cp.access_size,
		               (unsigned long long)w.n);
	}
	if (rc == KETEN_OK && w.has_cp) {
		out->has_checkpoint = true;
		out->checkpoint = w.cp;
		if (roster_note_key_for_size(&k, w.roster, w.cp.size, NULL) ==
		    0)
			text_key_to_b64(out->checkpoint_key, k.pk);
	}
	if (rc != KETEN_OK && err != NULL && err->message[0] == '\0')
		error_set(err, rc, "the entry handler stopped the audit");
	out->records = w.n;
	out->head_seq = w.n;
	memcpy(out->head_hash, w.prev, KETEN_HASH_LEN);
	out->bad_seq = w.bad;
	ledger_close(&l);
	roster_destroy(&r);
	config_destroy(&c);
	return rc;
}
