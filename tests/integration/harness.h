/*
 * Integration test harness: a generated region with throw-away keys, a real
 * ketend on a free loopback port with a temporary data directory, and raw
 * ZeroMQ access for sending frames no honest client would.
 */
#ifndef KETEN_HARNESS_H
#define KETEN_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keten.h"

#define H_MAX_AGENCIES 64

struct harness {
	char dir[256];
	char config[320];
	char data[320];
	char log[320];
	int port;
	pid_t pid;
	size_t n;
	char ids[H_MAX_AGENCIES][KETEN_ID_MAX + 1];
	char keys[H_MAX_AGENCIES][400];
	struct keten_client *clients[H_MAX_AGENCIES]; /* harness_agency's */
};

/* The Flevoland demo region: "id:kind" pairs. */
extern const char *const harness_flevoland[];
extern const size_t harness_flevoland_n;

/* Makes keys and a config for the agencies ("id:kind"); extra_limits is
 * YAML under limits: (e.g. "  map_size_mb: 1\n") or NULL. Exits on error. */
void harness_region(struct harness *h, const char *const *agencies, size_t n,
                    const char *extra_limits);
/* A second broker's harness for h's region and data directory: its own
 * config (a new port) and log, in h's directory, which h cleans up. */
void harness_twin(struct harness *twin, const struct harness *h);
/* Starts ketend and waits until it answers; exits the test on failure. */
void harness_start(struct harness *h);
/* Starts ketend expecting it to refuse to (its log says why): its exit
 * status, or -1 if it was still running after 10 s (then it is killed). */
int harness_start_refused(struct harness *h);
/* SIGTERM and wait; returns ketend's exit status (0 = clean, no leaks). */
int harness_stop(struct harness *h);
/* Sends sig and waits for ketend to exit: its exit status, as above. */
int harness_stop_signal(struct harness *h, int sig);
/* Sends sig to the running ketend; 0 or -1. */
int harness_signal(const struct harness *h, int sig);
/* SIGKILL and wait. */
void harness_kill(struct harness *h);
/* Removes the temporary directory. */
void harness_cleanup(struct harness *h);
const char *harness_key(const struct harness *h, const char *id);
/* The path of the keten CLI built with the tests. */
const char *harness_cli(void);
/* `keten audit verify` of h's data directory: its exit status (128 + n
 * for a signal, -1 if it could not run) and its output in out. */
int harness_audit_verify(const struct harness *h, char *out, size_t cap);
/* The seq after the roster records that open h's log (PROTOCOL.md 22: a
 * fresh region's record 1 is its roster record), read from the log by an
 * audit, the broker running or not: where the agencies' records begin.
 * Exits the test if the log does not verify or open with a roster record. */
uint64_t harness_first_seq(const struct harness *h);
/* The whole file src copied to dst (made 0600). */
void harness_copy_file(const char *src, const char *dst);
/* A connected client for agency id; exits the test on failure. */
struct keten_client *harness_client(const struct harness *h, const char *id);
/* A connected client for agency id, made once and kept until
 * harness_drop_clients (or harness_cleanup); exits if id is unknown. */
struct keten_client *harness_agency(struct harness *h, const char *id);
void harness_drop_clients(struct harness *h);
/* The broker's log length, via a ping as id. */
uint64_t harness_head(const struct harness *h, const char *id);
/* Whether the ketend log contains s. */
int harness_log_has(const struct harness *h, const char *s);
/* How many lines of the ketend log contain s. */
int harness_log_count(const struct harness *h, const char *s);
/* Waits (up to a minute) until at least n lines of the log contain s:
 * 1 once they do, 0 if they never did. */
int harness_wait_log(const struct harness *h, const char *s, int n);

/* Records n referrals (content marked with marker) to vt-flevoland from
 * the Flevoland region's six local teams, 1024 per team in turn, 64 in
 * flight; exits the test on any failure. */
void harness_fill(struct harness *h, size_t n, const char *marker);

/* A referral content with a marker in it. */
struct keten_referral_content harness_content(const char *marker);

#endif
