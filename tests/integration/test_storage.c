/*
 * LMDB's map grows when full, up to limits.map_max_mb; past that the broker
 * refuses new messages with KETEN_E_STORAGE, records nothing partial, keeps
 * serving reads, and the log still audits.
 */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "harness.h"

int
main(void)
{
	struct harness h;
	struct keten_client *almere, *vt;
	struct keten_referral_content ct = harness_content("storage");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt rc;
	struct keten_inbox *in;
	struct keten_audit a;
	struct keten_error err;
	char *notes = malloc(200000);
	uint64_t recorded = 0, sent = 0, first;
	int rc_send = KETEN_OK;

	memset(notes, 'x', 199999);
	notes[199999] = '\0';
	ct.notes = notes;
	harness_region(&h, harness_flevoland, harness_flevoland_n,
	               "  map_size_mb: 1\n  map_max_mb: 4\n");
	harness_start(&h);
	first = harness_first_seq(&h);
	almere = harness_client(&h, "lt-almere");
	for (int i = 0; i < 40 && rc_send == KETEN_OK; i++) {
		rc_send = keten_send_referral(&rc, NULL, almere, &ref, &err);
		if (rc_send == KETEN_OK) {
			recorded = rc.seq;
			sent++;
		}
	}
	CHECK_INT(rc_send, KETEN_E_STORAGE);
	CHECK_STR_HAS(err.message, "storage is full");
	/* 200 KB each: 1 MiB holds at most 5; the map grew to 4 MiB. The
	 * referrals follow the start's roster record(s). */
	CHECK(sent >= 8);
	CHECK(sent <= 20);
	CHECK_INT(recorded, first - 1 + sent);
	/* Nothing partial, and it stays refused, clearly. */
	CHECK_INT(harness_head(&h, "lt-almere"), recorded);
	CHECK_INT(keten_send_referral(&rc, NULL, almere, &ref, &err),
	          KETEN_E_STORAGE);
	CHECK_INT(harness_head(&h, "lt-almere"), recorded);
	/* Reads still served. */
	vt = harness_client(&h, "vt-flevoland");
	CHECK_INT(keten_fetch(&in, vt, 0, &err), KETEN_OK);
	CHECK_INT(in->n, sent);
	if (in->n > 0)
		CHECK_INT(in->messages[0].status, KETEN_OK);
	keten_inbox_free(&in);
	keten_client_destroy(&vt);
	keten_client_destroy(&almere);
	CHECK_INT(keten_audit_verify(&a, h.config, h.data, &err), KETEN_OK);
	CHECK_INT(a.records, recorded);
	CHECK_INT(harness_stop(&h), 0);
	CHECK(harness_log_has(&h, "event=commit_failed"));
	CHECK(harness_log_has(&h, "event=map_grown from_mb=1 to_mb=2"));
	CHECK(harness_log_has(&h, "event=map_grown from_mb=2 to_mb=4"));
	harness_cleanup(&h);
	free(notes);
	return check_done("test_storage");
}
