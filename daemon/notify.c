/*
 * systemd's service notifications, from the I/O thread (and main before
 * it starts): one datagram each to the socket systemd reads. Never fails
 * the broker: a message that cannot be sent is logged at debug and lost.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <systemd/sd-daemon.h>

#include "clock.h"
#include "log.h"
#include "notify.h"

static bool notify_on;        /* $NOTIFY_SOCKET is set */
static int64_t notify_every;  /* us between keep-alives; 0: no watchdog */
static int64_t notify_due_us; /* monotonic: the next keep-alive */

void
notify_init(void)
{
	uint64_t usec = 0;
	const char *sock = getenv("NOTIFY_SOCKET");

	notify_on = sock != NULL && sock[0] != '\0';
	if (!notify_on)
		return;
	/* > 0 only if $WATCHDOG_USEC is set and $WATCHDOG_PID, if set, is
	 * this process. A quarter of the interval keeps a keep-alive well
	 * within half of it, however a turn of the loop falls. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 4)
		notify_every = (int64_t)(usec / 4);
	log_info("event=systemd notify=on watchdog_ms=%lld",
	         (long long)(notify_every * 4 / 1000));
}

static void
notify_send(const char *what, const char *text)
{
	int rc = sd_notify(0, text);

	if (rc <= 0)
		log_debug("event=notify_failed what=%s rc=%d", what, rc);
}

void
notify_ready(const char *status)
{
	char text[512];

	if (!notify_on)
		return;
	snprintf(text, sizeof(text), "READY=1\nSTATUS=%s", status);
	notify_send("ready", text);
}

void
notify_reloading(void)
{
	char text[128];

	if (!notify_on)
		return;
	snprintf(text, sizeof(text),
	         "RELOADING=1\nSTATUS=reloading the config\n"
	         "MONOTONIC_USEC=%lld",
	         (long long)clock_mono_us());
	notify_send("reloading", text);
}

void
notify_stopping(void)
{
	if (notify_on)
		notify_send("stopping", "STOPPING=1\nSTATUS=stopping");
}

long
notify_watchdog(void)
{
	int64_t now;

	if (notify_every == 0)
		return -1;
	now = clock_mono_us();
	if (now >= notify_due_us) {
		notify_send("watchdog", "WATCHDOG=1");
		notify_due_us = now + notify_every;
	}
	return (long)((notify_due_us - now + 999) / 1000);
}
