/*
 * config.h - the parkd configuration file.
 *
 * config_parse() reads the whole file of the config contract, validates
 * every key, and builds the facility and tariff.  It does no I/O: the
 * daemon reads the file and loads the time zone named by
 * facility.timezone.  Every error names its key path.
 */
#ifndef PARKD_CONFIG_H
#define PARKD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "facility.h"
#include "tariff.h"

enum durability { DUR_FSYNC, DUR_WRITE, DUR_NONE };

enum role { ROLE_NONE = 0, ROLE_GATE = 1, ROLE_KIOSK = 2, ROLE_OPERATOR = 4 };

#define CONFIG_HOST_MAX 255

struct endpoint {
	int enabled;
	char host[CONFIG_HOST_MAX + 1];
	int port;
};

struct token {
	char *token;
	enum role role;
	char *gate;		/* NULL: any gate */
};

struct config {
	struct endpoint listen;
	struct endpoint http;
	char *data_dir;
	enum durability durability;
	facility *fac;		/* owned until taken (set to NULL by the taker) */
	tariff *tariff;		/* idem */
	enum alloc_strategy strategy;
	struct {
		int64_t max_depth, max_timeout_s;
	} waitlist;
	struct {
		double max_fraction;
		int64_t hold_before_s, no_show_after_s;
	} reservations;
	struct {
		int64_t retention_hours;
	} registry;
	struct {
		struct endpoint redis;
		char *password;
		char *prefix;
		int64_t subject_maxlen, stream_maxlen;
		int64_t max_backlog;
	} audit;
	struct token *tokens;
	size_t n_tokens;
	struct {
		int64_t max_line, max_output, max_clients;
		int64_t rate_per_s, rate_burst, idle_timeout_s;
		int64_t max_output_total;	/* all clients' queued output */
		int64_t max_clients_per_address;
		int64_t line_timeout_s;		/* a started line must end within; 0 = off */
		int64_t send_timeout_s;		/* output that does not move; 0 = off */
		int64_t max_future_s;		/* how far ahead an operator's at may lie */
		int64_t closed_tickets;
	} limits;
	struct {
		int64_t snapshot_every;		/* journal records between snapshots */
		int64_t snapshot_interval_s;	/* and at least this often when anything changed; 0 = off */
	} journal;
};

/*
 * Parses text[0..len) into a new config.  Returns NULL with a message in
 * err ("facility.rows[3].count: must be > 0") on any error.
 */
struct config *config_parse(const char *text, size_t len, char *err,
    size_t errlen);
void config_free(struct config *c);

/*
 * Parses "HOST:PORT" ("127.0.0.1:7070", "[::1]:7070", "localhost:7070")
 * into ep; "none" or NULL disables it.  0 or -1.
 */
int config_endpoint(const char *s, struct endpoint *ep);

/*
 * Checks what a tariff says about the facility: every class in
 * class_multiplier must be a vehicle class of the facility or one of the
 * contract's four (a typo would silently charge that class 1x).  path prefixes the key path in the message.  0 or -1.
 */
int config_check_tariff(const facility *f, const tariff *t, const char *path,
    char *err, size_t errlen);

const char *config_role_name(enum role r);
int config_role_parse(const char *s, enum role *r);

#endif
