/*
 * A subscriber that stops reading slows nobody and costs the broker no
 * memory that grows (docs/PROTOCOL.md, "Flow control"). Against a real
 * ketend, twice, each time a new one on an empty data directory,
 * 100,000 messages each (KETEN_TEST_RECORDS overrides; stall.c has the
 * scenario). In the baseline the fifth recipient's subscriber reads; in
 * the second run its process is stopped with a waiting request
 * outstanding. The four others must still receive every message, the
 * stopped one's inbox must keep its messages, and the broker must stay
 * within 32 MiB of the baseline's peak anonymous memory (LMDB's file
 * pages are the kernel's page cache, not counted). The delivery rates are
 * printed, not asserted: a shared machine's rates drift; what the stop
 * costs in throughput is bench_slow_subscriber's to measure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../check.h"
#include "stall.h"

#define MIB           (1024 * 1024)
#define RSS_SLACK_MIB 32

int
main(int argc, char **argv)
{
	const char *env = getenv("KETEN_TEST_RECORDS");
	size_t n = env ? strtoul(env, NULL, 10) : 100000;
	struct stall_result base, stalled;
	int rc;

	if ((rc = stall_subscriber_main(argc, argv)) >= 0)
		return rc;
	stall_phase(&base, argv[0], n, false);
	stall_phase(&stalled, argv[0], n, true);
	printf("baseline: %zu messages, %.0f msg/s delivered to the four, "
	       "broker peak anonymous RSS %.1f MiB\n",
	       n, base.rate, (double)base.peak_rss / MIB);
	printf("stopped subscriber: %zu messages, %.0f msg/s delivered to the "
	       "four, broker peak anonymous RSS %.1f MiB; its inbox kept "
	       "%" PRIu64 " messages for later\n",
	       n, stalled.rate, (double)stalled.peak_rss / MIB,
	       stalled.slow_waiting);
	/* The others kept receiving: all of theirs, in both runs. */
	CHECK_INT(base.delivered, base.to_fast);
	CHECK_INT(stalled.delivered, stalled.to_fast);
	/* Nothing was lost for the stopped one: its messages wait after its
	 * cursor (all of its fifth, less what its one outstanding request
	 * took before it stopped). */
	CHECK(stalled.slow_waiting + 256 >= n / 5);
	CHECK(base.peak_rss > 0);
	CHECK(stalled.peak_rss <=
	      base.peak_rss + (uint64_t)RSS_SLACK_MIB * MIB);
	CHECK_INT(base.stop_status, 0);
	CHECK_INT(stalled.stop_status, 0);
	return check_done("test_slow_subscriber");
}
