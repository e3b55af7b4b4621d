/*
 * notify.h - the systemd notification protocol (Type=notify, watchdog),
 * spoken directly over $NOTIFY_SOCKET so that parkd needs no libsystemd.
 * Every call is a no-op when parkd does not run under systemd.
 */
#ifndef PARKD_NOTIFY_H
#define PARKD_NOTIFY_H

#include <stdint.h>

/* Sends one state line ("READY=1", "STOPPING=1", "STATUS=..."). */
void notify_send(const char *state);
/*
 * "RELOADING=1" with MONOTONIC_USEC, the clock systemd orders reloads by
 * (Type=notify-reload, and systemctl reload of Type=notify); READY=1 ends it.
 */
void notify_reloading(void);
/* The watchdog interval systemd asked for, in ms (0 when none). */
uint64_t notify_watchdog_ms(void);

#endif
