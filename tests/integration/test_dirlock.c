/*
 * One broker per data directory (issue 15's second attack): a second
 * ketend on the same data_dir, on another port, must refuse to start at
 * once, naming the directory and the first broker's PID, and change
 * nothing; the first keeps serving, an offline audit still runs beside
 * it, and once it stops the second may start. A broker killed with
 * SIGKILL leaves no lock behind.
 */
#include <stdio.h>
#include <string.h>

#include "../check.h"
#include "harness.h"

static struct keten_referral_content ct;
static const struct keten_referral ref = {.recipient = "vt-flevoland",
                                          .urgency = KETEN_URGENCY_ROUTINE,
                                          .content = &ct};

static void
send_one(struct harness *h)
{
	struct keten_client *c = harness_client(h, "lt-almere");
	struct keten_receipt rc;
	struct keten_error err;

	CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err), KETEN_OK);
	keten_client_destroy(&c);
}

int
main(void)
{
	struct harness h, twin;
	struct keten_audit a;
	struct keten_error err;
	char want[600];
	uint64_t head;
	int named;

	ct = harness_content("dirlock");
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_twin(&twin, &h);
	CHECK(twin.port != h.port);
	harness_start(&h);
	head = harness_first_seq(&h) - 1; /* the roster record */
	send_one(&h);

	/* The second broker: refused at once, with the cause. */
	CHECK_INT(harness_start_refused(&twin), 1);
	snprintf(want, sizeof(want),
	         "data directory %s is locked by pid %d, most likely another "
	         "ketend; one ketend per data directory",
	         h.data, (int)h.pid);
	named = harness_log_has(&twin, want);
	CHECK(named);
	if (!named)
		fprintf(stderr, "expected in %s: %s\n", twin.log, want);
	/* It changed nothing: the first serves on, and its log is whole. */
	send_one(&h);
	CHECK_INT(harness_head(&h, "lt-almere"), head + 2);
	/* Readers take no lock: the offline audit runs beside the broker. */
	CHECK_INT(keten_audit_verify(&a, h.config, h.data, &err), KETEN_OK);
	CHECK_INT(a.records, head + 2);

	/* Once the first is gone, however it went, the second may start. */
	harness_kill(&h);
	harness_start(&twin);
	CHECK_INT(harness_head(&twin, "lt-almere"), head + 2);
	send_one(&twin);
	CHECK_INT(harness_stop(&twin), 0);
	CHECK(harness_log_has(&twin, "event=stopped"));
	harness_cleanup(&h);
	return check_done("test_dirlock");
}
