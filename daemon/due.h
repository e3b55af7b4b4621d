/*
 * due.h - the one timer on the core's timed work: waitlist expiries,
 * reservation holds and no-shows, and forgetting old outcomes
 * (lib/capacity.h).
 *
 * The timer is armed at garage_next_due() after every commit (from
 * publish_flush), never as a periodic scan.  When it fires, what is due
 * is applied at the instant it was due, committed through the one commit
 * step and published like any request's changes.  At start-up, after
 * recovery and before listening, due_start() applies what fell due while
 * the daemon was down.
 */
#ifndef PARKD_DUE_H
#define PARKD_DUE_H

struct server;

/* Sets up the timer (not armed).  0, or -1 when out of memory. */
int due_init(struct server *s);
/* Arms the timer at the earliest due instant (or stops it: nothing due). */
void due_arm(struct server *s);
/* Applies what is due now and what start-up owes the claims; logs it. */
void due_start(struct server *s);
/* Closes the timer (shutdown) and frees it after the loop. */
void due_close(struct server *s);
void due_free(struct server *s);

#endif
