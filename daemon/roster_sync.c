/*
 * The broker records the roster its config asks for (docs/PROTOCOL.md
 * 22.7): asks roster_diff for the changes, checks that every agency to
 * leave is settled, signs and appends them. Must never touch the broker's
 * secret key but through signer.c.
 */
#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "roster.h"
#include "roster_diff.h"
#include "roster_sync.h"

/* Records changes c[0..n) (n <= WIRE_ROSTER_CHANGES_MAX) as one roster
 * record after the writer's newest. */
static int
record(struct store_writer *w, const char *region, struct signer *sg,
       const struct roster_change *c, size_t n, struct keten_error *err)
{
	uint64_t prev = roster_last_seq(store_writer_roster(w));
	struct store_item it = {.op = STORE_ROSTER};
	uint8_t *env;
	size_t len;
	int rc;

	if ((rc = roster_record_encode(&env, &len, region, prev, c, n,
	                               signer_roster_sign, sg, err)) !=
	    KETEN_OK)
		return rc;
	it.envelope = env;
	it.envelope_len = len;
	rc = store_apply(w, &it, 1, clock_now_us(), err);
	free(env);
	if (rc != KETEN_OK)
		return rc;
	if (it.status != KETEN_OK)
		return error_set(err, it.status,
		                 "the roster record of the config's changes is "
		                 "refused: %s",
		                 it.err.message);
	log_info("event=roster_changed seq=%llu prev=%llu changes=%zu",
	         (unsigned long long)it.receipt.seq, (unsigned long long)prev,
	         n);
	for (size_t i = 0; i < n; i++)
		log_info("event=roster_change seq=%llu action=%s agency=%s",
		         (unsigned long long)it.receipt.seq,
		         roster_action_word(c[i].action),
		         c[i].action == ROSTER_BROKER ? "broker" : c[i].agency);
	return KETEN_OK;
}

int
roster_sync(struct store *s, struct store_writer *w, const struct config *c,
            struct signer *sg, struct keten_error *err)
{
	struct roster_change *ch;
	size_t n;
	int rc;

	if ((rc = roster_diff(&ch, &n, store_writer_roster(w), c, err)) !=
	    KETEN_OK)
		return rc;
	/* One record, so the change is recorded whole or not at all. */
	if (n > WIRE_ROSTER_CHANGES_MAX) {
		roster_changes_free(ch, n);
		return error_set(err, KETEN_E_CONFIG,
		                 "%s changes the roster in %zu ways at once; "
		                 "a roster record holds at most %d: make the "
		                 "change in steps (reload after each)",
		                 c->path, n, WIRE_ROSTER_CHANGES_MAX);
	}
	for (size_t i = 0; i < n && rc == KETEN_OK; i++)
		if (ch[i].action == ROSTER_LEAVE)
			rc = store_agency_settled(s, ch[i].agency, err);
	if (rc == KETEN_OK && n > 0)
		rc = record(w, c->region, sg, ch, n, err);
	roster_changes_free(ch, n);
	return rc;
}
