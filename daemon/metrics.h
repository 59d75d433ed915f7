/*
 * The broker's metrics and its health endpoint (docs/ketend.md, "Metrics
 * and health"): counters and gauges that any thread moves with one relaxed
 * atomic, and the optional HTTP listener (libmicrohttpd, one thread of its
 * own) that prints them as Prometheus text. Must never block a broker
 * thread, write to the store, or put an agency, a case or content in a label.
 */
#ifndef KETEN_METRICS_H
#define KETEN_METRICS_H

#include <stdint.h>

#include "error.h"

/* What the broker's threads move; the listener reads them. */
enum metric {
	METRIC_RECORDS,          /* counter: records appended to the log */
	METRIC_COMMITS,          /* counter: durable write transactions */
	METRIC_DELIVERIES,       /* counter: records sent in fetch replies */
	METRIC_ACCESS_ENTRIES,   /* counter: access log entries committed */
	METRIC_VERIFY_QUEUE,     /* gauge: requests handed to the workers */
	METRIC_CONNECTIONS,      /* gauge: the ROUTER's connections */
	METRIC_WAITING_READS,    /* gauge: subscriptions' parked reads */
	METRIC_MAP_USED,         /* gauge: bytes of the map in use */
	METRIC_MAP_SIZE,         /* gauge: bytes of the map */
	METRIC_MAP_MAX,          /* gauge: limits.map_max_mb in bytes, 0 none */
	METRIC_CHECKPOINT_SIZE,  /* gauge: records in the last checkpoint */
	METRIC_CHECKPOINT_AT_US, /* its signed_at_us (wall clock) */
	METRIC_COSIGNED_AT_S,    /* the newest cosignature's time (seconds) */
	METRIC_LOOP_US,          /* the I/O loop's last turn (clock_mono_us) */
	METRIC_N
};

/* Adds n (negative for a gauge going down). */
void metrics_add(enum metric m, int64_t n);
/* Sets a gauge. */
void metrics_set(enum metric m, int64_t v);
/* Raises a gauge to v if it is below. */
void metrics_max(enum metric m, int64_t v);
/* A witness cosignature stored, at the time the witness signed (seconds):
 * no later than now, so that a witness's clock ahead (or a hostile one)
 * cannot hold the cosignature's age at zero for good. */
void metrics_cosigned(uint64_t at_s);
/* A refusal sent on the wire with code (PROTOCOL.md 14). */
void metrics_refusal(int code);
/* A commit that appended records to the log and entries to the access
 * log, in us microseconds (monotonic). */
void metrics_commit(uint64_t records, uint64_t entries, int64_t us);

struct broker;
struct metrics;

/*
 * Starts the listener of the config's metrics.listen on its own thread,
 * or does nothing (*out NULL) when the config has no metrics section.
 * The store must be open and stay open until metrics_stop; the listener
 * reads it only in read-only transactions (the overdue offers) and takes
 * the config in force from b->live. KETEN_E_IO with a sentence naming the
 * address if it cannot bind.
 */
int metrics_start(struct metrics **out, struct broker *b,
                  struct keten_error *err) WUR;
/* Stops the listener and waits for its thread; NULL is a no-op. */
void metrics_stop(struct metrics **m);

#endif
