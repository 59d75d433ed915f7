/*
 * systemd's service notifications (sd_notify(3)): readiness, reload, stop
 * and the watchdog's keep-alives. Without $NOTIFY_SOCKET every call does
 * nothing; a notification that cannot be sent never fails the broker.
 */
#ifndef KETEN_NOTIFY_H
#define KETEN_NOTIFY_H

/* Reads $NOTIFY_SOCKET and the watchdog ($WATCHDOG_USEC, $WATCHDOG_PID)
 * once, before any thread starts (getenv). */
void notify_init(void);
/* READY=1 with STATUS=status: the broker serves (at start, and when a
 * reload ends, taken or refused). */
void notify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC= (systemd 253 reads it; 252 ignores
 * it): a reload started; notify_ready ends it. */
void notify_reloading(void);
/* STOPPING=1: a clean stop began. */
void notify_stopping(void);
/* The watchdog's keep-alive, from the I/O loop on every turn: WATCHDOG=1
 * if a quarter of the interval passed since the last one. Returns the ms
 * until the next is due, which the loop's poll must not wait beyond, or
 * -1 without a watchdog. */
long notify_watchdog(void);

#endif
