/*
 * config.h - what the core takes from the configuration file (config.md):
 * the facility and its vehicles, the tariff, the allocation strategy, and
 * the limits the core keeps (waitlist, reservations, registry, closed
 * tickets).
 *
 * The same file holds the daemon's settings (endpoints, tokens, audit,
 * journal, connection limits: daemon/settings.h), read from the same tree
 * by the daemon; the core never sees them.  No I/O: the daemon reads the
 * file and loads the time zone named by facility.timezone.  Every error
 * names its key path.
 */
#ifndef PARKD_CONFIG_H
#define PARKD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "capacity.h"
#include "facility.h"
#include "garage.h"
#include "json.h"
#include "tariff.h"

/* Most payment methods a facility lists. */
#define CONFIG_PAY_METHODS_MAX 16

struct config {
	facility *fac;		/* owned until taken (set to NULL by the taker) */
	tariff *tariff;		/* idem */
	enum alloc_strategy strategy;
	/* The values pay takes as method (config.md: cash, card, app). */
	char payment_methods[CONFIG_PAY_METHODS_MAX][PAY_METHOD_MAX + 1];
	size_t n_payment_methods;
	struct {
		int64_t max_depth, max_timeout_s;
		int64_t keep_outcomes_s;	/* outcomes answered this long */
	} waitlist;
	struct {
		double max_fraction;	/* 0..1, at most six decimals */
		int64_t hold_before_s, no_show_after_s;
		int64_t max_fraction_ppm;	/* the same in millionths */
		int64_t max_hours, horizon_days;
		int64_t keep_finished_s;	/* finished ones kept this long */
	} reservations;
	struct {
		int64_t retention_hours;
		/* A deleted contact leaves every file within this (0..7 days). */
		int64_t erase_within_s;
	} registry;
	struct {
		int64_t closed_tickets;	/* exited tickets kept for look-ups */
	} limits;
};

/*
 * The members of the file's root object, and of its "limits" object, that
 * config_from_json reads (NULL-terminated lists).
 */
extern const char *const config_keys[];
extern const char *const config_limits_keys[];

/*
 * Parses a configuration text (len bytes, no NUL needed) strictly
 * (json.h): syntax errors read "config: line 12, column 5: ...",
 * duplicate keys "limits.max_line: duplicate key".  The root must be an
 * object ("config: must be an object").  The tree, or NULL with e set.
 */
cJSON *config_json(const char *text, size_t len, struct jerr *e);

/*
 * Reads the core's sections of root, the file's object.  Members of root
 * and of "limits" that are not the core's are not refused here: the
 * reader of the whole file checks them against config_keys,
 * config_limits_keys and its own (jr_keys).  A new config, or NULL with
 * one message in e ("facility.rows[3].count: must be between 1 and
 * 16777216").
 */
struct config *config_from_json(const cJSON *root, struct jerr *e);

/*
 * A whole text that holds only the core's sections (tests, tools): both
 * of the above, with every unknown key refused.
 */
struct config *config_parse(const char *text, size_t len, struct jerr *e);

/* Frees c, and the facility and tariff unless taken.  Accepts NULL. */
void config_free(struct config *c);
/* Whether method is one of c's payment methods. */
int config_payment_method(const struct config *c, const char *method);

/*
 * Checks what a tariff says about the facility: every class in
 * class_multiplier must be a vehicle class of the facility or one of the
 * contract's four (a typo would silently charge that class 1x).  path
 * prefixes the key path in the message.  0 or -1 with e set.
 */
int config_check_tariff(const facility *f, const tariff *t, const char *path,
    struct jerr *e);

/* The waitlist and reservations sections as the garage takes them. */
void config_capacity(const struct config *c, struct garage_capacity_cfg *out);

#endif
