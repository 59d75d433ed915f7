/*
 * The ROUTER's connections, one account each, kept by the I/O thread: what
 * a peer sent that the broker has not read, what the broker queued for it
 * that it has not acknowledged, and how close the process is to its open-file
 * limit. It never closes a descriptor (libzmq owns them): it shuts one down.
 */
#ifndef KETEN_PEERS_H
#define KETEN_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

/*
 * What one frame of n payload bytes costs on the wire under CURVE (RFC 26,
 * "MESSAGE command", over ZMTP 3.0, RFC 23 "Framing"): a MESSAGE command
 * body is the name length and name (1 + 7, "\x07MESSAGE"), the short nonce
 * (8), and the box: Poly1305 tag (16), the flags byte (1) and the payload.
 * ZMQ_MAXMSGSIZE is checked against that body, not the payload. The ZMTP
 * frame header before it is 2 bytes (flags, 1-byte size) for bodies up to
 * 255 bytes and 9 (flags, 8-byte size) beyond.
 */
#define PEERS_CURVE_BODY_OVERHEAD 33
#define PEERS_FRAME_WIRE(n)                                                    \
	((uint64_t)(n) + PEERS_CURVE_BODY_OVERHEAD +                           \
	 ((n) + PEERS_CURVE_BODY_OVERHEAD > 255 ? 9 : 2))

/* How often a slice of the connections' accounts is read while any
 * exist (ms), and how often those past a quarter of their inbound bound
 * are. */
#define PEERS_TICK_MS    20
#define PEERS_SUSPECT_MS 2

struct peers;

/*
 * Accounts for router's connections: opens a socket monitor on it (an
 * inproc PAIR in zctx) and reads the open-file limit. KETEN_E_INTERNAL if
 * libzmq refuses the monitor, KETEN_E_NOMEM.
 */
int peers_new(struct peers **out, void *zctx, void *router,
              const struct config *c, struct keten_error *err) WUR;
/* Stops the monitor and frees the table; NULL is a no-op. */
void peers_destroy(struct peers **p);
/* The bounds of c (limits.peer_* and *_budget_mb), from the next check. */
void peers_set_limits(struct peers *p, const struct config *c);
/* The monitor socket, to poll for ZMQ_POLLIN with the others. */
void *peers_socket(struct peers *p);
/* Takes every waiting monitor event (connections accepted and gone). */
void peers_events(struct peers *p);

/* What peers_conn returns for a message of a connection that is gone. */
#define PEERS_GONE UINT64_MAX

/*
 * The connection a message came from, by its first frame's ZMQ_SRCFD and
 * its ROUTER routing id rid (bound to the connection at its first
 * message): an id (0 if unknown) that stays with the request, so that a
 * reply is counted against the connection that asked even if its
 * descriptor was reused since. PEERS_GONE if the message was left in the
 * ROUTER by a connection that is gone (its fd unknown or bound to another
 * routing id): the caller reads its frames (peers_consumed) and discards
 * it without work, since its reply could not be routed. who: the ZAP
 * User-Id ("<agency> <key>" or "witness:<name> <key>"; NULL if none),
 * whose first word names the peer in logs. Takes the waiting monitor
 * events first (as peers_may_send, peers_congested and peers_tick do), so
 * that no entry stands for an fd reused since.
 */
uint64_t peers_conn(struct peers *p, int fd, const uint8_t *rid, size_t rid_len,
                    const char *who);
/* Counts a frame of n payload bytes that the broker read from connection
 * id (or, for PEERS_GONE, took off what gone connections left). */
void peers_consumed(struct peers *p, uint64_t id, size_t n);
/*
 * Whether a reply of n bytes may be queued for connection id: false, with
 * the drop counted and logged (at most one line per peer per few seconds),
 * when its unacknowledged replies, or all peers', would pass their bound.
 * True for an unknown id. Counts it as sent when true.
 */
bool peers_may_send(struct peers *p, uint64_t id, size_t n);
/* Undoes peers_may_send's count for a reply libzmq refused to queue
 * (ZMQ_ROUTER_MANDATORY: at its high-water mark, or gone), and counts it
 * as dropped under bound why. */
void peers_unsent(struct peers *p, uint64_t id, size_t n, const char *why);
/*
 * Whether connection id's queue is already at its bound, so that any
 * reply to its next request would be dropped: that request need not be
 * worked on (counted as a dropped reply). Once it is, the kernel's
 * counters are read again at most every millisecond.
 */
bool peers_congested(struct peers *p, uint64_t id);
/*
 * Reads the kernel's counters of the connections that are due (a bounded
 * slice, round-robin, and the suspect ones), shuts down those past a bound
 * (the handshake's before authentication), the largest while the budgets
 * are passed, and the oldest unauthenticated while the open-file limit is
 * near, and returns releasable memory to the system after a large peer
 * went. Returns
 * the ms until it should run again, or -1 if no connection exists.
 */
long peers_tick(struct peers *p);
/* One log fragment for the status line: "connections=N ... ". */
void peers_describe(const struct peers *p, char *buf, size_t cap);

#endif
