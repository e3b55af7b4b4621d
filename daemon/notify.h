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
/* The watchdog interval systemd asked for, in ms (0 when none). */
uint64_t notify_watchdog_ms(void);

#endif
