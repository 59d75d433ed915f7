/*
 * The frame size at which KETEN_E_TOO_BIG gives way to a dropped
 * connection (docs/ketend.md, "Durability and limits"): every frame up to
 * twice max_message_bytes plus 64 KiB is answered with 101, one byte more
 * ends the connection before the broker reads it; and peer bounds that
 * could not hold such a frame are refused at start. Against a real ketend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "raw.h"

#define MAX_MESSAGE (1024 * 1024) /* the default limits.max_message_bytes */
#define HARD_MAX    (2 * MAX_MESSAGE + 65536)

/* Sends one frame of n bytes on a new connection: 0 with its reply's
 * error code in *code, or -1 if no reply came. */
static int
send_frame(struct harness *h, size_t n, int *code)
{
	uint8_t *frame = calloc(1, n);
	struct raw r;
	struct reply rep;
	int rc;

	if (frame == NULL)
		abort();
	raw_connect(&r, h, "lt-almere");
	rc = raw_call1(&r, &rep, frame, n, 5000);
	if (rc == 0) {
		*code = rep.error.code;
		wire_reply_clear(&rep);
	}
	raw_close(&r);
	free(frame);
	return rc;
}

/* limits: that cannot hold the largest frame read is refused at start,
 * naming the key and the file's line. */
static void
bounds_refused(void)
{
	struct harness h;

	harness_region(&h, harness_flevoland, harness_flevoland_n,
	               "  peer_inbound_mb: 2\n");
	CHECK_INT(harness_start_refused(&h), 1);
	CHECK(harness_log_has(&h, "limits.peer_inbound_mb (2 MiB) must hold "
	                          "four of the largest frame"));
	harness_cleanup(&h);
	harness_region(&h, harness_flevoland, harness_flevoland_n,
	               "  peer_outbound_mb: 64\n  outbound_budget_mb: 32\n");
	CHECK_INT(harness_start_refused(&h), 1);
	CHECK(harness_log_has(&h, "limits.outbound_budget_mb is smaller"));
	harness_cleanup(&h);
}

int
main(void)
{
	struct harness h;
	int code = 0;

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	/* The 32 frames below the hard maximum once fell to the CURVE
	 * overhead; the largest of them is answered now. */
	CHECK_INT(send_frame(&h, MAX_MESSAGE + 1, &code), 0);
	CHECK_INT(code, KETEN_E_TOO_BIG);
	code = 0;
	CHECK_INT(send_frame(&h, HARD_MAX - 32, &code), 0);
	CHECK_INT(code, KETEN_E_TOO_BIG);
	code = 0;
	CHECK_INT(send_frame(&h, HARD_MAX, &code), 0);
	CHECK_INT(code, KETEN_E_TOO_BIG);
	CHECK_INT(send_frame(&h, HARD_MAX + 1, &code), -1);
	printf("frames of %d and %d bytes: 101; %d bytes: connection "
	       "dropped\n",
	       MAX_MESSAGE + 1, HARD_MAX, HARD_MAX + 1);
	/* The broker goes on serving. */
	CHECK(harness_head(&h, "lt-almere") > 0);
	CHECK(harness_log_has(&h, "event=open_files soft="));
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
	bounds_refused();
	return check_done("test_frame_limit");
}
